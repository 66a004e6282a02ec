//! The console for head office and store staff. Every page checks the role *and* the store:
//! store staff see their own store only; catalog, stores, staff and the audit log are head
//! office's. Actions reuse the same storage calls (and audit records) as the JSON API.
//!
//! The pages are in one module per area: [`dashboard`], [`orders`] (list, CSV export, an
//! order's page; ready, cancel, hand-over), [`fulfilment`] (ship, deliver, after-sale refund),
//! [`catalog`] (products, prices, barcodes, CSV export and import), [`stock`] (levels,
//! movements, counts, transfers), [`members`], [`devices`] (and the lanes' receipt keys),
//! [`promotions`], [`coupons`], [`admin`] (audit log, stores) and [`staff`] (accounts, roles,
//! passwords, lane PINs; everyone's own password page), [`payments`] (head office's payments
//! and refunds search, payment alerts, daily reconciliation) and [`recharges`] (the recharge
//! packages members buy stored value with) and [`after_sales`] (the shoppers' after-sale
//! requests reviewed; ratings, reasons and rules for head office) and [`reviews`] (head office's
//! moderation of the shoppers' reviews with photos, merchant replies, the review rules) and
//! [`distribution`] (分销: applications, commission rates, withdrawals, the report) and
//! [`segments`] (member tags, RFM and segments; coupons and notifications to a segment) and
//! [`settlements`] (merchants' daily settlement statements; a merchant administrator's own).
//!
//! This module holds the log-in and log-out pages and what the areas share: the store a staff
//! member's pages are limited to (`scope`, `pick_location`), CSV downloads (`csv_bytes`,
//! `csv_response`), a sales channel's label and the notice parameters of a page reached after a
//! form. The area modules use this module and [`crate::web`], never each other.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use serde::Deserialize;

use super::{
    cookie, field, html_response, local_path, redirect, set_cookie, Ctx, FieldErrors, Form, Lang,
    WebError, WebResult,
};
use crate::actor::{Role, StaffActor};
use crate::app::AppState;
use crate::error::AppError;
use crate::secrets::token_hash;
use crate::storage;

pub mod admin;
pub mod after_sales;
pub mod analytics;
pub mod bargains;
pub mod cash;
pub mod catalog;
pub mod chat;
pub mod coupons;
pub mod dashboard;
pub mod data_export;
pub mod delivery;
pub mod devices;
pub mod distribution;
pub mod esl;
pub mod faq;
pub mod finance;
pub mod fulfilment;
pub mod group_buys;
pub mod growth;
pub mod member_perks;
pub mod members;
pub mod merchants;
pub mod notifications;
pub mod orders;
pub mod payments;
pub mod points_mall;
pub mod promotions;
pub mod recharges;
pub mod recommendations;
pub mod reviews;
pub mod sales_analytics;
pub mod search_words;
pub mod segments;
pub mod settlements;
pub mod staff;
pub mod stock;
pub mod store_ops;
pub mod webhooks;

/// Console routes: log-in and log-out, and every area's pages.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
        .merge(dashboard::router())
        .merge(orders::router())
        .merge(fulfilment::router())
        .merge(delivery::router())
        .merge(catalog::router())
        .merge(stock::router())
        .merge(members::router())
        .merge(devices::router())
        .merge(admin::router())
        .merge(staff::router())
        .merge(promotions::router())
        .merge(esl::router())
        .merge(webhooks::router())
        .merge(coupons::router())
        .merge(payments::router())
        .merge(finance::router())
        .merge(settlements::router())
        .merge(recharges::router())
        .merge(after_sales::router())
        .merge(search_words::router())
        .merge(merchants::router())
        .merge(segments::router())
        .merge(faq::router())
        .merge(notifications::router())
        .merge(member_perks::router())
        .merge(group_buys::router())
        .merge(points_mall::router())
        .merge(bargains::router())
        .merge(distribution::router())
        .merge(reviews::router())
        .merge(analytics::router())
        .merge(sales_analytics::router())
        .merge(growth::router())
        .merge(data_export::router())
        .merge(recommendations::router())
        .merge(chat::router())
        .merge(store_ops::router())
        .merge(cash::router())
}

/// A form's `datetime-local` value in China time (UTC+8); a field error naming `field` when it
/// is not one.
pub fn china_time(field: &str, text: &str) -> Result<chrono::DateTime<chrono::Utc>, AppError> {
    let naive = chrono::NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| AppError::field(field, "a date and time"))?;
    let offset = chrono::FixedOffset::east_opt(8 * 3600)
        .ok_or_else(|| AppError::field(field, "a date and time"))?;
    chrono::TimeZone::from_local_datetime(&offset, &naive)
        .single()
        .map(|t| t.with_timezone(&chrono::Utc))
        .ok_or_else(|| AppError::field(field, "a date and time"))
}

/// A form's whole number; a field error naming `field` when it is not one.
pub fn whole_number(field: &'static str, text: &str) -> Result<i64, AppError> {
    text.trim()
        .parse::<i64>()
        .map_err(|_| AppError::field(field, "a whole number"))
}

/// Where a console form goes once handled: back to `page` with `?done=1`, or with
/// `?error={field}` naming the first field a field error names; any other error as it is.
pub fn saved_or_field(result: Result<(), AppError>, page: &str) -> WebResult<Response> {
    match result {
        Ok(()) => Ok(redirect(&format!("{page}?done=1"))),
        Err(AppError::Invalid { fields, .. }) => {
            let field = fields.keys().next().cloned().unwrap_or_default();
            Ok(redirect(&format!(
                "{page}?error={}",
                crate::web::urlencode(&field)
            )))
        }
        Err(e) => Err(e.into()),
    }
}

/// A date range asked for on an analytics page (`?from=YYYY-MM-DD&to=YYYY-MM-DD`, China days).
#[derive(Debug, Deserialize, Default)]
struct RangeParams {
    from: Option<String>,
    to: Option<String>,
}

/// Days an analytics page shows when no range is asked for: the last fourteen, today included.
const DEFAULT_DAYS: i64 = 14;

/// The range asked for (China day numbers), or the last [`DEFAULT_DAYS`] days; `false` when
/// what was asked for was not a date.
fn day_range(p: &RangeParams) -> (i64, i64, bool) {
    day_range_of(&p.from, &p.to, DEFAULT_DAYS)
}

/// The range of `from` and `to` (`YYYY-MM-DD`, China days; either may be absent), or the last
/// `default_days` days up to `to` (today when absent); `false` when what was asked for was not
/// a date (the default range is given then).
fn day_range_of(from: &Option<String>, to: &Option<String>, default_days: i64) -> (i64, i64, bool) {
    let today = crate::app::china_day(crate::storage::now_ms());
    let parse = |t: &Option<String>, field| match t.as_deref().filter(|t| !t.is_empty()) {
        None => Some(None),
        Some(t) => crate::app::events::parse_day(t, field).ok().map(Some),
    };
    match (parse(from, "from"), parse(to, "to")) {
        (Some(from), Some(to)) => {
            let to = to.unwrap_or(today);
            (from.unwrap_or(to - (default_days - 1)), to, true)
        }
        _ => (today - (default_days - 1), today, false),
    }
}

/// A China day number as `YYYY-MM-DD`.
fn day_text(day: i64) -> String {
    crate::app::growth::date(day)
}

/// An analytics page's range form (`#range-form`, GET to `action`): from, to, the page's own
/// `extra` fields, Show, and its export links (`(id, href)`).
fn range_form(
    ctx: &Ctx,
    action: &str,
    from: &str,
    to: &str,
    extra: maud::Markup,
    exports: &[(&str, String)],
) -> maud::Markup {
    maud::html! {
        form.card.row #range-form method="get" action=(action) {
            label for="from" { (ctx.t("从", "From")) }
            input #from type="date" name="from" value=(from) style="max-width:170px";
            label for="to" { (ctx.t("到", "To")) }
            input #to type="date" name="to" value=(to) style="max-width:170px";
            (extra)
            button.btn type="submit" { (ctx.t("查看", "Show")) }
            @for (id, href) in exports {
                a.btn.secondary id=(id) href=(href) { (ctx.t("导出 CSV", "Export CSV")) }
            }
        }
    }
}

/// The store a staff member's pages are limited to (none for head office).
fn scope(staff: &StaffActor) -> Option<String> {
    match staff.role {
        Role::HeadOfficeAdmin => None,
        _ => staff.location_id.clone(),
    }
}

/// The location a page shows: head office picks any (or all), store staff their own.
fn pick_location(staff: &StaffActor, asked: Option<&str>) -> WebResult<Option<String>> {
    match (scope(staff), asked.filter(|a| !a.is_empty())) {
        (None, asked) => Ok(asked.map(str::to_owned)),
        (Some(own), Some(asked)) if asked != own => Err(AppError::Forbidden(format!(
            "{} may not see location {asked}",
            staff.username
        ))
        .into()),
        (Some(own), _) => Ok(Some(own)),
    }
}

/// A sales channel for people.
fn channel_label(ctx: &Ctx, channel: &str) -> &'static str {
    match channel {
        "online" => ctx.t("线上", "Online"),
        "pos" => ctx.t("门店收银", "POS"),
        "scan_and_go" => ctx.t("扫码购", "Scan & Go"),
        _ => ctx.t("其他", "Other"),
    }
}

/// A CSV download named `name`.
fn csv_response(name: &str, bytes: Vec<u8>) -> Response {
    (
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

/// A CSV file: the header, then the rows.
fn csv_bytes(header: &[&str], rows: Vec<Vec<String>>) -> WebResult<Vec<u8>> {
    // A UTF-8 byte-order mark so spreadsheet programs read the Chinese correctly.
    let mut w = csv::Writer::from_writer(vec![0xEF, 0xBB, 0xBF]);
    let internal = |e: csv::Error| WebError::App(AppError::Internal(anyhow::anyhow!("csv: {e}")));
    w.write_record(header).map_err(internal)?;
    for r in rows {
        w.write_record(&r).map_err(internal)?;
    }
    w.into_inner()
        .map_err(|e| WebError::App(AppError::Internal(anyhow::anyhow!("csv: {e}"))))
}

/// The outcome of a form, shown on the page it returns to (`?done=…` or `?error=…`).
#[derive(Debug, Deserialize, Default)]
struct NoticeParams {
    done: Option<String>,
    error: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Log-in
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize, Default, Clone)]
struct LoginForm {
    username: Option<String>,
    password: Option<String>,
    back: Option<String>,
}

fn login_view(
    ctx: &Ctx,
    form: &LoginForm,
    errors: &FieldErrors,
    problem: Option<&str>,
) -> Response {
    let back = local_path(form.back.as_deref().or(Some("/console")));
    html_response(html! {
        (maud::DOCTYPE)
        html lang=(ctx.lang.code()) {
            head { meta charset="utf-8"; meta name="viewport" content="width=device-width, initial-scale=1";
                title { (ctx.t("管理后台登录", "Console log-in")) } link rel="stylesheet" href="/static/app.css"; }
            body.console { main.wrap style="max-width:420px;padding-top:40px" {
                h1 { (ctx.t("鲜邻 管理后台", "FreshNeighbour Console")) }
                @if let Some(p) = problem { div.notice.err role="alert" { (p) } }
                form.card method="post" action="/console/login" {
                    (ctx.csrf_field())
                    input type="hidden" name="back" value=(back);
                    (field(ctx.t("用户名", "User name"), "username", "text", form.username.as_deref().unwrap_or(""), errors, html!{}))
                    (field(ctx.t("密码", "Password"), "password", "password", "", errors, html!{}))
                    button.btn.block type="submit" { (ctx.t("登录", "Log in")) }
                }
                p.muted { a href={ "/lang/" (if ctx.lang == Lang::Zh { "en" } else { "zh" }) "?back=/console/login" } { (ctx.t("English", "中文")) } }
            } }
        }
    })
}

#[derive(Debug, Deserialize, Default)]
struct BackParams {
    back: Option<String>,
}

async fn login_page(ctx: Ctx, Query(p): Query<BackParams>) -> Response {
    login_view(
        &ctx,
        &LoginForm {
            back: p.back,
            ..LoginForm::default()
        },
        &FieldErrors::new(),
        None,
    )
}

async fn login(
    State(state): State<AppState>,
    ctx: Ctx,
    client: crate::actor::ClientAddr,
    Form(form): Form<LoginForm>,
) -> WebResult<Response> {
    let username = form.username.clone().unwrap_or_default();
    let password = form.password.clone().unwrap_or_default();
    let mut errors = FieldErrors::new();
    if username.trim().is_empty() {
        errors.insert(
            "username",
            ctx.t("请输入用户名", "Enter your user name").into(),
        );
    }
    if password.is_empty() {
        errors.insert(
            "password",
            ctx.t("请输入密码", "Enter your password").into(),
        );
    }
    if !errors.is_empty() {
        return Ok(login_view(&ctx, &form, &errors, None));
    }
    match crate::app::staff::authenticate(&state, client, &username, &password).await {
        Ok((token, _, _)) => {
            let back = local_path(form.back.as_deref());
            let back = if back.starts_with("/console") {
                back
            } else {
                "/console".into()
            };
            let mut resp = redirect(&back);
            set_cookie(
                &mut resp,
                &format!("console={token}; Path=/console; HttpOnly; SameSite=Lax"),
            );
            Ok(resp)
        }
        Err(AppError::Unauthorized(_)) => {
            errors.insert(
                "password",
                ctx.t("用户名或密码不正确", "Wrong user name or password")
                    .into(),
            );
            Ok(login_view(&ctx, &form, &errors, None))
        }
        Err(e) => Err(e.into()),
    }
}

async fn logout(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Form(_): Form<HashMap<String, String>>,
) -> WebResult<Response> {
    if let Some(token) = cookie(&headers, "console") {
        storage::staff::revoke_session(&state.store, &token_hash(token)).await?;
    }
    let mut resp = redirect("/console/login");
    set_cookie(
        &mut resp,
        "console=; Path=/console; Max-Age=0; HttpOnly; SameSite=Lax",
    );
    Ok(resp)
}

/// The pause / resume button of an activity's row, posting `paused=1|0` to `action`.
pub(crate) fn pause_resume(ctx: &crate::web::Ctx, action: &str, active: bool) -> maud::Markup {
    maud::html! {
        form method="post" action=(action) {
            (ctx.csrf_field())
            @if active {
                input type="hidden" name="paused" value="1";
                button.btn.warn.pause type="submit" { (ctx.t("暂停", "Pause")) }
            } @else {
                input type="hidden" name="paused" value="0";
                button.btn.resume type="submit" { (ctx.t("恢复", "Resume")) }
            }
        }
    }
}
