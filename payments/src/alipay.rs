//! The Alipay open-platform client (public-key mode, RSA2), for face-to-face payments at the
//! lanes (`alipay.trade.precreate` QR codes, `alipay.trade.pay` payment codes), the mobile
//! shop (`alipay.trade.wap.pay`), queries, close and cancel, refunds, the asynchronous
//! notifications and the daily trade bill.
//!
//! Every request is a form POST to the gateway with the common parameters (`app_id`,
//! `method`, `format=JSON`, `charset=utf-8`, `sign_type=RSA2`, `timestamp` in Beijing time,
//! `version=1.0`, `notify_url`, `biz_content`) signed with the app's private key over the
//! sorted `k=v&…` string ([`wire`]). Every answer is verified with Alipay's public key over the
//! raw text of its `<method>_response` object before anything in it is read, and read from
//! that same text. Certificate mode (`app_cert_sn`, `alipay_root_cert_sn`) is not supported.
//!
//! What an answer means ([`ProviderError`]): code `10000` is success, `10003` (payment code
//! only) the payer confirming on their phone, `20000` and the `isp.*`/`ACQ.SYSTEM_ERROR`
//! sub-codes the service unable to say ([`ProviderError::Unavailable`]: ask again), `40004` a
//! business refusal with its `sub_code`/`sub_msg` ([`ProviderError::Rejected`], or for a
//! payment code [`CodePayOutcome::Failed`]), other codes a refusal of the request itself. A
//! gateway that cannot be reached, times out or answers 5xx is `Unavailable` (with its
//! `trace_id`); an answer that does not parse or verify is [`ProviderError::Malformed`].

mod bill;
mod wire;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use rsa::pkcs1v15::{SigningKey, VerifyingKey};
use serde_json::{json, Map, Value};
use sha2::Sha256;

use crate::{
    BillLine, CodePayOutcome, CodePayRequest, Notification, PaidTrade, Prepay, PrepayRequest,
    PrepayScene, ProviderError, ProviderResult, RefundOutcome, RefundRequest, RefundState,
    TradeState,
};

/// The provider's name in errors and logs.
pub const PROVIDER: &str = "alipay";
/// Alipay's production gateway.
pub const PRODUCTION_GATEWAY: &str = "https://openapi.alipay.com/gateway.do";
/// Alipay's sandbox gateway.
pub const SANDBOX_GATEWAY: &str = "https://openapi-sandbox.dl.alipaydev.com/gateway.do";
/// The body to answer a notification that was taken (verified and applied, or already
/// applied): Alipay stops sending it.
pub const NOTIFICATION_TAKEN: &str = "success";
/// The body to answer a notification that was not taken: Alipay sends it again later (for
/// about a day).
pub const NOTIFICATION_NOT_TAKEN: &str = "failure";

/// The most an API answer may hold.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;
/// The most a bill download may hold.
const MAX_BILL_BYTES: usize = 64 * 1024 * 1024;

/// The Alipay client's settings.
#[derive(Clone)]
pub struct AlipayConfig {
    /// The app's id on the open platform (`app_id`, digits).
    pub app_id: String,
    /// The app's private key (应用私钥): PKCS#8 or PKCS#1, PEM or the bare base64 Alipay's key
    /// tool prints; RSA 2048 bits or more.
    pub app_private_key: String,
    /// Alipay's public key (支付宝公钥) for this app: PEM or bare base64.
    pub alipay_public_key: String,
    /// The merchant's Alipay user id (`2088…`, the PID); when set, notifications must name it
    /// as `seller_id`.
    pub seller_id: Option<String>,
    /// The gateway URL ([`PRODUCTION_GATEWAY`] by default).
    pub gateway: String,
    /// How long a call may take before its outcome counts as unknown.
    pub timeout: Duration,
}

impl fmt::Debug for AlipayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlipayConfig")
            .field("app_id", &self.app_id)
            .field("app_private_key", &"<redacted>")
            .field("alipay_public_key", &self.alipay_public_key)
            .field("seller_id", &self.seller_id)
            .field("gateway", &self.gateway)
            .field("timeout", &self.timeout)
            .finish()
    }
}

fn config_error(reason: impl Into<String>) -> ProviderError {
    ProviderError::Config {
        provider: PROVIDER,
        reason: reason.into(),
    }
}

impl AlipayConfig {
    /// Settings for the production gateway, a 10-second timeout and no seller id.
    pub fn new(
        app_id: impl Into<String>,
        app_private_key: impl Into<String>,
        alipay_public_key: impl Into<String>,
    ) -> AlipayConfig {
        AlipayConfig {
            app_id: app_id.into(),
            app_private_key: app_private_key.into(),
            alipay_public_key: alipay_public_key.into(),
            seller_id: None,
            gateway: PRODUCTION_GATEWAY.into(),
            timeout: Duration::from_secs(10),
        }
    }

    /// Checks every setting, naming the first one that is missing or unusable
    /// ([`ProviderError::Config`]).
    pub fn check(&self) -> ProviderResult<()> {
        self.keys().map(|_| ())
    }

    fn keys(&self) -> ProviderResult<(SigningKey<Sha256>, VerifyingKey<Sha256>)> {
        if self.app_id.trim().is_empty() {
            return Err(config_error("app_id is missing"));
        }
        if !self.app_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(config_error("app_id must be the app's digits"));
        }
        if self.app_private_key.trim().is_empty() {
            return Err(config_error("app_private_key is missing"));
        }
        let private = wire::parse_private_key(&self.app_private_key)
            .map_err(|e| config_error(format!("app_private_key: {e}")))?;
        if self.alipay_public_key.trim().is_empty() {
            return Err(config_error("alipay_public_key is missing"));
        }
        let public = wire::parse_public_key(&self.alipay_public_key)
            .map_err(|e| config_error(format!("alipay_public_key: {e}")))?;
        if private.to_public_key() == public {
            return Err(config_error(
                "alipay_public_key is the app's own public key, not Alipay's (支付宝公钥)",
            ));
        }
        if let Some(seller) = &self.seller_id {
            if !(seller.len() == 16
                && seller.starts_with("2088")
                && seller.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(config_error("seller_id must be the 16-digit 2088… PID"));
            }
        }
        if !(self.gateway.starts_with("https://") || self.gateway.starts_with("http://")) {
            return Err(config_error("gateway must be an http(s) URL"));
        }
        if self.timeout.is_zero() {
            return Err(config_error("timeout must be more than zero"));
        }
        Ok((SigningKey::new(private), VerifyingKey::new(public)))
    }
}

/// What `alipay.trade.cancel` did to a payment-code trade.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelAction {
    /// The trade was not paid and is closed.
    Closed,
    /// The trade was paid and is refunded in full.
    Refunded,
    /// Alipay knows no such trade: nothing was charged.
    NoTrade,
}

/// A verified answer: its code and the fields of its signed object.
#[derive(Debug)]
struct Answer {
    method: &'static str,
    code: String,
    fields: Map<String, Value>,
    trace_id: Option<String>,
}

impl Answer {
    fn text(&self, name: &str) -> Option<&str> {
        self.fields
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    fn sub_code(&self) -> &str {
        self.text("sub_code").unwrap_or("")
    }

    fn malformed(&self, reason: impl fmt::Display) -> ProviderError {
        malformed(format!(
            "{}: {reason}{}",
            self.method,
            trace(self.trace_id.as_deref())
        ))
    }

    fn required(&self, name: &str) -> ProviderResult<&str> {
        self.text(name)
            .ok_or_else(|| self.malformed(format!("no {name}")))
    }

    fn amount(&self, name: &str) -> ProviderResult<i64> {
        let text = self.required(name)?;
        wire::yuan_to_fen(text)
            .ok_or_else(|| self.malformed(format!("{name} {text:?} is not an exact amount")))
    }

    /// The answer belongs to `out_trade_no` (when it names a trade at all).
    fn for_trade(&self, out_trade_no: &str) -> ProviderResult<()> {
        match self.text("out_trade_no") {
            Some(other) if other != out_trade_no => {
                Err(self.malformed(format!("answers for trade {other}, asked {out_trade_no}")))
            }
            _ => Ok(()),
        }
    }

    /// Whether the service could not say (ask again): `20000`, `isp.*`, `ACQ.SYSTEM_ERROR`.
    fn is_unknown(&self) -> bool {
        let sub = self.sub_code();
        self.code == "20000" || sub.starts_with("isp.") || sub == "ACQ.SYSTEM_ERROR"
    }

    fn unavailable(&self) -> ProviderError {
        ProviderError::Unavailable {
            provider: PROVIDER,
            reason: format!(
                "{}: {} {} {}{}",
                self.method,
                self.code,
                self.sub_code(),
                self.text("sub_msg").or(self.text("msg")).unwrap_or(""),
                trace(self.trace_id.as_deref())
            ),
        }
    }

    fn rejected(&self) -> ProviderError {
        let code = self.text("sub_code").unwrap_or(&self.code).to_owned();
        let message = self
            .text("sub_msg")
            .or(self.text("msg"))
            .unwrap_or("")
            .to_owned();
        ProviderError::Rejected {
            provider: PROVIDER,
            code,
            message,
        }
    }

    /// Success (`10000`) or the error it is.
    fn success(self) -> ProviderResult<Answer> {
        match self.code.as_str() {
            "10000" => Ok(self),
            "10003" => Err(self.unavailable()),
            _ if self.is_unknown() => Err(self.unavailable()),
            _ => Err(self.rejected()),
        }
    }
}

fn trace(trace_id: Option<&str>) -> String {
    trace_id
        .map(|t| format!(" (trace_id {t})"))
        .unwrap_or_default()
}

fn malformed(reason: impl Into<String>) -> ProviderError {
    ProviderError::Malformed {
        provider: PROVIDER,
        reason: reason.into(),
    }
}

fn unavailable(reason: impl Into<String>) -> ProviderError {
    ProviderError::Unavailable {
        provider: PROVIDER,
        reason: reason.into(),
    }
}

fn bad_notification(reason: impl Into<String>) -> ProviderError {
    ProviderError::BadNotification {
        provider: PROVIDER,
        reason: reason.into(),
    }
}

/// A subject as Alipay takes it: no `/`, `=` or `&`, at most 256 characters.
fn subject(description: &str) -> String {
    let cleaned: String = description
        .chars()
        .map(|c| if matches!(c, '/' | '=' | '&') { ' ' } else { c })
        .take(256)
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        "-".into()
    } else {
        cleaned.into()
    }
}

fn amount_of(fen: i64) -> ProviderResult<String> {
    wire::fen_to_yuan(fen).ok_or_else(|| ProviderError::Rejected {
        provider: PROVIDER,
        code: "INVALID_AMOUNT".into(),
        message: format!("{fen} fen is no amount to charge or refund"),
    })
}

/// The Alipay open-platform client (see the module documentation).
#[derive(Clone)]
pub struct Alipay {
    config: AlipayConfig,
    signer: SigningKey<Sha256>,
    verifier: VerifyingKey<Sha256>,
    http: reqwest::Client,
}

impl fmt::Debug for Alipay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Alipay")
            .field("config", &self.config)
            .finish()
    }
}

impl Alipay {
    /// A client for these settings ([`AlipayConfig::check`]ed).
    pub fn new(config: AlipayConfig) -> ProviderResult<Alipay> {
        let (signer, verifier) = config.keys()?;
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .build()
            .map_err(|e| config_error(format!("HTTP client: {e}")))?;
        Ok(Alipay {
            config,
            signer,
            verifier,
            http,
        })
    }

    /// The settings.
    pub fn config(&self) -> &AlipayConfig {
        &self.config
    }

    /// The signed common and method parameters of a request.
    fn signed_params(
        &self,
        method: &str,
        biz_content: &Value,
        notify_url: Option<&str>,
        return_url: Option<&str>,
        now: DateTime<Utc>,
    ) -> BTreeMap<&'static str, String> {
        let mut params: BTreeMap<&'static str, String> = BTreeMap::new();
        params.insert("app_id", self.config.app_id.clone());
        params.insert("method", method.to_owned());
        params.insert("format", "JSON".into());
        params.insert("charset", "utf-8".into());
        params.insert("sign_type", "RSA2".into());
        params.insert("timestamp", wire::beijing_time(now));
        params.insert("version", "1.0".into());
        params.insert("biz_content", biz_content.to_string());
        if let Some(url) = notify_url.filter(|u| !u.is_empty()) {
            params.insert("notify_url", url.to_owned());
        }
        if let Some(url) = return_url.filter(|u| !u.is_empty()) {
            params.insert("return_url", url.to_owned());
        }
        let content = wire::sign_content(params.iter().map(|(k, v)| (*k, v.as_str())));
        params.insert("sign", wire::rsa2_sign(&self.signer, &content));
        params
    }

    /// Sends one request and returns its verified answer, whatever its code.
    async fn call(
        &self,
        method: &'static str,
        biz_content: Value,
        notify_url: Option<&str>,
    ) -> ProviderResult<Answer> {
        let params = self.signed_params(method, &biz_content, notify_url, None, Utc::now());
        let form = serde_urlencoded::to_string(&params)
            .map_err(|e| config_error(format!("request form: {e}")))?;
        let sent = self
            .http
            .post(&self.config.gateway)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .body(form)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                let reason = format!("{method}: {}", describe_http_error(&e));
                tracing::warn!(provider = PROVIDER, method, %reason, "gateway unreachable");
                return Err(unavailable(reason));
            }
        };
        let status = response.status();
        let trace_id = response
            .headers()
            .get("trace_id")
            .or_else(|| response.headers().get("alipay-trace-id"))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            let reason = format!("{method}: HTTP {status}{}", trace(trace_id.as_deref()));
            tracing::warn!(provider = PROVIDER, method, %reason, "gateway error");
            return Err(unavailable(reason));
        }
        let body = read_capped(response, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| unavailable(format!("{method}: {e}{}", trace(trace_id.as_deref()))))?;
        if !status.is_success() {
            return Err(malformed(format!(
                "{method}: HTTP {status}{}",
                trace(trace_id.as_deref())
            )));
        }
        let answer = self.verified(method, &body, trace_id.clone()).inspect_err(
            |e| tracing::warn!(provider = PROVIDER, method, error = %e, "unusable answer"),
        )?;
        if answer.code != "10000" {
            tracing::info!(
                provider = PROVIDER,
                method,
                code = %answer.code,
                sub_code = answer.sub_code(),
                trace_id = trace_id.as_deref().unwrap_or(""),
                "answered"
            );
        }
        Ok(answer)
    }

    /// Parses and verifies an answer body.
    fn verified(
        &self,
        method: &'static str,
        body: &[u8],
        trace_id: Option<String>,
    ) -> ProviderResult<Answer> {
        let with_trace =
            |reason: String| malformed(format!("{method}: {reason}{}", trace(trace_id.as_deref())));
        let text = std::str::from_utf8(body).map_err(|_| with_trace("not UTF-8".into()))?;
        let key = format!("{}_response", method.replace('.', "_"));
        let signed = wire::split_answer(text, &key).map_err(with_trace)?;
        let fields: Map<String, Value> =
            serde_json::from_str(&signed.raw).map_err(|e| with_trace(format!("{key}: {e}")))?;
        let code = fields
            .get("code")
            .and_then(Value::as_str)
            .ok_or_else(|| with_trace(format!("{key} has no code")))?
            .to_owned();
        match &signed.sign {
            Some(sign) => {
                if !wire::verify_answer(&self.verifier, &signed.raw, sign) {
                    return Err(with_trace("the signature does not verify".into()));
                }
            }
            // The gateway does not sign what it refuses before the method runs (unknown app,
            // …): such an answer can only say the request was not carried out.
            None if signed.gateway_error && code.starts_with('4') => {}
            None => return Err(with_trace("the answer is not signed".into())),
        }
        Ok(Answer {
            method,
            code,
            fields,
            trace_id,
        })
    }

    /// Starts a payment: a QR code (`alipay.trade.precreate`) or the mobile-browser cashier
    /// (`alipay.trade.wap.pay`). Alipay does not pay inside WeChat.
    pub async fn prepay(&self, request: &PrepayRequest) -> ProviderResult<Prepay> {
        match &request.scene {
            PrepayScene::QrCode => self.precreate(request).await,
            PrepayScene::MobileWeb { return_url, .. } => self.wap_pay(request, return_url),
            PrepayScene::WechatJsapi { .. } => Err(ProviderError::Rejected {
                provider: PROVIDER,
                code: "SCENE_NOT_SUPPORTED".into(),
                message: "Alipay does not pay inside WeChat".into(),
            }),
        }
    }

    /// `alipay.trade.precreate`: the QR code the shopper scans with Alipay.
    pub async fn precreate(&self, request: &PrepayRequest) -> ProviderResult<Prepay> {
        let mut biz = json!({
            "out_trade_no": request.out_trade_no,
            "total_amount": amount_of(request.amount_fen)?,
            "subject": subject(&request.description),
            "time_expire": wire::beijing_time(request.expires_at),
        });
        if let Some(seller) = &self.config.seller_id {
            biz["seller_id"] = json!(seller);
        }
        let answer = self
            .call("alipay.trade.precreate", biz, Some(&request.notify_url))
            .await?
            .success()?;
        answer.for_trade(&request.out_trade_no)?;
        let code_url = answer.required("qr_code")?.to_owned();
        Ok(Prepay::QrCode { code_url })
    }

    /// `alipay.trade.wap.pay`: the signed gateway URL the shopper's mobile browser opens (no
    /// call is made; Alipay's cashier page takes it from there, then sends the shopper to
    /// `return_url`).
    pub fn wap_pay(&self, request: &PrepayRequest, return_url: &str) -> ProviderResult<Prepay> {
        self.wap_pay_at(request, return_url, Utc::now())
    }

    fn wap_pay_at(
        &self,
        request: &PrepayRequest,
        return_url: &str,
        now: DateTime<Utc>,
    ) -> ProviderResult<Prepay> {
        let mut biz = json!({
            "out_trade_no": request.out_trade_no,
            "total_amount": amount_of(request.amount_fen)?,
            "subject": subject(&request.description),
            "product_code": "QUICK_WAP_WAY",
            "time_expire": wire::beijing_time(request.expires_at),
            "quit_url": return_url,
        });
        if let Some(seller) = &self.config.seller_id {
            biz["seller_id"] = json!(seller);
        }
        let params = self.signed_params(
            "alipay.trade.wap.pay",
            &biz,
            Some(&request.notify_url),
            Some(return_url),
            now,
        );
        let query = serde_urlencoded::to_string(&params)
            .map_err(|e| config_error(format!("wap.pay URL: {e}")))?;
        let separator = if self.config.gateway.contains('?') {
            '&'
        } else {
            '?'
        };
        Ok(Prepay::Redirect {
            url: format!("{}{separator}{query}", self.config.gateway),
        })
    }

    /// `alipay.trade.pay` (`scene=bar_code`): charges the payment code a lane scanned.
    /// `10003` is [`CodePayOutcome::UserPaying`] (query until it settles, cancel if it never
    /// does); a `40004` refusal is [`CodePayOutcome::Failed`]; a timeout or an unknown outcome is
    /// [`ProviderError::Unavailable`] (query, then cancel), never a guess.
    pub async fn code_pay(&self, request: &CodePayRequest) -> ProviderResult<CodePayOutcome> {
        let mut biz = json!({
            "out_trade_no": request.out_trade_no,
            "scene": "bar_code",
            "auth_code": request.auth_code,
            "product_code": "FACE_TO_FACE_PAYMENT",
            "subject": subject(&request.description),
            "total_amount": amount_of(request.amount_fen)?,
            "store_id": request.store_id,
            "terminal_id": request.device_id,
        });
        if let Some(seller) = &self.config.seller_id {
            biz["seller_id"] = json!(seller);
        }
        let answer = self.call("alipay.trade.pay", biz, None).await?;
        answer.for_trade(&request.out_trade_no)?;
        match answer.code.as_str() {
            "10000" => Ok(CodePayOutcome::Paid(paid_trade(
                &answer,
                &request.out_trade_no,
                "gmt_payment",
            )?)),
            "10003" => Ok(CodePayOutcome::UserPaying),
            _ if answer.is_unknown() => Err(answer.unavailable()),
            "40004" if answer.sub_code() == "ACQ.TRADE_HAS_SUCCESS" => {
                // Paid already (a retry of a charge that went through): its details come from
                // a query.
                match self.query(&request.out_trade_no).await? {
                    TradeState::Paid(trade) => Ok(CodePayOutcome::Paid(trade)),
                    other => Err(unavailable(format!(
                        "alipay.trade.pay: ACQ.TRADE_HAS_SUCCESS but the query says {other:?}"
                    ))),
                }
            }
            "40004" => Ok(CodePayOutcome::Failed {
                code: answer.sub_code().to_owned(),
                message: answer
                    .text("sub_msg")
                    .or(answer.text("msg"))
                    .unwrap_or("")
                    .to_owned(),
            }),
            _ => Err(answer.rejected()),
        }
    }

    /// `alipay.trade.query`: the trade's state. A trade Alipay does not know
    /// (`ACQ.TRADE_NOT_EXIST`: a QR nobody scanned yet, a charge that never arrived) is
    /// [`TradeState::NotPaid`]. `TRADE_CLOSED` is [`TradeState::Refunded`] when the trade had
    /// been paid (`send_pay_date`), else [`TradeState::Closed`].
    pub async fn query(&self, out_trade_no: &str) -> ProviderResult<TradeState> {
        let biz = json!({ "out_trade_no": out_trade_no });
        let answer = self.call("alipay.trade.query", biz, None).await?;
        if answer.code == "40004" && answer.sub_code() == "ACQ.TRADE_NOT_EXIST" {
            return Ok(TradeState::NotPaid);
        }
        let answer = answer.success()?;
        answer.for_trade(out_trade_no)?;
        match answer.required("trade_status")? {
            "WAIT_BUYER_PAY" => Ok(TradeState::NotPaid),
            "TRADE_SUCCESS" | "TRADE_FINISHED" => Ok(TradeState::Paid(paid_trade(
                &answer,
                out_trade_no,
                "send_pay_date",
            )?)),
            "TRADE_CLOSED" if answer.text("send_pay_date").is_some() => Ok(TradeState::Refunded),
            "TRADE_CLOSED" => Ok(TradeState::Closed),
            other => Err(answer.malformed(format!("unknown trade_status {other:?}"))),
        }
    }

    /// `alipay.trade.close`: closes an unpaid trade. A trade Alipay does not know (a QR nobody
    /// scanned) needs no closing; a paid one is refused (`ACQ.TRADE_STATUS_ERROR`).
    pub async fn close(&self, out_trade_no: &str) -> ProviderResult<()> {
        let biz = json!({ "out_trade_no": out_trade_no });
        let answer = self.call("alipay.trade.close", biz, None).await?;
        if answer.code == "40004" && answer.sub_code() == "ACQ.TRADE_NOT_EXIST" {
            return Ok(());
        }
        answer.success()?.for_trade(out_trade_no)
    }

    /// `alipay.trade.cancel`: reverses a payment-code trade whatever its state (closes it
    /// unpaid, or refunds it in full). `retry_flag=Y` is [`ProviderError::Unavailable`]: call
    /// again.
    pub async fn cancel(&self, out_trade_no: &str) -> ProviderResult<CancelAction> {
        let biz = json!({ "out_trade_no": out_trade_no });
        let answer = self.call("alipay.trade.cancel", biz, None).await?;
        if answer.text("retry_flag") == Some("Y") {
            return Err(answer.unavailable());
        }
        let answer = answer.success()?;
        answer.for_trade(out_trade_no)?;
        match answer.text("action") {
            Some("close") => Ok(CancelAction::Closed),
            Some("refund") => Ok(CancelAction::Refunded),
            None => Ok(CancelAction::NoTrade),
            Some(other) => Err(answer.malformed(format!("unknown action {other:?}"))),
        }
    }

    /// `alipay.trade.refund` (`out_request_no` is our refund id, so a retry refunds once).
    /// `fund_change=Y`: the money moved ([`RefundState::Success`]); `N`: a repeat, or not yet —
    /// [`RefundState::Processing`], settled by [`Alipay::refund_query`].
    pub async fn refund(&self, request: &RefundRequest) -> ProviderResult<RefundOutcome> {
        let mut biz = json!({
            "out_trade_no": request.out_trade_no,
            "refund_amount": amount_of(request.amount_fen)?,
            "out_request_no": request.out_refund_no,
            "refund_reason": subject(&request.reason),
        });
        if let Some(trade_no) = &request.transaction_id {
            biz["trade_no"] = json!(trade_no);
        }
        let answer = self
            .call("alipay.trade.refund", biz, Some(&request.notify_url))
            .await?
            .success()?;
        answer.for_trade(&request.out_trade_no)?;
        let state = match answer.required("fund_change")? {
            "Y" => RefundState::Success,
            "N" => RefundState::Processing,
            other => return Err(answer.malformed(format!("fund_change {other:?}"))),
        };
        Ok(RefundOutcome {
            out_refund_no: request.out_refund_no.clone(),
            refund_id: None,
            state,
            amount_fen: request.amount_fen,
        })
    }

    /// `alipay.trade.fastpay.refund.query`: a refund's state. `REFUND_SUCCESS` is
    /// [`RefundState::Success`]; no `refund_status` means Alipay has no such refund or it
    /// failed ([`RefundState::Closed`]: the same refund id may be sent again, it refunds once).
    pub async fn refund_query(
        &self,
        out_trade_no: &str,
        out_refund_no: &str,
    ) -> ProviderResult<RefundOutcome> {
        let biz = json!({ "out_trade_no": out_trade_no, "out_request_no": out_refund_no });
        let answer = self
            .call("alipay.trade.fastpay.refund.query", biz, None)
            .await?
            .success()?;
        answer.for_trade(out_trade_no)?;
        if let Some(no) = answer.text("out_request_no") {
            if no != out_refund_no {
                return Err(
                    answer.malformed(format!("answers for refund {no}, asked {out_refund_no}"))
                );
            }
        }
        match answer.text("refund_status") {
            Some("REFUND_SUCCESS") => Ok(RefundOutcome {
                out_refund_no: out_refund_no.to_owned(),
                refund_id: None,
                state: RefundState::Success,
                amount_fen: answer.amount("refund_amount")?,
            }),
            None => Ok(RefundOutcome {
                out_refund_no: out_refund_no.to_owned(),
                refund_id: None,
                state: RefundState::Closed,
                amount_fen: 0,
            }),
            Some(other) => Err(answer.malformed(format!("unknown refund_status {other:?}"))),
        }
    }

    /// The trade bill of a day (Beijing time): `alipay.data.dataservice.bill.downloadurl.query`
    /// (`bill_type=trade`), then the ZIP at the URL it gives, its GBK detail CSV read into
    /// [`BillLine`]s. A bill Alipay has not made yet (`isp.bill_not_exist`) is
    /// [`ProviderError::Unavailable`]: ask later. A line that does not read fails the bill.
    pub async fn bill(&self, date: NaiveDate) -> ProviderResult<Vec<BillLine>> {
        let biz = json!({ "bill_type": "trade", "bill_date": date.format("%Y-%m-%d").to_string() });
        let answer = self
            .call("alipay.data.dataservice.bill.downloadurl.query", biz, None)
            .await?
            .success()?;
        let url = answer.required("bill_download_url")?.to_owned();
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| unavailable(format!("bill download: {}", describe_http_error(&e))))?;
        let status = response.status();
        if status.is_server_error() {
            return Err(unavailable(format!("bill download: HTTP {status}")));
        }
        if !status.is_success() {
            return Err(malformed(format!("bill download: HTTP {status}")));
        }
        let bytes = read_capped(response, MAX_BILL_BYTES)
            .await
            .map_err(|e| unavailable(format!("bill download: {e}")))?;
        bill::parse_bill_zip(&bytes).map_err(|e| malformed(format!("bill: {e}")))
    }

    /// Verifies an asynchronous notification (the raw `application/x-www-form-urlencoded`
    /// body Alipay POSTs to `notify_url`): `sign` (RSA2, Alipay's public key) over the sorted
    /// parameters without `sign` and `sign_type` (values URL-decoded), `app_id` (and
    /// `seller_id` when configured) ours. Then: `gmt_refund` or `refund_fee` present →
    /// [`Notification::Refund`] (`out_biz_no` is our refund id; `refund_fee` is the trade's
    /// refunded total so far; one without `out_biz_no`, the full refund of a reversal by
    /// [`Alipay::cancel`], is [`ProviderError::Malformed`]: the reversal is known from
    /// `cancel`'s answer); `TRADE_SUCCESS` / `TRADE_FINISHED` → [`Notification::Paid`];
    /// `TRADE_CLOSED` → [`Notification::Closed`]. A replay verifies the same (the caller
    /// de-duplicates by `notify_id` and by payment). Answer [`NOTIFICATION_TAKEN`] once it is
    /// applied, [`NOTIFICATION_NOT_TAKEN`] otherwise.
    pub fn verify_notification(&self, form_body: &[u8]) -> ProviderResult<Notification> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(form_body)
            .map_err(|e| bad_notification(format!("not a form: {e}")))?;
        let mut params: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in pairs {
            if params.contains_key(&name) {
                return Err(bad_notification(format!("{name} given twice")));
            }
            params.insert(name, value);
        }
        let sign = params
            .get("sign")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad_notification("no sign"))?;
        if let Some(sign_type) = params.get("sign_type") {
            if sign_type != "RSA2" {
                return Err(bad_notification(format!("sign_type {sign_type}")));
            }
        }
        let content = wire::sign_content(
            params
                .iter()
                .filter(|(name, _)| name.as_str() != "sign_type")
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        if !wire::rsa2_verify(&self.verifier, &content, sign) {
            return Err(bad_notification("the signature does not verify"));
        }
        let field = |name: &str| {
            params
                .get(name)
                .map(String::as_str)
                .filter(|v| !v.is_empty())
        };
        if field("app_id") != Some(self.config.app_id.as_str()) {
            return Err(bad_notification(format!(
                "app_id {:?} is not ours",
                field("app_id").unwrap_or("")
            )));
        }
        if let Some(seller) = &self.config.seller_id {
            if field("seller_id") != Some(seller.as_str()) {
                return Err(bad_notification(format!(
                    "seller_id {:?} is not ours",
                    field("seller_id").unwrap_or("")
                )));
            }
        }
        let required =
            |name: &str| field(name).ok_or_else(|| malformed(format!("notification: no {name}")));
        let amount = |name: &str| -> ProviderResult<i64> {
            let text = required(name)?;
            wire::yuan_to_fen(text).ok_or_else(|| {
                malformed(format!(
                    "notification: {name} {text:?} is not an exact amount"
                ))
            })
        };
        let notify_id = required("notify_id")?.to_owned();
        let out_trade_no = required("out_trade_no")?.to_owned();
        let trade_status = required("trade_status")?;
        if field("gmt_refund").is_some() || field("refund_fee").is_some() {
            return Ok(Notification::Refund {
                notify_id,
                out_trade_no,
                refund: RefundOutcome {
                    out_refund_no: required("out_biz_no")?.to_owned(),
                    refund_id: None,
                    state: RefundState::Success,
                    amount_fen: amount("refund_fee")?,
                },
            });
        }
        match trade_status {
            "TRADE_SUCCESS" | "TRADE_FINISHED" => {
                let paid_at =
                    match field("gmt_payment") {
                        None => None,
                        Some(text) => Some(wire::parse_beijing_time(text).ok_or_else(|| {
                            malformed(format!("notification: gmt_payment {text:?}"))
                        })?),
                    };
                Ok(Notification::Paid {
                    notify_id,
                    trade: PaidTrade {
                        out_trade_no,
                        transaction_id: required("trade_no")?.to_owned(),
                        amount_fen: amount("total_amount")?,
                        currency: "CNY".into(),
                        paid_at,
                    },
                })
            }
            "TRADE_CLOSED" => Ok(Notification::Closed {
                notify_id,
                out_trade_no,
            }),
            other => Err(malformed(format!("notification: trade_status {other:?}"))),
        }
    }
}

/// The paid trade an answer describes (`time_field` is when it was paid).
fn paid_trade(answer: &Answer, out_trade_no: &str, time_field: &str) -> ProviderResult<PaidTrade> {
    let paid_at = match answer.text(time_field) {
        None => None,
        Some(text) => Some(
            wire::parse_beijing_time(text)
                .ok_or_else(|| answer.malformed(format!("{time_field} {text:?}")))?,
        ),
    };
    Ok(PaidTrade {
        out_trade_no: out_trade_no.to_owned(),
        transaction_id: answer.required("trade_no")?.to_owned(),
        amount_fen: answer.amount("total_amount")?,
        currency: "CNY".into(),
        paid_at,
    })
}

fn describe_http_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        format!("cannot connect: {e}")
    } else {
        e.to_string()
    }
}

/// The body, refusing more than `limit` bytes.
async fn read_capped(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    return Err(format!("the answer is larger than {limit} bytes"));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => return Err(format!("reading the answer: {}", describe_http_error(&e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    /// A real notification Alipay sent (trade_status_sync, TRADE_SUCCESS) and the Alipay public
    /// key it verifies with, from the tests of Alipay's Node.js SDK (`alipay-sdk-nodejs-all`,
    /// `test/alipay.test.ts`, "checkNotifySign … verify sign should delete sign_type"), put back
    /// into the form body Alipay posts.
    const REAL_NOTIFICATION_KEY: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAqObrdC7hrgAVM98tK0nv3hSQRGGKT4lBsQjHiGjeYZjOPIPHR5knm2jnnz/YGIXIofVHkA/tAlBAd5DrY7YpvI4tP5EONLtZKC2ghBMx7McI2wRD0xiqzxOQr1FuhZGJ8/AUokBzJrzY+aGX2xcOrxFYRlFilvVLTXg4LWjR1tdPkO6+i7wQZAIVMClPkwVRZEbaERRHlKqTzv2gGv5rDU8gRoe1LeaN+6BlbTqHWkQcNCUNrA8C6l17XAXGKDsm/9TFWwO8EPHHHCaQdjtV5/FdcWIt+L8SR1ss7EXTjYDFtxcKVv9rEoY1lX8T4mX+GbXfZHraG5NCF1+XioL5JwIDAQAB";

    fn real_notification() -> Vec<(&'static str, &'static str)> {
        vec![
            ("gmt_create", "2019-08-15 15:56:22"),
            ("charset", "utf-8"),
            ("seller_email", "z97-yuquerevenue@service.aliyun.com"),
            ("subject", "语雀空间 500人规模"),
            ("sign", "QfTb8tqE1BMhS5qAnXtvsF3/jBkEvu9q9en0pdbBUDDjvKycZhQb7h8GDs4FKfi049PynaNuatxSgLb/nLWZpXyyh0LEWdK2S6Ri7nPwrVgOs08zugLO20vOQz44y3ti2Ncm8/wZts1Fr2gZ7pShnVX3d1B50hbsXnObT1r/U8ONNQjWXd0HIul4TG+Q3fm3svmSvFEy0WnzuhcyHPX5Gm4ELNctL6Qd5YniGJFNcc7kopHYtI/XD9YCKCH6Ct02rzUs9i11C9CsadtZn+WhxF26Dqt9sGEFajkJ8cxUTLi8+VCpLHsgPE8P0y095uQcDdK0YjCh4x7wVSov+lrmOQ=="),
            ("buyer_id", "2088102534368455"),
            ("invoice_amount", "0.10"),
            ("notify_id", "2019081500222155624068450559358070"),
            ("fund_bill_list", r#"[{"amount":"0.10","fundChannel":"ALIPAYACCOUNT"}]"#),
            ("notify_type", "trade_status_sync"),
            ("trade_status", "TRADE_SUCCESS"),
            ("receipt_amount", "0.10"),
            ("buyer_pay_amount", "0.10"),
            ("sign_type", "RSA2"),
            ("app_id", "2019073166072302"),
            ("seller_id", "2088531891668739"),
            ("gmt_payment", "2019-08-15 15:56:24"),
            ("notify_time", "2019-08-15 15:56:25"),
            ("version", "1.0"),
            ("out_trade_no", "20190815155618536-564-57"),
            ("total_amount", "0.10"),
            ("trade_no", "2019081522001468450512505578"),
            ("auth_app_id", "2019073166072302"),
            ("buyer_logon_id", "xud***@126.com"),
            ("point_amount", "0.00"),
        ]
    }

    /// An app key for the client side of these tests (its own key is never what verifies).
    fn app_key_pem() -> &'static str {
        static KEY: OnceLock<String> = OnceLock::new();
        KEY.get_or_init(|| include_str!("alipay/testdata/fixed-key.pem").to_owned())
    }

    fn client_for(app_id: &str, alipay_key: &str, seller: Option<&str>) -> Alipay {
        let mut config = AlipayConfig::new(app_id, app_key_pem(), alipay_key);
        config.seller_id = seller.map(str::to_owned);
        Alipay::new(config).expect("a client")
    }

    fn form(params: &[(&str, &str)]) -> Vec<u8> {
        serde_urlencoded::to_string(params)
            .expect("a form")
            .into_bytes()
    }

    #[test]
    fn a_real_notification_verifies() {
        let client = client_for(
            "2019073166072302",
            REAL_NOTIFICATION_KEY,
            Some("2088531891668739"),
        );
        let notification = client
            .verify_notification(&form(&real_notification()))
            .expect("verifies");
        match notification {
            Notification::Paid { notify_id, trade } => {
                assert_eq!(notify_id, "2019081500222155624068450559358070");
                assert_eq!(trade.out_trade_no, "20190815155618536-564-57");
                assert_eq!(trade.transaction_id, "2019081522001468450512505578");
                assert_eq!(trade.amount_fen, 10);
                assert_eq!(
                    trade.paid_at.map(|t| t.to_rfc3339()).as_deref(),
                    Some("2019-08-15T07:56:24+00:00")
                );
            }
            other => panic!("not a payment: {other:?}"),
        }
    }

    #[test]
    fn a_real_notification_tampered_or_misaddressed_is_refused() {
        let client = client_for("2019073166072302", REAL_NOTIFICATION_KEY, None);
        let tampered: Vec<_> = real_notification()
            .into_iter()
            .map(|(k, v)| {
                if k == "total_amount" {
                    (k, "0.01")
                } else {
                    (k, v)
                }
            })
            .collect();
        assert!(matches!(
            client.verify_notification(&form(&tampered)),
            Err(ProviderError::BadNotification { .. })
        ));
        let other_app = client_for("2019000000000000", REAL_NOTIFICATION_KEY, None);
        assert!(matches!(
            other_app.verify_notification(&form(&real_notification())),
            Err(ProviderError::BadNotification { .. })
        ));
        let other_seller = client_for(
            "2019073166072302",
            REAL_NOTIFICATION_KEY,
            Some("2088000000000001"),
        );
        assert!(matches!(
            other_seller.verify_notification(&form(&real_notification())),
            Err(ProviderError::BadNotification { .. })
        ));
        let unsigned: Vec<_> = real_notification()
            .into_iter()
            .filter(|(k, _)| *k != "sign")
            .collect();
        assert!(client.verify_notification(&form(&unsigned)).is_err());
        let mut twice = real_notification();
        twice.push(("total_amount", "0.01"));
        assert!(client.verify_notification(&form(&twice)).is_err());
    }

    #[test]
    fn settings_are_checked_by_name() {
        let good = AlipayConfig::new("2019073166072302", app_key_pem(), REAL_NOTIFICATION_KEY);
        good.check().expect("good settings");
        let named = |config: AlipayConfig, name: &str| match config.check() {
            Err(ProviderError::Config { reason, .. }) => assert!(reason.contains(name), "{reason}"),
            other => panic!("{name}: {other:?}"),
        };
        named(
            AlipayConfig {
                app_id: String::new(),
                ..good.clone()
            },
            "app_id",
        );
        named(
            AlipayConfig {
                app_private_key: String::new(),
                ..good.clone()
            },
            "app_private_key",
        );
        named(
            AlipayConfig {
                app_private_key: "MIIB".into(),
                ..good.clone()
            },
            "app_private_key",
        );
        named(
            AlipayConfig {
                alipay_public_key: " ".into(),
                ..good.clone()
            },
            "alipay_public_key",
        );
        named(
            AlipayConfig {
                alipay_public_key: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
                    .into(),
                ..good.clone()
            },
            "alipay_public_key",
        );
        named(
            AlipayConfig {
                seller_id: Some("123".into()),
                ..good.clone()
            },
            "seller_id",
        );
        named(
            AlipayConfig {
                gateway: "ftp://x".into(),
                ..good.clone()
            },
            "gateway",
        );
        let own = wire::parse_private_key(app_key_pem())
            .expect("key")
            .to_public_key();
        let own_pem =
            rsa::pkcs8::EncodePublicKey::to_public_key_pem(&own, rsa::pkcs8::LineEnding::LF)
                .expect("pem");
        named(
            AlipayConfig {
                alipay_public_key: own_pem,
                ..good.clone()
            },
            "alipay_public_key",
        );
        assert!(!format!("{good:?}").contains("PRIVATE"));
    }

    #[test]
    fn a_wap_pay_url_carries_the_signed_request() {
        let client = client_for("2019073166072302", REAL_NOTIFICATION_KEY, None);
        let now = wire::parse_beijing_time("2024-01-02 10:00:00").expect("time");
        let request = PrepayRequest {
            out_trade_no: "T1".into(),
            description: "a/b=c&d".into(),
            amount_fen: 1234,
            notify_url: "https://shop.example/notify".into(),
            expires_at: now + chrono::Duration::minutes(15),
            scene: PrepayScene::MobileWeb {
                client_ip: "10.0.0.1".into(),
                return_url: "https://shop.example/orders/1".into(),
            },
        };
        let Prepay::Redirect { url } = client
            .wap_pay_at(&request, "https://shop.example/orders/1", now)
            .expect("a URL")
        else {
            panic!("not a redirect")
        };
        let query = url
            .strip_prefix(&format!("{PRODUCTION_GATEWAY}?"))
            .expect("the gateway");
        let params: BTreeMap<String, String> = serde_urlencoded::from_str(query).expect("a query");
        assert_eq!(params["method"], "alipay.trade.wap.pay");
        assert_eq!(params["timestamp"], "2024-01-02 10:00:00");
        assert_eq!(params["return_url"], "https://shop.example/orders/1");
        let biz: Value = serde_json::from_str(&params["biz_content"]).expect("JSON");
        assert_eq!(biz["total_amount"], "12.34");
        assert_eq!(biz["subject"], "a b c d");
        assert_eq!(biz["time_expire"], "2024-01-02 10:15:00");
        let key = wire::parse_private_key(app_key_pem())
            .expect("key")
            .to_public_key();
        let content = wire::sign_content(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        assert!(wire::rsa2_verify(
            &VerifyingKey::<Sha256>::new(key),
            &content,
            &params["sign"]
        ));
    }

    proptest! {
        #[test]
        fn notifications_never_panic(body in proptest::collection::vec(any::<u8>(), 0..400), text in "([a-z_]{1,10}=[^&]{0,20}&?){0,8}") {
            let client = client_for("2019073166072302", REAL_NOTIFICATION_KEY, None);
            let _ = client.verify_notification(&body);
            let _ = client.verify_notification(text.as_bytes());
        }

        #[test]
        fn answers_never_panic(body in proptest::collection::vec(any::<u8>(), 0..400), text in r#"\{"alipay_trade_query_response":\{("[a-z_]{1,10}":"[^"]{0,12}",?){0,6}\}(,"sign":"[A-Za-z0-9+/=]{0,20}")?\}"#) {
            let client = client_for("2019073166072302", REAL_NOTIFICATION_KEY, None);
            let _ = client.verified("alipay.trade.query", &body, None);
            let _ = client.verified("alipay.trade.query", text.as_bytes(), None);
        }
    }
}
