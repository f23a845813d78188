#!/usr/bin/env bash
# Instructions per stored message: the release server under callgrind while
# `chat-bench persist` stores N messages. Run it for two totals and divide
# the difference of the totals by the difference of the counts (session
# 9 and 10 in docs/benchmarks.md used 2,000 and 12,000):
#
#   callgrind_persist.sh BINDIR NAME N PORT [SENDERS]
#
# BINDIR holds release `chat-server` and `chat-bench`; the profile is
# written to ./NAME.N.callgrind and its total printed.
set -euo pipefail
BIN=$1; NAME=$2; N=$3; PORT=$4; SENDERS=${5:-16}
DIR=$(mktemp -d /tmp/cg-persist.XXXX)
trap 'rm -rf "$DIR"' EXIT
valgrind --tool=callgrind --callgrind-out-file="$PWD/$NAME.$N.callgrind" \
    "$BIN/chat-server" --port "$PORT" --db "$DIR/db.sqlite3" --rate-limit 0 --address-share 0 \
    >/dev/null 2>"$DIR/log" &
SERVER=$!
timeout 60 bash -c "until grep -q 'listening on' '$DIR/log'; do sleep 0.2; done"
"$BIN/chat-bench" --url "ws://127.0.0.1:$PORT/ws" persist --senders "$SENDERS" --window 64 \
    --total "$N" --duration 600 >/dev/null 2>&1 || true
kill -INT "$SERVER"
wait "$SERVER" || true
callgrind_annotate "$PWD/$NAME.$N.callgrind" 2>/dev/null | grep "PROGRAM TOTALS"
