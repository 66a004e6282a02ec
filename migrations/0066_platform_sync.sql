-- Inbound sync from the middle platform (中台, issue 20): stock levels, member tiers and rights,
-- price lists. Shared by SQLite and PostgreSQL.
-- platform_sync_batches: one row per batch the platform pushed (kind `stock_levels`,
-- `member_tiers` or `price_lists`; id the platform's batch id): the SHA-256 of the request, who
-- sent it, and the answer given (JSON), so a retry gets the same answer and changes nothing.
-- platform_stock_seqs: the platform's last applied sequence number per (location, SKU): a line
-- whose sequence is not above it is stale.
-- member_platform_tiers: the tier (a code of `points.tiers`, or NULL: the tier of the member's
-- growth) and rights (a JSON array of codes) the platform set for a member, and the last applied
-- sequence of the member's changes.
-- platform_price_lines: price-list lines valid from a later time, waiting to be applied
-- (status pending | applied | failed; location_id NULL = the chain price).
CREATE TABLE platform_sync_batches (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    request_sha256 TEXT NOT NULL,
    actor TEXT NOT NULL,
    result TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE platform_stock_seqs (
    location_id TEXT NOT NULL,
    sku_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    batch_id TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (location_id, sku_id)
);
CREATE TABLE member_platform_tiers (
    member_id TEXT PRIMARY KEY,
    tier_code TEXT,
    rights TEXT NOT NULL,
    seq BIGINT NOT NULL,
    batch_id TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE platform_price_lines (
    list_id TEXT NOT NULL,
    line_no BIGINT NOT NULL,
    sku_id TEXT NOT NULL,
    location_id TEXT,
    price_fen BIGINT NOT NULL,
    valid_from BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'applied', 'failed')),
    error TEXT,
    applied_at BIGINT,
    PRIMARY KEY (list_id, line_no)
);
CREATE INDEX platform_price_lines_due ON platform_price_lines (status, valid_from);
