-- The freeze of a move now checks the rows the store changed on its source
-- (recorded there by the pods' move_capture trigger) instead of the target's
-- transaction ids since the bulk verification.
ALTER TABLE moves DROP COLUMN verify_xid;
