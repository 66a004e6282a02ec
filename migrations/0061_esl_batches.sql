-- Electronic shelf labels (issue 21), the sending side: every batch sent to the vendor and its
-- answer, and how far the markdown scheduler has looked.
-- esl_batches: one row per attempt to send a batch of label updates of a store; vendor the
-- adapter (`pricer`); status sent | failed; http_status the vendor's answer when there was
-- one; error its text; labels the number of label updates, items of items sent.
-- esl_schedule: name `boundaries`; checked_until (Unix ms) the instant up to which promotion
-- starts and ends and markdown window boundaries have been queued.
-- Shared by SQLite and PostgreSQL.
CREATE TABLE esl_batches (
    id TEXT PRIMARY KEY,
    store_id TEXT NOT NULL,
    vendor TEXT NOT NULL,
    labels BIGINT NOT NULL,
    items BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('sent', 'failed')),
    http_status BIGINT,
    error TEXT,
    started_at BIGINT NOT NULL,
    finished_at BIGINT NOT NULL
);
CREATE INDEX esl_batches_by_store ON esl_batches (store_id, started_at);
CREATE TABLE esl_schedule (
    name TEXT PRIMARY KEY,
    checked_until BIGINT NOT NULL
);
