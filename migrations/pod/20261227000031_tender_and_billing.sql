-- Gift cards as checkout tender (issue 18, part 2).
--
-- A checkout may name gift cards: the quote says how much each pays
-- (`quote.gift_cards`), the cards are debited in the transaction that
-- moves the checkout to `reserved` (key `chk_<checkout>_gc`, the ledger row
-- carrying the checkout), and only the rest is authorized on the card. A
-- checkout that fails afterwards credits every debit of its own back
-- (compensation, found by the checkout id below).
--
-- The order keeps what the gift cards paid (`gift_card_minor`, set with
-- `captured_minor` when the order is paid: an order held for review has
-- its cards debited but is not paid, so nothing of it is refundable yet
-- and a cancelled review gives the cards back through compensation); the
-- card payment is `captured_minor` as before, and an order paid by gift cards
-- alone has no payment at the gateway (`payment_id` null). What may be
-- refunded is both together. A refund says how much of it went back to
-- gift cards (`refunds.gift_card_minor`, credited in the refund's own
-- reservation transaction); the rest goes to the card through the gateway.
ALTER TABLE orders ADD COLUMN gift_card_minor bigint NOT NULL DEFAULT 0
    CHECK (gift_card_minor >= 0 AND gift_card_minor <= total_minor);
ALTER TABLE orders ALTER COLUMN payment_id DROP NOT NULL;
ALTER TABLE orders ADD CONSTRAINT orders_payment_when_card_pays
    CHECK (payment_id IS NOT NULL OR captured_minor = 0);

-- The refund bound was `refunded_minor <= captured_minor` (named by
-- Postgres): found by what it says and replaced by one counting the gift
-- cards.
DO $$
DECLARE name text;
BEGIN
    SELECT conname INTO name FROM pg_constraint
     WHERE conrelid = 'orders'::regclass AND contype = 'c'
       AND pg_get_constraintdef(oid) LIKE '%refunded_minor <= captured_minor%';
    EXECUTE format('ALTER TABLE orders DROP CONSTRAINT %I', name);
END $$;
ALTER TABLE orders ADD CONSTRAINT orders_refunded_within_paid
    CHECK (refunded_minor >= 0 AND refunded_minor <= captured_minor + gift_card_minor);

ALTER TABLE refunds ADD COLUMN gift_card_minor bigint NOT NULL DEFAULT 0
    CHECK (gift_card_minor >= 0 AND gift_card_minor <= amount_minor);

-- Compensation and refunds find a checkout's debits by its id.
CREATE INDEX gift_card_transactions_by_checkout
    ON gift_card_transactions (store_id, checkout_id)
    WHERE checkout_id IS NOT NULL;

-- The risk screen (issue 18, part 3) counts a card by the gateway's
-- fingerprint of it, kept from the authorization, and compares the
-- shipping country with the billing address's, which the order keeps.
ALTER TABLE checkouts ADD COLUMN card_fingerprint text
    CHECK (length(card_fingerprint) BETWEEN 1 AND 200);
ALTER TABLE orders ADD COLUMN billing_address jsonb;
