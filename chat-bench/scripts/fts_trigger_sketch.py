#!/usr/bin/env python3
"""Why chat-server indexes a new message by its own statement, not by a
trigger (docs/benchmarks.md, "Session 8"), and in batches after its commit
(schema 8, "Session 9"): the same FTS5 table as schema 7,
fed 30,000 rows in transactions of 64, directly and by an AFTER INSERT
trigger. FTS5 flushes its pending terms at every savepoint, and a trigger's
statement is one, so the trigger writes an index segment per row.

    pip install pysqlite3-binary   # a recent SQLite; falls back to sqlite3
    python3 chat-bench/scripts/fts_trigger_sketch.py
"""
import os
import tempfile
import time

try:
    import pysqlite3 as sqlite3
except ImportError:
    import sqlite3

FTS = ("CREATE VIRTUAL TABLE search USING fts5(text, content='', "
       "tokenize='unicode61 remove_diacritics 2');")
TRIGGER = ("CREATE TRIGGER ti AFTER INSERT ON entries BEGIN "
           "INSERT INTO search (rowid, text) VALUES ((new.room_id << 36) | new.id, new.text); END;")
ENTRY = "INSERT INTO entries VALUES (1, ?1, ?2)"
INDEX = "INSERT INTO search (rowid, text) VALUES ((1 << 36) | ?1, ?2)"
WORDS = ["alpha", "beta", "gamma", "delta", "release",
         "notes", "lunch", "rust", "code", "review"]


def run(label, setup, inserts, rows=30000, batch=64, index_every=None):
    with tempfile.TemporaryDirectory() as directory:
        conn = sqlite3.connect(os.path.join(directory, "sketch.db"), isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TABLE entries (room_id INTEGER, id INTEGER, text TEXT, "
                     "PRIMARY KEY (room_id, id)) WITHOUT ROWID")
        conn.executescript(setup)
        started = time.perf_counter()
        for first in range(0, rows, batch):
            conn.execute("BEGIN")
            for k in range(first, first + batch):
                text = "message %d %s %s %s" % (
                    k, WORDS[k % 10], WORDS[k // 10 % 10], WORDS[k // 100 % 10])
                for sql in inserts:
                    conn.execute(sql, (k + 1, text))
            conn.execute("COMMIT")
            if index_every and (first + batch) % index_every == 0:
                # Schema 8: the messages stored since, indexed by one
                # statement in a transaction of their own.
                conn.execute("BEGIN")
                conn.execute("INSERT INTO search (rowid, text) SELECT (1 << 36) | id, text "
                             "FROM entries WHERE room_id = 1 AND id > ?1", (first + batch - index_every,))
                conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
        conn.close()
    print("%-22s %5.1f us per row" % (label, elapsed / rows * 1e6))


print("SQLite", sqlite3.sqlite_version)
run("no index", "", [ENTRY])
run("index by statement", FTS, [ENTRY, INDEX])
run("index by trigger", FTS + TRIGGER, [ENTRY])
# One message per commit, as a lone sender's commits often are: indexed
# in its own transaction, or later with 255 others (schema 8's chunks).
run("1 per commit, no index", "", [ENTRY], rows=5000, batch=1)
run("1 per commit, inline", FTS, [ENTRY, INDEX], rows=5000, batch=1)
run("1 per commit, then 256", FTS, [ENTRY], rows=5120, batch=1, index_every=256)
