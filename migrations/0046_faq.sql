-- The service bot's FAQ knowledge base (issue 18, `app::service_bot`). One row per entry:
-- question and answer in Chinese (required) and English (may be empty), keywords and example
-- phrasings (one per line, either language), whether the bot uses it, who made and last changed
-- it, and where it came from: `head_office` (written in the console) or `agent` (learned from an
-- agent's answer in a chat; `source_conversation` names the conversation as free text).
-- `client_id` is the UUIDv7 of the create request (a retry answers the first entry).
-- Ids come from counters.faq; counters.faq_changes moves on every change (the bot's in-memory
-- index is rebuilt when it moved). Edits are audited (audit_log, entity `faq`).
-- Shared by SQLite and PostgreSQL.
CREATE TABLE faq_entries (
    id BIGINT PRIMARY KEY,
    client_id TEXT NOT NULL UNIQUE,
    question_zh TEXT NOT NULL,
    question_en TEXT NOT NULL DEFAULT '',
    answer_zh TEXT NOT NULL,
    answer_en TEXT NOT NULL DEFAULT '',
    keywords TEXT NOT NULL DEFAULT '',
    examples TEXT NOT NULL DEFAULT '',
    enabled BIGINT NOT NULL DEFAULT 1,
    source TEXT NOT NULL CHECK (source IN ('head_office', 'agent')),
    source_conversation TEXT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX faq_entries_by_update ON faq_entries (updated_at);

INSERT INTO counters (name, value) VALUES ('faq', 0);
INSERT INTO counters (name, value) VALUES ('faq_changes', 0);
