-- The points mall (积分商城, issue 17): head office prices a coupon template in points; members
-- redeem points for one of its coupons in the shop (stock and per-member limit as for any
-- coupon). NULL: not in the mall. Shared by SQLite and PostgreSQL.
ALTER TABLE coupon_templates ADD COLUMN points_price BIGINT;
