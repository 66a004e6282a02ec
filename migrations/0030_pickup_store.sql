-- The pickup store a shopper chose (issue 16): once chosen, the shop's product page and cart
-- show that store's prices and stock, and checkout offers it first. Kept with the browser's
-- session (an anonymous shopper chooses too); a location id, checked to be a store when set.
-- Shared by SQLite and PostgreSQL.
ALTER TABLE web_sessions ADD COLUMN pickup_store TEXT;
