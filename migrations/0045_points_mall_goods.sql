-- Points-mall goods (积分商城, issue 17): head office offers a SKU for points, with units set
-- aside, a per-member limit and a window; a member's redemption takes the points and the units in
-- one transaction and places an order for the SKU at price 0 (picked up, or delivered with its
-- shipping fee paid as usual). The points come back once if the order is cancelled or never
-- placed. Shared by SQLite and PostgreSQL.
CREATE TABLE points_mall_goods (
    id               TEXT PRIMARY KEY,
    sku_id           TEXT NOT NULL,
    points_price     BIGINT NOT NULL CHECK (points_price > 0),
    stock_units      BIGINT NOT NULL CHECK (stock_units > 0),
    units_taken      BIGINT NOT NULL DEFAULT 0 CHECK (units_taken >= 0 AND units_taken <= stock_units),
    per_member_limit BIGINT NOT NULL CHECK (per_member_limit > 0),
    starts_at        BIGINT NOT NULL,
    ends_at          BIGINT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('active', 'paused')),
    created_by       TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

CREATE TABLE points_mall_redemptions (
    order_id    TEXT PRIMARY KEY,
    goods_id    TEXT NOT NULL REFERENCES points_mall_goods (id),
    member_id   TEXT NOT NULL,
    qty         BIGINT NOT NULL CHECK (qty > 0),
    points      BIGINT NOT NULL CHECK (points > 0),
    status      TEXT NOT NULL CHECK (status IN ('placed', 'returned')),
    created_at  BIGINT NOT NULL,
    returned_at BIGINT
);
CREATE INDEX points_mall_redemptions_member ON points_mall_redemptions (goods_id, member_id, status);
CREATE INDEX points_mall_redemptions_open ON points_mall_redemptions (status, created_at);
