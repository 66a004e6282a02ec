//! A product's page in the console (head office): taking the product or one SKU on or off the
//! shelf, a SKU's chain and member prices and its per-store prices, the product's category and
//! its SKUs' barcodes. Adding a barcode goes through the API's validation
//! ([`crate::app::catalog::add_sku_barcode`]: a GTIN's check digit, an internal code's shape,
//! one SKU per code); a SKU keeps at least one barcode. Every change is audited and moves the
//! SKUs to the end of the catalog change feed, so lanes and the shop's search index pick it up.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use retail_domain::money::Money;
use retail_domain::wire::catalog::CategoryRecord;
use serde::Deserialize;
use uuid::Uuid;

use crate::actor::{Role, StaffActor};
use crate::app::catalog::{add_sku_barcode, BarcodeRequest};
use crate::app::AppState;
use crate::error::AppError;
use crate::storage;
use crate::web::console::NoticeParams;
use crate::web::{console_page, picture, redirect, yuan, Ctx, Form, Staff, WebResult};

/// Product page routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/catalog/products/{id}", get(product))
        .route(
            "/console/catalog/products/{id}/status",
            post(product_status),
        )
        .route("/console/catalog/products/{id}/category", post(category))
        .route("/console/catalog/products/{id}/edit", post(edit_texts))
        .route(
            "/console/catalog/products/{id}/store-shelf",
            post(store_shelf),
        )
        .route(
            "/console/catalog/products/{id}/images",
            post(upload_image).layer(axum::extract::DefaultBodyLimit::max(MAX_UPLOAD_BODY)),
        )
        .route(
            "/console/catalog/products/{id}/images/{image}",
            post(change_image),
        )
        .route("/console/catalog/skus/{id}/price", post(sku_price))
        .route("/console/catalog/skus/{id}/cost", post(sku_cost))
        .route("/console/catalog/skus/{id}/scale-item", post(scale_item))
        .route("/console/catalog/skus/{id}/store-price", post(store_price))
        .route("/console/catalog/skus/{id}/status", post(sku_status))
        .route("/console/catalog/skus/{id}/barcodes", post(add_barcode))
        .route(
            "/console/catalog/skus/{id}/barcodes/remove",
            post(remove_barcode),
        )
}

/// Errors of the product page's forms, keyed `<form>-<sku id>`.
/// Messages of the product page's forms, by form (`price-{sku}`, `barcode-{sku}`, `category`…).
type SkuErrors = BTreeMap<String, String>;

async fn product_view(
    state: &AppState,
    ctx: &Ctx,
    staff: &StaffActor,
    id: Uuid,
    errors: &SkuErrors,
    done: bool,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let p = storage::catalog::product(&state.store, id)
        .await?
        .ok_or_else(|| AppError::not_found("product"))?;
    let stores: Vec<_> = storage::locations::list(&state.store)
        .await?
        .into_iter()
        .filter(|l| l.kind == "store")
        .collect();
    let categories = storage::catalog::categories(&state.store).await?;
    let images = storage::product_images::list(&state.store, id).await?;
    let off_at = storage::catalog::store_shelf_off(&state.store, id).await?;
    let costs = storage::sales_report::product_costs(&state.store, &id.to_string()).await?;
    let mut scale_items = std::collections::HashMap::new();
    for s in &p.skus {
        if let Some(item) = crate::app::scales::item(state, s.id).await? {
            scale_items.insert(s.id, item);
        }
    }
    let on = |s: &str| s == "on_shelf";
    let body = html! {
        @if done { div.notice.ok role="status" { (ctx.t("已保存并记入审计日志。", "Saved and recorded in the audit log.")) } }
        div.card.spread {
            span { b { (p.name_zh) } " · " (p.name_en) br; span.muted { (p.code) " · " (p.brand) " · " span #category { (p.category_id) } } }
            form method="post" action={ "/console/catalog/products/" (p.id) "/status" } {
                (ctx.csrf_field())
                input type="hidden" name="status" value=(if on(p.status.as_str()) { "off_shelf" } else { "on_shelf" });
                @if on(p.status.as_str()) { button.btn.warn type="submit" { (ctx.t("下架", "Take off shelf")) } }
                @else { button.btn type="submit" { (ctx.t("上架", "Put on shelf")) } }
            }
        }
        (category_form(ctx, p.id, &p.category_id, &categories, errors.get("category")))
        (texts_form(ctx, &p, errors.get("texts")))
        form.card.row method="post" action={ "/console/catalog/products/" (p.id) "/store-shelf" } #store-shelf {
            (ctx.csrf_field())
            span { (ctx.t("门店下架：", "Off shelf at: "))
                @if off_at.is_empty() { (ctx.t("无", "none")) }
                span #off-at { @for s in &off_at { (s) " " } } }
            select name="store" style="max-width:160px" { @for l in &stores { option value=(l.id) { (l.id) " " (ctx.lang.pick(&l.name_zh, &l.name_en)) } } }
            button.btn.secondary type="submit" name="status" value="off_shelf" { (ctx.t("此店下架", "Off shelf at this store")) }
            button.link type="submit" name="status" value="on_shelf" { (ctx.t("此店上架", "On shelf at this store")) }
        }
        (images_card(ctx, p.id, &images, errors.get("image")))
        @for s in &p.skus {
            div.card {
                div.spread {
                    span { b { (s.sku_code) } " " (s.spec_zh) " / " (s.spec_en) " · " (s.unit) br;
                        span.muted { (ctx.t("条码 ", "Barcodes ")) span.barcodes { (s.barcodes.join(" ")) } } }
                    form method="post" action={ "/console/catalog/skus/" (s.id) "/status" } {
                        (ctx.csrf_field())
                        input type="hidden" name="status" value=(if on(s.status.as_str()) { "off_shelf" } else { "on_shelf" });
                        @if on(s.status.as_str()) { button.link type="submit" { (ctx.t("下架此规格", "Take this SKU off shelf")) } }
                        @else { button.link type="submit" { (ctx.t("上架此规格", "Put this SKU on shelf")) } }
                    }
                }
                form.row method="post" action={ "/console/catalog/skus/" (s.id) "/price" } {
                    (ctx.csrf_field())
                    label { (ctx.t("总部价", "Chain price")) " " input.qty style="width:90px!important" name="price" value=(s.price); }
                    label { (ctx.t("会员价", "Member price")) " " input.qty style="width:90px!important" name="member_price" value=(s.member_price.map(|m| m.to_string()).unwrap_or_default()); }
                    button.btn.secondary type="submit" { (ctx.t("保存", "Save")) }
                }
                @if let Some(e) = errors.get(&format!("price-{}", s.id)) { p.field-error role="alert" { (e) } }
                form.row.sku-cost method="post" action={ "/console/catalog/skus/" (s.id) "/cost" } {
                    (ctx.csrf_field())
                    label { (ctx.t("成本价（元，空=未知）", "Cost (yuan, empty = unknown)")) " "
                        input.qty style="width:90px!important" name="cost"
                            value=(costs.get(&s.id.to_string()).map(|c| Money::from_fen(*c).to_string()).unwrap_or_default()); }
                    button.btn.secondary type="submit" { (ctx.t("保存成本", "Save cost")) }
                }
                @if let Some(e) = errors.get(&format!("cost-{}", s.id)) { p.field-error role="alert" { (e) } }
                @if s.weighed || scale_items.contains_key(&s.id) {
                    @let item = scale_items.get(&s.id);
                    form.row.scale-item method="post" action={ "/console/catalog/skus/" (s.id) "/scale-item" } {
                        (ctx.csrf_field())
                        span { (ctx.t("条码秤：", "Label scales: ")) }
                        label { "PLU " input.qty style="width:80px!important" name="plu" value=(item.map(|i| i.plu.clone()).unwrap_or_default()); }
                        label { (ctx.t("键号", "Key")) " " input.qty style="width:70px!important" name="scale_key" value=(item.map(|i| i.scale_key.to_string()).unwrap_or_default()); }
                        label { (ctx.t("皮重（克）", "Tare (g)")) " " input.qty style="width:70px!important" name="tare_g" value=(item.map(|i| i.tare_g).unwrap_or(0)); }
                        label { (ctx.t("保质期（天）", "Shelf life (days)")) " " input.qty style="width:70px!important" name="shelf_life_days" value=(item.map(|i| i.shelf_life_days).unwrap_or(0)); }
                        button.btn.secondary type="submit" { (ctx.t("下发到秤", "Put on the scales")) }
                        @if item.is_some() { button.link type="submit" name="remove" value="1" { (ctx.t("从秤上撤下", "Take off the scales")) } }
                    }
                    @if let Some(e) = errors.get(&format!("scale-{}", s.id)) { p.field-error role="alert" { (e) } }
                }
                div.muted { (ctx.t("门店价：", "Store prices: "))
                    @if s.store_prices.is_empty() { (ctx.t("无", "none")) }
                    @for sp in &s.store_prices { (sp.location_id) " " (yuan(sp.price.fen())) "　" } }
                form.row method="post" action={ "/console/catalog/skus/" (s.id) "/store-price" } {
                    (ctx.csrf_field())
                    select name="store" style="max-width:160px" { @for l in &stores { option value=(l.id) { (l.id) " " (ctx.lang.pick(&l.name_zh, &l.name_en)) } } }
                    input.qty style="width:90px!important" name="price" placeholder=(ctx.t("空=取消", "empty = remove"));
                    button.btn.secondary type="submit" { (ctx.t("设置门店价", "Set store price")) }
                }
                @if let Some(e) = errors.get(&format!("store-{}", s.id)) { p.field-error role="alert" { (e) } }
                (barcode_forms(ctx, s.id, &s.barcodes, errors.get(&format!("barcode-{}", s.id))))
            }
        }
    };
    Ok(console_page(ctx, staff, &p.name_zh, body))
}

/// The product's names, brand and description.
fn texts_form(ctx: &Ctx, p: &storage::catalog::ProductDetail, error: Option<&String>) -> Markup {
    html! {
        form.card method="post" action={ "/console/catalog/products/" (p.id) "/edit" } #texts {
            (ctx.csrf_field())
            div.row {
                label { (ctx.t("中文名称", "Chinese name")) " " input name="name_zh" value=(p.name_zh); }
                label { (ctx.t("英文名称", "English name")) " " input name="name_en" value=(p.name_en); }
                label { (ctx.t("品牌", "Brand")) " " input name="brand" value=(p.brand); }
            }
            label { (ctx.t("描述（空行分段，“- ”开头为列表，**粗体**）", "Description (blank line: paragraph; \"- \": list item; **bold**)"))
                textarea name="description" rows="4" style="width:100%" { (p.description) } }
            button.btn.secondary type="submit" { (ctx.t("保存文字", "Save texts")) }
            @if let Some(e) = error { p.field-error role="alert" { (e) } }
        }
    }
}

#[derive(Debug, Deserialize, Default)]
struct TextsForm {
    #[serde(default)]
    name_zh: String,
    #[serde(default)]
    name_en: String,
    #[serde(default)]
    brand: String,
    #[serde(default)]
    description: String,
}

async fn edit_texts(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(f): Form<TextsForm>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let result = crate::app::catalog::edit_product_texts(
        &state,
        &staff.actor(),
        id,
        &f.name_zh,
        &f.name_en,
        &f.brand,
        &f.description,
    )
    .await;
    match result {
        Ok(()) => Ok(redirect(&format!("/console/catalog/products/{id}?done=1"))),
        Err(err @ AppError::Invalid { .. }) => {
            let errors = SkuErrors::from([("texts".to_owned(), err.to_string())]);
            let page = product_view(&state, &ctx, &staff, id, &errors, false).await?;
            Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(err) => Err(err.into()),
    }
}

#[derive(Debug, Deserialize, Default)]
struct StoreShelfForm {
    store: Option<String>,
    status: Option<String>,
}

async fn store_shelf(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(f): Form<StoreShelfForm>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let status = shelf(f.status.as_deref())?;
    let store = f.store.unwrap_or_default();
    crate::app::catalog::set_shelf(&state, &staff.actor(), &[id], Some(&store), status).await?;
    Ok(redirect(&format!("/console/catalog/products/{id}?done=1")))
}

/// Largest body of an image upload form (the image itself is limited by `[media]`).
const MAX_UPLOAD_BODY: usize = 64 << 20;

/// The product's images in order, each with its thumbnail and buttons to move it earlier or
/// later or remove it, and the upload form.
fn images_card(
    ctx: &Ctx,
    product: Uuid,
    images: &[storage::product_images::ProductImage],
    error: Option<&String>,
) -> Markup {
    html! {
        div.card #images {
            b { (ctx.t("商品图片", "Images")) } " " span.muted { (ctx.t("第一张用于列表和购物车", "The first is shown in lists and the cart")) }
            div.gallery {
                @for (i, img) in images.iter().enumerate() {
                    div.pic.item {
                        (picture(&img.image, 96, &format!("{} {}", ctx.t("图片", "Image"), i + 1)))
                        form.row method="post" action={ "/console/catalog/products/" (product) "/images/" (img.id) } {
                            (ctx.csrf_field())
                            @if i > 0 { button.link type="submit" name="action" value="earlier" title=(ctx.t("前移", "Move earlier")) { "←" } }
                            @if i + 1 < images.len() { button.link type="submit" name="action" value="later" title=(ctx.t("后移", "Move later")) { "→" } }
                            button.link type="submit" name="action" value="remove" { (ctx.t("删除", "Remove")) }
                        }
                    }
                }
            }
            form.row method="post" enctype="multipart/form-data" action={ "/console/catalog/products/" (product) "/images" } {
                (ctx.csrf_field())
                input type="hidden" name="client_id" value=(retail_domain::ids::new_id());
                input type="file" name="image" accept="image/jpeg,image/png,image/webp" required;
                button.btn.secondary type="submit" { (ctx.t("上传图片", "Upload image")) }
            }
            @if let Some(e) = error { p.field-error role="alert" { (e) } }
        }
    }
}

/// The page's message for a refused upload: the image's own reason in the page's language.
fn image_problem(ctx: &Ctx, err: &AppError) -> Option<String> {
    let zh = crate::app::media::message_zh_for(err.code())?;
    Some(match ctx.lang {
        crate::web::Lang::Zh => zh.to_owned(),
        crate::web::Lang::En => err.to_string(),
    })
}

async fn upload_image(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    axum::Extension(sid): axum::Extension<crate::web::Sid>,
    Path(id): Path<Uuid>,
    multipart: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let bad = || AppError::bad_request("invalid_form", "the upload could not be read");
    let too_large = || {
        AppError::from(crate::app::media::MediaError::TooLarge {
            max_bytes: state.settings.media.max_upload_bytes,
        })
    };
    let mut multipart = multipart.map_err(|_| bad())?;
    let (mut csrf, mut client_id, mut file) = (None, None, None);
    let mut failed = None;
    loop {
        let part = match multipart.next_field().await {
            Ok(Some(part)) => part,
            Ok(None) => break,
            // A body over the form's limit ends the fields with an error.
            Err(_) => {
                failed = Some(too_large());
                break;
            }
        };
        match part.name() {
            Some("_csrf") => csrf = Some(part.text().await.map_err(|_| bad())?),
            Some("client_id") => client_id = Some(part.text().await.map_err(|_| bad())?),
            Some("image") => match part.bytes().await {
                Ok(bytes) => file = Some(bytes),
                Err(_) => {
                    failed = Some(too_large());
                    break;
                }
            },
            _ => {}
        }
    }
    crate::web::check_csrf(&state, &sid.0, csrf.as_deref())?;
    let result = match (
        failed,
        client_id.and_then(|c| Uuid::parse_str(c.trim()).ok()),
    ) {
        (Some(err), _) => Err(err),
        (None, None) => Err(bad()),
        (None, Some(client_id)) => crate::app::product_images::add(
            &state,
            &staff.actor(),
            id,
            client_id,
            file.unwrap_or_default(),
        )
        .await
        .map(|_| ()),
    };
    match result {
        Ok(()) => {
            state.search.invalidate();
            Ok(redirect(&format!(
                "/console/catalog/products/{id}?done=1#images"
            )))
        }
        Err(err) => match image_problem(&ctx, &err) {
            Some(message) => {
                let errors = SkuErrors::from([("image".to_owned(), message)]);
                let page = product_view(&state, &ctx, &staff, id, &errors, false).await?;
                Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
            }
            None => Err(err.into()),
        },
    }
}

#[derive(Debug, Deserialize, Default)]
struct ImageAction {
    action: Option<String>,
}

async fn change_image(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path((id, image)): Path<(Uuid, Uuid)>,
    Form(f): Form<ImageAction>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let actor = staff.actor();
    use crate::app::product_images::{remove, shift};
    match f.action.as_deref() {
        Some("earlier") => drop(shift(&state, &actor, id, image, true).await?),
        Some("later") => drop(shift(&state, &actor, id, image, false).await?),
        Some("remove") => drop(remove(&state, &actor, id, image).await?),
        _ => return Err(AppError::field("action", "must be earlier, later or remove").into()),
    }
    state.search.invalidate();
    Ok(redirect(&format!(
        "/console/catalog/products/{id}?done=1#images"
    )))
}

/// The product's category picker (every category, shown with its path code and name).
fn category_form(
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
fn barcode_forms(ctx: &Ctx, sku: Uuid, barcodes: &[String], error: Option<&String>) -> Markup {
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

async fn product(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Query(n): Query<NoticeParams>,
) -> WebResult<Response> {
    product_view(
        &state,
        &ctx,
        &staff,
        id,
        &SkuErrors::new(),
        n.done.is_some(),
    )
    .await
}

#[derive(Debug, Deserialize, Default)]
struct StatusForm {
    status: Option<String>,
}

fn shelf(status: Option<&str>) -> WebResult<retail_domain::wire::catalog::ShelfStatus> {
    use retail_domain::wire::catalog::ShelfStatus;
    match status {
        Some("on_shelf") => Ok(ShelfStatus::OnShelf),
        Some("off_shelf") => Ok(ShelfStatus::OffShelf),
        _ => Err(AppError::field("status", "must be on_shelf or off_shelf").into()),
    }
}

async fn product_status(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(f): Form<StatusForm>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let status = shelf(f.status.as_deref())?;
    crate::app::merchants::set_product_shelf(&state, &staff, id, status).await?;
    Ok(redirect(&format!("/console/catalog/products/{id}?done=1")))
}

async fn product_of_sku(state: &AppState, sku: Uuid) -> WebResult<Uuid> {
    let facts = storage::web::sku_facts(&state.store, &[sku]).await?;
    Ok(facts
        .get(&sku)
        .map(|f| f.product_id)
        .ok_or_else(|| AppError::not_found("SKU"))?)
}

async fn sku_status(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(f): Form<StatusForm>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let status = shelf(f.status.as_deref())?;
    let product = product_of_sku(&state, id).await?;
    storage::catalog::set_sku_status(&state.store, id, status, &staff.actor()).await?;
    state.search.invalidate();
    Ok(redirect(&format!(
        "/console/catalog/products/{product}?done=1"
    )))
}

/// A price typed into a form: `12.50`, not negative.
fn typed_price(ctx: &Ctx, text: &str) -> Result<i64, String> {
    match text.trim().parse::<Money>() {
        Ok(m) if !m.is_negative() && m.fen() <= 100_000_000 => Ok(m.fen()),
        _ => Err(ctx
            .t("请输入价格，如 12.50", "Enter a price such as 12.50")
            .to_owned()),
    }
}

#[derive(Debug, Deserialize, Default)]
struct PriceForm {
    price: Option<String>,
    member_price: Option<String>,
    store: Option<String>,
}

async fn sku_price(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(f): Form<PriceForm>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let product = product_of_sku(&state, id).await?;
    let price = typed_price(&ctx, f.price.as_deref().unwrap_or(""));
    let member = match f.member_price.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(m) => typed_price(&ctx, m).map(Some),
    };
    match (price, member) {
        (Ok(price), Ok(member)) => {
            storage::catalog::set_sku_price(&state.store, id, price, Some(member), &staff.actor())
                .await?;
            state.search.invalidate();
            Ok(redirect(&format!(
                "/console/catalog/products/{product}?done=1"
            )))
        }
        (Err(e), _) | (_, Err(e)) => {
            let errors = SkuErrors::from([(format!("price-{id}"), e)]);
            product_view(&state, &ctx, &staff, product, &errors, false).await
        }
    }
}

#[derive(Debug, Deserialize, Default)]
struct ScaleItemForm {
    plu: Option<String>,
    scale_key: Option<String>,
    tare_g: Option<String>,
    shelf_life_days: Option<String>,
    remove: Option<String>,
}

/// Puts a SKU on the store's label scales (its PLU, key, tare and shelf life) or takes it off
/// (head office; audited): every store's edge agent loads the change within its poll.
async fn scale_item(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(f): Form<ScaleItemForm>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let product = product_of_sku(&state, id).await?;
    let result = if f.remove.is_some() {
        crate::app::scales::remove_item(&state, id, &staff.actor())
            .await
            .map(|_| ())
    } else {
        let number = |v: &Option<String>, field: &'static str| -> Result<i64, AppError> {
            match v.as_deref().map(str::trim) {
                None | Some("") => Ok(0),
                Some(t) => t
                    .parse::<i64>()
                    .map_err(|_| AppError::field(field, "must be a whole number")),
            }
        };
        let input = number(&f.scale_key, "scale_key").and_then(|scale_key| {
            Ok(crate::app::scales::ScaleItemInput {
                plu: f.plu.clone().unwrap_or_default(),
                scale_key,
                tare_g: number(&f.tare_g, "tare_g")?,
                shelf_life_days: number(&f.shelf_life_days, "shelf_life_days")?,
            })
        });
        match input {
            Ok(input) => crate::app::scales::set_item(&state, id, &input, &staff.actor())
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        }
    };
    match result {
        Ok(()) => Ok(redirect(&format!(
            "/console/catalog/products/{product}?done=1"
        ))),
        Err(err @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => {
            let errors = SkuErrors::from([(format!("scale-{id}"), err.to_string())]);
            let page = product_view(&state, &ctx, &staff, product, &errors, false).await?;
            Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize, Default)]
struct CostForm {
    cost: Option<String>,
}

/// Sets a SKU's cost (for the sales dashboards' margin); empty clears it.
async fn sku_cost(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(f): Form<CostForm>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let product = product_of_sku(&state, id).await?;
    let cost = match f.cost.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(c) => typed_price(&ctx, c).map(Some),
    };
    match cost {
        Ok(cost) => {
            crate::app::sales_report::set_cost(&state, &staff, id, cost).await?;
            Ok(redirect(&format!(
                "/console/catalog/products/{product}?done=1"
            )))
        }
        Err(e) => {
            let errors = SkuErrors::from([(format!("cost-{id}"), e)]);
            product_view(&state, &ctx, &staff, product, &errors, false).await
        }
    }
}

async fn store_price(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(f): Form<PriceForm>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let product = product_of_sku(&state, id).await?;
    let store = f.store.clone().unwrap_or_default();
    let located = storage::locations::get(&state.store, &store)
        .await
        .ok()
        .filter(|l| l.kind == "store");
    let price = match f.price.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(p) => typed_price(&ctx, p).map(Some),
    };
    match (located, price) {
        (Some(_), Ok(price)) => {
            let price = price.map(retail_domain::money::Money::from_fen);
            match crate::app::catalog::set_store_price(&state, &staff, &store, id, price).await {
                Ok(()) => Ok(redirect(&format!(
                    "/console/catalog/products/{product}?done=1"
                ))),
                Err(AppError::Invalid { message, .. }) => {
                    let errors = SkuErrors::from([(format!("store-{id}"), message)]);
                    product_view(&state, &ctx, &staff, product, &errors, false).await
                }
                Err(e) => Err(e.into()),
            }
        }
        (None, _) => {
            let errors = SkuErrors::from([(
                format!("store-{id}"),
                ctx.t("请选择门店", "Choose a store").to_owned(),
            )]);
            product_view(&state, &ctx, &staff, product, &errors, false).await
        }
        (_, Err(e)) => {
            let errors = SkuErrors::from([(format!("store-{id}"), e)]);
            product_view(&state, &ctx, &staff, product, &errors, false).await
        }
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
    staff: &StaffActor,
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
