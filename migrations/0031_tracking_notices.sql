-- A member is also told when the carrier is bringing the parcel (`out_for_delivery`) and when
-- the carrier reports a problem with it (`delivery_exception`), from tracking events (issue 16).
-- The kinds are a CHECK, which SQLite cannot change in place, so the table is rebuilt with its
-- rows (nothing references it) and its index. Shared by SQLite and PostgreSQL.
CREATE TABLE member_notices_v2 (
    id          TEXT PRIMARY KEY,
    member_id   TEXT NOT NULL REFERENCES members (id),
    order_id    TEXT NOT NULL REFERENCES orders (id),
    kind        TEXT NOT NULL CHECK (kind IN ('paid', 'ready_for_pickup', 'shipped', 'delivered', 'cancelled', 'refunded', 'out_for_delivery', 'delivery_exception')),
    order_no    TEXT NOT NULL,
    location_id TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    read_at     BIGINT,
    UNIQUE (order_id, kind)
);
INSERT INTO member_notices_v2 (id, member_id, order_id, kind, order_no, location_id, created_at, read_at)
    SELECT id, member_id, order_id, kind, order_no, location_id, created_at, read_at FROM member_notices;
DROP TABLE member_notices;
ALTER TABLE member_notices_v2 RENAME TO member_notices;
CREATE INDEX member_notices_member ON member_notices (member_id, created_at);
