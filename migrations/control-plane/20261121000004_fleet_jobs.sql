-- Drains and rebalances: a plan of store moves the control plane runs one at
-- a time, throttled. Persisted, so that a restart picks the plan up at the
-- step it stopped at.
CREATE TABLE fleet_jobs (
    id                uuid PRIMARY KEY,
    kind              text NOT NULL CHECK (kind IN ('drain', 'rebalance')),
    -- The pod a drain empties; NULL for a rebalance.
    pod_id            uuid REFERENCES pods (id),
    measure           text NOT NULL,
    throttle_ms       bigint NOT NULL CHECK (throttle_ms >= 0),
    -- The planned moves in order, each with its move id and outcome once
    -- known.
    steps             jsonb NOT NULL,
    -- The index of the first step not finished yet.
    next_step         integer NOT NULL DEFAULT 0 CHECK (next_step >= 0),
    status            text NOT NULL DEFAULT 'running'
                      CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
    cancel_requested  boolean NOT NULL DEFAULT false,
    error             text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz,
    CHECK ((kind = 'drain') = (pod_id IS NOT NULL))
);
-- One drain or rebalance at a time across the fleet.
CREATE UNIQUE INDEX fleet_jobs_one_running ON fleet_jobs ((true)) WHERE status = 'running';
CREATE INDEX fleet_jobs_created ON fleet_jobs (created_at DESC);

-- The job a move belongs to, if any.
ALTER TABLE moves ADD COLUMN job_id uuid REFERENCES fleet_jobs (id);
CREATE INDEX moves_job ON moves (job_id, store_id) WHERE job_id IS NOT NULL;
