-- Rejecting a refund that waits for approval (issue 14): a store manager of the order's store or
-- a head-office administrator may reject it instead of approving it. A rejected refund is
-- `closed` at once — never sent to its provider, its amount refundable again — and keeps who
-- rejected it and why (required). Shared by SQLite and PostgreSQL.
ALTER TABLE payment_refunds ADD COLUMN rejected_by TEXT;
ALTER TABLE payment_refunds ADD COLUMN rejected_reason TEXT;
