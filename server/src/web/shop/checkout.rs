//! Checkout: the page (pickup at a store or delivery, the member's coupons and points, the total
//! the pricing engine gives for these choices, updated on request) and placing the order through
//! the same path as `POST /api/v1/checkouts` ([`crate::app::checkouts::place`]): one order per
//! merchant whose goods are in the cart, paid together on the checkout's page.

use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use retail_domain::order::Fulfilment;
use serde::Deserialize;
use uuid::Uuid;

use super::basket::{engine_quote, priceable, priced_summary, shown_cart, ShownLine};
use super::{require_member, session, warehouse};
use crate::app::checkout::Address;
use crate::app::shop_session;
use crate::app::AppState;
use crate::error::AppError;
use crate::storage;
use crate::storage::delivery::SavedAddress;
use crate::web::coupon_text::rule_text;
use crate::web::{field, redirect, shop_page, yuan, Ctx, FieldErrors, Form, WebResult};

/// Checkout routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/checkout", get(checkout).post(place))
        .route("/checkout/total", post(total))
}

#[derive(Debug, Deserialize, Default, Clone)]
struct CheckoutForm {
    id: Option<String>,
    mode: Option<String>,
    store: Option<String>,
    name: Option<String>,
    phone: Option<String>,
    /// New address: province and city (optional when the street address names them).
    province: Option<String>,
    city: Option<String>,
    address: Option<String>,
    /// A saved address's id, or `new` for the fields above.
    address_id: Option<String>,
    /// New address: position, micro-degrees (hidden fields filled from the phone's location).
    lat_e6: Option<String>,
    lng_e6: Option<String>,
    /// The delivery time slot (empty: any time).
    slot: Option<String>,
    /// The member's coupon to use (empty: none).
    coupon: Option<String>,
    /// Points to redeem (empty: none).
    points: Option<String>,
}

impl CheckoutForm {
    /// The chosen coupon, if any; `Err` when the field is not a coupon id.
    fn coupons(&self) -> Result<Vec<Uuid>, ()> {
        match self
            .coupon
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            None => Ok(Vec::new()),
            Some(c) => Uuid::parse_str(c).map(|id| vec![id]).map_err(|_| ()),
        }
    }

    /// The points to redeem; `Err` when the field is not a whole number ≥ 0.
    fn points(&self) -> Result<i64, ()> {
        match self
            .points
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            None => Ok(0),
            Some(p) => p.parse::<i64>().ok().filter(|p| *p >= 0).ok_or(()),
        }
    }
}

/// The checkout page, for a link's choices (mode, store, coupon, points). Contact details in the
/// URL are ignored: a phone number or an address never travels in a query string (they would end
/// up in access logs and the browser's history).
async fn checkout(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(form): Query<CheckoutForm>,
) -> WebResult<Response> {
    let form = CheckoutForm {
        name: None,
        phone: None,
        province: None,
        city: None,
        address: None,
        ..form
    };
    let session = session(&state, &ctx).await?;
    let (session_id, member) = require_member(session.as_ref(), "/checkout")?;
    let form = with_pickup_store(&state, &ctx, session.as_ref(), form).await?;
    checkout_page(
        &state,
        &ctx,
        (session_id, member),
        &form,
        &FieldErrors::new(),
        None,
    )
    .await
}

/// The "update total" button: the whole form posted (contact details included, so they stay
/// filled in), the page again with the total for the chosen coupon and points.
async fn total(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(form): Form<CheckoutForm>,
) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let (session_id, member) = require_member(session.as_ref(), "/checkout")?;
    let form = with_pickup_store(&state, &ctx, session.as_ref(), form).await?;
    checkout_page(
        &state,
        &ctx,
        (session_id, member),
        &form,
        &FieldErrors::new(),
        None,
    )
    .await
}

/// The form with the pickup store the shopper chose before when it names none; a pickup store
/// it names is remembered as the shopper's choice (the cart then prices there too).
async fn with_pickup_store(
    state: &AppState,
    ctx: &Ctx,
    session: Option<&storage::web::WebSession>,
    form: CheckoutForm,
) -> WebResult<CheckoutForm> {
    let Some(session) = session else {
        return Ok(form);
    };
    let named = form
        .store
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    match named {
        None => Ok(CheckoutForm {
            store: session.pickup_store.clone(),
            ..form
        }),
        Some(store) if form.mode.as_deref() != Some("delivery") => {
            match shop_session::choose_pickup_store(state, &ctx.sid, session, Some(store)).await {
                // Not a store: the page falls back to the first store, as before.
                Ok(()) | Err(AppError::Invalid { .. }) => Ok(form),
                Err(e) => Err(e.into()),
            }
        }
        Some(_) => Ok(form),
    }
}

async fn checkout_page(
    state: &AppState,
    ctx: &Ctx,
    (session, member): (Uuid, Uuid),
    form: &CheckoutForm,
    errors: &FieldErrors,
    problem: Option<String>,
) -> WebResult<Response> {
    let pickup = form.mode.as_deref() != Some("delivery");
    let stores = state.catalog_cache.stores(&state.store).await?;
    let store = form
        .store
        .clone()
        .filter(|s| stores.iter().any(|l| &l.id == s))
        .or_else(|| stores.first().map(|l| l.id.clone()))
        .unwrap_or_default();
    let mut errors = errors.clone();
    // Delivery: the saved addresses, the one chosen (the default unless another or a new one
    // is), and where it ships from with its fee.
    let saved = if pickup {
        Vec::new()
    } else {
        storage::delivery::addresses(&state.store, &state.keys, member).await?
    };
    let chosen_address = chosen_address_id(form, &saved);
    let cart_skus: Vec<(Uuid, i64)> = storage::web::cart(&state.store, session)
        .await?
        .into_iter()
        .filter(|l| l.selected)
        .map(|l| (l.sku_id, l.qty))
        .collect();
    let mut plan = None;
    if !pickup {
        if let Some(address) = delivery_address(form, &saved, chosen_address) {
            match crate::app::delivery::plan(state, &address, &cart_skus).await {
                Ok(p) => plan = Some(p),
                Err(AppError::Invalid {
                    code: "outside_delivery_area",
                    ..
                }) => {
                    errors.insert("address", outside_area_text(ctx).into());
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    let location = match (&plan, pickup) {
        (_, true) => store.clone(),
        (Some(p), false) => p.location_id.clone(),
        (None, false) => warehouse(state).await?,
    };
    let location = location.as_str();
    let lines: Vec<ShownLine> = shown_cart(state, ctx, session, location)
        .await?
        .into_iter()
        .filter(|l| l.selected)
        .collect();
    let count: i64 = lines.iter().map(|l| l.qty).sum();
    let coupons = storage::coupons::usable(&state.store, member).await?;
    let balance = storage::members::points_balance(&state.store, member).await?;
    let chosen = match form.coupons() {
        Ok(ids) => ids,
        Err(()) => {
            errors.insert("coupon", ctx.t("请选择优惠券", "Choose a coupon").into());
            Vec::new()
        }
    };
    let points = match form.points() {
        Ok(p) => p,
        Err(()) => {
            errors.insert(
                "points",
                ctx.t(
                    "积分须为不小于 0 的整数",
                    "Points are a whole number, 0 or more",
                )
                .into(),
            );
            0
        }
    };
    let priceable_lines = priceable(lines.iter());
    // The engine's quote with the choices; when they cannot apply, say why next to the field and
    // show the total without them.
    let priced = if priceable_lines.is_empty() {
        None
    } else {
        match engine_quote(
            state,
            location,
            Some(member),
            priceable_lines.clone(),
            chosen.clone(),
            points,
        )
        .await
        {
            Ok(b) => Some(b),
            Err(e) => {
                let field = match &e {
                    AppError::Invalid { fields, .. } if fields.contains_key("points_to_redeem") => {
                        "points"
                    }
                    _ => "coupon",
                };
                errors.insert(field, e.to_string());
                let coupons_ok = if field == "points" {
                    chosen.clone()
                } else {
                    Vec::new()
                };
                engine_quote(
                    state,
                    location,
                    Some(member),
                    priceable_lines,
                    coupons_ok,
                    0,
                )
                .await
                .ok()
            }
        }
    };
    let max_points = priced.as_ref().map_or(0, |b| b.max_redeemable_points);
    let shipping = match (&plan, &priced) {
        (Some(p), Some(b)) => Some(crate::app::delivery::shipping_fee(&p.region, b.total.fen())),
        _ => None,
    };
    let slots = plan
        .as_ref()
        .map(|p| crate::app::delivery::slots(chrono::Utc::now(), p.same_city))
        .unwrap_or_default();
    let slot = form.slot.clone().unwrap_or_default();
    let rules = &state.settings.points;
    let id = form
        .id
        .clone()
        .unwrap_or_else(|| retail_domain::ids::new_id().to_string());
    let chosen_text = chosen.first().map(|c| c.to_string()).unwrap_or_default();
    let body = html! {
        @if let Some(p) = problem { div.notice.err role="alert" { (p) } }
        @if lines.is_empty() { div.card { (ctx.t("没有选中的商品。", "No items selected.")) " " a href="/cart" { (ctx.t("返回购物车", "Back to cart")) } } }
        div.chips {
            a.chip.on[pickup] href={ "/checkout?mode=pickup&store=" (store) } { (ctx.t("门店自提", "Store pickup")) }
            a.chip.on[!pickup] href="/checkout?mode=delivery" { (ctx.t("配送到家", "Delivery")) }
        }
        form #checkout-form method="post" action="/checkout" {
            (ctx.csrf_field())
            input type="hidden" name="id" value=(id);
            input type="hidden" name="mode" value=(if pickup { "pickup" } else { "delivery" });
            @if pickup {
                div.field.has-error[errors.contains_key("store")] {
                    label for="store" { (ctx.t("自提门店", "Pickup store")) }
                    select #store name="store" data-reprice {
                        @for l in &stores { option value=(l.id) selected[l.id == store] { (ctx.lang.pick(&l.name_zh, &l.name_en)) " · " (l.address) } }
                    }
                    @if let Some(e) = errors.get("store") { p.field-error data-field="store" { (e) } }
                }
            } @else {
                @if !saved.is_empty() {
                    div.field #saved-addresses {
                        label for="address_id" { (ctx.t("收货地址", "Deliver to")) " " a href="/me/addresses" { (ctx.t("管理地址", "Manage addresses")) } }
                        select #address_id name="address_id" data-reprice {
                            @for a in &saved {
                                option value=(a.id) selected[chosen_address == Some(a.id)] { (a.address.masked()) @if a.is_default { (ctx.t("（默认）", " (default)")) } }
                            }
                            option value="new" selected[chosen_address.is_none()] { (ctx.t("使用新地址", "A new address")) }
                        }
                    }
                }
                @if chosen_address.is_none() {
                    (field(ctx.t("收货人", "Recipient"), "name", "text", form.name.as_deref().unwrap_or(""), &errors, html!{}))
                    (field(ctx.t("手机号", "Phone"), "phone", "tel", form.phone.as_deref().unwrap_or(""), &errors, html!{}))
                    div.row {
                        (field(ctx.t("省份", "Province"), "province", "text", form.province.as_deref().unwrap_or(""), &errors, html!{}))
                        (field(ctx.t("城市", "City"), "city", "text", form.city.as_deref().unwrap_or(""), &errors, html!{}))
                    }
                    (field(ctx.t("详细地址", "Address"), "address", "text", form.address.as_deref().unwrap_or(""), &errors, html!{}))
                    (super::position_fields(ctx, form.lat_e6.as_deref(), form.lng_e6.as_deref()))
                    @if let Some(e) = errors.get("lat_e6") { p.field-error role="alert" data-field="lat_e6" { (e) } }
                } @else if let Some(e) = errors.get("address") {
                    p.field-error role="alert" data-field="address" { (e) }
                }
                @if !slots.is_empty() {
                    div.field {
                        label for="slot" { (ctx.t("送达时段", "Delivery slot")) }
                        select #slot name="slot" {
                            option value="" selected[slot.is_empty()] { (ctx.t("不限", "Any time")) }
                            @for s in &slots { option value=(s) selected[*s == slot] { (s) } }
                        }
                        @if plan.as_ref().is_some_and(|p| p.same_city) { p.muted #same-city { (ctx.t("同城门店配送", "Same-city delivery from a store")) } }
                    }
                }
            }
            div.card {
                @for l in &lines {
                    div.spread {
                        span { (l.name) " " span.muted { (l.spec) } " × " (l.qty) }
                        @match l.unit_fen { Some(u) => span { (yuan(u)) }, None => span.status.cancelled { (ctx.t("已下架", "Unavailable")) } }
                    }
                    @if l.qty > l.available { p.field-error { (ctx.t("库存不足，仅剩 ", "Not enough stock; only ")) (l.available) } }
                }
                div.field.has-error[errors.contains_key("coupon")] {
                    label for="coupon" { (ctx.t("优惠券", "Coupon")) " " a href="/coupons" { (ctx.t("去领券", "Get coupons")) } }
                    select #coupon name="coupon" data-reprice {
                        option value="" selected[chosen.is_empty()] { (ctx.t("不使用", "None")) " (" (coupons.len()) (ctx.t(" 张可用", " usable")) ")" }
                        @for c in &coupons {
                            option value=(c.id) selected[c.id.to_string() == chosen_text] {
                                (ctx.lang.pick(&c.terms.name_zh, &c.terms.name_en)) " · " (rule_text(ctx.lang, &c.terms.rule))
                            }
                        }
                    }
                    @if let Some(e) = errors.get("coupon") { p.field-error data-field="coupon" { (e) } }
                }
                div.field.has-error[errors.contains_key("points")] {
                    label for="points" { (ctx.t("使用积分", "Redeem points")) }
                    input #points name="points" type="number" min="0" max=(max_points) inputmode="numeric" data-reprice
                        value=(form.points.as_deref().unwrap_or(""));
                    p.muted #points-hint {
                        @if balance < 0 { (ctx.t("积分欠款 ", "Points owed ")) (balance.saturating_neg()) " · " }
                        @else { (ctx.t("可用积分 ", "Points balance ")) (balance) " · " }
                        (ctx.t("本单最多可用 ", "at most ")) (max_points)
                        (ctx.t("", " on this order")) " · " (rules.redeem_points_per_yuan) (ctx.t(" 积分 = ¥1", " points = ¥1"))
                    }
                    @if let Some(e) = errors.get("points") { p.field-error data-field="points" { (e) } }
                }
                button.btn.secondary #reprice type="submit" formmethod="post" formaction="/checkout/total" formnovalidate { (ctx.t("更新合计", "Update total")) }
                (priced_summary(ctx, priced.as_ref()))
                @if !pickup {
                    @match (shipping, &priced) {
                        (Some(fee), Some(b)) => {
                            div.spread #shipping-fee { span { (ctx.t("运费", "Shipping")) } span { @if fee == 0 { (ctx.t("免运费", "Free")) } @else { (yuan(fee)) } } }
                            div.spread { b { (ctx.t("合计（含运费）", "Total with shipping")) } b #grand-total { (yuan(b.amount_due.fen() + fee)) } }
                        }
                        _ => p.muted #shipping-fee { (ctx.t("运费在选择收货地址后计算。", "Shipping is worked out once the address is chosen.")) },
                    }
                }
                p.muted { (ctx.t("实付金额以提交订单后为准。", "The amount due is fixed when the order is placed.")) }
            }
            button.btn.block type="submit" data-track="place_order" disabled[lines.is_empty()] { (ctx.t("提交订单", "Place order")) }
        }
    };
    Ok(shop_page(ctx, ctx.t("结算", "Checkout"), count, body))
}

async fn place(
    client: crate::actor::ClientAddr,
    State(state): State<AppState>,
    ctx: Ctx,
    Form(form): Form<CheckoutForm>,
) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let (session_id, member) = require_member(session.as_ref(), "/checkout")?;
    let mut errors = FieldErrors::new();
    let id = form
        .id
        .as_deref()
        .and_then(|i| Uuid::parse_str(i).ok())
        .filter(|i| retail_domain::ids::require_v7(*i).is_ok())
        .ok_or_else(|| AppError::bad_request("invalid_form", "the form could not be read"))?;
    let pickup = form.mode.as_deref() != Some("delivery");
    let mut address = None;
    if pickup {
        if form.store.as_deref().unwrap_or("").is_empty() {
            errors.insert("store", ctx.t("请选择门店", "Choose a store").into());
        }
    } else {
        let saved = storage::delivery::addresses(&state.store, &state.keys, member).await?;
        match delivery_address(&form, &saved, chosen_address_id(&form, &saved)) {
            Some(a) if chosen_address_id(&form, &saved).is_some() => address = Some(a),
            new => {
                let new = new.unwrap_or_default();
                for field in crate::app::delivery::address_problems(&new) {
                    errors.insert(field, super::address_field_text(ctx.lang, field).into());
                }
                address = Some(new);
            }
        }
    }
    let (Ok(coupons), Ok(points_to_redeem)) = (form.coupons(), form.points()) else {
        // The page says which field is wrong.
        return checkout_page(&state, &ctx, (session_id, member), &form, &errors, None).await;
    };
    if !errors.is_empty() {
        return checkout_page(&state, &ctx, (session_id, member), &form, &errors, None).await;
    }
    let lines: Vec<_> = storage::web::cart(&state.store, session_id)
        .await?
        .into_iter()
        .filter(|l| l.selected)
        .collect();
    if lines.is_empty() {
        return Ok(redirect("/cart"));
    }
    let req = crate::app::checkout::Checkout {
        id,
        fulfilment: if pickup {
            Fulfilment::Pickup
        } else {
            Fulfilment::Delivery
        },
        store: if pickup { form.store.clone() } else { None },
        address,
        slot: form.slot.clone().unwrap_or_default(),
        lines: lines.iter().map(|l| (l.sku_id, l.qty)).collect(),
        member_id: Some(member),
        coupons,
        points_to_redeem,
        created_by: "shop-web".into(),
        client,
    };
    match crate::app::checkouts::place(&state, req).await {
        Ok(placed) => {
            let ids: Vec<Uuid> = lines.iter().map(|l| l.sku_id).collect();
            shop_session::change_cart(
                &state,
                session_id,
                storage::web::cart_remove(&state.store, session_id, &ids),
            )
            .await?;
            // One merchant's goods: its order's page; several: the checkout's, paid at once.
            Ok(match placed.orders.as_slice() {
                [one] => redirect(&format!("/orders/{}", one.order.id)),
                _ => redirect(&format!("/checkouts/{}", placed.id)),
            })
        }
        Err(AppError::Conflict { code, message }) => {
            let text = if code == "out_of_stock" {
                format!(
                    "{} ({message})",
                    ctx.t(
                        "库存不足，请调整数量或换个门店。",
                        "Not enough stock: change the quantity or the store."
                    )
                )
            } else {
                message
            };
            checkout_page(
                &state,
                &ctx,
                (session_id, member),
                &CheckoutForm { id: None, ..form },
                &FieldErrors::new(),
                Some(text),
            )
            .await
        }
        Err(e @ AppError::Invalid { .. }) => {
            let text = match &e {
                AppError::Invalid {
                    code: "outside_delivery_area",
                    ..
                } => outside_area_text(&ctx).to_owned(),
                AppError::Invalid {
                    code: "bad_slot", ..
                } => ctx
                    .t("请重新选择送达时段。", "Choose the delivery slot again.")
                    .to_owned(),
                _ => e.to_string(),
            };
            checkout_page(
                &state,
                &ctx,
                (session_id, member),
                &CheckoutForm { id: None, ..form },
                &FieldErrors::new(),
                Some(text),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// The saved address the form chose: the one named by `address_id`, none for `new`, and the
/// default (or first) one when the form names none.
fn chosen_address_id(form: &CheckoutForm, saved: &[SavedAddress]) -> Option<Uuid> {
    match form.address_id.as_deref().map(str::trim) {
        Some("new") => None,
        Some(id) if !id.is_empty() => Uuid::parse_str(id)
            .ok()
            .filter(|id| saved.iter().any(|a| a.id == *id)),
        _ => saved.first().map(|a| a.id),
    }
}

/// The address to deliver to: the chosen saved one, or the new one typed in (`None` while its
/// street address is still empty).
fn delivery_address(
    form: &CheckoutForm,
    saved: &[SavedAddress],
    chosen: Option<Uuid>,
) -> Option<Address> {
    if let Some(id) = chosen {
        return saved.iter().find(|a| a.id == id).map(|a| a.address.clone());
    }
    let text = |f: &Option<String>| f.clone().unwrap_or_default().trim().to_owned();
    let address = text(&form.address);
    let (lat_e6, lng_e6) = super::form_position(form.lat_e6.as_deref(), form.lng_e6.as_deref());
    (!address.is_empty()).then(|| Address {
        name: text(&form.name),
        phone: text(&form.phone),
        province: text(&form.province),
        city: text(&form.city),
        address,
        lat_e6,
        lng_e6,
    })
}

/// "We do not deliver there", translated.
fn outside_area_text(ctx: &Ctx) -> &'static str {
    ctx.t(
        "该地址不在配送范围内，请换一个地址或选择门店自提。",
        "We do not deliver to this address: choose another address or store pickup.",
    )
}
