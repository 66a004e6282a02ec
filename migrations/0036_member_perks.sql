-- Member perks (issue 17): the daily check-in (签到) with its streak, the birthday perk once a
-- year, and head office's rules for both (one row). A member's birthday is its month and day
-- (`MM-DD`, no year), set once by the member (`birthday_set_at`); cleared with the account.
-- Shared by SQLite and PostgreSQL.
CREATE TABLE member_checkins (
    member_id TEXT NOT NULL,
    day BIGINT NOT NULL,
    streak BIGINT NOT NULL,
    points BIGINT NOT NULL,
    growth BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (member_id, day)
);

ALTER TABLE members ADD COLUMN birthday TEXT;
ALTER TABLE members ADD COLUMN birthday_set_at BIGINT;
CREATE INDEX members_birthday ON members (birthday);

CREATE TABLE member_birthday_perks (
    member_id TEXT NOT NULL,
    year BIGINT NOT NULL,
    points BIGINT NOT NULL,
    coupon_id TEXT,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (member_id, year)
);

CREATE TABLE member_perk_rules (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    checkin_points BIGINT NOT NULL,
    checkin_growth BIGINT NOT NULL,
    streak_days BIGINT NOT NULL,
    streak_bonus_points BIGINT NOT NULL,
    birthday_points BIGINT NOT NULL,
    birthday_coupon_template_id TEXT,
    updated_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
INSERT INTO member_perk_rules (id, checkin_points, checkin_growth, streak_days, streak_bonus_points,
    birthday_points, birthday_coupon_template_id, updated_by, updated_at)
VALUES (1, 5, 1, 7, 20, 100, NULL, 'migration', 0);
