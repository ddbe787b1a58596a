-- Load reports, placement by headroom, and live store moves.

-- Where the mover reaches a pod's Postgres (a role allowed to publish and
-- subscribe); NULL until the pod is registered with one, and then the pod
-- cannot take part in a move.
ALTER TABLE pods ADD COLUMN database_url text;
-- Capacity beyond the store count, for placement by headroom.
ALTER TABLE pods ADD COLUMN capacity_bytes bigint NOT NULL DEFAULT 107374182400
    CHECK (capacity_bytes > 0);
ALTER TABLE pods ADD COLUMN capacity_orders_per_hour bigint NOT NULL DEFAULT 100000
    CHECK (capacity_orders_per_hour > 0);
-- A drained pod has had all its stores moved away.
ALTER TABLE pods DROP CONSTRAINT pods_state_check;
ALTER TABLE pods ADD CONSTRAINT pods_state_check
    CHECK (state IN ('active', 'draining', 'drained'));

-- The latest figures a pod reported for each store it serves.
CREATE TABLE store_loads (
    store_id             uuid PRIMARY KEY REFERENCES stores (id) ON DELETE CASCADE,
    pod_id               uuid NOT NULL REFERENCES pods (id),
    rows                 bigint NOT NULL CHECK (rows >= 0),
    bytes                bigint NOT NULL CHECK (bytes >= 0),
    orders_last_hour     bigint NOT NULL CHECK (orders_last_hour >= 0),
    requests_per_minute  bigint NOT NULL CHECK (requests_per_minute >= 0),
    reported_at          timestamptz NOT NULL
);
CREATE INDEX store_loads_pod ON store_loads (pod_id);

-- A live move of one store: a persisted state machine. `phase` is the last
-- step completed; the runner resumes from it after a restart.
CREATE TABLE moves (
    id               uuid PRIMARY KEY,
    store_id         uuid NOT NULL REFERENCES stores (id),
    source_pod       uuid NOT NULL REFERENCES pods (id),
    target_pod       uuid NOT NULL REFERENCES pods (id),
    reason           text NOT NULL CHECK (reason IN ('operator', 'rebalance', 'drain')),
    phase            text NOT NULL,
    status           text NOT NULL CHECK (status IN ('running', 'completed', 'rolled_back', 'failed')),
    abort_requested  boolean NOT NULL DEFAULT false,
    error            text,
    tables_total     integer NOT NULL DEFAULT 0,
    tables_ready     integer NOT NULL DEFAULT 0,
    rows_copied      bigint NOT NULL DEFAULT 0,
    bytes_copied     bigint NOT NULL DEFAULT 0,
    lag_bytes        bigint,
    pause_ms         bigint,
    frozen_at        timestamptz,
    -- The target's next transaction id when verification began: rows the
    -- target changed after it are re-checked during the freeze.
    verify_xid       bigint,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    CHECK (source_pod <> target_pod)
);
-- At most one move of a store at a time.
CREATE UNIQUE INDEX moves_one_running_per_store ON moves (store_id) WHERE status = 'running';
CREATE INDEX moves_created ON moves (created_at DESC);
