-- 5: exactly once. An entry made by a request that carried a `ref` keeps
-- that ref, its author's folded name and a fingerprint of the request's
-- content (16 bytes, store/fingerprint.rs), so the same request sent again
-- is found, through the partial unique index, under the writer's lock, and
-- answered with the stored entry instead of being stored twice. Rows
-- without a ref (protocol-1 rows, requests without one) stay out of the
-- index. The columns default to NULL: no row is rewritten.
ALTER TABLE entries ADD COLUMN client_ref TEXT;
ALTER TABLE entries ADD COLUMN ref_user TEXT;
ALTER TABLE entries ADD COLUMN fingerprint BLOB;
CREATE UNIQUE INDEX entries_ref ON entries (room_id, ref_user, client_ref, fingerprint)
    WHERE client_ref IS NOT NULL;
