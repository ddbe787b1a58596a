-- Merchant webhooks (the `webhooks` context). A store's subscriptions name
-- topics (`orders/created`, ...; `webhooks::model::Topic`), each the name
-- of one event type; `webhook_topic` below is that mapping for the
-- trigger, and a test (tests/webhooks.rs) holds the two to each other.
--
-- Like mail, every event a subscription wants gets one delivery row, queued
-- in the event's own transaction by a trigger on the outbox, so a delivery
-- exists if and only if its event committed; the worker reads only the due
-- rows. A delivery is at-least-once:
--   pending --claim--> sending --2xx-->                 delivered
--      ^                  |    --other, older than
--      |                  |      max_age_secs-->         dead
--      +-- other answer, -+
--          no answer, lease over
-- `redeliver` (staff) puts a delivered or dead row back to pending with the
-- same event id and a new `retry_from`. Every attempt is logged in
-- `webhook_attempts`. Moved with the store like every tenant table.
CREATE TABLE webhook_subscriptions (
    store_id              uuid NOT NULL,
    id                    uuid NOT NULL,
    url                   text NOT NULL CHECK (length(url) BETWEEN 8 AND 2048),
    topics                text[] NOT NULL CHECK (cardinality(topics) BETWEEN 1 AND 20),
    secret                text NOT NULL,
    enabled               boolean NOT NULL DEFAULT true,
    -- Deliveries given up in a row (reset by one delivered); at
    -- `webhooks.disable_after` the subscription is disabled, and why.
    consecutive_failures  integer NOT NULL DEFAULT 0,
    disabled_reason       text CHECK (length(disabled_reason) <= 600),
    disabled_at           timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, id)
);

SELECT move_capture.install('webhook_subscriptions');

CREATE TABLE webhook_deliveries (
    store_id         uuid NOT NULL,
    id               uuid NOT NULL DEFAULT gen_random_uuid(),
    subscription_id  uuid NOT NULL,
    event_id         uuid NOT NULL,
    topic            text NOT NULL,
    state            text NOT NULL DEFAULT 'pending'
                         CHECK (state IN ('pending', 'sending', 'delivered', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    -- Retries stop (`dead`) once this is older than `max_age_secs`.
    retry_from       timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    last_status      integer,
    last_error       text CHECK (length(last_error) <= 500),
    PRIMARY KEY (store_id, id),
    UNIQUE (store_id, subscription_id, event_id),
    FOREIGN KEY (store_id, subscription_id)
        REFERENCES webhook_subscriptions (store_id, id) ON DELETE CASCADE
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (store_id, next_attempt_at)
    WHERE state IN ('pending', 'sending');

SELECT move_capture.install('webhook_deliveries');

CREATE TABLE webhook_attempts (
    store_id     uuid NOT NULL,
    delivery_id  uuid NOT NULL,
    attempt      integer NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    status_code  integer,
    error        text CHECK (length(error) <= 500),
    duration_ms  integer NOT NULL,
    PRIMARY KEY (store_id, delivery_id, attempt),
    FOREIGN KEY (store_id, delivery_id)
        REFERENCES webhook_deliveries (store_id, id) ON DELETE CASCADE
);

SELECT move_capture.install('webhook_attempts');

-- The topic of an event type (`webhooks::model::Topic::event_type`), NULL
-- for the ones no webhook carries (they hold shoppers' secrets).
CREATE FUNCTION webhook_topic(event_type text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE event_type
        WHEN 'order.placed'            THEN 'orders/created'
        WHEN 'order.status_changed'    THEN 'orders/updated'
        WHEN 'order.cancelled'         THEN 'orders/cancelled'
        WHEN 'payment.captured'        THEN 'orders/paid'
        WHEN 'order.refunded'          THEN 'refunds/created'
        WHEN 'catalog.product_changed' THEN 'products/update'
        WHEN 'catalog.product_deleted' THEN 'products/delete'
        WHEN 'inventory.level_changed' THEN 'inventory_levels/update'
    END
$$;

CREATE FUNCTION webhook_enqueue() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    t text := webhook_topic(NEW.type);
BEGIN
    IF t IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO webhook_deliveries (store_id, subscription_id, event_id, topic)
    SELECT NEW.store_id, s.id, NEW.id, t
      FROM webhook_subscriptions s
     WHERE s.store_id = NEW.store_id AND s.enabled AND t = ANY (s.topics)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER outbox_webhooks AFTER INSERT ON outbox
    FOR EACH ROW EXECUTE FUNCTION webhook_enqueue();
