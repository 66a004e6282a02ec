-- Delivery that can be fulfilled (issue 16): saved addresses, delivery regions with their
-- shipping fee and fulfilling warehouse, store coordinates for same-city delivery, and what a
-- delivery order keeps of its delivery (fee, region, slot, carrier, waybill). Shared by SQLite and
-- PostgreSQL.

-- A member's saved delivery addresses. The address (recipient, phone, province, city, street,
-- optional coordinates) is sealed with the data key as one JSON value (`secrets::SealedField::
-- MemberAddress`, the row id as associated data); nothing of it is stored in clear.
CREATE TABLE member_addresses (
    id          TEXT PRIMARY KEY,
    member_id   TEXT NOT NULL REFERENCES members (id),
    address_enc TEXT NOT NULL,
    is_default  BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX member_addresses_member ON member_addresses (member_id, created_at);

-- Where the chain delivers: a province, or one city of it (`city` empty: the whole province;
-- a city rule wins over its province's). Each names the warehouse that ships there, the fee and
-- the basket amount from which delivery is free (NULL: never free).
CREATE TABLE delivery_regions (
    id            TEXT PRIMARY KEY,
    province      TEXT NOT NULL,
    city          TEXT NOT NULL DEFAULT '',
    warehouse_id  TEXT NOT NULL REFERENCES locations (id),
    fee_fen       BIGINT NOT NULL CHECK (fee_fen >= 0),
    free_over_fen BIGINT CHECK (free_over_fen IS NULL OR free_over_fen >= 0),
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    UNIQUE (province, city)
);

-- A store's position in micro-degrees (WGS-84), for same-city delivery from the nearest store.
ALTER TABLE locations ADD COLUMN lat_e6 BIGINT;
ALTER TABLE locations ADD COLUMN lng_e6 BIGINT;

-- What a delivery order keeps of its delivery. Written before the order is handed to the order
-- writer (same id; a retry keeps the first), so an order id here may have no order when the
-- placement was refused. Orders placed before regions existed get a row (no region, no fee)
-- when they are shipped with a waybill.
CREATE TABLE order_deliveries (
    order_id     TEXT PRIMARY KEY,
    region_id    TEXT REFERENCES delivery_regions (id),
    shipping_fen BIGINT NOT NULL,
    slot         TEXT NOT NULL DEFAULT '',
    same_city    BIGINT NOT NULL DEFAULT 0,
    carrier      TEXT,
    waybill      TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX order_deliveries_waybill ON order_deliveries (carrier, waybill);
