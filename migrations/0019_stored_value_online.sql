-- Stored value online (issue 14): recharge packages (pay ¥100, get ¥110) paid through WeChat Pay
-- or Alipay in the shop, principal and bonus kept apart in the balance ledger, a payment PIN
-- that confirms spending the balance online, and balance as a tender of an online order, alone
-- or split with a provider. Shared by SQLite and PostgreSQL.

-- The part of a balance row's `delta_fen` that is bonus (same sign; 0 for plain money): a
-- member's principal is `SUM(delta_fen - bonus_fen)`, their bonus `SUM(bonus_fen)`. Spending
-- takes principal first and bonus last; a refund to the balance gives bonus back in the
-- proportion its order's payment took it.
ALTER TABLE balance_ledger ADD COLUMN bonus_fen BIGINT NOT NULL DEFAULT 0;
-- The order a `pay` or `refund` row belongs to (none for top-ups and adjustments, and for rows
-- written before this migration).
ALTER TABLE balance_ledger ADD COLUMN order_id TEXT;
CREATE INDEX balance_ledger_order ON balance_ledger (order_id, kind) WHERE order_id IS NOT NULL;

-- The member's payment PIN (Argon2 PHC string), which confirms spending the stored balance
-- online; wrong tries in a row, and until when it is locked after too many.
ALTER TABLE members ADD COLUMN pay_pin_hash TEXT;
ALTER TABLE members ADD COLUMN pay_pin_failures BIGINT NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN pay_pin_locked_until BIGINT;

-- What head office offers for a recharge: pay `pay_fen`, get `bonus_fen` more. Retired packages
-- (`active` 0) are kept for the recharges that used them.
CREATE TABLE recharge_packages (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    pay_fen    BIGINT NOT NULL CHECK (pay_fen > 0),
    bonus_fen  BIGINT NOT NULL CHECK (bonus_fen >= 0),
    active     BIGINT NOT NULL DEFAULT 1,
    sort       BIGINT NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A member's recharge through a provider; our id is the provider's `out_trade_no`. `paid` once
-- the provider's verified notification (or a query) says so, when the balance row (kind
-- `topup`, `ref_id` this id, tender the provider) is written in the same transaction;
-- `closed`: never paid and closed at the provider.
CREATE TABLE recharges (
    id           TEXT PRIMARY KEY,
    member_id    TEXT NOT NULL REFERENCES members (id),
    package_id   TEXT REFERENCES recharge_packages (id),
    pay_fen      BIGINT NOT NULL CHECK (pay_fen > 0),
    bonus_fen    BIGINT NOT NULL CHECK (bonus_fen >= 0),
    method       TEXT NOT NULL CHECK (method IN ('sandbox_qr', 'wechat_pay', 'alipay')),
    scene        TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'closed')),
    provider_ref TEXT UNIQUE,
    prepay       TEXT,
    paid_at      BIGINT,
    checked_at   BIGINT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX recharges_member ON recharges (member_id, created_at);
CREATE INDEX recharges_pending ON recharges (status, created_at);

-- Every accepted notification of a recharge (a retry is answered as taken, changes nothing).
CREATE TABLE recharge_notifications (
    notify_id   TEXT PRIMARY KEY,
    recharge_id TEXT NOT NULL REFERENCES recharges (id),
    received_at BIGINT NOT NULL
);
