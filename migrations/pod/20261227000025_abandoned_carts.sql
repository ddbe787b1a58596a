-- Abandoned-cart reminders. A cart with lines and an email (a guest's,
-- given with PUT /api/cart/email, or its customer's) left untouched for the
-- store's `abandoned_cart_hours` gets one `cart.abandoned` mail per idle
-- spell: `reminded_at` is set in the transaction that records the event,
-- and a cart touched after it may be reminded again. A guest's mail
-- carries a restore link whose token only this sha256 is kept of.
--
-- The mail trigger below also mails a store's owner when a webhook
-- subscription is turned off (`staff.webhook_disabled`).
ALTER TABLE carts
    ADD COLUMN email        text CHECK (length(email) BETWEEN 3 AND 254),
    ADD COLUMN reminded_at  timestamptz,
    ADD COLUMN restore_hash bytea CHECK (octet_length(restore_hash) = 32);

CREATE UNIQUE INDEX carts_by_restore_hash ON carts (store_id, restore_hash)
    WHERE restore_hash IS NOT NULL;

-- NULL: no reminders (the default); 1 to 720 hours of quiet before one.
ALTER TABLE mail_settings
    ADD COLUMN abandoned_cart_hours integer CHECK (abandoned_cart_hours BETWEEN 1 AND 720);

DROP TRIGGER outbox_mail ON outbox;
CREATE TRIGGER outbox_mail AFTER INSERT ON outbox
    FOR EACH ROW
    WHEN (NEW.type IN ('order.placed', 'customer.password_reset_requested',
                       'customer.confirmation_requested', 'customer.account_exists_notice',
                       'staff.invited', 'cart.abandoned', 'staff.webhook_disabled')
          OR (NEW.type = 'order.shipment_updated' AND (
              (NEW.payload->>'change' <> 'tracking'
               AND NEW.payload->>'status' IN ('shipped', 'delivered'))
              OR (NEW.payload->>'change' = 'tracking'
               AND NEW.payload->>'status' IN ('shipped', 'in_transit')))))
    EXECUTE FUNCTION mail_enqueue();
