-- Product images (issue 16): each row one uploaded image of a product, kept content-addressed by
-- the image store (`server/src/storage/media.rs`); `image` is its variants as JSON
-- (`StoredImage`: full size and thumbnails with names and sizes). `position` orders them, the
-- first is the product's picture in the shop's lists and cart. `client_id` makes an upload
-- idempotent.
CREATE TABLE product_images (
    id         TEXT PRIMARY KEY,
    product_id TEXT NOT NULL REFERENCES products (id),
    position   BIGINT NOT NULL,
    image      TEXT NOT NULL,
    client_id  TEXT UNIQUE,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX product_images_product ON product_images (product_id, position);
