-- Risk screening (the `risk` context, issue 18 part 3): the velocity
-- record of checkout attempts, the store's thresholds and the decision on
-- each screened checkout. Moved with the store like every tenant table.

-- One row per checkout that reached the gateway: declined at authorization,
-- or authorized and screened (then its decision). Keys are HMAC-SHA256 of
-- the lower-cased email, of the client address (NULL when unknown) and of
-- the card (the gateway's fingerprint, else its token; NULL when neither),
-- so no email, address or card is kept in clear. Only the last hour is
-- counted; rows older than 24 hours are pruned by the pod's worker.
CREATE TABLE risk_attempts (
    store_id     uuid NOT NULL,
    checkout_id  uuid NOT NULL,
    email_key    bytea NOT NULL CHECK (length(email_key) = 32),
    client_key   bytea CHECK (length(client_key) = 32),
    card_key     bytea CHECK (length(card_key) = 32),
    outcome      text NOT NULL CHECK (outcome IN ('declined', 'allow', 'review', 'block')),
    at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, checkout_id)
);

-- "Attempts and declines in the last hour by key": index-only range scans.
CREATE INDEX risk_attempts_by_email ON risk_attempts (store_id, email_key, at) INCLUDE (outcome);
CREATE INDEX risk_attempts_by_client ON risk_attempts (store_id, client_key, at) INCLUDE (outcome)
    WHERE client_key IS NOT NULL;
CREATE INDEX risk_attempts_by_card ON risk_attempts (store_id, card_key, at) INCLUDE (outcome)
    WHERE card_key IS NOT NULL;
-- The prune.
CREATE INDEX risk_attempts_by_at ON risk_attempts (store_id, at);

SELECT move_capture.install('risk_attempts');

-- The store's thresholds (`risk::model::RiskSettings` as JSON; a field it
-- lacks reads as its default). No row: the defaults.
CREATE TABLE risk_settings (
    store_id    uuid NOT NULL,
    settings    jsonb NOT NULL CHECK (jsonb_typeof(settings) = 'object'),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id)
);

SELECT move_capture.install('risk_settings');

-- The decision on a screened checkout, kept so staff can see why; written
-- once (a screen repeated for the same checkout answers this row).
CREATE TABLE risk_assessments (
    store_id     uuid NOT NULL,
    checkout_id  uuid NOT NULL,
    outcome      text NOT NULL CHECK (outcome IN ('allow', 'review', 'block')),
    score        integer NOT NULL CHECK (score >= 0),
    reasons      jsonb NOT NULL CHECK (jsonb_typeof(reasons) = 'array'),
    at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, checkout_id)
);

-- The review queue and the staff's list, newest first by outcome.
CREATE INDEX risk_assessments_by_outcome ON risk_assessments (store_id, outcome, at);

SELECT move_capture.install('risk_assessments');
