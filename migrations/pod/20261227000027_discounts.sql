-- Discounts and their codes (the `discounts` context, issue 18 part 1).
--
-- A discount is automatic or has codes shoppers enter (matched without
-- case: `code_key` is the code in upper case). What it takes off (`kind`,
-- the JSON of discounts::model::Kind) and when it applies are checked by
-- the pure discounts::model::decide; the database holds the counts.
--
-- Uses are counted exactly: a checkout redeems its discounts in the
-- transaction that moves it to `reserved` (one `discount_uses` row per
-- checkout and discount: a retry counts once), each limit a conditional
-- UPDATE of a counter (`used_count < usage_limit`); a checkout that fails
-- gives its uses back in the transaction that ends it.
--
-- Every table leads with store_id and carries the move capture trigger, so
-- codes and their counts move with the store.
CREATE TABLE discounts (
    store_id            uuid NOT NULL,
    id                  uuid NOT NULL,
    title               text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    method              text NOT NULL CHECK (method IN ('code', 'automatic')),
    -- discounts::model::Kind as JSON; `class` is its class, kept for lists.
    kind                jsonb NOT NULL,
    class               text NOT NULL CHECK (class IN ('order', 'product', 'shipping')),
    min_subtotal_minor  bigint CHECK (min_subtotal_minor >= 0),
    min_quantity        integer CHECK (min_quantity >= 1),
    starts_at           timestamptz,
    ends_at             timestamptz,
    -- discounts::model::Customers as JSON.
    customers           jsonb NOT NULL DEFAULT '{"type": "anyone"}',
    first_order_only    boolean NOT NULL DEFAULT false,
    -- Over every code and shopper.
    usage_limit         integer CHECK (usage_limit >= 1),
    per_customer_limit  integer CHECK (per_customer_limit >= 1),
    combines_order      boolean NOT NULL DEFAULT false,
    combines_product    boolean NOT NULL DEFAULT false,
    combines_shipping   boolean NOT NULL DEFAULT false,
    status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    used_count          integer NOT NULL DEFAULT 0 CHECK (used_count >= 0),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, id),
    CONSTRAINT discounts_window CHECK (ends_at IS NULL OR starts_at IS NULL OR ends_at > starts_at)
);

-- A store's automatic discounts in force: what every cart is checked against.
CREATE INDEX discounts_automatic ON discounts (store_id, id)
    WHERE method = 'automatic' AND status = 'active';

SELECT move_capture.install('discounts');

CREATE TABLE discount_codes (
    store_id     uuid NOT NULL,
    id           uuid NOT NULL,
    discount_id  uuid NOT NULL,
    -- As staff wrote it (or generated); matched by `code_key`.
    code         text NOT NULL CHECK (length(code) BETWEEN 3 AND 64),
    code_key     text NOT NULL CHECK (code_key = upper(code)),
    -- This code's own limit (bulk codes: 1), besides the discount's.
    usage_limit  integer CHECK (usage_limit >= 1),
    used_count   integer NOT NULL DEFAULT 0 CHECK (used_count >= 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, id),
    CONSTRAINT discount_codes_unique UNIQUE (store_id, code_key),
    CONSTRAINT discount_codes_discount_fkey FOREIGN KEY (store_id, discount_id)
        REFERENCES discounts (store_id, id) ON DELETE CASCADE
);

-- A discount's codes in order (paging and the CSV export).
CREATE INDEX discount_codes_by_discount ON discount_codes (store_id, discount_id, id);

SELECT move_capture.install('discount_codes');

-- Uses per discount and shopper (`c:<customer id>` signed in, `e:<email in
-- lower case>` a guest), for the per-customer limit.
CREATE TABLE discount_shopper_uses (
    store_id     uuid NOT NULL,
    discount_id  uuid NOT NULL,
    shopper      text NOT NULL CHECK (length(shopper) BETWEEN 3 AND 400),
    used_count   integer NOT NULL DEFAULT 0 CHECK (used_count >= 0),
    PRIMARY KEY (store_id, discount_id, shopper),
    FOREIGN KEY (store_id, discount_id) REFERENCES discounts (store_id, id) ON DELETE CASCADE
);

SELECT move_capture.install('discount_shopper_uses');

-- One row per checkout and discount it redeemed: the counting's idempotency
-- and what compensation gives back. `released_at` set: given back.
CREATE TABLE discount_uses (
    store_id      uuid NOT NULL,
    checkout_id   uuid NOT NULL,
    discount_id   uuid NOT NULL,
    code_id       uuid,
    shopper       text NOT NULL,
    amount_minor  bigint NOT NULL CHECK (amount_minor >= 0),
    counted_at    timestamptz NOT NULL DEFAULT now(),
    released_at   timestamptz,
    PRIMARY KEY (store_id, checkout_id, discount_id),
    FOREIGN KEY (store_id, discount_id) REFERENCES discounts (store_id, id) ON DELETE CASCADE
);

CREATE INDEX discount_uses_by_discount ON discount_uses (store_id, discount_id, counted_at);

SELECT move_capture.install('discount_uses');

-- The codes a shopper entered in a cart, in upper case (at most 5, checked
-- by the cart).
ALTER TABLE carts ADD COLUMN discount_codes text[] NOT NULL DEFAULT '{}';

-- Discount lines on the order: off the lines (allocated per line, so a
-- return refunds what the line cost after its discounts) and what each
-- discount took (discounts::Applied as JSON). `shipping_minor` stays what
-- the shopper paid for shipping, after a shipping discount.
ALTER TABLE orders ADD COLUMN discount_minor bigint NOT NULL DEFAULT 0 CHECK (discount_minor >= 0);
ALTER TABLE orders ADD COLUMN discounts jsonb NOT NULL DEFAULT '[]';
-- The total's check, declared on its column in migration 10, names
-- several columns (so Postgres named it `orders_check`): found by what it
-- says, replaced by one that counts the discount.
DO $$
DECLARE name text;
BEGIN
    SELECT conname INTO name FROM pg_constraint
     WHERE conrelid = 'orders'::regclass AND contype = 'c'
       AND pg_get_constraintdef(oid) LIKE '%total_minor = %';
    EXECUTE format('ALTER TABLE orders DROP CONSTRAINT %I', name);
END $$;
ALTER TABLE orders ADD CONSTRAINT orders_total_minor_check
    CHECK (total_minor = subtotal_minor - discount_minor + shipping_minor + tax_minor);
ALTER TABLE order_lines ADD COLUMN discount_minor bigint NOT NULL DEFAULT 0
    CHECK (discount_minor >= 0 AND discount_minor <= unit_price_minor * quantity);
