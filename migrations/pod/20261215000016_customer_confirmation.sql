-- Registration answers the same whether or not the email has an account:
-- a new account is pending until its owner confirms it with the token
-- mailed through `customer.confirmation_requested` (only its sha256 is
-- kept); a pending account cannot sign in. Accounts from before this
-- migration count as confirmed.
ALTER TABLE customers
    ADD COLUMN confirmed_at timestamptz,
    ADD COLUMN confirmation_sha256 text,
    ADD COLUMN confirmation_expires_at timestamptz;

UPDATE customers SET confirmed_at = created_at;

CREATE UNIQUE INDEX customers_confirmation ON customers (store_id, confirmation_sha256)
    WHERE confirmation_sha256 IS NOT NULL;
