-- A guest checkout keeps the sha256 of the cart token's secret it was
-- started with, so a replay of its Idempotency-Key and its status page
-- answer only to a shopper who still holds that secret (the cart id alone
-- is not proof: it is in the token's clear part). Rows from before this
-- column have no hash and keep the old check by cart id.
ALTER TABLE checkouts ADD COLUMN cart_secret_hash bytea
    CHECK (cart_secret_hash IS NULL OR length(cart_secret_hash) = 32);
