-- Staff cancel single lines of a paid order before they ship (issue 17):
-- the units leave the order's pending shipments, go back to stock (or are
-- written off) and are refunded. `cancelled_quantity` counts them on the
-- line; the live shipments' units plus the cancelled ones never pass the
-- line's quantity (the trigger below, deferred like the one it replaces).
ALTER TABLE order_lines
    ADD COLUMN cancelled_quantity integer NOT NULL DEFAULT 0
        CHECK (cancelled_quantity >= 0 AND cancelled_quantity <= quantity);

-- One check for a line, from either side: its units in live shipments
-- plus its cancelled units never exceed what was ordered.
CREATE FUNCTION order_line_units_fit(store uuid, ord uuid, line integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    ordered integer;
    cancelled integer;
    shipping bigint;
BEGIN
    SELECT quantity, cancelled_quantity INTO ordered, cancelled FROM order_lines
     WHERE store_id = store AND order_id = ord AND position = line;
    SELECT coalesce(sum(sl.quantity), 0) INTO shipping
      FROM shipment_lines sl
      JOIN shipments s ON s.store_id = sl.store_id AND s.id = sl.shipment_id
     WHERE sl.store_id = store AND sl.order_id = ord
       AND sl.line_position = line AND s.status <> 'cancelled';
    IF shipping + cancelled > ordered THEN
        RAISE EXCEPTION 'line % of order % is in shipments for % units and has % cancelled, ordered %',
            line, ord, shipping, cancelled, ordered
            USING ERRCODE = 'check_violation', CONSTRAINT = 'shipment_lines_within_order';
    END IF;
END $$;

CREATE OR REPLACE FUNCTION shipment_lines_within_order() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM order_line_units_fit(NEW.store_id, NEW.order_id, NEW.line_position);
    RETURN NULL;
END $$;

CREATE FUNCTION order_line_cancelled_within_order() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM order_line_units_fit(NEW.store_id, NEW.order_id, NEW.position);
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER order_line_cancelled_within_order
    AFTER UPDATE OF cancelled_quantity ON order_lines
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION order_line_cancelled_within_order();

-- Why money went back: a return's refund, staff's goodwill, cancelled
-- lines, or the rest of an order cancelled or refunded whole. The
-- shopper's "refund issued" mail follows every refund but a return's
-- (which has its own) and cancelled lines' (whose mail says the refund).
ALTER TABLE refunds
    ADD COLUMN cause text NOT NULL DEFAULT 'goodwill'
        CHECK (cause IN ('return', 'goodwill', 'lines_cancelled', 'order_cancelled', 'order_refunded'));
UPDATE refunds SET cause = 'return' WHERE return_id IS NOT NULL;
ALTER TABLE refunds ADD CONSTRAINT refunds_cause_of_return
    CHECK ((cause = 'return') = (return_id IS NOT NULL));

CREATE TRIGGER outbox_mail_refunds AFTER INSERT ON outbox
    FOR EACH ROW
    WHEN (NEW.type = 'order.lines_cancelled'
          OR (NEW.type = 'order.refund_issued'
              AND NEW.payload->>'cause' IN ('goodwill', 'order_cancelled', 'order_refunded')))
    EXECUTE FUNCTION mail_enqueue();

-- `orders/edited` carries cancelled lines (webhooks::model::Topic maps
-- the same way).
CREATE OR REPLACE FUNCTION webhook_topic(event_type text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE event_type
        WHEN 'order.placed'            THEN 'orders/created'
        WHEN 'order.status_changed'    THEN 'orders/updated'
        WHEN 'order.cancelled'         THEN 'orders/cancelled'
        WHEN 'order.fulfilled'         THEN 'orders/fulfilled'
        WHEN 'order.lines_cancelled'   THEN 'orders/edited'
        WHEN 'order.shipment_updated'  THEN 'fulfillments/update'
        WHEN 'payment.captured'        THEN 'orders/paid'
        WHEN 'payment.refunded'        THEN 'refunds/created'
        WHEN 'catalog.product_changed' THEN 'products/update'
        WHEN 'catalog.product_deleted' THEN 'products/delete'
        WHEN 'inventory.level_changed' THEN 'inventory_levels/update'
        WHEN 'customer.created'        THEN 'customers/create'
    END
$$;
