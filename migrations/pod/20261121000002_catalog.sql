-- The full catalog: product attributes and options, variant details,
-- collections (manual and rule-based), a category tree, media, stock levels
-- and the outbox. Same tenancy rule as ever: store_id leads every key.

ALTER TABLE products
    ADD COLUMN vendor        text NOT NULL DEFAULT '' CHECK (length(vendor) <= 255),
    ADD COLUMN product_type  text NOT NULL DEFAULT '' CHECK (length(product_type) <= 255),
    ADD COLUMN tags          text[] NOT NULL DEFAULT '{}',
    -- [{"name": "Size", "values": ["S", "M"]}, ...] in display order.
    ADD COLUMN options       jsonb NOT NULL DEFAULT '[]';

ALTER TABLE variants
    ADD COLUMN compare_at_minor  bigint CHECK (compare_at_minor >= 0),
    ADD COLUMN weight_grams      integer NOT NULL DEFAULT 0 CHECK (weight_grams >= 0),
    -- {"Size": "M", "Colour": "Red"}: one value per product option.
    ADD COLUMN option_values     jsonb NOT NULL DEFAULT '{}',
    -- Free-form merchant attributes: {"material": "cotton"}.
    ADD COLUMN attributes        jsonb NOT NULL DEFAULT '{}';

-- A collection is manual (staff place products) or rule-based (membership
-- is computed from rules over vendor, type, tag and price, and kept up to
-- date when products or rules change). Either way, membership lives in
-- collection_products.
CREATE TABLE collections (
    store_id     uuid NOT NULL,
    id           uuid NOT NULL,
    handle       text NOT NULL CHECK (length(handle) BETWEEN 1 AND 63),
    title        text NOT NULL CHECK (length(title) BETWEEN 1 AND 255),
    description  text NOT NULL DEFAULT '',
    kind         text NOT NULL CHECK (kind IN ('manual', 'rule')),
    -- {"match": "all"|"any", "conditions": [{"field", "op", "value"}]}
    rules        jsonb,
    sort_order   text NOT NULL CHECK (sort_order IN ('manual', 'title', 'price_asc', 'price_desc', 'newest', 'best_selling')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, id),
    CONSTRAINT collections_store_handle_key UNIQUE (store_id, handle),
    CHECK ((kind = 'rule') = (rules IS NOT NULL))
);

CREATE TABLE collection_products (
    store_id       uuid NOT NULL,
    collection_id  uuid NOT NULL,
    product_id     uuid NOT NULL,
    -- Manual order; rule members are placed after manual ones by id.
    position       bigint NOT NULL,
    PRIMARY KEY (store_id, collection_id, product_id),
    FOREIGN KEY (store_id, collection_id) REFERENCES collections (store_id, id) ON DELETE CASCADE,
    FOREIGN KEY (store_id, product_id) REFERENCES products (store_id, id) ON DELETE CASCADE
);

CREATE INDEX collection_products_by_position ON collection_products (store_id, collection_id, position, product_id);
CREATE INDEX collection_products_by_product ON collection_products (store_id, product_id);

-- A tree: parent_id NULL for roots. Cycles are refused by the application
-- (it walks the ancestors inside the same transaction, under a lock).
CREATE TABLE categories (
    store_id    uuid NOT NULL,
    id          uuid NOT NULL,
    parent_id   uuid,
    handle      text NOT NULL CHECK (length(handle) BETWEEN 1 AND 63),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    position    integer NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, id),
    CONSTRAINT categories_store_handle_key UNIQUE (store_id, handle),
    CONSTRAINT categories_parent_fkey FOREIGN KEY (store_id, parent_id) REFERENCES categories (store_id, id)
);

CREATE INDEX categories_by_parent ON categories (store_id, parent_id, position);

CREATE TABLE product_categories (
    store_id     uuid NOT NULL,
    product_id   uuid NOT NULL,
    category_id  uuid NOT NULL,
    PRIMARY KEY (store_id, product_id, category_id),
    FOREIGN KEY (store_id, product_id) REFERENCES products (store_id, id) ON DELETE CASCADE,
    CONSTRAINT product_categories_category_fkey FOREIGN KEY (store_id, category_id) REFERENCES categories (store_id, id)
);

CREATE INDEX product_categories_by_category ON product_categories (store_id, category_id, product_id);

-- Images. The object key is content-addressed (sha256), so its URL can be
-- cached forever.
CREATE TABLE media (
    store_id      uuid NOT NULL,
    id            uuid NOT NULL,
    product_id    uuid NOT NULL,
    object_key    text NOT NULL,
    url           text NOT NULL,
    content_type  text NOT NULL,
    byte_size     integer NOT NULL CHECK (byte_size > 0),
    sha256        text NOT NULL,
    alt           text NOT NULL DEFAULT '' CHECK (length(alt) <= 512),
    position      integer NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, id),
    FOREIGN KEY (store_id, product_id) REFERENCES products (store_id, id) ON DELETE CASCADE
);

CREATE INDEX media_by_product ON media (store_id, product_id, position);

-- Units on hand per variant. A variant without a row has none. Holds and
-- the Redis gate come with checkout.
CREATE TABLE inventory_levels (
    store_id             uuid NOT NULL,
    variant_id           uuid NOT NULL,
    on_hand              integer NOT NULL DEFAULT 0 CHECK (on_hand >= 0),
    low_stock_threshold  integer NOT NULL DEFAULT 5 CHECK (low_stock_threshold >= 0),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, variant_id),
    FOREIGN KEY (store_id, variant_id) REFERENCES variants (store_id, id) ON DELETE CASCADE
);

-- Events for others, written in the same transaction as the change they
-- describe. A relay publishes them (key = store id) and sets published_at.
CREATE TABLE outbox (
    store_id      uuid NOT NULL,
    id            uuid NOT NULL,
    type          text NOT NULL,
    aggregate_id  uuid NOT NULL,
    occurred_at   timestamptz NOT NULL DEFAULT now(),
    payload       jsonb NOT NULL,
    published_at  timestamptz,
    PRIMARY KEY (store_id, id)
);

CREATE INDEX outbox_unpublished ON outbox (store_id, id) WHERE published_at IS NULL;

-- Units sold per product, for "best selling" sorts. Orders add to it when
-- they are placed; the catalog only reads it.
CREATE TABLE product_sales (
    store_id    uuid NOT NULL,
    product_id  uuid NOT NULL,
    units_sold  bigint NOT NULL DEFAULT 0 CHECK (units_sold >= 0),
    PRIMARY KEY (store_id, product_id),
    FOREIGN KEY (store_id, product_id) REFERENCES products (store_id, id) ON DELETE CASCADE
);
