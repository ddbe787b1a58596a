-- Store moves between pods.
--
-- A store moved away stays here as 'moved_out' (the fence) until its rows
-- are purged: the control plane sets purge_after once the routing points at
-- the new pod, and the pod deletes the rows in batches after that time.
ALTER TABLE hosted_stores ADD COLUMN purge_after timestamptz;

-- A row written on the source right after the fence of a move. Logical
-- replication applies commits in order, so seeing it on the target means
-- every earlier write of the store has been applied there.
CREATE TABLE move_markers (
    store_id    uuid NOT NULL,
    move_id     uuid NOT NULL,
    written_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, move_id)
);
