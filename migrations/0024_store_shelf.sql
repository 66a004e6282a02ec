-- Per-store shelf status (issue 16, DESIGN "on/off shelf, per store too"): a row takes a product
-- off the shelf at one store while the chain keeps selling it elsewhere. No row: the product's own
-- status holds. The SKU records a store's lanes receive say `off_shelf` for such a product.
CREATE TABLE store_shelf (
    location_id TEXT NOT NULL REFERENCES locations (id),
    product_id  TEXT NOT NULL REFERENCES products (id),
    updated_by  TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (location_id, product_id)
);
CREATE INDEX store_shelf_product ON store_shelf (product_id);
