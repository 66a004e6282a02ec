//! Label scales at the fresh counter (issue 21; docs/CONTRACTS.md, "Label scales"): which SKUs
//! the scales sell (head office's scale items: PLU, key, tare, shelf life) and a store's PLU
//! list, priced by the one pricing engine at the time it is asked for (store prices and sale
//! promotions apply, as at the lanes), with a version the store's edge agent diffs against.

use std::collections::HashMap;

use chrono::Utc;
use retail_domain::barcode::{MeasureKind, VariableMeasureLayout};
use retail_domain::pricing::MAX_LINES;
use retail_domain::wire::catalog::ShelfStatus;
use retail_domain::wire::scales::{ScalePlu, ScalePluList};
use uuid::Uuid;

use crate::app::pricing::{quote, sku_records, BasketRequest, Channel};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::scales::{NewScaleItem, ScaleItem};

/// The barcode layout the scales print: the chain's first price layout
/// (`barcodes.variable_measure`).
///
/// # Errors
/// 409 `no_scale_layout` when the chain has no price layout.
pub fn scale_layout(state: &AppState) -> AppResult<VariableMeasureLayout> {
    state
        .settings
        .barcodes
        .variable_measure
        .iter()
        .find(|l| l.value == MeasureKind::Price && !l.value_check_digit)
        .cloned()
        .ok_or_else(|| {
            AppError::conflict(
                "no_scale_layout",
                "barcodes.variable_measure has no price layout (without a value check digit) \
                 for the label scales to print",
            )
        })
}

/// The name a scale prints: the product name, and the spec when there is one.
fn label_name(name: &str, spec: &str) -> String {
    if spec.trim().is_empty() {
        name.trim().to_owned()
    } else {
        format!("{} {}", name.trim(), spec.trim())
    }
}

/// The store's PLU list now: every scale item whose SKU is on shelf, with the engine's unit
/// price at the store (a weighed SKU priced for 1 kg, a counted one for 1 piece; no member, no
/// basket promotions, which a label cannot show).
pub async fn plu_list(state: &AppState, store: &str) -> AppResult<ScalePluList> {
    storage::locations::get(&state.store, store).await?;
    let layout = scale_layout(state)?;
    let flag = layout.prefixes.first().cloned().unwrap_or_default();
    let rows = storage::scales::list(&state.store).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.item.sku_id).collect();
    let skus = sku_records(state, store, &ids).await?;
    let selling: Vec<_> = rows
        .iter()
        .filter(|r| {
            let fits = r.item.plu.len() == layout.plu_digits
                && r.item.plu.bytes().all(|b| b.is_ascii_digit());
            if !fits {
                tracing::warn!(plu = %r.item.plu, "a scale item's PLU does not fit the scale layout; left off the scales");
            }
            fits && skus
                .get(&r.item.sku_id)
                .is_some_and(|s| s.status == ShelfStatus::OnShelf)
        })
        .collect();
    let mut prices = HashMap::with_capacity(selling.len());
    for chunk in selling.chunks(MAX_LINES) {
        let request = BasketRequest {
            location: store.to_owned(),
            channel: Channel::Lane,
            member_id: None,
            lines: chunk
                .iter()
                .map(|r| {
                    let weighed = skus.get(&r.item.sku_id).is_some_and(|s| s.weighed);
                    (r.item.sku_id, if weighed { 1000 } else { 1 })
                })
                .collect(),
            label_prices: HashMap::new(),
            coupons: Vec::new(),
            points_to_redeem: 0,
        };
        let quoted = quote(state, &request).await?;
        for line in quoted.basket.lines {
            prices.insert(line.sku_id, (line.unit_price, line.list_unit_price));
        }
    }
    let mut items = Vec::with_capacity(selling.len());
    for row in selling {
        let (Some(sku), Some((unit, list))) =
            (skus.get(&row.item.sku_id), prices.get(&row.item.sku_id))
        else {
            continue;
        };
        items.push(ScalePlu {
            key: u16::try_from(row.item.scale_key).unwrap_or(0),
            plu: row.item.plu.clone(),
            sku_id: row.item.sku_id,
            name: label_name(&row.name_zh, &row.spec_zh),
            unit_price: *unit,
            list_price: *list,
            weighed: sku.weighed,
            tare_g: u32::try_from(row.item.tare_g).unwrap_or(0),
            shelf_life_days: u16::try_from(row.item.shelf_life_days).unwrap_or(0),
            barcode_flag: flag.clone(),
        });
    }
    Ok(ScalePluList {
        store: store.to_owned(),
        version: ScalePluList::digest(&layout, &items),
        generated_at: Utc::now(),
        layout,
        items,
    })
}

/// What head office sets for a SKU sold through the scales.
#[derive(Clone, Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScaleItemInput {
    /// The PLU printed in labels: digits, as many as the scale layout's PLU field, and one of
    /// the SKU's barcodes.
    pub plu: String,
    /// The scale key (slot / hot key), 1–9999, unique in the chain.
    pub scale_key: i64,
    /// Tare in grams, 0–99 999.
    #[serde(default)]
    pub tare_g: i64,
    /// Shelf life in days, 0–999 (0: none printed).
    #[serde(default)]
    pub shelf_life_days: i64,
}

/// Sets a SKU's scale item (idempotent; audited).
///
/// # Errors
/// 422 for values out of range or a PLU that does not fit the layout or is not the SKU's
/// barcode; 404 for an unknown SKU; 409 when the PLU or key is another SKU's.
pub async fn set_item(
    state: &AppState,
    sku_id: Uuid,
    input: &ScaleItemInput,
    actor: &str,
) -> AppResult<ScaleItem> {
    let layout = scale_layout(state)?;
    let plu = input.plu.trim();
    if plu.len() != layout.plu_digits || !plu.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AppError::field(
            "plu",
            format!(
                "the PLU must be {} digits (the scale layout's PLU field)",
                layout.plu_digits
            ),
        ));
    }
    if !(1..=9999).contains(&input.scale_key) {
        return Err(AppError::field("scale_key", "must be 1 to 9999"));
    }
    if !(0..=99_999).contains(&input.tare_g) {
        return Err(AppError::field("tare_g", "must be 0 to 99999 grams"));
    }
    if !(0..=999).contains(&input.shelf_life_days) {
        return Err(AppError::field("shelf_life_days", "must be 0 to 999 days"));
    }
    storage::scales::set(
        &state.store,
        &NewScaleItem {
            sku_id,
            plu,
            scale_key: input.scale_key,
            tare_g: input.tare_g,
            shelf_life_days: input.shelf_life_days,
            actor,
        },
    )
    .await
}

/// A SKU's scale item, if it is sold through the label scales.
pub async fn item(state: &AppState, sku_id: Uuid) -> AppResult<Option<ScaleItem>> {
    storage::scales::get(&state.store, sku_id).await
}

/// Takes a SKU off the label scales (idempotent; audited `scale_item.remove`); true when it was
/// on them. The scales drop it at their next full reload.
pub async fn remove_item(state: &AppState, sku_id: Uuid, actor: &str) -> AppResult<bool> {
    storage::scales::remove(&state.store, sku_id, actor).await
}

/// Reads a scanned code as a scale label for scan-and-go at `location`: `Ok(None)` when it is
/// not a label of the chain's layouts (look it up as a barcode), the label (SKU by its PLU,
/// the printed price, the weight it stands for at the store's price per kg) when it is.
///
/// # Errors
/// 422 on `code`: a label whose PLU is unknown or off shelf, a zero price, or a weight label
/// (scan-and-go takes price labels).
pub async fn read_scan_label(
    state: &AppState,
    location: &str,
    code: &str,
) -> AppResult<Option<storage::scales::ScanLabel>> {
    use retail_domain::barcode::{classify_product_code, Measure, ScannedCode};
    let layouts = &state.settings.barcodes.variable_measure;
    let Ok(ScannedCode::VariableMeasure { plu, measure, code }) =
        classify_product_code(code, layouts)
    else {
        return Ok(None);
    };
    let Measure::Price(price) = measure else {
        return Err(AppError::field(
            "code",
            "a weight label: scan-and-go takes the scales' price labels",
        ));
    };
    if price.fen() <= 0 {
        return Err(AppError::field("code", "the label's price is zero"));
    }
    let sku_id = storage::web::sku_by_code(&state.store, &plu)
        .await?
        .ok_or_else(|| AppError::field("code", format!("no product has the PLU {plu}")))?;
    let skus = sku_records(state, location, &[sku_id]).await?;
    let sku = skus
        .get(&sku_id)
        .filter(|s| s.status == ShelfStatus::OnShelf)
        .ok_or_else(|| AppError::field("code", format!("PLU {plu} is not on sale here")))?;
    // The weight the label stands for at the store's list price per kg, rounded to the gram
    // (as the lanes derive it); a counted item's label has none.
    let grams = if sku.weighed {
        retail_domain::pricing::label_grams(price, sku.effective_price()).unwrap_or(0)
    } else {
        0
    };
    Ok(Some(storage::scales::ScanLabel {
        code,
        sku_id,
        grams,
        price_fen: price.fen(),
    }))
}
