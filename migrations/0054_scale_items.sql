-- Label scales at the fresh counter (issue 21): the SKUs sold through label scales, with what
-- the catalog lacks for them. The PLU is also one of the SKU's barcodes (the lanes find the SKU
-- by the PLU a scale label carries); scale_key is the scale's slot / hot key (1-9999).
CREATE TABLE scale_items (
    sku_id          TEXT PRIMARY KEY REFERENCES skus (id),
    plu             TEXT NOT NULL UNIQUE,
    scale_key       BIGINT NOT NULL UNIQUE CHECK (scale_key BETWEEN 1 AND 9999),
    tare_g          BIGINT NOT NULL DEFAULT 0 CHECK (tare_g BETWEEN 0 AND 99999),
    shelf_life_days BIGINT NOT NULL DEFAULT 0 CHECK (shelf_life_days BETWEEN 0 AND 999),
    updated_by      TEXT NOT NULL,
    updated_at      BIGINT NOT NULL
);
