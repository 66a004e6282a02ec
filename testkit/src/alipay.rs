//! A fake Alipay open-platform gateway on a free port, for the real Alipay client
//! (`retail_payments::alipay`): it speaks the real wire format with real cryptography and its
//! own implementation of it, so a mistake in the client's is caught here.
//!
//! * It has an Alipay key pair of its own ([`alipay_public_key_pem`]) and knows the app's public
//!   key ([`app_private_key_pem`] is the app's key the client is configured with): every
//!   request's `sign` (RSA2 over the sorted `k=v&…` string) is checked, and a bad one refused
//!   with Alipay's `40002` `isv.invalid-signature` answer; so are a wrong `app_id`, a
//!   `timestamp` more than 15 minutes off Beijing time and the fixed common parameters.
//! * Its answers are `{"<method>_response":{…},"sign":"…"}`, signed over the object's exact
//!   text (written pretty-printed, so a client that re-serialises fails to verify).
//! * It keeps trades and refunds in memory: `alipay.trade.precreate`, `.pay`, `.query`,
//!   `.close`, `.cancel`, `.refund`, `.fastpay.refund.query`, the `wap.pay` cashier page (a GET
//!   of the signed URL) and `alipay.data.dataservice.bill.downloadurl.query` with the ZIP of
//!   GBK CSV it points at.
//! * What a payment code does is set per `auth_code` ([`CodeBehaviour`]: pay, 10003 then paid
//!   or closed after N queries, fail, hang, 500, garbled); the whole gateway can misbehave
//!   ([`GatewayMode`]: 500, garbage, slow, signed with another key, tampered).
//! * It posts signed notifications (`trade_status_sync`) to the trade's `notify_url` when a
//!   trade is paid or refunded, records them with the answers it got, and can replay one;
//!   tests can also have it sign, forge ([`forger_private_key`]) or tamper a notification body.
//!
//! ```ignore
//! let alipay = FakeAlipay::start();
//! alipay.on_auth_code("287654321012345678", CodeBehaviour::UserPaying { queries: 2, then: Settle::Paid });
//! // configure the client with alipay.gateway, APP_ID, app_private_key_pem(), alipay_public_key_pem()
//! ```
//!
//! RSA key generation is slow without optimisation: the keys are made once per test binary.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Utc};
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Map, Value};
use sha2::Sha256;

/// The app id the fake serves.
pub const APP_ID: &str = "2021000000000001";
/// The merchant's Alipay user id (PID), the `seller_id` of its notifications.
pub const SELLER_ID: &str = "2088000000000001";

/// An RSA key pair made for the tests.
struct KeyPair {
    private: RsaPrivateKey,
    public: RsaPublicKey,
}

fn generate() -> KeyPair {
    let private = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("an RSA key");
    let public = private.to_public_key();
    KeyPair { private, public }
}

fn app_keys() -> &'static KeyPair {
    static KEYS: OnceLock<KeyPair> = OnceLock::new();
    KEYS.get_or_init(generate)
}

fn alipay_keys() -> &'static KeyPair {
    static KEYS: OnceLock<KeyPair> = OnceLock::new();
    KEYS.get_or_init(generate)
}

fn forger_keys() -> &'static KeyPair {
    static KEYS: OnceLock<KeyPair> = OnceLock::new();
    KEYS.get_or_init(generate)
}

/// The app's private key (PKCS#8 PEM), for the client's `app_private_key`.
pub fn app_private_key_pem() -> String {
    app_keys()
        .private
        .to_pkcs8_pem(LineEnding::LF)
        .expect("PEM")
        .to_string()
}

/// The fake Alipay's public key (SubjectPublicKeyInfo PEM), for the client's
/// `alipay_public_key`.
pub fn alipay_public_key_pem() -> String {
    alipay_keys()
        .public
        .to_public_key_pem(LineEnding::LF)
        .expect("PEM")
}

/// The fake Alipay's public key as the bare base64 Alipay's console shows.
pub fn alipay_public_key_base64() -> String {
    let der = alipay_keys().public.to_public_key_der().expect("DER");
    base64::engine::general_purpose::STANDARD.encode(der.as_bytes())
}

/// Another key's private half (PKCS#8 PEM): what signs forged notifications.
pub fn forger_private_key() -> String {
    forger_keys()
        .private
        .to_pkcs8_pem(LineEnding::LF)
        .expect("PEM")
        .to_string()
}

/// How a payment-code trade (`settle` after `UserPaying`) ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// The payer confirmed: `TRADE_SUCCESS`.
    Paid,
    /// The payer gave up: `TRADE_CLOSED`.
    Closed,
}

/// What `alipay.trade.pay` does with an `auth_code` (the default is [`CodeBehaviour::Pay`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeBehaviour {
    /// `10000`: paid at once.
    Pay,
    /// `10003`: the payer is confirming; the trade settles at the `queries`-th query.
    UserPaying {
        /// Queries before it settles.
        queries: u32,
        /// How it settles.
        then: Settle,
    },
    /// `40004` with this sub-code and message (e.g. `ACQ.PAYMENT_AUTH_CODE_INVALID`).
    Fail {
        /// Alipay's sub-code.
        sub_code: String,
        /// Its message.
        sub_msg: String,
    },
    /// The charge goes through (the trade is paid) but the answer never comes.
    Hang,
    /// HTTP 500 (nothing recorded).
    ServerError,
    /// HTTP 200 with a body that is not JSON (nothing recorded).
    Garbled,
}

/// How the whole gateway answers (the default is [`GatewayMode::Normal`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayMode {
    /// As Alipay does.
    Normal,
    /// HTTP 500 with an HTML body and a `trace_id` header, for every API call.
    ServerError,
    /// HTTP 200 with a truncated JSON body.
    Garbled,
    /// Waits this long before answering normally.
    Slow(Duration),
    /// Answers signed with another key.
    WrongKey,
    /// Answers whose signed text was changed after signing (a field added).
    Tampered,
    /// Answers without `sign`.
    Unsigned,
}

/// A trade as the fake holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeTrade {
    /// Alipay's trade number.
    pub trade_no: String,
    /// The merchant's order number.
    pub out_trade_no: String,
    /// `WAIT_BUYER_PAY`, `TRADE_SUCCESS`, `TRADE_CLOSED`.
    pub status: String,
    /// The amount, in fen.
    pub total_fen: i64,
    /// Refunded so far, in fen.
    pub refunded_fen: i64,
    /// The method that created it.
    pub created_by: String,
    /// The payment code, for `alipay.trade.pay`.
    pub auth_code: Option<String>,
    /// Where its notifications go.
    pub notify_url: Option<String>,
    /// When it was paid.
    pub paid_at: Option<DateTime<Utc>>,
    /// Queries left before a user-paying trade settles, and how.
    settle: Option<(u32, Settle)>,
}

/// A refund as the fake holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeRefund {
    /// The trade.
    pub out_trade_no: String,
    /// The merchant's refund id (`out_request_no`).
    pub out_request_no: String,
    /// The amount, in fen.
    pub amount_fen: i64,
    /// When.
    pub at: DateTime<Utc>,
}

/// A notification the fake posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentNotification {
    /// Where.
    pub url: String,
    /// The form body.
    pub body: String,
    /// The HTTP status and body answered, or `None` when the post failed.
    pub answer: Option<(u16, String)>,
}

#[derive(Debug, Default)]
struct Inner {
    mode: Option<GatewayMode>,
    behaviours: HashMap<String, CodeBehaviour>,
    trades: BTreeMap<String, FakeTrade>,
    refunds: Vec<FakeRefund>,
    refused: Vec<String>,
    methods: Vec<String>,
    notifications: Vec<SentNotification>,
    bill_downloads: usize,
    counter: u64,
}

/// A fake Alipay gateway (see the module documentation).
#[derive(Clone)]
pub struct FakeAlipay {
    /// Its gateway URL, `http://127.0.0.1:port/gateway.do`.
    pub gateway: String,
    base: String,
    inner: Arc<Mutex<Inner>>,
}

fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8")
}

fn beijing_time(at: DateTime<Utc>) -> String {
    at.with_timezone(&beijing())
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", fen.abs() / 100, fen.abs() % 100)
}

/// The fake's own reading of an amount: `d+.dd`.
fn fen_of(text: &str) -> Option<i64> {
    let (whole, cents) = text.split_once('.')?;
    if whole.is_empty()
        || cents.len() != 2
        || !whole
            .bytes()
            .chain(cents.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    Some(whole.parse::<i64>().ok()? * 100 + cents.parse::<i64>().ok()?)
}

/// The fake's own signing string: sorted, empty values and `sign` left out.
fn content_of(params: &BTreeMap<String, String>, leave_out: &[&str]) -> String {
    params
        .iter()
        .filter(|(k, v)| !v.is_empty() && k.as_str() != "sign" && !leave_out.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn sign_with(key: &RsaPrivateKey, content: &str) -> String {
    let signer = SigningKey::<Sha256>::new(key.clone());
    let signature: Signature = signer.sign(content.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(signature.to_bytes())
}

fn verify_with(key: &RsaPublicKey, content: &str, sign: &str) -> bool {
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(sign) else {
        return false;
    };
    let Ok(signature) = Signature::try_from(bytes.as_slice()) else {
        return false;
    };
    VerifyingKey::<Sha256>::new(key.clone())
        .verify(content.as_bytes(), &signature)
        .is_ok()
}

fn form_of(params: &BTreeMap<String, String>) -> String {
    serde_urlencoded::to_string(params).expect("a form")
}

fn trace_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// A signed notification body: `params` plus `sign_type=RSA2` and `sign` by `key` over the
/// sorted parameters without `sign` and `sign_type`.
fn signed_notification(key: &RsaPrivateKey, params: &BTreeMap<String, String>) -> String {
    let mut params = params.clone();
    params.remove("sign");
    params.insert("sign_type".into(), "RSA2".into());
    let sign = sign_with(key, &content_of(&params, &["sign_type"]));
    params.insert("sign".into(), sign);
    form_of(&params)
}

fn parse_form(bytes: &[u8]) -> Result<BTreeMap<String, String>, String> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_bytes(bytes).map_err(|e| e.to_string())?;
    let mut out = BTreeMap::new();
    for (k, v) in pairs {
        if out.insert(k.clone(), v).is_some() {
            return Err(format!("{k} twice"));
        }
    }
    Ok(out)
}

/// What the fake answers an API call: a method's response object (signed), or a raw HTTP
/// answer.
enum Reply {
    Object(Map<String, Value>),
    Raw(Response),
    Hang,
}

fn business_error(sub_code: &str, sub_msg: &str) -> Reply {
    Reply::Object(obj(json!({
        "code": "40004", "msg": "Business Failed", "sub_code": sub_code, "sub_msg": sub_msg
    })))
}

fn obj(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

impl FakeAlipay {
    /// Starts a fake on a free port (on the current Tokio runtime; it lives as long as the
    /// runtime, i.e. the test). The keys are made on first use (once per test binary).
    ///
    /// # Panics
    /// Outside a Tokio runtime, or when no port can be bound.
    pub fn start() -> FakeAlipay {
        let _ = (app_keys(), alipay_keys());
        let (addr, listener) = crate::fake_server::bind();
        let fake = FakeAlipay {
            gateway: format!("http://{addr}/gateway.do"),
            base: format!("http://{addr}"),
            inner: Arc::new(Mutex::new(Inner::default())),
        };
        let app = Router::new()
            .route("/gateway.do", post(api).get(cashier))
            .route("/bill/{file}", get(bill_download))
            .with_state(fake.clone());
        crate::fake_server::serve(listener, app);
        fake
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().expect("the fake's state"))
    }

    /// What `alipay.trade.pay` does with this payment code from now on.
    pub fn on_auth_code(&self, auth_code: &str, behaviour: CodeBehaviour) {
        self.with(|i| i.behaviours.insert(auth_code.to_owned(), behaviour));
    }

    /// How the gateway answers from now on.
    pub fn set_mode(&self, mode: GatewayMode) {
        self.with(|i| i.mode = Some(mode));
    }

    /// A trade, by the merchant's order number.
    pub fn trade(&self, out_trade_no: &str) -> Option<FakeTrade> {
        self.with(|i| i.trades.get(out_trade_no).cloned())
    }

    /// Every refund, oldest first.
    pub fn refunds(&self) -> Vec<FakeRefund> {
        self.with(|i| i.refunds.clone())
    }

    /// Why requests were refused (bad signature, wrong app id, missing parameter, …).
    pub fn refused(&self) -> Vec<String> {
        self.with(|i| i.refused.clone())
    }

    /// The methods called, in order (refused calls included).
    pub fn methods(&self) -> Vec<String> {
        self.with(|i| i.methods.clone())
    }

    /// Every notification posted, oldest first.
    pub fn notifications(&self) -> Vec<SentNotification> {
        self.with(|i| i.notifications.clone())
    }

    /// How many times the bill was downloaded.
    pub fn bill_downloads(&self) -> usize {
        self.with(|i| i.bill_downloads)
    }

    /// The shopper pays a waiting trade (one made by precreate or the wap.pay cashier): it is
    /// `TRADE_SUCCESS` and its notification is posted. `false` when there is no such waiting
    /// trade.
    pub fn pay(&self, out_trade_no: &str) -> bool {
        let notification = self.with(|i| {
            let trade = i.trades.get_mut(out_trade_no)?;
            if trade.status != "WAIT_BUYER_PAY" {
                return None;
            }
            trade.status = "TRADE_SUCCESS".into();
            trade.paid_at = Some(Utc::now());
            let trade = trade.clone();
            Some(i.paid_params(&trade))
        });
        match notification {
            Some((url, params)) => {
                self.post_notification(url, signed_notification(&alipay_keys().private, &params));
                true
            }
            None => false,
        }
    }

    /// The signed `TRADE_SUCCESS` notification body of a paid trade, with a fresh notify id
    /// (what Alipay would post), without posting it.
    pub fn paid_notification(&self, out_trade_no: &str) -> Option<String> {
        self.with(|i| {
            let trade = i.trades.get(out_trade_no)?.clone();
            trade.paid_at?;
            let (_, params) = i.paid_params(&trade);
            Some(signed_notification(&alipay_keys().private, &params))
        })
    }

    /// A notification body of these parameters signed with the fake's Alipay key (the test
    /// chooses every field: a wrong app id, a strange status, …).
    pub fn sign_notification(&self, params: &[(&str, &str)]) -> String {
        let params = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        signed_notification(&alipay_keys().private, &params)
    }

    /// The same parameters signed with another key: a forgery.
    pub fn forge_notification(params: &[(&str, &str)]) -> String {
        let params = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        signed_notification(&forger_keys().private, &params)
    }

    /// `body` with one parameter changed (or added), its signature kept.
    ///
    /// # Panics
    /// When `body` is not a form.
    pub fn tamper(body: &str, name: &str, value: &str) -> String {
        let mut params = parse_form(body.as_bytes()).expect("a notification form");
        params.insert(name.to_owned(), value.to_owned());
        form_of(&params)
    }

    /// Posts the `index`-th notification again, as Alipay does until it is answered
    /// `success`; returns the answer (status, body), `None` when the post failed.
    pub async fn replay(&self, index: usize) -> Option<(u16, String)> {
        let sent = self.with(|i| i.notifications.get(index).cloned())?;
        let answer = deliver(&sent.url, &sent.body).await;
        self.with(|i| {
            i.notifications.push(SentNotification {
                url: sent.url.clone(),
                body: sent.body.clone(),
                answer: answer.clone(),
            })
        });
        answer
    }

    fn post_notification(&self, url: String, body: String) {
        let fake = self.clone();
        tokio::spawn(async move {
            let answer = deliver(&url, &body).await;
            fake.with(|i| i.notifications.push(SentNotification { url, body, answer }));
        });
    }

    fn next_number(&self) -> u64 {
        self.with(|i| {
            i.counter += 1;
            i.counter
        })
    }

    fn answer(&self, method: &str, reply: Reply, mode: GatewayMode) -> Response {
        let object = match reply {
            Reply::Raw(response) => return response,
            Reply::Hang => return StatusCode::GATEWAY_TIMEOUT.into_response(),
            Reply::Object(object) => object,
        };
        let key = format!("{}_response", method.replace('.', "_"));
        let raw = serde_json::to_string_pretty(&Value::Object(object)).expect("JSON");
        let signer = match mode {
            GatewayMode::WrongKey => &forger_keys().private,
            _ => &alipay_keys().private,
        };
        let sign = sign_with(signer, &raw);
        let raw = match mode {
            GatewayMode::Tampered => raw.replacen('{', "{\n  \"total_amount\": \"0.01\",", 1),
            _ => raw,
        };
        if mode == GatewayMode::Unsigned {
            return signed_body(&format!("{{\"{key}\":{raw}}}"));
        }
        signed_body(&format!("{{\"{key}\":{raw},\"sign\":\"{sign}\"}}"))
    }

    /// Checks a request as the gateway does; `Err` is the refusal to answer.
    fn check(&self, params: &BTreeMap<String, String>) -> Result<String, Box<Response>> {
        let method = params.get("method").cloned().unwrap_or_default();
        self.with(|i| i.methods.push(method.clone()));
        let refuse = |code: &str, msg: &str, sub_code: &str, sub_msg: &str| {
            self.with(|i| i.refused.push(format!("{method}: {sub_code}: {sub_msg}")));
            let answer =
                obj(json!({ "code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg }));
            let key = if method.is_empty() {
                "error".to_owned()
            } else {
                method.clone()
            };
            Err(Box::new(self.answer(
                &key,
                Reply::Object(answer),
                GatewayMode::Normal,
            )))
        };
        for name in [
            "app_id",
            "method",
            "charset",
            "sign_type",
            "sign",
            "timestamp",
            "version",
            "biz_content",
        ] {
            if params.get(name).is_none_or(|v| v.is_empty()) {
                return refuse(
                    "40001",
                    "Missing Required Arguments",
                    &format!("isv.missing-{}", name.replace('_', "-")),
                    &format!("缺少{name}参数"),
                );
            }
        }
        if params["app_id"] != APP_ID {
            return refuse(
                "40002",
                "Invalid Arguments",
                "isv.invalid-app-id",
                "无效的AppID参数",
            );
        }
        let fixed = [
            ("charset", "utf-8"),
            ("sign_type", "RSA2"),
            ("version", "1.0"),
        ];
        for (name, value) in fixed {
            if !params[name].eq_ignore_ascii_case(value) {
                return refuse(
                    "40002",
                    "Invalid Arguments",
                    &format!("isv.invalid-{}", name.replace('_', "-")),
                    &format!("{name} {} 无效", params[name]),
                );
            }
        }
        if params.get("format").is_some_and(|f| f != "JSON") {
            return refuse(
                "40002",
                "Invalid Arguments",
                "isv.invalid-format",
                "无效的数据格式参数",
            );
        }
        let stamp = NaiveDateTime::parse_from_str(&params["timestamp"], "%Y-%m-%d %H:%M:%S")
            .ok()
            .and_then(|t| t.and_local_timezone(beijing()).single());
        match stamp {
            Some(t) if (Utc::now() - t.with_timezone(&Utc)).num_minutes().abs() <= 15 => {}
            _ => {
                return refuse(
                    "40002",
                    "Invalid Arguments",
                    "isv.invalid-timestamp",
                    "非法的时间戳参数",
                )
            }
        }
        let content = content_of(params, &[]);
        if !verify_with(&app_keys().public, &content, &params["sign"]) {
            return refuse(
                "40002",
                "Invalid Arguments",
                "isv.invalid-signature",
                &format!("验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：{content}"),
            );
        }
        if serde_json::from_str::<Map<String, Value>>(&params["biz_content"]).is_err() {
            return refuse(
                "40002",
                "Invalid Arguments",
                "isv.invalid-biz-content",
                "biz_content 不是 JSON 对象",
            );
        }
        Ok(method)
    }

    fn handle(
        &self,
        method: &str,
        biz: &Map<String, Value>,
        params: &BTreeMap<String, String>,
    ) -> Reply {
        let text = |name: &str| {
            biz.get(name)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let notify_url = params.get("notify_url").cloned().filter(|u| !u.is_empty());
        match method {
            "alipay.trade.precreate" => {
                let out_trade_no = text("out_trade_no");
                let Some(total) = fen_of(&text("total_amount")).filter(|f| *f > 0) else {
                    return business_error("ACQ.INVALID_PARAMETER", "total_amount 无效");
                };
                if out_trade_no.is_empty() || text("subject").is_empty() {
                    return business_error("ACQ.INVALID_PARAMETER", "参数无效");
                }
                if let Some(existing) = self.trade(&out_trade_no) {
                    if existing.status != "WAIT_BUYER_PAY" {
                        return business_error("ACQ.TRADE_HAS_SUCCESS", "交易已被支付");
                    }
                }
                let trade_no = self.trade_no();
                self.with(|i| {
                    i.trades.insert(
                        out_trade_no.clone(),
                        FakeTrade {
                            trade_no,
                            out_trade_no: out_trade_no.clone(),
                            status: "WAIT_BUYER_PAY".into(),
                            total_fen: total,
                            refunded_fen: 0,
                            created_by: method.into(),
                            auth_code: None,
                            notify_url,
                            paid_at: None,
                            settle: None,
                        },
                    )
                });
                Reply::Object(obj(json!({
                    "code": "10000", "msg": "Success", "out_trade_no": out_trade_no,
                    "qr_code": format!("https://qr.alipay.com/bax0{:016}", self.next_number()),
                })))
            }
            "alipay.trade.pay" => self.trade_pay(biz, notify_url),
            "alipay.trade.query" => {
                let out_trade_no = text("out_trade_no");
                let settled = self.with(|i| {
                    let trade = i.trades.get_mut(&out_trade_no)?;
                    if let Some((left, how)) = trade.settle {
                        if left <= 1 {
                            trade.settle = None;
                            match how {
                                Settle::Paid => {
                                    trade.status = "TRADE_SUCCESS".into();
                                    trade.paid_at = Some(Utc::now());
                                }
                                Settle::Closed => trade.status = "TRADE_CLOSED".into(),
                            }
                        } else {
                            trade.settle = Some((left - 1, how));
                        }
                    }
                    Some(trade.clone())
                });
                let Some(trade) = settled else {
                    return business_error("ACQ.TRADE_NOT_EXIST", "交易不存在");
                };
                let mut answer = obj(json!({
                    "code": "10000", "msg": "Success", "trade_no": trade.trade_no,
                    "out_trade_no": trade.out_trade_no, "buyer_logon_id": "159****5620",
                    "trade_status": trade.status, "total_amount": yuan(trade.total_fen),
                }));
                if let Some(at) = trade.paid_at {
                    answer.insert("send_pay_date".into(), json!(beijing_time(at)));
                    answer.insert(
                        "receipt_amount".into(),
                        json!(yuan(trade.total_fen - trade.refunded_fen)),
                    );
                    answer.insert("buyer_pay_amount".into(), json!(yuan(trade.total_fen)));
                }
                Reply::Object(answer)
            }
            "alipay.trade.close" => {
                let out_trade_no = text("out_trade_no");
                let result = self.with(|i| {
                    let trade = i.trades.get_mut(&out_trade_no)?;
                    if trade.status == "TRADE_SUCCESS" {
                        return Some(Err(()));
                    }
                    trade.status = "TRADE_CLOSED".into();
                    trade.settle = None;
                    Some(Ok(trade.trade_no.clone()))
                });
                match result {
                    None => business_error("ACQ.TRADE_NOT_EXIST", "交易不存在"),
                    Some(Err(())) => business_error("ACQ.TRADE_STATUS_ERROR", "交易状态不合法"),
                    Some(Ok(trade_no)) => Reply::Object(obj(json!({
                        "code": "10000", "msg": "Success", "trade_no": trade_no, "out_trade_no": out_trade_no
                    }))),
                }
            }
            "alipay.trade.cancel" => {
                let out_trade_no = text("out_trade_no");
                let result = self.with(|i| {
                    let trade = i.trades.get_mut(&out_trade_no)?;
                    let action = if trade.paid_at.is_some() && trade.refunded_fen < trade.total_fen
                    {
                        trade.refunded_fen = trade.total_fen;
                        "refund"
                    } else {
                        "close"
                    };
                    trade.status = "TRADE_CLOSED".into();
                    trade.settle = None;
                    Some((trade.trade_no.clone(), action))
                });
                match result {
                    None => Reply::Object(obj(json!({
                        "code": "10000", "msg": "Success", "out_trade_no": out_trade_no, "retry_flag": "N"
                    }))),
                    Some((trade_no, action)) => Reply::Object(obj(json!({
                        "code": "10000", "msg": "Success", "trade_no": trade_no,
                        "out_trade_no": out_trade_no, "retry_flag": "N", "action": action
                    }))),
                }
            }
            "alipay.trade.refund" => self.refund(biz),
            "alipay.trade.fastpay.refund.query" => {
                let out_trade_no = text("out_trade_no");
                let out_request_no = text("out_request_no");
                let found = self.with(|i| {
                    let refund = i
                        .refunds
                        .iter()
                        .find(|r| {
                            r.out_trade_no == out_trade_no && r.out_request_no == out_request_no
                        })?
                        .clone();
                    Some((refund, i.trades.get(&out_trade_no)?.clone()))
                });
                match found {
                    Some((refund, trade)) => Reply::Object(obj(json!({
                        "code": "10000", "msg": "Success", "trade_no": trade.trade_no,
                        "out_trade_no": out_trade_no, "out_request_no": out_request_no,
                        "total_amount": yuan(trade.total_fen), "refund_amount": yuan(refund.amount_fen),
                        "refund_status": "REFUND_SUCCESS",
                    }))),
                    None => Reply::Object(obj(json!({
                        "code": "10000", "msg": "Success", "out_trade_no": out_trade_no,
                        "out_request_no": out_request_no,
                    }))),
                }
            }
            "alipay.data.dataservice.bill.downloadurl.query" => {
                if text("bill_type") != "trade" {
                    return business_error("isv.invalid-bill-type", "账单类型不正确");
                }
                let Ok(date) = NaiveDate::parse_from_str(&text("bill_date"), "%Y-%m-%d") else {
                    return business_error("isv.invalid-bill-date", "账单日期格式不正确");
                };
                Reply::Object(obj(json!({
                    "code": "10000", "msg": "Success",
                    "bill_download_url": format!("{}/bill/{SELLER_ID}_{}.zip", self.base, date.format("%Y%m%d")),
                })))
            }
            _ => Reply::Object(obj(json!({
                "code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-method", "sub_msg": "不存在的方法名"
            }))),
        }
    }

    fn trade_no(&self) -> String {
        format!(
            "{}22001{:015}",
            Utc::now().with_timezone(&beijing()).format("%Y%m%d"),
            self.next_number()
        )
    }

    fn trade_pay(&self, biz: &Map<String, Value>, notify_url: Option<String>) -> Reply {
        let text = |name: &str| {
            biz.get(name)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        if text("scene") != "bar_code" {
            return business_error("ACQ.INVALID_PARAMETER", "scene 无效");
        }
        let out_trade_no = text("out_trade_no");
        let auth_code = text("auth_code");
        let Some(total) = fen_of(&text("total_amount")).filter(|f| *f > 0) else {
            return business_error("ACQ.INVALID_PARAMETER", "total_amount 无效");
        };
        if out_trade_no.is_empty() || auth_code.is_empty() || text("subject").is_empty() {
            return business_error("ACQ.INVALID_PARAMETER", "参数无效");
        }
        if let Some(existing) = self.trade(&out_trade_no) {
            if existing.status == "TRADE_SUCCESS" {
                return business_error("ACQ.TRADE_HAS_SUCCESS", "交易已被支付");
            }
            if existing.status == "TRADE_CLOSED" {
                return business_error("ACQ.TRADE_HAS_CLOSE", "交易已经关闭");
            }
        }
        let behaviour = self
            .with(|i| i.behaviours.get(&auth_code).cloned())
            .unwrap_or(CodeBehaviour::Pay);
        let record = |status: &str, paid: bool, settle: Option<(u32, Settle)>| {
            let trade = FakeTrade {
                trade_no: self.trade_no(),
                out_trade_no: out_trade_no.clone(),
                status: status.into(),
                total_fen: total,
                refunded_fen: 0,
                created_by: "alipay.trade.pay".into(),
                auth_code: Some(auth_code.clone()),
                notify_url: notify_url.clone(),
                paid_at: paid.then(Utc::now),
                settle,
            };
            self.with(|i| i.trades.insert(out_trade_no.clone(), trade.clone()));
            trade
        };
        match behaviour {
            CodeBehaviour::Pay => {
                let trade = record("TRADE_SUCCESS", true, None);
                Reply::Object(obj(json!({
                    "code": "10000", "msg": "Success", "trade_no": trade.trade_no,
                    "out_trade_no": out_trade_no, "buyer_logon_id": "159****5620",
                    "total_amount": yuan(total), "receipt_amount": yuan(total),
                    "buyer_pay_amount": yuan(total), "gmt_payment": beijing_time(trade.paid_at.unwrap_or_else(Utc::now)),
                    "fund_bill_list": [{ "fund_channel": "ALIPAYACCOUNT", "amount": yuan(total) }],
                })))
            }
            CodeBehaviour::UserPaying { queries, then } => {
                let trade = record("WAIT_BUYER_PAY", false, Some((queries.max(1), then)));
                Reply::Object(obj(json!({
                    "code": "10003", "msg": " order success pay inprocess", "trade_no": trade.trade_no,
                    "out_trade_no": out_trade_no, "buyer_logon_id": "159****5620",
                    "total_amount": yuan(total),
                })))
            }
            CodeBehaviour::Fail { sub_code, sub_msg } => business_error(&sub_code, &sub_msg),
            CodeBehaviour::Hang => {
                record("TRADE_SUCCESS", true, None);
                Reply::Hang
            }
            CodeBehaviour::ServerError => Reply::Raw(server_error()),
            CodeBehaviour::Garbled => Reply::Raw(garbled()),
        }
    }

    fn refund(&self, biz: &Map<String, Value>) -> Reply {
        let text = |name: &str| {
            biz.get(name)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let out_trade_no = text("out_trade_no");
        let out_request_no = text("out_request_no");
        let Some(amount) = fen_of(&text("refund_amount")).filter(|f| *f > 0) else {
            return business_error("ACQ.INVALID_PARAMETER", "refund_amount 无效");
        };
        if out_request_no.is_empty() {
            return business_error("ACQ.INVALID_PARAMETER", "out_request_no 必填");
        }
        enum Outcome {
            NoTrade,
            NotPaid,
            Repeat(FakeTrade),
            DifferentRepeat,
            TooMuch,
            Done(FakeTrade, BTreeMap<String, String>),
        }
        let outcome = self.with(|i| {
            let Some(trade) = i.trades.get(&out_trade_no).cloned() else {
                return Outcome::NoTrade;
            };
            if trade.paid_at.is_none() {
                return Outcome::NotPaid;
            }
            if let Some(previous) = i
                .refunds
                .iter()
                .find(|r| r.out_trade_no == out_trade_no && r.out_request_no == out_request_no)
            {
                return if previous.amount_fen == amount {
                    Outcome::Repeat(trade)
                } else {
                    Outcome::DifferentRepeat
                };
            }
            if trade.refunded_fen + amount > trade.total_fen {
                return Outcome::TooMuch;
            }
            let now = Utc::now();
            i.refunds.push(FakeRefund {
                out_trade_no: out_trade_no.clone(),
                out_request_no: out_request_no.clone(),
                amount_fen: amount,
                at: now,
            });
            let trade = i.trades.get_mut(&out_trade_no).expect("the trade");
            trade.refunded_fen += amount;
            if trade.refunded_fen == trade.total_fen {
                trade.status = "TRADE_CLOSED".into();
            }
            let trade = trade.clone();
            let (_, mut params) = i.paid_params(&trade);
            params.insert("trade_status".into(), trade.status.clone());
            params.insert("refund_fee".into(), yuan(trade.refunded_fen));
            params.insert("gmt_refund".into(), format!("{}.000", beijing_time(now)));
            params.insert("out_biz_no".into(), out_request_no.clone());
            if trade.status == "TRADE_CLOSED" {
                params.insert("gmt_close".into(), beijing_time(now));
            }
            Outcome::Done(trade, params)
        });
        let answer = |trade: &FakeTrade, fund_change: &str| {
            Reply::Object(obj(json!({
                "code": "10000", "msg": "Success", "trade_no": trade.trade_no,
                "out_trade_no": out_trade_no, "buyer_logon_id": "159****5620",
                "fund_change": fund_change, "refund_fee": yuan(trade.refunded_fen),
                "gmt_refund_pay": beijing_time(Utc::now()),
            })))
        };
        match outcome {
            Outcome::NoTrade => business_error("ACQ.TRADE_NOT_EXIST", "交易不存在"),
            Outcome::NotPaid => business_error("ACQ.TRADE_STATUS_ERROR", "交易状态不合法"),
            Outcome::DifferentRepeat => business_error(
                "ACQ.REFUND_AMT_NOT_EQUAL",
                "退款金额与退款请求一致性检查失败",
            ),
            Outcome::TooMuch => business_error("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限"),
            Outcome::Repeat(trade) => answer(&trade, "N"),
            Outcome::Done(trade, params) => {
                if let Some(url) = trade.notify_url.clone() {
                    self.post_notification(
                        url,
                        signed_notification(&alipay_keys().private, &params),
                    );
                }
                answer(&trade, "Y")
            }
        }
    }

    /// The detail CSV of a day's bill (Beijing time), as Alipay writes it.
    fn bill_csv(&self, date: NaiveDate) -> String {
        let on_day = |at: &DateTime<Utc>| at.with_timezone(&beijing()).date_naive() == date;
        let (trades, refunds) = self.with(|i| (i.trades.clone(), i.refunds.clone()));
        let mut out = String::new();
        out.push_str("#支付宝业务明细查询\r\n");
        out.push_str(&format!("#账号：[{SELLER_ID}0156]\r\n"));
        out.push_str(&format!(
            "#起始日期：[{} 00:00:00]   终止日期：[{} 00:00:00]\r\n",
            date.format("%Y年%m月%d日"),
            date.succ_opt().unwrap_or(date).format("%Y年%m月%d日")
        ));
        out.push_str("#-----------------------------------------业务明细列表----------------------------------------\r\n");
        out.push_str("支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注\r\n");
        let (mut paid_count, mut paid_sum, mut refund_count, mut refund_sum) = (0, 0, 0, 0);
        for trade in trades.values() {
            let Some(at) = trade.paid_at.filter(on_day) else {
                continue;
            };
            paid_count += 1;
            paid_sum += trade.total_fen;
            out.push_str(&format!(
                "{}\t,{}\t,交易\t,零售商品,{},{},\t,\t,\t,\t,159****5620\t,{},{},0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,\t,0.00,0.00,\r\n",
                trade.trade_no, trade.out_trade_no, beijing_time(at), beijing_time(at),
                yuan(trade.total_fen), yuan(trade.total_fen),
            ));
        }
        for refund in refunds.iter().filter(|r| on_day(&r.at)) {
            let Some(trade) = trades.get(&refund.out_trade_no) else {
                continue;
            };
            refund_count += 1;
            refund_sum += refund.amount_fen;
            out.push_str(&format!(
                "{}\t,{}\t,退款\t,零售商品,{},{},\t,\t,\t,\t,159****5620\t,{},{},0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,{}\t,0.00,0.00,\r\n",
                trade.trade_no, trade.out_trade_no,
                beijing_time(trade.paid_at.unwrap_or(refund.at)), beijing_time(refund.at),
                yuan(-refund.amount_fen), yuan(-refund.amount_fen), refund.out_request_no,
            ));
        }
        out.push_str("#-----------------------------------------业务明细列表结束------------------------------------\r\n");
        out.push_str(&format!(
            "#交易合计：{paid_count}笔，商家实收共{}元，商家优惠共0.00元\r\n",
            yuan(paid_sum)
        ));
        out.push_str(&format!(
            "#退款合计：{refund_count}笔，商家实收共{}元，商家优惠共0.00元\r\n",
            yuan(-refund_sum)
        ));
        out.push_str(&format!(
            "#导出时间：[{}]\r\n",
            Utc::now()
                .with_timezone(&beijing())
                .format("%Y年%m月%d日 %H:%M:%S")
        ));
        out
    }

    /// The day's bill as Alipay serves it: a ZIP of the GBK detail file and its summary.
    pub fn bill_zip(&self, date: NaiveDate) -> Vec<u8> {
        let day = date.format("%Y%m%d");
        let csv = self.bill_csv(date);
        let (detail, _, _) = encoding_rs::GBK.encode(&csv);
        let (summary, _, _) = encoding_rs::GBK.encode(
            "#支付宝业务汇总查询\r\n门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）\r\n#导出结束\r\n",
        );
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.start_file(format!("{SELLER_ID}0156_{day}_业务明细.csv"), options)
            .expect("a ZIP entry");
        zip.write_all(&detail).expect("written");
        zip.start_file(format!("{SELLER_ID}0156_{day}_业务明细(汇总).csv"), options)
            .expect("a ZIP entry");
        zip.write_all(&summary).expect("written");
        zip.finish().expect("a ZIP").into_inner()
    }
}

impl Inner {
    /// A paid trade's notification parameters (unsigned) and where they go.
    fn paid_params(&mut self, trade: &FakeTrade) -> (String, BTreeMap<String, String>) {
        self.counter += 1;
        let now = Utc::now();
        let paid_at = trade.paid_at.unwrap_or(now);
        let params: BTreeMap<String, String> = [
            ("notify_time", beijing_time(now)),
            ("notify_type", "trade_status_sync".into()),
            (
                "notify_id",
                format!(
                    "{}0022{:026}",
                    now.with_timezone(&beijing()).format("%Y%m%d"),
                    self.counter
                ),
            ),
            ("charset", "utf-8".into()),
            ("version", "1.0".into()),
            ("app_id", APP_ID.into()),
            ("auth_app_id", APP_ID.into()),
            ("trade_no", trade.trade_no.clone()),
            ("out_trade_no", trade.out_trade_no.clone()),
            ("buyer_id", "2088102177846875".into()),
            ("buyer_logon_id", "159****5620".into()),
            ("seller_id", SELLER_ID.into()),
            ("seller_email", "shop@example.com".into()),
            ("trade_status", trade.status.clone()),
            ("total_amount", yuan(trade.total_fen)),
            ("receipt_amount", yuan(trade.total_fen)),
            ("invoice_amount", yuan(trade.total_fen)),
            ("buyer_pay_amount", yuan(trade.total_fen)),
            ("point_amount", "0.00".into()),
            ("subject", "零售商品 & 其他".into()),
            ("gmt_create", beijing_time(paid_at)),
            ("gmt_payment", beijing_time(paid_at)),
            (
                "fund_bill_list",
                format!(
                    "[{{\"amount\":\"{}\",\"fundChannel\":\"ALIPAYACCOUNT\"}}]",
                    yuan(trade.total_fen)
                ),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        (trade.notify_url.clone().unwrap_or_default(), params)
    }
}

async fn deliver(url: &str, body: &str) -> Option<(u16, String)> {
    if url.is_empty() {
        return None;
    }
    let response = reqwest::Client::new()
        .post(url)
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(body.to_owned())
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.unwrap_or_default()))
}

fn signed_body(body: &str) -> Response {
    (
        StatusCode::OK,
        [
            ("content-type", "application/json;charset=utf-8".to_owned()),
            ("trace_id", trace_id()),
        ],
        body.to_owned(),
    )
        .into_response()
}

fn server_error() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [
            ("content-type", "text/html".to_owned()),
            ("trace_id", trace_id()),
        ],
        "<html><body><h1>500 Internal Server Error</h1></body></html>",
    )
        .into_response()
}

fn garbled() -> Response {
    (
        StatusCode::OK,
        [
            ("content-type", "application/json;charset=utf-8".to_owned()),
            ("trace_id", trace_id()),
        ],
        "{\"alipay_trade_response\":{\"code\":\"10000\",\"msg\":\"Succ",
    )
        .into_response()
}

async fn api(State(fake): State<FakeAlipay>, body: Bytes) -> Response {
    let mode = fake.with(|i| i.mode).unwrap_or(GatewayMode::Normal);
    match mode {
        GatewayMode::ServerError => return server_error(),
        GatewayMode::Garbled => return garbled(),
        GatewayMode::Slow(wait) => tokio::time::sleep(wait).await,
        _ => {}
    }
    let params = match parse_form(&body) {
        Ok(p) => p,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("not a form: {e}")).into_response(),
    };
    let method = match fake.check(&params) {
        Ok(m) => m,
        Err(refusal) => return *refusal,
    };
    let biz: Map<String, Value> = serde_json::from_str(&params["biz_content"]).unwrap_or_default();
    match fake.handle(&method, &biz, &params) {
        Reply::Hang => {
            std::future::pending::<()>().await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        reply => fake.answer(&method, reply, mode),
    }
}

/// The `wap.pay` cashier: the shopper's browser opens the signed URL.
async fn cashier(State(fake): State<FakeAlipay>, RawQuery(query): RawQuery) -> Response {
    let params = match parse_form(query.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(e) => return (StatusCode::BAD_REQUEST, Html(format!("<p>{e}</p>"))).into_response(),
    };
    if let Err(refusal) = fake.check(&params) {
        let text = String::from_utf8_lossy(
            &axum::body::to_bytes(refusal.into_body(), 1 << 20)
                .await
                .unwrap_or_default(),
        )
        .into_owned();
        return (
            StatusCode::OK,
            Html(format!("<h1>错误</h1><pre>{text}</pre>")),
        )
            .into_response();
    }
    if params["method"] != "alipay.trade.wap.pay" {
        return (
            StatusCode::OK,
            Html("<h1>错误</h1><p>isv.invalid-method</p>".to_owned()),
        )
            .into_response();
    }
    let biz: Map<String, Value> = serde_json::from_str(&params["biz_content"]).unwrap_or_default();
    let text = |name: &str| {
        biz.get(name)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let out_trade_no = text("out_trade_no");
    let Some(total) = fen_of(&text("total_amount")).filter(|f| *f > 0) else {
        return (
            StatusCode::OK,
            Html("<h1>错误</h1><p>total_amount</p>".to_owned()),
        )
            .into_response();
    };
    if text("product_code") != "QUICK_WAP_WAY" || out_trade_no.is_empty() {
        return (
            StatusCode::OK,
            Html("<h1>错误</h1><p>ACQ.INVALID_PARAMETER</p>".to_owned()),
        )
            .into_response();
    }
    if fake.trade(&out_trade_no).is_none() {
        let trade_no = fake.trade_no();
        fake.with(|i| {
            i.trades.insert(
                out_trade_no.clone(),
                FakeTrade {
                    trade_no,
                    out_trade_no: out_trade_no.clone(),
                    status: "WAIT_BUYER_PAY".into(),
                    total_fen: total,
                    refunded_fen: 0,
                    created_by: "alipay.trade.wap.pay".into(),
                    auth_code: None,
                    notify_url: params.get("notify_url").cloned(),
                    paid_at: None,
                    settle: None,
                },
            )
        });
    }
    Html(format!(
        "<!doctype html><title>支付宝 - 网上支付</title><h1>支付宝收银台</h1><p class=\"out-trade-no\">{out_trade_no}</p><p class=\"amount\">¥{}</p><a href=\"{}\">返回商家</a>",
        yuan(total),
        params.get("return_url").cloned().unwrap_or_default()
    ))
    .into_response()
}

async fn bill_download(State(fake): State<FakeAlipay>, Path(file): Path<String>) -> Response {
    let date = file
        .strip_suffix(".zip")
        .and_then(|f| f.rsplit('_').next())
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y%m%d").ok());
    let Some(date) = date else {
        return StatusCode::NOT_FOUND.into_response();
    };
    fake.with(|i| i.bill_downloads += 1);
    (
        StatusCode::OK,
        [("content-type", "application/zip")],
        fake.bill_zip(date),
    )
        .into_response()
}

/// A notification endpoint for tests without a server: records each body it is posted and
/// answers `success` (or what it is told).
#[derive(Clone)]
pub struct NotifyInbox {
    /// Its URL, for `notify_url`.
    pub url: String,
    inner: Arc<Mutex<(Vec<String>, String)>>,
}

impl NotifyInbox {
    /// Starts one on a free port (on the current Tokio runtime).
    ///
    /// # Panics
    /// Outside a Tokio runtime, or when no port can be bound.
    pub fn start() -> NotifyInbox {
        let (addr, listener) = crate::fake_server::bind();
        let inbox = NotifyInbox {
            url: format!("http://{addr}/notify"),
            inner: Arc::new(Mutex::new((Vec::new(), "success".into()))),
        };
        let state = inbox.inner.clone();
        let app = Router::new().route(
            "/notify",
            post(move |body: Bytes| {
                let state = state.clone();
                async move {
                    let mut state = state.lock().expect("the inbox");
                    state.0.push(String::from_utf8_lossy(&body).into_owned());
                    state.1.clone()
                }
            }),
        );
        crate::fake_server::serve(listener, app);
        inbox
    }

    /// Answers this body from now on.
    pub fn answer_with(&self, body: &str) {
        self.inner.lock().expect("the inbox").1 = body.to_owned();
    }

    /// The bodies received, oldest first.
    pub fn bodies(&self) -> Vec<String> {
        self.inner.lock().expect("the inbox").0.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_and_signing_strings() {
        assert_eq!(yuan(1234), "12.34");
        assert_eq!(yuan(-5), "-0.05");
        assert_eq!(fen_of("12.34"), Some(1234));
        assert_eq!(fen_of("12.3"), None);
        let params: BTreeMap<String, String> = [("b", "2"), ("a", "1"), ("sign", "x"), ("c", "")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(content_of(&params, &[]), "a=1&b=2");
        assert_eq!(content_of(&params, &["a"]), "b=2");
    }
}
