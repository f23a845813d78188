-- 5: exactly once (see sqlite_05_exactly_once.sql). The ref is BYTEA, as
-- text is, because a ref may hold NUL, which TEXT cannot. Columns without
-- a default rewrite no rows.
ALTER TABLE entries ADD COLUMN client_ref BYTEA,
    ADD COLUMN ref_user TEXT,
    ADD COLUMN fingerprint BYTEA;
CREATE UNIQUE INDEX entries_ref ON entries (room_id, ref_user, client_ref, fingerprint)
    WHERE client_ref IS NOT NULL;
