#!/usr/bin/env bash
# Scale-out benchmark: `pipectl serve` on examples/shopify-orders-to-wms as
# several processes sharing one nats-server (the intake queue on JetStream)
# and one PostgreSQL (state and inventory), beside the single process on
# SQLite, measured in the same run on the same orders.
#
# For each shape (the SQLite process; then 1 intake process with 1, 2 and 4
# worker processes, and 2 intake processes with 2 and 4) it runs two phases
# on a fresh state, with bench/serverate as the storefront and the WMS:
#   burst  ORDERS webhooks sent by 16 senders, each waiting for its answer
#          (as servebench fire -c 16 does): orders/s end to
#          end (orders at the WMS over the time from the first webhook sent
#          to the last arrival);
#   steady RATE webhooks a second for SECONDS: p99 from acknowledgement to
#          the WMS.
#
#   bench/cluster.sh [ORDERS] [RATE] [SECONDS]   (defaults: 20000 300 20)
#
# nats-server runs privately (its own port and store, default settings, one
# replica), started and stopped here; PostgreSQL is the machine's
# (PIPECTL_BENCH_PG, default postgres://postgres@127.0.0.1:5432/test), a
# schema of its own per shape, dropped after.
set -euo pipefail
cd "$(dirname "$0")/.."
burst=${1:-20000}
rate=${2:-300}
secs=${3:-20}
shared=${SHARED:-../shared}
work=${BENCH_DIR:-${TMPDIR:-/tmp}/pipectl-clusterbench}
pg=${PIPECTL_BENCH_PG:-postgres://postgres@127.0.0.1:5432/test}
secret=bench-secret
natsport=18422
mkdir -p "$work"
if [ ! -f "$shared/bench/gen_orders.py" ]; then
  echo "bench/cluster.sh: the order generator is not at $shared/bench (set SHARED); skipped"; exit 0
fi
natsbin=$(command -v nats-server || echo /usr/sbin/nats-server)
[ -x "$natsbin" ] || { echo "bench/cluster.sh: nats-server is not installed (apt-get install nats-server)"; exit 1; }
in="$work/orders-$burst.ndjson"
if [ ! -s "$in" ]; then
  echo "generating $burst orders -> $in"
  python3 "$shared/bench/gen_orders.py" "$burst" > "$in.tmp" && mv "$in.tmp" "$in"
fi
pipectl=${PIPECTL_BIN:-$work/pipectl}
[ -n "${PIPECTL_BIN:-}" ] || go build -o "$pipectl" ./cmd/pipectl
go build -o "$work/serverate" ./bench/serverate
python3 - "$work/inventory.yaml" "$burst" <<'PY'
import sys
per = max(6, int(sys.argv[2]) // 700)
with open(sys.argv[1], "w") as f:
    f.write("locations:\n  - {id: wh-east, priority: 1}\n  - {id: wh-west, priority: 2}\nlevels:\n")
    for i in range(5001):
        f.write(f"  SKU-{i:05d}: {{wh-east: {per}, wh-west: {per // 2}}}\n")
PY

pids=()
stop_all() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap stop_all EXIT

wait_ready() {
  for _ in $(seq 300); do curl -fsS -o /dev/null "http://$1/readyz" 2>/dev/null && return 0; sleep 0.05; done
  echo "bench/cluster.sh: $1 never became ready"; tail -20 "$work"/serve-*.log; exit 1
}

# start_shape INTAKES WORKERS: a fresh state (and nats-server store) and
# the processes of one shape; sets urls (the intakes' webhook URLs) and
# metrics (the first intake's /metrics). INTAKES 0 is the SQLite process.
start_shape() {
  local intakes=$1 workers=$2 tag state common
  tag="s$(date +%s%N | tail -c 9)"
  export SHOPIFY_WEBHOOK_SECRET=$secret WMS_TOKEN=bench WMS_URL=http://127.0.0.1:18491 STORE_URL=http://127.0.0.1:18491
  export DEAD_LETTERS="$work/failed-$tag.ndjson"
  urls=""
  if [ "$intakes" = 0 ]; then
    rm -rf "$work/sqlite-state"
    state="sqlite://$work/sqlite-state/"
    "$pipectl" inventory load --state "$state" "$work/inventory.yaml" > /dev/null
    "$pipectl" serve --listen 127.0.0.1:18500 --state "$state" examples/shopify-orders-to-wms > /dev/null 2> "$work/serve-0.log" &
    pids+=($!)
    wait_ready 127.0.0.1:18500
    urls=http://127.0.0.1:18500/hooks/shopify/orders-create
    metrics=http://127.0.0.1:18500/metrics
    return
  fi
  rm -rf "$work/nats"
  "$natsbin" -a 127.0.0.1 -p $natsport -js -sd "$work/nats" > "$work/nats.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$natsport) 2>/dev/null && break; sleep 0.05; done
  schema="bench_$tag"
  psql -q "$pg" -c "CREATE SCHEMA $schema" > /dev/null
  state="$pg?search_path=$schema"
  "$pipectl" inventory load --state "$state" "$work/inventory.yaml" > /dev/null
  common=(--state "$state" --nats "nats://127.0.0.1:$natsport")
  local i port
  for i in $(seq "$intakes"); do
    port=$((18500 + i))
    "$pipectl" serve --listen "127.0.0.1:$port" "${common[@]}" --roles intake examples/shopify-orders-to-wms > /dev/null 2> "$work/serve-i$i.log" &
    pids+=($!)
    wait_ready "127.0.0.1:$port"
    urls="${urls:+$urls,}http://127.0.0.1:$port/hooks/shopify/orders-create"
  done
  metrics=http://127.0.0.1:18501/metrics
  for i in $(seq "$workers"); do
    port=$((18510 + i))
    "$pipectl" serve --listen "127.0.0.1:$port" "${common[@]}" --roles worker,scheduler examples/shopify-orders-to-wms > /dev/null 2> "$work/serve-w$i.log" &
    pids+=($!)
    wait_ready "127.0.0.1:$port"
  done
}

stop_shape() {
  stop_all
  if [ -n "${schema:-}" ]; then psql -q "$pg" -c "SET client_min_messages = warning" -c "DROP SCHEMA $schema CASCADE" > /dev/null; schema=""; fi
}

field() { tr ' ' '\n' | awk -F= -v k="$1" '$1 == k {print $2}'; }

run_shape() {
  local name=$1 intakes=$2 workers=$3 b s
  start_shape "$intakes" "$workers"
  b=$("$work/serverate" -url "$urls" -in "$in" -c 16 -n "$burst" -secret "$secret" \
    -listen 127.0.0.1:18491 -metrics "$metrics" -settle 120s)
  stop_shape
  start_shape "$intakes" "$workers"
  s=$("$work/serverate" -url "$urls" -in "$in" -rate "$rate" -for "${secs}s" -secret "$secret" \
    -listen 127.0.0.1:18491 -metrics "$metrics")
  stop_shape
  printf '%-22s burst: acked=%s reached=%s e2e_per_s=%s   steady %s/s: acked=%s ack_p99_ms=%s e2e_p99_ms=%s max_queue_depth=%s\n' \
    "$name" "$(field acked <<<"$b")" "$(field reached <<<"$b")" "$(field e2e_per_s <<<"$b")" "$rate" \
    "$(field acked <<<"$s")" "$(field ack_p99_ms <<<"$s")" "$(field e2e_p99_ms <<<"$s")" "$(field max_queue_depth <<<"$s")"
  echo "$name $(field e2e_per_s <<<"$b")" >> "$work/summary.txt"
}

rm -f "$work/summary.txt"
run_shape "sqlite 1 process" 0 0
for shape in "1 1" "1 2" "1 4" "2 2" "2 4"; do
  set -- $shape
  run_shape "jetstream+pg i$1 w$2" "$1" "$2"
done
base=$(awk 'NR == 1 {print $NF}' "$work/summary.txt")
awk -v base="$base" 'NR > 1 {printf "%-22s %6s orders/s end to end  %.2fx the SQLite process\n", $1" "$2" "$3, $NF, $NF / base}' "$work/summary.txt"
