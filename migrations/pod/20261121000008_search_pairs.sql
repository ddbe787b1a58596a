-- Search speed, round two: precomputed facet counts per browse filter.
--
-- Per store, filter token and facet token, how many active documents carry
-- both: the facet counts of a browse filtered by one vendor, type, tag,
-- collection or category, read without touching the documents. Kept exact
-- like search_facet_counts, by statement triggers in the writing
-- transaction. The filter side is limited to those groups (the ones a
-- shopper browses by) so a document adds tens of rows, not hundreds.
CREATE TABLE search_facet_pairs (
    store_id  uuid NOT NULL,
    filter    text NOT NULL,
    token     text NOT NULL,
    n         bigint NOT NULL,
    PRIMARY KEY (store_id, filter, token)
);

-- The tokens of `facets` that key search_facet_pairs; must match
-- search::query::PAIR_GROUPS.
CREATE FUNCTION search_pair_filters(facets text[])
RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY(SELECT f FROM unnest(facets) f
                  WHERE split_part(f, ':', 1) IN ('vendor', 'type', 'tag', 'col', 'cat'))
$$;

-- The advisory lock of search_counts_lock (taken again here; it is
-- re-entrant within a transaction) orders writers of one store.
CREATE FUNCTION search_pairs_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM search_counts_lock(ARRAY(SELECT store_id FROM new_rows));
    INSERT INTO search_facet_pairs AS c (store_id, filter, token, n)
    SELECT r.store_id, f, t, count(*)
      FROM new_rows r, unnest(search_pair_filters(r.facets)) f,
           unnest(search_tokens(r.facets, r.price_min, r.in_stock)) t
     WHERE r.status = 'active'
     GROUP BY r.store_id, f, t
     ORDER BY r.store_id, f, t
    ON CONFLICT (store_id, filter, token) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;

CREATE FUNCTION search_pairs_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM search_counts_lock(ARRAY(SELECT store_id FROM new_rows));
    INSERT INTO search_facet_pairs AS c (store_id, filter, token, n)
    SELECT store_id, f, t, sum(delta)
      FROM (SELECT r.store_id, f, t, -1 AS delta
              FROM old_rows r, unnest(search_pair_filters(r.facets)) f,
                   unnest(search_tokens(r.facets, r.price_min, r.in_stock)) t
             WHERE r.status = 'active'
            UNION ALL
            SELECT r.store_id, f, t, 1
              FROM new_rows r, unnest(search_pair_filters(r.facets)) f,
                   unnest(search_tokens(r.facets, r.price_min, r.in_stock)) t
             WHERE r.status = 'active') x
     GROUP BY store_id, f, t
    HAVING sum(delta) <> 0
     ORDER BY store_id, f, t
    ON CONFLICT (store_id, filter, token) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;

CREATE FUNCTION search_pairs_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM search_counts_lock(ARRAY(SELECT store_id FROM old_rows));
    INSERT INTO search_facet_pairs AS c (store_id, filter, token, n)
    SELECT r.store_id, f, t, -count(*)
      FROM old_rows r, unnest(search_pair_filters(r.facets)) f,
           unnest(search_tokens(r.facets, r.price_min, r.in_stock)) t
     WHERE r.status = 'active'
     GROUP BY r.store_id, f, t
     ORDER BY r.store_id, f, t
    ON CONFLICT (store_id, filter, token) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;

CREATE TRIGGER search_pairs_insert AFTER INSERT ON search_documents
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION search_pairs_insert();
CREATE TRIGGER search_pairs_update AFTER UPDATE ON search_documents
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION search_pairs_update();
CREATE TRIGGER search_pairs_delete AFTER DELETE ON search_documents
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION search_pairs_delete();

INSERT INTO search_facet_pairs (store_id, filter, token, n)
SELECT d.store_id, f, t, count(*)
  FROM search_documents d, unnest(search_pair_filters(d.facets)) f,
       unnest(search_tokens(d.facets, d.price_min, d.in_stock)) t
 WHERE d.status = 'active'
 GROUP BY d.store_id, f, t;

-- The facet tokens of each document, stored: counting over text matches
-- reads them instead of building the array per match and per query.
ALTER TABLE search_documents
    ADD COLUMN tokens text[] GENERATED ALWAYS AS (search_tokens(facets, price_min, in_stock)) STORED;
