//! A product's images, in order: rows of `product_images`, each naming a kept image (its
//! variants as JSON). Adding, moving and removing are audited (`product.image.add`,
//! `product.image.move`, `product.image.remove`) and move the product's SKUs to the end of the
//! catalog change feed, so the shop's index shows the new first picture.

use std::collections::HashMap;

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::media::StoredImage;
use super::{audit, col, now_ms, uuid_col, Store, Tx};
use crate::error::{AppError, AppResult};

/// One image of a product.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProductImage {
    /// Id.
    pub id: Uuid,
    /// The product.
    pub product_id: Uuid,
    /// Order among the product's images (the lowest first).
    pub position: i64,
    /// The kept variants.
    pub image: StoredImage,
}

fn parse(text: &str) -> AppResult<StoredImage> {
    serde_json::from_str(text)
        .map_err(|e| AppError::Internal(anyhow::Error::new(e).context("product image JSON")))
}

fn row_image(row: &sqlx::any::AnyRow) -> AppResult<ProductImage> {
    Ok(ProductImage {
        id: uuid_col(row, "id")?,
        product_id: uuid_col(row, "product_id")?,
        position: col(row, "position")?,
        image: parse(&col::<String>(row, "image")?)?,
    })
}

/// A product's images, in order.
pub async fn list(store: &Store, product_id: Uuid) -> AppResult<Vec<ProductImage>> {
    let rows = sqlx::query(
        "SELECT id, product_id, position, image FROM product_images \
         WHERE product_id = $1 ORDER BY position, id",
    )
    .bind(product_id.to_string())
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(row_image).collect()
}

/// The first image of every product that has one (the shop's lists and cart).
pub async fn first_images(store: &Store) -> AppResult<HashMap<Uuid, StoredImage>> {
    let rows = sqlx::query(
        "SELECT i.product_id, i.image FROM product_images i WHERE i.position = \
         (SELECT MIN(j.position) FROM product_images j WHERE j.product_id = i.product_id)",
    )
    .fetch_all(store.reader())
    .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for row in &rows {
        out.insert(
            uuid_col(row, "product_id")?,
            parse(&col::<String>(row, "image")?)?,
        );
    }
    Ok(out)
}

async fn lock_product(tx: &mut Tx, store: &Store, product_id: &str) -> AppResult<()> {
    sqlx::query(&format!(
        "SELECT id FROM products WHERE id = $1{}",
        store.for_update()
    ))
    .bind(product_id)
    .fetch_optional(&mut **tx)
    .await?
    .map(|_| ())
    .ok_or_else(|| AppError::not_found(format!("product {product_id} not found")))
}

/// Adds an image after the product's others, audited. The same `client_id` again answers the
/// image it added (nothing new is stored).
pub async fn add(
    store: &Store,
    product_id: Uuid,
    client_id: Uuid,
    image: &StoredImage,
    actor: &str,
) -> AppResult<ProductImage> {
    let id = product_id.to_string();
    let mut tx = store.begin().await?;
    lock_product(&mut tx, store, &id).await?;
    if let Some(row) = sqlx::query(
        "SELECT id, product_id, position, image FROM product_images WHERE client_id = $1",
    )
    .bind(client_id.to_string())
    .fetch_optional(&mut *tx)
    .await?
    {
        let existing = row_image(&row)?;
        if existing.product_id != product_id {
            return Err(AppError::conflict(
                "client_id_reused",
                "this client id was used for another product's image",
            ));
        }
        return Ok(existing);
    }
    let position: i64 = sqlx::query(
        "SELECT CAST(COALESCE(MAX(position), 0) + 1 AS BIGINT) AS next \
         FROM product_images WHERE product_id = $1",
    )
    .bind(&id)
    .fetch_one(&mut *tx)
    .await
    .map_err(AppError::from)
    .and_then(|r| col(&r, "next"))?;
    let image_id = retail_domain::ids::new_id();
    let json = serde_json::to_string(image)
        .map_err(|e| AppError::Internal(anyhow::Error::new(e).context("image JSON")))?;
    sqlx::query(
        "INSERT INTO product_images (id, product_id, position, image, client_id, created_by, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(image_id.to_string())
    .bind(&id)
    .bind(position)
    .bind(&json)
    .bind(client_id.to_string())
    .bind(actor)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        "product.image.add",
        "product",
        &id,
        serde_json::json!({ "image_id": image_id, "full": image.full.name, "position": position }),
    )
    .await?;
    super::catalog::bump_product_skus(&mut tx, &id).await?;
    tx.commit().await?;
    Ok(ProductImage {
        id: image_id,
        product_id,
        position,
        image: image.clone(),
    })
}

/// Puts the product's images in the order given (every image of the product exactly once),
/// audited. Anything else is a 422 on `order`, changing nothing.
pub async fn reorder(
    store: &Store,
    product_id: Uuid,
    order: &[Uuid],
    actor: &str,
) -> AppResult<Vec<ProductImage>> {
    let id = product_id.to_string();
    let mut tx = store.begin().await?;
    lock_product(&mut tx, store, &id).await?;
    let rows = sqlx::query("SELECT id FROM product_images WHERE product_id = $1")
        .bind(&id)
        .fetch_all(&mut *tx)
        .await?;
    let mut current = rows
        .iter()
        .map(|r| uuid_col(r, "id"))
        .collect::<AppResult<Vec<_>>>()?;
    let mut wanted = order.to_vec();
    current.sort();
    wanted.sort();
    if current != wanted {
        return Err(AppError::field(
            "order",
            "name every image of the product exactly once",
        ));
    }
    for (i, image_id) in order.iter().enumerate() {
        sqlx::query("UPDATE product_images SET position = $2 WHERE id = $1")
            .bind(image_id.to_string())
            .bind(i as i64 + 1)
            .execute(&mut *tx)
            .await?;
    }
    audit::record(
        &mut tx,
        actor,
        "product.image.move",
        "product",
        &id,
        serde_json::json!({ "order": order }),
    )
    .await?;
    super::catalog::bump_product_skus(&mut tx, &id).await?;
    tx.commit().await?;
    list(store, product_id).await
}

/// Removes one image of the product, audited, and answers it. The kept objects stay: they are
/// content-addressed and may be named elsewhere (another product, an after-sales photo).
pub async fn remove(
    store: &Store,
    product_id: Uuid,
    image_id: Uuid,
    actor: &str,
) -> AppResult<ProductImage> {
    let id = product_id.to_string();
    let mut tx = store.begin().await?;
    lock_product(&mut tx, store, &id).await?;
    let row = sqlx::query(
        "SELECT id, product_id, position, image FROM product_images \
         WHERE id = $1 AND product_id = $2",
    )
    .bind(image_id.to_string())
    .bind(&id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AppError::not_found("no such image of this product"))?;
    let removed = row_image(&row)?;
    sqlx::query("DELETE FROM product_images WHERE id = $1")
        .bind(image_id.to_string())
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        actor,
        "product.image.remove",
        "product",
        &id,
        serde_json::json!({ "image_id": image_id, "full": removed.image.full.name }),
    )
    .await?;
    super::catalog::bump_product_skus(&mut tx, &id).await?;
    tx.commit().await?;
    Ok(removed)
}
