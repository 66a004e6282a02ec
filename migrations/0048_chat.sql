-- Customer-service chat (issue 18): conversations between a member and the service, answered
-- by the bot first and by an agent after a hand-over; their messages in sequence; the working
-- hours of each queue; agents' canned replies. Shared by SQLite and PostgreSQL.
--
-- A queue is head office (`hq`) or one store (its location id). A conversation belongs to one
-- queue (agents of that store, or head office, see it) and moves `bot` → `waiting` (handed over,
-- not yet taken) → `assigned` (an agent took it) → `closed`. A member has at most one conversation
-- that is not closed (the partial unique index), so two tabs never open two.
CREATE TABLE chat_conversations (
    id              TEXT PRIMARY KEY,
    member_id       TEXT NOT NULL,
    queue           TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('bot', 'waiting', 'assigned', 'closed')),
    agent_id        TEXT,
    context         TEXT NOT NULL DEFAULT '',
    handover_reason TEXT,
    last_seq        BIGINT NOT NULL DEFAULT 0,
    member_read_seq BIGINT NOT NULL DEFAULT 0,
    agent_read_seq  BIGINT NOT NULL DEFAULT 0,
    bot_answers     BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    handed_over_at  BIGINT,
    closed_at       BIGINT
);
CREATE UNIQUE INDEX chat_conversations_open ON chat_conversations (member_id) WHERE status <> 'closed';
CREATE INDEX chat_conversations_member ON chat_conversations (member_id, updated_at);
CREATE INDEX chat_conversations_queue ON chat_conversations (queue, status, updated_at);
CREATE INDEX chat_conversations_created ON chat_conversations (created_at);

-- Every message of a conversation, numbered 1, 2, 3… by the conversation's `last_seq` counted up
-- in the sending transaction, so a client that reconnects asks for what came after the last
-- number it has and misses nothing. `client_id` (the sender's UUIDv7; the bot's and the system's
-- are derived from the message they answer) makes a resent message a no-op. `kind`: text, image
-- (body: the media name), product or order (body: the card as JSON, as it was when sent).
CREATE TABLE chat_messages (
    conversation_id TEXT NOT NULL REFERENCES chat_conversations (id),
    seq             BIGINT NOT NULL,
    client_id       TEXT NOT NULL UNIQUE,
    sender          TEXT NOT NULL CHECK (sender IN ('member', 'agent', 'bot', 'system')),
    staff_id        TEXT,
    kind            TEXT NOT NULL CHECK (kind IN ('text', 'image', 'product', 'order')),
    body            TEXT NOT NULL,
    faq_id          BIGINT,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);

-- A queue's working hours in China time (minutes after midnight); without a row the queue keeps
-- the configured default (`[chat] opens`, `closes`).
CREATE TABLE chat_queue_hours (
    queue         TEXT PRIMARY KEY,
    opens_minute  BIGINT NOT NULL CHECK (opens_minute BETWEEN 0 AND 1439),
    closes_minute BIGINT NOT NULL CHECK (closes_minute BETWEEN 1 AND 1440),
    updated_by    TEXT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- Canned replies agents pick from: head office's (`queue` = 'hq') for everyone, a store's for
-- its agents.
CREATE TABLE chat_canned_replies (
    id         TEXT PRIMARY KEY,
    queue      TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX chat_canned_replies_queue ON chat_canned_replies (queue, title);
