-- Look-ups that grew hot: idempotency checks of stock operations read the audit log by entity
-- id, and the console pages one location's stock ledger by time.
CREATE INDEX audit_log_entity ON audit_log (entity_id);
CREATE INDEX stock_movements_loc_time ON stock_movements (location_id, created_at, id);
