//! The console's devices (head office and store managers): registering a POS lane or an edge
//! agent (its credential shown once), revoking a device, and each lane's receipt-signing keys,
//! which head office revokes one by one.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::scope;
use crate::actor::{DeviceKind, Role, StaffActor};
use crate::app::AppState;
use crate::storage;
use crate::web::{console_page, field, redirect, when, Ctx, FieldErrors, Form, Staff, WebResult};

/// Device routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/devices", get(devices).post(register_device))
        .route("/console/devices/{id}/revoke", post(revoke_device))
        .route(
            "/console/devices/{id}/receipt-keys/{key_id}/revoke",
            post(revoke_receipt_key),
        )
}

#[derive(Debug, Deserialize, Default, Clone)]
struct DeviceForm {
    id: Option<String>,
    location: Option<String>,
    kind: Option<String>,
    name: Option<String>,
}

async fn devices_view(
    state: &AppState,
    ctx: &Ctx,
    staff: &StaffActor,
    form: &DeviceForm,
    errors: &FieldErrors,
    credential: Option<(String, String)>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    let location = scope(staff);
    let devices = storage::web::devices_seen(&state.store, location.as_deref()).await?;
    let stores: Vec<_> = storage::locations::list(&state.store)
        .await?
        .into_iter()
        .filter(|l| l.kind == "store" && location.as_ref().is_none_or(|own| own == &l.id))
        .collect();
    // The lanes' receipt-signing keys, by device (registered by the lanes themselves).
    let mut receipt_keys: HashMap<Uuid, Vec<retail_domain::wire::receipts::ReceiptKey>> =
        HashMap::new();
    for l in &stores {
        for key in storage::receipts::keys_of_store(&state.store, &l.id).await? {
            receipt_keys.entry(key.device_id).or_default().push(key);
        }
    }
    let head_office = staff.role == Role::HeadOfficeAdmin;
    let id = form
        .id
        .clone()
        .unwrap_or_else(|| retail_domain::ids::new_id().to_string());
    let body = html! {
        @if let Some((name, secret)) = &credential {
            div.notice.ok role="status" {
                b { (name) } " — " (ctx.t("设备凭证（只显示这一次，请立即配置到设备上）：", "device credential (shown only this once; configure the device now):"))
                pre #credential style="white-space:pre-wrap;word-break:break-all" { (secret) }
            }
        }
        form.card method="post" action="/console/devices" {
            b { (ctx.t("登记设备", "Register a device")) }
            (ctx.csrf_field())
            input type="hidden" name="id" value=(id);
            div.two {
                div.field { label for="location" { (ctx.t("门店", "Store")) }
                    select #location name="location" { @for l in &stores { option value=(l.id) selected[form.location.as_deref() == Some(l.id.as_str())] { (l.id) " " (ctx.lang.pick(&l.name_zh, &l.name_en)) } } } }
                div.field { label for="kind" { (ctx.t("类型", "Kind")) }
                    select #kind name="kind" { option value="pos" { (ctx.t("收银机", "POS lane")) } option value="edge" selected[form.kind.as_deref() == Some("edge")] { (ctx.t("门店边缘代理", "Edge agent")) } } }
            }
            (field(ctx.t("名称", "Name"), "name", "text", form.name.as_deref().unwrap_or(""), errors, html!{}))
            button.btn type="submit" { (ctx.t("登记", "Register")) }
        }
        div.table-wrap { table {
            tr { th { (ctx.t("门店", "Store")) } th { (ctx.t("名称", "Name")) } th { (ctx.t("类型", "Kind")) } th { (ctx.t("最近在线", "Last seen")) }
                 th title=(ctx.t("设备在门店总线上最近报告的状态，以及它驱动的打印机、闸机、条码秤等", "What the device last reported on the store bus, and the printers, gates and label scales it drives")) { (ctx.t("状态", "Status")) }
                 th title=(ctx.t("收银机签发小票码所用的密钥；小票码被盗用时吊销", "The keys a lane signs its receipt codes with; revoke one if its codes are being forged")) { (ctx.t("小票密钥", "Receipt keys")) } th {} }
            @for d in &devices {
                tr { td { (d.location_id) } td { (d.name) } td { (d.kind) } td { @if let Some(t) = d.last_seen_at { (when(t)) } @else { "—" } }
                     td.device-health {
                        @match d.presence.as_deref() {
                            Some("online") => span.status.paid { (ctx.t("在线", "Online")) },
                            Some(_) => span.status.cancelled { (ctx.t("离线", "Offline")) },
                            None => "—",
                        }
                        @for h in &d.health {
                            div data-component=(h.name) {
                                code { (h.name) } " "
                                @if h.state == "ok" { span.status.paid { (ctx.t("正常", "OK")) } }
                                @else { span.status.cancelled { (ctx.t("故障", "Fault")) } }
                                @if let Some(detail) = &h.detail { " " span.muted { (detail) } }
                            }
                        }
                     }
                     td.receipt-keys { @for k in receipt_keys.get(&d.id).map(Vec::as_slice).unwrap_or_default() {
                        div { code { (k.key_id) } " "
                            @if k.revoked_at.is_some() { span.status.cancelled { (ctx.t("已吊销", "Revoked")) } }
                            @else if head_office {
                                form style="display:inline" method="post" action={ "/console/devices/" (d.id) "/receipt-keys/" (k.key_id) "/revoke" } {
                                    (ctx.csrf_field()) button.link type="submit" { (ctx.t("吊销密钥", "Revoke key")) } } }
                            @else { span.status.paid { (ctx.t("有效", "Valid")) } } }
                     } }
                     td { @if d.revoked_at.is_some() { span.status.cancelled { (ctx.t("已吊销", "Revoked")) } } @else {
                        form method="post" action={ "/console/devices/" (d.id) "/revoke" } { (ctx.csrf_field()) button.link type="submit" { (ctx.t("吊销", "Revoke")) } } } } }
            }
        } }
    };
    Ok(console_page(ctx, staff, ctx.t("设备", "Devices"), body))
}

async fn devices(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
) -> WebResult<Response> {
    devices_view(
        &state,
        &ctx,
        &staff,
        &DeviceForm::default(),
        &FieldErrors::new(),
        None,
    )
    .await
}

async fn register_device(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Form(form): Form<DeviceForm>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    let mut errors = FieldErrors::new();
    let name = form.name.clone().unwrap_or_default().trim().to_owned();
    if name.is_empty() || name.chars().count() > 64 {
        errors.insert(
            "name",
            ctx.t(
                "请填写名称（最多 64 字）",
                "Enter a name (up to 64 characters)",
            )
            .into(),
        );
    }
    let location = form.location.clone().unwrap_or_default();
    staff.require_store(&location)?;
    let kind = match form.kind.as_deref() {
        Some("edge") => DeviceKind::Edge,
        _ => DeviceKind::Pos,
    };
    let id = form
        .id
        .as_deref()
        .and_then(|i| Uuid::parse_str(i).ok())
        .filter(|i| retail_domain::ids::require_v7(*i).is_ok());
    let located = storage::locations::get(&state.store, &location)
        .await
        .ok()
        .filter(|l| l.kind == "store");
    if located.is_none() {
        errors.insert("location", ctx.t("请选择门店", "Choose a store").into());
    }
    let (Some(id), true) = (id, errors.is_empty()) else {
        return devices_view(&state, &ctx, &staff, &form, &errors, None).await;
    };
    let created =
        crate::app::devices::register_device(&state, id, &location, kind, &name, &staff.actor())
            .await?;
    // A resubmitted form (same id) does not show a new credential: the first one stands.
    let shown = created.map(|(d, credential)| (d.name, credential));
    devices_view(
        &state,
        &ctx,
        &staff,
        &DeviceForm::default(),
        &FieldErrors::new(),
        shown,
    )
    .await
}

async fn revoke_device(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(_): Form<HashMap<String, String>>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    let device = storage::devices::get(&state.store, id).await?;
    staff.require_store(&device.location_id)?;
    crate::app::devices::revoke_device(&state, id, &staff.actor()).await?;
    Ok(redirect("/console/devices"))
}

async fn revoke_receipt_key(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path((id, key_id)): Path<(Uuid, String)>,
    Form(_): Form<HashMap<String, String>>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    storage::receipts::revoke_key(&state.store, id, key_id.trim(), &staff.actor()).await?;
    Ok(redirect("/console/devices"))
}
