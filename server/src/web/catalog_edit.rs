//! Console: a product's category and its SKUs' barcodes (head office). Adding a barcode goes
//! through the API's validation ([`crate::app::catalog::add_sku_barcode`]: a GTIN's check
//! digit, an internal code's shape, one SKU per code); a SKU keeps at least one barcode.
//! Every change is audited and moves the SKUs to the end of the catalog change feed, so lanes
//! and the shop's search index pick it up.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use maud::{html, Markup};
use retail_domain::wire::catalog::CategoryRecord;
use serde::Deserialize;
use uuid::Uuid;

use super::console::{product_of_sku, product_view, SkuErrors};
use super::{redirect, Ctx, Form, Staff, WebResult};
use crate::actor::Role;
use crate::app::catalog::{add_sku_barcode, BarcodeRequest};
use crate::app::AppState;
use crate::error::AppError;
use crate::storage;

/// Category and barcode routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/catalog/products/{id}/category", post(category))
        .route("/console/catalog/skus/{id}/barcodes", post(add_barcode))
        .route(
            "/console/catalog/skus/{id}/barcodes/remove",
            post(remove_barcode),
        )
}

/// The product's category picker (every category, shown with its path code and name).
pub fn category_form(
    ctx: &Ctx,
    product: Uuid,
    current: &str,
    categories: &[CategoryRecord],
    error: Option<&String>,
) -> Markup {
    html! {
        form.row.card #category-form method="post" action={ "/console/catalog/products/" (product) "/category" } {
            (ctx.csrf_field())
            label for="category_id" { (ctx.t("品类", "Category")) }
            select #category_id name="category_id" style="max-width:360px" {
                @for c in categories {
                    option value=(c.id) selected[c.id == current] { (c.id) " · " (ctx.lang.pick(&c.name_zh, &c.name_en)) }
                }
            }
            button.btn.secondary type="submit" { (ctx.t("修改品类", "Change category")) }
            @if let Some(e) = error { p.field-error role="alert" data-error="category" { (e) } }
        }
    }
}

/// A SKU's barcodes with a remove button each, and the form to add one.
pub fn barcode_forms(ctx: &Ctx, sku: Uuid, barcodes: &[String], error: Option<&String>) -> Markup {
    html! {
        div.row.barcode-list {
            @for code in barcodes {
                form.inline method="post" action={ "/console/catalog/skus/" (sku) "/barcodes/remove" } {
                    (ctx.csrf_field())
                    input type="hidden" name="code" value=(code);
                    span.chip { (code) " " button.link type="submit" title=(ctx.t("删除条码", "Remove barcode")) disabled[barcodes.len() < 2] { "×" } }
                }
            }
        }
        form.row.add-barcode method="post" action={ "/console/catalog/skus/" (sku) "/barcodes" } {
            (ctx.csrf_field())
            input name="code" placeholder=(ctx.t("新条码（EAN-13/8、UPC-A）", "New barcode (EAN-13/8, UPC-A)")) style="max-width:220px" inputmode="numeric";
            label.row { input type="checkbox" name="internal" value="1"; (ctx.t("店内码", "Internal code")) }
            button.btn.secondary type="submit" { (ctx.t("添加条码", "Add barcode")) }
        }
        @if let Some(e) = error { p.field-error role="alert" data-error="barcode" { (e) } }
    }
}

#[derive(Debug, Deserialize, Default)]
struct CategoryForm {
    category_id: Option<String>,
}

async fn category(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(f): Form<CategoryForm>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let code = f.category_id.unwrap_or_default().trim().to_owned();
    match storage::catalog::set_product_category(&state.store, id, &code, &staff.actor()).await {
        Ok(()) => {
            state.search.invalidate();
            Ok(redirect(&format!("/console/catalog/products/{id}?done=1")))
        }
        Err(AppError::Invalid { .. }) => {
            let errors = SkuErrors::from([(
                "category".to_owned(),
                ctx.t("没有这个品类", "No such category").to_owned(),
            )]);
            product_view(&state, &ctx, &staff, id, &errors, false).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize, Default)]
struct BarcodeForm {
    code: Option<String>,
    internal: Option<String>,
}

/// A refused barcode change, shown next to the SKU's barcodes.
fn barcode_problem(ctx: &Ctx, err: &AppError) -> Option<String> {
    match err {
        AppError::Invalid { .. } => Some(format!(
            "{} ({err})",
            ctx.t(
                "条码无效：请检查位数和校验位",
                "Not a valid barcode: check the digits and the check digit"
            )
        )),
        AppError::Conflict {
            code: "barcode_in_use",
            ..
        } => Some(
            ctx.t(
                "这个条码已属于另一个商品",
                "This barcode belongs to another SKU",
            )
            .to_owned(),
        ),
        AppError::Conflict {
            code: "last_barcode",
            ..
        } => Some(
            ctx.t(
                "每个规格至少保留一个条码：请先添加新条码",
                "A SKU keeps at least one barcode: add the new one first",
            )
            .to_owned(),
        ),
        _ => None,
    }
}

/// Answers a barcode change: back to the product page, or the page with the problem shown.
async fn barcode_answer(
    state: &AppState,
    ctx: &Ctx,
    staff: &crate::actor::StaffActor,
    sku: Uuid,
    result: Result<(), AppError>,
) -> WebResult<Response> {
    let product = product_of_sku(state, sku).await?;
    match result {
        Ok(()) => {
            state.search.invalidate();
            Ok(redirect(&format!(
                "/console/catalog/products/{product}?done=1"
            )))
        }
        Err(e) => match barcode_problem(ctx, &e) {
            Some(text) => {
                let errors = SkuErrors::from([(format!("barcode-{sku}"), text)]);
                product_view(state, ctx, staff, product, &errors, false).await
            }
            None => Err(e.into()),
        },
    }
}

async fn add_barcode(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(f): Form<BarcodeForm>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let request = BarcodeRequest {
        code: f.code.unwrap_or_default(),
        internal: f.internal.is_some(),
    };
    let result = add_sku_barcode(&state, &staff.actor(), id, &request).await;
    barcode_answer(&state, &ctx, &staff, id, result).await
}

async fn remove_barcode(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(f): Form<BarcodeForm>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let code = f.code.unwrap_or_default();
    let result =
        storage::catalog::remove_barcode(&state.store, id, code.trim(), &staff.actor()).await;
    barcode_answer(&state, &ctx, &staff, id, result).await
}
