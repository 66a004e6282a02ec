-- The shop's and console's pages (issue 5): shopper sessions with their carts, phone log-in
-- codes, and scan-and-go sessions. Common dialect only (TEXT/BIGINT, times in Unix ms).

-- A browser's shop session. The cookie holds a random token; only its hash is stored.
CREATE TABLE web_sessions (
    id         TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    member_id  TEXT REFERENCES members (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);

CREATE TABLE web_cart_lines (
    session_id TEXT NOT NULL REFERENCES web_sessions (id),
    sku_id     TEXT NOT NULL REFERENCES skus (id),
    qty        BIGINT NOT NULL CHECK (qty > 0),
    selected   BIGINT NOT NULL DEFAULT 1,
    added_at   BIGINT NOT NULL,
    PRIMARY KEY (session_id, sku_id)
);

-- One pending log-in code per phone (by the phone's look-up hash); the code is stored hashed.
CREATE TABLE web_login_codes (
    phone_hash TEXT PRIMARY KEY,
    code_hash  TEXT NOT NULL,
    attempts   BIGINT NOT NULL DEFAULT 0,
    expires_at BIGINT NOT NULL
);

-- Scan-and-go: a shopper's basket in one store, paid as a scan_and_go order; the exit pass is
-- signed from it.
CREATE TABLE scan_sessions (
    id          TEXT PRIMARY KEY,
    web_session TEXT NOT NULL REFERENCES web_sessions (id),
    location_id TEXT NOT NULL REFERENCES locations (id),
    member_id   TEXT REFERENCES members (id),
    status      TEXT NOT NULL CHECK (status IN ('open', 'checkout', 'paid', 'closed')),
    order_id    TEXT REFERENCES orders (id),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX scan_sessions_web ON scan_sessions (web_session, created_at);

CREATE TABLE scan_lines (
    scan_session_id TEXT NOT NULL REFERENCES scan_sessions (id),
    sku_id          TEXT NOT NULL REFERENCES skus (id),
    qty             BIGINT NOT NULL CHECK (qty > 0),
    added_at        BIGINT NOT NULL,
    PRIMARY KEY (scan_session_id, sku_id)
);
