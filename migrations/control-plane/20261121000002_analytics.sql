-- Analytics: per-store sales counted from `order.placed` events on Kafka.
--
-- A consumer records each event id it has applied in the same transaction
-- as the effect, so an event delivered twice (Kafka is at least once) is
-- applied once.
CREATE TABLE processed_events (
    consumer      text NOT NULL,
    event_id      uuid NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- Orders and revenue of a store in one currency. No foreign key to stores:
-- an event must never be refused (and block its partition) because of the
-- order stores and events arrive in.
CREATE TABLE store_sales (
    store_id       uuid NOT NULL,
    currency       char(3) NOT NULL,
    orders         bigint NOT NULL CHECK (orders >= 0),
    revenue_minor  bigint NOT NULL,
    last_order_at  timestamptz NOT NULL,
    PRIMARY KEY (store_id, currency)
);
