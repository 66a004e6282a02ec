//! The member centre's saved delivery addresses (`/me/addresses`): add, edit, delete, make one
//! the default. The list shows each address masked; the full address is sealed at rest and
//! opened only for checkout (the shop's, or `POST /api/v1/orders` with `address_id`) and for staff
//! shipping the order. The list is [`crate::app::delivery::masked_addresses`], the same the API
//! answers (`GET /api/v1/members/me/addresses`). Writes go through
//! [`crate::app::delivery`].

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::{cart_count, require_member, session};
use crate::app::AppState;
use crate::error::AppError;
use crate::storage::delivery::Address;
use crate::web::{field, redirect, shop_page, Ctx, FieldErrors, Form, WebResult};

/// Saved-address routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me/addresses", get(list).post(save))
        .route("/me/addresses/{id}/delete", post(delete))
        .route("/me/addresses/{id}/default", post(make_default))
}

#[derive(Debug, Deserialize, Default)]
struct ListParams {
    /// The address being edited.
    edit: Option<Uuid>,
    done: Option<String>,
}

#[derive(Debug, Deserialize, Default, Clone)]
struct AddressForm {
    id: Option<String>,
    name: Option<String>,
    phone: Option<String>,
    province: Option<String>,
    city: Option<String>,
    address: Option<String>,
    /// `on` when it becomes the default.
    default: Option<String>,
    /// Position, micro-degrees (hidden fields filled from the phone's location).
    lat_e6: Option<String>,
    lng_e6: Option<String>,
}

impl AddressForm {
    fn address(&self) -> Address {
        let text = |f: &Option<String>| f.clone().unwrap_or_default().trim().to_owned();
        let (lat_e6, lng_e6) = super::form_position(self.lat_e6.as_deref(), self.lng_e6.as_deref());
        Address {
            name: text(&self.name),
            phone: text(&self.phone),
            province: text(&self.province),
            city: text(&self.city),
            address: text(&self.address),
            lat_e6,
            lng_e6,
        }
    }
}

async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(p): Query<ListParams>,
) -> WebResult<Response> {
    page(
        &state,
        &ctx,
        p,
        &AddressForm::default(),
        &FieldErrors::new(),
    )
    .await
}

async fn page(
    state: &AppState,
    ctx: &Ctx,
    p: ListParams,
    form: &AddressForm,
    errors: &FieldErrors,
) -> WebResult<Response> {
    let session = session(state, ctx).await?;
    let (_, member) = require_member(session.as_ref(), "/me/addresses")?;
    let count = cart_count(state, session.as_ref()).await?;
    let saved = crate::app::delivery::masked_addresses(state, member).await?;
    let editing = p.edit.and_then(|id| saved.iter().find(|a| a.id == id));
    let id = form
        .id
        .clone()
        .or_else(|| editing.map(|a| a.id.to_string()))
        .unwrap_or_else(|| retail_domain::ids::new_id().to_string());
    let value = |f: &Option<String>| f.clone().unwrap_or_default();
    let body = html! {
        @if let Some(d) = &p.done { div.notice.ok role="status" { (match d.as_str() {
            "deleted" => ctx.t("地址已删除。", "Address deleted."),
            "default" => ctx.t("已设为默认地址。", "Made the default address."),
            _ => ctx.t("地址已保存。", "Address saved."),
        }) } }
        div.card #address-list {
            b { (ctx.t("收货地址", "Delivery addresses")) }
            @if saved.is_empty() { p.muted { (ctx.t("还没有保存的地址。", "No saved addresses yet.")) } }
            @for a in &saved {
                div.spread.address data-address=(a.id) {
                    span.masked { (a.masked) @if a.is_default { " " span.status.paid { (ctx.t("默认", "Default")) } } }
                    span.row {
                        a.btn.secondary href={ "/me/addresses?edit=" (a.id) } { (ctx.t("修改", "Edit")) }
                        @if !a.is_default {
                            form method="post" action={ "/me/addresses/" (a.id) "/default" } {
                                (ctx.csrf_field()) button.btn.secondary.make-default type="submit" { (ctx.t("设为默认", "Make default")) }
                            }
                        }
                        form method="post" action={ "/me/addresses/" (a.id) "/delete" } {
                            (ctx.csrf_field()) button.btn.warn.delete type="submit" { (ctx.t("删除", "Delete")) }
                        }
                    }
                }
            }
        }
        form.card #address-form method="post" action="/me/addresses" {
            b { @if let Some(a) = editing { (ctx.t("修改地址：", "Edit address: ")) (a.masked) } @else { (ctx.t("新增地址", "New address")) } }
            @if editing.is_some() { p.muted { (ctx.t("为保护隐私，请重新填写完整地址。", "For your privacy, enter the full address again.")) } }
            (ctx.csrf_field())
            input type="hidden" name="id" value=(id);
            (field(ctx.t("收货人", "Recipient"), "name", "text", &value(&form.name), errors, html!{}))
            (field(ctx.t("手机号", "Phone"), "phone", "tel", &value(&form.phone), errors, html!{}))
            (field(ctx.t("省份", "Province"), "province", "text", &value(&form.province), errors, html!{}))
            (field(ctx.t("城市", "City"), "city", "text", &value(&form.city), errors, html!{}))
            (field(ctx.t("详细地址", "Address"), "address", "text", &value(&form.address), errors, html!{}))
            (super::position_fields(ctx, form.lat_e6.as_deref(), form.lng_e6.as_deref()))
            @if let Some(e) = errors.get("lat_e6") { p.field-error role="alert" data-field="lat_e6" { (e) } }
            label { input type="checkbox" name="default" checked[form.default.is_some()]; " " (ctx.t("设为默认地址", "Make it the default")) }
            button.btn.block #save-address type="submit" { (ctx.t("保存地址", "Save address")) }
        }
    };
    Ok(shop_page(ctx, ctx.t("收货地址", "Addresses"), count, body))
}

async fn save(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(form): Form<AddressForm>,
) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let (_, member) = require_member(session.as_ref(), "/me/addresses")?;
    let id = form
        .id
        .as_deref()
        .and_then(|i| Uuid::parse_str(i).ok())
        .filter(|i| retail_domain::ids::require_v7(*i).is_ok())
        .ok_or_else(|| AppError::bad_request("invalid_form", "the form could not be read"))?;
    let address = form.address();
    let mut errors = FieldErrors::new();
    for field in crate::app::delivery::address_problems(&address) {
        errors.insert(field, super::address_field_text(ctx.lang, field).into());
    }
    if errors.is_empty() {
        match crate::app::delivery::save_address(
            &state,
            member,
            id,
            &address,
            form.default.is_some(),
        )
        .await
        {
            Ok(()) => return Ok(redirect("/me/addresses?done=saved")),
            Err(AppError::Conflict { .. }) => {
                errors.insert(
                    "address",
                    ctx.t("最多保存 20 个地址。", "At most 20 saved addresses.")
                        .into(),
                );
            }
            Err(AppError::NotFound(_)) => return Ok(redirect("/me/addresses")),
            Err(e) => return Err(e.into()),
        }
    }
    let params = ListParams {
        edit: Some(id),
        done: None,
    };
    page(&state, &ctx, params, &form, &errors).await
}

async fn delete(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
    Form(_): Form<std::collections::HashMap<String, String>>,
) -> WebResult<Response> {
    address_action(&state, &ctx, id, "deleted").await
}

async fn make_default(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<Uuid>,
    Form(_): Form<std::collections::HashMap<String, String>>,
) -> WebResult<Response> {
    address_action(&state, &ctx, id, "default").await
}

/// Deletes a saved address (`deleted`) or makes it the default (`default`), back to the list.
async fn address_action(
    state: &AppState,
    ctx: &Ctx,
    id: Uuid,
    action: &str,
) -> WebResult<Response> {
    let session = session(state, ctx).await?;
    let (_, member) = require_member(session.as_ref(), "/me/addresses")?;
    if action == "deleted" {
        crate::app::delivery::delete_address(state, member, id).await?;
    } else {
        crate::app::delivery::set_default_address(state, member, id).await?;
    }
    Ok(redirect(&format!("/me/addresses?done={action}")))
}
