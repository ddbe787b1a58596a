-- Control plane schema, foundation: pods, stores, domains and the versioned
-- routing table that routers follow.

CREATE TABLE pods (
    id          uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    url         text NOT NULL,
    capacity    integer NOT NULL CHECK (capacity > 0),
    state       text NOT NULL CHECK (state IN ('active', 'draining')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE stores (
    id           uuid PRIMARY KEY,
    name         text NOT NULL,
    handle       text NOT NULL,
    owner_email  text NOT NULL,
    currency     char(3) NOT NULL DEFAULT 'USD',
    pod_id       uuid NOT NULL REFERENCES pods (id),
    state        text NOT NULL CHECK (state IN ('provisioning', 'active', 'frozen', 'moved_out')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT stores_handle_key UNIQUE (handle)
);

CREATE INDEX stores_pod ON stores (pod_id);

CREATE TABLE domains (
    domain      text PRIMARY KEY,
    store_id    uuid NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('platform', 'custom')),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX domains_store ON domains (store_id);

-- The routing table's history: each version is one committed change set.
-- routing_head holds the current version; writers lock it, so versions are
-- dense and committed in order.
CREATE TABLE routing_head (
    only_row  boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    version   bigint NOT NULL
);
INSERT INTO routing_head (version) VALUES (0);

CREATE TABLE routing_log (
    version     bigint PRIMARY KEY,
    changes     jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
