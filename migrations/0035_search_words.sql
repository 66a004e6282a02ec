-- Hot search words and the shopper's own search history (issue 17, member perks).
-- search_term_days: how many searches that found something each normalised term had per day
-- (China day number, days since 1970-01-01 in UTC+8), added to in batches by the server.
-- search_words: head office's words — `pinned` (shown first among the hot words, in `position`
-- order) or `blocked` (never shown as hot, whatever its count).
-- member_searches: a member's recent searches, one row per term (the latest time), at most
-- twenty kept; erased with the member's account.
-- Shared by SQLite and PostgreSQL.
CREATE TABLE search_term_days (
    term TEXT NOT NULL,
    day BIGINT NOT NULL,
    searches BIGINT NOT NULL,
    PRIMARY KEY (term, day)
);
CREATE INDEX search_term_days_by_day ON search_term_days (day);

CREATE TABLE search_words (
    word TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('pinned', 'blocked')),
    position BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE member_searches (
    member_id TEXT NOT NULL,
    term TEXT NOT NULL,
    searched_at BIGINT NOT NULL,
    PRIMARY KEY (member_id, term)
);
CREATE INDEX member_searches_recent ON member_searches (member_id, searched_at);
