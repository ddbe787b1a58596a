-- The order follows its shipments. Past `paid` an order's status is no
-- longer set by hand: it is partially_fulfilled when some of its units
-- have left their location, fulfilled when all have, delivered when every
-- shipment has arrived (pod/src/fulfillment/progress.rs decides,
-- orders::state::allowed and order_transitions below agree on the moves).
-- The old hand-set steps map onto the new ones: fulfilling was still at
-- the warehouse (paid), shipped had left (fulfilled).

ALTER TABLE orders DROP CONSTRAINT orders_status_check;

ALTER TABLE orders DISABLE TRIGGER orders_status_transition;
UPDATE orders SET status = 'paid' WHERE status = 'fulfilling';
UPDATE orders SET status = 'fulfilled' WHERE status = 'shipped';
ALTER TABLE orders ENABLE TRIGGER orders_status_transition;

ALTER TABLE orders ADD CONSTRAINT orders_status_check CHECK (status IN
    ('placed', 'paid', 'partially_fulfilled', 'fulfilled', 'delivered', 'cancelled', 'refunded'));

DELETE FROM order_transitions;
INSERT INTO order_transitions (from_status, to_status) VALUES
    ('placed', 'paid'), ('placed', 'cancelled'),
    ('paid', 'partially_fulfilled'), ('paid', 'fulfilled'), ('paid', 'cancelled'),
    ('paid', 'refunded'),
    ('partially_fulfilled', 'fulfilled'), ('partially_fulfilled', 'delivered'),
    ('partially_fulfilled', 'refunded'),
    ('fulfilled', 'delivered'), ('fulfilled', 'refunded'),
    ('delivered', 'refunded');

-- A unit of an order line is in at most one live shipment: the units of
-- a line over its shipments that are not cancelled never exceed the
-- line's quantity. Checked at commit (a split moves units between two
-- shipments of one order inside one transaction). Writers lock the order
-- row first (pod/src/fulfillment/shipments.rs), so two transactions never
-- both pass this check on the same line; the trigger is the backstop for
-- a code path that forgets.
CREATE FUNCTION shipment_lines_within_order() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ordered integer;
    shipping bigint;
BEGIN
    SELECT quantity INTO ordered FROM order_lines
     WHERE store_id = NEW.store_id AND order_id = NEW.order_id AND position = NEW.line_position;
    SELECT coalesce(sum(sl.quantity), 0) INTO shipping
      FROM shipment_lines sl
      JOIN shipments s ON s.store_id = sl.store_id AND s.id = sl.shipment_id
     WHERE sl.store_id = NEW.store_id AND sl.order_id = NEW.order_id
       AND sl.line_position = NEW.line_position AND s.status <> 'cancelled';
    IF shipping > ordered THEN
        RAISE EXCEPTION 'line % of order % is in shipments for % units, ordered %',
            NEW.line_position, NEW.order_id, shipping, ordered
            USING ERRCODE = 'check_violation', CONSTRAINT = 'shipment_lines_within_order';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER shipment_lines_within_order
    AFTER INSERT OR UPDATE ON shipment_lines
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION shipment_lines_within_order();

-- The shopper hears when a shipment leaves, when its tracking changes on
-- the way, and when it arrives: those `order.shipment_updated` events are
-- mailed (notifications::model::MAILED lists the same types, and its
-- `render` the same cases).
DROP TRIGGER outbox_mail ON outbox;
CREATE TRIGGER outbox_mail AFTER INSERT ON outbox
    FOR EACH ROW
    WHEN (NEW.type IN ('order.placed', 'customer.password_reset_requested',
                       'customer.confirmation_requested', 'customer.account_exists_notice',
                       'staff.invited')
          OR (NEW.type = 'order.shipment_updated' AND (
              (NEW.payload->>'change' <> 'tracking'
               AND NEW.payload->>'status' IN ('shipped', 'delivered'))
              OR (NEW.payload->>'change' = 'tracking'
               AND NEW.payload->>'status' IN ('shipped', 'in_transit')))))
    EXECUTE FUNCTION mail_enqueue();

-- Merchants subscribe to an order's fulfilment and to its shipments, and
-- `refunds/created` follows each refund (`payment.refunded`: a return's, a
-- goodwill refund, what a cancel or full refund gives back), not only the
-- full refund of an order; and to new customers (webhooks::model::Topic
-- maps the same way).
CREATE OR REPLACE FUNCTION webhook_topic(event_type text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE event_type
        WHEN 'order.placed'            THEN 'orders/created'
        WHEN 'order.status_changed'    THEN 'orders/updated'
        WHEN 'order.cancelled'         THEN 'orders/cancelled'
        WHEN 'order.fulfilled'         THEN 'orders/fulfilled'
        WHEN 'order.shipment_updated'  THEN 'fulfillments/update'
        WHEN 'payment.captured'        THEN 'orders/paid'
        WHEN 'payment.refunded'        THEN 'refunds/created'
        WHEN 'catalog.product_changed' THEN 'products/update'
        WHEN 'catalog.product_deleted' THEN 'products/delete'
        WHEN 'inventory.level_changed' THEN 'inventory_levels/update'
        WHEN 'customer.created'        THEN 'customers/create'
    END
$$;
