-- Staff administration: an administrator's password reset forces a change at the next log-in,
-- and every account keeps when its password and its record last changed. Cashiers log in at a
-- lane with their user name and a PIN, checked offline against this hash (Argon2id PHC string).
ALTER TABLE staff ADD COLUMN must_change_password BIGINT NOT NULL DEFAULT 0;
ALTER TABLE staff ADD COLUMN password_changed_at BIGINT;
ALTER TABLE staff ADD COLUMN updated_at BIGINT;
ALTER TABLE staff ADD COLUMN pin_hash TEXT;
