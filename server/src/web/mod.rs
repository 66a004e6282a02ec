//! The shop and the console: pages rendered by the server (maud templates compiled into the
//! binary), a small hand-written stylesheet and script embedded too — no Node.js build step.
//!
//! Two areas, one router each, merged in [`router`], which [`crate::http::router`] adds to the
//! application in one place:
//! - [`shop`] for shoppers: `browse` (home, categories, search, product), `cart`, `checkout`,
//!   `orders`, `member` (log-in by phone, member centre, member code, messages), `coupons`
//!   (coupon centre, my coupons), `scan` (scan-and-go) and `receipts` (the e-receipt of a
//!   paper receipt's code, claiming its points);
//! - [`console`] for head office and store staff: `dashboard`, `orders`, `fulfilment`,
//!   `catalog` (list and CSV export, import, product page), `stock`, `members`, `devices`,
//!   `promotions`, `coupons` and `admin` (audit log, stores, staff).
//!
//! Each area's `mod.rs` holds its router and what its page modules share (the shopper's
//! session, the console's store scope and CSV helpers…; the shop's `basket` prices a basket for
//! the cart, checkout and scan-and-go). Page modules use those shared modules and this one,
//! never each other, and the shop and the console never use each other: what both show (how a
//! coupon's rule reads) is in `coupon_text` here. Nothing here uses the JSON API's handlers
//! (`routes`), nor they these pages: both go through [`crate::app`].
//!
//! Sessions: every browser gets a random `sid` cookie (HttpOnly, SameSite=Lax). The shop keeps
//! its session (member, cart) server-side under the token's hash, created only when needed; the
//! console's cookie is a staff session token (`st_…`, stored hashed like the API's). Every
//! state-changing form carries a CSRF token derived from `sid` with a server key and is refused
//! without it. Errors become a page that never shows internal text.

use std::collections::BTreeMap;

use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::actor::StaffActor;
use crate::app::AppState;
use crate::error::AppError;
use crate::secrets::{new_token, token_hash};
use crate::storage;

pub(crate) mod after_sale_text;
mod assets;
pub mod charts;
pub mod chat_socket;
pub mod console;
mod coupon_text;
mod media;
pub mod pda;
pub(crate) mod review_text;
pub mod shop;

/// All page routes, with the session cookie layer.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/static/app.css", get(assets::css))
        .route("/static/app.js", get(assets::js))
        .route("/static/chat.js", get(assets::chat_js))
        .route("/lang/{code}", get(switch_lang))
        .merge(shop::router())
        .merge(console::router())
        .merge(pda::router())
        .layer(axum::middleware::from_fn(browser_cookie))
        .merge(media::router())
}

// ---------------------------------------------------------------------------------------------
// Language
// ---------------------------------------------------------------------------------------------

/// The page language: Chinese by default, English on request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Lang {
    /// 简体中文.
    #[default]
    Zh,
    /// English.
    En,
}

impl Lang {
    /// Picks the Chinese or the English text.
    pub fn t(self, zh: &'static str, en: &'static str) -> &'static str {
        match self {
            Self::Zh => zh,
            Self::En => en,
        }
    }

    /// Picks between two owned texts (English falls back to Chinese when empty).
    pub fn pick<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Self::En if !en.is_empty() => en,
            _ => zh,
        }
    }

    /// The `lang` attribute.
    pub fn code(self) -> &'static str {
        match self {
            Self::Zh => "zh-CN",
            Self::En => "en",
        }
    }
}

#[derive(Deserialize)]
struct Back {
    back: Option<String>,
}

/// A local path to return to (never another site): `back` when [`is_local_path`] accepts it,
/// `/` otherwise. Every return target a page takes (`back=` of the language switch, the shop's
/// and the console's log-in, the cart) goes through here.
pub fn local_path(back: Option<&str>) -> String {
    match back {
        Some(b) if is_local_path(b) => b.to_owned(),
        _ => "/".to_owned(),
    }
}

/// Longest return target accepted.
const MAX_LOCAL_PATH: usize = 2048;

/// True for a same-site relative path, as the form or query carried it (already decoded once):
/// it starts with a single `/` (not `//` nor `/\`, which browsers read as another host), has
/// only visible ASCII (no control character — a tab or CR/LF that a browser would drop or a
/// header split on — no space, no backslash) and, its path decoded once more, still starts
/// with a single `/` and has no control character or backslash (`/%2F%2Fevil`). No scheme can
/// precede the leading `/`.
pub fn is_local_path(target: &str) -> bool {
    fn single_slash(path: &[u8]) -> bool {
        path.first() == Some(&b'/') && !matches!(path.get(1), Some(b'/' | b'\\'))
    }
    let raw = target.as_bytes();
    if raw.len() > MAX_LOCAL_PATH
        || !single_slash(raw)
        || !raw.iter().all(|b| b.is_ascii_graphic() && *b != b'\\')
    {
        return false;
    }
    let path = target.split(['?', '#']).next().unwrap_or_default();
    let decoded = percent_decode(path.as_bytes());
    single_slash(&decoded) && !decoded.iter().any(|b| b.is_ascii_control() || *b == b'\\')
}

/// `%XX` sequences decoded (a malformed one kept as it is).
fn percent_decode(input: &[u8]) -> Vec<u8> {
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let escaped = (input[i] == b'%')
            .then(|| Some((hex(*input.get(i + 1)?)?, hex(*input.get(i + 2)?)?)))
            .flatten();
        match escaped {
            Some((high, low)) => {
                out.push(u8::try_from(high * 16 + low).unwrap_or(b'%'));
                i += 3;
            }
            None => {
                out.push(input[i]);
                i += 1;
            }
        }
    }
    out
}

async fn switch_lang(
    axum::extract::Path(code): axum::extract::Path<String>,
    axum::extract::Query(back): axum::extract::Query<Back>,
) -> Response {
    let value = if code == "en" { "en" } else { "zh" };
    let mut resp = redirect(&local_path(back.back.as_deref()));
    set_cookie(
        &mut resp,
        &format!("lang={value}; Path=/; Max-Age=31536000; SameSite=Lax"),
    );
    resp
}

// ---------------------------------------------------------------------------------------------
// Cookies and CSRF
// ---------------------------------------------------------------------------------------------

/// The value of a cookie in the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// Appends a `Set-Cookie` header.
pub fn set_cookie(resp: &mut Response, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().append(SET_COOKIE, v);
    }
}

/// The browser's `sid` cookie value (set by `browser_cookie`).
#[derive(Clone, Debug)]
pub struct Sid(pub String);

fn valid_sid(s: &str) -> bool {
    s.starts_with("ws_")
        && s.len() > 20
        && s.len() < 100
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The `sid` cookie header for a token.
pub fn sid_cookie(token: &str) -> String {
    format!("sid={token}; Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax")
}

/// Gives every browser a `sid` cookie (a random token; nothing is stored until needed).
async fn browser_cookie(mut req: Request, next: Next) -> Response {
    let existing = cookie(req.headers(), "sid")
        .filter(|s| valid_sid(s))
        .map(str::to_owned);
    let (sid, fresh) = match existing {
        Some(s) => (s, false),
        None => (new_token("ws_"), true),
    };
    req.extensions_mut().insert(Sid(sid.clone()));
    let mut resp = next.run(req).await;
    let already = resp
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .any(|v| v.as_bytes().starts_with(b"sid="));
    if fresh && !already {
        set_cookie(&mut resp, &sid_cookie(&sid));
    }
    resp
}

/// The CSRF token for a browser: a keyed hash of its `sid`, so nothing is stored.
pub fn csrf_for(state: &AppState, sid: &str) -> String {
    let full = state.keys.lookup_hash(&format!("csrf:{sid}"));
    full.chars().take(32).collect()
}

// ---------------------------------------------------------------------------------------------
// Request context
// ---------------------------------------------------------------------------------------------

/// What every page needs: language, the browser token and its CSRF token, the current path.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// Language.
    pub lang: Lang,
    /// The browser's `sid`.
    pub sid: String,
    /// CSRF token for forms.
    pub csrf: String,
    /// Path and query of this request (for the language switch).
    pub path: String,
    /// A phone's browser outside WeChat (by its `User-Agent`): pays on the provider's mobile
    /// page rather than by scanning a QR code.
    pub mobile_browser: bool,
    /// WeChat's own browser (`MicroMessenger` in its `User-Agent`): pays WeChat Pay in place
    /// (JSAPI), for the openid WeChat's authorisation gives.
    pub wechat_browser: bool,
}

impl Ctx {
    /// Shorthand for [`Lang::t`].
    pub fn t(&self, zh: &'static str, en: &'static str) -> &'static str {
        self.lang.t(zh, en)
    }

    /// The hidden CSRF field of a form.
    pub fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name="_csrf" value=(self.csrf); }
    }
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        let lang = match cookie(&parts.headers, "lang") {
            Some("en") => Lang::En,
            _ => Lang::Zh,
        };
        let sid = parts
            .extensions
            .get::<Sid>()
            .map(|s| s.0.clone())
            .unwrap_or_else(|| new_token("ws_"));
        let csrf = csrf_for(state, &sid);
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".into());
        let agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        Ok(Self {
            lang,
            sid,
            csrf,
            path,
            mobile_browser: agent.contains("Mobile") && !agent.contains("MicroMessenger"),
            wechat_browser: agent.contains("MicroMessenger"),
        })
    }
}

/// A form body whose CSRF token was checked (urlencoded; unknown fields are ignored).
pub struct Form<T>(pub T);

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for Form<T> {
    type Rejection = WebError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, WebError> {
        let sid = req
            .extensions()
            .get::<Sid>()
            .map(|s| s.0.clone())
            .unwrap_or_default();
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| WebError::bad_form())?;
        // No text keeps a NUL character (PostgreSQL refuses them).
        if bytes.windows(3).any(|w| w == b"%00") {
            return Err(WebError::bad_form());
        }
        let token: CsrfOnly =
            serde_urlencoded::from_bytes(&bytes).map_err(|_| WebError::bad_form())?;
        check_csrf(state, &sid, token.csrf.as_deref())?;
        let value: T = serde_urlencoded::from_bytes(&bytes).map_err(|_| WebError::bad_form())?;
        Ok(Self(value))
    }
}

/// Fails with the "form expired" page unless `given` is this browser's CSRF token.
pub fn check_csrf(state: &AppState, sid: &str, given: Option<&str>) -> Result<(), WebError> {
    let expected = csrf_for(state, sid);
    match given {
        Some(g) if !sid.is_empty() && crate::secrets::signatures_match(g, &expected) => Ok(()),
        _ => Err(WebError::Csrf),
    }
}

/// The logged-in staff member of the console (redirects to the console log-in otherwise).
#[derive(Clone, Debug)]
pub struct Staff(pub StaffActor);

impl FromRequestParts<AppState> for Staff {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        let token = cookie(&parts.headers, "console")
            .filter(|t| t.starts_with("st_") && t.len() < 200)
            .map(str::to_owned);
        let login = format!(
            "/console/login?back={}",
            urlencode(
                parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/console")
            )
        );
        let Some(token) = token else {
            return Err(WebError::Redirect(login));
        };
        match storage::staff::session_actor(&state.store, &token_hash(&token)).await? {
            // After an administrator's reset, the password page (and log-out) only.
            Some(actor)
                if actor.must_change_password
                    && !matches!(parts.uri.path(), "/console/password" | "/console/logout") =>
            {
                Err(WebError::Redirect("/console/password".into()))
            }
            // A merchant administrator opens its own merchant's pages only; the console's
            // home sends it to its merchant home, any other page is refused.
            Some(actor)
                if actor.role == crate::actor::Role::MerchantAdmin
                    && !merchant_may_open(parts.uri.path()) =>
            {
                if parts.uri.path() == "/console" {
                    Err(WebError::Redirect("/console/merchant".into()))
                } else {
                    Err(AppError::Forbidden(
                        "a merchant administrator may not open this page".into(),
                    )
                    .into())
                }
            }
            Some(actor) => Ok(Self(actor)),
            None => Err(WebError::Redirect(login)),
        }
    }
}

/// The console pages a merchant administrator may open (with everything below them): its
/// merchant home and statements, its password and log-out. Every other page is closed to it,
/// so a page added later stays closed until it is listed here with scoping of its own.
pub const MERCHANT_PAGES: &[&str] = &[
    "/console/merchant",
    "/console/settlements",
    "/console/password",
    "/console/logout",
];

fn merchant_may_open(path: &str) -> bool {
    MERCHANT_PAGES.iter().any(|page| {
        path == *page
            || path
                .strip_prefix(page)
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

/// Percent-encodes a query value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The query string of a list's page: the filters that have a value, then the page's cursor
/// as `param`.
pub fn list_query(filters: &[(&str, &str)], param: &str, cursor: Option<&str>) -> String {
    filters
        .iter()
        .map(|(k, v)| (*k, *v))
        .chain(cursor.map(|c| (param, c)))
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The links under a paged list at `path` (keyset paging, [`crate::storage::paging`]):
/// "First page" when this is not the first one (a cursor in `param`, `current`), and "Next
/// page" with the next page's cursor when there is one; both keep the list's `filters`. The
/// links' ids are `param` with `-first` and `-next`.
pub fn pager(
    ctx: &Ctx,
    path: &str,
    filters: &[(&str, &str)],
    param: &str,
    current: Option<&str>,
    next: Option<&str>,
) -> Markup {
    let link = |c: Option<&str>| {
        let query = list_query(filters, param, c);
        if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{query}")
        }
    };
    let first = current.is_some_and(|c| !c.trim().is_empty());
    html! {
        @if first || next.is_some() {
            nav.row.pager aria-label=(ctx.t("翻页", "Pages")) {
                @if first { a.btn.secondary id={ (param) "-first" } rel="first" href=(link(None)) { (ctx.t("第一页", "First page")) } }
                @if let Some(next) = next { a.btn.secondary id={ (param) "-next" } rel="next" href=(link(Some(next))) { (ctx.t("下一页", "Next page")) } }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Errors and responses
// ---------------------------------------------------------------------------------------------

/// What a page handler can fail with: an error page or a redirect.
#[derive(Debug)]
pub enum WebError {
    /// An application error, shown as a page (internal errors only as "something went wrong").
    App(AppError),
    /// The form's CSRF token is missing or wrong.
    Csrf,
    /// Go somewhere else (e.g. log in first).
    Redirect(String),
}

impl WebError {
    fn bad_form() -> Self {
        Self::App(AppError::bad_request(
            "invalid_form",
            "the form could not be read",
        ))
    }
}

impl From<AppError> for WebError {
    fn from(e: AppError) -> Self {
        Self::App(e)
    }
}

impl From<sqlx::Error> for WebError {
    fn from(e: sqlx::Error) -> Self {
        Self::App(e.into())
    }
}

/// A kept image shown `width` CSS pixels wide: the narrowest variant at least twice that wide
/// (sharp on a phone's screen) as `src`, every variant in `srcset`, its `width` and `height`
/// (no layout shift), lazy-loaded and decoded off the main thread.
pub fn picture(image: &crate::app::media::StoredImage, width: u32, alt: &str) -> Markup {
    let src = image.at_least(width.saturating_mul(2));
    let height = (u64::from(src.height) * u64::from(width) / u64::from(src.width.max(1))).max(1);
    html! {
        img src=(src.url()) srcset=(image.srcset()) sizes={ (width) "px" } width=(width) height=(height)
            loading="lazy" decoding="async" alt=(alt);
    }
}

/// Result of a page handler.
pub type WebResult<T> = Result<T, WebError>;

/// A 303 redirect.
pub fn redirect(to: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        resp.headers_mut().insert(LOCATION, v);
    }
    resp
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            Self::Redirect(to) => redirect(&to),
            Self::Csrf => error_page(
                StatusCode::FORBIDDEN,
                "页面已过期，请返回刷新后重试。",
                "This form has expired. Go back, reload the page and try again.",
            ),
            Self::App(err) => {
                let status = err.status();
                let retry_after = err.retry_after_secs();
                let mut response = match &err {
                    AppError::Internal(e) => {
                        tracing::error!(error = ?e, "internal error on a page");
                        error_page(
                            status,
                            "出错了，请稍后再试。",
                            "Something went wrong. Please try again later.",
                        )
                    }
                    AppError::NotFound(_) => error_page(
                        status,
                        "找不到这个页面或商品。",
                        "We could not find that page or item.",
                    ),
                    AppError::Forbidden(_) => error_page(
                        status,
                        "您的账号无权打开此页面。",
                        "Your account may not open this page.",
                    ),
                    AppError::Unauthorized(_) => {
                        error_page(status, "请先登录。", "Please log in first.")
                    }
                    AppError::RateLimited { .. } => error_page(
                        status,
                        "操作太频繁，请一分钟后再试。",
                        "Too many attempts; try again in a minute.",
                    ),
                    AppError::Unavailable(_) => error_page(
                        status,
                        "服务暂时不可用，请稍后再试。",
                        "The service is busy; please try again shortly.",
                    ),
                    AppError::Invalid { code, .. }
                        if *code == crate::storage::paging::BAD_CURSOR =>
                    {
                        error_page(
                            status,
                            "翻页链接无效，请从第一页重新开始。",
                            "This page link is not valid; start again from the first page.",
                        )
                    }
                    other => {
                        // Validation and conflict messages are written for people.
                        let msg = other.to_string();
                        error_page_text(status, &msg)
                    }
                };
                if let Some(secs) = retry_after {
                    response
                        .headers_mut()
                        .insert(axum::http::header::RETRY_AFTER, secs.into());
                }
                response
            }
        }
    }
}

fn error_page(status: StatusCode, zh: &str, en: &str) -> Response {
    let body = html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head { meta charset="utf-8"; meta name="viewport" content="width=device-width, initial-scale=1";
                title { "出错了 · Error" } link rel="stylesheet" href="/static/app.css"; }
            body { main.wrap.error-page {
                h1 { (status.as_u16()) }
                p { (zh) } p.muted { (en) }
                p { a.btn href="/" { "返回首页 Home" } " " a.btn.secondary href="javascript:history.back()" { "返回 Back" } }
            } }
        }
    };
    (status, html_response(body)).into_response()
}

fn error_page_text(status: StatusCode, message: &str) -> Response {
    let body = html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head { meta charset="utf-8"; meta name="viewport" content="width=device-width, initial-scale=1";
                title { "无法完成 · Not done" } link rel="stylesheet" href="/static/app.css"; }
            body { main.wrap.error-page {
                h1 { "无法完成 · Not done" }
                p { (message) }
                p { a.btn href="javascript:history.back()" { "返回 Back" } " " a.btn.secondary href="/" { "首页 Home" } }
            } }
        }
    };
    (status, html_response(body)).into_response()
}

/// An HTML response that must not be cached.
pub fn html_response(markup: Markup) -> Response {
    let mut resp = markup.into_string().into_response();
    let h = resp.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    resp
}

// ---------------------------------------------------------------------------------------------
// Forms
// ---------------------------------------------------------------------------------------------

/// Field name → message, shown next to the field.
pub type FieldErrors = BTreeMap<&'static str, String>;

/// A labelled input with its error.
pub fn field(
    label: &str,
    name: &str,
    kind: &str,
    value: &str,
    errors: &FieldErrors,
    extra: Markup,
) -> Markup {
    let err = errors.get(name);
    html! {
        div.field.has-error[err.is_some()] {
            label for=(name) { (label) }
            input id=(name) name=(name) type=(kind) value=(value) aria-invalid=[err.map(|_| "true")];
            (extra)
            @if let Some(e) = err { p.field-error role="alert" data-field=(name) { (e) } }
        }
    }
}

/// Money as `¥12.50`.
pub fn yuan(fen: i64) -> String {
    format!("¥{}", retail_domain::money::Money::from_fen(fen))
}

/// A time (Unix ms) in China time, `2026-11-23 15:04`.
pub fn when(ms: i64) -> String {
    let offset = chrono::FixedOffset::east_opt(8 * 3600);
    match (chrono::DateTime::from_timestamp_millis(ms), offset) {
        (Some(t), Some(o)) => t.with_timezone(&o).format("%Y-%m-%d %H:%M").to_string(),
        _ => String::new(),
    }
}

/// Start of today (China time) in Unix ms.
pub fn today_start_ms() -> i64 {
    crate::storage::today_start_ms()
}

/// A delivery tracking status for people.
pub fn tracking_label(lang: Lang, status: &str) -> &'static str {
    match status {
        "picked_up" => lang.t("已揽收", "Picked up"),
        "in_transit" => lang.t("运输中", "In transit"),
        "out_for_delivery" => lang.t("派送中", "Out for delivery"),
        "delivered" => lang.t("已签收", "Delivered"),
        _ => lang.t("异常", "Exception"),
    }
}

/// An order status for people.
pub fn status_label(lang: Lang, status: &str) -> &'static str {
    match status {
        "pending_payment" => lang.t("待付款", "Awaiting payment"),
        "paid" => lang.t("已付款", "Paid"),
        "ready_for_pickup" => lang.t("待自提", "Ready for pickup"),
        "picked_up" => lang.t("已自提", "Collected"),
        "shipped" => lang.t("已发货", "Shipped"),
        "delivered" => lang.t("已送达", "Delivered"),
        "completed" => lang.t("已完成", "Completed"),
        "cancelled" => lang.t("已取消", "Cancelled"),
        "after_sale" => lang.t("售后中", "After-sale"),
        "refunded" => lang.t("已退款", "Refunded"),
        _ => lang.t("其他", "Other"),
    }
}

/// A QR code as inline SVG (error correction M).
pub fn qr_svg(text: &str) -> Markup {
    match qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M) {
        Ok(code) => {
            let svg = code
                .render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(220, 220)
                .quiet_zone(true)
                .build();
            // Drop the XML prolog; the SVG is generated from our own text only.
            let svg = svg
                .find("<svg")
                .map(|i| svg[i..].to_owned())
                .unwrap_or_default();
            PreEscaped(svg)
        }
        Err(_) => html! { p.field-error { "QR" } },
    }
}

// ---------------------------------------------------------------------------------------------
// Layouts
// ---------------------------------------------------------------------------------------------

fn head(ctx: &Ctx, title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) }
            link rel="stylesheet" href="/static/app.css";
            script src="/static/app.js" defer {}
            meta name="csrf" content=(ctx.csrf);
        }
    }
}

fn lang_switch(ctx: &Ctx) -> Markup {
    let back = urlencode(&ctx.path);
    html! {
        @match ctx.lang {
            Lang::Zh => a.lang href={ "/lang/en?back=" (back) } { "EN" },
            Lang::En => a.lang href={ "/lang/zh?back=" (back) } { "中文" },
        }
    }
}

/// The shop's page frame: header with search, content, tab bar.
pub fn shop_page(ctx: &Ctx, title: &str, cart_count: i64, body: Markup) -> Response {
    let t = |zh, en| ctx.t(zh, en);
    html_response(html! {
        (DOCTYPE)
        html lang=(ctx.lang.code()) {
            (head(ctx, &format!("{title} · {}", t("鲜邻超市", "FreshNeighbour"))))
            body.shop {
                header.top {
                    div.wrap.bar {
                        a.brand href="/" { (t("鲜邻超市", "FreshNeighbour")) }
                        form.search action="/search" method="get" role="search" {
                            input #q type="search" name="q" autocomplete="off"
                                placeholder=(t("搜索商品", "Search products")) aria-label=(t("搜索", "Search"));
                            div #suggest.suggest hidden {}
                        }
                        @if let Some(link) = chat_link(&ctx.path) {
                            a.lang #chat-link href=(link) { (t("客服", "Help")) }
                        }
                        (lang_switch(ctx))
                    }
                }
                main.wrap { (body) }
                nav.tabs {
                    a href="/" { (t("首页", "Home")) }
                    a href="/categories" { (t("分类", "Categories")) }
                    a href="/scan" { (t("扫码购", "Scan & Go")) }
                    a href="/cart" { (t("购物车", "Cart")) @if cart_count > 0 { span.badge { (cart_count) } } }
                    a href="/orders" { (t("订单", "Orders")) }
                    a href="/me" { (t("我的", "Me")) }
                }
            }
        }
    })
}

/// The shop's 客服 button: to the chat, carrying the product or order of the page; none on the
/// chat itself and the log-in.
fn chat_link(path: &str) -> Option<String> {
    let path = path.split('?').next().unwrap_or(path);
    if path.starts_with("/chat") || path.starts_with("/login") {
        return None;
    }
    let id = |rest: &str| {
        rest.split('/')
            .next()
            .and_then(|id| id.parse::<uuid::Uuid>().ok())
    };
    Some(
        match (path.strip_prefix("/p/"), path.strip_prefix("/orders/")) {
            (Some(rest), _) => id(rest).map(|p| format!("/chat?product={p}")),
            (_, Some(rest)) => id(rest).map(|o| format!("/chat?order={o}")),
            _ => None,
        }
        .unwrap_or_else(|| "/chat".to_owned()),
    )
}

/// The console's page frame: navigation by role, content.
pub fn console_page(ctx: &Ctx, staff: &StaffActor, title: &str, body: Markup) -> Response {
    let t = |zh, en| ctx.t(zh, en);
    let head_office = staff.role == crate::actor::Role::HeadOfficeAdmin;
    html_response(html! {
        (DOCTYPE)
        html lang=(ctx.lang.code()) {
            (head(ctx, &format!("{title} · {}", t("管理后台", "Console"))))
            body.console {
                header.top {
                    div.wrap.bar {
                        a.brand href="/console" { (t("鲜邻 管理后台", "FreshNeighbour Console")) }
                        span.who { (staff.display_name) " · " (role_label(ctx.lang, staff.role))
                            @if let Some(l) = &staff.location_id { " · " (l) } }
                        (lang_switch(ctx))
                        a href="/console/password" { (t("改密码", "Password")) }
                        form.inline method="post" action="/console/logout" {
                            (ctx.csrf_field()) button.link type="submit" { (t("退出", "Log out")) }
                        }
                    }
                }
                div.wrap.console-grid {
                    @if staff.role == crate::actor::Role::MerchantAdmin { nav.side {
                        a href="/console/merchant" { (t("我的店铺", "My shop")) }
                        a href="/console/settlements" { (t("结算对账单", "Statements")) }
                    } } @else {
                    nav.side {
                        a href="/console" { (t("概览", "Dashboard")) }
                        a href="/console/orders" { (t("订单", "Orders")) }
                        a href="/console/stock" { (t("库存", "Stock")) }
                        a href="/console/store-ops" { (t("门店作业", "Store operations")) }
                        a href="/console/shrink" { (t("报损报表", "Shrink report")) }
                        @if head_office {
                            a href="/console/settlements" { (t("商家结算", "Merchant settlement")) }
                        }
                        @if staff.role != crate::actor::Role::Cashier {
                            a href="/console/delivery" { (t("配送发货", "Delivery")) }
                            a href="/console/members" { (t("会员", "Members")) }
                            a href="/console/devices" { (t("设备", "Devices")) }
                            @if !head_office { a href="/console/staff" { (t("收银员", "Cashiers")) } }
                            @if !head_office { a href="/console/coupons" { (t("优惠券", "Coupons")) } }
                            @if !head_office { a href="/console/payments/approvals" { (t("退款审批", "Refund approvals")) } }
                            a href="/console/esl" { (t("电子价签", "Shelf labels")) }
                            a href="/console/after-sales" { (t("售后", "After-sales")) }
                            a href="/console/chat" { (t("在线客服", "Customer service")) }
                            a href="/console/analytics/sales" { (t("销售分析", "Sales analytics")) }
                            a href="/console/analytics/stores" { (t("门店对比", "Store comparison")) }
                            a href="/console/cash" { (t("收银现金", "Lane cash")) }
                        }
                        @if head_office {
                            a href="/console/catalog" { (t("商品", "Catalog")) }
                            a href="/console/merchants" { (t("入驻商家", "Merchants")) }
                            a href="/console/catalog/import" { (t("导入", "Import")) }
                            a href="/console/catalog/categories" { (t("分类", "Categories")) }
                            a href="/console/payments" { (t("支付与对账", "Payments")) }
                            a href="/console/recharge-packages" { (t("充值套餐", "Recharge packages")) }
                            a href="/console/promotions" { (t("促销", "Promotions")) }
                            a href="/console/search-words" { (t("搜索词", "Search words")) }
                            a href="/console/faq" { (t("客服知识库", "Service bot FAQ")) }
                            a href="/console/notifications" { (t("通知", "Notifications")) }
                            a href="/console/analytics/events" { (t("埋点事件", "Tracked events")) }
                            a href="/console/segments" { (t("会员分群", "Segments")) }
                            a href="/console/analytics/funnel" { (t("转化漏斗", "Funnel")) }
                            a href="/console/analytics/retention" { (t("留存", "Retention")) }
                            a href="/console/analytics/promotions" { (t("促销 ROI", "Promotion ROI")) }
                            a href="/console/analytics/campaigns" { (t("秒杀拼团砍价", "Campaign reports")) }
                            a href="/console/analytics/export" { (t("数据导出", "Data export")) }
                            a href="/console/recommendations" { (t("推荐效果", "Recommendations")) }
                            a href="/console/webhooks" { (t("Webhook", "Webhooks")) }
                            a href="/console/member-perks" { (t("会员权益", "Member perks")) }
                            a href="/console/group-buys" { (t("拼团", "Group-buys")) }
                            a href="/console/points-mall" { (t("积分商城", "Points mall")) }
                            a href="/console/bargains" { (t("砍价", "Bargains")) }
                            a href="/console/distribution" { (t("分销", "Distribution")) }
                            a href="/console/reviews" { (t("评价审核", "Reviews")) }
                            a href="/console/coupons" { (t("优惠券", "Coupons")) }
                            a href="/console/stores" { (t("门店", "Stores")) }
                            a href="/console/delivery/regions" { (t("配送区域", "Delivery regions")) }
                            a href="/console/staff" { (t("员工", "Staff")) }
                            a href="/console/audit" { (t("审计日志", "Audit log")) }
                        }
                    }
                    }
                    main.content { h1 { (title) } (body) }
                }
            }
        }
    })
}

/// A role for people.
pub fn role_label(lang: Lang, role: crate::actor::Role) -> &'static str {
    match role {
        crate::actor::Role::HeadOfficeAdmin => lang.t("总部管理员", "Head office"),
        crate::actor::Role::StoreManager => lang.t("店长", "Store manager"),
        crate::actor::Role::Cashier => lang.t("收银员", "Cashier"),
        crate::actor::Role::MerchantAdmin => lang.t("商家管理员", "Merchant admin"),
    }
}

/// Handler state shorthand.
pub type St = State<AppState>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_same_site_paths_are_return_targets() {
        for good in [
            "/",
            "/me",
            "/console/orders?status=paid&page=2",
            "/search%3Fq%3Dapple%2520pie",
            "/receipt?code=AB%2BC#top",
        ] {
            assert!(is_local_path(good), "{good}");
            assert_eq!(local_path(Some(good)), good);
        }
        for evil in [
            "//evil.example",
            "/\t/evil.example",
            "\t//evil.example",
            "/\\evil.example",
            "/\\/evil.example",
            "https://evil.example",
            "javascript:alert(1)",
            "evil.example",
            "///evil.example",
            "/%2F%2Fevil.example",
            "/%2f/evil.example",
            "/%5Cevil.example",
            "/%09/evil.example",
            "/\r\nLocation: https://evil.example",
            "/ok\r\nSet-Cookie: a=b",
            "/%0d%0aSet-Cookie:a=b",
            "/caf\u{e9}",
            "/ space",
            "",
        ] {
            assert!(!is_local_path(evil), "{evil:?}");
            assert_eq!(local_path(Some(evil)), "/", "{evil:?}");
        }
        assert_eq!(local_path(None), "/");
        assert!(!is_local_path(&format!("/{}", "a".repeat(MAX_LOCAL_PATH))));
        assert_eq!(percent_decode(b"/%41%zz%4"), b"/A%zz%4");
    }
}
