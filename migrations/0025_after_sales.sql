-- After-sales started by the shopper (issue 16): a request for a refund only, a return and
-- refund, an exchange, or the cancellation of a paid order not yet shipped, per order line and
-- quantity, with a reason from a list, a description and photos; reviewed by staff of the
-- order's store or warehouse (approve, reject with a reason, ask for more information), the
-- goods returned (to the store, or shipped back with a waybill), received and inspected, the
-- refund sent through the original tender (the return path of `app::lane_sales`), and the
-- replacement of an exchange shipped. Every step is a row of `after_sale_events` (the shopper's
-- timeline) and, for the member, a row of `after_sale_notices` (the message centre). Shared by
-- SQLite and PostgreSQL.
CREATE TABLE after_sales (
    id                  TEXT PRIMARY KEY,
    order_id            TEXT NOT NULL REFERENCES orders (id),
    order_no            TEXT NOT NULL,
    location_id         TEXT NOT NULL,
    member_id           TEXT,
    kind                TEXT NOT NULL CHECK (kind IN ('refund_only', 'return_refund', 'exchange', 'cancel')),
    reason              TEXT NOT NULL,
    description         TEXT NOT NULL DEFAULT '',
    status              TEXT NOT NULL,
    amount_fen          BIGINT NOT NULL,
    refunded_fen        BIGINT NOT NULL DEFAULT 0,
    decided_by          TEXT,
    reject_reason       TEXT,
    question            TEXT,
    answer              TEXT,
    return_method       TEXT,
    return_carrier      TEXT,
    return_waybill      TEXT,
    inspection          TEXT,
    replacement_carrier TEXT,
    replacement_waybill TEXT,
    rating              BIGINT,
    rating_comment      TEXT,
    rated_at            BIGINT,
    created_by          TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX after_sales_order ON after_sales (order_id);
CREATE INDEX after_sales_location ON after_sales (location_id, status, created_at);

CREATE TABLE after_sale_lines (
    after_sale_id TEXT NOT NULL REFERENCES after_sales (id),
    line_no       BIGINT NOT NULL,
    sku_id        TEXT NOT NULL,
    name          TEXT NOT NULL,
    qty           BIGINT NOT NULL CHECK (qty > 0),
    amount_fen    BIGINT NOT NULL,
    PRIMARY KEY (after_sale_id, line_no)
);

CREATE TABLE after_sale_photos (
    after_sale_id TEXT NOT NULL REFERENCES after_sales (id),
    position      BIGINT NOT NULL,
    image_id      TEXT NOT NULL,
    PRIMARY KEY (after_sale_id, position)
);

CREATE TABLE after_sale_events (
    id            TEXT PRIMARY KEY,
    after_sale_id TEXT NOT NULL REFERENCES after_sales (id),
    step          TEXT NOT NULL,
    actor         TEXT NOT NULL,
    note          TEXT NOT NULL DEFAULT '',
    at            BIGINT NOT NULL
);
CREATE INDEX after_sale_events_case ON after_sale_events (after_sale_id, at);

-- One notice per after-sale and step: a repeated step never notifies twice.
CREATE TABLE after_sale_notices (
    id            TEXT PRIMARY KEY,
    member_id     TEXT NOT NULL REFERENCES members (id),
    after_sale_id TEXT NOT NULL REFERENCES after_sales (id),
    order_id      TEXT NOT NULL,
    order_no      TEXT NOT NULL,
    step          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    read_at       BIGINT,
    UNIQUE (after_sale_id, step)
);
CREATE INDEX after_sale_notices_member ON after_sale_notices (member_id, created_at);

-- The rules head office sets: the default return window, auto-approval under an amount, whether
-- cancelling a paid order not yet shipped is approved at once, and where damaged returns go (a
-- location; written off when none). One row, id 'default'.
CREATE TABLE after_sale_rules (
    id                     TEXT PRIMARY KEY,
    return_window_days     BIGINT NOT NULL,
    auto_approve_under_fen BIGINT NOT NULL,
    cancel_auto_approve    BIGINT NOT NULL,
    damaged_location_id    TEXT,
    updated_by             TEXT NOT NULL,
    updated_at             BIGINT NOT NULL
);
INSERT INTO after_sale_rules (id, return_window_days, auto_approve_under_fen, cancel_auto_approve, damaged_location_id, updated_by, updated_at)
VALUES ('default', 7, 0, 1, NULL, 'migration', 0);

-- The return window of a category (and the categories below it), overriding the default.
CREATE TABLE after_sale_windows (
    category_id TEXT PRIMARY KEY REFERENCES categories (id),
    days        BIGINT NOT NULL
);
