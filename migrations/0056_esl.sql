-- Electronic shelf labels (issue 21): each store's labels, each linked to one SKU, and the
-- durable per-store queue of label updates folded into the label rows.
-- esl_labels: store_id is the location code; label_id the vendor's label barcode (unique in a
-- store); client_id the id of the request that linked it (a retry with the same id changes
-- nothing). The queue: desired_seq is set from the `esl` counter by every change that may
-- change the label's price (a price edit, a promotion, a markdown window opening or closing),
-- in the transaction of that change; sent_seq is the desired_seq the vendor last accepted. A
-- label is pending while desired_seq > sent_seq; effective_at (Unix ms) is the instant its
-- price is rendered for (a scheduled boundary, or the time of the change). status is
-- pending | shown | failed; attempts, next_attempt_at and last_error describe the retries of
-- a rejected batch; shown is the JSON of the shelf price last accepted (the virtual label
-- wall renders it), shown_at when. linked is 1 once the vendor has linked the label to the
-- SKU's item.
-- Shared by SQLite and PostgreSQL.
CREATE TABLE esl_labels (
    store_id TEXT NOT NULL,
    label_id TEXT NOT NULL,
    sku_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    linked BIGINT NOT NULL DEFAULT 0,
    desired_seq BIGINT NOT NULL DEFAULT 0,
    sent_seq BIGINT NOT NULL DEFAULT 0,
    effective_at BIGINT NOT NULL DEFAULT 0,
    reason TEXT NOT NULL DEFAULT '',
    queued_at BIGINT,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'shown', 'failed')),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    shown TEXT,
    shown_at BIGINT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (store_id, label_id)
);
CREATE INDEX esl_labels_by_sku ON esl_labels (store_id, sku_id);
CREATE INDEX esl_labels_queue ON esl_labels (store_id, desired_seq);
INSERT INTO counters (name, value) VALUES ('esl', 0);
