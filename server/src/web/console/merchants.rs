//! The console's merchant pages (B2B2C), through [`crate::app::merchants`] as the API:
//! - `/console/merchants` (head office): the merchants with their review (approve, reject,
//!   suspend, reinstate), admitting a new one, the queue of merchants' products waiting for
//!   review, and the platform's commission rates;
//! - `/console/merchant` (a merchant administrator's home): its merchant's standing and its
//!   products with their review and shelf status, putting approved ones on or off the shelf;
//!   its orders to ship; and, read-only, its stores, the devices at them and its current
//!   promotions (managed through the API: `POST /api/v1/locations`, `/devices`, `/promotions`).

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use retail_domain::wire::catalog::ShelfStatus;
use serde::Deserialize;
use uuid::Uuid;

use crate::app::merchants::{
    self as merchants_app, CommissionRateRequest, MerchantDecision, MerchantRequest,
    ProductDecision, ReviewDecision,
};
use crate::app::AppState;
use crate::error::AppError;
use crate::storage;
use crate::storage::catalog::ProductFilter;
use crate::storage::merchants::MerchantStatus;
use crate::web::{console_page, redirect, urlencode, when, Ctx, Form, Lang, Staff, WebResult};

/// Merchant page routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/merchants", get(merchants_page).post(admit))
        .route("/console/merchants/review", post(review))
        .route("/console/merchants/products/review", post(review_product))
        .route("/console/merchants/commission", post(set_rate))
        .route("/console/merchant", get(home))
        .route("/console/merchant/shelf", post(shelf))
        .route("/console/merchant/orders/{id}/ship", post(ship))
}

#[derive(Debug, Deserialize, Default)]
struct Notice {
    done: Option<String>,
    error: Option<String>,
}

fn status_label(lang: Lang, status: MerchantStatus) -> &'static str {
    match status {
        MerchantStatus::Pending => lang.t("待审核", "Pending"),
        MerchantStatus::Approved => lang.t("经营中", "Trading"),
        MerchantStatus::Rejected => lang.t("已拒绝", "Rejected"),
        MerchantStatus::Suspended => lang.t("已暂停", "Suspended"),
    }
}

fn review_label(lang: Lang, review: &str) -> &'static str {
    match review {
        "pending" => lang.t("待审核", "Pending review"),
        "approved" => lang.t("已通过", "Approved"),
        _ => lang.t("未通过", "Rejected"),
    }
}

fn notices(ctx: &Ctx, p: &Notice) -> Markup {
    html! {
        @if p.done.is_some() { div.notice.ok role="status" { (ctx.t("已保存。", "Saved.")) } }
        @if let Some(e) = &p.error { div.notice.err role="alert" #merchant-error { (e) } }
    }
}

/// Where a form goes back to, with the error of a refused change shown on the page.
fn back(to: &str, result: Result<(), AppError>) -> WebResult<Response> {
    match result {
        Ok(()) => Ok(redirect(&format!("{to}?done=1"))),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict { .. } | AppError::NotFound(_))) => {
            Ok(redirect(&format!(
                "{to}?error={}",
                urlencode(&e.to_string())
            )))
        }
        Err(e) => Err(e.into()),
    }
}

async fn merchants_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<Notice>,
) -> WebResult<Response> {
    staff.require(&[crate::actor::Role::HeadOfficeAdmin])?;
    let merchants = merchants_app::list(&state.store, &staff, None).await?;
    let queue = merchants_app::products_to_review(&state.store, &staff).await?;
    let rates = merchants_app::commission_rates(&state.store, &staff).await?;
    let body = html! {
        (notices(&ctx, &p))
        div.card #merchant-list {
            b { (ctx.t("入驻商家", "Merchants")) }
            div.table-wrap { table {
                tr { th { (ctx.t("编码", "Code")) } th { (ctx.t("名称", "Name")) } th { (ctx.t("联系人", "Contact")) }
                     th { (ctx.t("状态", "Status")) } th { (ctx.t("审核意见", "Review note")) } th {} }
                @for m in &merchants { tr data-merchant=(m.id) {
                    td { (m.id) } td { (ctx.lang.pick(&m.name_zh, &m.name_en)) }
                    td { (m.contact_name) " " (m.contact_phone) }
                    td { span.status.(m.status.as_str()) { (status_label(ctx.lang, m.status)) } }
                    td.muted { (m.review_note) }
                    td { @if m.id != storage::merchants::PLATFORM {
                        form.inline method="post" action="/console/merchants/review" {
                            (ctx.csrf_field())
                            input type="hidden" name="id" value=(m.id);
                            select name="decision" {
                                option value="approve" { (ctx.t("通过 / 恢复", "Approve / reinstate")) }
                                option value="reject" { (ctx.t("拒绝", "Reject")) }
                                option value="suspend" { (ctx.t("暂停", "Suspend")) }
                            }
                            input name="note" placeholder=(ctx.t("意见（拒绝、暂停必填）", "Note (needed to reject or suspend)"));
                            button.btn type="submit" { (ctx.t("提交", "Submit")) }
                        }
                    } }
                } }
            } }
        }
        form.card #admit-merchant method="post" action="/console/merchants" {
            b { (ctx.t("新增商家（待审核）", "Admit a merchant (pending review)")) }
            (ctx.csrf_field())
            div.two {
                input name="id" placeholder=(ctx.t("编码，如 m-green-farm", "Code, e.g. m-green-farm"));
                input name="name_zh" placeholder=(ctx.t("中文名称", "Chinese name"));
            }
            div.two {
                input name="name_en" placeholder=(ctx.t("英文名称", "English name"));
                input name="contact_name" placeholder=(ctx.t("联系人", "Contact person"));
            }
            input name="contact_phone" placeholder=(ctx.t("联系电话", "Contact phone"));
            button.btn type="submit" { (ctx.t("新增", "Admit")) }
        }
        div.card #product-review {
            b { (ctx.t("待审核商品", "Products waiting for review")) }
            @if queue.is_empty() { p.muted { (ctx.t("没有待审核的商品。", "Nothing to review.")) } }
            div.table-wrap { table {
                @for q in &queue { tr data-product=(q.id) {
                    td { a href={ "/console/catalog/products/" (q.id) } { (q.code) } }
                    td { (ctx.lang.pick(&q.name_zh, &q.name_en)) } td { (q.category_id) } td { (q.merchant_id) }
                    td.muted { (when(q.created_at)) }
                    td { form.inline method="post" action="/console/merchants/products/review" {
                        (ctx.csrf_field())
                        input type="hidden" name="product_id" value=(q.id);
                        select name="decision" {
                            option value="approve" { (ctx.t("通过", "Approve")) }
                            option value="reject" { (ctx.t("驳回", "Reject")) }
                        }
                        input name="note" placeholder=(ctx.t("驳回理由", "Why rejected"));
                        button.btn type="submit" { (ctx.t("提交", "Submit")) }
                    } }
                } }
            } }
        }
        div.card #commission-rates {
            b { (ctx.t("平台佣金（按类目，万分比）", "Platform commission (per category, basis points)")) }
            div.table-wrap { table {
                tr { th { (ctx.t("商家", "Merchant")) } th { (ctx.t("类目", "Category")) } th { (ctx.t("费率", "Rate")) } th { (ctx.t("设置人", "Set by")) } }
                @for r in &rates { tr {
                    td { @if r.merchant_id == "*" { (ctx.t("全部商家（默认）", "Every merchant (default)")) } @else { (r.merchant_id) } }
                    td { (r.category_id) }
                    td { (format!("{:.2}%", r.rate_bp as f64 / 100.0)) }
                    td.muted { (r.updated_by) " " (when(r.updated_at)) }
                } }
            } }
            form.row method="post" action="/console/merchants/commission" {
                (ctx.csrf_field())
                input name="merchant_id" value="*" style="max-width:160px";
                input name="category_id" placeholder=(ctx.t("类目编码", "Category code")) style="max-width:180px";
                input name="rate_bp" placeholder=(ctx.t("万分比，如 600；空为删除", "Basis points, e.g. 600; empty removes")) style="max-width:220px";
                button.btn type="submit" { (ctx.t("保存", "Save")) }
            }
        }
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("入驻商家", "Merchants"),
        body,
    ))
}

#[derive(Debug, Deserialize)]
struct AdmitForm {
    id: String,
    name_zh: String,
    #[serde(default)]
    name_en: String,
    #[serde(default)]
    contact_name: String,
    #[serde(default)]
    contact_phone: String,
}

async fn admit(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Form(f): Form<AdmitForm>,
) -> WebResult<Response> {
    let req = MerchantRequest {
        id: f.id,
        name_zh: f.name_zh,
        name_en: f.name_en,
        contact_name: f.contact_name,
        contact_phone: f.contact_phone,
    };
    let result = merchants_app::create(&state.store, &staff, &req)
        .await
        .map(drop);
    back("/console/merchants", result)
}

#[derive(Debug, Deserialize)]
struct ReviewForm {
    id: String,
    decision: MerchantDecision,
    #[serde(default)]
    note: String,
}

async fn review(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Form(f): Form<ReviewForm>,
) -> WebResult<Response> {
    let req = ReviewDecision {
        decision: f.decision,
        note: f.note,
    };
    let result = merchants_app::review(&state, &staff, &f.id, &req)
        .await
        .map(drop);
    back("/console/merchants", result)
}

#[derive(Debug, Deserialize)]
struct ProductReviewForm {
    product_id: Uuid,
    decision: ProductDecision,
    #[serde(default)]
    note: String,
}

async fn review_product(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Form(f): Form<ProductReviewForm>,
) -> WebResult<Response> {
    let req = ReviewDecision {
        decision: f.decision,
        note: f.note,
    };
    let result = merchants_app::review_product(&state, &staff, f.product_id, &req)
        .await
        .map(drop);
    back("/console/merchants", result)
}

#[derive(Debug, Deserialize)]
struct RateForm {
    merchant_id: String,
    category_id: String,
    #[serde(default)]
    rate_bp: String,
}

async fn set_rate(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Form(f): Form<RateForm>,
) -> WebResult<Response> {
    let rate_bp = match f.rate_bp.trim() {
        "" => None,
        text => match text.parse::<i64>() {
            Ok(rate) => Some(rate),
            Err(_) => {
                return back(
                    "/console/merchants",
                    Err(AppError::field("rate_bp", "a whole number of basis points")),
                )
            }
        },
    };
    let req = CommissionRateRequest {
        merchant_id: f.merchant_id.trim().to_owned(),
        category_id: f.category_id.trim().to_owned(),
        rate_bp,
    };
    let result = merchants_app::set_commission_rate(&state.store, &staff, &req)
        .await
        .map(drop);
    back("/console/merchants", result)
}

async fn home(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<Notice>,
) -> WebResult<Response> {
    let Some(own) = staff.merchant_scope()?.map(str::to_owned) else {
        return Ok(redirect("/console/merchants"));
    };
    let merchant = merchants_app::get(&state.store, &staff, &own).await?;
    let products = storage::catalog::list_products(
        &state.store,
        &ProductFilter {
            limit: 200,
            include_off_shelf: true,
            merchant: Some(own.clone()),
            ..ProductFilter::default()
        },
    )
    .await?;
    let to_ship = merchants_app::orders_to_ship(&state, &staff, 50).await?;
    let stores = crate::app::locations::list_own(&state, &staff).await?;
    let devices = crate::app::devices::list_for(&state, &staff, None).await?;
    let promotions =
        crate::app::promotions::list_for(&state, &staff, true, None, PROMOTIONS_SHOWN).await?;
    let body = html! {
        (notices(&ctx, &p))
        div.card #merchant-standing {
            b { (ctx.lang.pick(&merchant.name_zh, &merchant.name_en)) " (" (merchant.id) ")" }
            p { span.status.(merchant.status.as_str()) { (status_label(ctx.lang, merchant.status)) }
                @if !merchant.review_note.is_empty() { " · " (merchant.review_note) } }
            @if merchant.status == MerchantStatus::Approved {
                p { a href={ "/m/" (merchant.id) } target="_blank" { (ctx.t("查看店铺页", "See the shop page")) } }
            }
        }
        div.card #merchant-products {
            b { (ctx.t("我的商品", "My products")) }
            @if products.items.is_empty() {
                p.muted { (ctx.t("还没有商品：通过 API POST /api/v1/products 提交，平台审核后可上架。",
                    "No products yet: submit them with POST /api/v1/products; once the platform approves one, put it on the shelf.")) }
            }
            div.table-wrap { table {
                tr { th { (ctx.t("编码", "Code")) } th { (ctx.t("名称", "Name")) } th { (ctx.t("审核", "Review")) }
                     th { (ctx.t("上架", "Shelf")) } th {} }
                @for item in &products.items { tr data-product=(item.id) {
                    td { (item.code) } td { (ctx.lang.pick(&item.name_zh, &item.name_en)) }
                    td { (review_label(ctx.lang, &item.review_status)) }
                    td { @if item.status == ShelfStatus::OnShelf { (ctx.t("在售", "On shelf")) } @else { (ctx.t("未上架", "Off shelf")) } }
                    td { @if item.review_status == "approved" {
                        form.inline method="post" action="/console/merchant/shelf" {
                            (ctx.csrf_field())
                            input type="hidden" name="product_id" value=(item.id);
                            @if item.status == ShelfStatus::OnShelf {
                                input type="hidden" name="status" value="off_shelf";
                                button.link type="submit" { (ctx.t("下架", "Take off")) }
                            } @else {
                                input type="hidden" name="status" value="on_shelf";
                                button.link type="submit" { (ctx.t("上架", "Put on shelf")) }
                            }
                        }
                    } }
                } }
            } }
        }
    };
    let body = html! {
        (body)
        div.card #merchant-orders {
            b { (ctx.t("待发货订单", "Orders to ship")) }
            @if to_ship.is_empty() {
                p.muted #no-orders-to-ship { (ctx.t("没有待发货的订单。", "Nothing to ship.")) }
            }
            @for (order, address, _) in &to_ship {
                div.card data-order=(order.id) {
                    div.spread { b { (order.order_no) } span { (crate::web::yuan(order.total.fen())) } }
                    @for l in &order.lines { div.muted { (l.name) " × " (l.qty) } }
                    @if let Some(a) = address {
                        p.order-address { (a.name) " " (a.phone) " · " (a.region()) " " (a.address) }
                    }
                    form.inline method="post" action={ "/console/merchant/orders/" (order.id) "/ship" } {
                        (ctx.csrf_field())
                        input name="carrier" placeholder=(ctx.t("快递公司，如 SF", "Carrier, e.g. SF")) style="max-width:160px";
                        input name="waybill" placeholder=(ctx.t("运单号", "Waybill")) style="max-width:200px";
                        button type="submit" { (ctx.t("发货", "Ship")) }
                    }
                }
            }
        }
    };
    let body = html! {
        (body)
        div.card #merchant-stores {
            b { (ctx.t("我的门店和仓库", "My stores and warehouses")) }
            @if stores.is_empty() {
                p.muted { (ctx.t("还没有门店：通过 API POST /api/v1/locations 开设。",
                    "No stores yet: open one with POST /api/v1/locations.")) }
            }
            div.table-wrap { table {
                tr { th { (ctx.t("编码", "Code")) } th { (ctx.t("类型", "Kind")) } th { (ctx.t("名称", "Name")) }
                     th { (ctx.t("地址", "Address")) } }
                @for l in &stores { tr data-location=(l.id) {
                    td { (l.id) }
                    td { @if l.kind == "warehouse" { (ctx.t("仓库", "Warehouse")) } @else { (ctx.t("门店", "Store")) } }
                    td { (ctx.lang.pick(&l.name_zh, &l.name_en)) }
                    td.muted { (l.city) " " (l.address) }
                } }
            } }
        }
        div.card #merchant-devices {
            b { (ctx.t("门店设备", "Devices at my stores")) }
            @if devices.is_empty() {
                p.muted { (ctx.t("还没有设备：通过 API POST /api/v1/devices 登记。",
                    "No devices yet: register one with POST /api/v1/devices.")) }
            }
            div.table-wrap { table {
                tr { th { (ctx.t("门店", "Store")) } th { (ctx.t("名称", "Name")) } th { (ctx.t("类型", "Kind")) }
                     th { (ctx.t("登记时间", "Registered")) } th { (ctx.t("状态", "Status")) } }
                @for d in &devices { tr data-device=(d.id) {
                    td { (d.location_id) } td { (d.name) }
                    td { @if d.kind == crate::actor::DeviceKind::Pos { (ctx.t("收银机", "POS lane")) } @else { (ctx.t("门店边缘代理", "Edge agent")) } }
                    td.muted { (when(d.created_at.timestamp_millis())) }
                    td { @if d.revoked_at.is_some() { span.status.cancelled { (ctx.t("已吊销", "Revoked")) } }
                         @else { span.status.paid { (ctx.t("有效", "Active")) } } }
                } }
            } }
        }
        div.card #merchant-promotions {
            b { (ctx.t("当前促销", "Current promotions")) }
            @if promotions.items.is_empty() {
                p.muted { (ctx.t("没有进行中的促销：通过 API POST /api/v1/promotions 创建（只限自己的商品）。",
                    "No current promotions: create one with POST /api/v1/promotions (your own SKUs only).")) }
            }
            div.table-wrap { table {
                tr { th { (ctx.t("名称", "Name")) } th { (ctx.t("规则", "Rule")) } th { (ctx.t("门店", "Stores")) }
                     th { (ctx.t("开始", "Starts")) } th { (ctx.t("结束", "Ends")) } }
                @for p in &promotions.items { tr data-promotion=(p.promotion.id) {
                    td { (ctx.lang.pick(&p.promotion.name_zh, &p.promotion.name_en)) }
                    td { (super::promotions::rule_text(&ctx, &p.promotion.rule)) }
                    td { @if p.promotion.stores.is_empty() { (ctx.t("全部", "All")) } @else { (p.promotion.stores.join(" ")) } }
                    td.muted { (when(p.promotion.starts_at.timestamp_millis())) }
                    td.muted { (when(p.promotion.ends_at.timestamp_millis())) }
                } }
            } }
        }
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("我的店铺", "My shop"),
        body,
    ))
}

/// How many current promotions the merchant home lists (the newest).
const PROMOTIONS_SHOWN: i64 = 50;

#[derive(Debug, Deserialize)]
struct ShelfForm {
    product_id: Uuid,
    status: ShelfStatus,
}

async fn shelf(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Form(f): Form<ShelfForm>,
) -> WebResult<Response> {
    let result = merchants_app::set_product_shelf(&state, &staff, f.product_id, f.status).await;
    back("/console/merchant", result)
}

#[derive(Debug, Deserialize)]
struct ShipForm {
    carrier: String,
    waybill: String,
}

async fn ship(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(f): Form<ShipForm>,
) -> WebResult<Response> {
    let result = merchants_app::ship(&state, &staff, id, &f.carrier, &f.waybill)
        .await
        .map(drop);
    back("/console/merchant", result)
}
