-- Scale labels scanned in scan-and-go (issue 21): each label (a pack weighed and priced by a
-- label scale) is one line sold at its printed price, kept apart from the per-SKU scan lines;
-- the same label scanned again is the same line.
CREATE TABLE scan_label_lines (
    scan_session_id TEXT NOT NULL REFERENCES scan_sessions (id),
    code            TEXT NOT NULL,
    sku_id          TEXT NOT NULL REFERENCES skus (id),
    grams           BIGINT NOT NULL DEFAULT 0 CHECK (grams >= 0),
    price_fen       BIGINT NOT NULL CHECK (price_fen > 0),
    added_at        BIGINT NOT NULL,
    PRIMARY KEY (scan_session_id, code)
);
