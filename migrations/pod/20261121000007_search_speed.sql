-- Search speed: precomputed facet counts and no parallel plans for search
-- reads.

-- Searches are many small concurrent reads: parallel workers only add
-- start-up cost and compete for the same cores.
ALTER TABLE search_documents SET (parallel_workers = 0);

-- The facet tokens a document counts towards: its facets, its price bucket
-- (`~p:<i>`, 0-based, over the lower edges of search::query::PRICE_EDGES,
-- which must match), its stock (`~s:true|false`) and the total (`~t`).
CREATE FUNCTION search_tokens(facets text[], price_min bigint, in_stock boolean)
RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT facets || ARRAY[
        '~p:' || (width_bucket(price_min, '{0,1000,2500,5000,10000,25000,50000}'::bigint[]) - 1),
        '~s:' || in_stock::text,
        '~t']
$$;

-- Per store and token, how many active documents carry it: the facets of a
-- browse without words or filters, read without touching the documents.
-- Kept exact by the statement triggers below, in the writing transaction
-- (reindex, reindex_store, and cascaded product deletes alike).
CREATE TABLE search_facet_counts (
    store_id  uuid NOT NULL,
    token     text NOT NULL,
    n         bigint NOT NULL,
    PRIMARY KEY (store_id, token)
);

-- Applies the token deltas of a statement's changed rows. One upsert with
-- ON CONFLICT fires both the insert and the update trigger, each locking
-- its own set of count rows; a per-store transaction advisory lock taken
-- first (by every writer of the store's documents) keeps two such writers
-- from locking the same rows in opposite orders. Writers of a store were
-- already serialised by its search_generations row, held to commit.
CREATE FUNCTION search_counts_lock(stores uuid[]) RETURNS void LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(hashtextextended('search_facet_counts:' || s::text, 0))
      FROM (SELECT DISTINCT s FROM unnest(stores) s ORDER BY 1) x
$$;

CREATE FUNCTION search_counts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM search_counts_lock(ARRAY(SELECT store_id FROM new_rows));
    INSERT INTO search_facet_counts AS c (store_id, token, n)
    SELECT r.store_id, t, count(*)
      FROM new_rows r, unnest(search_tokens(r.facets, r.price_min, r.in_stock)) t
     WHERE r.status = 'active'
     GROUP BY r.store_id, t
     ORDER BY r.store_id, t
    ON CONFLICT (store_id, token) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;

CREATE FUNCTION search_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM search_counts_lock(ARRAY(SELECT store_id FROM new_rows));
    INSERT INTO search_facet_counts AS c (store_id, token, n)
    SELECT store_id, t, sum(delta)
      FROM (SELECT r.store_id, t, -1 AS delta
              FROM old_rows r, unnest(search_tokens(r.facets, r.price_min, r.in_stock)) t
             WHERE r.status = 'active'
            UNION ALL
            SELECT r.store_id, t, 1
              FROM new_rows r, unnest(search_tokens(r.facets, r.price_min, r.in_stock)) t
             WHERE r.status = 'active') x
     GROUP BY store_id, t
    HAVING sum(delta) <> 0
     ORDER BY store_id, t
    ON CONFLICT (store_id, token) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;

CREATE FUNCTION search_counts_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM search_counts_lock(ARRAY(SELECT store_id FROM old_rows));
    INSERT INTO search_facet_counts AS c (store_id, token, n)
    SELECT r.store_id, t, -count(*)
      FROM old_rows r, unnest(search_tokens(r.facets, r.price_min, r.in_stock)) t
     WHERE r.status = 'active'
     GROUP BY r.store_id, t
     ORDER BY r.store_id, t
    ON CONFLICT (store_id, token) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;

CREATE TRIGGER search_counts_insert AFTER INSERT ON search_documents
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION search_counts_insert();
CREATE TRIGGER search_counts_update AFTER UPDATE ON search_documents
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION search_counts_update();
CREATE TRIGGER search_counts_delete AFTER DELETE ON search_documents
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION search_counts_delete();

INSERT INTO search_facet_counts (store_id, token, n)
SELECT d.store_id, t, count(*)
  FROM search_documents d, unnest(search_tokens(d.facets, d.price_min, d.in_stock)) t
 WHERE d.status = 'active'
 GROUP BY d.store_id, t;
