-- Fulfillment: where a location is (coordinates next to its address), and
-- the shipments that carry a paid order's units from a location.
--
-- A location's `priority` (lower first) is both the order in which holds
-- take its stock and its fulfillment priority: the shipment planner
-- (pod/src/fulfillment/plan.rs) ranks by nearness first and uses it only
-- to break ties, so one number serves both without disagreeing.

ALTER TABLE locations
    ADD COLUMN latitude   double precision CHECK (latitude BETWEEN -90 AND 90),
    ADD COLUMN longitude  double precision CHECK (longitude BETWEEN -180 AND 180),
    ADD CONSTRAINT locations_coordinates_together
        CHECK ((latitude IS NULL) = (longitude IS NULL));

-- One location's part of an order.
--   pending -> label_created -> shipped -> in_transit -> delivered
-- and cancelled from pending or label_created (units not yet gone).
-- fulfillment::state::allowed is the same table in Rust (shipment_transitions
-- below, enforced by a trigger), and a test checks the two agree.
CREATE TABLE shipments (
    store_id         uuid NOT NULL,
    id               uuid NOT NULL,
    order_id         uuid NOT NULL,
    location_id      uuid NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN
        ('pending', 'label_created', 'shipped', 'in_transit', 'delivered', 'cancelled')),
    carrier          text NOT NULL DEFAULT '' CHECK (length(carrier) <= 100),
    tracking_number  text NOT NULL DEFAULT '' CHECK (length(tracking_number) <= 100),
    tracking_url     text NOT NULL DEFAULT '' CHECK (length(tracking_url) <= 2048),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    shipped_at       timestamptz,
    delivered_at     timestamptz,
    PRIMARY KEY (store_id, id),
    FOREIGN KEY (store_id, order_id) REFERENCES orders (store_id, id) ON DELETE CASCADE,
    FOREIGN KEY (store_id, location_id) REFERENCES locations (store_id, id)
);

CREATE INDEX shipments_by_order ON shipments (store_id, order_id, id);

-- Units of one order line in one shipment. The order id is repeated so the
-- line's units across an order's shipments are one index range.
CREATE TABLE shipment_lines (
    store_id       uuid NOT NULL,
    shipment_id    uuid NOT NULL,
    order_id       uuid NOT NULL,
    line_position  integer NOT NULL,
    variant_id     uuid NOT NULL,
    quantity       integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (store_id, shipment_id, line_position),
    FOREIGN KEY (store_id, shipment_id) REFERENCES shipments (store_id, id) ON DELETE CASCADE,
    FOREIGN KEY (store_id, order_id, line_position)
        REFERENCES order_lines (store_id, order_id, position) ON DELETE CASCADE
);

CREATE INDEX shipment_lines_by_order ON shipment_lines (store_id, order_id, line_position);

SELECT move_capture.install('shipments');
SELECT move_capture.install('shipment_lines');

CREATE TABLE shipment_transitions (
    from_status  text NOT NULL,
    to_status    text NOT NULL,
    PRIMARY KEY (from_status, to_status)
);

INSERT INTO shipment_transitions (from_status, to_status) VALUES
    ('pending', 'label_created'), ('pending', 'shipped'), ('pending', 'cancelled'),
    ('label_created', 'shipped'), ('label_created', 'cancelled'),
    ('shipped', 'in_transit'), ('shipped', 'delivered'),
    ('in_transit', 'delivered');

CREATE FUNCTION shipments_refuse_illegal_transition() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status AND NOT EXISTS (
        SELECT 1 FROM shipment_transitions WHERE from_status = OLD.status AND to_status = NEW.status
    ) THEN
        RAISE EXCEPTION 'shipment % cannot go from % to %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'shipments_status_transition';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER shipments_status_transition BEFORE UPDATE OF status ON shipments
    FOR EACH ROW EXECUTE FUNCTION shipments_refuse_illegal_transition();
