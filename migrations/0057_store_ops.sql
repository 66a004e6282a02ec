-- Handheld store operations (issue 21): cycle counts by zone, receiving against a transfer or a
-- supplier delivery, store requisitions (要货) and head office's allocation (配货).
-- count_sessions: one count of one zone of a store; status open | submitted | approved.
-- count_scans: every scan of a count, keyed by the handheld's client id (a replayed scan is
-- stored once); the counted quantity of a SKU is the sum of its scans.
-- count_lines: what an approval found and posted (book = on hand at approval, variance =
-- counted − book, posted as a `count_adjustment` movement with the session as ref_id).
-- supplier_deliveries / delivery_lines: a supplier delivery announced to a store, with the
-- expected quantities; status expected | received.
-- receivings / receiving_lines: one receiving of a transfer or a delivery (source_kind
-- transfer | delivery), keyed by the client id; expected, received and their difference per SKU.
-- requisitions / requisition_lines: a store asks a warehouse for goods; status requested |
-- allocated | rejected; allocation ships a transfer (transfer_id) with the allocated quantities.
-- Shared by SQLite and PostgreSQL.
CREATE TABLE count_sessions (
    id TEXT PRIMARY KEY,
    location_id TEXT NOT NULL REFERENCES locations(id),
    zone TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'submitted', 'approved')),
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    submitted_at BIGINT,
    approved_by TEXT,
    approved_at BIGINT
);
CREATE INDEX count_sessions_by_location ON count_sessions (location_id, created_at);

CREATE TABLE count_scans (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES count_sessions(id),
    sku_id TEXT NOT NULL REFERENCES skus(id),
    code TEXT NOT NULL,
    qty BIGINT NOT NULL CHECK (qty >= 0),
    actor TEXT NOT NULL,
    client_ts BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX count_scans_by_session ON count_scans (session_id, sku_id);

CREATE TABLE count_lines (
    session_id TEXT NOT NULL REFERENCES count_sessions(id),
    sku_id TEXT NOT NULL REFERENCES skus(id),
    book BIGINT NOT NULL,
    counted BIGINT NOT NULL,
    variance BIGINT NOT NULL,
    PRIMARY KEY (session_id, sku_id)
);

CREATE TABLE supplier_deliveries (
    id TEXT PRIMARY KEY,
    location_id TEXT NOT NULL REFERENCES locations(id),
    supplier TEXT NOT NULL,
    reference TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('expected', 'received')),
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX supplier_deliveries_by_location ON supplier_deliveries (location_id, status, created_at);

CREATE TABLE delivery_lines (
    delivery_id TEXT NOT NULL REFERENCES supplier_deliveries(id),
    sku_id TEXT NOT NULL REFERENCES skus(id),
    qty BIGINT NOT NULL CHECK (qty > 0),
    PRIMARY KEY (delivery_id, sku_id)
);

CREATE TABLE receivings (
    id TEXT PRIMARY KEY,
    location_id TEXT NOT NULL REFERENCES locations(id),
    source_kind TEXT NOT NULL CHECK (source_kind IN ('transfer', 'delivery')),
    source_id TEXT NOT NULL,
    note TEXT NOT NULL,
    received_by TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    UNIQUE (source_kind, source_id)
);
CREATE INDEX receivings_by_location ON receivings (location_id, received_at);

CREATE TABLE receiving_lines (
    receiving_id TEXT NOT NULL REFERENCES receivings(id),
    sku_id TEXT NOT NULL REFERENCES skus(id),
    expected BIGINT NOT NULL,
    received BIGINT NOT NULL,
    difference BIGINT NOT NULL,
    PRIMARY KEY (receiving_id, sku_id)
);

CREATE TABLE requisitions (
    id TEXT PRIMARY KEY,
    location_id TEXT NOT NULL REFERENCES locations(id),
    warehouse_id TEXT NOT NULL REFERENCES locations(id),
    status TEXT NOT NULL CHECK (status IN ('requested', 'allocated', 'rejected')),
    note TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    decided_by TEXT,
    decided_at BIGINT,
    transfer_id TEXT
);
CREATE INDEX requisitions_by_location ON requisitions (location_id, created_at);
CREATE INDEX requisitions_by_status ON requisitions (status, created_at);

CREATE TABLE requisition_lines (
    requisition_id TEXT NOT NULL REFERENCES requisitions(id),
    sku_id TEXT NOT NULL REFERENCES skus(id),
    requested BIGINT NOT NULL CHECK (requested > 0),
    allocated BIGINT NOT NULL DEFAULT 0 CHECK (allocated >= 0),
    PRIMARY KEY (requisition_id, sku_id)
);
