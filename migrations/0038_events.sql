-- Event tracking (埋点, issue 19): the raw events of the shop's pages (sent by the page's script
-- with sendBeacon) and of the server (order placed, paid, refunded, …), one store for both, and
-- the daily counts per event name and channel kept as events arrive (the console's dashboard
-- reads only those). docs/EVENTS.md is the schema.
-- events: event_id is the client's UUID (deduplicated: a resend changes nothing) or the
-- server's `<name>:<subject>` key (so a retried business write records its event once);
-- occurred_at is when it happened (the client's clock, checked against the server's),
-- received_at when the server stored it (the retention sweep deletes by it); props a JSON
-- object of the event's own properties. member_id is NULL for anonymous shoppers and for
-- members who opted out of personalisation. Deleted after `events.retention_days`.
-- event_days: events per China day (UTC+8) of occurred_at, name and channel.
-- members.personalisation_opt_out: 1 when the member opted out (member centre).
-- Shared by SQLite and PostgreSQL.
CREATE TABLE events (
    event_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('client', 'server')),
    schema_version BIGINT NOT NULL,
    occurred_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    device_id TEXT,
    member_id TEXT,
    store_id TEXT,
    channel TEXT NOT NULL,
    page TEXT,
    props TEXT NOT NULL
);
CREATE INDEX events_by_received ON events (received_at);
CREATE INDEX events_by_member ON events (member_id);

CREATE TABLE event_days (
    day BIGINT NOT NULL,
    name TEXT NOT NULL,
    channel TEXT NOT NULL,
    events BIGINT NOT NULL,
    PRIMARY KEY (day, name, channel)
);

ALTER TABLE members ADD COLUMN personalisation_opt_out BIGINT NOT NULL DEFAULT 0;
