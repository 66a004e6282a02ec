-- A till's top-up records the tender the money came in (cash, card), and the top-ups one member
-- of staff took in a day are summed for their daily limit.
ALTER TABLE balance_ledger ADD COLUMN tender TEXT;
CREATE INDEX balance_ledger_topup_actor ON balance_ledger (actor, created_at) WHERE kind = 'topup';
