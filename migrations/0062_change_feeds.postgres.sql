-- Change feeds (issue 20): every change of an order, a stock level, a member, a payment or a
-- refund gets one row in `changes`, numbered in commit order, read by
-- `GET /api/v1/changes/{feed}` (see docs/CONTRACTS.md, "Change feeds").
-- changes: seq the position in commit order (one sequence for all feeds, from
-- counters.changes, so a feed's own positions rise but are not consecutive); feed orders |
-- stock | members | payments | refunds; entity_key the changed record's id (an order's, a
-- member's, a payment's, a refund's) or `<location>/<sku>` for a stock level; kind created |
-- updated | deleted; committed_at (Unix ms) when the change was numbered, at its commit.
-- The rows are written by triggers on the tables themselves, in the changing transaction, so
-- no write path (the order intake's group commit, lane sales, bulk loads) can miss one; the
-- record itself is read when the feed is read, never copied here.

-- PostgreSQL: a sequence number taken while writing is not commit order (a transaction holding
-- 5 may commit after one holding 6, and a reader that saw 6 would skip 5 for good). So the
-- row triggers only note the change in `change_pending` (visible to its own transaction alone
-- until commit) and mark the transaction once in `change_marks`; the mark's deferred
-- constraint trigger runs at COMMIT, after every other statement, and numbers all of the
-- transaction's pending changes under the row lock of counters.changes, which it holds until
-- the commit is done. Numbering and commit are thus serialised: whoever numbers later commits
-- later, and a reader that sees seq N sees every seq below N. A rolled-back transaction
-- numbers nothing, so there are no holes either.

CREATE TABLE changes (
    seq          BIGINT PRIMARY KEY,
    feed         TEXT NOT NULL CHECK (feed IN ('orders', 'stock', 'members', 'payments', 'refunds')),
    entity_key   TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('created', 'updated', 'deleted')),
    committed_at BIGINT NOT NULL
);
CREATE INDEX changes_by_feed ON changes (feed, seq);
INSERT INTO counters (name, value) VALUES ('changes', 0);

-- Rows are found by their transaction's id (indexed): without autovacuum the dead rows of
-- committed transactions would otherwise be scanned again by every commit.
CREATE TABLE change_pending (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    xid        XID8 NOT NULL DEFAULT pg_current_xact_id(),
    feed       TEXT NOT NULL,
    entity_key TEXT NOT NULL,
    kind       TEXT NOT NULL
);
CREATE INDEX change_pending_by_xid ON change_pending (xid);
CREATE TABLE change_marks (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY
);

CREATE FUNCTION changes_mark() RETURNS VOID LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('retail.changes_marked', true) IS DISTINCT FROM 'yes' THEN
        PERFORM set_config('retail.changes_marked', 'yes', true);
        INSERT INTO change_marks DEFAULT VALUES;
    END IF;
END;
$$;

CREATE FUNCTION changes_of_orders_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO change_pending (feed, entity_key, kind) VALUES ('orders', NEW.id, 'created');
    PERFORM changes_mark();
    RETURN NULL;
END;
$$;

CREATE TRIGGER orders_changes_insert AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION changes_of_orders_insert();

CREATE FUNCTION changes_of_orders_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO change_pending (feed, entity_key, kind) VALUES ('orders', NEW.id, 'updated');
    PERFORM changes_mark();
    RETURN NULL;
END;
$$;

CREATE TRIGGER orders_changes_update AFTER UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION changes_of_orders_update();

CREATE FUNCTION changes_of_orders_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO change_pending (feed, entity_key, kind) VALUES ('orders', OLD.id, 'deleted');
    PERFORM changes_mark();
    RETURN NULL;
END;
$$;

CREATE TRIGGER orders_changes_delete AFTER DELETE ON orders FOR EACH ROW EXECUTE FUNCTION changes_of_orders_delete();

CREATE FUNCTION changes_of_order_lines_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO change_pending (feed, entity_key, kind) VALUES ('orders', NEW.order_id, 'updated');
    PERFORM changes_mark();
    RETURN NULL;
END;
$$;

CREATE TRIGGER order_lines_changes_update AFTER UPDATE ON order_lines FOR EACH ROW EXECUTE FUNCTION changes_of_order_lines_update();

CREATE FUNCTION changes_of_stock_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO change_pending (feed, entity_key, kind) VALUES ('stock', NEW.location_id || '/' || NEW.sku_id, 'created');
    PERFORM changes_mark();
    RETURN NULL;
END;
$$;

CREATE TRIGGER stock_changes_insert AFTER INSERT ON stock FOR EACH ROW EXECUTE FUNCTION changes_of_stock_insert();

CREATE FUNCTION changes_of_stock_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO change_pending (feed, entity_key, kind) VALUES ('stock', NEW.location_id || '/' || NEW.sku_id, 'updated');
    PERFORM changes_mark();
    RETURN NULL;
END;
$$;

CREATE TRIGGER stock_changes_update AFTER UPDATE ON stock FOR EACH ROW EXECUTE FUNCTION changes_of_stock_update();

CREATE FUNCTION changes_of_stock_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO change_pending (feed, entity_key, kind) VALUES ('stock', OLD.location_id || '/' || OLD.sku_id, 'deleted');
    PERFORM changes_mark();
    RETURN NULL;
END;
$$;

CREATE TRIGGER stock_changes_delete AFTER DELETE ON stock FOR EACH ROW EXECUTE FUNCTION changes_of_stock_delete();

CREATE FUNCTION changes_of_members_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO change_pending (feed, entity_key, kind) VALUES ('members', NEW.id, 'created');
    PERFORM changes_mark();
    RETURN NULL;
END;
$$;

CREATE TRIGGER members_changes_insert AFTER INSERT ON members FOR EACH ROW EXECUTE FUNCTION changes_of_members_insert();

CREATE FUNCTION changes_of_members_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO change_pending (feed, entity_key, kind) VALUES ('members', NEW.id, 'updated');
    PERFORM changes_mark();
    RETURN NULL;
END;
$$;

CREATE TRIGGER members_changes_update AFTER UPDATE ON members FOR EACH ROW EXECUTE FUNCTION changes_of_members_update();

CREATE FUNCTION changes_of_members_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO change_pending (feed, entity_key, kind) VALUES ('members', OLD.id, 'deleted');
    PERFORM changes_mark();
    RETURN NULL;
END;
$$;

CREATE TRIGGER members_changes_delete AFTER DELETE ON members FOR EACH ROW EXECUTE FUNCTION changes_of_members_delete();

CREATE FUNCTION changes_of_points_ledger_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO change_pending (feed, entity_key, kind) VALUES ('members', NEW.member_id, 'updated');
    PERFORM changes_mark();
    RETURN NULL;
END;
$$;

CREATE TRIGGER points_ledger_changes_insert AFTER INSERT ON points_ledger FOR EACH ROW EXECUTE FUNCTION changes_of_points_ledger_insert();

CREATE FUNCTION changes_of_balance_ledger_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO change_pending (feed, entity_key, kind) VALUES ('members', NEW.member_id, 'updated');
    PERFORM changes_mark();
    RETURN NULL;
END;
$$;

CREATE TRIGGER balance_ledger_changes_insert AFTER INSERT ON balance_ledger FOR EACH ROW EXECUTE FUNCTION changes_of_balance_ledger_insert();

CREATE FUNCTION changes_of_payments_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO change_pending (feed, entity_key, kind) VALUES ('payments', NEW.id, 'created');
    PERFORM changes_mark();
    RETURN NULL;
END;
$$;

CREATE TRIGGER payments_changes_insert AFTER INSERT ON payments FOR EACH ROW EXECUTE FUNCTION changes_of_payments_insert();

CREATE FUNCTION changes_of_payments_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO change_pending (feed, entity_key, kind) VALUES ('payments', NEW.id, 'updated');
    PERFORM changes_mark();
    RETURN NULL;
END;
$$;

CREATE TRIGGER payments_changes_update AFTER UPDATE OF method, amount_fen, status, provider_ref, scene, refunded_fen, paid_at ON payments FOR EACH ROW EXECUTE FUNCTION changes_of_payments_update();

CREATE FUNCTION changes_of_payments_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO change_pending (feed, entity_key, kind) VALUES ('payments', OLD.id, 'deleted');
    PERFORM changes_mark();
    RETURN NULL;
END;
$$;

CREATE TRIGGER payments_changes_delete AFTER DELETE ON payments FOR EACH ROW EXECUTE FUNCTION changes_of_payments_delete();

CREATE FUNCTION changes_of_payment_refunds_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO change_pending (feed, entity_key, kind) VALUES ('refunds', NEW.id, 'created');
    PERFORM changes_mark();
    RETURN NULL;
END;
$$;

CREATE TRIGGER payment_refunds_changes_insert AFTER INSERT ON payment_refunds FOR EACH ROW EXECUTE FUNCTION changes_of_payment_refunds_insert();

CREATE FUNCTION changes_of_payment_refunds_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO change_pending (feed, entity_key, kind) VALUES ('refunds', NEW.id, 'updated');
    PERFORM changes_mark();
    RETURN NULL;
END;
$$;

CREATE TRIGGER payment_refunds_changes_update AFTER UPDATE ON payment_refunds FOR EACH ROW EXECUTE FUNCTION changes_of_payment_refunds_update();

CREATE FUNCTION changes_of_payment_refunds_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO change_pending (feed, entity_key, kind) VALUES ('refunds', OLD.id, 'deleted');
    PERFORM changes_mark();
    RETURN NULL;
END;
$$;

CREATE TRIGGER payment_refunds_changes_delete AFTER DELETE ON payment_refunds FOR EACH ROW EXECUTE FUNCTION changes_of_payment_refunds_delete();

CREATE FUNCTION changes_seal() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n BIGINT;
    top BIGINT;
BEGIN
    DELETE FROM change_marks WHERE id = NEW.id;
    PERFORM set_config('retail.changes_marked', '', true);
    SELECT COUNT(*) INTO n FROM change_pending WHERE xid = pg_current_xact_id();
    IF n > 0 THEN
        UPDATE counters SET value = value + n WHERE name = 'changes' RETURNING value INTO top;
        INSERT INTO changes (seq, feed, entity_key, kind, committed_at)
            SELECT top - n + ROW_NUMBER() OVER (ORDER BY id), feed, entity_key, kind,
                   CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)
            FROM change_pending WHERE xid = pg_current_xact_id();
        DELETE FROM change_pending WHERE xid = pg_current_xact_id();
    END IF;
    RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER change_marks_seal AFTER INSERT ON change_marks
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION changes_seal();
