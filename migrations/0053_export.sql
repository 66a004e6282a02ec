-- Export to a big-data platform (issue 19): the daily Parquet export's runs, and member tags
-- computed outside (by the platform) and imported back from CSV or Parquet files.
-- export_runs: one row per export of a China day (UTC+8, `day` is YYYY-MM-DD), newest last;
-- status running | succeeded | failed; origin schedule | console | cli; destination the
-- folder or bucket written; row_count and byte_count over every dataset; the manifest's SHA-256 (equal
-- between two runs of an unchanged day but for generated_at, see docs/CONTRACTS.md), error the
-- failure's text.
-- imported_member_tags: the latest value of each tag of a member, from the import batch that
-- last set it (re-importing the same file changes nothing but imported_at of an identical
-- batch is kept: the batch id is the file's SHA-256).
-- member_tag_imports: one row per import batch (the file's SHA-256 as its id), what it held.
-- events_by_occurred, stock_movements_created: the export reads a day in key order by these.
-- Shared by SQLite and PostgreSQL.
CREATE TABLE export_runs (
    id TEXT PRIMARY KEY,
    day TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    origin TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    destination TEXT NOT NULL,
    row_count BIGINT NOT NULL DEFAULT 0,
    byte_count BIGINT NOT NULL DEFAULT 0,
    manifest_sha256 TEXT,
    error TEXT,
    started_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX export_runs_by_day ON export_runs (day, started_at);
CREATE INDEX export_runs_by_start ON export_runs (started_at);

CREATE TABLE member_tag_imports (
    batch_id TEXT PRIMARY KEY,
    file_name TEXT NOT NULL,
    format TEXT NOT NULL,
    rows_total BIGINT NOT NULL,
    rows_accepted BIGINT NOT NULL,
    rows_rejected BIGINT NOT NULL,
    imported_by TEXT NOT NULL,
    imported_at BIGINT NOT NULL
);

CREATE TABLE imported_member_tags (
    member_id TEXT NOT NULL REFERENCES members (id),
    tag TEXT NOT NULL,
    value TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    imported_at BIGINT NOT NULL,
    PRIMARY KEY (member_id, tag)
);

CREATE INDEX events_by_occurred ON events (occurred_at, event_id);
CREATE INDEX stock_movements_created ON stock_movements (created_at, id);
CREATE INDEX members_created ON members (created_at, id);
