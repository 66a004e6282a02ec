-- Recommendations (issue 19): lists computed by the recommendation job (app::recommendations)
-- and served as they are, so a page reads one short indexed range per list.
-- rec_lists: one ranked list per kind and subject:
--   kind 'together' (frequently bought together): subject a SKU id, items its co-purchased
--     SKUs (paid online orders and lane sales), score the cosine of the co-occurrence;
--   kind 'similar': subject a SKU id, items SKUs of other products in the same category
--     (same brand, same price band first);
--   kind 'popular': subject a location id ('' for the whole chain), items its best sellers;
--   kind 'for_you': subject a member id, candidates from the member's views and purchases
--     (filtered when served: just bought, out of stock at the member's store).
--   score: millionths; run_id: the job run (Unix ms) that wrote the row (rows of an older run
--   are deleted at the end of a run, so a list of a subject no longer computed disappears).
-- rec_runs: the job's runs (when, how much it read and wrote).
-- rec_impressions: lists shown per China day (UTC+8) and list kind; clicks are the shop's
--   `click` events with target `recommendation` (docs/EVENTS.md).
-- Shared by SQLite and PostgreSQL.
CREATE TABLE rec_lists (
    kind       TEXT NOT NULL,
    subject    TEXT NOT NULL,
    rank       BIGINT NOT NULL,
    sku_id     TEXT NOT NULL,
    product_id TEXT NOT NULL,
    score      BIGINT NOT NULL,
    run_id     BIGINT NOT NULL,
    PRIMARY KEY (kind, subject, rank)
);
CREATE INDEX rec_lists_by_run ON rec_lists (kind, run_id);

CREATE TABLE rec_runs (
    run_id      BIGINT PRIMARY KEY,
    finished_at BIGINT NOT NULL,
    orders      BIGINT NOT NULL,
    members     BIGINT NOT NULL,
    rows_written BIGINT NOT NULL
);

CREATE TABLE rec_impressions (
    day         BIGINT NOT NULL,
    list        TEXT NOT NULL,
    impressions BIGINT NOT NULL,
    PRIMARY KEY (day, list)
);
