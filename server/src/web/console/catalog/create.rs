//! Creating a product in the console (head office): code, names in Chinese and English, brand,
//! category, a description with simple formatting, and its first SKU (code, spec, unit, chain
//! and member price, barcode). The form goes through the API's validation
//! ([`crate::app::catalog::product_request`]) and is idempotent by the UUIDv7 the form carries
//! (a resent form finds the product it created). Editing a product's texts is on its page.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use retail_domain::money::Money;
use serde::Deserialize;
use uuid::Uuid;

use crate::actor::Role;
use crate::app::catalog::{product_request, BarcodeRequest, ProductRequest, SkuRequest};
use crate::app::AppState;
use crate::error::AppError;
use crate::storage;
use crate::web::{console_page, field, redirect, Ctx, FieldErrors, Form, Staff, WebResult};

/// Product creation routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/console/catalog/products/new", get(new_page).post(create))
}

/// The form's fields as typed.
#[derive(Debug, Deserialize, Default)]
struct NewProductForm {
    id: Option<String>,
    #[serde(default)]
    code: String,
    #[serde(default)]
    name_zh: String,
    #[serde(default)]
    name_en: String,
    #[serde(default)]
    brand: String,
    #[serde(default)]
    category_id: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    sku_code: String,
    #[serde(default)]
    spec_zh: String,
    #[serde(default)]
    spec_en: String,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    price: String,
    #[serde(default)]
    member_price: String,
    #[serde(default)]
    barcode: String,
    internal: Option<String>,
}

fn form_view(
    ctx: &Ctx,
    f: &NewProductForm,
    categories: &[retail_domain::wire::catalog::CategoryRecord],
    errors: &FieldErrors,
) -> Markup {
    let id =
        f.id.clone()
            .unwrap_or_else(|| retail_domain::ids::new_id().to_string());
    html! {
        @if let Some(e) = errors.get("_form") { div.notice.err role="alert" { (e) } }
        form.card method="post" action="/console/catalog/products/new" #new-product {
            (ctx.csrf_field())
            input type="hidden" name="id" value=(id);
            (field(ctx.t("商品编码", "Product code"), "code", "text", &f.code, errors, html! {}))
            (field(ctx.t("中文名称", "Chinese name"), "name_zh", "text", &f.name_zh, errors, html! {}))
            (field(ctx.t("英文名称", "English name"), "name_en", "text", &f.name_en, errors, html! {}))
            (field(ctx.t("品牌", "Brand"), "brand", "text", &f.brand, errors, html! {}))
            div.field {
                label for="category_id" { (ctx.t("分类", "Category")) }
                select #category_id name="category_id" {
                    @for c in categories {
                        option value=(c.id) selected[c.id == f.category_id] { (c.id) " " (ctx.lang.pick(&c.name_zh, &c.name_en)) }
                    }
                }
            }
            div.field {
                label for="description" { (ctx.t("描述（空行分段，“- ”开头为列表，**粗体**）", "Description (blank line: paragraph; \"- \": list item; **bold**)")) }
                textarea #description name="description" rows="5" style="width:100%" { (f.description) }
                @if let Some(e) = errors.get("description") { p.field-error role="alert" { (e) } }
            }
            b { (ctx.t("第一个规格", "First SKU")) }
            (field(ctx.t("规格编码", "SKU code"), "sku_code", "text", &f.sku_code, errors, html! {}))
            (field(ctx.t("规格（中文）", "Spec (Chinese)"), "spec_zh", "text", &f.spec_zh, errors, html! {}))
            (field(ctx.t("规格（英文）", "Spec (English)"), "spec_en", "text", &f.spec_en, errors, html! {}))
            (field(ctx.t("单位", "Unit"), "unit", "text", &f.unit, errors, html! {}))
            (field(ctx.t("总部价（元）", "Chain price (yuan)"), "price", "text", &f.price, errors, html! {}))
            (field(ctx.t("会员价（元，可空）", "Member price (yuan, optional)"), "member_price", "text", &f.member_price, errors, html! {}))
            (field(ctx.t("条码", "Barcode"), "barcode", "text", &f.barcode, errors, html! {}))
            label.row { input type="checkbox" name="internal" value="1" checked[f.internal.is_some()]; (ctx.t("店内码（非 GTIN）", "Internal code (not a GTIN)")) }
            button.btn type="submit" { (ctx.t("创建商品", "Create product")) }
        }
    }
}

async fn new_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let categories = storage::catalog::categories(&state.store).await?;
    let body = form_view(
        &ctx,
        &NewProductForm::default(),
        &categories,
        &FieldErrors::new(),
    );
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("新建商品", "New product"),
        body,
    ))
}

/// A typed price in yuan (`12.50`), or the page's message.
fn typed_money(ctx: &Ctx, text: &str) -> Result<Money, String> {
    text.trim().parse::<Money>().map_err(|_| {
        ctx.t("请输入金额，如 12.50", "Enter an amount such as 12.50")
            .to_owned()
    })
}

/// The form as the API's request, or the fields' messages.
fn request(ctx: &Ctx, f: &NewProductForm) -> Result<ProductRequest, FieldErrors> {
    let mut errors = FieldErrors::new();
    let id = f.id.as_deref().and_then(|i| Uuid::parse_str(i.trim()).ok());
    let price = typed_money(ctx, &f.price).map_err(|e| errors.insert("price", e));
    let member_price = if f.member_price.trim().is_empty() {
        Ok(None)
    } else {
        typed_money(ctx, &f.member_price)
            .map(Some)
            .map_err(|e| errors.insert("member_price", e))
    };
    let (Some(id), Ok(price), Ok(member_price)) = (id, price, member_price) else {
        errors
            .entry("_form")
            .or_insert_with(|| ctx.t("请检查标红的项目", "Check the marked fields").into());
        return Err(errors);
    };
    Ok(ProductRequest {
        id,
        code: f.code.clone(),
        name_zh: f.name_zh.clone(),
        name_en: f.name_en.clone(),
        brand: f.brand.clone(),
        category_id: f.category_id.clone(),
        description: f.description.clone(),
        status: Default::default(),
        skus: vec![SkuRequest {
            id: None,
            sku_code: f.sku_code.clone(),
            spec_zh: f.spec_zh.clone(),
            spec_en: f.spec_en.clone(),
            unit: Some(f.unit.clone()).filter(|u| !u.trim().is_empty()),
            weighed: false,
            price,
            member_price,
            barcodes: vec![BarcodeRequest {
                code: f.barcode.clone(),
                internal: f.internal.is_some(),
            }],
        }],
    })
}

/// The form's field of one of the API's (`skus[0].price` is the form's `price`).
fn form_field(api: &str) -> &'static str {
    match api {
        "code" => "code",
        "name_zh" => "name_zh",
        "name_en" => "name_en",
        "brand" => "brand",
        "category_id" => "category_id",
        "description" => "description",
        "skus[0].sku_code" => "sku_code",
        "skus[0].spec_zh" => "spec_zh",
        "skus[0].spec_en" => "spec_en",
        "skus[0].unit" => "unit",
        "skus[0].price" => "price",
        "skus[0].member_price" => "member_price",
        "skus[0].barcodes[0].code" => "barcode",
        _ => "_form",
    }
}

/// A refused product as the form's messages (`None`: not the form's fault).
fn form_errors(err: &AppError) -> Option<FieldErrors> {
    let mut out = FieldErrors::new();
    match err {
        AppError::Invalid {
            fields, message, ..
        } => {
            for (name, text) in fields {
                out.insert(form_field(name), text.clone());
            }
            out.entry("_form").or_insert_with(|| message.clone());
        }
        AppError::Conflict { message, .. } => {
            out.insert("_form", message.clone());
        }
        _ => return None,
    }
    Some(out)
}

/// The form again, as typed, with its messages (422).
async fn refused(
    state: &AppState,
    ctx: &Ctx,
    staff: &crate::actor::StaffActor,
    f: &NewProductForm,
    errors: &FieldErrors,
) -> WebResult<Response> {
    let categories = storage::catalog::categories(&state.store).await?;
    let page = console_page(
        ctx,
        staff,
        ctx.t("新建商品", "New product"),
        form_view(ctx, f, &categories, errors),
    );
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Form(f): Form<NewProductForm>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let result = match request(&ctx, &f) {
        Ok(req) => match product_request(req) {
            Ok(product) => {
                storage::catalog::create_product(&state.store, &product, &staff.actor()).await
            }
            Err(err) => Err(err),
        },
        Err(errors) => return refused(&state, &ctx, &staff, &f, &errors).await,
    };
    match result {
        Ok(product) => {
            state.search.invalidate();
            Ok(redirect(&format!(
                "/console/catalog/products/{}?done=1",
                product.id
            )))
        }
        Err(err) => {
            let Some(errors) = form_errors(&err) else {
                return Err(err.into());
            };
            refused(&state, &ctx, &staff, &f, &errors).await
        }
    }
}
