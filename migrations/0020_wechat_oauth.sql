-- The shop's WeChat web authorisation (网页授权, snsapi_base; issue 14): inside WeChat's browser
-- the shop learns the shopper's openid to pay by JSAPI. Shared by SQLite and PostgreSQL.

-- The openid WeChat gave this browser's shop session (for the merchant's app id): the WeChat
-- account using this browser, not the member, so it is kept with the session and ends with it.
ALTER TABLE web_sessions ADD COLUMN wechat_openid TEXT;

-- An authorisation under way: the `state` sent to WeChat (stored as its SHA-256), bound to the
-- browser's session and the order it pays; taken (deleted) by the first callback that names it,
-- whatever the outcome, and useless after `expires_at` (expired ones are deleted as new ones are
-- made). `session_id` is `web_sessions.id` without a foreign key, so that an expired session can
-- still be replaced while a stale state names it.
CREATE TABLE wechat_oauth_states (
    state_hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    order_id   TEXT NOT NULL REFERENCES orders (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX wechat_oauth_states_expiry ON wechat_oauth_states (expires_at);
