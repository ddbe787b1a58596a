-- Search: one derived document per product, rebuilt by the application
-- (search::reindex) inside every catalog write transaction. Both
-- extensions are trusted in PG 15, so the database owner may create them.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
-- Lets a GIN index lead with the uuid store_id (tenancy rule).
CREATE EXTENSION IF NOT EXISTS btree_gin;

CREATE TABLE search_documents (
    store_id      uuid NOT NULL,
    product_id    uuid NOT NULL,
    status        text NOT NULL,
    title         text NOT NULL,
    vendor        text NOT NULL,
    product_type  text NOT NULL,
    -- title A; vendor, type, tags, SKUs, option values B; description C.
    document      tsvector NOT NULL,
    -- lower(title, vendor, tags, SKUs), for typo-tolerant trigram matching.
    fuzzy         text NOT NULL,
    -- vendor:Acme, type:Shirt, tag:summer, opt:Size=M, col:<uuid>,
    -- cat:<uuid> (the product's categories and all their ancestors).
    facets        text[] NOT NULL,
    -- Lowest and highest variant price, in the store's minor units.
    price_min     bigint NOT NULL,
    price_max     bigint NOT NULL,
    in_stock      boolean NOT NULL,
    units_sold    bigint NOT NULL,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (store_id, product_id),
    FOREIGN KEY (store_id, product_id) REFERENCES products (store_id, id) ON DELETE CASCADE
);

-- Shoppers only ever search active products: every index is partial.
-- GIN indexes skip the pending list (fastupdate = off): reads never scan
-- unmerged entries linearly, at a small cost to each write.
CREATE INDEX search_documents_text ON search_documents
    USING gin (store_id, document) WITH (fastupdate = off) WHERE status = 'active';
CREATE INDEX search_documents_fuzzy ON search_documents
    USING gin (store_id, fuzzy gin_trgm_ops) WITH (fastupdate = off) WHERE status = 'active';
CREATE INDEX search_documents_title ON search_documents
    USING gin (store_id, lower(title) gin_trgm_ops) WITH (fastupdate = off) WHERE status = 'active';
CREATE INDEX search_documents_facets ON search_documents
    USING gin (store_id, facets) WITH (fastupdate = off) WHERE status = 'active';
CREATE INDEX search_documents_price ON search_documents
    (store_id, price_min, product_id) WHERE status = 'active';
CREATE INDEX search_documents_newest ON search_documents
    (store_id, created_at, product_id) WHERE status = 'active';
CREATE INDEX search_documents_best_selling ON search_documents
    (store_id, units_sold, product_id) WHERE status = 'active';

-- The words of a store's catalog, for correcting misspelled query words.
-- Words of deleted products linger until search::reindex_store; a stale
-- correction only finds nothing, and the trigram fallback follows.
CREATE TABLE search_terms (
    store_id  uuid NOT NULL,
    term      text NOT NULL,
    PRIMARY KEY (store_id, term)
);

CREATE INDEX search_terms_trgm ON search_terms USING gin (store_id, term gin_trgm_ops)
    WITH (fastupdate = off);

-- Bumped by every reindex, in the writing transaction: cached search
-- results are keyed by it, so a commit makes older entries unreachable.
CREATE TABLE search_generations (
    store_id    uuid PRIMARY KEY,
    generation  bigint NOT NULL
);
