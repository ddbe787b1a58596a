-- A guest finds an order by its number and a random lookup token (256
-- bits) sent in the confirmation link, no longer by number and email. The
-- order keeps only the token's sha256. Orders from before this column have
-- none: only their customer (signed in) and staff see them.
ALTER TABLE orders ADD COLUMN lookup_sha256 bytea
    CHECK (lookup_sha256 IS NULL OR length(lookup_sha256) = 32);
