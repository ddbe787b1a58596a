-- Accounts: staff of a store, their invitations and API keys, shoppers with
-- their addresses and password resets, and the login sessions of both.
-- store_id leads every key and index. Secrets (passwords, one-time tokens,
-- API keys) are stored only as hashes: argon2id for passwords, sha256 (hex)
-- for random tokens.

CREATE TABLE staff (
    store_id       uuid NOT NULL,
    id             uuid NOT NULL,
    email          text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    password_hash  text NOT NULL,
    role           text NOT NULL CHECK (role IN ('owner', 'staff')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    disabled_at    timestamptz,
    PRIMARY KEY (store_id, id)
);

-- One enabled account per email in a store; a removed member may be
-- invited again.
CREATE UNIQUE INDEX staff_store_email_key ON staff (store_id, email) WHERE disabled_at IS NULL;

CREATE TABLE staff_invitations (
    store_id      uuid NOT NULL,
    id            uuid NOT NULL,
    email         text NOT NULL,
    token_sha256  text NOT NULL,
    invited_by    text NOT NULL,
    expires_at    timestamptz NOT NULL,
    accepted_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, id)
);

CREATE UNIQUE INDEX staff_invitations_token ON staff_invitations (store_id, token_sha256);

CREATE TABLE api_keys (
    store_id      uuid NOT NULL,
    id            uuid NOT NULL,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- The first characters of the key, to recognise it in a list.
    prefix        text NOT NULL,
    key_sha256    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    PRIMARY KEY (store_id, id)
);

CREATE UNIQUE INDEX api_keys_by_hash ON api_keys (store_id, key_sha256);

CREATE TABLE customers (
    store_id           uuid NOT NULL,
    id                 uuid NOT NULL,
    email              text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    password_hash      text NOT NULL,
    first_name         text NOT NULL DEFAULT '' CHECK (length(first_name) <= 100),
    last_name          text NOT NULL DEFAULT '' CHECK (length(last_name) <= 100),
    phone              text NOT NULL DEFAULT '' CHECK (length(phone) <= 32),
    accepts_marketing  boolean NOT NULL DEFAULT false,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, id),
    CONSTRAINT customers_store_email_key UNIQUE (store_id, email)
);

CREATE TABLE customer_addresses (
    store_id     uuid NOT NULL,
    id           uuid NOT NULL,
    customer_id  uuid NOT NULL,
    name         text NOT NULL,
    line1        text NOT NULL,
    line2        text NOT NULL DEFAULT '',
    city         text NOT NULL,
    region       text NOT NULL DEFAULT '',
    postal_code  text NOT NULL DEFAULT '',
    country      char(2) NOT NULL,
    phone        text NOT NULL DEFAULT '',
    is_default   boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, id),
    FOREIGN KEY (store_id, customer_id) REFERENCES customers (store_id, id) ON DELETE CASCADE
);

CREATE INDEX customer_addresses_by_customer ON customer_addresses (store_id, customer_id, id);
CREATE UNIQUE INDEX customer_addresses_one_default ON customer_addresses (store_id, customer_id) WHERE is_default;

CREATE TABLE customer_password_resets (
    store_id      uuid NOT NULL,
    id            uuid NOT NULL,
    customer_id   uuid NOT NULL,
    token_sha256  text NOT NULL,
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, id),
    FOREIGN KEY (store_id, customer_id) REFERENCES customers (store_id, id) ON DELETE CASCADE
);

CREATE UNIQUE INDEX customer_password_resets_token ON customer_password_resets (store_id, token_sha256);

-- A login. Tokens carry the session id; logout (or removal of a staff
-- member, or a password reset) sets revoked_at and the token stops working.
CREATE TABLE sessions (
    store_id      uuid NOT NULL,
    id            uuid NOT NULL,
    subject_kind  text NOT NULL CHECK (subject_kind IN ('staff', 'customer')),
    subject_id    uuid NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    PRIMARY KEY (store_id, id)
);

CREATE INDEX sessions_by_subject ON sessions (store_id, subject_kind, subject_id) WHERE revoked_at IS NULL;
