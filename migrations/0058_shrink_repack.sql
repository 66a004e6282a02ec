-- Fresh-food processes (issue 21): shrink and waste (报损) and case splitting / re-packing
-- (组装拆分).
-- shrink_records: one write-off of one SKU at one location, keyed by the client id; reason
-- expired | damaged | quality | theft | other; photos a JSON array of kept image names (the
-- media store); category_id and unit_price (fen, the SKU's effective price at the location
-- when written off) are kept so the report values shrink as it was. Posted as an `adjustment`
-- movement (on hand down) with the record as ref_id.
-- repacks / repack_lines: one split or re-pack, keyed by the client id; direction in (taken
-- from stock: the case, the items packed) or out (put into stock: the units, the gift pack);
-- posted as `adjustment` movements with the repack as ref_id, in one transaction.
-- Shared by SQLite and PostgreSQL.
CREATE TABLE shrink_records (
    id TEXT PRIMARY KEY,
    location_id TEXT NOT NULL REFERENCES locations(id),
    sku_id TEXT NOT NULL REFERENCES skus(id),
    category_id TEXT NOT NULL,
    qty BIGINT NOT NULL CHECK (qty > 0),
    unit_price BIGINT NOT NULL,
    reason TEXT NOT NULL CHECK (reason IN ('expired', 'damaged', 'quality', 'theft', 'other')),
    note TEXT NOT NULL,
    photos TEXT NOT NULL,
    actor TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX shrink_records_by_time ON shrink_records (created_at, location_id);
CREATE INDEX shrink_records_by_location ON shrink_records (location_id, created_at);

CREATE TABLE repacks (
    id TEXT PRIMARY KEY,
    location_id TEXT NOT NULL REFERENCES locations(id),
    note TEXT NOT NULL,
    actor TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX repacks_by_location ON repacks (location_id, created_at);

CREATE TABLE repack_lines (
    repack_id TEXT NOT NULL REFERENCES repacks(id),
    direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    sku_id TEXT NOT NULL REFERENCES skus(id),
    qty BIGINT NOT NULL CHECK (qty > 0),
    PRIMARY KEY (repack_id, direction, sku_id)
);
