//! WeChat Pay API v3 for a direct merchant (直连商户): a [`WechatPay`] client over HTTP that
//! signs every request with the merchant's API key, verifies every answer with WeChat Pay's key,
//! and answers the provider-neutral types of this crate.
//!
//! * prepay: JSAPI / mini-program (`/v3/pay/transactions/jsapi` → the signed `requestPayment`
//!   parameters, [`Prepay::InApp`]), H5 (`/v3/pay/transactions/h5` → `h5_url`,
//!   [`Prepay::Redirect`]) and Native (`/v3/pay/transactions/native` → `code_url`,
//!   [`Prepay::QrCode`]);
//! * the payment code at a lane (`/v3/pay/transactions/codepay` → [`CodePayOutcome`]), its
//!   reversal (`…/out-trade-no/{no}/reverse`), the trade's query and closing;
//! * refunds (`/v3/refund/domestic/refunds`) and their query;
//! * notifications ([`WechatPay::verify_notification`]): signature headers verified, the
//!   `resource` decrypted (AEAD_AES_256_GCM with the API v3 key), mapped to [`Notification`];
//!   answered with [`NotificationAnswer`];
//! * the daily trade bill (`/v3/bill/tradebill`, downloaded, its SHA-1 checked, parsed into
//!   [`BillLine`]s);
//! * the official account's web authorisation ([`oauth`]: `snsapi_base`), which gives the openid
//!   a JSAPI prepay is for.
//!
//! WeChat Pay's key is either the "WeChat Pay public key" (a PEM and its id `PUB_KEY_ID_…`,
//! which `Wechatpay-Serial` then carries) or platform certificates (PEM; each under its serial
//! number), or both during a switch-over. What is final and what is unknown follows
//! [`ProviderError`]: a timeout, a refused connection, 5xx or 429 is `Unavailable` (ask again,
//! never guess); an answer that does not verify or parse is `Malformed`; a 4xx `{code, message}`
//! is `Rejected` (for the payment code: [`CodePayOutcome::Failed`]), with WeChat Pay's
//! `Request-ID` in the message and the log.

mod bill;
mod crypto;
pub mod oauth;
mod wire;

use std::time::{Duration, SystemTime};

use chrono::{NaiveDate, SecondsFormat, Utc};
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::json;
use sha1::Digest;

pub use bill::{parse_trade_bill, parse_yuan};
pub use crypto::{MAX_SKEW_SECS, SCHEME};
pub use oauth::{WechatOauth, WechatOauthConfig};

use crate::{
    BillLine, CodePayOutcome, CodePayRequest, Notification, Prepay, PrepayRequest, PrepayScene,
    ProviderError, ProviderResult, RefundOutcome, RefundRequest, TradeState,
};
use bill::beijing;
use crypto::{MerchantSigner, PlatformKeys, SignedBy};

/// The provider's name in errors and logs.
pub const PROVIDER: &str = "wechat_pay";

/// WeChat Pay's API address (the main domain; `https://api2.mch.weixin.qq.com` is the backup).
pub const DEFAULT_BASE_URL: &str = "https://api.mch.weixin.qq.com";

/// The default time allowed for one call, answer included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest API answer read (a trade, a refund): 1 MiB.
const MAX_ANSWER_BYTES: usize = 1 << 20;
/// The largest bill file read: 256 MiB.
const MAX_BILL_BYTES: usize = 256 << 20;

/// A merchant's WeChat Pay settings. Secrets are held as text (the server reads them from files
/// or the environment); `Debug` shows none of them.
#[derive(Clone)]
pub struct WechatPayConfig {
    /// The API's address, [`DEFAULT_BASE_URL`] unless a test points it at a fake.
    pub base_url: String,
    /// The merchant id (商户号), digits.
    pub mch_id: String,
    /// The app id the payments are made for (公众号 / 小程序 AppID).
    pub app_id: String,
    /// The merchant's API private key (`apiclient_key.pem`, PKCS#8 PEM).
    pub merchant_private_key_pem: String,
    /// The serial number of the merchant's API certificate (hex).
    pub merchant_serial_no: String,
    /// The API v3 key (APIv3密钥): 32 bytes.
    pub api_v3_key: String,
    /// The WeChat Pay public key (`pub_key.pem`); empty when not used.
    pub wechatpay_public_key_pem: String,
    /// Its id, `PUB_KEY_ID_…`; empty when not used.
    pub wechatpay_public_key_id: String,
    /// Platform certificates (one or more `BEGIN CERTIFICATE` blocks); empty when not used.
    /// Each is known under its own serial number.
    pub platform_certificates_pem: String,
    /// The time allowed for one call.
    pub timeout: Duration,
}

impl Default for WechatPayConfig {
    fn default() -> Self {
        WechatPayConfig {
            base_url: DEFAULT_BASE_URL.into(),
            mch_id: String::new(),
            app_id: String::new(),
            merchant_private_key_pem: String::new(),
            merchant_serial_no: String::new(),
            api_v3_key: String::new(),
            wechatpay_public_key_pem: String::new(),
            wechatpay_public_key_id: String::new(),
            platform_certificates_pem: String::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl std::fmt::Debug for WechatPayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WechatPayConfig")
            .field("base_url", &self.base_url)
            .field("mch_id", &self.mch_id)
            .field("app_id", &self.app_id)
            .field("merchant_serial_no", &self.merchant_serial_no)
            .field("wechatpay_public_key_id", &self.wechatpay_public_key_id)
            .field(
                "platform_certificates",
                &!self.platform_certificates_pem.trim().is_empty(),
            )
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn config_error(reason: impl Into<String>) -> ProviderError {
    ProviderError::Config {
        provider: PROVIDER,
        reason: reason.into(),
    }
}

/// The keys a checked configuration yields.
struct Keys {
    signer: MerchantSigner,
    platform: PlatformKeys,
    cipher: aes_gcm::Aes256Gcm,
    base_url: reqwest::Url,
}

impl WechatPayConfig {
    /// Checks every setting, naming the first one missing or unusable
    /// ([`ProviderError::Config`]): the address, `mch_id`, `app_id`, the merchant key and its
    /// serial, the API v3 key (32 bytes), and WeChat Pay's key: the public key with its id
    /// (both or neither) and/or platform certificates (valid now), at least one of the two.
    pub fn check(&self) -> ProviderResult<()> {
        self.keys().map(|_| ())
    }

    fn keys(&self) -> ProviderResult<Keys> {
        let base_url = reqwest::Url::parse(self.base_url.trim_end_matches('/'))
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| {
                config_error(format!(
                    "base_url {:?} is not an http(s) URL",
                    self.base_url
                ))
            })?;
        if self.mch_id.is_empty() || !self.mch_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(config_error("mch_id is missing or not digits"));
        }
        if self.app_id.trim().is_empty() {
            return Err(config_error("app_id is missing"));
        }
        if self.merchant_serial_no.is_empty()
            || !self
                .merchant_serial_no
                .bytes()
                .all(|b| b.is_ascii_hexdigit())
        {
            return Err(config_error("merchant_serial_no is missing or not hex"));
        }
        if self.merchant_private_key_pem.trim().is_empty() {
            return Err(config_error("merchant_private_key is missing"));
        }
        let signer = MerchantSigner::from_pem(
            &self.merchant_private_key_pem,
            &self.mch_id,
            &self.merchant_serial_no,
        )
        .map_err(|e| config_error(format!("merchant_private_key {e}")))?;
        if self.api_v3_key.is_empty() {
            return Err(config_error("api_v3_key is missing"));
        }
        let cipher = crypto::resource_cipher(&self.api_v3_key)
            .map_err(|e| config_error(format!("api_v3_key {e}")))?;
        let mut platform = PlatformKeys::default();
        match (
            self.wechatpay_public_key_pem.trim().is_empty(),
            self.wechatpay_public_key_id.trim().is_empty(),
        ) {
            (true, true) => {}
            (false, true) => {
                return Err(config_error(
                    "wechatpay_public_key_id is missing (the PUB_KEY_ID_… of wechatpay_public_key)",
                ))
            }
            (true, false) => {
                return Err(config_error(
                    "wechatpay_public_key is missing (wechatpay_public_key_id is set)",
                ))
            }
            (false, false) => {
                if !self.wechatpay_public_key_id.starts_with("PUB_KEY_ID_") {
                    return Err(config_error(
                        "wechatpay_public_key_id does not begin with PUB_KEY_ID_",
                    ));
                }
                let key = crypto::public_key_from_pem(&self.wechatpay_public_key_pem)
                    .map_err(|e| config_error(format!("wechatpay_public_key {e}")))?;
                platform.insert(&self.wechatpay_public_key_id, key);
            }
        }
        if !self.platform_certificates_pem.trim().is_empty() {
            for (serial, key) in
                crypto::certificates_from_pem(&self.platform_certificates_pem, SystemTime::now())
                    .map_err(|e| config_error(format!("platform_certificates {e}")))?
            {
                platform.insert(&serial, key);
            }
        }
        if platform.is_empty() {
            return Err(config_error(
                "WeChat Pay's key is missing: set wechatpay_public_key and wechatpay_public_key_id, \
                 or platform_certificates",
            ));
        }
        if self.timeout.is_zero() {
            return Err(config_error("timeout is zero"));
        }
        Ok(Keys {
            signer,
            platform,
            cipher,
            base_url,
        })
    }
}

/// The answer to give WeChat Pay for a notification: [`NotificationAnswer::accepted`] once it
/// is applied (or was already: a retry gets the same), [`NotificationAnswer::failed`] otherwise,
/// and WeChat Pay sends it again later (for about a day).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationAnswer {
    /// The HTTP status.
    pub status: u16,
    /// The body (JSON when not empty).
    pub body: String,
}

impl NotificationAnswer {
    /// Received and applied: HTTP 204, no body (WeChat Pay takes 200 or 204).
    pub fn accepted() -> Self {
        NotificationAnswer {
            status: 204,
            body: String::new(),
        }
    }

    /// Not applied: a 4xx/5xx status with `{"code":"FAIL","message":…}`; WeChat Pay retries.
    /// Use 401 for a notification that does not verify, 500 when applying it failed.
    pub fn failed(status: u16, message: &str) -> Self {
        NotificationAnswer {
            status: if (400..600).contains(&status) {
                status
            } else {
                500
            },
            body: json!({ "code": "FAIL", "message": message }).to_string(),
        }
    }
}

/// A WeChat Pay API v3 client for one merchant (see the module documentation).
#[derive(Clone)]
pub struct WechatPay {
    config: WechatPayConfig,
    base_url: reqwest::Url,
    http: reqwest::Client,
    signer: MerchantSigner,
    platform: PlatformKeys,
    cipher: aes_gcm::Aes256Gcm,
}

impl std::fmt::Debug for WechatPay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WechatPay")
            .field("config", &self.config)
            .field("platform", &self.platform)
            .finish_non_exhaustive()
    }
}

/// An answer that passed the transport and signature checks.
struct Answer {
    status: u16,
    body: Vec<u8>,
    request_id: String,
}

fn unavailable(reason: String) -> ProviderError {
    tracing::warn!(provider = PROVIDER, %reason, "payment provider unavailable");
    ProviderError::Unavailable {
        provider: PROVIDER,
        reason,
    }
}

fn malformed(reason: String) -> ProviderError {
    tracing::warn!(provider = PROVIDER, %reason, "payment provider answered something unusable");
    ProviderError::Malformed {
        provider: PROVIDER,
        reason,
    }
}

fn bad_notification(reason: String) -> ProviderError {
    tracing::warn!(provider = PROVIDER, %reason, "payment notification refused");
    ProviderError::BadNotification {
        provider: PROVIDER,
        reason,
    }
}

/// The HTTP client's settings for WeChat's APIs: `timeout` for a call, answer included (at most
/// 5 s of it to connect), our user agent.
fn http_client(timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("retail-payments/", env!("CARGO_PKG_VERSION")))
}

/// A request that got no answer (timed out, no connection, …): `Unavailable`, without the
/// request's URL.
fn not_sent(what: &str, e: reqwest::Error) -> ProviderError {
    unavailable(if e.is_timeout() {
        format!("{what}: timed out")
    } else if e.is_connect() {
        format!("{what}: cannot connect")
    } else {
        format!("{what}: {}", e.without_url())
    })
}

/// Reads an answer's body, at most `limit` bytes (more is `Malformed`); a body that breaks off
/// or times out is `Unavailable`. `what` names the call and `tail` ends every message (the
/// request id, or nothing). Errors never carry the request's URL.
async fn read_answer(
    response: &mut reqwest::Response,
    limit: usize,
    what: &str,
    tail: &str,
) -> ProviderResult<Vec<u8>> {
    let mut bytes = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if bytes.len() + chunk.len() > limit {
                    return Err(malformed(format!(
                        "{what}: the answer is over {limit} bytes{tail}"
                    )));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(bytes),
            Err(e) => {
                return Err(unavailable(if e.is_timeout() {
                    format!("{what}: timed out reading the answer{tail}")
                } else {
                    format!("{what}: the answer broke off: {}{tail}", e.without_url())
                }))
            }
        }
    }
}

/// Percent-encodes a path segment or query value (RFC 3986 unreserved characters kept).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

impl WechatPay {
    /// A client for a configuration that passes [`WechatPayConfig::check`].
    pub fn new(config: WechatPayConfig) -> ProviderResult<WechatPay> {
        let keys = config.keys()?;
        let http = http_client(config.timeout)
            .build()
            .map_err(|e| config_error(format!("the HTTP client does not start: {e}")))?;
        Ok(WechatPay {
            config,
            base_url: keys.base_url,
            http,
            signer: keys.signer,
            platform: keys.platform,
            cipher: keys.cipher,
        })
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &WechatPayConfig {
        &self.config
    }

    fn url(&self, path_and_query: &str) -> ProviderResult<reqwest::Url> {
        let base = self.base_url.as_str().trim_end_matches('/');
        reqwest::Url::parse(&format!("{base}{path_and_query}"))
            .map_err(|e| config_error(format!("a request URL does not parse: {e}")))
    }

    /// Sends one signed request and reads the answer (at most `limit` bytes). Transport
    /// failures, 5xx and 429 are `Unavailable`. With `verify`, a signed answer must verify and a
    /// 2xx answer must be signed (`Malformed` otherwise); a 4xx without signature headers is
    /// taken as it is (WeChat Pay does not sign every refusal).
    async fn send(
        &self,
        method: Method,
        url: reqwest::Url,
        body: Option<String>,
        limit: usize,
        verify: bool,
    ) -> ProviderResult<Answer> {
        let path_and_query = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let body_text = body.unwrap_or_default();
        let authorization = self.signer.authorization(
            method.as_str(),
            &path_and_query,
            Utc::now().timestamp(),
            &crypto::nonce(),
            &body_text,
        );
        let mut request = self
            .http
            .request(method.clone(), url)
            .header("Authorization", authorization)
            .header("Accept", "application/json");
        if !body_text.is_empty() {
            request = request
                .header("Content-Type", "application/json")
                .body(body_text);
        }
        let what = format!("{method} {}", path_before_query(&path_and_query));
        let mut response = request.send().await.map_err(|e| not_sent(&what, e))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let request_id = header(&headers, "Request-ID").unwrap_or("").to_owned();
        let bytes = read_answer(
            &mut response,
            limit,
            &what,
            &format!(" (Request-ID {request_id})"),
        )
        .await?;
        if status >= 500 || status == 429 {
            let code = wire::parse::<wire::ErrorBody>(&bytes, "")
                .ok()
                .and_then(|e| e.code)
                .unwrap_or_default();
            return Err(unavailable(format!(
                "{what}: HTTP {status} {} (Request-ID {request_id})",
                crypto::clip(&code)
            )));
        }
        if verify {
            let signed = (
                header(&headers, "Wechatpay-Timestamp"),
                header(&headers, "Wechatpay-Nonce"),
                header(&headers, "Wechatpay-Signature"),
                header(&headers, "Wechatpay-Serial"),
            );
            match signed {
                (Some(timestamp), Some(nonce), Some(signature), Some(serial)) => {
                    self.platform
                        .verify(
                            SignedBy {
                                timestamp,
                                nonce,
                                signature,
                                serial,
                            },
                            &bytes,
                            Utc::now().timestamp(),
                        )
                        .map_err(|e| {
                            malformed(format!(
                                "{what}: the answer's signature: {e} (Request-ID {request_id})"
                            ))
                        })?;
                }
                _ if (200..300).contains(&status) => {
                    return Err(malformed(format!(
                        "{what}: the answer is not signed (Request-ID {request_id})"
                    )))
                }
                _ => {}
            }
        }
        Ok(Answer {
            status,
            body: bytes,
            request_id,
        })
    }

    /// [`send`](Self::send) for calls whose only success is 2xx: a 4xx is `Rejected`.
    async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<serde_json::Value>,
    ) -> ProviderResult<Answer> {
        let url = self.url(path_and_query)?;
        let answer = self
            .send(
                method.clone(),
                url,
                body.map(|b| b.to_string()),
                MAX_ANSWER_BYTES,
                true,
            )
            .await?;
        expect_success(
            answer,
            &format!("{method} {}", path_before_query(path_and_query)),
        )
    }

    fn common_order(
        &self,
        out_trade_no: &str,
        description: &str,
        amount_fen: i64,
    ) -> serde_json::Value {
        json!({
            "appid": self.config.app_id,
            "mchid": self.config.mch_id,
            "description": description,
            "out_trade_no": out_trade_no,
            "amount": { "total": amount_fen, "currency": "CNY" },
        })
    }

    /// Places a prepay order for the scene (JSAPI, H5 or Native) and returns what the shopper
    /// is shown. The trade closes at `expires_at` (`time_expire`, RFC 3339 in +08:00).
    pub async fn prepay(&self, request: &PrepayRequest) -> ProviderResult<Prepay> {
        let mut body = self.common_order(
            &request.out_trade_no,
            &request.description,
            request.amount_fen,
        );
        body["notify_url"] = json!(request.notify_url);
        body["time_expire"] = json!(request
            .expires_at
            .with_timezone(&beijing())
            .to_rfc3339_opts(SecondsFormat::Secs, false));
        match &request.scene {
            PrepayScene::QrCode => {
                let answer = self
                    .call(Method::POST, "/v3/pay/transactions/native", Some(body))
                    .await?;
                let code_url = string_field(&answer, "code_url")?;
                Ok(Prepay::QrCode { code_url })
            }
            PrepayScene::WechatJsapi { openid } => {
                body["payer"] = json!({ "openid": openid });
                let answer = self
                    .call(Method::POST, "/v3/pay/transactions/jsapi", Some(body))
                    .await?;
                let prepay_id = string_field(&answer, "prepay_id")?;
                Ok(Prepay::InApp {
                    params: self.request_payment_params(
                        &prepay_id,
                        Utc::now().timestamp(),
                        &crypto::nonce(),
                    ),
                })
            }
            PrepayScene::MobileWeb {
                client_ip,
                return_url,
            } => {
                body["scene_info"] = json!({
                    "payer_client_ip": client_ip,
                    "h5_info": { "type": "Wap" },
                });
                let answer = self
                    .call(Method::POST, "/v3/pay/transactions/h5", Some(body))
                    .await?;
                let mut url = string_field(&answer, "h5_url")?;
                if !return_url.is_empty() {
                    url.push_str(if url.contains('?') { "&" } else { "?" });
                    url.push_str("redirect_url=");
                    url.push_str(&encode(return_url));
                }
                Ok(Prepay::Redirect { url })
            }
        }
    }

    /// The parameters of `wx.requestPayment` / `WeixinJSBridge` for a prepay id: appId,
    /// timeStamp, nonceStr, package (`prepay_id=…`), signType `RSA` and paySign (the merchant's
    /// signature over `appId\ntimeStamp\nnonceStr\npackage\n`).
    pub fn request_payment_params(
        &self,
        prepay_id: &str,
        timestamp: i64,
        nonce: &str,
    ) -> serde_json::Value {
        let package = format!("prepay_id={prepay_id}");
        let message = format!("{}\n{timestamp}\n{nonce}\n{package}\n", self.config.app_id);
        json!({
            "appId": self.config.app_id,
            "timeStamp": timestamp.to_string(),
            "nonceStr": nonce,
            "package": package,
            "signType": "RSA",
            "paySign": self.signer.sign(message.as_bytes()),
        })
    }

    /// Charges a payment code scanned at a lane. `UserPaying` means the payer confirms on their
    /// phone: query until the trade settles, and reverse it if it never does. A timeout, a 5xx,
    /// or an answer that decides nothing (a system error, an order already paid) is
    /// `Unavailable`: query, never guess.
    pub async fn code_pay(&self, request: &CodePayRequest) -> ProviderResult<CodePayOutcome> {
        let mut body = self.common_order(
            &request.out_trade_no,
            &request.description,
            request.amount_fen,
        );
        body["payer"] = json!({ "auth_code": request.auth_code });
        body["scene_info"] = json!({
            "device_id": request.device_id,
            "device_ip": request.client_ip,
            "store_info": { "out_id": request.store_id },
        });
        let url = self.url("/v3/pay/transactions/codepay")?;
        let answer = self
            .send(
                Method::POST,
                url,
                Some(body.to_string()),
                MAX_ANSWER_BYTES,
                true,
            )
            .await?;
        match wire::code_pay_outcome(answer.status, &answer.body) {
            Ok(Some(CodePayOutcome::Paid(trade))) if trade.out_trade_no != request.out_trade_no => {
                Err(malformed(format!(
                    "the payment-code answer is for trade {:?} (Request-ID {})",
                    crypto::clip(&trade.out_trade_no),
                    answer.request_id
                )))
            }
            Ok(Some(outcome)) => {
                if let CodePayOutcome::Failed { code, .. } = &outcome {
                    tracing::info!(provider = PROVIDER, %code, request_id = %answer.request_id, "payment code refused");
                }
                Ok(outcome)
            }
            Ok(None) => Err(unavailable(format!(
                "the payment code's outcome is unknown (HTTP {}): query the trade (Request-ID {})",
                answer.status, answer.request_id
            ))),
            Err(e) => Err(malformed(format!("{e} (Request-ID {})", answer.request_id))),
        }
    }

    /// A trade's state, by our payment id.
    pub async fn query(&self, out_trade_no: &str) -> ProviderResult<TradeState> {
        let path = format!(
            "/v3/pay/transactions/out-trade-no/{}?mchid={}",
            encode(out_trade_no),
            encode(&self.config.mch_id)
        );
        let answer = self.call(Method::GET, &path, None).await?;
        let trade: wire::Transaction = wire::parse(&answer.body, "the trade")
            .map_err(|e| malformed(format!("{e} (Request-ID {})", answer.request_id)))?;
        if trade
            .out_trade_no
            .as_deref()
            .is_some_and(|no| no != out_trade_no)
        {
            return Err(malformed(format!(
                "the query answered another trade (Request-ID {})",
                answer.request_id
            )));
        }
        wire::trade_state(&trade)
            .map_err(|e| malformed(format!("{e} (Request-ID {})", answer.request_id)))
    }

    /// Reverses (撤销) a payment-code trade: closed if unpaid, refunded to the payer if paid.
    pub async fn reverse(&self, out_trade_no: &str) -> ProviderResult<()> {
        let path = format!(
            "/v3/pay/transactions/out-trade-no/{}/reverse",
            encode(out_trade_no)
        );
        let body = json!({ "appid": self.config.app_id, "mchid": self.config.mch_id });
        self.call(Method::POST, &path, Some(body)).await.map(|_| ())
    }

    /// Closes an unpaid trade (a prepay that will not be paid).
    pub async fn close(&self, out_trade_no: &str) -> ProviderResult<()> {
        let path = format!(
            "/v3/pay/transactions/out-trade-no/{}/close",
            encode(out_trade_no)
        );
        let body = json!({ "mchid": self.config.mch_id });
        self.call(Method::POST, &path, Some(body)).await.map(|_| ())
    }

    /// Asks for a refund to the payment's original tender. Idempotent by `out_refund_no`.
    pub async fn refund(&self, request: &RefundRequest) -> ProviderResult<RefundOutcome> {
        let mut body = json!({
            "out_refund_no": request.out_refund_no,
            "notify_url": request.notify_url,
            "amount": { "refund": request.amount_fen, "total": request.total_fen, "currency": "CNY" },
        });
        match &request.transaction_id {
            Some(id) if !id.is_empty() => body["transaction_id"] = json!(id),
            _ => body["out_trade_no"] = json!(request.out_trade_no),
        }
        if !request.reason.is_empty() {
            body["reason"] = json!(request.reason.chars().take(80).collect::<String>());
        }
        let answer = self
            .call(Method::POST, "/v3/refund/domestic/refunds", Some(body))
            .await?;
        refund_of(&answer, &request.out_refund_no)
    }

    /// A refund's state, by our refund id.
    pub async fn query_refund(&self, out_refund_no: &str) -> ProviderResult<RefundOutcome> {
        let path = format!("/v3/refund/domestic/refunds/{}", encode(out_refund_no));
        let answer = self.call(Method::GET, &path, None).await?;
        refund_of(&answer, out_refund_no)
    }

    /// Verifies and decrypts a notification WeChat Pay posted to a `notify_url`: the
    /// `Wechatpay-Timestamp` / `-Nonce` / `-Signature` / `-Serial` headers over the raw body
    /// (known serial, at most [`MAX_SKEW_SECS`] of skew), then the `resource` (AEAD_AES_256_GCM
    /// with the API v3 key). `TRANSACTION.SUCCESS` is [`Notification::Paid`], `REFUND.SUCCESS` /
    /// `REFUND.ABNORMAL` / `REFUND.CLOSED` [`Notification::Refund`]; every other event, and
    /// anything that does not verify, is [`ProviderError::BadNotification`]. A retry verifies
    /// again with the same notify id: deduplication is the caller's.
    pub fn verify_notification(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> ProviderResult<Notification> {
        self.verify_notification_at(headers, body, Utc::now().timestamp())
    }

    /// [`verify_notification`](Self::verify_notification) at a given time (Unix seconds).
    pub fn verify_notification_at(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> ProviderResult<Notification> {
        let need = |name: &str| {
            header(headers, name).ok_or_else(|| bad_notification(format!("no {name} header")))
        };
        if let Some(kind) = header(headers, "Wechatpay-Signature-Type") {
            if kind != SCHEME {
                return Err(bad_notification(format!(
                    "Wechatpay-Signature-Type {:?}",
                    crypto::clip(kind)
                )));
            }
        }
        let signed = SignedBy {
            timestamp: need("Wechatpay-Timestamp")?,
            nonce: need("Wechatpay-Nonce")?,
            signature: need("Wechatpay-Signature")?,
            serial: need("Wechatpay-Serial")?,
        };
        self.platform
            .verify(signed, body, now)
            .map_err(bad_notification)?;
        self.open_notification(body).map_err(bad_notification)
    }

    /// The verified body's resource, decrypted and mapped.
    fn open_notification(&self, body: &[u8]) -> Result<Notification, String> {
        let envelope: wire::Envelope = wire::parse(body, "the notification")?;
        let notify_id = envelope
            .id
            .filter(|id| !id.is_empty())
            .ok_or("the notification has no id")?;
        let event = envelope
            .event_type
            .ok_or("the notification has no event_type")?;
        let resource = envelope
            .resource
            .ok_or("the notification has no resource")?;
        if resource.algorithm.as_deref() != Some("AEAD_AES_256_GCM") {
            return Err(format!(
                "the resource's algorithm is {:?}",
                resource.algorithm.as_deref().map(crypto::clip)
            ));
        }
        let plain = crypto::decrypt_resource(
            &self.cipher,
            resource.nonce.as_deref().unwrap_or(""),
            resource.associated_data.as_deref().unwrap_or(""),
            resource.ciphertext.as_deref().unwrap_or(""),
        )?;
        match event.as_str() {
            "TRANSACTION.SUCCESS" => {
                let trade: wire::Transaction = wire::parse(&plain, "the transaction")?;
                self.check_merchant(trade.mchid.as_deref(), trade.appid.as_deref())?;
                if trade.trade_state.as_deref() != Some("SUCCESS") {
                    return Err(format!(
                        "a TRANSACTION.SUCCESS in trade_state {:?}",
                        trade.trade_state.as_deref().map(crypto::clip)
                    ));
                }
                Ok(Notification::Paid {
                    notify_id,
                    trade: wire::paid_trade(&trade)?,
                })
            }
            "REFUND.SUCCESS" | "REFUND.ABNORMAL" | "REFUND.CLOSED" => {
                let refund: wire::Refund = wire::parse(&plain, "the refund")?;
                self.check_merchant(refund.mchid.as_deref(), None)?;
                Ok(Notification::Refund {
                    notify_id,
                    out_trade_no: refund
                        .out_trade_no
                        .clone()
                        .ok_or("a refund notification without out_trade_no")?,
                    refund: wire::refund_outcome(&refund)?,
                })
            }
            other => Err(format!("event {:?} is not handled", crypto::clip(other))),
        }
    }

    fn check_merchant(&self, mch_id: Option<&str>, app_id: Option<&str>) -> Result<(), String> {
        if mch_id != Some(self.config.mch_id.as_str()) {
            return Err(format!(
                "the notification is for merchant {:?}",
                mch_id.map(crypto::clip)
            ));
        }
        if let Some(app_id) = app_id {
            if app_id != self.config.app_id {
                return Err(format!(
                    "the notification is for app {:?}",
                    crypto::clip(app_id)
                ));
            }
        }
        Ok(())
    }

    /// The trade bill (`bill_type=ALL`) of a day (Beijing time): asked for, downloaded from the
    /// address WeChat Pay gives (which must be on the API's host), checked against the SHA-1 it
    /// gives, parsed and checked against its own summary. A bill not made yet is `Rejected`
    /// (`NO_STATEMENT_EXIST`, `STATEMENT_CREATING`): ask again later.
    pub async fn trade_bill(&self, date: NaiveDate) -> ProviderResult<Vec<BillLine>> {
        let path = format!(
            "/v3/bill/tradebill?bill_date={}&bill_type=ALL",
            date.format("%Y-%m-%d")
        );
        let answer = self.call(Method::GET, &path, None).await?;
        #[derive(serde::Deserialize)]
        struct BillAddress {
            hash_type: Option<String>,
            hash_value: Option<String>,
            download_url: Option<String>,
        }
        let address: BillAddress = wire::parse(&answer.body, "the bill address")
            .map_err(|e| malformed(format!("{e} (Request-ID {})", answer.request_id)))?;
        let (Some(hash_type), Some(hash_value), Some(download_url)) =
            (address.hash_type, address.hash_value, address.download_url)
        else {
            return Err(malformed(format!(
                "the bill address lacks hash_type, hash_value or download_url (Request-ID {})",
                answer.request_id
            )));
        };
        if !hash_type.eq_ignore_ascii_case("SHA1") {
            return Err(malformed(format!(
                "the bill's hash is {:?}",
                crypto::clip(&hash_type)
            )));
        }
        let url = reqwest::Url::parse(&download_url)
            .ok()
            .filter(|u| u.origin() == self.base_url.origin())
            .ok_or_else(|| {
                malformed(format!(
                    "the bill's download address {:?} is not on the API's host",
                    crypto::clip(&download_url)
                ))
            })?;
        // The file is not signed (WeChat Pay's rule for downloads); its hash is.
        let file = self
            .send(Method::GET, url, None, MAX_BILL_BYTES, false)
            .await?;
        let file = expect_success(file, "GET the bill file")?;
        let digest = hex::encode(sha1::Sha1::digest(&file.body));
        if !digest.eq_ignore_ascii_case(hash_value.trim()) {
            return Err(malformed(format!(
                "the bill's SHA-1 is {digest}, WeChat Pay gave {:?} (Request-ID {})",
                crypto::clip(&hash_value),
                file.request_id
            )));
        }
        let text =
            String::from_utf8(file.body).map_err(|_| malformed("the bill is not UTF-8".into()))?;
        parse_trade_bill(&text).map_err(|e| malformed(format!("the bill: {e}")))
    }
}

fn path_before_query(path_and_query: &str) -> &str {
    path_and_query.split('?').next().unwrap_or(path_and_query)
}

/// A 2xx answer as it is; a 4xx `{code, message}` as `Rejected`; anything else `Malformed`.
fn expect_success(answer: Answer, what: &str) -> ProviderResult<Answer> {
    match answer.status {
        200..=299 => Ok(answer),
        400..=499 => {
            let error: wire::ErrorBody =
                wire::parse(&answer.body, "the error answer").map_err(|e| {
                    malformed(format!(
                        "{what}: HTTP {}: {e} (Request-ID {})",
                        answer.status, answer.request_id
                    ))
                })?;
            let code = error
                .code
                .unwrap_or_else(|| format!("HTTP_{}", answer.status));
            let message = format!(
                "{} (HTTP {}, Request-ID {})",
                error.message.unwrap_or_default(),
                answer.status,
                answer.request_id
            );
            tracing::warn!(provider = PROVIDER, %what, %code, %message, "payment provider refused");
            Err(ProviderError::Rejected {
                provider: PROVIDER,
                code,
                message,
            })
        }
        status => Err(malformed(format!(
            "{what}: HTTP {status} (Request-ID {})",
            answer.request_id
        ))),
    }
}

fn string_field(answer: &Answer, name: &str) -> ProviderResult<String> {
    let value: serde_json::Value = wire::parse(&answer.body, "the answer")
        .map_err(|e| malformed(format!("{e} (Request-ID {})", answer.request_id)))?;
    value[name]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| {
            malformed(format!(
                "the answer has no {name} (Request-ID {})",
                answer.request_id
            ))
        })
}

fn refund_of(answer: &Answer, out_refund_no: &str) -> ProviderResult<RefundOutcome> {
    let refund: wire::Refund = wire::parse(&answer.body, "the refund")
        .map_err(|e| malformed(format!("{e} (Request-ID {})", answer.request_id)))?;
    let outcome = wire::refund_outcome(&refund)
        .map_err(|e| malformed(format!("{e} (Request-ID {})", answer.request_id)))?;
    if outcome.out_refund_no != out_refund_no {
        return Err(malformed(format!(
            "the answer is for refund {:?} (Request-ID {})",
            crypto::clip(&outcome.out_refund_no),
            answer.request_id
        )));
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes_gcm::aead::{Aead, Payload};
    use aes_gcm::KeyInit;
    use base64::Engine;
    use proptest::prelude::*;
    use rsa::pkcs8::EncodePublicKey;

    const KEY: &str = "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb";

    /// A client whose merchant key and WeChat Pay key are both the official SDK's test key.
    fn sdk_client() -> WechatPay {
        let public = crypto::private_key_from_pem(crypto::tests::SDK_TEST_KEY)
            .expect("key")
            .to_public_key()
            .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
            .expect("pem");
        WechatPay::new(WechatPayConfig {
            mch_id: "1900000109".into(),
            app_id: "wxd678efh567hg6787".into(),
            merchant_private_key_pem: crypto::tests::SDK_TEST_KEY.into(),
            merchant_serial_no: "5157F09EFDC096DE15EBE81A47057A7232F1B8E1".into(),
            api_v3_key: KEY.into(),
            wechatpay_public_key_pem: public,
            wechatpay_public_key_id: "PUB_KEY_ID_01".into(),
            ..WechatPayConfig::default()
        })
        .expect("client")
    }

    fn envelope(event: &str, plaintext: &[u8]) -> Vec<u8> {
        let cipher = aes_gcm::Aes256Gcm::new_from_slice(KEY.as_bytes()).expect("key");
        let ciphertext = cipher
            .encrypt(
                aes_gcm::Nonce::from_slice(b"0123456789ab"),
                Payload {
                    msg: plaintext,
                    aad: b"transaction",
                },
            )
            .expect("encrypts");
        json!({
            "id": "EV-1", "event_type": event, "resource_type": "encrypt-resource",
            "resource": { "algorithm": "AEAD_AES_256_GCM", "nonce": "0123456789ab", "associated_data": "transaction",
                          "ciphertext": base64::engine::general_purpose::STANDARD.encode(ciphertext) },
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_notification_for_another_merchant_or_app_is_refused() {
        let client = sdk_client();
        let paid = |mchid: &str, appid: &str| {
            json!({"mchid": mchid, "appid": appid, "out_trade_no": "a", "transaction_id": "4200",
                   "trade_state": "SUCCESS", "amount": {"total": 1, "currency": "CNY"}})
            .to_string()
        };
        let ok = paid("1900000109", "wxd678efh567hg6787");
        assert!(client
            .open_notification(&envelope("TRANSACTION.SUCCESS", ok.as_bytes()))
            .is_ok());
        for other in [
            paid("1900000110", "wxd678efh567hg6787"),
            paid("1900000109", "wx0"),
        ] {
            assert!(client
                .open_notification(&envelope("TRANSACTION.SUCCESS", other.as_bytes()))
                .is_err());
        }
        assert!(client
            .open_notification(&envelope("TRANSACTION.CLOSED", ok.as_bytes()))
            .is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]
        #[test]
        fn opening_notifications_never_panics(
            body in proptest::collection::vec(any::<u8>(), 0..400),
            plain in ".{0,300}",
            event in "(TRANSACTION|REFUND)\\.(SUCCESS|CLOSED|ABNORMAL|X)",
        ) {
            let client = sdk_client();
            let _ = client.open_notification(&body);
            let _ = client.open_notification(&envelope(&event, plain.as_bytes()));
            let near = json!({"mchid": "1900000109", "out_trade_no": plain, "refund_status": plain,
                              "trade_state": "SUCCESS", "amount": {"total": 1, "refund": 1}}).to_string();
            let _ = client.open_notification(&envelope(&event, near.as_bytes()));
            let _ = client.verify_notification(&HeaderMap::new(), &body);
        }
    }

    #[test]
    fn encoding_keeps_ids_and_escapes_the_rest() {
        assert_eq!(
            encode("0191b2c3d4e5f6a7b8c9d0e1f2a3b4c5"),
            "0191b2c3d4e5f6a7b8c9d0e1f2a3b4c5"
        );
        assert_eq!(encode("../x?y=1&z"), "..%2Fx%3Fy%3D1%26z");
        assert_eq!(encode("https://a.b/c"), "https%3A%2F%2Fa.b%2Fc");
    }

    #[test]
    fn notification_answers() {
        assert_eq!(NotificationAnswer::accepted().status, 204);
        let failed = NotificationAnswer::failed(401, "签名错误");
        assert_eq!(failed.status, 401);
        assert_eq!(failed.body, r#"{"code":"FAIL","message":"签名错误"}"#);
        assert_eq!(NotificationAnswer::failed(200, "x").status, 500);
    }

    #[test]
    fn the_configuration_names_what_is_missing() {
        let reason = |c: &WechatPayConfig| match c.check() {
            Err(ProviderError::Config { reason, .. }) => reason,
            other => panic!("{other:?}"),
        };
        let mut c = WechatPayConfig::default();
        assert!(reason(&c).contains("mch_id"));
        c.mch_id = "1900000109".into();
        assert!(reason(&c).contains("app_id"));
        c.app_id = "wxd678efh567hg6787".into();
        assert!(reason(&c).contains("merchant_serial_no"));
        c.merchant_serial_no = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1".into();
        assert!(reason(&c).contains("merchant_private_key"));
        c.merchant_private_key_pem =
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----".into();
        assert!(reason(&c).contains("merchant_private_key is not"));
        c.base_url = "ftp://x".into();
        assert!(reason(&c).contains("base_url"));
    }
}
