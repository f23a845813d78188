#!/usr/bin/env bash
# Instructions per closed-loop join: a room of 20,000 messages is seeded
# through a plain release server, which is then started again under
# callgrind with instrumentation on only while `chat-bench join
# --connections 1` runs for 10 s. Divide the printed total by the joins
# (the "deliveries" line).
#
#   callgrind_join.sh BINDIR NAME PORT
#
# BINDIR holds release `chat-server` and `chat-bench`; the profile is
# written to ./NAME.join.callgrind.
set -euo pipefail
BIN=$1; NAME=$2; PORT=$3
DIR=$(mktemp -d /tmp/cg-join.XXXX)
trap 'rm -rf "$DIR"' EXIT
serve() {
    "$@" "$BIN/chat-server" --port "$PORT" --db "$DIR/db.sqlite3" --rate-limit 0 \
        --address-share 0 >/dev/null 2>"$DIR/log" &
    SERVER=$!
    timeout 120 bash -c "until grep -q 'listening on' '$DIR/log'; do sleep 0.2; done"
}
serve env
"$BIN/chat-bench" --url "ws://127.0.0.1:$PORT/ws" --room-prefix seed persist --senders 1 \
    --rooms 1 --window 256 --total 20000 --duration 120 >/dev/null 2>&1
kill -INT "$SERVER"
wait "$SERVER" || true
serve valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$PWD/$NAME.join.callgrind"
callgrind_control -i on "$SERVER" >/dev/null 2>&1
"$BIN/chat-bench" --url "ws://127.0.0.1:$PORT/ws" join --connections 1 --room seed-0 \
    --duration 10 2>&1 | grep -E "deliveries  "
callgrind_control -i off "$SERVER" >/dev/null 2>&1
kill -INT "$SERVER"
wait "$SERVER" || true
callgrind_annotate "$PWD/$NAME.join.callgrind" 2>/dev/null | grep "PROGRAM TOTALS"
