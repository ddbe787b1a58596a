-- Gift cards (issue 18, the `gift_cards` context). A card is money of the
-- store's currency that a code spends: staff issue cards, shoppers buy them
-- as products (one card per unit, issued when the order is paid), and the
-- checkout spends them as tender.
--
-- The code is shown once: only its sha256 is kept (`code_sha256`, unique
-- per store) with its last four characters. A card bought in an order
-- keeps its code in `pending_code` only until its mail is written to the
-- relay (or given up): the trigger on `mail_deliveries` below clears it, so
-- the code never reaches the outbox, Kafka or webhooks and is not stored in
-- plain text once mailed.
--
-- Every change of a balance is a row of `gift_card_transactions` written in
-- the same transaction; the deferred trigger `gift_card_balance_is_ledger`
-- holds `balance_minor` to the sum of the card's ledger. Both tables move
-- with the store like every tenant table.
CREATE TABLE gift_cards (
    store_id        uuid NOT NULL,
    id              uuid NOT NULL,
    code_sha256     bytea NOT NULL CHECK (length(code_sha256) = 32),
    last4           text NOT NULL CHECK (length(last4) = 4),
    currency        text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    initial_minor   bigint NOT NULL CHECK (initial_minor BETWEEN 1 AND 10000000),
    balance_minor   bigint NOT NULL CHECK (balance_minor >= 0),
    expires_at      timestamptz,
    customer_id     uuid,
    disabled_at     timestamptz,
    source          text NOT NULL CHECK (source IN ('staff', 'order')),
    -- A card bought in an order: the order and which of its units
    -- (`order_unit`, 0 first over the order's gift card units).
    order_id        uuid,
    order_unit      integer CHECK (order_unit >= 0),
    note            text CHECK (length(note) BETWEEN 1 AND 500),
    -- The code of a bought card until its mail is written (see above), and
    -- the event that mails it.
    pending_code    text CHECK (length(pending_code) = 16),
    mail_event_id   uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, id),
    CONSTRAINT gift_cards_store_code_key UNIQUE (store_id, code_sha256),
    CONSTRAINT gift_cards_order_unit_key UNIQUE (store_id, order_id, order_unit),
    CONSTRAINT gift_cards_source_order CHECK
        ((source = 'order') = (order_id IS NOT NULL AND order_unit IS NOT NULL))
);

CREATE INDEX gift_cards_by_customer ON gift_cards (store_id, customer_id, id)
    WHERE customer_id IS NOT NULL;
CREATE INDEX gift_cards_by_mail ON gift_cards (store_id, mail_event_id)
    WHERE mail_event_id IS NOT NULL;

SELECT move_capture.install('gift_cards');

-- The ledger: `issue` (the initial amount), `debit` (spent at a checkout),
-- `credit` (given back: a failed checkout or a refund, at most what the
-- debit it names took, `reverses_key`), `adjust` (staff, either sign).
-- `amount_minor` is signed: what the balance changed by. A key is unique
-- per card: a repeated request finds its first row and changes nothing.
CREATE TABLE gift_card_transactions (
    store_id         uuid NOT NULL,
    id               uuid NOT NULL,
    gift_card_id     uuid NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('issue', 'debit', 'credit', 'adjust')),
    amount_minor     bigint NOT NULL CHECK (amount_minor <> 0),
    balance_after    bigint NOT NULL CHECK (balance_after >= 0),
    idempotency_key  text CHECK (length(idempotency_key) BETWEEN 1 AND 300),
    reverses_key     text CHECK (length(reverses_key) BETWEEN 1 AND 300),
    checkout_id      uuid,
    order_id         uuid,
    refund_id        uuid,
    reason           text CHECK (length(reason) BETWEEN 1 AND 500),
    actor            text NOT NULL CHECK (length(actor) BETWEEN 1 AND 100),
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, id),
    CONSTRAINT gift_card_transactions_key UNIQUE (store_id, gift_card_id, idempotency_key),
    CONSTRAINT gift_card_transactions_sign CHECK (CASE kind
        WHEN 'issue' THEN amount_minor > 0
        WHEN 'debit' THEN amount_minor < 0
        WHEN 'credit' THEN amount_minor > 0 AND reverses_key IS NOT NULL
        ELSE true END),
    FOREIGN KEY (store_id, gift_card_id) REFERENCES gift_cards (store_id, id) ON DELETE CASCADE
);

CREATE INDEX gift_card_transactions_by_card
    ON gift_card_transactions (store_id, gift_card_id, created_at);
CREATE INDEX gift_card_transactions_by_reversed
    ON gift_card_transactions (store_id, gift_card_id, reverses_key)
    WHERE reverses_key IS NOT NULL;

SELECT move_capture.install('gift_card_transactions');

-- The balance is the sum of the ledger, checked at commit for every card a
-- transaction touched (a move's subscription applies rows as a replica,
-- where this stays silent; the source already held it).
CREATE FUNCTION gift_card_balance_is_ledger() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    card uuid;
    balance bigint;
    total bigint;
BEGIN
    IF TG_TABLE_NAME = 'gift_cards' THEN
        card := NEW.id;
    ELSE
        card := NEW.gift_card_id;
    END IF;
    SELECT balance_minor INTO balance FROM gift_cards
     WHERE store_id = NEW.store_id AND id = card;
    IF balance IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT coalesce(sum(amount_minor), 0) INTO total FROM gift_card_transactions
     WHERE store_id = NEW.store_id AND gift_card_id = card;
    IF balance <> total THEN
        RAISE EXCEPTION 'gift card % has balance % but its ledger sums to %', card, balance, total
            USING ERRCODE = 'check_violation', CONSTRAINT = 'gift_card_balance_is_ledger';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER gift_card_balance_is_ledger
    AFTER INSERT OR UPDATE OF balance_minor ON gift_cards
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION gift_card_balance_is_ledger();

CREATE CONSTRAINT TRIGGER gift_card_ledger_is_balance
    AFTER INSERT ON gift_card_transactions
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION gift_card_balance_is_ledger();

-- Products sold as gift cards: each unit paid issues a card of its price.
ALTER TABLE products ADD COLUMN gift_card boolean NOT NULL DEFAULT false;

-- A bought card's mail (`gift_card.issued`, in `notifications::model::
-- MAILED`) is queued like every mail, by the event's own transaction.
CREATE TRIGGER outbox_mail_gift_cards AFTER INSERT ON outbox
    FOR EACH ROW
    WHEN (NEW.type = 'gift_card.issued')
    EXECUTE FUNCTION mail_enqueue();

-- Once its mail is written to the relay (`data_sent_at`) or given up
-- (any final state), a bought card's code is forgotten.
CREATE FUNCTION gift_card_forget_code() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE gift_cards SET pending_code = NULL
     WHERE store_id = NEW.store_id AND mail_event_id = NEW.event_id
       AND pending_code IS NOT NULL;
    RETURN NULL;
END $$;

CREATE TRIGGER mail_deliveries_forget_gift_card_code
    AFTER UPDATE OF state, data_sent_at ON mail_deliveries
    FOR EACH ROW
    WHEN (NEW.data_sent_at IS NOT NULL OR NEW.state NOT IN ('pending', 'sending'))
    EXECUTE FUNCTION gift_card_forget_code();
