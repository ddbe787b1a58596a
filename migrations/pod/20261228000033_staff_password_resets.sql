-- Password resets of staff (owners and staff members), as
-- `customer_password_resets` are of customers (issue 20): a request mails
-- a one-time token (`staff.password_reset_requested`), of which only the
-- sha256 is kept; the token sets a new password once, before it expires.
CREATE TABLE staff_password_resets (
    store_id      uuid NOT NULL,
    id            uuid NOT NULL,
    staff_id      uuid NOT NULL,
    token_sha256  text NOT NULL,
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, id),
    FOREIGN KEY (store_id, staff_id) REFERENCES staff (store_id, id) ON DELETE CASCADE
);

CREATE UNIQUE INDEX staff_password_resets_token ON staff_password_resets (store_id, token_sha256);

SELECT move_capture.install('staff_password_resets');

-- The reset's mail (`notifications::model::MAILED`) is queued like every
-- mail, by the event's own transaction.
CREATE TRIGGER outbox_mail_staff_password_resets AFTER INSERT ON outbox
    FOR EACH ROW
    WHEN (NEW.type = 'staff.password_reset_requested')
    EXECUTE FUNCTION mail_enqueue();
