-- Checkouts that split into one order per merchant, paid with one payment (issue 20),
-- shared by SQLite and PostgreSQL. docs/CONTRACTS.md ("Checkouts: one cart, one order per
-- merchant, one payment").
--
-- checkouts: a shopper's cart placed at once (the client's id). checkout_orders: its orders,
-- one per merchant whose goods are in the cart (`position` 0 is the platform's own goods when
-- there are any), written before the orders are placed, so a retry finds the same orders.
CREATE TABLE checkouts (
    id          TEXT PRIMARY KEY,
    member_id   TEXT,
    fulfilment  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX checkouts_member ON checkouts (member_id, created_at);

CREATE TABLE checkout_orders (
    checkout_id TEXT NOT NULL REFERENCES checkouts (id),
    order_id    TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    position    BIGINT NOT NULL,
    PRIMARY KEY (checkout_id, position)
);

-- payment_trades: one trade at a provider that pays several orders at once (a checkout's
-- combined payment). Its id (32 hex) is the trade's `out_trade_no`; `provider_ref` the
-- provider's transaction id once paid. Each order it pays has a payment row of its own with
-- `payments.trade_id` set (and no provider_ref: the transaction is the trade's); refunds are per
-- order, sent as partial refunds of the trade.
CREATE TABLE payment_trades (
    id           TEXT PRIMARY KEY,
    checkout_id  TEXT NOT NULL REFERENCES checkouts (id),
    method       TEXT NOT NULL,
    scene        TEXT,
    amount_fen   BIGINT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'closed')),
    provider_ref TEXT UNIQUE,
    prepay       TEXT,
    paid_at      BIGINT,
    checked_at   BIGINT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX payment_trades_checkout ON payment_trades (checkout_id);
CREATE INDEX payment_trades_pending ON payment_trades (status, checked_at);

ALTER TABLE payments ADD COLUMN trade_id TEXT REFERENCES payment_trades (id);
CREATE INDEX payments_trade ON payments (trade_id);
