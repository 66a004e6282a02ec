-- Bargain (砍价, issue 17): head office's bargains on a SKU, the bargains members start from
-- them (`bargain_runs`, shared as /bargain/{id}) and each run's schedule of cuts. Shared by
-- SQLite and PostgreSQL.
--
-- When a member starts a bargain the server draws its whole schedule at once (`bargain_cuts`,
-- one row per helper slot 1..helpers, random amounts from a CSPRNG that sum exactly to the start
-- price minus the floor price); nothing shows an unused slot. A help takes the next slot in one
-- transaction that first counts the run's `helps` up under a conditional update (the run's row
-- lock on PostgreSQL, the single writer on SQLite), so every slot is used exactly once and the
-- floor is reached exactly at the last one. One help per member and run (UNIQUE), at most the
-- configured helps a member gives a day (`bargain_help_days`, counted up under its limit).
CREATE TABLE bargains (
    id               TEXT PRIMARY KEY,
    sku_id           TEXT NOT NULL,
    name_zh          TEXT NOT NULL,
    name_en          TEXT NOT NULL,
    start_price_fen  BIGINT NOT NULL CHECK (start_price_fen > 0),
    floor_price_fen  BIGINT NOT NULL CHECK (floor_price_fen > 0 AND floor_price_fen < start_price_fen),
    helpers          BIGINT NOT NULL CHECK (helpers BETWEEN 2 AND 100),
    hours            BIGINT NOT NULL CHECK (hours > 0),
    per_member_limit BIGINT NOT NULL CHECK (per_member_limit > 0),
    starts_at        BIGINT NOT NULL,
    ends_at          BIGINT NOT NULL,
    stock_units      BIGINT NOT NULL CHECK (stock_units > 0),
    units_taken      BIGINT NOT NULL DEFAULT 0 CHECK (units_taken >= 0 AND units_taken <= stock_units),
    new_helpers_only BIGINT NOT NULL DEFAULT 0,
    status           TEXT NOT NULL CHECK (status IN ('active', 'paused')),
    created_by       TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX bargains_sku ON bargains (sku_id, status);

-- A member's bargain: `price_fen` falls by each help's cut; `open` until bought (`bought`, with
-- its order; back to `open` when that order is cancelled before payment). Past `deadline_at` it
-- can be neither helped nor bought.
CREATE TABLE bargain_runs (
    id              TEXT PRIMARY KEY,
    bargain_id      TEXT NOT NULL REFERENCES bargains (id),
    member_id       TEXT NOT NULL,
    start_price_fen BIGINT NOT NULL,
    floor_price_fen BIGINT NOT NULL,
    price_fen       BIGINT NOT NULL CHECK (price_fen >= floor_price_fen AND price_fen <= start_price_fen),
    helpers         BIGINT NOT NULL,
    helps           BIGINT NOT NULL DEFAULT 0 CHECK (helps >= 0 AND helps <= helpers),
    status          TEXT NOT NULL CHECK (status IN ('open', 'bought')),
    order_id        TEXT UNIQUE,
    deadline_at     BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    bought_at       BIGINT
);
CREATE INDEX bargain_runs_member ON bargain_runs (bargain_id, member_id);

-- The schedule: slot n is used by the n-th help (helper and time set once).
CREATE TABLE bargain_cuts (
    run_id    TEXT NOT NULL REFERENCES bargain_runs (id),
    slot      BIGINT NOT NULL,
    cut_fen   BIGINT NOT NULL CHECK (cut_fen > 0),
    helper_id TEXT,
    help_id   TEXT UNIQUE,
    helped_at BIGINT,
    PRIMARY KEY (run_id, slot),
    UNIQUE (run_id, helper_id)
);

-- Helps a member gave on one China day.
CREATE TABLE bargain_help_days (
    member_id TEXT NOT NULL,
    day       BIGINT NOT NULL,
    helps     BIGINT NOT NULL,
    PRIMARY KEY (member_id, day)
);
