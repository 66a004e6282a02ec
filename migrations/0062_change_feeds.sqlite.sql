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

-- SQLite: one writer at a time, so numbering a change when it is written is numbering it in
-- commit order (each trigger takes the next value of counters.changes).

CREATE TABLE changes (
    seq          BIGINT PRIMARY KEY,
    feed         TEXT NOT NULL CHECK (feed IN ('orders', 'stock', 'members', 'payments', 'refunds')),
    entity_key   TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('created', 'updated', 'deleted')),
    committed_at BIGINT NOT NULL
);
CREATE INDEX changes_by_feed ON changes (feed, seq);
INSERT INTO counters (name, value) VALUES ('changes', 0);

CREATE TRIGGER orders_changes_insert AFTER INSERT ON orders BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'changes';
    INSERT INTO changes (seq, feed, entity_key, kind, committed_at)
        SELECT value, 'orders', NEW.id, 'created', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) FROM counters WHERE name = 'changes';
END;

CREATE TRIGGER orders_changes_update AFTER UPDATE ON orders BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'changes';
    INSERT INTO changes (seq, feed, entity_key, kind, committed_at)
        SELECT value, 'orders', NEW.id, 'updated', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) FROM counters WHERE name = 'changes';
END;

CREATE TRIGGER orders_changes_delete AFTER DELETE ON orders BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'changes';
    INSERT INTO changes (seq, feed, entity_key, kind, committed_at)
        SELECT value, 'orders', OLD.id, 'deleted', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) FROM counters WHERE name = 'changes';
END;

CREATE TRIGGER order_lines_changes_update AFTER UPDATE ON order_lines BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'changes';
    INSERT INTO changes (seq, feed, entity_key, kind, committed_at)
        SELECT value, 'orders', NEW.order_id, 'updated', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) FROM counters WHERE name = 'changes';
END;

CREATE TRIGGER stock_changes_insert AFTER INSERT ON stock BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'changes';
    INSERT INTO changes (seq, feed, entity_key, kind, committed_at)
        SELECT value, 'stock', NEW.location_id || '/' || NEW.sku_id, 'created', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) FROM counters WHERE name = 'changes';
END;

CREATE TRIGGER stock_changes_update AFTER UPDATE ON stock BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'changes';
    INSERT INTO changes (seq, feed, entity_key, kind, committed_at)
        SELECT value, 'stock', NEW.location_id || '/' || NEW.sku_id, 'updated', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) FROM counters WHERE name = 'changes';
END;

CREATE TRIGGER stock_changes_delete AFTER DELETE ON stock BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'changes';
    INSERT INTO changes (seq, feed, entity_key, kind, committed_at)
        SELECT value, 'stock', OLD.location_id || '/' || OLD.sku_id, 'deleted', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) FROM counters WHERE name = 'changes';
END;

CREATE TRIGGER members_changes_insert AFTER INSERT ON members BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'changes';
    INSERT INTO changes (seq, feed, entity_key, kind, committed_at)
        SELECT value, 'members', NEW.id, 'created', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) FROM counters WHERE name = 'changes';
END;

CREATE TRIGGER members_changes_update AFTER UPDATE ON members BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'changes';
    INSERT INTO changes (seq, feed, entity_key, kind, committed_at)
        SELECT value, 'members', NEW.id, 'updated', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) FROM counters WHERE name = 'changes';
END;

CREATE TRIGGER members_changes_delete AFTER DELETE ON members BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'changes';
    INSERT INTO changes (seq, feed, entity_key, kind, committed_at)
        SELECT value, 'members', OLD.id, 'deleted', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) FROM counters WHERE name = 'changes';
END;

CREATE TRIGGER points_ledger_changes_insert AFTER INSERT ON points_ledger BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'changes';
    INSERT INTO changes (seq, feed, entity_key, kind, committed_at)
        SELECT value, 'members', NEW.member_id, 'updated', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) FROM counters WHERE name = 'changes';
END;

CREATE TRIGGER balance_ledger_changes_insert AFTER INSERT ON balance_ledger BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'changes';
    INSERT INTO changes (seq, feed, entity_key, kind, committed_at)
        SELECT value, 'members', NEW.member_id, 'updated', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) FROM counters WHERE name = 'changes';
END;

CREATE TRIGGER payments_changes_insert AFTER INSERT ON payments BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'changes';
    INSERT INTO changes (seq, feed, entity_key, kind, committed_at)
        SELECT value, 'payments', NEW.id, 'created', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) FROM counters WHERE name = 'changes';
END;

CREATE TRIGGER payments_changes_update AFTER UPDATE OF method, amount_fen, status, provider_ref, scene, refunded_fen, paid_at ON payments BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'changes';
    INSERT INTO changes (seq, feed, entity_key, kind, committed_at)
        SELECT value, 'payments', NEW.id, 'updated', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) FROM counters WHERE name = 'changes';
END;

CREATE TRIGGER payments_changes_delete AFTER DELETE ON payments BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'changes';
    INSERT INTO changes (seq, feed, entity_key, kind, committed_at)
        SELECT value, 'payments', OLD.id, 'deleted', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) FROM counters WHERE name = 'changes';
END;

CREATE TRIGGER payment_refunds_changes_insert AFTER INSERT ON payment_refunds BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'changes';
    INSERT INTO changes (seq, feed, entity_key, kind, committed_at)
        SELECT value, 'refunds', NEW.id, 'created', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) FROM counters WHERE name = 'changes';
END;

CREATE TRIGGER payment_refunds_changes_update AFTER UPDATE ON payment_refunds BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'changes';
    INSERT INTO changes (seq, feed, entity_key, kind, committed_at)
        SELECT value, 'refunds', NEW.id, 'updated', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) FROM counters WHERE name = 'changes';
END;

CREATE TRIGGER payment_refunds_changes_delete AFTER DELETE ON payment_refunds BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'changes';
    INSERT INTO changes (seq, feed, entity_key, kind, committed_at)
        SELECT value, 'refunds', OLD.id, 'deleted', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) FROM counters WHERE name = 'changes';
END;
