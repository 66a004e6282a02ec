-- The chain-wide console order list (issue 16) pages every order newest first by keyset on
-- (created_at, id), with no location or member to narrow it: this index serves that order and
-- the "after the cursor" condition. Shared by SQLite and PostgreSQL.
CREATE INDEX orders_created ON orders (created_at, id);
