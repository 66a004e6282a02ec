//! A product's images (head office, issue 16): uploading one (checked, re-encoded and
//! thumbnailed by [`crate::app::media`], then added after the product's others; idempotent by
//! the client's UUIDv7), putting them in order, removing one. The first image is the product's
//! picture in the shop's lists, product page and cart.

use bytes::Bytes;
use uuid::Uuid;

use crate::app::{media, AppState};
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::product_images::ProductImage;

/// Most images a product may have.
pub const MAX_IMAGES_PER_PRODUCT: usize = 12;

/// Uploads an image of a product as `actor` (audited). A refused image (too large, not an
/// image, too many pixels) is a 422 and keeps nothing; the same `client_id` again answers the
/// image it added.
pub async fn add(
    state: &AppState,
    actor: &str,
    product_id: Uuid,
    client_id: Uuid,
    bytes: Bytes,
) -> AppResult<ProductImage> {
    retail_domain::ids::require_v7(client_id)
        .map_err(|e| AppError::field("client_id", e.to_string()))?;
    let existing = storage::product_images::list(&state.store, product_id).await?;
    if storage::catalog::product(&state.store, product_id)
        .await?
        .is_none()
    {
        return Err(AppError::not_found(format!(
            "product {product_id} not found"
        )));
    }
    if existing.len() >= MAX_IMAGES_PER_PRODUCT {
        return Err(AppError::conflict(
            "too_many_images",
            format!("a product has at most {MAX_IMAGES_PER_PRODUCT} images"),
        ));
    }
    let image = media::store_image(state, bytes).await?;
    let added =
        storage::product_images::add(&state.store, product_id, client_id, &image, actor).await?;
    state.search.invalidate();
    state.catalog_cache.forget_images(product_id);
    Ok(added)
}

/// Puts a product's images in the given order (every one exactly once), audited.
pub async fn reorder(
    state: &AppState,
    actor: &str,
    product_id: Uuid,
    order: &[Uuid],
) -> AppResult<Vec<ProductImage>> {
    let images = storage::product_images::reorder(&state.store, product_id, order, actor).await?;
    state.search.invalidate();
    state.catalog_cache.forget_images(product_id);
    Ok(images)
}

/// Moves one image a place earlier (`earlier`) or later in its product's order, audited; at
/// either end nothing moves.
pub async fn shift(
    state: &AppState,
    actor: &str,
    product_id: Uuid,
    image_id: Uuid,
    earlier: bool,
) -> AppResult<Vec<ProductImage>> {
    let images = storage::product_images::list(&state.store, product_id).await?;
    let mut order: Vec<Uuid> = images.iter().map(|i| i.id).collect();
    let at = order
        .iter()
        .position(|id| *id == image_id)
        .ok_or_else(|| AppError::not_found("no such image of this product"))?;
    let to = if earlier {
        at.checked_sub(1)
    } else {
        Some(at + 1).filter(|&t| t < order.len())
    };
    let Some(to) = to else {
        return Ok(images);
    };
    order.swap(at, to);
    reorder(state, actor, product_id, &order).await
}

/// Removes one image of a product, audited (its kept objects stay: content-addressed, they may
/// be named elsewhere).
pub async fn remove(
    state: &AppState,
    actor: &str,
    product_id: Uuid,
    image_id: Uuid,
) -> AppResult<ProductImage> {
    let removed =
        storage::product_images::remove(&state.store, product_id, image_id, actor).await?;
    state.search.invalidate();
    state.catalog_cache.forget_images(product_id);
    Ok(removed)
}
