-- Inventory: locations, stock per (variant, location) with units reserved
-- by holds, holds themselves, and the audit of every change of units on
-- hand. Same tenancy rule as ever: store_id leads every key and index.

-- Warehouses. Every store has one default location ("Default", priority
-- 0): created here for existing stores, and lazily by the application
-- (INSERT ... ON CONFLICT on locations_one_default) for new ones.
CREATE TABLE locations (
    store_id     uuid NOT NULL,
    id           uuid NOT NULL,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    line1        text NOT NULL DEFAULT '' CHECK (length(line1) <= 255),
    line2        text NOT NULL DEFAULT '' CHECK (length(line2) <= 255),
    city         text NOT NULL DEFAULT '' CHECK (length(city) <= 255),
    region       text NOT NULL DEFAULT '' CHECK (length(region) <= 255),
    postal_code  text NOT NULL DEFAULT '' CHECK (length(postal_code) <= 32),
    -- ISO 3166-1 alpha-2; NULL for a location without an address.
    country      char(2) CHECK (country ~ '^[A-Z]{2}$'),
    -- Lower is tried first when reserving.
    priority     integer NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 1000000),
    active       boolean NOT NULL DEFAULT true,
    is_default   boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, id)
);

CREATE UNIQUE INDEX locations_one_default ON locations (store_id) WHERE is_default;
CREATE INDEX locations_by_priority ON locations (store_id, priority, id);

-- Units per variant and location. reserved: units held for checkouts.
-- on_hand - reserved is what can still be sold.
CREATE TABLE stock_levels (
    store_id     uuid NOT NULL,
    variant_id   uuid NOT NULL,
    location_id  uuid NOT NULL,
    on_hand      integer NOT NULL DEFAULT 0 CHECK (on_hand >= 0),
    reserved     integer NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, variant_id, location_id),
    CONSTRAINT stock_levels_reserved_le_on_hand CHECK (reserved <= on_hand),
    FOREIGN KEY (store_id, variant_id) REFERENCES variants (store_id, id) ON DELETE CASCADE,
    FOREIGN KEY (store_id, location_id) REFERENCES locations (store_id, id)
);

-- Every change of on_hand, with why and by whom.
CREATE TABLE stock_adjustments (
    store_id       uuid NOT NULL,
    id             uuid NOT NULL,
    variant_id     uuid NOT NULL,
    location_id    uuid NOT NULL,
    delta          integer NOT NULL,
    on_hand_after  integer NOT NULL,
    -- received, correction, damaged, lost, returned, other (staff);
    -- initial, order, order_cancelled (the system).
    reason         text NOT NULL CHECK (length(reason) BETWEEN 1 AND 32),
    -- A staff id, or 'system'.
    actor          text NOT NULL,
    -- The checkout (order) behind a system change.
    reference      uuid,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, id)
);

CREATE INDEX stock_adjustments_by_variant ON stock_adjustments (store_id, variant_id, id);

-- Units reserved for a checkout (owner) at one location. expires_at NULL:
-- pinned by an order, never expires. committed: turned into a decrement of
-- on_hand; restocked: that decrement was put back (order cancelled).
CREATE TABLE holds (
    store_id     uuid NOT NULL,
    id           uuid NOT NULL,
    owner        uuid NOT NULL,
    variant_id   uuid NOT NULL,
    location_id  uuid NOT NULL,
    quantity     integer NOT NULL CHECK (quantity > 0),
    status       text NOT NULL CHECK (status IN ('active', 'committed', 'released', 'restocked')),
    expires_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, id)
);

CREATE INDEX holds_by_owner ON holds (store_id, owner);
CREATE INDEX holds_expiring ON holds (store_id, expires_at) WHERE status = 'active';

-- Existing stores get their default location, and today's units on hand
-- move into it. inventory_levels keeps the per-variant low-stock threshold
-- and, kept in step by the application, the total on hand (search reads it).
INSERT INTO locations (store_id, id, name, priority, is_default)
SELECT store_id,
       -- A UUIDv7-shaped id from the store id and the clock.
       (lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0')
        || '7' || substr(md5(store_id::text), 1, 3)
        || '8' || substr(md5(store_id::text), 4, 15))::uuid,
       'Default', 0, true
  FROM hosted_stores;

INSERT INTO stock_levels (store_id, variant_id, location_id, on_hand)
SELECT il.store_id, il.variant_id, l.id, il.on_hand
  FROM inventory_levels il
  JOIN locations l ON l.store_id = il.store_id AND l.is_default;
