-- Foundation schema: locations, staff and devices, catalog with its change feed, stock with its
-- movement ledger, members with points and stored-balance ledgers, orders, payments, returns and
-- the audit log.
--
-- This file is shared by SQLite and PostgreSQL: it sticks to the common dialect (TEXT, BIGINT,
-- no auto-increment; sequences live in `counters`). Ids are client-generated UUIDv7 strings or
-- short codes; times are Unix milliseconds (UTC); money is integer fen.

CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('catalog', 0);

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE locations (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('head_office', 'warehouse', 'store')),
    name_zh    TEXT NOT NULL,
    name_en    TEXT NOT NULL,
    city       TEXT NOT NULL DEFAULT '',
    address    TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);

CREATE TABLE staff (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('head_office_admin', 'store_manager', 'cashier')),
    location_id   TEXT REFERENCES locations (id),
    active        BIGINT NOT NULL DEFAULT 1,
    created_at    BIGINT NOT NULL
);

CREATE TABLE staff_sessions (
    token_hash TEXT PRIMARY KEY,
    staff_id   TEXT NOT NULL REFERENCES staff (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE devices (
    id          TEXT PRIMARY KEY,
    location_id TEXT NOT NULL REFERENCES locations (id),
    kind        TEXT NOT NULL CHECK (kind IN ('pos', 'edge')),
    name        TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT,
    last_seen_at BIGINT
);

CREATE TABLE categories (
    id        TEXT PRIMARY KEY,
    parent_id TEXT REFERENCES categories (id),
    name_zh   TEXT NOT NULL,
    name_en   TEXT NOT NULL,
    sort      BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE products (
    id          TEXT PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE,
    name_zh     TEXT NOT NULL,
    name_en     TEXT NOT NULL,
    brand       TEXT NOT NULL DEFAULT '',
    category_id TEXT NOT NULL REFERENCES categories (id),
    description TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL DEFAULT 'on_shelf' CHECK (status IN ('on_shelf', 'off_shelf')),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX products_category ON products (category_id);

CREATE TABLE skus (
    id               TEXT PRIMARY KEY,
    product_id       TEXT NOT NULL REFERENCES products (id),
    sku_code         TEXT NOT NULL UNIQUE,
    spec_zh          TEXT NOT NULL DEFAULT '',
    spec_en          TEXT NOT NULL DEFAULT '',
    unit             TEXT NOT NULL DEFAULT '件',
    weighed          BIGINT NOT NULL DEFAULT 0,
    price_fen        BIGINT NOT NULL CHECK (price_fen >= 0),
    member_price_fen BIGINT CHECK (member_price_fen >= 0),
    status           TEXT NOT NULL DEFAULT 'on_shelf' CHECK (status IN ('on_shelf', 'off_shelf')),
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX skus_product ON skus (product_id);

CREATE TABLE barcodes (
    code   TEXT PRIMARY KEY,
    sku_id TEXT NOT NULL REFERENCES skus (id)
);
CREATE INDEX barcodes_sku ON barcodes (sku_id);

CREATE TABLE store_prices (
    location_id TEXT NOT NULL REFERENCES locations (id),
    sku_id      TEXT NOT NULL REFERENCES skus (id),
    price_fen   BIGINT NOT NULL CHECK (price_fen >= 0),
    PRIMARY KEY (location_id, sku_id)
);

-- The catalog change feed: one row per changed entity, its `seq` bumped (from counters.catalog,
-- under the counter's row lock, so sequence order is commit order) on every change.
CREATE TABLE catalog_versions (
    kind      TEXT NOT NULL CHECK (kind IN ('category', 'sku')),
    entity_id TEXT NOT NULL,
    seq       BIGINT NOT NULL UNIQUE,
    PRIMARY KEY (kind, entity_id)
);

CREATE TABLE stock (
    location_id         TEXT NOT NULL REFERENCES locations (id),
    sku_id              TEXT NOT NULL REFERENCES skus (id),
    on_hand             BIGINT NOT NULL DEFAULT 0,
    reserved            BIGINT NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    low_stock_threshold BIGINT NOT NULL DEFAULT 0,
    updated_at          BIGINT NOT NULL,
    PRIMARY KEY (location_id, sku_id)
);
CREATE INDEX stock_sku ON stock (sku_id);

-- Append-only: never updated, never deleted. The stock snapshot equals the sums of this ledger.
CREATE TABLE stock_movements (
    id            TEXT PRIMARY KEY,
    location_id   TEXT NOT NULL REFERENCES locations (id),
    sku_id        TEXT NOT NULL REFERENCES skus (id),
    kind          TEXT NOT NULL CHECK (kind IN ('opening', 'sale', 'return', 'reservation', 'release',
                       'fulfilment', 'transfer_out', 'transfer_in', 'count_adjustment', 'adjustment', 'receipt')),
    on_hand_delta BIGINT NOT NULL,
    reserved_delta BIGINT NOT NULL,
    reason        TEXT NOT NULL DEFAULT '',
    actor         TEXT NOT NULL,
    ref_id        TEXT,
    client_ts     BIGINT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX stock_movements_loc_sku ON stock_movements (location_id, sku_id, created_at);
CREATE INDEX stock_movements_ref ON stock_movements (ref_id);

CREATE TABLE transfers (
    id            TEXT PRIMARY KEY,
    from_location TEXT NOT NULL REFERENCES locations (id),
    to_location   TEXT NOT NULL REFERENCES locations (id),
    status        TEXT NOT NULL CHECK (status IN ('in_transit', 'received')),
    note          TEXT NOT NULL DEFAULT '',
    created_by    TEXT NOT NULL,
    shipped_at    BIGINT NOT NULL,
    received_by   TEXT,
    received_at   BIGINT
);

CREATE TABLE transfer_lines (
    transfer_id TEXT NOT NULL REFERENCES transfers (id),
    sku_id      TEXT NOT NULL REFERENCES skus (id),
    qty         BIGINT NOT NULL CHECK (qty > 0),
    PRIMARY KEY (transfer_id, sku_id)
);

CREATE TABLE members (
    id         TEXT PRIMARY KEY,
    phone_hash TEXT NOT NULL UNIQUE,
    phone_enc  TEXT NOT NULL,
    name       TEXT NOT NULL DEFAULT '',
    growth     BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

-- Append-only points ledger; a member's points are the sum of `delta`.
CREATE TABLE points_ledger (
    id         TEXT PRIMARY KEY,
    member_id  TEXT NOT NULL REFERENCES members (id),
    delta      BIGINT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('earn', 'redeem', 'expire', 'adjust', 'reverse', 'refund')),
    reason     TEXT NOT NULL DEFAULT '',
    ref_id     TEXT,
    actor      TEXT NOT NULL,
    expires_at BIGINT,
    created_at BIGINT NOT NULL,
    UNIQUE (kind, ref_id)
);
CREATE INDEX points_ledger_member ON points_ledger (member_id, created_at);

-- Append-only stored-balance ledger (fen); a member's balance is the sum of `delta_fen`.
CREATE TABLE balance_ledger (
    id         TEXT PRIMARY KEY,
    member_id  TEXT NOT NULL REFERENCES members (id),
    delta_fen  BIGINT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('topup', 'pay', 'refund', 'adjust')),
    reason     TEXT NOT NULL DEFAULT '',
    ref_id     TEXT,
    actor      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (kind, ref_id)
);
CREATE INDEX balance_ledger_member ON balance_ledger (member_id, created_at);

CREATE TABLE orders (
    id              TEXT PRIMARY KEY,
    order_no        TEXT NOT NULL UNIQUE,
    channel         TEXT NOT NULL CHECK (channel IN ('online', 'pos', 'scan_and_go')),
    fulfilment      TEXT NOT NULL CHECK (fulfilment IN ('delivery', 'pickup', 'in_store')),
    status          TEXT NOT NULL,
    location_id     TEXT NOT NULL REFERENCES locations (id),
    member_id       TEXT REFERENCES members (id),
    subtotal_fen    BIGINT NOT NULL,
    discount_fen    BIGINT NOT NULL DEFAULT 0,
    total_fen       BIGINT NOT NULL,
    points_earned   BIGINT NOT NULL DEFAULT 0,
    points_redeemed BIGINT NOT NULL DEFAULT 0,
    address_enc     TEXT,
    pickup_code     TEXT,
    device_id       TEXT,
    cashier         TEXT,
    created_by      TEXT NOT NULL,
    client_ts       BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    expires_at      BIGINT
);
CREATE INDEX orders_pending ON orders (status, expires_at);
CREATE INDEX orders_location ON orders (location_id, created_at);
CREATE INDEX orders_member ON orders (member_id, created_at) WHERE member_id IS NOT NULL;

CREATE TABLE order_lines (
    order_id       TEXT NOT NULL REFERENCES orders (id),
    line_no        BIGINT NOT NULL,
    sku_id         TEXT NOT NULL REFERENCES skus (id),
    name           TEXT NOT NULL,
    qty            BIGINT NOT NULL CHECK (qty > 0),
    unit_price_fen BIGINT NOT NULL,
    discount_fen   BIGINT NOT NULL DEFAULT 0,
    amount_fen     BIGINT NOT NULL,
    returned_qty   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (order_id, line_no)
);

CREATE TABLE order_events (
    id          TEXT PRIMARY KEY,
    order_id    TEXT NOT NULL REFERENCES orders (id),
    from_status TEXT,
    to_status   TEXT NOT NULL,
    actor       TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    at          BIGINT NOT NULL
);
CREATE INDEX order_events_order ON order_events (order_id, at);

CREATE TABLE payments (
    id           TEXT PRIMARY KEY,
    order_id     TEXT NOT NULL REFERENCES orders (id),
    method       TEXT NOT NULL CHECK (method IN ('cash', 'stored_balance', 'points', 'sandbox_qr', 'card')),
    amount_fen   BIGINT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'refunded')),
    provider_ref TEXT UNIQUE,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX payments_order ON payments (order_id);

-- Every accepted provider notification, by the provider's notification id: a replay is refused.
CREATE TABLE payment_notifications (
    notify_id   TEXT PRIMARY KEY,
    payment_id  TEXT NOT NULL REFERENCES payments (id),
    received_at BIGINT NOT NULL
);

CREATE TABLE returns (
    id              TEXT PRIMARY KEY,
    order_id        TEXT NOT NULL REFERENCES orders (id),
    location_id     TEXT NOT NULL REFERENCES locations (id),
    refund_fen      BIGINT NOT NULL,
    points_reversed BIGINT NOT NULL DEFAULT 0,
    reason          TEXT NOT NULL DEFAULT '',
    actor           TEXT NOT NULL,
    client_ts       BIGINT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX returns_order ON returns (order_id);

CREATE TABLE return_lines (
    return_id  TEXT NOT NULL REFERENCES returns (id),
    line_no    BIGINT NOT NULL,
    qty        BIGINT NOT NULL CHECK (qty > 0),
    refund_fen BIGINT NOT NULL,
    PRIMARY KEY (return_id, line_no)
);

CREATE TABLE audit_log (
    id        TEXT PRIMARY KEY,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    entity    TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    detail    TEXT NOT NULL DEFAULT '{}',
    at        BIGINT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
