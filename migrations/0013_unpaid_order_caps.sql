-- Caps on outstanding unpaid orders (issue 15, finding 8): who placed an order (the client
-- address key, e.g. `ip:203.0.113.7`; NULL for orders placed before this migration) and how
-- many units it reserves, with partial indexes over the unpaid orders only, so counting what a
-- client or a member holds unpaid stays an index look-up however large `orders` grows.
ALTER TABLE orders ADD COLUMN client_key TEXT;
ALTER TABLE orders ADD COLUMN units BIGINT NOT NULL DEFAULT 0;
CREATE INDEX orders_unpaid_client ON orders (client_key) WHERE status = 'pending_payment';
CREATE INDEX orders_unpaid_member ON orders (member_id) WHERE status = 'pending_payment';
