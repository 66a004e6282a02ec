-- Reviews with photos (晒单, issue 18): after an order is fulfilled the member rates each of its
-- lines (1–5) with a text and up to 9 photos, once per line, and may add one follow-up (追评)
-- later. A review is published at once unless an automatic hold applies (a banned word, more
-- links than allowed, the same text the member wrote before): then it waits in head office's
-- moderation queue, which approves or hides it (with a reason) and may write the merchant's
-- reply. A published review earns points by head office's rule, once (the points ledger's
-- `earn` row with `ref_id` `review:{id}`), taken back when it is hidden. Shared by SQLite and
-- PostgreSQL.
CREATE TABLE reviews (
    id                   TEXT PRIMARY KEY,
    order_id             TEXT NOT NULL REFERENCES orders (id),
    line_no              BIGINT NOT NULL,
    order_no             TEXT NOT NULL,
    member_id            TEXT NOT NULL REFERENCES members (id),
    product_id           TEXT NOT NULL REFERENCES products (id),
    sku_id               TEXT NOT NULL,
    item_name            TEXT NOT NULL,
    rating               BIGINT NOT NULL CHECK (rating BETWEEN 1 AND 5),
    body                 TEXT NOT NULL DEFAULT '',
    -- SHA-256 of the normalised text (the repeat check); '' for no text.
    body_hash            TEXT NOT NULL DEFAULT '',
    photo_count          BIGINT NOT NULL DEFAULT 0,
    status               TEXT NOT NULL CHECK (status IN ('held', 'published', 'hidden')),
    hold_reason          TEXT,
    hide_reason          TEXT,
    decided_by           TEXT,
    reply                TEXT,
    replied_by           TEXT,
    replied_at           BIGINT,
    helpful              BIGINT NOT NULL DEFAULT 0,
    -- Points credited for it and not taken back.
    points               BIGINT NOT NULL DEFAULT 0,
    follow_up_id         TEXT UNIQUE,
    follow_up_body       TEXT,
    follow_up_hash       TEXT,
    follow_up_status     TEXT CHECK (follow_up_status IN ('held', 'published', 'hidden')),
    follow_up_hold       TEXT,
    follow_up_hide       TEXT,
    follow_up_at         BIGINT,
    created_by           TEXT NOT NULL,
    created_at           BIGINT NOT NULL,
    published_at         BIGINT,
    updated_at           BIGINT NOT NULL,
    UNIQUE (order_id, line_no)
);
CREATE INDEX reviews_product ON reviews (product_id, status, created_at);
CREATE INDEX reviews_member ON reviews (member_id, created_at);
CREATE INDEX reviews_status ON reviews (status, created_at);
CREATE INDEX reviews_repeat ON reviews (member_id, body_hash);

-- Photos of a review (`part` 'review') and of its follow-up (`part` 'follow_up'), in order:
-- names of images kept by the media module.
CREATE TABLE review_photos (
    review_id TEXT NOT NULL REFERENCES reviews (id),
    part      TEXT NOT NULL CHECK (part IN ('review', 'follow_up')),
    position  BIGINT NOT NULL,
    image_id  TEXT NOT NULL,
    PRIMARY KEY (review_id, part, position)
);

-- "Helpful" votes: one per member and review.
CREATE TABLE review_votes (
    review_id  TEXT NOT NULL REFERENCES reviews (id),
    member_id  TEXT NOT NULL REFERENCES members (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (review_id, member_id)
);

-- Head office's rules: banned words (one a line), the most links a text may carry, and the
-- points a published review earns (and the more with photos; 0 = none). One row, id 'default'.
CREATE TABLE review_rules (
    id            TEXT PRIMARY KEY,
    banned_words  TEXT NOT NULL DEFAULT '',
    max_links     BIGINT NOT NULL,
    points_review BIGINT NOT NULL,
    points_photos BIGINT NOT NULL,
    updated_by    TEXT NOT NULL,
    updated_at    BIGINT NOT NULL
);
INSERT INTO review_rules (id, banned_words, max_links, points_review, points_photos, updated_by, updated_at)
VALUES ('default', '', 1, 10, 10, 'migration', 0);
