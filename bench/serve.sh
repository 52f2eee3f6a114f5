#!/usr/bin/env bash
# The serve benchmark: `pipectl serve` on examples/shopify-orders-to-wms
# against servebench's durable floor (verify the signature, append the body,
# answer after a grouped fsync), alternately, under the same `fire -c 16`
# with the same orders. The WMS and the storefront are `servebench sink`.
# Prints each round's figures and the ratio of pipectl's acknowledged
# throughput to the floor's, pipectl's p99, its peak RSS, and whether every
# acknowledged order reached the sinks. Then bench/serve-rate.sh runs the
# same pipeline end to end at a fixed rate for a minute.
#
#   bench/serve.sh [ORDERS] [ROUNDS]     (defaults: 20000 orders, 3 rounds)
#   RATE=1000 RATE_SECONDS=60 bench/serve.sh    (RATE=0: intake rounds only)
set -euo pipefail
cd "$(dirname "$0")/.."
orders=${1:-20000}
rounds=${2:-3}
shared=${SHARED:-../shared}
work=${BENCH_DIR:-${TMPDIR:-/tmp}/pipectl-servebench}
secret=bench-secret
mkdir -p "$work"
if [ ! -d "$shared/bench/serve" ]; then
  echo "bench/serve.sh: the benchmark kit is not at $shared/bench (set SHARED); skipped"; exit 0
fi
in="$work/orders-$orders.ndjson"
if [ ! -s "$in" ]; then
  echo "generating $orders orders -> $in"
  python3 "$shared/bench/gen_orders.py" "$orders" > "$in.tmp" && mv "$in.tmp" "$in"
fi
echo "building servebench and pipectl"
(cd "$shared/bench/serve" && go build -o "$work/servebench" .)
go build -o "$work/pipectl" ./cmd/pipectl
sb="$work/servebench"
# Stock for every SKU the orders name, in the example's two warehouses, so
# orders are allocated, split and backordered as they would be for real.
python3 - "$work/inventory.yaml" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("locations:\n  - {id: wh-east, priority: 1}\n  - {id: wh-west, priority: 2}\nlevels:\n")
    for i in range(5001):
        f.write(f"  SKU-{i:05d}: {{wh-east: 6, wh-west: 3}}\n")
PY

waitfor() { for _ in $(seq 200); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.05; done; echo "not up: $1"; exit 1; }
fire() { "$sb" fire -url "$1" -in "$in" -n "$orders" -c 16 -secret "$secret" -history "$2"; }

pids=()
trap 'for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done' EXIT
for r in $(seq "$rounds"); do
  # The floor.
  rm -f "$work/floor.log"
  "$sb" floor -addr 127.0.0.1:18190 -secret "$secret" -durable "$work/floor.log" > /dev/null 2>&1 & fp=$!; pids+=($fp)
  sleep 0.3
  echo "floor   $(fire http://127.0.0.1:18190/hooks "$work/floor-acked.jsonl")"
  kill $fp; wait $fp 2>/dev/null || true

  # pipectl serve, its WMS and storefront played by one sink.
  rm -rf "$work/state" "$work/ledger.jsonl" "$work/failed.ndjson"
  "$work/pipectl" inventory load --state "sqlite://$work/state/" "$work/inventory.yaml" > /dev/null
  "$sb" sink -addr 127.0.0.1:18191 -ledger "$work/ledger.jsonl" -for 600s > "$work/sink.out" 2>&1 & sp=$!; pids+=($sp)
  SHOPIFY_WEBHOOK_SECRET=$secret WMS_TOKEN=bench WMS_URL=http://127.0.0.1:18191 STORE_URL=http://127.0.0.1:18191 \
    DEAD_LETTERS="$work/failed.ndjson" \
    "$work/pipectl" serve --listen 127.0.0.1:18192 --state "sqlite://$work/state/" examples/shopify-orders-to-wms \
    > /dev/null 2> "$work/serve.log" & pp=$!; pids+=($pp)
  waitfor http://127.0.0.1:18192/readyz
  line=$(fire http://127.0.0.1:18192/hooks/shopify/orders-create "$work/pipectl-acked.jsonl")
  rss=$(awk '/VmHWM/ {print $2}' /proc/$pp/status)
  # Wait for the queue to empty: every acknowledged order run to the sinks.
  t0=$(date +%s.%N)
  for _ in $(seq 1200); do
    depth=$(curl -fsS http://127.0.0.1:18192/metrics | awk '/^pipectl_queue_depth/ {s+=$2} END {print s+0}')
    [ "$depth" = 0 ] && break; sleep 0.1
  done
  drained=$(python3 -c "import time; print(f'{time.time()-$t0:.1f}')")
  rss=$(awk '/VmHWM/ {print $2}' /proc/$pp/status)
  kill -TERM $pp; wait $pp 2>/dev/null || true
  kill $sp; wait $sp 2>/dev/null || true
  lines=$(wc -l < "$work/ledger.jsonl" 2>/dev/null || echo 0)
  echo "pipectl $line rss_mib=$((rss/1024)) queue_empty_after_s=$drained sink_requests=$lines"
done 2>&1 | tee "$work/rounds.txt"

python3 - "$work/rounds.txt" <<'PY'
import re, statistics, sys
f, p = [], []
for line in open(sys.argv[1]):
    kv = dict(re.findall(r'(\w+)=([\d.]+)', line))
    if line.startswith("floor"): f.append(kv)
    elif line.startswith("pipectl"): p.append(kv)
med = lambda xs, k: statistics.median(float(x[k]) for x in xs)
if f and p:
    print(f"floor   median {med(f,'per_s'):.0f} acked/s  p99 {med(f,'p99_ms'):.2f} ms")
    print(f"pipectl median {med(p,'per_s'):.0f} acked/s  p99 {med(p,'p99_ms'):.2f} ms  "
          f"ratio {med(p,'per_s')/med(f,'per_s'):.2f}x floor  peak RSS {max(float(x['rss_mib']) for x in p):.0f} MiB")
PY

# End to end at a fixed rate, through allocate to the WMS stand-in
# (bench/serve-rate.sh; RATE=0 skips it).
rate=${RATE:-1000}
if [ "$rate" != 0 ]; then
  echo "end to end at $rate orders/s for ${RATE_SECONDS:-60} s"
  bench/serve-rate.sh "$rate" "${RATE_SECONDS:-60}"
fi
