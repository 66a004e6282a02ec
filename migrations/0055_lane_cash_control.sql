-- Cash control at the lanes (issue 21): what each lane pushes about its cash drawer, exactly
-- once by the event's client id (POST /api/v1/pos/cash-events).
-- lane_cash_events: every event as received (kind shift_opened | shift_closed | cash_in |
-- cash_out | offline_on | offline_off), amount in fen (opening cash, counted cash, cash moved),
-- occurred_at the lane's time, received_at the server's (Unix ms).
-- lane_shifts: one row per lane shift, opened by its shift_opened event and completed by its
-- shift_closed event (whichever arrives first creates the row), with the Z report's figures in
-- fen and the report itself as JSON: what head office's cash page lists.
-- Shared by SQLite and PostgreSQL.
CREATE TABLE lane_cash_events (
    id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    location_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('shift_opened', 'shift_closed', 'cash_in', 'cash_out',
        'offline_on', 'offline_off')),
    shift_id TEXT,
    cashier TEXT NOT NULL,
    approved_by TEXT,
    amount BIGINT,
    reason TEXT,
    occurred_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL
);
CREATE INDEX lane_cash_events_by_store ON lane_cash_events (location_id, occurred_at);

CREATE TABLE lane_shifts (
    id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    location_id TEXT NOT NULL,
    cashier TEXT NOT NULL,
    opened_at BIGINT,
    opening_cash BIGINT,
    closed_at BIGINT,
    sales BIGINT,
    sales_total BIGINT,
    expected_cash BIGINT,
    counted_cash BIGINT,
    difference BIGINT,
    handed_over_to TEXT,
    z_report TEXT
);
CREATE INDEX lane_shifts_by_store ON lane_shifts (location_id, closed_at);
