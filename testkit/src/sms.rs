//! A fake Alibaba Cloud SMS endpoint (`dysmsapi` `SendSms`, RPC style) on a free port, for the
//! server's real SMS adapter: it checks every request the way the real service documents
//! (signature version 1.0, HMAC-SHA1 over the sorted, percent-encoded parameters, keyed by the
//! AccessKey secret and `&`; the common and `SendSms` parameters; a nonce used once) with its own
//! implementation of the signature, and answers in the real JSON format: success with a `BizId`,
//! or the error a test asks for ([`Answer`]).
//!
//! ```ignore
//! async fn sms_log_in(app: TestServer) {
//!     let sms = FakeAliyunSms::of(&app);
//!     // … ask the shop for a code …
//!     let code = sms.last_code("13800138000").expect("the code arrived at the provider");
//! }
//! retail_testkit::both_backends!(sms_log_in, sms_log_in, FakeAliyunSms::configure);
//! ```
//!
//! [`FakeAliyunSms::configure`] starts one and points `[sms]` (provider `aliyun`, endpoint,
//! keys, sign name, template) at it, and turns demo mode off (so the sandbox does not exist);
//! [`FakeAliyunSms::of`] finds it again from the server's settings.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use hmac::{Hmac, Mac};
use retail_server::config::Settings;
use serde_json::json;

/// The AccessKey id the fake accepts.
pub const ACCESS_KEY_ID: &str = "LTAI-fake-retail";
/// The AccessKey secret the fake checks signatures with.
pub const ACCESS_KEY_SECRET: &str = "fake-secret-Zt8q";
/// The sign name (签名) the fake expects.
pub const SIGN_NAME: &str = "零售测试";
/// The template code the fake expects.
pub const TEMPLATE_CODE: &str = "SMS_000000001";
/// Notification template codes the fake knows: every code starting with this (e.g.
/// `SMS_900000001`); their `TemplateParam` must be a JSON object of strings of at most 35
/// characters each (the provider's limit on a variable).
pub const NOTICE_TEMPLATE_PREFIX: &str = "SMS_9";

/// What the fake answers a correctly signed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// `{"Code":"OK","BizId":…}`: the message is delivered (recorded).
    Ok,
    /// `{"Code":"isv.BUSINESS_LIMIT_CONTROL",…}` (HTTP 200), the provider's flow control.
    BusinessLimit,
    /// HTTP 503 with an error body.
    ServerError,
    /// HTTP 200 with a body that is not JSON.
    Malformed,
    /// `{"Code":"isv.MOBILE_NUMBER_ILLEGAL",…}` (HTTP 200): the number cannot receive messages.
    BadNumber,
}

/// A message the fake delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// `PhoneNumbers`.
    pub phone: String,
    /// `code` of `TemplateParam` (log-in codes; empty for notifications).
    pub code: String,
    /// `TemplateCode`.
    pub template: String,
    /// `TemplateParam`, parsed.
    pub params: serde_json::Value,
    /// The `BizId` answered.
    pub biz_id: String,
}

#[derive(Debug)]
struct Inner {
    answer: Answer,
    delivered: Vec<Delivered>,
    /// Requests refused for a bad signature, a missing parameter or a reused nonce.
    refused: Vec<String>,
    nonces: HashSet<String>,
    requests: usize,
}

/// A fake Alibaba Cloud SMS endpoint (see the module documentation).
#[derive(Clone)]
pub struct FakeAliyunSms {
    /// Its endpoint, `http://127.0.0.1:port/`.
    pub endpoint: String,
    inner: Arc<Mutex<Inner>>,
}

fn registry() -> &'static Mutex<HashMap<String, FakeAliyunSms>> {
    static FAKES: OnceLock<Mutex<HashMap<String, FakeAliyunSms>>> = OnceLock::new();
    FAKES.get_or_init(Default::default)
}

impl FakeAliyunSms {
    /// Starts a fake on a free port (on the current Tokio runtime; it lives as long as the
    /// runtime, i.e. the test).
    ///
    /// # Panics
    /// Outside a Tokio runtime, or when no port can be bound.
    pub fn start() -> FakeAliyunSms {
        let (addr, listener) = crate::fake_server::bind();
        let fake = FakeAliyunSms {
            endpoint: format!("http://{addr}/"),
            inner: Arc::new(Mutex::new(Inner {
                answer: Answer::Ok,
                delivered: Vec::new(),
                refused: Vec::new(),
                nonces: HashSet::new(),
                requests: 0,
            })),
        };
        let app = Router::new()
            .fallback(handle)
            .with_state(fake.inner.clone());
        crate::fake_server::serve(listener, app);
        registry()
            .lock()
            .expect("the registry")
            .insert(fake.endpoint.clone(), fake.clone());
        fake
    }

    /// A `both_backends!` adjustment: starts a fake, points `[sms]` at it and turns demo mode
    /// off, so the server starts on an empty database without the sandbox (production mode).
    pub fn configure(settings: &mut Settings) {
        Self::configure_keeping_demo(settings);
        settings.demo = false;
    }

    /// Starts a fake and points `[sms]` at it, leaving demo mode as it is.
    pub fn configure_keeping_demo(settings: &mut Settings) {
        let fake = Self::start();
        settings.sms.provider = "aliyun".into();
        settings.sms.endpoint = fake.endpoint.clone();
        settings.sms.access_key_id = ACCESS_KEY_ID.into();
        settings.sms.access_key_secret = ACCESS_KEY_SECRET.into();
        settings.sms.sign_name = SIGN_NAME.into();
        settings.sms.template_code = TEMPLATE_CODE.into();
    }

    /// The fake a server's settings point at.
    ///
    /// # Panics
    /// When the settings were not made by [`FakeAliyunSms::configure`].
    pub fn of(server: &crate::TestServer) -> FakeAliyunSms {
        registry()
            .lock()
            .expect("the registry")
            .get(&server.settings.sms.endpoint)
            .cloned()
            .expect("the server's SMS endpoint is a fake started by FakeAliyunSms::configure")
    }

    /// The fake at `endpoint` (started by [`FakeAliyunSms::configure`]).
    ///
    /// # Panics
    /// When no fake was started there.
    pub fn of_endpoint(endpoint: &str) -> FakeAliyunSms {
        registry()
            .lock()
            .expect("the registry")
            .get(endpoint)
            .cloned()
            .expect("a fake started by FakeAliyunSms::configure")
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().expect("the fake's state"))
    }

    /// Answers correctly signed requests this way from now on.
    pub fn answer(&self, answer: Answer) {
        self.with(|i| i.answer = answer);
    }

    /// Every message delivered, oldest first.
    pub fn delivered(&self) -> Vec<Delivered> {
        self.with(|i| i.delivered.clone())
    }

    /// The last code delivered to `phone`.
    pub fn last_code(&self, phone: &str) -> Option<String> {
        self.with(|i| {
            i.delivered
                .iter()
                .rev()
                .find(|d| d.phone == phone)
                .map(|d| d.code.clone())
        })
    }

    /// Why requests were refused (bad signature, missing parameter, reused nonce).
    pub fn refused(&self) -> Vec<String> {
        self.with(|i| i.refused.clone())
    }

    /// Requests received, answered any way.
    pub fn requests(&self) -> usize {
        self.with(|i| i.requests)
    }
}

fn answer_json(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [("content-type", "application/json;charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

fn request_id() -> String {
    uuid::Uuid::now_v7().to_string().to_uppercase()
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    answer_json(
        status,
        json!({ "RequestId": request_id(), "Code": code, "Message": message, "Recommend": "" }),
    )
}

async fn handle(State(inner): State<Arc<Mutex<Inner>>>, RawQuery(query): RawQuery) -> Response {
    let params = match parse_query(query.as_deref().unwrap_or("")) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, "InvalidParameter", &e),
    };
    let mut inner = inner.lock().expect("the fake's state");
    inner.requests += 1;
    match check(&params, &mut inner.nonces) {
        Ok(()) => {}
        Err((status, code, message)) => {
            inner.refused.push(format!("{code}: {message}"));
            return error(status, code, &message);
        }
    }
    match inner.answer {
        Answer::Ok => {
            let biz_id = format!("{}^0", uuid::Uuid::now_v7().simple());
            let template_param =
                serde_json::from_str::<serde_json::Value>(&params["TemplateParam"])
                    .unwrap_or_default();
            let code = template_param["code"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_default();
            inner.delivered.push(Delivered {
                phone: params["PhoneNumbers"].clone(),
                code,
                template: params["TemplateCode"].clone(),
                params: template_param,
                biz_id: biz_id.clone(),
            });
            answer_json(
                StatusCode::OK,
                json!({ "Message": "OK", "RequestId": request_id(), "Code": "OK", "BizId": biz_id }),
            )
        }
        Answer::BusinessLimit => error(
            StatusCode::OK,
            "isv.BUSINESS_LIMIT_CONTROL",
            "触发小时级流控Permits:5",
        ),
        Answer::ServerError => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "The request has failed due to a temporary failure of the server.",
        ),
        Answer::Malformed => (StatusCode::OK, "{\"Message\":\"OK\",\"Code\":").into_response(),
        Answer::BadNumber => error(StatusCode::OK, "isv.MOBILE_NUMBER_ILLEGAL", "非法手机号"),
    }
}

type Refusal = (StatusCode, &'static str, String);

/// Checks a request as the service does.
fn check(params: &BTreeMap<String, String>, nonces: &mut HashSet<String>) -> Result<(), Refusal> {
    let missing = |name: &str| {
        (
            StatusCode::BAD_REQUEST,
            "MissingParameter",
            format!("{name} is mandatory for this action."),
        )
    };
    for name in [
        "AccessKeyId",
        "Action",
        "PhoneNumbers",
        "SignName",
        "Signature",
        "SignatureMethod",
        "SignatureNonce",
        "SignatureVersion",
        "TemplateCode",
        "TemplateParam",
        "Timestamp",
        "Version",
    ] {
        if params.get(name).is_none_or(|v| v.is_empty()) {
            return Err(missing(name));
        }
    }
    if params["AccessKeyId"] != ACCESS_KEY_ID {
        return Err((
            StatusCode::NOT_FOUND,
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.".into(),
        ));
    }
    let expected = signature(params, ACCESS_KEY_SECRET);
    if params["Signature"] != expected {
        return Err((
            StatusCode::BAD_REQUEST,
            "SignatureDoesNotMatch",
            "Specified signature is not matched with our calculation.".into(),
        ));
    }
    let fixed = [
        ("Action", "SendSms"),
        ("Version", "2017-05-25"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("SignName", SIGN_NAME),
    ];
    for (name, value) in fixed {
        if params[name] != value {
            return Err((
                StatusCode::BAD_REQUEST,
                "InvalidParameter",
                format!("{name} is {:?}, expected {value:?}", params[name]),
            ));
        }
    }
    let stamp = chrono::NaiveDateTime::parse_from_str(&params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ")
        .map_err(|_| {
        (
            StatusCode::BAD_REQUEST,
            "InvalidTimeStamp.Format",
            "Specified time stamp or date value is not well formatted.".into(),
        )
    })?;
    if (chrono::Utc::now().naive_utc() - stamp).num_minutes().abs() > 15 {
        return Err((
            StatusCode::BAD_REQUEST,
            "InvalidTimeStamp.Expired",
            "Specified time stamp or date value is expired.".into(),
        ));
    }
    let template: serde_json::Value =
        serde_json::from_str(&params["TemplateParam"]).map_err(|_| {
            (
                StatusCode::OK,
                "isv.INVALID_JSON_PARAM",
                "JSON参数不合法".into(),
            )
        })?;
    let template_code = params["TemplateCode"].as_str();
    if template_code == TEMPLATE_CODE {
        if template["code"].as_str().is_none_or(|c| c.len() != 6) {
            return Err((
                StatusCode::OK,
                "isv.TEMPLATE_MISSING_PARAMETERS",
                "模板缺少变量".into(),
            ));
        }
    } else if template_code.starts_with(NOTICE_TEMPLATE_PREFIX) {
        let fine = template.as_object().is_some_and(|o| {
            !o.is_empty()
                && o.values()
                    .all(|v| v.as_str().is_some_and(|s| s.chars().count() <= 35))
        });
        if !fine {
            return Err((
                StatusCode::OK,
                "isv.TEMPLATE_PARAMS_ILLEGAL",
                "模板变量里包含非法关键字或超长".into(),
            ));
        }
    } else {
        return Err((
            StatusCode::OK,
            "isv.SMS_TEMPLATE_ILLEGAL",
            format!("该账号下找不到对应模板 {template_code}"),
        ));
    }
    let phone = &params["PhoneNumbers"];
    if phone.len() != 11 || !phone.bytes().all(|b| b.is_ascii_digit()) {
        return Err((
            StatusCode::OK,
            "isv.MOBILE_NUMBER_ILLEGAL",
            "非法手机号".into(),
        ));
    }
    if !nonces.insert(params["SignatureNonce"].clone()) {
        return Err((
            StatusCode::BAD_REQUEST,
            "SignatureNonceUsed",
            "Specified signature nonce was used already.".into(),
        ));
    }
    Ok(())
}

/// Decodes `a=b&c=d` with `%XY` escapes (and `+` as a space, as form decoders do).
fn parse_query(query: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        out.insert(decode(name)?, decode(value)?);
    }
    Ok(out)
}

fn decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text
                    .get(i + 1..i + 3)
                    .ok_or_else(|| format!("a broken escape in {text}"))?;
                out.push(u8::from_str_radix(hex, 16).map_err(|e| e.to_string())?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|e| e.to_string())
}

/// RFC 3986 encoding as the signature documentation states it (its own implementation, so a
/// mistake in the server's is caught here).
fn encode(text: &str) -> String {
    const UNRESERVED: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~";
    text.bytes()
        .map(|b| {
            if UNRESERVED.contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn signature(params: &BTreeMap<String, String>, secret: &str) -> String {
    let canonical = params
        .iter()
        .filter(|(k, _)| k.as_str() != "Signature")
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let string_to_sign = format!("GET&{}&{}", encode("/"), encode(&canonical));
    let mut mac =
        Hmac::<sha1::Sha1>::new_from_slice(format!("{secret}&").as_bytes()).expect("any key");
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fake's own signature reproduces the documentation's example.
    #[test]
    fn the_fake_signs_the_documentation_example() {
        let params: BTreeMap<String, String> = [
            ("AccessKeyId", "testId"),
            ("Action", "SendSms"),
            ("Format", "XML"),
            ("OutId", "123"),
            ("PhoneNumbers", "15300000001"),
            ("RegionId", "cn-hangzhou"),
            ("SignName", "阿里云短信测试专用"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "45e25e9b-0a6f-4070-8c85-2956eda1b466"),
            ("SignatureVersion", "1.0"),
            ("TemplateCode", "SMS_71390007"),
            ("TemplateParam", "{\"customer\":\"test\"}"),
            ("Timestamp", "2017-07-12T02:42:19Z"),
            ("Version", "2017-05-25"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(
            signature(&params, "testSecret"),
            "zJDF+Lrzhj/ThnlvIToysFRq6t4="
        );
    }
}
