-- Merchants' own promotions (B2B2C, issue 20), shared by SQLite and PostgreSQL.
-- docs/CONTRACTS.md ("Merchants", "Merchants' own stores, devices and promotions").
--
-- promotions.merchant_id: whose promotion it is. Head office's are the platform's (every
-- promotion before this migration); a merchant administrator's discount only its own SKUs
-- (checked when created), and it lists and ends only its own.
ALTER TABLE promotions ADD COLUMN merchant_id TEXT NOT NULL DEFAULT 'platform';
CREATE INDEX promotions_merchant ON promotions (merchant_id, created_at);
