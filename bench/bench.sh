#!/usr/bin/env bash
# The reference benchmark (../shared/bench/REFERENCE.md): pipectl against
# fastbase, the same mapping hand-written in Go, run alternately in one go so
# the machine's noise hits both alike. Prints throughput as a ratio to
# fastbase's, the --workers 2 speed-up, and peak RSS, and checks that
# pipectl's output equals fastbase's record for record.
#
#   bench/bench.sh [ORDERS] [ROUNDS]     (defaults: 200000 orders, 9 rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
orders=${1:-200000}
rounds=${2:-9}
shared=${SHARED:-../shared}
work=${BENCH_DIR:-${TMPDIR:-/tmp}/pipectl-bench}
mkdir -p "$work"

in="$work/orders-$orders.ndjson"
if [ ! -s "$in" ]; then
  echo "generating $orders orders -> $in"
  python3 "$shared/bench/gen_orders.py" "$orders" > "$in.tmp" && mv "$in.tmp" "$in"
fi
echo "building fastbase and pipectl"
(cd "$shared/bench/fastbase" && go build -o "$work/fastbase" .)
go build -o "$work/pipectl" ./cmd/pipectl

exec python3 - "$work" "$in" "$rounds" <<'PY'
import json, os, resource, statistics, subprocess, sys, time
from decimal import Decimal

work, src, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
size = os.path.getsize(src)

def run(cmd, env=None, cpus=None):
    if cpus:
        cmd = ["taskset", "-c", cpus] + cmd
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    return wall

def peak_rss(cmd, env):
    # ru_maxrss of the children so far is a max over all of them, so each
    # measurement runs in a fresh Python process.
    code = ("import resource,subprocess,sys,os,json;"
            "subprocess.run(json.loads(sys.argv[1]),check=True,stdout=subprocess.DEVNULL,env={**os.environ,**json.loads(sys.argv[2])});"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(cmd), json.dumps(env)], check=True, capture_output=True, text=True)
    return int(out.stdout) / 1024  # MiB

fb_out = os.path.join(work, "fastbase.ndjson")
pc_out = os.path.join(work, "pipectl.ndjson")
fast = [os.path.join(work, "fastbase"), "-in", src, "-out", fb_out]
pipe = [os.path.join(work, "pipectl"), "run", "--quiet", "examples/reference-orders/pipeline.yaml"]
env = {"ORDERS_IN": src, "ORDERS_OUT": pc_out, "ORDERS_FAILED": os.path.join(work, "failed.ndjson")}

def two_copies():
    # Two fastbase copies at once, one per core: the machine's own two-core
    # speed-up this moment (2.0 when nothing else competes), which bounds
    # what --workers 2 can reach.
    t0 = time.perf_counter()
    other = subprocess.Popen(["taskset", "-c", "1"] + fast[:-1] + [fb_out + ".2"], stdout=subprocess.DEVNULL)
    run(fast, cpus=one_core)
    if other.wait() != 0:
        sys.exit("fastbase failed")
    return time.perf_counter() - t0

one_core = "0"
times = {"fastbase": [], "pipectl": [], "pipectl-w2": [], "fastbase-x2": []}
for r in range(rounds):
    times["fastbase"].append(run(fast, cpus=one_core))
    times["pipectl"].append(run(pipe, env, cpus=one_core))
    times["fastbase"].append(run(fast, cpus=one_core))
    times["pipectl-w2"].append(run(pipe[:2] + ["--workers", "2"] + pipe[2:], env))
    times["fastbase-x2"].append(two_copies())

med = {k: statistics.median(v) for k, v in times.items()}
rss = peak_rss(pipe, env)

# Outputs must agree record for record; numbers compare as exact decimals
# (fastbase's float 319.59000000000003 is pipectl's exact 319.59).
def norm(v):
    if isinstance(v, float):
        return round(Decimal(repr(v)), 6)
    if isinstance(v, Decimal):
        return round(v, 6)
    if isinstance(v, int) and not isinstance(v, bool):
        return Decimal(v)
    if isinstance(v, list):
        return [norm(x) for x in v]
    if isinstance(v, dict):
        return {k: norm(x) for k, x in v.items()}
    return v
n = 0
with open(fb_out) as a, open(pc_out) as b:
    for la, lb in zip(a, b):
        n += 1
        if norm(json.loads(la, parse_float=Decimal)) != norm(json.loads(lb, parse_float=Decimal)):
            sys.exit(f"output differs from fastbase at record {n}:\n{la}\n{lb}")
    if a.readline() or b.readline():
        sys.exit("outputs have different record counts")

mb = size / 2**20
print(f"input: {src} ({mb:.0f} MiB), {rounds} rounds, alternating; {n} records out, equal to fastbase's")
print(f"fastbase           median {med['fastbase']:.2f}s  {mb/med['fastbase']:.0f} MiB/s  (1 core)")
print(f"pipectl            median {med['pipectl']:.2f}s  {mb/med['pipectl']:.0f} MiB/s  (1 core)  ratio {med['fastbase']/med['pipectl']:.2f}x fastbase")
print(f"pipectl --workers 2 median {med['pipectl-w2']:.2f}s  {mb/med['pipectl-w2']:.0f} MiB/s  (2 cores) {med['pipectl']/med['pipectl-w2']:.2f}x one worker")
print(f"machine            two fastbase copies at once: {2*med['fastbase']/med['fastbase-x2']:.2f}x one (its two-core speed-up now)")
print(f"pipectl peak RSS   {rss:.0f} MiB")
PY
