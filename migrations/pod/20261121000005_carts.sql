-- Shopping carts. Postgres is the record (a client told "ok" never loses a
-- change); Redis holds a copy of each active cart, rebuilt from here when
-- it is missing. Same tenancy rule as ever: store_id leads every key.

-- A cart belongs either to a guest, who proves it with a secret token (only
-- its sha256 is kept), or to a customer, who has at most one active cart.
-- `version` grows with every change, so a stale copy never overwrites a
-- newer one in Redis.
CREATE TABLE carts (
    store_id     uuid NOT NULL,
    id           uuid NOT NULL,
    customer_id  uuid,
    token_hash   bytea CHECK (octet_length(token_hash) = 32),
    status       text NOT NULL CHECK (status IN ('active', 'merged', 'converted')),
    currency     char(3) NOT NULL,
    -- The customer cart a merged guest cart went into.
    merged_into  uuid,
    version      bigint NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, id),
    CONSTRAINT carts_guest_or_customer CHECK ((customer_id IS NULL) <> (token_hash IS NULL))
);

CREATE UNIQUE INDEX carts_one_active_per_customer ON carts (store_id, customer_id)
    WHERE status = 'active' AND customer_id IS NOT NULL;

-- For a purge of carts left untouched longer than their TTL.
CREATE INDEX carts_by_status_updated ON carts (store_id, status, updated_at);

-- One line per variant. The unit price is what the shopper saw when adding;
-- sku, titles and product_id are kept so a line whose variant was deleted can
-- still be shown. No foreign key to variants: a deleted variant leaves its
-- lines, reported `unavailable`.
CREATE TABLE cart_lines (
    store_id          uuid NOT NULL,
    cart_id           uuid NOT NULL,
    variant_id        uuid NOT NULL,
    product_id        uuid NOT NULL,
    sku               text NOT NULL,
    title             text NOT NULL,
    variant_title     text NOT NULL DEFAULT '',
    quantity          integer NOT NULL CHECK (quantity > 0),
    unit_price_minor  bigint NOT NULL CHECK (unit_price_minor >= 0),
    currency          char(3) NOT NULL,
    added_at          timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, cart_id, variant_id),
    CONSTRAINT cart_lines_cart_fkey FOREIGN KEY (store_id, cart_id)
        REFERENCES carts (store_id, id) ON DELETE CASCADE
);
