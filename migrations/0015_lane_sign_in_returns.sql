-- Cashiers sign in at the lane, and returns are approved: each return keeps the store manager
-- (or head-office administrator) who approved it with their PIN, and the cashier who rang it up.
-- The refund of a return goes back through the tenders the sale was paid with; that split is
-- derived from the order's payments (like the stored-balance and points split), not stored.
ALTER TABLE returns ADD COLUMN approved_by TEXT;
ALTER TABLE returns ADD COLUMN cashier TEXT;
