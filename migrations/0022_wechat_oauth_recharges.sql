-- A WeChat web authorisation may be started for a member's recharge as well as for an order's
-- payment (recharging inside WeChat's browser pays by JSAPI too). `order_id` can no longer be
-- NOT NULL and a CHECK cannot be added on SQLite, so the table of authorisations under way (short
-- lived, nothing references it) is rebuilt; exactly one of `order_id` and `recharge_id` names what
-- is being paid. Shared by SQLite and PostgreSQL.
CREATE TABLE wechat_oauth_states_v2 (
    state_hash  TEXT PRIMARY KEY,
    session_id  TEXT NOT NULL,
    order_id    TEXT REFERENCES orders (id),
    recharge_id TEXT REFERENCES recharges (id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    CHECK ((order_id IS NULL AND recharge_id IS NOT NULL) OR (order_id IS NOT NULL AND recharge_id IS NULL))
);
INSERT INTO wechat_oauth_states_v2 (state_hash, session_id, order_id, created_at, expires_at)
    SELECT state_hash, session_id, order_id, created_at, expires_at FROM wechat_oauth_states;
DROP TABLE wechat_oauth_states;
ALTER TABLE wechat_oauth_states_v2 RENAME TO wechat_oauth_states;
CREATE INDEX wechat_oauth_states_expiry ON wechat_oauth_states (expires_at);
