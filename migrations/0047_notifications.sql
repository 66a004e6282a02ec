-- Notifications that reach the shopper (issue 18): one service, three channels. The in-app
-- channel is the message centre's own tables (member_notices, after_sale_notices,
-- account_notices); the outside channels (SMS, WeChat mini-program subscribe messages) go
-- through an outbox: one row per event and channel (UNIQUE, so delivered at most once per event
-- per channel), written in the transaction of the business write, delivered by the
-- notification sweeper with retries and exponential backoff, then dead-lettered with its reason.
-- Shared by SQLite and PostgreSQL.
CREATE TABLE notification_outbox (
    id              TEXT PRIMARY KEY,
    event_key       TEXT NOT NULL,
    channel         TEXT NOT NULL CHECK (channel IN ('sms', 'wechat')),
    member_id       TEXT NOT NULL REFERENCES members (id),
    kind            TEXT NOT NULL,
    params          TEXT NOT NULL DEFAULT '{}',
    state           TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'skipped', 'dead')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claim           TEXT,
    lease_until     BIGINT,
    last_error      TEXT NOT NULL DEFAULT '',
    provider_ref    TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (event_key, channel)
);
CREATE INDEX notification_outbox_due ON notification_outbox (state, next_attempt_at);
CREATE INDEX notification_outbox_claim ON notification_outbox (claim);
CREATE INDEX notification_outbox_dead ON notification_outbox (state, updated_at);

-- Head office's overrides of the built-in templates, per event kind.
CREATE TABLE notification_templates (
    kind               TEXT PRIMARY KEY,
    title_zh           TEXT NOT NULL,
    title_en           TEXT NOT NULL,
    text_zh            TEXT NOT NULL,
    text_en            TEXT NOT NULL,
    sms_template_code  TEXT NOT NULL DEFAULT '',
    wechat_template_id TEXT NOT NULL DEFAULT '',
    wechat_page        TEXT NOT NULL DEFAULT '',
    wechat_fields      TEXT NOT NULL DEFAULT '',
    updated_by         TEXT NOT NULL,
    updated_at         BIGINT NOT NULL
);

-- A shopper's choices per event kind and channel (absent: the built-in default).
CREATE TABLE notification_preferences (
    member_id  TEXT NOT NULL REFERENCES members (id),
    kind       TEXT NOT NULL,
    channel    TEXT NOT NULL CHECK (channel IN ('sms', 'wechat')),
    enabled    BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (member_id, kind, channel)
);

-- One-time subscriptions the member accepted in the mini-program (wx.requestSubscribeMessage):
-- each accepted request adds one credit; a delivered subscribe message uses one.
CREATE TABLE notification_subscriptions (
    member_id   TEXT NOT NULL REFERENCES members (id),
    template_id TEXT NOT NULL,
    openid      TEXT NOT NULL,
    credits     BIGINT NOT NULL CHECK (credits >= 0),
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (member_id, template_id)
);
-- The client request ids of recorded subscription results (a repeat records nothing).
CREATE TABLE notification_subscription_requests (
    request_id TEXT PRIMARY KEY,
    member_id  TEXT NOT NULL REFERENCES members (id),
    created_at BIGINT NOT NULL
);
