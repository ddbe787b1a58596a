-- Mail (the `notifications` context). Every event that mails someone gets
-- one delivery row, queued in the event's own transaction by a trigger on
-- the outbox: the delivery exists if and only if its event committed, and
-- the worker reads only the deliveries due, never the whole outbox. The
-- event types of the trigger are `notifications::model::MAILED`, and a test
-- (tests/mail.rs) holds the two to each other.
--
-- A row is the dedupe record of its event (at most one mail per event) and
-- its retry state:
--   pending  --claim-->  sending  --250-->            sent
--      ^                    |     --5xx-->            failed
--      +----- 4xx, refused -+     --lost after the
--             connection,         message's end-->    unknown (never resent)
--             lease over with
--             data_sent_at NULL
-- and `expired` (not sent within `mail.max_age_secs`), `skipped` (nothing to
-- mail, such as an event written by an older build). `next_attempt_at` is
-- when a pending row is due, or when a sending row's lease ends (its
-- worker died). `data_sent_at` is set, in a committed transaction, just
-- before the message's final dot is written: a row with it set is never
-- sent again. Moved with the store like every tenant table; a subscription
-- copies outbox rows as a replica, where this trigger stays silent, so a
-- moved store's mails are neither queued twice nor lost.
CREATE TABLE mail_deliveries (
    store_id         uuid NOT NULL,
    event_id         uuid NOT NULL,
    state            text NOT NULL DEFAULT 'pending' CHECK (state IN
                         ('pending', 'sending', 'sent', 'failed', 'unknown', 'expired', 'skipped')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    data_sent_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    last_error       text CHECK (length(last_error) <= 500),
    PRIMARY KEY (store_id, event_id)
);

CREATE INDEX mail_deliveries_due ON mail_deliveries (store_id, next_attempt_at)
    WHERE state IN ('pending', 'sending');

SELECT move_capture.install('mail_deliveries');

CREATE FUNCTION mail_enqueue() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO mail_deliveries (store_id, event_id, created_at)
    VALUES (NEW.store_id, NEW.id, NEW.occurred_at)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER outbox_mail AFTER INSERT ON outbox
    FOR EACH ROW
    WHEN (NEW.type IN ('order.placed', 'customer.password_reset_requested',
                       'customer.confirmation_requested', 'customer.account_exists_notice',
                       'staff.invited'))
    EXECUTE FUNCTION mail_enqueue();

-- A store's face in its mails (`GET/PUT /admin/api/settings/mail`): the
-- sender name shown with the pod's from address (NULL: the store's name)
-- and the address replies go to (NULL: none).
CREATE TABLE mail_settings (
    store_id     uuid NOT NULL,
    sender_name  text CHECK (length(sender_name) BETWEEN 1 AND 100),
    reply_to     text CHECK (length(reply_to) BETWEEN 3 AND 254),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id)
);

SELECT move_capture.install('mail_settings');
