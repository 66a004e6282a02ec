-- QR payments taken at a checkout lane (issue 3). The lane asks for an intent before the sale
-- exists on the server (it is pushed later, maybe in a batch), so the intent is kept here, not
-- in `payments` (whose rows belong to an order). The sandbox provider pays it like an online
-- payment; the sale pushed later references it by the payment's id, and only then does a row in
-- `payments` appear (counted once, with the sale). `order_id` is set when that sale is applied.
CREATE TABLE lane_payments (
    id           TEXT PRIMARY KEY,
    sale_id      TEXT NOT NULL,
    location_id  TEXT NOT NULL REFERENCES locations (id),
    device_id    TEXT NOT NULL,
    amount_fen   BIGINT NOT NULL CHECK (amount_fen > 0),
    status       TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'cancelled')),
    provider_ref TEXT UNIQUE,
    order_id     TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX lane_payments_sale ON lane_payments (sale_id);

-- Every accepted provider notification for a lane payment (a replay is refused).
CREATE TABLE lane_payment_notifications (
    notify_id   TEXT PRIMARY KEY,
    payment_id  TEXT NOT NULL REFERENCES lane_payments (id),
    received_at BIGINT NOT NULL
);
