-- Daily reconciliation (issue 14): a payment provider's bill of one day (a Beijing calendar day,
-- UTC+8) matched against the payments and refunds on record. Shared by SQLite and PostgreSQL.

-- One run per provider and day: the record that the day was reconciled (the daily job never
-- runs a day twice; reconciling a day again by hand replaces its items and counts in one
-- transaction). `bill_date` is `YYYY-MM-DD`; `provider` `wechat_pay` or `alipay`; `our_records`
-- the payments and refunds of ours dated that day; `run_by` `job` or the staff actor who asked.
CREATE TABLE reconciliation_runs (
    id             TEXT PRIMARY KEY,
    provider       TEXT NOT NULL CHECK (provider IN ('wechat_pay', 'alipay')),
    bill_date      TEXT NOT NULL,
    bill_lines     BIGINT NOT NULL,
    our_records    BIGINT NOT NULL,
    matched        BIGINT NOT NULL,
    missing_ours   BIGINT NOT NULL,
    missing_theirs BIGINT NOT NULL,
    amount_differs BIGINT NOT NULL,
    run_by         TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    UNIQUE (provider, bill_date)
);
CREATE INDEX reconciliation_runs_date ON reconciliation_runs (bill_date);

-- A run's items, one per bill line and one per record of ours the bill lacks. `outcome`:
-- `matched`, `missing_ours` (on the bill, not on record here), `missing_theirs` (on record here
-- for that day, not on the bill), `amount_differs`. `kind` `payment` or `refund`. Ours:
-- `payment_id`, `refund_id` (our refund id = the provider's out_refund_no), `order_id`,
-- `our_fen`, `our_at`; theirs: `out_trade_no`, `out_refund_no`, `transaction_id`,
-- `provider_refund_id`, `their_fen`, `their_at`. `note` says more where there is more to say.
CREATE TABLE reconciliation_items (
    run_id             TEXT NOT NULL REFERENCES reconciliation_runs (id),
    line_no            BIGINT NOT NULL,
    kind               TEXT NOT NULL CHECK (kind IN ('payment', 'refund')),
    outcome            TEXT NOT NULL CHECK (outcome IN ('matched', 'missing_ours', 'missing_theirs', 'amount_differs')),
    out_trade_no       TEXT NOT NULL,
    out_refund_no      TEXT,
    transaction_id     TEXT,
    provider_refund_id TEXT,
    payment_id         TEXT,
    refund_id          TEXT,
    order_id           TEXT,
    our_fen            BIGINT,
    their_fen          BIGINT,
    our_at             BIGINT,
    their_at           BIGINT,
    note               TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, line_no)
);
CREATE INDEX reconciliation_items_outcome ON reconciliation_items (run_id, outcome, line_no);

-- A day the daily job could not reconcile yet (the bill not made yet, the provider
-- unavailable): tried again at `next_try_at`, at most `payments.reconcile_attempts` times;
-- `next_try_at` NULL once the job has given up (reconciling by hand still works). Removed when
-- the day's run is recorded.
CREATE TABLE reconciliation_waits (
    provider    TEXT NOT NULL,
    bill_date   TEXT NOT NULL,
    attempts    BIGINT NOT NULL,
    next_try_at BIGINT,
    last_error  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (provider, bill_date)
);
CREATE INDEX reconciliation_waits_due ON reconciliation_waits (next_try_at);

-- Head office looks payments up by when they were made and by the provider's refund id.
CREATE INDEX payments_by_created ON payments (created_at);
CREATE INDEX payments_by_method_paid ON payments (method, paid_at);
CREATE INDEX payment_refunds_by_provider_ref ON payment_refunds (provider_refund_id);
CREATE INDEX payment_refunds_by_method_state ON payment_refunds (method, state, updated_at);
CREATE INDEX lane_payments_by_method_status ON lane_payments (method, status, updated_at);
