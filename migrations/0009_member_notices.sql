-- Messages to a member about their orders (issue 4: "the shopper is notified"): written in the
-- transaction that moves the order, shown in the shop's message centre (`/me/messages`).
-- One notice per order and kind, so a repeated move never notifies twice.
CREATE TABLE member_notices (
    id          TEXT PRIMARY KEY,
    member_id   TEXT NOT NULL REFERENCES members (id),
    order_id    TEXT NOT NULL REFERENCES orders (id),
    kind        TEXT NOT NULL CHECK (kind IN ('paid', 'ready_for_pickup', 'shipped', 'delivered', 'cancelled', 'refunded')),
    order_no    TEXT NOT NULL,
    location_id TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    read_at     BIGINT,
    UNIQUE (order_id, kind)
);
CREATE INDEX member_notices_member ON member_notices (member_id, created_at);
