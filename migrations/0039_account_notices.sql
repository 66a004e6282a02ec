-- Account notices (issue 18): what the member is told that is not about one order or
-- after-sale — a coupon about to expire (`coupon_expiring`, ref the coupon id) and the birthday
-- perk granted (`birthday_perk`, ref the year). One per member, kind and ref; shown in the
-- shop's message centre with the order and after-sale notices. Shared by SQLite and PostgreSQL.
CREATE TABLE account_notices (
    id          TEXT PRIMARY KEY,
    member_id   TEXT NOT NULL REFERENCES members (id),
    kind        TEXT NOT NULL,
    ref         TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '{}',
    created_at  BIGINT NOT NULL,
    read_at     BIGINT,
    UNIQUE (member_id, kind, ref)
);
CREATE INDEX account_notices_member ON account_notices (member_id, created_at);
CREATE INDEX coupons_expiring ON coupons (status, valid_until);
