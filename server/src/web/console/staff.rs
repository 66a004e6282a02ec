//! The console's staff administration: head office sees and administers every account, a store
//! manager the cashiers of their own store (create, disable, reset a password, set a lane PIN);
//! and every member of staff's own password page, which is the only page a session may open
//! after an administrator reset its password. The rules are in [`crate::app::staff_admin`].

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::scope;
use crate::actor::{Role, StaffActor};
use crate::app::staff_admin::{self, Administrator, NewStaffRequest, StaffUpdate};
use crate::app::AppState;
use crate::error::AppError;
use crate::secrets::token_hash;
use crate::storage;
use crate::web::{
    console_page, cookie, field, redirect, role_label, when, Ctx, FieldErrors, Form, Staff,
    WebResult,
};

/// Staff routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/staff", get(staff_list).post(create))
        .route("/console/staff/{id}", get(account).post(update))
        .route("/console/staff/{id}/password", post(reset_password))
        .route("/console/staff/{id}/pin", post(set_pin))
        .route(
            "/console/password",
            get(password_page).post(change_password),
        )
}

#[derive(Debug, Deserialize, Default, Clone)]
struct NewStaffForm {
    id: Option<String>,
    username: Option<String>,
    display_name: Option<String>,
    role: Option<String>,
    location: Option<String>,
    merchant_id: Option<String>,
    password: Option<String>,
}

/// Moves a use case's field errors onto the form; other errors pass through.
fn form_errors(err: AppError, known: &[&'static str]) -> Result<FieldErrors, AppError> {
    match err {
        AppError::Invalid { fields, .. } if !fields.is_empty() => {
            let mut errors = FieldErrors::new();
            for (name, message) in fields {
                let key = known
                    .iter()
                    .find(|k| **k == name)
                    .copied()
                    .unwrap_or("form");
                errors.insert(key, message);
            }
            Ok(errors)
        }
        AppError::Conflict { message, .. } => Ok(FieldErrors::from([("form", message)])),
        other => Err(other),
    }
}

fn roles_for(staff: &StaffActor) -> &'static [Role] {
    match staff.role {
        Role::HeadOfficeAdmin => &[
            Role::Cashier,
            Role::StoreManager,
            Role::HeadOfficeAdmin,
            Role::MerchantAdmin,
        ],
        _ => &[Role::Cashier],
    }
}

/// The stores and warehouses `staff` may give an account (head office: all; a store manager:
/// their own), with the store the pages are limited to.
async fn assignable_locations(
    state: &AppState,
    staff: &StaffActor,
) -> WebResult<(Option<String>, Vec<storage::locations::Location>)> {
    let own = scope(staff);
    let locations = storage::locations::list(&state.store)
        .await?
        .into_iter()
        .filter(|l| l.kind != "head_office" && own.as_ref().is_none_or(|o| o == &l.id))
        .collect();
    Ok((own, locations))
}

async fn list_view(
    state: &AppState,
    ctx: &Ctx,
    staff: &StaffActor,
    form: &NewStaffForm,
    errors: &FieldErrors,
) -> WebResult<Response> {
    let people = staff_admin::list(&state.store, staff, None).await?;
    let (own, locations) = assignable_locations(state, staff).await?;
    let id = form
        .id
        .clone()
        .unwrap_or_else(|| retail_domain::ids::new_id().to_string());
    let body = html! {
        form.card #new-staff method="post" action="/console/staff" {
            b { (ctx.t("新建账号", "New account")) }
            @if let Some(e) = errors.get("form") { div.notice.err role="alert" { (e) } }
            (ctx.csrf_field())
            input type="hidden" name="id" value=(id);
            div.two {
                (field(ctx.t("用户名", "User name"), "username", "text", form.username.as_deref().unwrap_or(""), errors, html!{}))
                (field(ctx.t("姓名", "Name"), "display_name", "text", form.display_name.as_deref().unwrap_or(""), errors, html!{}))
            }
            div.two {
                div.field { label for="role" { (ctx.t("角色", "Role")) }
                    select #role name="role" { @for r in roles_for(staff) {
                        option value=(r.as_str()) selected[form.role.as_deref() == Some(r.as_str())] { (role_label(ctx.lang, *r)) } } } }
                div.field.has-error[errors.contains_key("location_id")] { label for="location" { (ctx.t("门店 / 仓库（总部账号不选）", "Store / warehouse (none for head office)")) }
                    select #location name="location" {
                        @if own.is_none() { option value="" { "—" } }
                        @for l in &locations { option value=(l.id) selected[form.location.as_deref() == Some(l.id.as_str())] { (l.id) " " (ctx.lang.pick(&l.name_zh, &l.name_en)) } } }
                    @if let Some(e) = errors.get("location_id") { p.field-error role="alert" data-field="location_id" { (e) } } }
            }
            @if staff.role == Role::HeadOfficeAdmin {
                (field(ctx.t("商家编码（仅商家管理员）", "Merchant code (merchant admins only)"), "merchant_id", "text", form.merchant_id.as_deref().unwrap_or(""), errors, html!{}))
            }
            (field(ctx.t("初始密码（首次登录须修改）", "Initial password (must be changed at first log-in)"), "password", "password", "", errors, html!{}))
            button.btn type="submit" { (ctx.t("创建", "Create")) }
        }
        div.table-wrap { table #staff {
            tr { th { (ctx.t("用户名", "User name")) } th { (ctx.t("姓名", "Name")) } th { (ctx.t("角色", "Role")) } th { (ctx.t("门店", "Store")) } th { (ctx.t("状态", "Status")) } th {} }
            @for s in &people { tr {
                td { (s.actor.username) } td { (s.actor.display_name) } td { (role_label(ctx.lang, s.actor.role)) }
                td { (s.actor.location_id.as_deref().unwrap_or("—")) }
                td { @if !s.active { span.status.cancelled { (ctx.t("已停用", "Disabled")) } }
                     @else if s.actor.must_change_password { span.status.pending_payment { (ctx.t("待改密码", "Password change due")) } }
                     @else { span.status.paid { (ctx.t("正常", "Active")) } } }
                td { a href={ "/console/staff/" (s.actor.id) } { (ctx.t("管理", "Manage")) } }
            } }
        } }
    };
    Ok(console_page(
        ctx,
        staff,
        ctx.t("员工与角色", "Staff and roles"),
        body,
    ))
}

async fn staff_list(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
) -> WebResult<Response> {
    list_view(
        &state,
        &ctx,
        &staff,
        &NewStaffForm::default(),
        &FieldErrors::new(),
    )
    .await
}

async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Form(form): Form<NewStaffForm>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    let id = form
        .id
        .as_deref()
        .and_then(|i| Uuid::parse_str(i).ok())
        .unwrap_or_else(retail_domain::ids::new_id);
    let role: Role = form
        .role
        .as_deref()
        .unwrap_or("cashier")
        .parse()
        .map_err(|e: String| AppError::field("role", e))?;
    let req = NewStaffRequest {
        id,
        username: form.username.clone().unwrap_or_default(),
        display_name: form.display_name.clone().unwrap_or_default(),
        role,
        location_id: form.location.clone().filter(|l| !l.is_empty()),
        merchant_id: form.merchant_id.clone().filter(|m| !m.is_empty()),
        password: form.password.clone().unwrap_or_default(),
    };
    match staff_admin::create(&state.store, Administrator::Staff(&staff), &req).await {
        Ok(created) => Ok(redirect(&format!(
            "/console/staff/{}?notice=created",
            created.actor.id
        ))),
        Err(err) => {
            let errors = form_errors(
                err,
                &[
                    "username",
                    "display_name",
                    "password",
                    "location_id",
                    "role",
                    "merchant_id",
                ],
            )?;
            list_view(&state, &ctx, &staff, &form, &errors).await
        }
    }
}

#[derive(Debug, Deserialize, Default)]
struct AccountParams {
    notice: Option<String>,
}

async fn account_view(
    state: &AppState,
    ctx: &Ctx,
    staff: &StaffActor,
    id: Uuid,
    notice: Option<&str>,
    errors: &FieldErrors,
) -> WebResult<Response> {
    let account = staff_admin::get(&state.store, staff, id).await?;
    let (own, locations) = assignable_locations(state, staff).await?;
    let notice_text = match notice {
        Some("created") => Some(ctx.t("账号已创建。", "Account created.")),
        Some("saved") => Some(ctx.t("已保存。", "Saved.")),
        Some("password") => Some(ctx.t(
            "密码已重置；该账号的会话已结束，下次登录须修改密码。",
            "Password reset; the account's sessions ended and it must choose a new password at its next log-in.",
        )),
        Some("pin") => Some(ctx.t("收银 PIN 已更新。", "Lane PIN updated.")),
        _ => None,
    };
    let a = &account.actor;
    let body = html! {
        @if let Some(n) = notice_text { div.notice.ok role="status" { (n) } }
        @if let Some(e) = errors.get("form") { div.notice.err role="alert" { (e) } }
        p { b { (a.username) } " · " (role_label(ctx.lang, a.role)) " · " (a.location_id.as_deref().unwrap_or("—"))
            " · " (ctx.t("创建于 ", "created ")) (when(account.created_at))
            @if let Some(t) = account.password_changed_at { " · " (ctx.t("密码更新于 ", "password set ")) (when(t)) } }
        form.card #account method="post" action={ "/console/staff/" (a.id) } {
            b { (ctx.t("账号", "Account")) }
            (ctx.csrf_field())
            (field(ctx.t("姓名", "Name"), "display_name", "text", &a.display_name, errors, html!{}))
            div.two {
                div.field { label for="role" { (ctx.t("角色", "Role")) }
                    select #role name="role" { @for r in roles_for(staff) {
                        option value=(r.as_str()) selected[a.role == *r] { (role_label(ctx.lang, *r)) } } } }
                div.field.has-error[errors.contains_key("location_id")] { label for="location" { (ctx.t("门店 / 仓库", "Store / warehouse")) }
                    select #location name="location" {
                        @if own.is_none() { option value="" { "—" } }
                        @for l in &locations { option value=(l.id) selected[a.location_id.as_deref() == Some(l.id.as_str())] { (l.id) " " (ctx.lang.pick(&l.name_zh, &l.name_en)) } } }
                    @if let Some(e) = errors.get("location_id") { p.field-error role="alert" data-field="location_id" { (e) } } }
            }
            div.field { label { input type="checkbox" name="active" value="1" checked[account.active]; " " (ctx.t("启用（停用会立即结束其会话）", "Enabled (disabling ends its sessions at once)")) } }
            button.btn type="submit" { (ctx.t("保存", "Save")) }
        }
        form.card #reset method="post" action={ "/console/staff/" (a.id) "/password" } {
            b { (ctx.t("重置密码", "Reset password")) }
            (ctx.csrf_field())
            (field(ctx.t("新密码（下次登录须修改）", "New password (must be changed at next log-in)"), "password", "password", "", errors, html!{}))
            button.btn type="submit" { (ctx.t("重置", "Reset")) }
        }
        form.card #pin method="post" action={ "/console/staff/" (a.id) "/pin" } {
            b { (ctx.t("收银 PIN", "Lane PIN")) } " "
            @if account.has_pin { span.status.paid { (ctx.t("已设置", "set")) } } @else { span.status.cancelled { (ctx.t("未设置", "not set")) } }
            (ctx.csrf_field())
            (field(ctx.t("6 位数字", "6 digits"), "pin", "password", "", errors, html!{}))
            button.btn type="submit" { (ctx.t("设置", "Set")) }
        }
    };
    Ok(console_page(ctx, staff, &a.display_name, body))
}

async fn account(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    axum::extract::Query(p): axum::extract::Query<AccountParams>,
) -> WebResult<Response> {
    account_view(
        &state,
        &ctx,
        &staff,
        id,
        p.notice.as_deref(),
        &FieldErrors::new(),
    )
    .await
}

#[derive(Debug, Deserialize, Default)]
struct AccountForm {
    display_name: Option<String>,
    role: Option<String>,
    location: Option<String>,
    active: Option<String>,
}

async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(form): Form<AccountForm>,
) -> WebResult<Response> {
    let role = match form.role.as_deref() {
        Some(r) => Some(r.parse::<Role>().map_err(|e| AppError::field("role", e))?),
        None => None,
    };
    let change = StaffUpdate {
        display_name: form.display_name,
        role,
        location_id: form.location.filter(|l| !l.is_empty()),
        active: Some(form.active.is_some()),
    };
    match staff_admin::update(&state.store, Administrator::Staff(&staff), id, &change).await {
        Ok(_) => Ok(redirect(&format!("/console/staff/{id}?notice=saved"))),
        Err(err) => {
            let errors = form_errors(err, &["display_name", "location_id", "role"])?;
            account_view(&state, &ctx, &staff, id, None, &errors).await
        }
    }
}

#[derive(Debug, Deserialize, Default)]
struct SecretForm {
    password: Option<String>,
    pin: Option<String>,
}

async fn reset_password(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(form): Form<SecretForm>,
) -> WebResult<Response> {
    let password = form.password.unwrap_or_default();
    match staff_admin::reset_password(&state.store, Administrator::Staff(&staff), id, &password)
        .await
    {
        Ok(_) => Ok(redirect(&format!("/console/staff/{id}?notice=password"))),
        Err(err) => {
            let errors = form_errors(err, &["password"])?;
            account_view(&state, &ctx, &staff, id, None, &errors).await
        }
    }
}

async fn set_pin(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(form): Form<SecretForm>,
) -> WebResult<Response> {
    let pin = form.pin.unwrap_or_default();
    match staff_admin::set_pin(&state.store, Administrator::Staff(&staff), id, Some(&pin)).await {
        Ok(_) => Ok(redirect(&format!("/console/staff/{id}?notice=pin"))),
        Err(err) => {
            let errors = form_errors(err, &["pin"])?;
            account_view(&state, &ctx, &staff, id, None, &errors).await
        }
    }
}

#[derive(Debug, Deserialize, Default)]
struct ChangeForm {
    old_password: Option<String>,
    password: Option<String>,
    confirm: Option<String>,
}

fn password_view(ctx: &Ctx, staff: &StaffActor, errors: &FieldErrors, done: bool) -> Response {
    let body = html! {
        @if staff.must_change_password {
            div.notice.err role="alert" { (ctx.t("管理员重置了您的密码：请先设置新密码。", "An administrator reset your password: choose a new one first.")) }
        }
        @if done { div.notice.ok role="status" { (ctx.t("密码已修改，其他会话已结束。", "Password changed; your other sessions were ended.")) } }
        form.card #change-password method="post" action="/console/password" {
            (ctx.csrf_field())
            (field(ctx.t("当前密码", "Current password"), "old_password", "password", "", errors, html!{}))
            (field(ctx.t("新密码（至少 10 位，不能是常见密码）", "New password (10+ characters, not a common one)"), "password", "password", "", errors, html!{}))
            (field(ctx.t("再输入一次", "Again"), "confirm", "password", "", errors, html!{}))
            button.btn type="submit" { (ctx.t("修改密码", "Change password")) }
        }
    };
    console_page(ctx, staff, ctx.t("修改密码", "Change password"), body)
}

async fn password_page(ctx: Ctx, Staff(staff): Staff) -> Response {
    password_view(&ctx, &staff, &FieldErrors::new(), false)
}

async fn change_password(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Staff(staff): Staff,
    Form(form): Form<ChangeForm>,
) -> WebResult<Response> {
    let password = form.password.unwrap_or_default();
    if form.confirm.as_deref() != Some(password.as_str()) {
        let errors = FieldErrors::from([(
            "confirm",
            ctx.t("两次输入不一致", "The two entries differ").to_owned(),
        )]);
        return Ok(password_view(&ctx, &staff, &errors, false));
    }
    let session = cookie(&headers, "console").map(token_hash);
    match staff_admin::change_own_password(
        &state.store,
        &staff,
        session.as_deref(),
        form.old_password.as_deref().unwrap_or_default(),
        &password,
    )
    .await
    {
        Ok(()) => {
            let staff = StaffActor {
                must_change_password: false,
                ..staff
            };
            Ok(password_view(&ctx, &staff, &FieldErrors::new(), true))
        }
        Err(err) => {
            let errors = form_errors(err, &["old_password", "password"])?;
            Ok(password_view(&ctx, &staff, &errors, false))
        }
    }
}
