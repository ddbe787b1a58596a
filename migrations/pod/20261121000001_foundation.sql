-- Pod schema, foundation.
-- Tenancy rule: every table holding tenant data leads its primary key and
-- every index with store_id, and every query filters on it. Ids are UUIDv7
-- made by the application; there are no sequences, so a store's rows can be
-- copied to another pod unchanged.

-- The stores this pod hosts, and in which state. A pod serves a store only
-- while it is 'active' here (the fence).
CREATE TABLE hosted_stores (
    store_id    uuid PRIMARY KEY,
    handle      text NOT NULL,
    name        text NOT NULL,
    currency    char(3) NOT NULL DEFAULT 'USD',
    state       text NOT NULL CHECK (state IN ('provisioning', 'active', 'frozen', 'moved_out')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE products (
    store_id     uuid NOT NULL,
    id           uuid NOT NULL,
    title        text NOT NULL CHECK (length(title) BETWEEN 1 AND 255),
    description  text NOT NULL DEFAULT '',
    status       text NOT NULL CHECK (status IN ('draft', 'active', 'archived')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, id)
);

CREATE INDEX products_store_status_id ON products (store_id, status, id);

CREATE TABLE variants (
    store_id     uuid NOT NULL,
    id           uuid NOT NULL,
    product_id   uuid NOT NULL,
    sku          text NOT NULL CHECK (length(sku) BETWEEN 1 AND 64),
    title        text NOT NULL DEFAULT '',
    price_minor  bigint NOT NULL CHECK (price_minor >= 0),
    currency     char(3) NOT NULL,
    position     integer NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, id),
    CONSTRAINT variants_store_sku_key UNIQUE (store_id, sku),
    CONSTRAINT variants_product_fkey FOREIGN KEY (store_id, product_id)
        REFERENCES products (store_id, id) ON DELETE CASCADE
);

CREATE INDEX variants_store_product ON variants (store_id, product_id, position);
