-- Real payment providers (issue 14): WeChat Pay and Alipay beside the demo sandbox, refunds to
-- the original tender tracked until the provider calls them final, and alerts for head office.
--
-- `payments` and `lane_payments` gain the providers' methods and states. A CHECK constraint
-- cannot be altered on SQLite, so both tables are rebuilt together with the one table that
-- references each (their notifications): the new parent and child are created and filled, the
-- old child then the old parent dropped (nothing references them any more, so no foreign key is
-- broken inside this transaction), and the new ones renamed (SQLite rewrites the child's
-- reference to the new parent's final name; PostgreSQL references by identity). Shared by SQLite
-- and PostgreSQL.

-- Online and lane-sale payments of an order. `method` is the tender; for a provider's tender
-- `provider_ref` is the provider's transaction id (微信支付订单号 / 支付宝交易号) and `scene` how it
-- was paid: `qr` (Native / precreate), `jsapi`, `h5`/`wap`, or `code` (付款码 at a lane).
-- `refunded_fen` is what has gone back so far (refunds in `payment_refunds`); `status` becomes
-- `refunded` once all of it has. `closed`: the provider closed the trade unpaid.
CREATE TABLE payments_v2 (
    id           TEXT PRIMARY KEY,
    order_id     TEXT NOT NULL REFERENCES orders (id),
    method       TEXT NOT NULL CHECK (method IN ('cash', 'stored_balance', 'points', 'sandbox_qr', 'card', 'wechat_pay', 'alipay')),
    amount_fen   BIGINT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'refunded', 'closed')),
    provider_ref TEXT UNIQUE,
    scene        TEXT,
    -- What the shopper was given to pay with (the provider's prepay: a QR code's text, a page
    -- to open), JSON; shown again while the payment is pending.
    prepay       TEXT,
    refunded_fen BIGINT NOT NULL DEFAULT 0,
    paid_at      BIGINT,
    -- When the background settler last asked the provider about a pending payment.
    checked_at   BIGINT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
INSERT INTO payments_v2 (id, order_id, method, amount_fen, status, provider_ref, refunded_fen,
                         paid_at, created_at, updated_at)
    SELECT id, order_id, method, amount_fen, status, provider_ref,
           CASE WHEN status = 'refunded' THEN amount_fen ELSE 0 END,
           CASE WHEN status = 'pending' THEN NULL ELSE updated_at END,
           created_at, updated_at
    FROM payments;

-- Every accepted provider notification, by `<provider>:<the provider's notification id>`: a
-- retry of one already taken is answered as taken and changes nothing.
CREATE TABLE payment_notifications_v2 (
    notify_id   TEXT PRIMARY KEY,
    payment_id  TEXT NOT NULL REFERENCES payments_v2 (id),
    received_at BIGINT NOT NULL
);
INSERT INTO payment_notifications_v2 (notify_id, payment_id, received_at)
    SELECT notify_id, payment_id, received_at FROM payment_notifications;

-- Payments taken at a lane before their sale reaches the server: the sandbox's QR, a
-- provider's QR (`scene` `qr`) or a payment code (`code`, charged by the server for the lane).
-- `user_paying`: the payer is confirming on their phone; `failed`: the provider refused it
-- (`failure` says why, for the cashier); `reversed`: cancelled at the provider after a timeout
-- (撤销; refunded by the provider if it had been paid).
CREATE TABLE lane_payments_v2 (
    id           TEXT PRIMARY KEY,
    sale_id      TEXT NOT NULL,
    location_id  TEXT NOT NULL REFERENCES locations (id),
    device_id    TEXT NOT NULL,
    method       TEXT NOT NULL DEFAULT 'sandbox_qr' CHECK (method IN ('sandbox_qr', 'wechat_pay', 'alipay')),
    scene        TEXT NOT NULL DEFAULT 'qr' CHECK (scene IN ('qr', 'code')),
    amount_fen   BIGINT NOT NULL CHECK (amount_fen > 0),
    status       TEXT NOT NULL CHECK (status IN ('pending', 'user_paying', 'succeeded', 'cancelled', 'failed', 'reversed')),
    provider_ref TEXT UNIQUE,
    failure      TEXT,
    order_id     TEXT,
    checked_at   BIGINT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
INSERT INTO lane_payments_v2 (id, sale_id, location_id, device_id, amount_fen, status,
                              provider_ref, order_id, created_at, updated_at)
    SELECT id, sale_id, location_id, device_id, amount_fen, status, provider_ref, order_id,
           created_at, updated_at
    FROM lane_payments;

CREATE TABLE lane_payment_notifications_v2 (
    notify_id   TEXT PRIMARY KEY,
    payment_id  TEXT NOT NULL REFERENCES lane_payments_v2 (id),
    received_at BIGINT NOT NULL
);
INSERT INTO lane_payment_notifications_v2 (notify_id, payment_id, received_at)
    SELECT notify_id, payment_id, received_at FROM lane_payment_notifications;

DROP TABLE payment_notifications;
DROP TABLE payments;
DROP TABLE lane_payment_notifications;
DROP TABLE lane_payments;
ALTER TABLE payments_v2 RENAME TO payments;
ALTER TABLE payment_notifications_v2 RENAME TO payment_notifications;
ALTER TABLE lane_payments_v2 RENAME TO lane_payments;
ALTER TABLE lane_payment_notifications_v2 RENAME TO lane_payment_notifications;
CREATE INDEX payments_order ON payments (order_id);
CREATE INDEX payments_pending ON payments (status, created_at);
CREATE INDEX lane_payments_sale ON lane_payments (sale_id);
CREATE INDEX lane_payments_pending ON lane_payments (status, created_at);

-- A refund of one payment back to its tender: our id is the provider's `out_refund_no`.
-- `state`: `awaiting_approval` (above the approval threshold, waiting for a store manager),
-- `pending` (to be sent to the provider; retried until it answers), `processing` (accepted,
-- money on its way), and the final `success`, `closed` or `abnormal` (stuck at the provider:
-- needs a person). Internal tenders (cash, stored balance, points) are `success` at once.
-- `source` says what asked for it: `cancel` (a paid order cancelled), `return` (a lane or
-- online return; `source_id` the return's id), `late_payment` (paid after its order was
-- cancelled), `reversal`.
CREATE TABLE payment_refunds (
    id                 TEXT PRIMARY KEY,
    payment_id         TEXT NOT NULL REFERENCES payments (id),
    order_id           TEXT NOT NULL REFERENCES orders (id),
    method             TEXT NOT NULL,
    amount_fen         BIGINT NOT NULL CHECK (amount_fen > 0),
    reason             TEXT NOT NULL,
    source             TEXT NOT NULL CHECK (source IN ('cancel', 'return', 'late_payment', 'after_sale', 'reversal')),
    source_id          TEXT,
    state              TEXT NOT NULL CHECK (state IN ('awaiting_approval', 'pending', 'processing', 'success', 'closed', 'abnormal')),
    provider_refund_id TEXT,
    requested_by       TEXT NOT NULL,
    approved_by        TEXT,
    attempts           BIGINT NOT NULL DEFAULT 0,
    next_try_at        BIGINT,
    last_error         TEXT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX payment_refunds_payment ON payment_refunds (payment_id);
CREATE INDEX payment_refunds_order ON payment_refunds (order_id);
CREATE INDEX payment_refunds_open ON payment_refunds (state, next_try_at);
CREATE INDEX payment_refunds_created ON payment_refunds (created_at);

-- Every accepted refund notification (a retry is answered as taken and changes nothing).
CREATE TABLE refund_notifications (
    notify_id   TEXT PRIMARY KEY,
    refund_id   TEXT NOT NULL REFERENCES payment_refunds (id),
    received_at BIGINT NOT NULL
);

-- What head office must look at: money that arrived for an order that was cancelled meanwhile
-- (refunded automatically), a notified amount or currency that differs from ours (nothing
-- applied), a refund the provider calls abnormal or closed, a notification for a payment we do
-- not know. `resolved_at` / `resolved_by` once someone has dealt with it.
CREATE TABLE payment_alerts (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('late_payment', 'amount_mismatch', 'refund_failed', 'unknown_payment', 'reversal_failed')),
    provider    TEXT NOT NULL,
    payment_id  TEXT,
    order_id    TEXT,
    detail      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    resolved_at BIGINT,
    resolved_by TEXT
);
CREATE INDEX payment_alerts_open ON payment_alerts (resolved_at, created_at);
