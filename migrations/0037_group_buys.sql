-- Group-buy (拼团, issue 17): head office's group-buys on a SKU, the teams members open and join,
-- and each member's seat with the order that pays for it. Shared by SQLite and PostgreSQL.
--
-- A seat is taken when the member's order is placed (`group_members` row, `group_teams.seats_taken`
-- counted up under a CHECK, in one transaction that first updates the group-buy's row: on
-- PostgreSQL that row lock serialises the joins of one group-buy, on SQLite the single writer
-- does), so the last seat is taken exactly once and a team never exceeds its size. A member holds
-- at most one seat per team (the primary key). An order whose team is not `filled` is held: it is
-- paid but not released to pickup or shipping.
CREATE TABLE group_buys (
    id               TEXT PRIMARY KEY,
    sku_id           TEXT NOT NULL,
    name_zh          TEXT NOT NULL,
    name_en          TEXT NOT NULL,
    group_price_fen  BIGINT NOT NULL CHECK (group_price_fen > 0),
    team_size        BIGINT NOT NULL CHECK (team_size BETWEEN 2 AND 50),
    fill_hours       BIGINT NOT NULL CHECK (fill_hours > 0),
    per_member_limit BIGINT NOT NULL CHECK (per_member_limit > 0),
    starts_at        BIGINT NOT NULL,
    ends_at          BIGINT NOT NULL,
    stock_units      BIGINT NOT NULL CHECK (stock_units > 0),
    units_taken      BIGINT NOT NULL DEFAULT 0 CHECK (units_taken >= 0 AND units_taken <= stock_units),
    new_members_only BIGINT NOT NULL DEFAULT 0,
    status           TEXT NOT NULL CHECK (status IN ('active', 'paused')),
    created_by       TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX group_buys_sku ON group_buys (sku_id, status);

CREATE TABLE group_teams (
    id           TEXT PRIMARY KEY,
    group_buy_id TEXT NOT NULL REFERENCES group_buys (id),
    leader_id    TEXT NOT NULL,
    team_size    BIGINT NOT NULL,
    seats_taken  BIGINT NOT NULL CHECK (seats_taken >= 0 AND seats_taken <= team_size),
    seats_paid   BIGINT NOT NULL DEFAULT 0 CHECK (seats_paid >= 0 AND seats_paid <= seats_taken),
    status       TEXT NOT NULL CHECK (status IN ('open', 'filled', 'failed')),
    deadline_at  BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    closed_at    BIGINT
);
CREATE INDEX group_teams_due ON group_teams (status, deadline_at);
CREATE INDEX group_teams_buy ON group_teams (group_buy_id, status);

CREATE TABLE group_members (
    team_id      TEXT NOT NULL REFERENCES group_teams (id),
    member_id    TEXT NOT NULL,
    group_buy_id TEXT NOT NULL,
    order_id     TEXT NOT NULL UNIQUE,
    qty          BIGINT NOT NULL CHECK (qty > 0),
    status       TEXT NOT NULL CHECK (status IN ('held', 'paid', 'refunded')),
    joined_at    BIGINT NOT NULL,
    paid_at      BIGINT,
    PRIMARY KEY (team_id, member_id)
);
CREATE INDEX group_members_buy_member ON group_members (group_buy_id, member_id);

-- Members are told when their team fills (`group_filled`) or fails (`group_failed`). The kinds
-- are a CHECK, which SQLite cannot change in place, so the table is rebuilt with its rows
-- (nothing references it) and its index, as 0031 did.
CREATE TABLE member_notices_v3 (
    id          TEXT PRIMARY KEY,
    member_id   TEXT NOT NULL REFERENCES members (id),
    order_id    TEXT NOT NULL REFERENCES orders (id),
    kind        TEXT NOT NULL CHECK (kind IN ('paid', 'ready_for_pickup', 'shipped', 'delivered', 'cancelled', 'refunded', 'out_for_delivery', 'delivery_exception', 'group_filled', 'group_failed')),
    order_no    TEXT NOT NULL,
    location_id TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    read_at     BIGINT,
    UNIQUE (order_id, kind)
);
INSERT INTO member_notices_v3 (id, member_id, order_id, kind, order_no, location_id, created_at, read_at)
    SELECT id, member_id, order_id, kind, order_no, location_id, created_at, read_at FROM member_notices;
DROP TABLE member_notices;
ALTER TABLE member_notices_v3 RENAME TO member_notices;
CREATE INDEX member_notices_member ON member_notices (member_id, created_at);
