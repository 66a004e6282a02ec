-- Member tags and segments (issue 19). Shared by SQLite and PostgreSQL.
--
-- `member_rfm` and the rule tags in `member_tags` (source 'rule') are written by the scheduled
-- segments job (app::segments::compute): one row per member with a paid order, recomputed from
-- the orders of every channel, so a run over the same orders at the same time writes exactly
-- the same rows. Members who no longer qualify lose their rows at the end of a run.
CREATE TABLE member_rfm (
    member_id     TEXT PRIMARY KEY,
    recency_days  BIGINT NOT NULL,
    frequency     BIGINT NOT NULL,
    monetary_fen  BIGINT NOT NULL,
    r_score       BIGINT NOT NULL CHECK (r_score BETWEEN 1 AND 5),
    f_score       BIGINT NOT NULL CHECK (f_score BETWEEN 1 AND 5),
    m_score       BIGINT NOT NULL CHECK (m_score BETWEEN 1 AND 5),
    first_at      BIGINT NOT NULL,
    last_at       BIGINT NOT NULL,
    computed_at   BIGINT NOT NULL
);
CREATE INDEX member_rfm_computed ON member_rfm (computed_at);

-- A member's tags: `value` is the tag's figure (days, percent, score; see docs/CONTRACTS.md).
CREATE TABLE member_tags (
    member_id  TEXT NOT NULL,
    tag        TEXT NOT NULL,
    source     TEXT NOT NULL CHECK (source IN ('rule')),
    value      BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (member_id, tag)
);
CREATE INDEX member_tags_tag ON member_tags (tag, member_id);
CREATE INDEX member_tags_run ON member_tags (source, updated_at);

-- Head office's segments: rules (JSON, app::segments::SegmentRules) over tags and RFM scores.
CREATE TABLE segments (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    rules      TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- An action on a segment (issue a coupon, notify), by the client's id: sending it again
-- resumes the same action. `segment_action_members` holds one row per member reached, so each
-- member is reached once per action whatever the retries.
CREATE TABLE segment_actions (
    id          TEXT PRIMARY KEY,
    segment_id  TEXT NOT NULL REFERENCES segments (id),
    kind        TEXT NOT NULL CHECK (kind IN ('coupon', 'notify')),
    template_id TEXT,
    message     TEXT NOT NULL DEFAULT '',
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX segment_actions_segment ON segment_actions (segment_id, created_at);

CREATE TABLE segment_action_members (
    action_id TEXT NOT NULL REFERENCES segment_actions (id),
    member_id TEXT NOT NULL,
    outcome   TEXT NOT NULL,
    coupon_id TEXT,
    at        BIGINT NOT NULL,
    PRIMARY KEY (action_id, member_id)
);
