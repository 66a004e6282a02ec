-- Merchant settlement statements (issue 20), shared by SQLite and PostgreSQL. docs/CONTRACTS.md
-- ("Merchant statements").
--
-- merchant_statements: per merchant and China day (UTC+8) `period_day` ('YYYY-MM-DD'), what the
-- platform owes the merchant for that day: the paid amount of its lines of online orders whose
-- payment completed that day, minus the refunds completed that day (pro-rated over the order's
-- lines), minus the platform's commission (net of the commission given back on refunds).
-- Built exactly once by app::merchant_statements::build_due (UNIQUE (merchant_id, period_day),
-- and one row per built day in merchant_statement_days, written in the day's transaction).
-- `frozen` until `frozen_until` (the end of the day + `merchants.after_sale_days`), then
-- `settleable`; head office marks it `paid_out` with the bank transfer's reference.
CREATE TABLE merchant_statements (
    id             TEXT PRIMARY KEY,
    merchant_id    TEXT NOT NULL REFERENCES merchants (id),
    period_day     TEXT NOT NULL,
    paid_fen       BIGINT NOT NULL,
    refunded_fen   BIGINT NOT NULL,
    commission_fen BIGINT NOT NULL,
    net_fen        BIGINT NOT NULL,
    line_count     BIGINT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('frozen', 'settleable', 'paid_out')),
    frozen_until   BIGINT NOT NULL,
    built_at       BIGINT NOT NULL,
    paid_out_at    BIGINT,
    paid_out_by    TEXT,
    payout_ref     TEXT,
    UNIQUE (merchant_id, period_day)
);
CREATE INDEX merchant_statements_day ON merchant_statements (period_day, merchant_id);
CREATE INDEX merchant_statements_frozen ON merchant_statements (status, frozen_until);

-- One row per statement line: a sale (an order line of the merchant's product) or a refund's
-- share of one (`amount_fen` and `commission_fen` negative). `rate_bp` is the commission rate
-- frozen on the line when the statement was built (a refund's: the rate of the sale it gives
-- back, when that sale is on a statement).
CREATE TABLE merchant_statement_lines (
    statement_id   TEXT NOT NULL REFERENCES merchant_statements (id),
    line_no        BIGINT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('sale', 'refund')),
    order_id       TEXT NOT NULL,
    order_no       TEXT NOT NULL,
    order_line_no  BIGINT NOT NULL,
    refund_id      TEXT,
    sku_id         TEXT NOT NULL,
    category_id    TEXT NOT NULL,
    qty            BIGINT NOT NULL,
    amount_fen     BIGINT NOT NULL,
    rate_bp        BIGINT NOT NULL,
    commission_fen BIGINT NOT NULL,
    at             BIGINT NOT NULL,
    PRIMARY KEY (statement_id, line_no)
);
CREATE INDEX merchant_statement_lines_order ON merchant_statement_lines (order_id, kind);

-- The China days whose statements are built (a day with no sales gets a row here and no
-- statement): the build's guard, its first write.
CREATE TABLE merchant_statement_days (
    period_day TEXT PRIMARY KEY,
    built_at   BIGINT NOT NULL
);
