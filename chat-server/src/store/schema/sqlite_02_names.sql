-- Version 2: user names unique regardless of case (protocol 2, "Names").
-- The earliest-registered spelling keeps the name (ties: the lower byte
-- order); every later case variant moves to retired_accounts, where no
-- login looks, with the time it was retired. The accounts table is small,
-- so it is rebuilt, which also gives each account an id never reused.
CREATE TABLE accounts_v2 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    name_folded TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
INSERT INTO accounts_v2 (name, name_folded, password_hash, created_at)
    SELECT name, lower(name), password_hash, created_at FROM accounts a
    WHERE NOT EXISTS (
        SELECT 1 FROM accounts b
        WHERE lower(b.name) = lower(a.name)
          AND (b.created_at, b.name) < (a.created_at, a.name)
    )
    ORDER BY created_at, name;
CREATE TABLE retired_accounts (
    name TEXT PRIMARY KEY,
    name_folded TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    retired_at INTEGER NOT NULL
);
INSERT INTO retired_accounts (name, name_folded, password_hash, created_at, retired_at)
    SELECT name, lower(name), password_hash, created_at,
           CAST(strftime('%s', 'now') AS INTEGER) * 1000
    FROM accounts WHERE name NOT IN (SELECT name FROM accounts_v2);
DROP TABLE accounts;
ALTER TABLE accounts_v2 RENAME TO accounts;
