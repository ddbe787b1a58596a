-- no-transaction
-- The load report counts each served store's orders of the last hour on
-- every pull of the control plane (every `load_poll_interval_ms`). Without
-- this index that is a scan of every order on the pod, each time.
-- CONCURRENTLY, outside a transaction: a pod that already has orders keeps
-- taking new ones while it builds.
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_by_created ON orders (store_id, created_at);
