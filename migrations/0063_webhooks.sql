-- Webhooks (issue 20) on top of the change feeds: endpoints head office registers, and one
-- delivery per (endpoint, change) of the feeds it asked for.
-- webhook_endpoints: url the receiver (http or https); events the feed names it receives,
-- comma-separated (orders,stock,members,payments,refunds); secret the HMAC-SHA256 key (shown
-- once at registration); status active | disabled (disabled_reason why: by whom, or
-- `persistent_failure`); cursor the last change `seq` turned into deliveries; failing_since (Unix
-- ms) the first failed attempt since the last success, failures how many in a row.
-- webhook_deliveries: id the delivery id the receiver dedupes by (X-Retail-Delivery); seq, feed,
-- entity_key, kind the change; status pending | delivered | failed; attempts made; due_at when
-- the next attempt may start (a claimed delivery is leased: due_at pushed into the future while
-- it is sent); last_status the receiver's HTTP status, last_error what went wrong; failed when it
-- still fails at retry_until (24 h after it was created or replayed). Shared by SQLite and
-- PostgreSQL.
CREATE TABLE webhook_endpoints (
    id              TEXT PRIMARY KEY,
    url             TEXT NOT NULL,
    events          TEXT NOT NULL,
    secret          TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    disabled_reason TEXT,
    cursor          BIGINT NOT NULL,
    failing_since   BIGINT,
    failures        BIGINT NOT NULL DEFAULT 0,
    created_by      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE TABLE webhook_deliveries (
    id           TEXT PRIMARY KEY,
    endpoint_id  TEXT NOT NULL REFERENCES webhook_endpoints (id),
    seq          BIGINT NOT NULL,
    feed         TEXT NOT NULL,
    entity_key   TEXT NOT NULL,
    kind         TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts     BIGINT NOT NULL DEFAULT 0,
    due_at       BIGINT NOT NULL,
    retry_until  BIGINT NOT NULL,
    last_status  BIGINT,
    last_error   TEXT,
    created_at   BIGINT NOT NULL,
    delivered_at BIGINT,
    UNIQUE (endpoint_id, seq)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (endpoint_id, status, seq);
CREATE INDEX webhook_deliveries_entity ON webhook_deliveries (endpoint_id, entity_key, seq);
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (endpoint_id, created_at);
