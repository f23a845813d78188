-- Version 2: user names unique regardless of case (protocol 2, "Names").
-- The earliest-registered spelling keeps the name (ties: the lower byte
-- order); every later case variant moves to retired_accounts, where no
-- login looks, with the time it was retired. The accounts table is small,
-- so it is rebuilt, which also gives each account an id never reused.
CREATE TABLE accounts_v2 (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    name_folded TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
INSERT INTO accounts_v2 (name, name_folded, password_hash, created_at)
    SELECT name, name_folded, password_hash, created_at FROM (
        SELECT DISTINCT ON (lower(name)) name, lower(name) AS name_folded,
               password_hash, created_at
        FROM accounts ORDER BY lower(name), created_at, name COLLATE "C"
    ) kept
    ORDER BY created_at, name COLLATE "C";
CREATE TABLE retired_accounts (
    name TEXT PRIMARY KEY,
    name_folded TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT NOT NULL
);
INSERT INTO retired_accounts (name, name_folded, password_hash, created_at, retired_at)
    SELECT name, lower(name), password_hash, created_at,
           (extract(epoch FROM now()) * 1000)::BIGINT
    FROM accounts WHERE name NOT IN (SELECT name FROM accounts_v2);
DROP TABLE accounts;
ALTER TABLE accounts_v2 RENAME TO accounts;
-- Room listings page by name as bytes, as SQLite compares them.
CREATE INDEX rooms_name_c ON rooms (name COLLATE "C");
