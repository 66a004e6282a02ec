-- Group-buy (拼团, issue 17): the optional "fill with a virtual member" — off by default. When a
-- group-buy allows it, a team one member short at its deadline, every real seat paid, is filled
-- by the sweeper with one virtual seat instead of failing (audited as `group_buy.virtual_fill`).
-- Shared by SQLite and PostgreSQL.
ALTER TABLE group_buys ADD COLUMN virtual_fill BIGINT NOT NULL DEFAULT 0;
ALTER TABLE group_teams ADD COLUMN virtual_seats BIGINT NOT NULL DEFAULT 0;
