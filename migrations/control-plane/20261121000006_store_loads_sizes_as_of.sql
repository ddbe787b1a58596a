-- When the pod measured the rows and bytes it reported (its size sweep
-- runs in the background, so they can be older than `reported_at`); NULL
-- when the pod had not measured every table yet.
ALTER TABLE store_loads ADD COLUMN sizes_as_of timestamptz;
