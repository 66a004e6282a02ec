//! A fake of the WeChat API for mini-program subscribe messages (订阅消息), on a free port, for
//! the server's real adapter (`retail_server::app::wechat_subscribe::WechatApi`). It speaks the
//! documented wire format and checks what the real service checks:
//!
//! * `POST /cgi-bin/stable_token` `{grant_type: "client_credential", appid, secret}` →
//!   `{access_token, expires_in}`; a wrong appid or secret → errcode 40013 / 40125;
//! * `GET /cgi-bin/token?grant_type=client_credential&appid&secret` → the same;
//! * `GET /sns/jscode2session?appid&secret&js_code&grant_type=authorization_code` → `{openid,
//!   session_key}` for a code made by [`FakeWechatSubscribe::login_code`] (once), else 40029;
//! * `POST /cgi-bin/message/subscribe/send?access_token=…` `{touser, template_id, page, data:
//!   {key: {value}}, miniprogram_state, lang}` → `{errcode: 0, errmsg: "ok", msgid}`; an unknown
//!   token → 40001, an expired one ([`FakeWechatSubscribe::expire_tokens`]) → 42001; a user
//!   who has not accepted the template (or used the acceptance up: one-time) → 43101; a
//!   `thing` value over 20 characters → 47003; a bad `miniprogram_state` or `lang` → 40003-like
//!   47001; and the failures a test asks for ([`WxAnswer`]).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use retail_server::config::Settings;
use serde_json::{json, Value};

/// The mini-program AppID the fake accepts.
pub const APP_ID: &str = "wxfake00mini00app";
/// The AppSecret the fake accepts.
pub const APP_SECRET: &str = "fake-mini-secret-5f2c";

/// How the fake answers a well-formed send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WxAnswer {
    /// As the real service: delivered when the user accepted, else 43101.
    Normal,
    /// errcode -1 "system error" (temporary).
    Busy,
    /// HTTP 502.
    ServerError,
}

/// A message the fake delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct WxDelivered {
    /// `touser`.
    pub touser: String,
    /// `template_id`.
    pub template_id: String,
    /// `page`.
    pub page: String,
    /// `data` as sent.
    pub data: Value,
    /// The `msgid` answered.
    pub msgid: i64,
}

#[derive(Debug, Default)]
struct Inner {
    answer: Option<WxAnswer>,
    tokens: HashMap<String, bool>,
    codes: HashMap<String, String>,
    accepted: HashMap<(String, String), u32>,
    delivered: Vec<WxDelivered>,
    refused: Vec<String>,
    token_requests: usize,
    next_msgid: i64,
}

/// A fake WeChat API (see the module documentation).
#[derive(Clone)]
pub struct FakeWechatSubscribe {
    /// Its base URL, `http://127.0.0.1:port`.
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

fn registry() -> &'static Mutex<HashMap<String, FakeWechatSubscribe>> {
    static FAKES: OnceLock<Mutex<HashMap<String, FakeWechatSubscribe>>> = OnceLock::new();
    FAKES.get_or_init(Default::default)
}

impl FakeWechatSubscribe {
    /// Starts a fake on a free port (on the current Tokio runtime).
    ///
    /// # Panics
    /// Outside a Tokio runtime, or when no port can be bound.
    pub fn start() -> FakeWechatSubscribe {
        let (addr, listener) = crate::fake_server::bind();
        let fake = FakeWechatSubscribe {
            base: format!("http://{addr}"),
            inner: Arc::new(Mutex::new(Inner {
                next_msgid: 1_000_000,
                ..Inner::default()
            })),
        };
        let app = Router::new()
            .route("/cgi-bin/stable_token", post(stable_token))
            .route("/cgi-bin/token", get(token))
            .route("/sns/jscode2session", get(jscode2session))
            .route("/cgi-bin/message/subscribe/send", post(send))
            .with_state(fake.inner.clone());
        crate::fake_server::serve(listener, app);
        registry()
            .lock()
            .expect("the registry")
            .insert(fake.base.clone(), fake.clone());
        fake
    }

    /// A `both_backends!` adjustment: starts a fake and points `[notifications.wechat]` at it.
    pub fn configure(settings: &mut Settings) {
        let fake = Self::start();
        settings.notifications.wechat.app_id = APP_ID.into();
        settings.notifications.wechat.app_secret = APP_SECRET.into();
        settings.notifications.wechat.api_base_url = fake.base.clone();
        settings.notifications.wechat.miniprogram_state = "trial".into();
    }

    /// The fake a server's settings point at.
    ///
    /// # Panics
    /// When the settings were not made by [`FakeWechatSubscribe::configure`].
    pub fn of(server: &crate::TestServer) -> FakeWechatSubscribe {
        registry()
            .lock()
            .expect("the registry")
            .get(&server.settings.notifications.wechat.api_base_url)
            .cloned()
            .expect("the server's WeChat API is a fake started by FakeWechatSubscribe::configure")
    }

    /// The fake at `base` (started by [`FakeWechatSubscribe::configure`]).
    ///
    /// # Panics
    /// When no fake was started there.
    pub fn of_base(base: &str) -> FakeWechatSubscribe {
        registry()
            .lock()
            .expect("the registry")
            .get(base)
            .cloned()
            .expect("a fake started by FakeWechatSubscribe::configure")
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().expect("the fake's state"))
    }

    /// A one-use `wx.login` code for `openid`.
    pub fn login_code(&self, openid: &str) -> String {
        let code = format!("code-{}", uuid::Uuid::now_v7().simple());
        self.with(|i| i.codes.insert(code.clone(), openid.to_owned()));
        code
    }

    /// The user `openid` accepted `template_id` once more (as the real service learns from
    /// `wx.requestSubscribeMessage`).
    pub fn accept(&self, openid: &str, template_id: &str) {
        self.with(|i| {
            *i.accepted
                .entry((openid.to_owned(), template_id.to_owned()))
                .or_default() += 1;
        });
    }

    /// Answers sends this way from now on.
    pub fn answer(&self, answer: WxAnswer) {
        self.with(|i| i.answer = Some(answer));
    }

    /// Every token handed out expires now (the next send answers 42001).
    pub fn expire_tokens(&self) {
        self.with(|i| i.tokens.values_mut().for_each(|live| *live = false));
    }

    /// Messages delivered, oldest first.
    pub fn delivered(&self) -> Vec<WxDelivered> {
        self.with(|i| i.delivered.clone())
    }

    /// Why sends were refused.
    pub fn refused(&self) -> Vec<String> {
        self.with(|i| i.refused.clone())
    }

    /// Access tokens handed out.
    pub fn token_requests(&self) -> usize {
        self.with(|i| i.token_requests)
    }
}

fn wx_error(errcode: i64, errmsg: &str) -> Response {
    Json(json!({ "errcode": errcode, "errmsg": errmsg })).into_response()
}

fn issue_token(inner: &mut Inner, appid: &str, secret: &str) -> Response {
    if appid != APP_ID {
        return wx_error(40013, "invalid appid");
    }
    if secret != APP_SECRET {
        return wx_error(40125, "invalid appsecret");
    }
    inner.token_requests += 1;
    let token = format!("ACCESS_TOKEN_{}", uuid::Uuid::now_v7().simple());
    inner.tokens.insert(token.clone(), true);
    Json(json!({ "access_token": token, "expires_in": 7200 })).into_response()
}

async fn stable_token(State(inner): State<Arc<Mutex<Inner>>>, Json(body): Json<Value>) -> Response {
    let mut inner = inner.lock().expect("the fake's state");
    if body["grant_type"] != "client_credential" {
        return wx_error(40002, "invalid grant_type");
    }
    issue_token(
        &mut inner,
        body["appid"].as_str().unwrap_or_default(),
        body["secret"].as_str().unwrap_or_default(),
    )
}

async fn token(
    State(inner): State<Arc<Mutex<Inner>>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut inner = inner.lock().expect("the fake's state");
    if q.get("grant_type").map(String::as_str) != Some("client_credential") {
        return wx_error(40002, "invalid grant_type");
    }
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    issue_token(&mut inner, &get("appid"), &get("secret"))
}

async fn jscode2session(
    State(inner): State<Arc<Mutex<Inner>>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut inner = inner.lock().expect("the fake's state");
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    if get("appid") != APP_ID || get("secret") != APP_SECRET {
        return wx_error(40013, "invalid appid");
    }
    if get("grant_type") != "authorization_code" {
        return wx_error(40002, "invalid grant_type");
    }
    match inner.codes.remove(&get("js_code")) {
        Some(openid) => {
            Json(json!({ "openid": openid, "session_key": "fake-session-key" })).into_response()
        }
        None => wx_error(40029, "invalid code"),
    }
}

async fn send(
    State(inner): State<Arc<Mutex<Inner>>>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Response {
    let mut inner = inner.lock().expect("the fake's state");
    let token = q.get("access_token").cloned().unwrap_or_default();
    match inner.tokens.get(&token) {
        None => {
            inner.refused.push("40001 invalid credential".into());
            return wx_error(
                40001,
                "invalid credential, access_token is invalid or not latest",
            );
        }
        Some(false) => {
            inner.refused.push("42001 access_token expired".into());
            return wx_error(42001, "access_token expired");
        }
        Some(true) => {}
    }
    match inner.answer {
        Some(WxAnswer::Busy) => return wx_error(-1, "system error"),
        Some(WxAnswer::ServerError) => {
            return (StatusCode::BAD_GATEWAY, "bad gateway").into_response()
        }
        _ => {}
    }
    let (Some(touser), Some(template_id), Some(data)) = (
        body["touser"].as_str(),
        body["template_id"].as_str(),
        body["data"].as_object(),
    ) else {
        inner.refused.push("47001 data format error".into());
        return wx_error(47001, "data format error");
    };
    let state_ok = body["miniprogram_state"]
        .as_str()
        .is_none_or(|s| ["developer", "trial", "formal"].contains(&s));
    let lang_ok = body["lang"]
        .as_str()
        .is_none_or(|s| ["zh_CN", "en_US", "zh_HK", "zh_TW"].contains(&s));
    if !state_ok || !lang_ok {
        inner.refused.push("47001 miniprogram_state or lang".into());
        return wx_error(47001, "data format error");
    }
    let mut keys = HashSet::new();
    for (key, value) in data {
        let Some(text) = value["value"].as_str() else {
            inner.refused.push(format!("47003 {key} has no value"));
            return wx_error(47003, "argument invalid! data.value invalid");
        };
        let limit = if key.starts_with("thing") {
            20
        } else if key.starts_with("phrase") {
            5
        } else {
            32
        };
        if text.chars().count() > limit {
            inner.refused.push(format!("47003 {key} too long"));
            return wx_error(47003, "argument invalid! data.thing.value invalid");
        }
        keys.insert(key.clone());
    }
    let key = (touser.to_owned(), template_id.to_owned());
    match inner.accepted.get_mut(&key) {
        Some(n) if *n > 0 => *n -= 1,
        _ => {
            inner.refused.push(format!("43101 {touser} {template_id}"));
            return wx_error(43101, "user refuse to accept the msg");
        }
    }
    inner.next_msgid += 1;
    let msgid = inner.next_msgid;
    inner.delivered.push(WxDelivered {
        touser: touser.to_owned(),
        template_id: template_id.to_owned(),
        page: body["page"].as_str().unwrap_or_default().to_owned(),
        data: Value::Object(data.clone()),
        msgid,
    });
    Json(json!({ "errcode": 0, "errmsg": "ok", "msgid": msgid })).into_response()
}
