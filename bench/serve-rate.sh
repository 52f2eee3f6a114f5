#!/usr/bin/env bash
# End to end at a fixed rate: `pipectl serve` on examples/shopify-orders-to-wms
# takes RATE signed Shopify webhooks a second for SECONDS, open-loop, and
# bench/serverate (the storefront, the WMS and the store's backorder
# endpoint in one) prints the acknowledgement latency, the time from each
# order's acknowledgement to its first pick ticket or backorder at the
# stand-in (p50/p99/max), and the largest queue depth /metrics showed.
#
#   bench/serve-rate.sh [RATE] [SECONDS]     (defaults: 1000 a second for 60 s)
#   PIPECTL_BIN=/path/to/pipectl bench/serve-rate.sh ...
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-1000}
secs=${2:-60}
shared=${SHARED:-../shared}
work=${BENCH_DIR:-${TMPDIR:-/tmp}/pipectl-servebench}
secret=bench-secret
orders=$((rate * secs))
mkdir -p "$work"
if [ ! -f "$shared/bench/gen_orders.py" ]; then
  echo "bench/serve-rate.sh: the order generator is not at $shared/bench (set SHARED); skipped"; exit 0
fi
in="$work/orders-$orders.ndjson"
if [ ! -s "$in" ]; then
  echo "generating $orders orders -> $in"
  python3 "$shared/bench/gen_orders.py" "$orders" > "$in.tmp" && mv "$in.tmp" "$in"
fi
# PIPECTL_BIN runs a binary of your own (a profiling build, say).
pipectl=${PIPECTL_BIN:-$work/pipectl}
[ -n "${PIPECTL_BIN:-}" ] || go build -o "$pipectl" ./cmd/pipectl
go build -o "$work/serverate" ./bench/serverate
# Enough stock that most orders are allocated (some split, some
# backordered) for the whole run, as on a normal day.
python3 - "$work/inventory-rate.yaml" "$orders" <<'PY'
import sys
per = max(6, int(sys.argv[2]) // 700)
with open(sys.argv[1], "w") as f:
    f.write("locations:\n  - {id: wh-east, priority: 1}\n  - {id: wh-west, priority: 2}\nlevels:\n")
    for i in range(5001):
        f.write(f"  SKU-{i:05d}: {{wh-east: {per}, wh-west: {per // 2}}}\n")
PY
rm -rf "$work/rate-state"
"$pipectl" inventory load --state "sqlite://$work/rate-state/" "$work/inventory-rate.yaml" > /dev/null
SHOPIFY_WEBHOOK_SECRET=$secret WMS_TOKEN=bench WMS_URL=http://127.0.0.1:18391 STORE_URL=http://127.0.0.1:18391 \
  DEAD_LETTERS="$work/rate-failed.ndjson" \
  "$pipectl" serve --listen 127.0.0.1:18392 --state "sqlite://$work/rate-state/" examples/shopify-orders-to-wms \
  > /dev/null 2> "$work/rate-serve.log" & pp=$!
trap 'kill $pp 2>/dev/null || true' EXIT
for _ in $(seq 200); do curl -fsS -o /dev/null http://127.0.0.1:18392/readyz 2>/dev/null && break; sleep 0.05; done
"$work/serverate" -url http://127.0.0.1:18392/hooks/shopify/orders-create -in "$in" -rate "$rate" -for "${secs}s" \
  -secret "$secret" -listen 127.0.0.1:18391 -metrics http://127.0.0.1:18392/metrics | tee "$work/rate.txt"
rss=$(awk '/VmHWM/ {print $2}' /proc/$pp/status)
echo "pipectl peak RSS $((rss / 1024)) MiB"
kill -TERM $pp; wait $pp 2>/dev/null || true
