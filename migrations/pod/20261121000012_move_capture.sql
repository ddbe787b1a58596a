-- Store moves: the keys of the rows a moving store changes on its source
-- pod. The check made while a move holds the store's requests reads only
-- these rows on both sides, so the pause grows with the writes since the
-- bulk verification, never with the size of the store.
--
-- The control plane starts a capture for a store (a row in
-- move_capture.stores) before it verifies the copy and ends it with the
-- move. Every tenant table carries the trigger `move_capture`, whose
-- arguments are the table's primary key columns: a migration that adds a
-- tenant table calls `SELECT move_capture.install('<table>')` (a move's
-- pre-flight refuses a tenant table without it).
--
-- The trigger fires for the application's writes only. A subscription
-- applies rows as a replica (session_replication_role = replica), where
-- ordinary triggers stay silent, so copying a store onto a pod costs
-- nothing here; so does the control plane's clean-up, which deletes as a
-- replica too. The tables live outside the public schema: they are not
-- tenant tables and never move.
CREATE SCHEMA move_capture;

-- The stores whose changes are recorded now.
CREATE TABLE move_capture.stores (
    store_id    uuid PRIMARY KEY,
    move_id     uuid NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per changed row (inserted, updated or deleted), by primary key;
-- a row changed many times is recorded once.
CREATE TABLE move_capture.changes (
    store_id    uuid NOT NULL,
    table_name  text NOT NULL,
    key         jsonb NOT NULL,
    PRIMARY KEY (store_id, table_name, key)
);

-- Stops recording a store's changes and forgets them (the end of a move,
-- or the purge of a store moved away).
CREATE FUNCTION move_capture.forget(store uuid) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM move_capture.stores WHERE store_id = store;
    DELETE FROM move_capture.changes WHERE store_id = store;
$$;

-- The primary key of a row, as a JSON object of the key columns.
CREATE FUNCTION move_capture.key_of(r jsonb, columns text[]) RETURNS jsonb
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT jsonb_object_agg(c, r -> c) FROM unnest(columns) AS c
$$;

-- TG_ARGV: the table's primary key columns.
CREATE FUNCTION move_capture.record() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        IF EXISTS (SELECT 1 FROM move_capture.stores s WHERE s.store_id = OLD.store_id) THEN
            INSERT INTO move_capture.changes (store_id, table_name, key)
            VALUES (OLD.store_id, TG_TABLE_NAME, move_capture.key_of(to_jsonb(OLD), TG_ARGV))
            ON CONFLICT DO NOTHING;
        END IF;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        IF EXISTS (SELECT 1 FROM move_capture.stores s WHERE s.store_id = NEW.store_id) THEN
            INSERT INTO move_capture.changes (store_id, table_name, key)
            VALUES (NEW.store_id, TG_TABLE_NAME, move_capture.key_of(to_jsonb(NEW), TG_ARGV))
            ON CONFLICT DO NOTHING;
        END IF;
    END IF;
    RETURN NULL;
END
$$;

-- Puts the trigger on a tenant table, over its primary key.
CREATE FUNCTION move_capture.install(tbl regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    columns text;
BEGIN
    SELECT string_agg(quote_literal(a.attname), ', ' ORDER BY k.ord) INTO columns
      FROM pg_index i
     CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
     WHERE i.indrelid = tbl AND i.indisprimary;
    IF columns IS NULL THEN
        RAISE EXCEPTION 'table % has no primary key', tbl;
    END IF;
    EXECUTE format(
        'CREATE OR REPLACE TRIGGER move_capture AFTER INSERT OR UPDATE OR DELETE ON %s '
        'FOR EACH ROW EXECUTE FUNCTION move_capture.record(%s)', tbl, columns);
END
$$;

-- Every tenant table there is now (the same query as the mover's).
DO $$
DECLARE
    t text;
BEGIN
    FOR t IN
        SELECT c.relname FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'store_id' AND NOT a.attisdropped
         WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> 'hosted_stores'
    LOOP
        PERFORM move_capture.install(format('public.%I', t)::regclass);
    END LOOP;
END
$$;
