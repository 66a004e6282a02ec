-- Units of a flash sale each member holds (in orders not cancelled), kept as one row per
-- (sale, member) beside the per-order rows of `flash_sale_orders`, so the order writer reads a
-- member's holding in one index look-up instead of summing their orders on every batch.
-- Placing an order adds to it and cancelling takes away, in the same transaction as the
-- per-order row; it always equals the sum of the member's unreleased `flash_sale_orders`.
CREATE TABLE flash_sale_holdings (
    flash_sale_id TEXT NOT NULL REFERENCES flash_sales (id),
    member_id     TEXT NOT NULL,
    held          BIGINT NOT NULL CHECK (held >= 0),
    PRIMARY KEY (flash_sale_id, member_id)
);
INSERT INTO flash_sale_holdings (flash_sale_id, member_id, held)
SELECT flash_sale_id, member_id, SUM(qty) FROM flash_sale_orders
WHERE released = 0 GROUP BY flash_sale_id, member_id;

-- Members' holdings are read from the table above now, so the per-member index of the order
-- rows goes (its random inserts cost every order batch a page per member); cancelling finds an
-- order's rows by the order id instead.
DROP INDEX flash_sale_orders_member;
CREATE INDEX flash_sale_orders_order ON flash_sale_orders (order_id);
