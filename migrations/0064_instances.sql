-- Several server instances on one database (issue 20, docs/OPERATIONS.md).
-- job_leases: one row per periodic job (`sweeper.points_expiry`, `export`, …); holder the
-- instance id that last took it; lease_until (Unix ms) until when no other instance takes it;
-- runs how many times it was taken; started_at when the holder last took it.
-- rate_windows: a fixed-window counter per limit key and window (`window_ms`) starting at
-- `window_start` (Unix ms, a multiple of window_ms); hits the attempts counted; expires_at
-- when the window is over (swept).
-- catalog_import_jobs: a catalog CSV import (app::catalog_import) and its progress, readable
-- by any instance; phase checking | importing | imported | refused; total / done the products to
-- write and written; imported the count when imported; errors a JSON array of {line, message}
-- when refused; holder the instance running it, heartbeat_at its last progress write (a job
-- whose instance stopped is shown refused: it imports in one transaction, so nothing was).
-- Shared by SQLite and PostgreSQL.
CREATE TABLE job_leases (
    job TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    lease_until BIGINT NOT NULL,
    runs BIGINT NOT NULL DEFAULT 0,
    started_at BIGINT NOT NULL
);
CREATE TABLE rate_windows (
    key TEXT NOT NULL,
    window_ms BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    hits BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (key, window_ms, window_start)
);
CREATE INDEX rate_windows_by_expiry ON rate_windows (expires_at);
CREATE TABLE catalog_import_jobs (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    phase TEXT NOT NULL CHECK (phase IN ('checking', 'importing', 'imported', 'refused')),
    total BIGINT NOT NULL DEFAULT 0,
    done BIGINT NOT NULL DEFAULT 0,
    imported BIGINT,
    errors TEXT,
    holder TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);
CREATE INDEX catalog_import_jobs_by_start ON catalog_import_jobs (started_at);
