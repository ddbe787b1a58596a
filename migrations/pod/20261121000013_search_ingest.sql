-- Search documents arrive in bulk when a store moves onto a pod (its
-- subscription COPYs them in). With fastupdate = off every row updates the
-- four GIN indexes entry by entry: under 3,000 rows/s, most of a move's
-- copy time. With fastupdate = on, inserts go to a pending list that the
-- write filling it past `gin_pending_list_limit` merges in bulk, and every
-- search scans what is still pending.
--
-- The limit is a session setting here (no per-index value, which would
-- override it): the pod's own connections use 256 kB, so a search scans at
-- most about 32 unmerged pages per index (measured: 0.1 to 1.2 ms more per
-- query; a write that merges pays 3 to 10 ms every few hundred writes).
-- A subscription's workers keep Postgres' default of 4 MB: measured with
-- 40,000 documents, COPY takes 13.9 s with fastupdate off, 3.7 s at
-- 256 kB and 2.7 s at 4 MB. While a store is copied in, the other stores'
-- searches on the target may scan up to 4 MB (2 to 7 times slower); the
-- mover merges the lists (gin_clean_pending_list) once the copy is done.
ALTER INDEX search_documents_text SET (fastupdate = on);
ALTER INDEX search_documents_fuzzy SET (fastupdate = on);
ALTER INDEX search_documents_title SET (fastupdate = on);
ALTER INDEX search_documents_facets SET (fastupdate = on);
