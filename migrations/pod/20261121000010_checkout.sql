-- Buying: per-store shipping and tax rate tables, the persisted checkout
-- saga, orders with per-store numbers, and webhook deduplication. Same
-- tenancy rule as ever: store_id leads every key and index.

-- What a store charges for shipping. A store with no rows offers one free
-- "standard" option (see checkout::model::default_shipping).
CREATE TABLE shipping_rates (
    store_id          uuid NOT NULL,
    code              text NOT NULL CHECK (code ~ '^[a-z0-9][a-z0-9_-]{0,39}$'),
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    price_minor       bigint NOT NULL CHECK (price_minor >= 0),
    -- Free at or above this subtotal; NULL: never free.
    free_over_minor   bigint CHECK (free_over_minor >= 0),
    -- ISO country codes served; empty: everywhere.
    countries         text[] NOT NULL DEFAULT '{}',
    position          integer NOT NULL DEFAULT 0,
    PRIMARY KEY (store_id, code)
);

-- Sales tax in basis points by destination; region '' is the whole country.
CREATE TABLE tax_rates (
    store_id   uuid NOT NULL,
    country    text NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    region     text NOT NULL DEFAULT '' CHECK (length(region) <= 10),
    rate_bp    integer NOT NULL CHECK (rate_bp BETWEEN 0 AND 10000),
    name       text NOT NULL DEFAULT 'Tax' CHECK (length(name) BETWEEN 1 AND 100),
    PRIMARY KEY (store_id, country, region)
);

-- Per-store counters (order numbers start at #1001; no global sequence).
CREATE TABLE store_counters (
    store_id           uuid PRIMARY KEY,
    next_order_number  bigint NOT NULL DEFAULT 1001
);

-- One row per checkout: the saga's state, the steps done, and the first
-- outcome (replayed for retries with the same Idempotency-Key).
CREATE TABLE checkouts (
    store_id          uuid NOT NULL,
    id                uuid NOT NULL,
    idempotency_key   text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    request_hash      bytea NOT NULL,
    cart_id           uuid NOT NULL,
    customer_id       uuid,
    state             text NOT NULL CHECK (state IN
        ('started', 'reserved', 'authorized', 'ordered', 'completed', 'compensating', 'failed')),
    steps             text[] NOT NULL DEFAULT '{}',
    -- The priced checkout (lines, address, shipping option, totals).
    quote             jsonb,
    payment_token     text NOT NULL,
    payment_id        text,
    order_id          uuid,
    -- Why the saga is compensating or failed (an error code).
    failure           text,
    -- The answer given for this checkout once it ended.
    outcome_status    smallint,
    outcome           jsonb,
    attempts          integer NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, id),
    CONSTRAINT checkouts_idempotency_key UNIQUE (store_id, idempotency_key)
);

-- The recovery worker's scan: unfinished checkouts by age.
CREATE INDEX checkouts_unfinished ON checkouts (store_id, updated_at)
    WHERE state NOT IN ('completed', 'failed');

CREATE TABLE orders (
    store_id          uuid NOT NULL,
    id                uuid NOT NULL,
    number            bigint NOT NULL,
    checkout_id       uuid NOT NULL,
    customer_id       uuid,
    email             text NOT NULL,
    status            text NOT NULL CHECK (status IN
        ('placed', 'paid', 'fulfilling', 'shipped', 'delivered', 'cancelled', 'refunded')),
    currency          text NOT NULL,
    subtotal_minor    bigint NOT NULL CHECK (subtotal_minor >= 0),
    shipping_minor    bigint NOT NULL CHECK (shipping_minor >= 0),
    tax_minor         bigint NOT NULL CHECK (tax_minor >= 0),
    total_minor       bigint NOT NULL CHECK (total_minor = subtotal_minor + shipping_minor + tax_minor),
    shipping_option   jsonb NOT NULL,
    shipping_address  jsonb NOT NULL,
    payment_id        text NOT NULL,
    captured_minor    bigint NOT NULL DEFAULT 0 CHECK (captured_minor >= 0),
    refunded_minor    bigint NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0 AND refunded_minor <= captured_minor),
    cancel_reason     text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, id),
    CONSTRAINT orders_number UNIQUE (store_id, number),
    CONSTRAINT orders_checkout UNIQUE (store_id, checkout_id)
);

CREATE INDEX orders_by_customer ON orders (store_id, customer_id, id) WHERE customer_id IS NOT NULL;
CREATE INDEX orders_by_email ON orders (store_id, lower(email), id);
CREATE INDEX orders_by_status ON orders (store_id, status, id);

CREATE TABLE order_lines (
    store_id          uuid NOT NULL,
    order_id          uuid NOT NULL,
    position          integer NOT NULL,
    variant_id        uuid NOT NULL,
    product_id        uuid NOT NULL,
    sku               text NOT NULL,
    title             text NOT NULL,
    variant_title     text NOT NULL,
    quantity          integer NOT NULL CHECK (quantity > 0),
    unit_price_minor  bigint NOT NULL CHECK (unit_price_minor >= 0),
    PRIMARY KEY (store_id, order_id, position),
    -- Deferred: the order's own row is inserted last in its transaction
    -- (it takes the store's order-number counter, held until commit).
    FOREIGN KEY (store_id, order_id) REFERENCES orders (store_id, id) ON DELETE CASCADE
        DEFERRABLE INITIALLY DEFERRED
);

-- Every status an order went through.
CREATE TABLE order_history (
    store_id     uuid NOT NULL,
    order_id     uuid NOT NULL,
    id           uuid NOT NULL,
    from_status  text,
    to_status    text NOT NULL,
    actor        text NOT NULL,
    note         text,
    at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, order_id, id),
    -- Deferred: the order's own row is inserted last in its transaction
    -- (it takes the store's order-number counter, held until commit).
    FOREIGN KEY (store_id, order_id) REFERENCES orders (store_id, id) ON DELETE CASCADE
        DEFERRABLE INITIALLY DEFERRED
);

-- The allowed status changes; orders::state::next is the same table in
-- Rust, and a test checks the two agree.
CREATE TABLE order_transitions (
    from_status  text NOT NULL,
    to_status    text NOT NULL,
    PRIMARY KEY (from_status, to_status)
);

INSERT INTO order_transitions (from_status, to_status) VALUES
    ('placed', 'paid'), ('placed', 'cancelled'),
    ('paid', 'fulfilling'), ('paid', 'cancelled'), ('paid', 'refunded'),
    ('fulfilling', 'shipped'), ('fulfilling', 'cancelled'), ('fulfilling', 'refunded'),
    ('shipped', 'delivered'), ('shipped', 'refunded'),
    ('delivered', 'refunded');

CREATE FUNCTION orders_refuse_illegal_transition() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status AND NOT EXISTS (
        SELECT 1 FROM order_transitions WHERE from_status = OLD.status AND to_status = NEW.status
    ) THEN
        RAISE EXCEPTION 'order % cannot go from % to %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'orders_status_transition';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER orders_status_transition BEFORE UPDATE OF status ON orders
    FOR EACH ROW EXECUTE FUNCTION orders_refuse_illegal_transition();

-- Gateway webhook events already handled (deduplication by event id).
CREATE TABLE webhook_events (
    store_id     uuid NOT NULL,
    id           text NOT NULL,
    type         text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, id)
);
