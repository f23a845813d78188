-- 5: exactly once. An entry made by a request that carried a `ref` keeps
-- that ref, its author's folded name and a fingerprint of the request's
-- content with both (16 bytes, store/fingerprint.rs), and the fingerprint's
-- first 8 bytes as an integer, `ref_slot`, the key of the partial index: so
-- the same request sent again is found, under the writer's lock, by one
-- integer probe and the row's columns, and answered with the stored entry
-- instead of being stored twice. Rows without a ref (protocol-1 rows,
-- requests without one) stay out of the index. The columns default to
-- NULL: no row is rewritten.
ALTER TABLE entries ADD COLUMN client_ref TEXT;
ALTER TABLE entries ADD COLUMN ref_user TEXT;
ALTER TABLE entries ADD COLUMN fingerprint BLOB;
ALTER TABLE entries ADD COLUMN ref_slot INTEGER;
CREATE INDEX entries_ref ON entries (room_id, ref_slot) WHERE ref_slot IS NOT NULL;
