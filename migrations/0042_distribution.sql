-- Share links and distribution (分销, issue 17). Shared by SQLite and PostgreSQL.
--
-- Share attribution (every member may share): `share_opens` holds one row per opener (a member,
-- or a browser by a hash of its cookie) per share (sharer and target); `share_orders` names, for
-- an order paid by a member who had opened a share, who shared and what.
--
-- Distribution: `distributors` (applied, active, rejected; the parent is the distributor who
-- recruited it), `distributor_bindings` (a buyer bound to one distributor, first touch, until
-- `expires_at`), `commission_rates` (per SKU, per category, or the default; basis points per
-- level), `distribution_orders` (an order's commission decided once), `distribution_ledger`
-- (every movement of a distributor's money: the account's balances are the sums of its rows),
-- `distributor_accounts` (those balances, updated in the transaction that writes the row) and
-- `distributor_withdrawals`.
CREATE TABLE share_opens (
    sharer_id  TEXT NOT NULL,
    target     TEXT NOT NULL,
    opener     TEXT NOT NULL,
    member_id  TEXT,
    opened_at  BIGINT NOT NULL,
    PRIMARY KEY (sharer_id, target, opener)
);
CREATE INDEX share_opens_member ON share_opens (member_id, opened_at);
CREATE INDEX share_opens_opener ON share_opens (opener, opened_at);

CREATE TABLE share_orders (
    order_id   TEXT PRIMARY KEY,
    sharer_id  TEXT NOT NULL,
    buyer_id   TEXT NOT NULL,
    target     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX share_orders_sharer ON share_orders (sharer_id, created_at);

CREATE TABLE distributors (
    member_id   TEXT PRIMARY KEY,
    status      TEXT NOT NULL CHECK (status IN ('applied', 'active', 'rejected')),
    parent_id   TEXT,
    source      TEXT NOT NULL CHECK (source IN ('application', 'rule')),
    note        TEXT NOT NULL DEFAULT '',
    applied_at  BIGINT NOT NULL,
    decided_at  BIGINT,
    decided_by  TEXT
);
CREATE INDEX distributors_status ON distributors (status, applied_at);
CREATE INDEX distributors_parent ON distributors (parent_id);

CREATE TABLE distributor_bindings (
    buyer_id       TEXT PRIMARY KEY,
    distributor_id TEXT NOT NULL,
    bound_at       BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL
);
CREATE INDEX distributor_bindings_distributor ON distributor_bindings (distributor_id, bound_at);

CREATE TABLE commission_rates (
    scope      TEXT NOT NULL CHECK (scope IN ('default', 'sku', 'category')),
    scope_id   TEXT NOT NULL,
    level1_bp  BIGINT NOT NULL CHECK (level1_bp BETWEEN 0 AND 5000),
    level2_bp  BIGINT NOT NULL CHECK (level2_bp BETWEEN 0 AND 5000),
    level3_bp  BIGINT NOT NULL CHECK (level3_bp BETWEEN 0 AND 5000),
    updated_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (scope, scope_id)
);
INSERT INTO commission_rates (scope, scope_id, level1_bp, level2_bp, level3_bp, updated_by, updated_at)
    VALUES ('default', '', 500, 200, 100, 'migration', 0);

CREATE TABLE distribution_orders (
    order_id       TEXT PRIMARY KEY,
    buyer_id       TEXT NOT NULL,
    distributor_id TEXT,
    outcome        TEXT NOT NULL CHECK (outcome IN ('commissioned', 'none')),
    commission_fen BIGINT NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL
);
CREATE INDEX distribution_orders_distributor ON distribution_orders (distributor_id, created_at);

-- A ledger row moves money between the buckets; `kind`: commission (frozen +), release
-- (frozen − available +), reversal (frozen − or available −), withdrawal_hold (available −
-- withdrawing +), withdrawal_paid (withdrawing − withdrawn +), withdrawal_rejected
-- (withdrawing − available +). `idem_key` makes every movement happen once. A commission row
-- is settled (`settled_at`) once released, or once wholly reversed before its release.
CREATE TABLE distribution_ledger (
    id              TEXT PRIMARY KEY,
    distributor_id  TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('commission', 'release', 'reversal', 'withdrawal_hold', 'withdrawal_paid', 'withdrawal_rejected')),
    frozen_fen      BIGINT NOT NULL DEFAULT 0,
    available_fen   BIGINT NOT NULL DEFAULT 0,
    withdrawing_fen BIGINT NOT NULL DEFAULT 0,
    withdrawn_fen   BIGINT NOT NULL DEFAULT 0,
    order_id        TEXT,
    line_no         BIGINT,
    level           BIGINT,
    buyer_id        TEXT,
    sku_id          TEXT,
    line_qty        BIGINT,
    ref_id          TEXT,
    idem_key        TEXT NOT NULL UNIQUE,
    settled_at      BIGINT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX distribution_ledger_account ON distribution_ledger (distributor_id, created_at);
CREATE INDEX distribution_ledger_order ON distribution_ledger (order_id);
CREATE INDEX distribution_ledger_unsettled ON distribution_ledger (kind, settled_at);

CREATE TABLE distributor_accounts (
    member_id       TEXT PRIMARY KEY,
    frozen_fen      BIGINT NOT NULL DEFAULT 0,
    available_fen   BIGINT NOT NULL DEFAULT 0,
    withdrawing_fen BIGINT NOT NULL DEFAULT 0,
    withdrawn_fen   BIGINT NOT NULL DEFAULT 0,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE distributor_withdrawals (
    id             TEXT PRIMARY KEY,
    distributor_id TEXT NOT NULL,
    amount_fen     BIGINT NOT NULL CHECK (amount_fen > 0),
    status         TEXT NOT NULL CHECK (status IN ('requested', 'approved', 'paid', 'rejected')),
    reference      TEXT NOT NULL DEFAULT '',
    reason         TEXT NOT NULL DEFAULT '',
    decided_by     TEXT,
    created_at     BIGINT NOT NULL,
    decided_at     BIGINT,
    paid_at        BIGINT
);
CREATE INDEX distributor_withdrawals_status ON distributor_withdrawals (status, created_at);
CREATE INDEX distributor_withdrawals_distributor ON distributor_withdrawals (distributor_id, created_at);
