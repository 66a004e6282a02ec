-- Growth analytics rollups (issue 19): the conversion funnel, retention cohorts, promotion and
-- coupon ROI and the flash-sale / group-buy / bargain reports, all kept incrementally in the
-- transaction that stores the events they follow (`storage::growth::count`, called by
-- `storage::events::insert` with the events newly stored, never a duplicate), so the console's
-- pages read only these tables. docs/ANALYTICS.md describes what each number means.
-- Shared by SQLite and PostgreSQL.

-- Funnel: a visitor (`d:<device>`, or for a paid order whose member has no tracked device
-- `m:<member>` / `o:<order>`) reached a step (view, cart, checkout, paid) on a China day
-- (UTC+8); counted once per (day, visitor, step), under the channel and campaign it had then.
CREATE TABLE funnel_seen (
    day      BIGINT NOT NULL,
    visitor  TEXT NOT NULL,
    step     TEXT NOT NULL CHECK (step IN ('view', 'cart', 'checkout', 'paid')),
    channel  TEXT NOT NULL,
    campaign TEXT NOT NULL,
    at       BIGINT NOT NULL,
    PRIMARY KEY (day, visitor, step)
);
CREATE INDEX funnel_seen_visitor ON funnel_seen (visitor, at);

-- Distinct visitors per day, step, channel and campaign ('' = none).
CREATE TABLE funnel_days (
    day      BIGINT NOT NULL,
    step     TEXT NOT NULL,
    channel  TEXT NOT NULL,
    campaign TEXT NOT NULL,
    visitors BIGINT NOT NULL,
    PRIMARY KEY (day, step, channel, campaign)
);

-- Retention: a member's first week with a paid order (week = Monday-based China week number,
-- (day + 3) / 7), the weeks they had one, and the cohort cells (members of cohort
-- `cohort_week` active `weeks_after` weeks later; weeks_after 0 is the cohort's size).
CREATE TABLE member_first_week (
    member_id TEXT PRIMARY KEY,
    week      BIGINT NOT NULL
);
CREATE TABLE member_active_weeks (
    member_id TEXT NOT NULL,
    week      BIGINT NOT NULL,
    PRIMARY KEY (member_id, week)
);
CREATE TABLE retention_cells (
    cohort_week BIGINT NOT NULL,
    weeks_after BIGINT NOT NULL,
    members     BIGINT NOT NULL,
    PRIMARY KEY (cohort_week, weeks_after)
);

-- Promotion and coupon ROI per China day: kind 'promotion' (ref = promotion id), 'coupon'
-- (ref = coupon template id) or 'none' (ref '', the paid orders with neither: the baseline).
-- claimed: coupons claimed in the coupon centre; used: coupons used by paid orders; orders,
-- discount_fen (its discount on them) and gmv_fen (their totals) of paid orders using it.
CREATE TABLE promo_days (
    day          BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    ref_id       TEXT NOT NULL,
    claimed      BIGINT NOT NULL DEFAULT 0,
    used         BIGINT NOT NULL DEFAULT 0,
    orders       BIGINT NOT NULL DEFAULT 0,
    discount_fen BIGINT NOT NULL DEFAULT 0,
    gmv_fen      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, kind, ref_id)
);

-- Paid orders of flash sales ('flash_sale', ref = the flash sale), group-buys ('group_buy',
-- ref = the group-buy) and bargains ('bargain', ref = the bargain) per China day.
CREATE TABLE campaign_days (
    day     BIGINT NOT NULL,
    kind    TEXT NOT NULL,
    ref_id  TEXT NOT NULL,
    orders  BIGINT NOT NULL,
    units   BIGINT NOT NULL,
    gmv_fen BIGINT NOT NULL,
    PRIMARY KEY (day, kind, ref_id)
);
