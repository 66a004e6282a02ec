-- Promotions, coupons and flash sales (issue 6). The pricing engine itself is pure domain code;
-- these tables hold what head office created and what members own.

-- A promotion as head office created it. `body` is the JSON of
-- `retail_domain::pricing::Promotion` (rules, scope, audience, stacking); the window columns
-- repeat its window for the "active now" query. `ended_at` is set when staff end it early.
CREATE TABLE promotions (
    id         TEXT PRIMARY KEY,
    body       TEXT NOT NULL,
    starts_at  BIGINT NOT NULL,
    ends_at    BIGINT NOT NULL,
    ended_at   BIGINT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX promotions_window ON promotions (ends_at, starts_at);

-- A flash sale (秒杀): a sale-price promotion (same id) with a limited quantity and a per-member
-- limit. `sold_qty` counts units held by unpaid and paid orders; cancelled orders give theirs back.
CREATE TABLE flash_sales (
    id               TEXT PRIMARY KEY REFERENCES promotions (id),
    sku_id           TEXT NOT NULL REFERENCES skus (id),
    total_qty        BIGINT NOT NULL CHECK (total_qty > 0),
    sold_qty         BIGINT NOT NULL DEFAULT 0 CHECK (sold_qty >= 0 AND sold_qty <= total_qty),
    per_member_limit BIGINT NOT NULL CHECK (per_member_limit > 0)
);
CREATE INDEX flash_sales_sku ON flash_sales (sku_id);

-- Units of a flash sale taken by one order (released = 1 once the order was cancelled).
CREATE TABLE flash_sale_orders (
    flash_sale_id TEXT NOT NULL REFERENCES flash_sales (id),
    order_id      TEXT NOT NULL,
    member_id     TEXT NOT NULL,
    qty           BIGINT NOT NULL,
    released      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (flash_sale_id, order_id)
);
CREATE INDEX flash_sale_orders_member ON flash_sale_orders (flash_sale_id, member_id);

-- A coupon kind (券): what it takes off, where, how it is issued and how many exist.
-- `body` is the JSON of the template (names, rule, scope, stores, stacking flags).
CREATE TABLE coupon_templates (
    id               TEXT PRIMARY KEY,
    body             TEXT NOT NULL,
    issue_on         TEXT NOT NULL CHECK (issue_on IN ('staff', 'signup', 'tier_upgrade', 'claim')),
    valid_from       BIGINT NOT NULL,
    valid_until      BIGINT NOT NULL,
    valid_days       BIGINT,
    per_member_limit BIGINT NOT NULL CHECK (per_member_limit > 0),
    stock_total      BIGINT,
    issued           BIGINT NOT NULL DEFAULT 0,
    ended_at         BIGINT,
    created_by       TEXT NOT NULL,
    created_at       BIGINT NOT NULL
);

-- A member's coupon. Used once, by one order; it comes back (status available, order cleared)
-- when that order is cancelled.
CREATE TABLE coupons (
    id          TEXT PRIMARY KEY,
    template_id TEXT NOT NULL REFERENCES coupon_templates (id),
    member_id   TEXT NOT NULL REFERENCES members (id),
    valid_from  BIGINT NOT NULL,
    valid_until BIGINT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('available', 'used')),
    order_id    TEXT,
    used_at     BIGINT,
    issued_by   TEXT NOT NULL,
    issued_at   BIGINT NOT NULL
);
CREATE INDEX coupons_member ON coupons (member_id, status);
CREATE INDEX coupons_template_member ON coupons (template_id, member_id);
CREATE INDEX coupons_order ON coupons (order_id) WHERE order_id IS NOT NULL;

-- Per-store pricing settings (till rounding 抹零: none, down_to_jiao, down_to_yuan).
CREATE TABLE store_pricing (
    location_id   TEXT PRIMARY KEY REFERENCES locations (id),
    till_rounding TEXT NOT NULL CHECK (till_rounding IN ('none', 'down_to_jiao', 'down_to_yuan')),
    updated_at    BIGINT NOT NULL
);

-- How an order was priced: the promotions and coupons applied, with their explanation (JSON of
-- the engine's result, without the lines).
ALTER TABLE orders ADD COLUMN pricing TEXT;

-- Bumped by every change of promotions or store pricing settings (the pricing context version).
INSERT INTO counters (name, value) VALUES ('pricing', 0);
