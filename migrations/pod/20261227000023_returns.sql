-- Returns and partial refunds (issue 17, part 2).
--
-- Money goes back as `refunds` rows, reserved before the gateway is asked:
-- in one transaction the order row is locked, the amount checked against
-- captured_minor - refunded_minor, the refund inserted `pending` and added
-- to orders.refunded_minor (whose CHECK refunded_minor <= captured_minor,
-- from the checkout migration, is the last word). The gateway is then
-- called with the refund's own key; `succeeded` or, refused, `failed` with
-- the amount given back. A pending refund nobody moved is finished by the
-- recovery worker with the same key (pod/src/refunds).
--
-- A return is a persisted saga (pod/src/returns): requested -> approved
-- (or rejected, or cancelled by the shopper) -> received -> completed (or
-- refund_failed). Receiving puts the restocked units back and reserves the
-- refund in one transaction (`restocked` and `refund_id` are its marker),
-- then the refund is paid and the return completed; each step is
-- idempotent and the recovery worker resumes a return left `received`.

-- A store's return policy.
CREATE TABLE return_settings (
    store_id         uuid NOT NULL,
    -- Days after delivery a shopper may open a return.
    window_days      integer NOT NULL DEFAULT 30 CHECK (window_days BETWEEN 0 AND 365),
    -- never: shipping is not refunded; when_all_returned: refunded with
    -- the return that brings back the order's last unit.
    shipping_refund  text NOT NULL DEFAULT 'when_all_returned'
        CHECK (shipping_refund IN ('never', 'when_all_returned')),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id)
);

CREATE TABLE returns (
    store_id      uuid NOT NULL,
    id            uuid NOT NULL,
    order_id      uuid NOT NULL,
    status        text NOT NULL DEFAULT 'requested' CHECK (status IN
        ('requested', 'approved', 'rejected', 'cancelled', 'received', 'completed', 'refund_failed')),
    reason        text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    -- customer:<id>, guest, or staff:<id>.
    opened_by     text NOT NULL CHECK (length(opened_by) BETWEEN 1 AND 100),
    -- Staff's note on approval or rejection.
    note          text CHECK (length(note) <= 500),
    -- The saga's marker: the restock and the refund's reservation were
    -- committed together.
    restocked     boolean NOT NULL DEFAULT false,
    refund_id     uuid,
    refund_minor  bigint CHECK (refund_minor >= 0),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, id),
    FOREIGN KEY (store_id, order_id) REFERENCES orders (store_id, id) ON DELETE CASCADE
);

CREATE INDEX returns_by_order ON returns (store_id, order_id, id);
CREATE INDEX returns_by_status ON returns (store_id, status, id);
-- The recovery worker's scan: received returns by age.
CREATE INDEX returns_unfinished ON returns (store_id, updated_at) WHERE status = 'received';

-- Units of one order line in a return; condition and restock are staff's
-- on receipt.
CREATE TABLE return_lines (
    store_id       uuid NOT NULL,
    return_id      uuid NOT NULL,
    order_id       uuid NOT NULL,
    line_position  integer NOT NULL,
    variant_id     uuid NOT NULL,
    quantity       integer NOT NULL CHECK (quantity > 0),
    condition      text CHECK (condition IN ('unopened', 'opened', 'damaged')),
    restock        boolean,
    PRIMARY KEY (store_id, return_id, line_position),
    FOREIGN KEY (store_id, return_id) REFERENCES returns (store_id, id) ON DELETE CASCADE,
    FOREIGN KEY (store_id, order_id, line_position)
        REFERENCES order_lines (store_id, order_id, position) ON DELETE CASCADE
);

CREATE INDEX return_lines_by_order ON return_lines (store_id, order_id, line_position);

CREATE TABLE refunds (
    store_id         uuid NOT NULL,
    id               uuid NOT NULL,
    order_id         uuid NOT NULL,
    -- The return it pays for; NULL: staff's refund (goodwill, or the rest
    -- of the order when it is refunded or cancelled).
    return_id        uuid,
    amount_minor     bigint NOT NULL CHECK (amount_minor > 0),
    reason           text CHECK (length(reason) <= 500),
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    -- staff:<id> or system.
    actor            text NOT NULL CHECK (length(actor) BETWEEN 1 AND 100),
    -- Staff's Idempotency-Key and the sha256 of what it asked.
    idempotency_key  text CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    request_hash     bytea,
    -- Why the gateway refused it (an error code).
    failure          text CHECK (length(failure) <= 200),
    attempts         integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, id),
    FOREIGN KEY (store_id, order_id) REFERENCES orders (store_id, id) ON DELETE CASCADE,
    CONSTRAINT refunds_idempotency_key UNIQUE (store_id, order_id, idempotency_key),
    CONSTRAINT refunds_one_per_return UNIQUE (store_id, return_id)
);

CREATE INDEX refunds_by_order ON refunds (store_id, order_id, id);
-- The recovery worker's scan: pending refunds by age.
CREATE INDEX refunds_pending ON refunds (store_id, updated_at) WHERE status = 'pending';

-- The shopper's mails about a return (notifications::model::MAILED): a
-- trigger of its own next to `outbox_mail`, on the same function, so each
-- migration adds its events without restating the others'.
CREATE TRIGGER outbox_mail_returns AFTER INSERT ON outbox
    FOR EACH ROW
    WHEN (NEW.type IN ('order.return_requested', 'order.return_approved',
                       'order.return_completed'))
    EXECUTE FUNCTION mail_enqueue();

SELECT move_capture.install('return_settings');
SELECT move_capture.install('returns');
SELECT move_capture.install('return_lines');
SELECT move_capture.install('refunds');
