-- Multi-merchant (issue 20), SQLite's variant: the tables common to both backends, then the
-- staff table rebuilt, as SQLite cannot change a CHECK constraint in place (see the
-- PostgreSQL variant for the same change as two ALTERs).

-- merchants: the platform's tenants. `platform` is the operator's own trade (every store,
-- product and order that existed before this migration); others apply, are approved by head
-- office, and may be suspended (their products leave the shelf) and reinstated.
CREATE TABLE merchants (
    id            TEXT PRIMARY KEY,
    name_zh       TEXT NOT NULL,
    name_en       TEXT NOT NULL,
    contact_name  TEXT NOT NULL DEFAULT '',
    contact_phone TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'suspended')),
    review_note   TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    reviewed_at   BIGINT,
    reviewed_by   TEXT
);
INSERT INTO merchants (id, name_zh, name_en, status, created_at, reviewed_at, reviewed_by)
VALUES ('platform', '平台自营', 'Platform own trade', 'approved', 0, 0, 'migration');

-- Whose stores, products and staff these are. (SQLite cannot add a column that both references
-- another table and has a non-null default, so the application checks the merchant exists.)
ALTER TABLE locations ADD COLUMN merchant_id TEXT NOT NULL DEFAULT 'platform';
ALTER TABLE products ADD COLUMN merchant_id TEXT NOT NULL DEFAULT 'platform';
-- A merchant's new product waits for the platform's review (`pending`) off the shelf; the
-- platform's own products, and every product before this migration, are `approved`.
ALTER TABLE products ADD COLUMN review_status TEXT NOT NULL DEFAULT 'approved'
    CHECK (review_status IN ('pending', 'approved', 'rejected'));
ALTER TABLE products ADD COLUMN review_note TEXT NOT NULL DEFAULT '';
CREATE INDEX products_merchant ON products (merchant_id, review_status, code);
CREATE INDEX locations_merchant ON locations (merchant_id);

-- The platform's commission on a merchant's sales (not the distributors' `commission_rates`), in basis points of the paid amount, per
-- category: `merchant_id = '*'` is the default for every merchant, a merchant's own row wins.
CREATE TABLE platform_commission_rates (
    merchant_id TEXT NOT NULL,
    category_id TEXT NOT NULL REFERENCES categories (id),
    rate_bp     BIGINT NOT NULL CHECK (rate_bp BETWEEN 0 AND 10000),
    updated_at  BIGINT NOT NULL,
    updated_by  TEXT NOT NULL,
    PRIMARY KEY (merchant_id, category_id)
);

-- staff: the role `merchant_admin` (a merchant's head office: its products, stores, orders,
-- after-sales and statements, never another merchant's) and `merchant_id`, null for the
-- platform's staff and set for a merchant's. The table is rebuilt (copied aside, dropped,
-- created anew, copied back) inside this migration's transaction; the references to staff from
-- other tables are checked at commit (`defer_foreign_keys`), when every row is back.
PRAGMA defer_foreign_keys = ON;
CREATE TABLE staff_before_merchants AS SELECT * FROM staff;
DROP TABLE staff;
CREATE TABLE staff (
    id                   TEXT PRIMARY KEY,
    username             TEXT NOT NULL UNIQUE,
    display_name         TEXT NOT NULL,
    password_hash        TEXT NOT NULL,
    role                 TEXT NOT NULL CHECK (role IN ('head_office_admin', 'store_manager', 'cashier', 'merchant_admin')),
    location_id          TEXT REFERENCES locations (id),
    active               BIGINT NOT NULL DEFAULT 1,
    created_at           BIGINT NOT NULL,
    must_change_password BIGINT NOT NULL DEFAULT 0,
    password_changed_at  BIGINT,
    updated_at           BIGINT,
    pin_hash             TEXT,
    merchant_id          TEXT REFERENCES merchants (id),
    CHECK ((role = 'merchant_admin') = (merchant_id IS NOT NULL))
);
INSERT INTO staff (id, username, display_name, password_hash, role, location_id, active,
                   created_at, must_change_password, password_changed_at, updated_at, pin_hash)
SELECT id, username, display_name, password_hash, role, location_id, active, created_at,
       must_change_password, password_changed_at, updated_at, pin_hash
FROM staff_before_merchants;
DROP TABLE staff_before_merchants;
