#!/usr/bin/env bash
# Runs issue 4's target table against a release chat-server, one fresh server
# (and database) per scenario, and writes each run's table and JSON line to
# $OUT. Not part of the test suite: a full pass takes about six minutes.
#
#   cargo build --release -p chat-server -p chat-bench
#   chat-bench/scripts/targets.sh            # all scenarios
#   chat-bench/scripts/targets.sh persist1   # some of them, by name
#
# Scenario names: idle max rate persist1 persist16 join.
#
# Each fan-out row (max, rate) is followed, once its server has stopped, by
# `chat-bench floor` at the same sizes (connections, deliveries per second,
# frame bytes): the kernel's cost of one write per frame on this machine in
# the same pass. $OUT/ratios.txt gets the server's CPU per delivery in the
# sending window over the floor writer's.
set -euo pipefail

# The machine is shared: other sessions' builds run at the same time. With
# the scheduler's autogroups every session gets an equal share of the cores,
# so run server and bench in a session of their own at the highest autogroup
# priority, which leaves them the two cores while they need them.
if [ -z "${CHAT_BENCH_SESSION:-}" ]; then
    CHAT_BENCH_SESSION=1 exec setsid --wait "$0" "$@"
fi
echo -20 >/proc/self/autogroup 2>/dev/null || echo "note: cannot raise this session's priority"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-$ROOT/target/release}
OUT=${OUT:-/tmp/chat-bench-targets}
PORT=${PORT:-9100}
URL="ws://127.0.0.1:$PORT/ws"
mkdir -p "$OUT"

SERVER_PID=
start_server() { # name [extra server flags]
    local name=$1
    shift
    rm -f "$OUT/$name.sqlite3" "$OUT/$name.sqlite3-wal" "$OUT/$name.sqlite3-shm"
    # Ten thousand sockets need more than the usual 1024 descriptors.
    ulimit -n "$(ulimit -Hn)"
    # Limits off, as in every published figure: no rate limit, and no
    # per-address shares (every bench connection comes from 127.0.0.1).
    "$BIN/chat-server" --port "$PORT" --db "$OUT/$name.sqlite3" --rate-limit 0 --address-share 0 "$@" \
        >/dev/null 2>"$OUT/$name.server.log" &
    SERVER_PID=$!
    timeout 20 bash -c "until grep -q 'listening on' '$OUT/$name.server.log'; do sleep 0.05; done"
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    timeout 30 tail --pid="$SERVER_PID" -f /dev/null || true
}
trap stop_server EXIT

bench() { # name [chat-bench args]
    local name=$1
    shift
    echo "== $name: chat-bench --server-pid PID $*" | tee "$OUT/$name.txt"
    "$BIN/chat-bench" --url "$URL" --server-pid "$SERVER_PID" "$@" 2>&1 | tee -a "$OUT/$name.txt"
    tail -n 1 "$OUT/$name.txt" >"$OUT/$name.json"
}

floor() { # name [chat-bench floor args]: no server
    local name=$1
    shift
    echo "== $name: chat-bench floor $*" | tee "$OUT/$name.txt"
    "$BIN/chat-bench" floor "$@" 2>&1 | tee -a "$OUT/$name.txt"
    tail -n 1 "$OUT/$name.txt" >"$OUT/$name.json"
}

ratio() { # fan-out name, floor name: server window CPU per delivery / floor writer's
    python3 - "$OUT/$1.json" "$OUT/$2.json" <<'PY' | tee -a "$OUT/ratios.txt"
import json, sys
server, floor = (json.load(open(path)) for path in sys.argv[1:3])
s = server.get("server_cpu_us_per_delivery")
f = floor.get("writer_cpu_us_per_delivery")
name = sys.argv[1].rsplit("/", 1)[-1][:-5]
if s is None or not f:
    print(f"{name}: no ratio (server {s}, floor writer {f})")
else:
    print(f"{name}: server {s:.2f} CPU-us per delivery in the sending window"
          f" (whole run {server.get('server_run_cpu_us_per_delivery') or 0:.2f});"
          f" floor writer {f:.2f}, reader {floor.get('reader_cpu_us_per_delivery') or 0:.2f};"
          f" server / floor writer = {s / f:.2f}")
PY
}

run_idle() {
    start_server idle
    bench idle idle --connections 10000 --rooms 100 --duration 10
    stop_server
}

run_max() {
    start_server max
    bench max fanout --clients 1000 --rooms 1 --senders 10 --max --window 16 --duration 10
    stop_server
    # One thread cannot write 2 M frames/s one write each: as fast as it can.
    floor max-floor --connections 1000 --max --duration 10
    ratio max max-floor
}

run_rate() {
    start_server rate
    bench rate fanout --clients 10000 --rooms 100 --senders 100 --rate 1000 --duration 20
    stop_server
    # 1,000 messages/s to 100 members each: 100,000 deliveries/s.
    floor rate-floor --connections 10000 --rate 100000 --duration 20
    ratio rate rate-floor
}

run_persist1() {
    start_server persist1
    bench persist1 persist --senders 1 --window 64 --duration 10
    stop_server
}

run_persist16() {
    start_server persist16
    bench persist16 persist --senders 16 --window 64 --duration 10
    stop_server
}

run_join() {
    start_server join
    # Fill one room with a million messages through the server itself.
    bench join-seed --room-prefix seed persist --senders 1 --rooms 1 --window 256 \
        --total 1000000 --duration 120
    # 1,000 joins/s over 8 connections, newest 50 messages each.
    bench join join --connections 8 --room seed-0 --rate 1000 --duration 10
    # The same, each asking for the 50 messages after a random id.
    bench join-since join --connections 8 --room seed-0 --rate 1000 --random-since --duration 10
    # Closed loop: one connection, next join as soon as the last is answered.
    bench join-serial join --connections 1 --room seed-0 --duration 10
    stop_server
}

scenarios=("$@")
if [ ${#scenarios[@]} -eq 0 ]; then
    scenarios=(idle max rate persist1 persist16 join)
fi
{
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
        "$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo), kernel $(uname -r)"
    echo "server: $(git -C "$ROOT" log -1 --format='%h %s' -- chat-server)"
    echo "started: $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/machine.txt"
for scenario in "${scenarios[@]}"; do
    "run_$scenario"
done
