//! The console's product list (search by name, brand, code or barcode; on and off shelf) and the
//! whole catalog as a CSV file, one line per SKU, in the columns the import reads.

use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use crate::actor::Role;
use crate::app::catalog_import::CATALOG_COLUMNS;
use crate::app::AppState;
use crate::error::AppError;
use crate::storage;
use crate::web::console::{csv_bytes, csv_response};
use crate::web::{console_page, redirect, urlencode, yuan, Ctx, Form, Staff, WebResult};

/// Product list routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/catalog", get(catalog))
        .route("/console/catalog.csv", get(catalog_csv))
        .route("/console/catalog/shelf", post(batch_shelf))
}

#[derive(Debug, Deserialize, Default)]
struct CatalogParams {
    q: Option<String>,
    after: Option<String>,
}

async fn catalog(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<CatalogParams>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let page = storage::catalog::list_products(
        &state.store,
        &storage::catalog::ProductFilter {
            q: p.q.clone().map(|q| q.trim().chars().take(64).collect()),
            after: p.after.clone(),
            limit: 50,
            include_off_shelf: true,
            ..Default::default()
        },
    )
    .await?;
    let stores: Vec<_> = storage::locations::list(&state.store)
        .await?
        .into_iter()
        .filter(|l| l.kind == "store")
        .collect();
    let body = html! {
        form.card.row method="get" action="/console/catalog" {
            input name="q" value=(p.q.as_deref().unwrap_or("")) placeholder=(ctx.t("名称、品牌、编码或条码", "Name, brand, code or barcode")) style="max-width:280px";
            button.btn type="submit" { (ctx.t("搜索", "Search")) }
            a.btn href="/console/catalog/products/new" #new-product-link { (ctx.t("新建商品", "New product")) }
            a.btn.secondary href="/console/catalog.csv" { (ctx.t("导出 CSV", "Export CSV")) }
            a.btn.secondary href="/console/catalog/import" { (ctx.t("导入 CSV", "Import CSV")) }
        }
        form method="post" action="/console/catalog/shelf" #batch-shelf {
        (ctx.csrf_field())
        div.card.row {
            span { (ctx.t("勾选的商品：", "Ticked products: ")) }
            select name="store" style="max-width:180px" {
                option value="" { (ctx.t("全部门店", "All stores")) }
                @for l in &stores { option value=(l.id) { (l.id) " " (ctx.lang.pick(&l.name_zh, &l.name_en)) } }
            }
            button.btn.secondary type="submit" name="status" value="on_shelf" { (ctx.t("批量上架", "Put on shelf")) }
            button.btn.warn type="submit" name="status" value="off_shelf" { (ctx.t("批量下架", "Take off shelf")) }
        }
        div.table-wrap { table #products {
            tr { th {} th { (ctx.t("编码", "Code")) } th { (ctx.t("名称", "Name")) } th { (ctx.t("品牌", "Brand")) } th { (ctx.t("分类", "Category")) } th.num { "SKU" } th.num { (ctx.t("价格", "Price")) } th { (ctx.t("状态", "Status")) } }
            @for pr in &page.items {
                tr { td { input type="checkbox" name="product" value=(pr.id) aria-label=(pr.code); } td { a href={ "/console/catalog/products/" (pr.id) } { (pr.code) } } td { (ctx.lang.pick(&pr.name_zh, &pr.name_en)) } td { (pr.brand) } td { (pr.category_id) } td.num { (pr.sku_count) }
                     td.num { @if let Some(m) = pr.price_min { (yuan(m.fen())) } }
                     td { @if pr.status.as_str() == "on_shelf" { span.status.paid { (ctx.t("在售", "On shelf")) } } @else { span.status.cancelled { (ctx.t("下架", "Off shelf")) } } } }
            }
        } }
        }
        @if let Some(next) = &page.next_after {
            p { a.btn.secondary href={ "/console/catalog?q=" (urlencode(p.q.as_deref().unwrap_or(""))) "&after=" (urlencode(next)) } { (ctx.t("下一页", "Next page")) } }
        }
    };
    Ok(console_page(&ctx, &staff, ctx.t("商品", "Catalog"), body))
}

async fn catalog_csv(State(state): State<AppState>, Staff(staff): Staff) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let mut rows = Vec::new();
    let mut after = None;
    loop {
        let page = storage::catalog::list_products(
            &state.store,
            &storage::catalog::ProductFilter {
                after: after.clone(),
                limit: 200,
                include_off_shelf: true,
                ..Default::default()
            },
        )
        .await?;
        for summary in &page.items {
            let Some(p) = storage::catalog::product(&state.store, summary.id).await? else {
                continue;
            };
            for s in &p.skus {
                rows.push(vec![
                    p.code.clone(),
                    p.name_zh.clone(),
                    p.name_en.clone(),
                    p.brand.clone(),
                    p.category_id.clone(),
                    s.sku_code.clone(),
                    s.spec_zh.clone(),
                    s.spec_en.clone(),
                    s.unit.clone(),
                    s.price.to_string(),
                    s.member_price.map(|m| m.to_string()).unwrap_or_default(),
                    s.barcodes.join(" "),
                ]);
            }
        }
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let bytes = csv_bytes(&CATALOG_COLUMNS, rows)?;
    Ok(csv_response("catalog.csv", bytes))
}

/// Puts the ticked products on or off the shelf, at one store or chain-wide (head office;
/// audited). The form repeats `product` once per ticked product.
async fn batch_shelf(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Form(fields): Form<Vec<(String, String)>>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let value = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let status = match value("status") {
        Some("on_shelf") => retail_domain::wire::catalog::ShelfStatus::OnShelf,
        Some("off_shelf") => retail_domain::wire::catalog::ShelfStatus::OffShelf,
        _ => return Err(AppError::field("status", "must be on_shelf or off_shelf").into()),
    };
    let store = value("store").filter(|s| !s.trim().is_empty());
    let mut products = Vec::new();
    for (k, v) in &fields {
        if k == "product" {
            products.push(
                Uuid::parse_str(v.trim())
                    .map_err(|_| AppError::field("product", "not a product id"))?,
            );
        }
    }
    crate::app::catalog::set_shelf(&state, &staff.actor(), &products, store, status).await?;
    Ok(redirect("/console/catalog?done=1"))
}
