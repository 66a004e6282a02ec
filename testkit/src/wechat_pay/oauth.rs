//! The fake's side of WeChat's web authorisation (网页授权) for the official account
//! [`APP_ID`](super::APP_ID), served on the same address as the payment API (the server's
//! `oauth_base_url` and `oauth_api_base_url` both point at it):
//!
//! * `GET /connect/oauth2/authorize?appid&redirect_uri&response_type=code&scope&state` — as
//!   WeChat does for `snsapi_base` inside its browser: no page, a `302` straight back to
//!   `redirect_uri` with `code` (new, for the fake's current WeChat user,
//!   [`FakeWechatPay::oauth_openid`]) and `state` (unchanged). A wrong app id, response type or
//!   scope, a `state` WeChat would not carry (over 128 bytes, not `a-zA-Z0-9`) or a
//!   `redirect_uri` that is not an absolute http(s) address gets an error page and no code.
//! * `GET /sns/oauth2/access_token?appid&secret&code&grant_type=authorization_code` — the
//!   openid for a code it issued within five minutes, once: `{access_token, expires_in,
//!   refresh_token, openid, scope}` (with `is_snapshotuser: 1` when asked); otherwise WeChat's
//!   errors: 40013 (invalid appid), 40125 (invalid appsecret), 40002 (invalid grant_type), 40029
//!   (invalid code: unknown or expired), 40163 (code been used).
//!
//! [`Mode`](super::Mode) applies (500, a garbled body, a slow answer); the payment API's request
//! signing does not (these calls are not signed). [`FakeWechatPay::check_request_payment`]
//! checks the parameters a JSAPI page hands `WeixinJSBridge` as WeChat's client would.

use std::time::{Duration, Instant};

use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::Utc;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use serde_json::{json, Value};
use sha2::Sha256;

use super::{keys, random_text, FakeWechatPay, Mode, APP_ID, B64};

/// The official account's AppSecret the fake expects.
pub const APP_SECRET: &str = "3e2fa5ce1990693588816ff28e259ae0";

/// How long a code is good for (WeChat: five minutes).
const CODE_LIFETIME: Duration = Duration::from_secs(300);

/// A code the fake issued.
#[derive(Clone, Debug)]
pub(super) struct IssuedCode {
    openid: String,
    issued: Instant,
    used: bool,
}

/// The fake's web-authorisation state (inside its `Inner`).
#[derive(Debug, Default)]
pub(super) struct OauthState {
    /// The openid of the WeChat user "in the browser" (made on first use).
    user: Option<String>,
    codes: std::collections::HashMap<String, IssuedCode>,
    snapshot_user: bool,
    exchanges: usize,
}

fn text(status: u16, body: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        [("Content-Type", "text/html; charset=utf-8")],
        body.to_owned(),
    )
        .into_response()
}

/// A JSON answer as the official-account API gives it (HTTP 200 whatever the outcome).
fn answer(body: &Value) -> Response {
    (
        StatusCode::OK,
        [("Content-Type", "application/json; encoding=utf-8")],
        body.to_string(),
    )
        .into_response()
}

fn api_error(errcode: i64, errmsg: &str) -> Response {
    answer(&json!({
        "errcode": errcode,
        "errmsg": format!("{errmsg} rid: {}", random_text(24)),
    }))
}

fn params(uri: &Uri) -> Vec<(String, String)> {
    serde_urlencoded::from_str(uri.query().unwrap_or("")).unwrap_or_default()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

impl FakeWechatPay {
    /// The openid of the fake's current WeChat user (the one its authorisation page answers
    /// for): made on first use, the same until [`set_oauth_openid`](Self::set_oauth_openid).
    pub fn oauth_openid(&self) -> String {
        self.with(|i| {
            i.oauth
                .user
                .get_or_insert_with(|| format!("o{}", random_text(27)))
                .clone()
        })
    }

    /// Another WeChat user is in the browser from now on.
    pub fn set_oauth_openid(&self, openid: &str) {
        self.with(|i| i.oauth.user = Some(openid.to_owned()));
    }

    /// From now on the exchange answers `is_snapshotuser: 1` (a Moments snapshot page).
    pub fn set_snapshot_user(&self, on: bool) {
        self.with(|i| i.oauth.snapshot_user = on);
    }

    /// Issues a code for the current user, as the authorisation page would.
    pub fn issue_oauth_code(&self) -> String {
        let openid = self.oauth_openid();
        let code = random_text(32);
        self.with(|i| {
            i.oauth.codes.insert(
                code.clone(),
                IssuedCode {
                    openid,
                    issued: Instant::now(),
                    used: false,
                },
            )
        });
        code
    }

    /// How many code exchanges it answered (any way).
    pub fn oauth_exchanges(&self) -> usize {
        self.with(|i| i.oauth.exchanges)
    }

    /// Checks the parameters a JSAPI page hands `WeixinJSBridge.invoke('getBrandWCPayRequest',
    /// …)` as WeChat's client does: `appId` is the fake's app, `signType` `RSA`, `package`
    /// `prepay_id=…` of a JSAPI trade it made, `timeStamp` (seconds) within 5 minutes, `nonceStr`
    /// 1 to 32 characters, and `paySign` the merchant's SHA256withRSA signature (checked with
    /// the merchant's public key) over `appId\ntimeStamp\nnonceStr\npackage\n`. Answers the
    /// trade's `out_trade_no`, or why the client would refuse.
    ///
    /// # Errors
    /// A text saying which check failed.
    pub fn check_request_payment(&self, params: &Value) -> Result<String, String> {
        let field = |name: &str| {
            params[name]
                .as_str()
                .filter(|v| !v.is_empty())
                .ok_or(format!("no {name}"))
        };
        let (app_id, timestamp, nonce, package, sign_type, pay_sign) = (
            field("appId")?,
            field("timeStamp")?,
            field("nonceStr")?,
            field("package")?,
            field("signType")?,
            field("paySign")?,
        );
        if app_id != APP_ID {
            return Err(format!("appId {app_id} is not the merchant's app"));
        }
        if sign_type != "RSA" {
            return Err(format!("signType {sign_type}"));
        }
        let at: i64 = timestamp
            .parse()
            .map_err(|_| "timeStamp is not seconds".to_owned())?;
        if (Utc::now().timestamp() - at).abs() > 300 {
            return Err("timeStamp is out of the 5-minute window".into());
        }
        if nonce.len() > 32 {
            return Err("nonceStr is over 32 characters".into());
        }
        let prepay_id = package
            .strip_prefix("prepay_id=")
            .ok_or("package is not prepay_id=…")?;
        let trade = self
            .with(|i| {
                i.trades
                    .values()
                    .find(|t| t.trade_type == "JSAPI" && super::prepay_id_of(t) == prepay_id)
                    .cloned()
            })
            .ok_or(format!("no JSAPI trade has prepay_id {prepay_id}"))?;
        let signature = B64
            .decode(pay_sign)
            .map_err(|_| "paySign is not base64".to_owned())?;
        let signature =
            Signature::try_from(signature.as_slice()).map_err(|_| "a bad paySign length")?;
        let message = format!("{app_id}\n{timestamp}\n{nonce}\n{package}\n");
        VerifyingKey::<Sha256>::new(keys().merchant.to_public_key())
            .verify(message.as_bytes(), &signature)
            .map_err(|_| "paySign does not verify with the merchant's public key".to_owned())?;
        Ok(trade.out_trade_no)
    }
}

/// Answers the web-authorisation paths, or `None` for any other path.
pub(super) async fn handle(fake: &FakeWechatPay, uri: &Uri) -> Option<Response> {
    let path = uri.path();
    if path != "/connect/oauth2/authorize" && path != "/sns/oauth2/access_token" {
        return None;
    }
    let mode = fake.with(|i| {
        i.requests += 1;
        i.mode.unwrap_or(Mode::Normal)
    });
    match mode {
        Mode::ServerError => return Some(text(500, "系统错误")),
        Mode::Garbled => return Some(text(200, "{\"openid\":\"o")),
        Mode::Slow(pause) => tokio::time::sleep(pause).await,
        Mode::Normal | Mode::BadSignature | Mode::Unsigned => {}
    }
    let params = params(uri);
    Some(if path == "/connect/oauth2/authorize" {
        authorize(fake, &params)
    } else {
        exchange(fake, &params)
    })
}

fn authorize(fake: &FakeWechatPay, params: &[(String, String)]) -> Response {
    if param(params, "appid") != Some(APP_ID) {
        return text(400, "appid 参数错误");
    }
    if param(params, "response_type") != Some("code") {
        return text(400, "response_type 参数错误");
    }
    if !matches!(
        param(params, "scope"),
        Some("snsapi_base" | "snsapi_userinfo")
    ) {
        return text(400, "scope 参数错误");
    }
    let state = param(params, "state").unwrap_or("");
    if state.len() > 128 || !state.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return text(400, "state 参数错误");
    }
    let Some(redirect) = param(params, "redirect_uri")
        .and_then(|r| reqwest::Url::parse(r).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
    else {
        return text(400, "redirect_uri 参数错误");
    };
    let code = fake.issue_oauth_code();
    let mut back = redirect;
    back.set_fragment(None);
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", state);
    Response::builder()
        .status(StatusCode::FOUND)
        .header("Location", back.as_str())
        .body(axum::body::Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn exchange(fake: &FakeWechatPay, params: &[(String, String)]) -> Response {
    fake.with(|i| i.oauth.exchanges += 1);
    if param(params, "appid") != Some(APP_ID) {
        return api_error(40013, "invalid appid");
    }
    if param(params, "secret") != Some(APP_SECRET) {
        return api_error(40125, "invalid appsecret");
    }
    if param(params, "grant_type") != Some("authorization_code") {
        return api_error(40002, "invalid grant_type");
    }
    let code = param(params, "code").unwrap_or("");
    let found = fake.with(|i| {
        let snapshot = i.oauth.snapshot_user;
        let issued = i.oauth.codes.get_mut(code)?;
        if issued.used {
            return Some(Err(40163));
        }
        if issued.issued.elapsed() > CODE_LIFETIME {
            return Some(Err(40029));
        }
        issued.used = true;
        Some(Ok((issued.openid.clone(), snapshot)))
    });
    match found {
        None | Some(Err(40029)) => api_error(40029, "invalid code"),
        Some(Err(_)) => api_error(40163, "code been used"),
        Some(Ok((openid, snapshot))) => {
            let mut body = json!({
                "access_token": random_text(64),
                "expires_in": 7200,
                "refresh_token": random_text(64),
                "openid": openid,
                "scope": "snsapi_base",
            });
            if snapshot {
                body["is_snapshotuser"] = json!(1);
            }
            answer(&body)
        }
    }
}
