-- Merchant reports (issue 21 part 2): each store's sales kept as rollups by
-- day in the store's own time zone, written by triggers in the very
-- transactions that write the orders, so a report reads a few hundred
-- rows, never the orders themselves.
--
-- What a day counts (docs/reports.md):
-- - an order on the day it was placed: orders, units, gross (the lines at
--   their price), discounts, shipping, tax and total;
-- - money given back on the day it was given back: every change of
--   `orders.refunded_minor` (a refund reserved adds, a refund the gateway
--   refused subtracts);
-- - an order cancelled before any money was taken (a declined card after
--   the order row, a risk review cancelled or lapsed) on the day it was
--   cancelled: its total as `cancelled_minor`.
-- Net sales = total - refunded - cancelled.
--
-- Moves: these are tenant tables like any other (store_id first, the move
-- capture trigger); logical replication applies rows without firing
-- triggers, so the target gets the rollups as copied, never counted twice.

-- A store's time zone (IANA name, as Postgres knows it); no row: UTC.
CREATE TABLE store_time_zones (
    store_id    uuid NOT NULL,
    time_zone   text NOT NULL CHECK (length(time_zone) BETWEEN 1 AND 64),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id)
);
SELECT move_capture.install('store_time_zones');

CREATE TABLE sales_daily (
    store_id         uuid NOT NULL,
    day              date NOT NULL,
    orders           bigint NOT NULL DEFAULT 0,
    units            bigint NOT NULL DEFAULT 0,
    gross_minor      bigint NOT NULL DEFAULT 0,
    discount_minor   bigint NOT NULL DEFAULT 0,
    shipping_minor   bigint NOT NULL DEFAULT 0,
    tax_minor        bigint NOT NULL DEFAULT 0,
    total_minor      bigint NOT NULL DEFAULT 0,
    refunded_minor   bigint NOT NULL DEFAULT 0,
    cancelled_minor  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (store_id, day)
);
SELECT move_capture.install('sales_daily');

-- Each variant's units and money by day (top products and variants).
CREATE TABLE variant_sales_daily (
    store_id        uuid NOT NULL,
    day             date NOT NULL,
    variant_id      uuid NOT NULL,
    product_id      uuid NOT NULL,
    units           bigint NOT NULL DEFAULT 0,
    gross_minor     bigint NOT NULL DEFAULT 0,
    discount_minor  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (store_id, day, variant_id)
);
SELECT move_capture.install('variant_sales_daily');

-- The same by calendar month (the first day of the month): a year's top
-- products and variants read about twelve rows per variant, not 365.
CREATE TABLE variant_sales_monthly (
    store_id        uuid NOT NULL,
    month           date NOT NULL CHECK (extract(day FROM month) = 1),
    variant_id      uuid NOT NULL,
    product_id      uuid NOT NULL,
    units           bigint NOT NULL DEFAULT 0,
    gross_minor     bigint NOT NULL DEFAULT 0,
    discount_minor  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (store_id, month, variant_id)
);
SELECT move_capture.install('variant_sales_monthly');

-- Each customer's orders by day (top customers), by email (guests too).
CREATE TABLE customer_sales_daily (
    store_id     uuid NOT NULL,
    day          date NOT NULL,
    email        text NOT NULL,
    orders       bigint NOT NULL DEFAULT 0,
    total_minor  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (store_id, day, email)
);
SELECT move_capture.install('customer_sales_daily');

-- The store-local day of `at`.
CREATE FUNCTION report_day(store uuid, at timestamptz) RETURNS date
LANGUAGE sql STABLE AS $$
    SELECT (at AT TIME ZONE COALESCE(
        (SELECT time_zone FROM store_time_zones WHERE store_id = store), 'UTC'))::date
$$;

-- Adds one order's lines (already written) to the variant rollups and
-- returns their units; variants in id order, so concurrent writers lock
-- the rows in one order.
CREATE FUNCTION report_add_lines(store uuid, the_order uuid, d date) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    added bigint;
BEGIN
    WITH l AS (
        SELECT variant_id, product_id,
               sum(quantity)::bigint AS units,
               sum(quantity::bigint * unit_price_minor)::bigint AS gross,
               sum(discount_minor)::bigint AS discount
          FROM order_lines WHERE store_id = store AND order_id = the_order
         GROUP BY variant_id, product_id ORDER BY variant_id
    ), ins AS (
        INSERT INTO variant_sales_daily AS v (store_id, day, variant_id, product_id, units, gross_minor, discount_minor)
        SELECT store, d, variant_id, product_id, units, gross, discount FROM l
        ON CONFLICT (store_id, day, variant_id) DO UPDATE
           SET units = v.units + EXCLUDED.units,
               gross_minor = v.gross_minor + EXCLUDED.gross_minor,
               discount_minor = v.discount_minor + EXCLUDED.discount_minor
    ), monthly AS (
        INSERT INTO variant_sales_monthly AS m (store_id, month, variant_id, product_id, units, gross_minor, discount_minor)
        SELECT store, date_trunc('month', d)::date, variant_id, product_id, units, gross, discount FROM l
        ON CONFLICT (store_id, month, variant_id) DO UPDATE
           SET units = m.units + EXCLUDED.units,
               gross_minor = m.gross_minor + EXCLUDED.gross_minor,
               discount_minor = m.discount_minor + EXCLUDED.discount_minor
    )
    SELECT COALESCE(sum(units), 0) INTO added FROM l;
    RETURN added;
END $$;

CREATE FUNCTION report_add_day(store uuid, d date, orders_ bigint, units_ bigint, gross bigint,
                               discount bigint, shipping bigint, tax bigint, total bigint,
                               refunded bigint, cancelled bigint) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO sales_daily AS s (store_id, day, orders, units, gross_minor, discount_minor,
                                  shipping_minor, tax_minor, total_minor, refunded_minor, cancelled_minor)
    VALUES (store, d, orders_, units_, gross, discount, shipping, tax, total, refunded, cancelled)
    ON CONFLICT (store_id, day) DO UPDATE
       SET orders = s.orders + EXCLUDED.orders,
           units = s.units + EXCLUDED.units,
           gross_minor = s.gross_minor + EXCLUDED.gross_minor,
           discount_minor = s.discount_minor + EXCLUDED.discount_minor,
           shipping_minor = s.shipping_minor + EXCLUDED.shipping_minor,
           tax_minor = s.tax_minor + EXCLUDED.tax_minor,
           total_minor = s.total_minor + EXCLUDED.total_minor,
           refunded_minor = s.refunded_minor + EXCLUDED.refunded_minor,
           cancelled_minor = s.cancelled_minor + EXCLUDED.cancelled_minor
$$;

CREATE FUNCTION report_order_written() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    d date;
    units_ bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        d := report_day(NEW.store_id, NEW.created_at);
        -- The checkout writes the lines first (their key is deferred);
        -- lines written after the order are counted by their own trigger.
        units_ := report_add_lines(NEW.store_id, NEW.id, d);
        PERFORM report_add_day(NEW.store_id, d, 1, units_, NEW.subtotal_minor, NEW.discount_minor,
                               NEW.shipping_minor, NEW.tax_minor, NEW.total_minor, 0, 0);
        INSERT INTO customer_sales_daily AS c (store_id, day, email, orders, total_minor)
        VALUES (NEW.store_id, d, lower(NEW.email), 1, NEW.total_minor)
        ON CONFLICT (store_id, day, email) DO UPDATE
           SET orders = c.orders + 1, total_minor = c.total_minor + EXCLUDED.total_minor;
        RETURN NULL;
    END IF;
    IF NEW.refunded_minor <> OLD.refunded_minor THEN
        PERFORM report_add_day(NEW.store_id, report_day(NEW.store_id, now()), 0, 0, 0, 0, 0, 0, 0,
                               NEW.refunded_minor - OLD.refunded_minor, 0);
    END IF;
    IF NEW.status = 'cancelled' AND OLD.status <> 'cancelled'
       AND NEW.captured_minor = 0 AND NEW.gift_card_minor = 0 THEN
        PERFORM report_add_day(NEW.store_id, report_day(NEW.store_id, now()), 0, 0, 0, 0, 0, 0, 0,
                               0, NEW.total_minor);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER report_orders AFTER INSERT OR UPDATE OF refunded_minor, status ON orders
    FOR EACH ROW EXECUTE FUNCTION report_order_written();

-- A line written after its order (the benchmark's seeding does so).
CREATE FUNCTION report_line_written() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    placed timestamptz;
    d date;
BEGIN
    SELECT created_at INTO placed FROM orders WHERE store_id = NEW.store_id AND id = NEW.order_id;
    IF NOT FOUND THEN
        RETURN NULL;  -- counted when the order's row is written
    END IF;
    d := report_day(NEW.store_id, placed);
    INSERT INTO variant_sales_daily AS v (store_id, day, variant_id, product_id, units, gross_minor, discount_minor)
    VALUES (NEW.store_id, d, NEW.variant_id, NEW.product_id, NEW.quantity,
            NEW.quantity::bigint * NEW.unit_price_minor, NEW.discount_minor)
    ON CONFLICT (store_id, day, variant_id) DO UPDATE
       SET units = v.units + EXCLUDED.units,
           gross_minor = v.gross_minor + EXCLUDED.gross_minor,
           discount_minor = v.discount_minor + EXCLUDED.discount_minor;
    INSERT INTO variant_sales_monthly AS m (store_id, month, variant_id, product_id, units, gross_minor, discount_minor)
    VALUES (NEW.store_id, date_trunc('month', d)::date, NEW.variant_id, NEW.product_id, NEW.quantity,
            NEW.quantity::bigint * NEW.unit_price_minor, NEW.discount_minor)
    ON CONFLICT (store_id, month, variant_id) DO UPDATE
       SET units = m.units + EXCLUDED.units,
           gross_minor = m.gross_minor + EXCLUDED.gross_minor,
           discount_minor = m.discount_minor + EXCLUDED.discount_minor;
    PERFORM report_add_day(NEW.store_id, d, 0, NEW.quantity, 0, 0, 0, 0, 0, 0, 0);
    RETURN NULL;
END $$;

CREATE TRIGGER report_order_lines AFTER INSERT ON order_lines
    FOR EACH ROW EXECUTE FUNCTION report_line_written();

-- Every rollup of `store` computed again from its orders, in its time
-- zone now: for the stores that had orders before this migration and
-- after a change of time zone. Money given back goes on the days of its
-- refunds (what no refund row explains, on the order's last change);
-- cancellations on the day the history records. Totals always equal the
-- orders table's.
CREATE FUNCTION report_rebuild(store uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM sales_daily WHERE store_id = store;
    DELETE FROM variant_sales_daily WHERE store_id = store;
    DELETE FROM variant_sales_monthly WHERE store_id = store;
    DELETE FROM customer_sales_daily WHERE store_id = store;
    INSERT INTO variant_sales_daily (store_id, day, variant_id, product_id, units, gross_minor, discount_minor)
    SELECT store, report_day(store, o.created_at), l.variant_id, l.product_id,
           sum(l.quantity), sum(l.quantity::bigint * l.unit_price_minor), sum(l.discount_minor)
      FROM order_lines l JOIN orders o ON o.store_id = l.store_id AND o.id = l.order_id
     WHERE l.store_id = store
     GROUP BY 2, 3, 4;
    INSERT INTO variant_sales_monthly (store_id, month, variant_id, product_id, units, gross_minor, discount_minor)
    SELECT store, date_trunc('month', day)::date, variant_id, product_id,
           sum(units), sum(gross_minor), sum(discount_minor)
      FROM variant_sales_daily WHERE store_id = store
     GROUP BY 2, 3, 4;
    INSERT INTO customer_sales_daily (store_id, day, email, orders, total_minor)
    SELECT store, report_day(store, created_at), lower(email), count(*), sum(total_minor)
      FROM orders WHERE store_id = store GROUP BY 2, 3;
    INSERT INTO sales_daily (store_id, day, orders, units, gross_minor, discount_minor,
                             shipping_minor, tax_minor, total_minor)
    SELECT store, d, count(*), COALESCE(sum(u.units), 0), sum(subtotal_minor), sum(discount_minor),
           sum(shipping_minor), sum(tax_minor), sum(total_minor)
      FROM (SELECT o.*, report_day(store, o.created_at) AS d FROM orders o WHERE o.store_id = store) o
      LEFT JOIN LATERAL (SELECT sum(quantity)::bigint AS units FROM order_lines l
                          WHERE l.store_id = store AND l.order_id = o.id) u ON true
     GROUP BY d;
    -- Refunds on their days.
    PERFORM report_add_day(store, r.d, 0, 0, 0, 0, 0, 0, 0, r.amount, 0)
       FROM (SELECT report_day(store, created_at) AS d, sum(amount_minor)::bigint AS amount
               FROM refunds WHERE store_id = store AND status <> 'failed' GROUP BY 1) r;
    -- What the refund rows do not explain (money given back before they
    -- existed), on the order's last change.
    PERFORM report_add_day(store, report_day(store, o.updated_at), 0, 0, 0, 0, 0, 0, 0,
                           o.refunded_minor - COALESCE(r.amount, 0), 0)
       FROM orders o
       LEFT JOIN (SELECT order_id, sum(amount_minor)::bigint AS amount FROM refunds
                   WHERE store_id = store AND status <> 'failed' GROUP BY order_id) r
              ON r.order_id = o.id
      WHERE o.store_id = store AND o.refunded_minor <> COALESCE(r.amount, 0);
    -- Orders cancelled before any money was taken.
    PERFORM report_add_day(store, report_day(store, COALESCE(h.at, o.updated_at)), 0, 0, 0, 0, 0,
                           0, 0, 0, o.total_minor)
       FROM orders o
       LEFT JOIN LATERAL (SELECT max(at) AS at FROM order_history
                           WHERE store_id = store AND order_id = o.id AND to_status = 'cancelled') h ON true
      WHERE o.store_id = store AND o.status = 'cancelled'
        AND o.captured_minor = 0 AND o.gift_card_minor = 0;
END $$;

SELECT report_rebuild(store_id) FROM (SELECT DISTINCT store_id FROM orders) s;
