-- Tracking events of shipped delivery orders (issue 16): entered by staff in the console or
-- received on the carrier webhook. `event_id` is the client's or the carrier's id of the event,
-- so a resent event is kept once. Shared by SQLite and PostgreSQL.
CREATE TABLE tracking_events (
    id          TEXT PRIMARY KEY,
    order_id    TEXT NOT NULL REFERENCES orders (id),
    event_id    TEXT NOT NULL UNIQUE,
    source      TEXT NOT NULL CHECK (source IN ('staff', 'carrier')),
    status      TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    location    TEXT NOT NULL DEFAULT '',
    happened_at BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX tracking_events_order ON tracking_events (order_id, happened_at);
