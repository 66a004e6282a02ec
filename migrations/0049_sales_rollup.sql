-- Sales analytics (issue 19): daily sales kept incrementally for the console's dashboards, so a
-- page never scans orders. Shared by SQLite and PostgreSQL. docs/CONTRACTS.md ("Sales rollup").
--
-- sales_days: per China day (UTC+8) of the order's creation, store (location code) and channel
-- (`delivery`, `pickup` — online orders by fulfilment —, `lane` — orders.channel 'pos' —,
-- `scan_and_go`): orders sold, of them by members (a count only: no member is named here),
-- GMV (the orders' paid totals), discounts, items (units; a weighed line counts one), and for
-- margin the amount and cost of the lines whose SKU has a cost (skus.cost_fen, at the time the
-- order was rolled up). Refunds paid back (payment_refunds reaching `success`) are counted on
-- the China day they were paid back, under the order's store and channel.
-- sales_sku_days: per day, store, channel and SKU the quantity and amount sold (top products;
-- categories are joined at read time from products); sales_sku_spans the same over weeks and
-- four-week spans.
--
-- Exactly once: every order and refund counted has a row in sales_rolled, inserted in the same
-- transaction that adds it to the totals (a re-run, a restart, a second server finds the marker
-- and adds nothing). The job (app::sales_report::run_rollup, in the sweeper) looks at orders and
-- refunds whose updated_at is at or after its cursor minus a lag window (10 minutes), so a
-- transaction that commits late (its updated_at older than rows already seen) is still found;
-- the cursor (sales_rollup_state) only moves to the newest updated_at it has seen. Its UPDATE
-- of the state row is the transaction's first statement, so two jobs take turns.
-- An order is sold once it is paid: status past pending_payment and not cancelled, or
-- cancelled with a payment that was paid (its refund then subtracts); lane sales (channel
-- 'pos') arrive completed.
ALTER TABLE skus ADD COLUMN cost_fen BIGINT;

CREATE TABLE sales_days (
    day               BIGINT NOT NULL,
    store_id          TEXT NOT NULL,
    channel           TEXT NOT NULL,
    orders            BIGINT NOT NULL DEFAULT 0,
    member_orders     BIGINT NOT NULL DEFAULT 0,
    gmv_fen           BIGINT NOT NULL DEFAULT 0,
    discount_fen      BIGINT NOT NULL DEFAULT 0,
    items             BIGINT NOT NULL DEFAULT 0,
    costed_amount_fen BIGINT NOT NULL DEFAULT 0,
    cost_fen          BIGINT NOT NULL DEFAULT 0,
    refunds           BIGINT NOT NULL DEFAULT 0,
    refund_fen        BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, store_id, channel)
);

CREATE TABLE sales_sku_days (
    day        BIGINT NOT NULL,
    store_id   TEXT NOT NULL,
    channel    TEXT NOT NULL,
    sku_id     TEXT NOT NULL,
    qty        BIGINT NOT NULL DEFAULT 0,
    amount_fen BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, store_id, channel, sku_id)
);
CREATE INDEX sales_sku_days_sku ON sales_sku_days (sku_id, day);

-- sales_sku_spans: the same per SKU and store (all channels) over aligned spans of span_days (7:
-- Monday-started weeks; 28: four such weeks, counted from the Monday before 1970-01-01) starting
-- on start_day, so the best sellers of a long range read whole spans and at most a few edge days
-- instead of every day.
CREATE TABLE sales_sku_spans (
    span_days  BIGINT NOT NULL,
    start_day  BIGINT NOT NULL,
    store_id   TEXT NOT NULL,
    sku_id     TEXT NOT NULL,
    qty        BIGINT NOT NULL DEFAULT 0,
    amount_fen BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (span_days, start_day, store_id, sku_id)
);

-- kind 'order' or 'refund'; batch: the job's run that counted it (its rows are added up by it).
CREATE TABLE sales_rolled (
    kind       TEXT NOT NULL CHECK (kind IN ('order', 'refund')),
    subject_id TEXT NOT NULL,
    batch      BIGINT NOT NULL,
    PRIMARY KEY (kind, subject_id)
);
CREATE INDEX sales_rolled_batch ON sales_rolled (batch);

-- The job's cursors (updated_at of the newest order and refund counted) and its run counter.
CREATE TABLE sales_rollup_state (
    name           TEXT PRIMARY KEY,
    orders_cursor  BIGINT NOT NULL,
    refunds_cursor BIGINT NOT NULL,
    batch          BIGINT NOT NULL
);
INSERT INTO sales_rollup_state (name, orders_cursor, refunds_cursor, batch) VALUES ('sales', 0, 0, 0);

CREATE INDEX orders_updated ON orders (updated_at);
CREATE INDEX payment_refunds_updated ON payment_refunds (updated_at);
