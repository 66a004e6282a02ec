//! A fake WeChat Pay API v3 on a free port, speaking the real wire format with real
//! cryptography, for the WeChat Pay client (`retail_payments::wechat`) and the server's payment
//! flows. It checks every request the way WeChat Pay documents it, with its own implementation
//! (so a mistake in the client's is caught here): the `Authorization` header
//! `WECHATPAY2-SHA256-RSA2048 mchid=…,nonce_str=…,signature=…,timestamp=…,serial_no=…`, verified
//! with the merchant's public key over `METHOD\nURL\ntimestamp\nnonce\nbody\n` (5 minutes of
//! skew, the merchant's serial); a bad one gets WeChat Pay's 401 `SIGN_ERROR`. It signs every
//! answer with its platform key (`Wechatpay-Timestamp`, `-Nonce`, `-Signature`, `-Serial` = the
//! WeChat Pay public key id), keeps trades and refunds in memory, and sends notifications
//! (AEAD_AES_256_GCM resource with the API v3 key, signed headers) to a trade's `notify_url`.
//!
//! ```ignore
//! let fake = FakeWechatPay::start();
//! let client = WechatPay::new(fake.config())?;
//! fake.on_code("134567890123456789", CodeBehaviour::UserPaying { queries: 2, then_paid: true });
//! // … charge the code, query twice: paid …
//! ```
//!
//! What a test can ask of it: per payment code what to do ([`CodeBehaviour`]: succeed, the
//! payer confirming for N queries then paid or failed, refused, hanging, 500, a garbled body);
//! for every request ([`Mode`]): 500, a garbled body, a slow answer, a bad signature; paying a
//! prepaid trade ([`FakeWechatPay::pay`]) and settling a refund
//! ([`FakeWechatPay::settle_refund`]), each notified; notifications built and not sent, valid
//! or forged, stale, tampered ([`Tamper`]), delivered or replayed; the daily trade bill, or a
//! corrupted one. Keys are generated once per test binary (RSA generation is the slow part).
//!
//! On the same address it plays WeChat's web authorisation for the official account (the
//! authorisation page and the code exchange, [`oauth`]): the openid a JSAPI prepay is for, and
//! [`FakeWechatPay::check_request_payment`] for the signed parameters a JSAPI page hands
//! `WeixinJSBridge`.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::Rng;
use retail_payments::wechat::WechatPayConfig;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use sha1::Digest;
use sha2::Sha256;

/// The merchant id the fake serves.
pub const MCH_ID: &str = "1900000109";
/// The app id the fake expects.
pub const APP_ID: &str = "wxd678efh567hg6787";
/// The serial number of the merchant's API certificate.
pub const MERCHANT_SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
/// The id of the fake's WeChat Pay public key (what `Wechatpay-Serial` carries).
pub const PUBLIC_KEY_ID: &str = "PUB_KEY_ID_0119000001092025010100000000000001";
/// The serial number of the fake's platform certificate (the same key, certificate mode).
pub const CERTIFICATE_SERIAL: &str = "4F8B3A0C6E1D2B5A79C8D0E1F2A3B4C5D6E7F809";
/// The API v3 key (32 bytes).
pub const API_V3_KEY: &str = "Xq7ZtV2nR9bK4mW8pL3sD6fH1jC5gY0e";

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

pub mod oauth;
pub use oauth::APP_SECRET;

struct Keys {
    merchant: RsaPrivateKey,
    platform: RsaPrivateKey,
    /// Signs forged notifications and answers.
    stranger: RsaPrivateKey,
    certificate_pem: String,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut rng = rand::thread_rng();
        let mut key = || RsaPrivateKey::new(&mut rng, 2048).expect("an RSA key");
        let merchant = key();
        let platform = key();
        let stranger = key();
        let certificate_pem = certificate_of(&platform);
        Keys {
            merchant,
            platform,
            stranger,
            certificate_pem,
        }
    })
}

/// A self-signed platform certificate for `key`, valid from now for five years.
fn certificate_of(key: &RsaPrivateKey) -> String {
    use x509_cert::builder::{Builder, CertificateBuilder, Profile};
    use x509_cert::der::EncodePem;
    let signer = SigningKey::<Sha256>::new(key.clone());
    let spki = x509_cert::spki::SubjectPublicKeyInfoOwned::from_key(key.to_public_key())
        .expect("the key's SPKI");
    let serial = x509_cert::serial_number::SerialNumber::new(
        &hex::decode(CERTIFICATE_SERIAL).expect("hex serial"),
    )
    .expect("a serial number");
    let validity = x509_cert::time::Validity::from_now(Duration::from_secs(5 * 365 * 86_400))
        .expect("a validity");
    let subject =
        x509_cert::name::Name::from_str("CN=Tenpay.com Root CA,O=Tenpay.com,C=CN").expect("a name");
    let builder = CertificateBuilder::new(Profile::Root, serial, validity, subject, spki, &signer)
        .expect("a certificate builder");
    builder
        .build::<Signature>()
        .expect("a certificate")
        .to_pem(LineEnding::LF)
        .expect("PEM")
}

/// What the fake does with a payment code (`payer.auth_code`) at `/v3/pay/transactions/codepay`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodeBehaviour {
    /// Paid at once (HTTP 200, `trade_state` SUCCESS), notified.
    Succeed,
    /// The payer confirms on their phone: HTTP 202 `USERPAYING`; the trade stays USERPAYING
    /// for `queries` queries, then is paid (notified) or fails (PAYERROR).
    UserPaying {
        /// Queries answered USERPAYING before it settles.
        queries: u32,
        /// Paid (true) or PAYERROR (false) once it settles.
        then_paid: bool,
    },
    /// Refused: this status with `{code, message}`; no trade paid.
    Fail {
        /// The HTTP status (403, 400, …).
        status: u16,
        /// WeChat Pay's error code.
        code: String,
        /// Its message.
        message: String,
    },
    /// The trade is created (USERPAYING, for ever) but the answer never comes.
    Hang,
    /// HTTP 500 `SYSTEM_ERROR`; the trade is created (USERPAYING, for ever).
    ServerError,
    /// HTTP 200, correctly signed, with a body that is not JSON.
    Garbled,
}

/// How the fake answers every request, whatever it asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// As WeChat Pay would.
    Normal,
    /// HTTP 500 `SYSTEM_ERROR`, unsigned.
    ServerError,
    /// HTTP 200, signed, a body that is not JSON.
    Garbled,
    /// As WeChat Pay would, after this long.
    Slow(Duration),
    /// As WeChat Pay would, signed with a key that is not WeChat Pay's.
    BadSignature,
    /// As WeChat Pay would, without the signature headers.
    Unsigned,
}

/// How a built notification is spoilt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tamper {
    /// A valid notification.
    None,
    /// Signed with a key that is not WeChat Pay's.
    ForgedSignature,
    /// `Wechatpay-Serial` names a key the merchant does not know.
    WrongSerial,
    /// Signed ten minutes ago.
    Stale,
    /// A bit of the encrypted resource flipped, the body signed again (the signature holds,
    /// the AEAD tag does not).
    TamperedCiphertext,
    /// The body changed after signing.
    TamperedBody,
}

/// A notification as the fake sends it: headers and raw body.
#[derive(Clone, Debug)]
pub struct SignedNotification {
    /// The notification id (a replay carries the same).
    pub id: String,
    /// `TRANSACTION.SUCCESS`, `REFUND.SUCCESS`, …
    pub event_type: String,
    /// Where it goes.
    pub url: String,
    /// `Wechatpay-*` headers and `Content-Type`.
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: Vec<u8>,
    /// The status the receiver answered, once sent (`None`: not sent, or no answer).
    pub answer: Option<u16>,
}

impl SignedNotification {
    /// The headers as an HTTP header map.
    pub fn header_map(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                axum::http::HeaderName::from_str(name),
                axum::http::HeaderValue::from_str(value),
            ) {
                map.insert(name, value);
            }
        }
        map
    }
}

/// A trade as the fake holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeTrade {
    /// Our payment id.
    pub out_trade_no: String,
    /// The fake's transaction id.
    pub transaction_id: String,
    /// NATIVE, JSAPI, MWEB or MICROPAY.
    pub trade_type: String,
    /// SUCCESS, NOTPAY, USERPAYING, CLOSED, REVOKED, REFUND, PAYERROR.
    pub trade_state: String,
    /// The amount in fen.
    pub amount: i64,
    /// The payer's openid (JSAPI).
    pub openid: Option<String>,
    /// The trade's `notify_url`.
    pub notify_url: Option<String>,
    /// `time_expire` as sent.
    pub time_expire: Option<String>,
    /// When it was paid.
    pub paid_at: Option<DateTime<Utc>>,
    /// The prepay request's body as received.
    pub request: Value,
    user_paying_left: u32,
    then_paid: bool,
}

/// A refund as the fake holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeRefund {
    /// Our refund id.
    pub out_refund_no: String,
    /// The fake's refund id.
    pub refund_id: String,
    /// The payment's id.
    pub out_trade_no: String,
    /// The payment's transaction id.
    pub transaction_id: String,
    /// The amount refunded, fen.
    pub amount: i64,
    /// The payment's total, fen.
    pub total: i64,
    /// PROCESSING, SUCCESS, CLOSED, ABNORMAL.
    pub status: String,
    /// Where its notifications go.
    pub notify_url: Option<String>,
    /// When it settled.
    pub success_at: Option<DateTime<Utc>>,
}

#[derive(Default)]
struct Inner {
    mode: Option<Mode>,
    codes: HashMap<String, CodeBehaviour>,
    trades: HashMap<String, FakeTrade>,
    refunds: HashMap<String, FakeRefund>,
    bills: HashMap<String, Vec<u8>>,
    corrupt_bill: bool,
    sent: Vec<SignedNotification>,
    refused: Vec<String>,
    requests: usize,
    counter: u64,
    oauth: oauth::OauthState,
}

/// A fake WeChat Pay API v3 (see the module documentation).
#[derive(Clone)]
pub struct FakeWechatPay {
    /// Its address, `http://127.0.0.1:port`.
    pub base_url: String,
    inner: Arc<Mutex<Inner>>,
    http: reqwest::Client,
}

fn beijing() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(8 * 3600).expect("+08:00")
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.with_timezone(&beijing())
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

fn random_text(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

fn sign_with(key: &RsaPrivateKey, message: &[u8]) -> String {
    B64.encode(
        SigningKey::<Sha256>::new(key.clone())
            .sign(message)
            .to_bytes(),
    )
}

/// `timestamp\nnonce\nbody\n` signed: the `Wechatpay-*` headers of an answer or notification.
fn signature_headers(
    body: &[u8],
    key: &RsaPrivateKey,
    serial: &str,
    at: i64,
) -> Vec<(String, String)> {
    let nonce = random_text(32);
    let mut message = format!("{at}\n{nonce}\n").into_bytes();
    message.extend_from_slice(body);
    message.push(b'\n');
    vec![
        ("Wechatpay-Timestamp".into(), at.to_string()),
        ("Wechatpay-Nonce".into(), nonce),
        ("Wechatpay-Signature".into(), sign_with(key, &message)),
        ("Wechatpay-Serial".into(), serial.into()),
        (
            "Wechatpay-Signature-Type".into(),
            "WECHATPAY2-SHA256-RSA2048".into(),
        ),
    ]
}

impl FakeWechatPay {
    /// Starts a fake on a free port (on the current Tokio runtime; it lives as long as the
    /// runtime, i.e. the test). The keys are made once per test binary.
    ///
    /// # Panics
    /// Outside a Tokio runtime, or when no port can be bound.
    pub fn start() -> FakeWechatPay {
        let _ = keys();
        let (addr, listener) = crate::fake_server::bind();
        let fake = FakeWechatPay {
            base_url: format!("http://{addr}"),
            inner: Arc::new(Mutex::new(Inner::default())),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("an HTTP client"),
        };
        let app = Router::new().fallback(handle).with_state(fake.clone());
        crate::fake_server::serve(listener, app);
        fake
    }

    /// A client configuration for this fake: the merchant's key and serial, the API v3 key,
    /// the WeChat Pay public key and its id; a 2-second timeout.
    pub fn config(&self) -> WechatPayConfig {
        let keys = keys();
        WechatPayConfig {
            base_url: self.base_url.clone(),
            mch_id: MCH_ID.into(),
            app_id: APP_ID.into(),
            merchant_private_key_pem: keys
                .merchant
                .to_pkcs8_pem(LineEnding::LF)
                .expect("PEM")
                .to_string(),
            merchant_serial_no: MERCHANT_SERIAL.into(),
            api_v3_key: API_V3_KEY.into(),
            wechatpay_public_key_pem: self.platform_public_key_pem(),
            wechatpay_public_key_id: PUBLIC_KEY_ID.into(),
            platform_certificates_pem: String::new(),
            timeout: Duration::from_secs(2),
        }
    }

    /// [`config`](Self::config) in the platform-certificate mode: no public key, the fake's
    /// certificate (serial [`CERTIFICATE_SERIAL`]); the fake then signs as that serial.
    pub fn config_with_certificate(&self) -> WechatPayConfig {
        let mut config = self.config();
        config.wechatpay_public_key_pem = String::new();
        config.wechatpay_public_key_id = String::new();
        config.platform_certificates_pem = keys().certificate_pem.clone();
        CERTIFICATE_MODE.with_fake(self, true);
        config
    }

    /// The WeChat Pay public key (SPKI PEM).
    pub fn platform_public_key_pem(&self) -> String {
        keys()
            .platform
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("PEM")
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().expect("the fake's state"))
    }

    fn serial(&self) -> &'static str {
        if CERTIFICATE_MODE.of(self) {
            CERTIFICATE_SERIAL
        } else {
            PUBLIC_KEY_ID
        }
    }

    /// Answers every request this way from now on.
    pub fn set_mode(&self, mode: Mode) {
        self.with(|i| i.mode = Some(mode));
    }

    /// What to do with this payment code.
    pub fn on_code(&self, auth_code: &str, behaviour: CodeBehaviour) {
        self.with(|i| i.codes.insert(auth_code.to_owned(), behaviour));
    }

    /// A trade, by our payment id.
    pub fn trade(&self, out_trade_no: &str) -> Option<FakeTrade> {
        self.with(|i| i.trades.get(out_trade_no).cloned())
    }

    /// A refund, by our refund id.
    pub fn refund(&self, out_refund_no: &str) -> Option<FakeRefund> {
        self.with(|i| i.refunds.get(out_refund_no).cloned())
    }

    /// Why requests were refused (their `Authorization`).
    pub fn refused(&self) -> Vec<String> {
        self.with(|i| i.refused.clone())
    }

    /// Requests received, answered any way.
    pub fn requests(&self) -> usize {
        self.with(|i| i.requests)
    }

    /// Every notification sent, oldest first.
    pub fn notifications(&self) -> Vec<SignedNotification> {
        self.with(|i| i.sent.clone())
    }

    /// The next bill file downloaded has one byte changed (its hash no longer holds).
    pub fn corrupt_next_bill(&self) {
        self.with(|i| i.corrupt_bill = true);
    }

    /// The shopper pays a prepaid trade (NOTPAY → SUCCESS) and its notification is sent to
    /// the trade's `notify_url`; returns the notification (with the receiver's answer), or
    /// `None` when there is no such unpaid trade.
    pub async fn pay(&self, out_trade_no: &str) -> Option<SignedNotification> {
        let paid = self.with(|i| {
            let trade = i.trades.get_mut(out_trade_no)?;
            if !matches!(trade.trade_state.as_str(), "NOTPAY" | "USERPAYING") {
                return None;
            }
            trade.trade_state = "SUCCESS".into();
            trade.paid_at = Some(Utc::now());
            Some(trade.clone())
        })?;
        let notification = self.payment_notification(&paid, Tamper::None)?;
        Some(self.deliver(notification).await)
    }

    /// The shopper pays a prepaid trade but its notification is lost on the way (never sent):
    /// only a query finds it paid. False when there is no such unpaid trade.
    pub fn pay_silently(&self, out_trade_no: &str) -> bool {
        self.with(|i| {
            let Some(trade) = i.trades.get_mut(out_trade_no) else {
                return false;
            };
            if !matches!(trade.trade_state.as_str(), "NOTPAY" | "USERPAYING") {
                return false;
            }
            trade.trade_state = "SUCCESS".into();
            trade.paid_at = Some(Utc::now());
            true
        })
    }

    /// A refund settles (PROCESSING → `status`: SUCCESS, CLOSED or ABNORMAL) and its
    /// notification is sent; `None` when there is no such refund.
    pub async fn settle_refund(
        &self,
        out_refund_no: &str,
        status: &str,
    ) -> Option<SignedNotification> {
        let refund = self.with(|i| {
            let refund = i.refunds.get_mut(out_refund_no)?;
            refund.status = status.to_owned();
            if status == "SUCCESS" {
                refund.success_at = Some(Utc::now());
            }
            Some(refund.clone())
        })?;
        let notification = self.refund_notification_of(&refund, Tamper::None)?;
        Some(self.deliver(notification).await)
    }

    /// A payment notification for a paid trade, built (spoilt as asked) and not sent.
    pub fn notification_of_payment(
        &self,
        out_trade_no: &str,
        tamper: Tamper,
    ) -> Option<SignedNotification> {
        let trade = self.trade(out_trade_no)?;
        self.payment_notification(&trade, tamper)
    }

    /// A refund notification, built (spoilt as asked) and not sent.
    pub fn notification_of_refund(
        &self,
        out_refund_no: &str,
        tamper: Tamper,
    ) -> Option<SignedNotification> {
        let refund = self.refund(out_refund_no)?;
        self.refund_notification_of(&refund, tamper)
    }

    fn payment_notification(
        &self,
        trade: &FakeTrade,
        tamper: Tamper,
    ) -> Option<SignedNotification> {
        let url = trade.notify_url.clone()?;
        let resource = json!({
            "mchid": MCH_ID,
            "appid": APP_ID,
            "out_trade_no": trade.out_trade_no,
            "transaction_id": trade.transaction_id,
            "trade_type": trade.trade_type,
            "trade_state": "SUCCESS",
            "trade_state_desc": "支付成功",
            "bank_type": "OTHERS",
            "attach": "",
            "success_time": rfc3339(trade.paid_at.unwrap_or_else(Utc::now)),
            "payer": { "openid": trade.openid.clone().unwrap_or_else(|| "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".into()) },
            "amount": { "total": trade.amount, "payer_total": trade.amount, "currency": "CNY", "payer_currency": "CNY" },
        });
        Some(self.build_notification(
            &url,
            "TRANSACTION.SUCCESS",
            "支付成功",
            "transaction",
            &resource,
            tamper,
        ))
    }

    fn refund_notification_of(
        &self,
        refund: &FakeRefund,
        tamper: Tamper,
    ) -> Option<SignedNotification> {
        let url = refund.notify_url.clone()?;
        let event = format!(
            "REFUND.{}",
            if refund.status == "PROCESSING" {
                "SUCCESS"
            } else {
                &refund.status
            }
        );
        let mut resource = json!({
            "mchid": MCH_ID,
            "out_trade_no": refund.out_trade_no,
            "transaction_id": refund.transaction_id,
            "out_refund_no": refund.out_refund_no,
            "refund_id": refund.refund_id,
            "refund_status": refund.status,
            "user_received_account": "支付用户零钱",
            "amount": { "total": refund.total, "refund": refund.amount, "payer_total": refund.total, "payer_refund": refund.amount },
        });
        if let Some(at) = refund.success_at {
            resource["success_time"] = json!(rfc3339(at));
        }
        Some(self.build_notification(&url, &event, "退款状态改变", "refund", &resource, tamper))
    }

    fn build_notification(
        &self,
        url: &str,
        event_type: &str,
        summary: &str,
        original_type: &str,
        resource: &Value,
        tamper: Tamper,
    ) -> SignedNotification {
        let keys = keys();
        let nonce = random_text(12);
        let cipher = Aes256Gcm::new_from_slice(API_V3_KEY.as_bytes()).expect("a 32-byte key");
        let mut ciphertext = cipher
            .encrypt(
                Nonce::from_slice(nonce.as_bytes()),
                Payload {
                    msg: resource.to_string().as_bytes(),
                    aad: original_type.as_bytes(),
                },
            )
            .expect("encrypts");
        if tamper == Tamper::TamperedCiphertext {
            ciphertext[0] ^= 0x01;
        }
        let id = uuid::Uuid::now_v7().to_string();
        let envelope = json!({
            "id": id,
            "create_time": rfc3339(Utc::now()),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": summary,
            "resource": {
                "original_type": original_type,
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": B64.encode(&ciphertext),
                "associated_data": original_type,
                "nonce": nonce,
            },
        });
        let mut body = envelope.to_string().into_bytes();
        let at = Utc::now().timestamp() - if tamper == Tamper::Stale { 600 } else { 0 };
        let key = if tamper == Tamper::ForgedSignature {
            &keys.stranger
        } else {
            &keys.platform
        };
        let serial = if tamper == Tamper::WrongSerial {
            "PUB_KEY_ID_0119000001092025010100000000009999"
        } else {
            self.serial()
        };
        let mut headers = signature_headers(&body, key, serial, at);
        headers.push(("Content-Type".into(), "application/json".into()));
        if tamper == Tamper::TamperedBody {
            body = String::from_utf8_lossy(&body)
                .replace("\"summary\":\"", "\"summary\":\"!")
                .into_bytes();
        }
        SignedNotification {
            id,
            event_type: event_type.to_owned(),
            url: url.to_owned(),
            headers,
            body,
            answer: None,
        }
    }

    /// Sends a notification to its URL and records it (with the answer) for replays.
    pub async fn deliver(&self, mut notification: SignedNotification) -> SignedNotification {
        let mut request = self
            .http
            .post(&notification.url)
            .body(notification.body.clone());
        for (name, value) in &notification.headers {
            request = request.header(name, value);
        }
        notification.answer = request.send().await.ok().map(|r| r.status().as_u16());
        self.with(|i| i.sent.push(notification.clone()));
        notification
    }

    /// Sends a notification sent before again, byte for byte (as a replaying attacker, or a
    /// retry, would); `None` when there is none with that id.
    pub async fn replay(&self, id: &str) -> Option<SignedNotification> {
        let original = self.with(|i| i.sent.iter().find(|n| n.id == id).cloned())?;
        Some(self.deliver(original).await)
    }

    fn next_number(&self) -> u64 {
        self.with(|i| {
            i.counter += 1;
            i.counter
        })
    }

    fn spawn_notify(&self, trade: FakeTrade) {
        let fake = self.clone();
        if let Some(notification) = self.payment_notification(&trade, Tamper::None) {
            tokio::spawn(async move {
                fake.deliver(notification).await;
            });
        }
    }
}

/// Which fakes sign as their certificate's serial instead of the public key id.
struct CertificateFakes(OnceLock<Mutex<std::collections::HashSet<String>>>);

static CERTIFICATE_MODE: CertificateFakes = CertificateFakes(OnceLock::new());

impl CertificateFakes {
    fn set(&self) -> &Mutex<std::collections::HashSet<String>> {
        self.0.get_or_init(Default::default)
    }
    fn with_fake(&self, fake: &FakeWechatPay, on: bool) {
        let mut set = self.set().lock().expect("the set");
        if on {
            set.insert(fake.base_url.clone());
        } else {
            set.remove(&fake.base_url);
        }
    }
    fn of(&self, fake: &FakeWechatPay) -> bool {
        self.set().lock().expect("the set").contains(&fake.base_url)
    }
}

fn json_response(fake: &FakeWechatPay, status: u16, body: &Value) -> Response {
    signed_response(fake, status, body.to_string().into_bytes(), false)
}

fn signed_response(fake: &FakeWechatPay, status: u16, body: Vec<u8>, bad_key: bool) -> Response {
    let keys = keys();
    let key = if bad_key {
        &keys.stranger
    } else {
        &keys.platform
    };
    let mut response = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("Content-Type", "application/json; charset=utf-8")
        .header("Request-ID", format!("08{}", random_text(30)));
    for (name, value) in signature_headers(&body, key, fake.serial(), Utc::now().timestamp()) {
        response = response.header(name, value);
    }
    response
        .body(axum::body::Body::from(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn error(fake: &FakeWechatPay, status: u16, code: &str, message: &str) -> Response {
    json_response(fake, status, &json!({ "code": code, "message": message }))
}

/// Checks `Authorization` as WeChat Pay does.
fn check_authorization(
    method: &Method,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), String> {
    let value = headers
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or("no Authorization")?;
    let params = value
        .strip_prefix("WECHATPAY2-SHA256-RSA2048 ")
        .ok_or("not WECHATPAY2-SHA256-RSA2048")?;
    let mut fields = HashMap::new();
    for part in params.split(',') {
        let (name, value) = part.trim().split_once('=').ok_or("a broken parameter")?;
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .ok_or("an unquoted parameter")?;
        fields.insert(name.to_owned(), value.to_owned());
    }
    let get = |name: &str| fields.get(name).cloned().ok_or(format!("no {name}"));
    if get("mchid")? != MCH_ID {
        return Err("another merchant".into());
    }
    if get("serial_no")? != MERCHANT_SERIAL {
        return Err("an unknown merchant certificate serial".into());
    }
    let timestamp: i64 = get("timestamp")?.parse().map_err(|_| "a bad timestamp")?;
    if (Utc::now().timestamp() - timestamp).abs() > 300 {
        return Err("the timestamp is out of the 5-minute window".into());
    }
    let nonce = get("nonce_str")?;
    let signature = B64
        .decode(get("signature")?)
        .map_err(|_| "the signature is not base64")?;
    let signature =
        Signature::try_from(signature.as_slice()).map_err(|_| "a bad signature length")?;
    let mut message = format!("{method}\n{path_and_query}\n{timestamp}\n{nonce}\n").into_bytes();
    message.extend_from_slice(body);
    message.push(b'\n');
    VerifyingKey::<Sha256>::new(keys().merchant.to_public_key())
        .verify(&message, &signature)
        .map_err(|_| "the signature does not verify".to_owned())
}

async fn handle(
    State(fake): State<FakeWechatPay>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(response) = oauth::handle(&fake, &uri).await {
        return response;
    }
    let mode = fake.with(|i| {
        i.requests += 1;
        i.mode.unwrap_or(Mode::Normal)
    });
    match mode {
        Mode::ServerError => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                [("Content-Type", "application/json")],
                r#"{"code":"SYSTEM_ERROR","message":"系统错误"}"#,
            )
                .into_response()
        }
        Mode::Garbled => {
            return signed_response(&fake, 200, b"{\"code_url\":\"weixin://wxp".to_vec(), false)
        }
        Mode::Slow(pause) => tokio::time::sleep(pause).await,
        Mode::Normal | Mode::BadSignature | Mode::Unsigned => {}
    }
    let path_and_query = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_owned();
    if let Err(why) = check_authorization(&method, &path_and_query, &headers, &body) {
        fake.with(|i| i.refused.push(format!("{method} {path_and_query}: {why}")));
        return error(&fake, 401, "SIGN_ERROR", "签名错误");
    }
    let response = route(&fake, &method, uri.path(), uri.query().unwrap_or(""), &body).await;
    if mode == Mode::Unsigned {
        let (mut parts, body) = response.into_parts();
        for name in [
            "wechatpay-timestamp",
            "wechatpay-nonce",
            "wechatpay-signature",
            "wechatpay-serial",
        ] {
            parts.headers.remove(name);
        }
        return Response::from_parts(parts, body);
    }
    if mode == Mode::BadSignature {
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default();
        return signed_response(&fake, parts.status.as_u16(), bytes.to_vec(), true);
    }
    response
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| v.to_owned())
    })
}

async fn route(
    fake: &FakeWechatPay,
    method: &Method,
    path: &str,
    query: &str,
    body: &[u8],
) -> Response {
    let json: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(_) => return error(fake, 400, "PARAM_ERROR", "请求体不是合法的JSON"),
        }
    };
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["v3", "pay", "transactions", kind @ ("native" | "jsapi" | "h5")]) => {
            prepay(fake, kind, &json)
        }
        ("POST", ["v3", "pay", "transactions", "codepay"]) => code_pay(fake, &json).await,
        ("GET", ["v3", "pay", "transactions", "out-trade-no", no]) => {
            if query_param(query, "mchid").as_deref() != Some(MCH_ID) {
                return error(fake, 400, "PARAM_ERROR", "mchid 不正确");
            }
            query_trade(fake, no)
        }
        ("POST", ["v3", "pay", "transactions", "out-trade-no", no, "close"]) => {
            close(fake, no, &json)
        }
        ("POST", ["v3", "pay", "transactions", "out-trade-no", no, "reverse"]) => {
            reverse(fake, no, &json)
        }
        ("POST", ["v3", "refund", "domestic", "refunds"]) => refund(fake, &json),
        ("GET", ["v3", "refund", "domestic", "refunds", no]) => match fake.refund(no) {
            Some(r) => json_response(fake, 200, &refund_json(&r)),
            None => error(fake, 404, "RESOURCE_NOT_EXISTS", "退款单不存在"),
        },
        ("GET", ["v3", "bill", "tradebill"]) => trade_bill(fake, query),
        ("GET", ["v3", "billdownload", "file"]) => {
            let token = query_param(query, "token").unwrap_or_default();
            let file = fake.with(|i| {
                let mut file = i.bills.get(&token).cloned()?;
                if std::mem::take(&mut i.corrupt_bill) {
                    if let Some(b) = file.last_mut() {
                        *b ^= 0x01;
                    }
                }
                Some(file)
            });
            match file {
                // The file itself is not signed (WeChat Pay's rule for downloads).
                Some(file) => (
                    StatusCode::OK,
                    [("Content-Type", "application/octet-stream")],
                    file,
                )
                    .into_response(),
                None => error(fake, 400, "INVALID_REQUEST", "token 无效"),
            }
        }
        _ => error(fake, 404, "NOT_FOUND", "接口不存在"),
    }
}

fn str_of<'a>(json: &'a Value, pointer: &str) -> Option<&'a str> {
    json.pointer(pointer).and_then(Value::as_str)
}

fn check_order(json: &Value) -> Result<(String, i64), (u16, &'static str, String)> {
    let param = |message: String| (400, "PARAM_ERROR", message);
    if str_of(json, "/mchid") != Some(MCH_ID) {
        return Err(param("mchid 不正确".into()));
    }
    if str_of(json, "/appid") != Some(APP_ID) {
        return Err(param("appid 与 mchid 不匹配".into()));
    }
    let no = str_of(json, "/out_trade_no").unwrap_or("");
    if no.is_empty()
        || no.len() > 32
        || !no
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-*|".contains(&b))
    {
        return Err(param(format!("out_trade_no 不合法: {no}")));
    }
    if str_of(json, "/description").is_none_or(str::is_empty) {
        return Err(param("缺少 description".into()));
    }
    let total = json
        .pointer("/amount/total")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if total <= 0 {
        return Err(param("amount.total 必须大于0".into()));
    }
    if str_of(json, "/amount/currency").is_some_and(|c| c != "CNY") {
        return Err(param("currency 必须为 CNY".into()));
    }
    Ok((no.to_owned(), total))
}

fn new_trade(
    fake: &FakeWechatPay,
    no: &str,
    trade_type: &str,
    total: i64,
    json: &Value,
    state: &str,
) -> FakeTrade {
    FakeTrade {
        out_trade_no: no.to_owned(),
        transaction_id: format!("4200{:024}", fake.next_number()),
        trade_type: trade_type.to_owned(),
        trade_state: state.to_owned(),
        amount: total,
        openid: str_of(json, "/payer/openid").map(str::to_owned),
        notify_url: str_of(json, "/notify_url").map(str::to_owned),
        time_expire: str_of(json, "/time_expire").map(str::to_owned),
        paid_at: None,
        request: json.clone(),
        user_paying_left: 0,
        then_paid: false,
    }
}

fn prepay(fake: &FakeWechatPay, kind: &str, json: &Value) -> Response {
    let (no, total) = match check_order(json) {
        Ok(v) => v,
        Err((status, code, message)) => return error(fake, status, code, &message),
    };
    if str_of(json, "/notify_url").is_none_or(|u| !u.starts_with("http")) {
        return error(fake, 400, "PARAM_ERROR", "notify_url 不合法");
    }
    if let Some(expire) = str_of(json, "/time_expire") {
        if DateTime::parse_from_rfc3339(expire).is_err() || !expire.ends_with("+08:00") {
            return error(fake, 400, "PARAM_ERROR", "time_expire 格式不正确");
        }
    }
    let trade_type = match kind {
        "native" => "NATIVE",
        "jsapi" => {
            if str_of(json, "/payer/openid").is_none_or(str::is_empty) {
                return error(fake, 400, "PARAM_ERROR", "缺少 payer.openid");
            }
            "JSAPI"
        }
        _ => {
            if str_of(json, "/scene_info/payer_client_ip").is_none_or(str::is_empty)
                || str_of(json, "/scene_info/h5_info/type").is_none()
            {
                return error(fake, 400, "PARAM_ERROR", "缺少 scene_info");
            }
            "MWEB"
        }
    };
    let trade = new_trade(fake, &no, trade_type, total, json, "NOTPAY");
    let existing = fake.with(|i| match i.trades.get(&no) {
        Some(t) if t.amount != total || t.trade_type != trade_type => Err(()),
        Some(t) => Ok(t.clone()),
        None => {
            i.trades.insert(no.clone(), trade.clone());
            Ok(trade)
        }
    });
    let Ok(trade) = existing else {
        return error(fake, 400, "INVALID_REQUEST", "201 商户订单号重复");
    };
    let token = &trade.transaction_id[trade.transaction_id.len() - 10..];
    match trade_type {
        "JSAPI" => json_response(fake, 200, &json!({ "prepay_id": prepay_id_of(&trade) })),
        "NATIVE" => json_response(
            fake,
            200,
            &json!({ "code_url": format!("weixin://wxpay/bizpayurl?pr={token}") }),
        ),
        _ => json_response(
            fake,
            200,
            &json!({ "h5_url": format!("https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx{token}&package=1") }),
        ),
    }
}

/// The `prepay_id` of a JSAPI trade (the same for every prepay of the trade).
fn prepay_id_of(trade: &FakeTrade) -> String {
    let id = &trade.transaction_id;
    format!("wx{}", &id[id.len().saturating_sub(10)..])
}

fn transaction_json(t: &FakeTrade) -> Value {
    let mut body = json!({
        "appid": APP_ID,
        "mchid": MCH_ID,
        "out_trade_no": t.out_trade_no,
        "trade_state": t.trade_state,
        "trade_state_desc": match t.trade_state.as_str() {
            "SUCCESS" => "支付成功",
            "NOTPAY" => "未支付",
            "USERPAYING" => "用户支付中",
            "CLOSED" => "已关闭",
            "REVOKED" => "已撤销",
            "REFUND" => "转入退款",
            _ => "支付失败，请重新下单支付",
        },
        "amount": { "total": t.amount, "currency": "CNY" },
    });
    if matches!(t.trade_state.as_str(), "SUCCESS" | "REFUND") {
        body["transaction_id"] = json!(t.transaction_id);
        body["trade_type"] = json!(t.trade_type);
        body["bank_type"] = json!("OTHERS");
        body["success_time"] = json!(rfc3339(t.paid_at.unwrap_or_else(Utc::now)));
        body["payer"] = json!({ "openid": t.openid.clone().unwrap_or_else(|| "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".into()) });
        body["amount"] = json!({ "total": t.amount, "payer_total": t.amount, "currency": "CNY", "payer_currency": "CNY" });
    }
    body
}

async fn code_pay(fake: &FakeWechatPay, json: &Value) -> Response {
    let (no, total) = match check_order(json) {
        Ok(v) => v,
        Err((status, code, message)) => return error(fake, status, code, &message),
    };
    let code = str_of(json, "/payer/auth_code").unwrap_or("").to_owned();
    if code.len() != 18 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return error(fake, 400, "PARAM_ERROR", "auth_code 不合法");
    }
    if json.pointer("/scene_info/store_info").is_none() {
        return error(fake, 400, "PARAM_ERROR", "缺少 scene_info.store_info");
    }
    if fake.trade(&no).is_some() {
        return error(fake, 400, "INVALID_REQUEST", "201 商户订单号重复");
    }
    let behaviour = fake
        .with(|i| i.codes.get(&code).cloned())
        .unwrap_or(CodeBehaviour::Succeed);
    let mut trade = new_trade(fake, &no, "MICROPAY", total, json, "USERPAYING");
    match behaviour {
        CodeBehaviour::Succeed => {
            trade.trade_state = "SUCCESS".into();
            trade.paid_at = Some(Utc::now());
            fake.with(|i| i.trades.insert(no, trade.clone()));
            json_response(fake, 200, &transaction_json(&trade))
        }
        CodeBehaviour::UserPaying { queries, then_paid } => {
            trade.user_paying_left = queries;
            trade.then_paid = then_paid;
            fake.with(|i| i.trades.insert(no, trade));
            json_response(
                fake,
                202,
                &json!({ "code": "USERPAYING", "message": "用户支付中，需要输入密码" }),
            )
        }
        CodeBehaviour::Fail {
            status,
            code,
            message,
        } => error(fake, status, &code, &message),
        CodeBehaviour::Hang => {
            trade.user_paying_left = u32::MAX;
            fake.with(|i| i.trades.insert(no, trade));
            tokio::time::sleep(Duration::from_secs(3600)).await;
            error(fake, 500, "SYSTEM_ERROR", "系统错误")
        }
        CodeBehaviour::ServerError => {
            trade.user_paying_left = u32::MAX;
            fake.with(|i| i.trades.insert(no, trade));
            error(fake, 500, "SYSTEM_ERROR", "系统超时")
        }
        CodeBehaviour::Garbled => signed_response(fake, 200, b"<xml><return_code>".to_vec(), false),
    }
}

fn query_trade(fake: &FakeWechatPay, no: &str) -> Response {
    let settled = fake.with(|i| {
        let trade = i.trades.get_mut(no)?;
        let mut newly_paid = false;
        if trade.trade_state == "USERPAYING" && trade.user_paying_left != u32::MAX {
            if trade.user_paying_left > 0 {
                trade.user_paying_left -= 1;
            } else if trade.then_paid {
                trade.trade_state = "SUCCESS".into();
                trade.paid_at = Some(Utc::now());
                newly_paid = true;
            } else {
                trade.trade_state = "PAYERROR".into();
            }
        }
        Some((trade.clone(), newly_paid))
    });
    match settled {
        Some((trade, newly_paid)) => {
            if newly_paid {
                fake.spawn_notify(trade.clone());
            }
            json_response(fake, 200, &transaction_json(&trade))
        }
        None => error(fake, 404, "ORDER_NOT_EXIST", "订单不存在"),
    }
}

fn close(fake: &FakeWechatPay, no: &str, json: &Value) -> Response {
    if str_of(json, "/mchid") != Some(MCH_ID) {
        return error(fake, 400, "PARAM_ERROR", "mchid 不正确");
    }
    let result = fake.with(|i| {
        let trade = i.trades.get_mut(no).ok_or(404)?;
        match trade.trade_state.as_str() {
            "NOTPAY" | "CLOSED" | "USERPAYING" | "PAYERROR" => {
                trade.trade_state = "CLOSED".into();
                Ok(())
            }
            _ => Err(400),
        }
    });
    match result {
        Ok(()) => signed_response(fake, 204, Vec::new(), false),
        Err(404) => error(fake, 404, "ORDER_NOT_EXIST", "订单不存在"),
        Err(_) => error(fake, 400, "ORDERPAID", "订单已支付"),
    }
}

fn reverse(fake: &FakeWechatPay, no: &str, json: &Value) -> Response {
    if str_of(json, "/mchid") != Some(MCH_ID) || str_of(json, "/appid") != Some(APP_ID) {
        return error(fake, 400, "PARAM_ERROR", "mchid 或 appid 不正确");
    }
    let found = fake.with(|i| {
        let trade = i.trades.get_mut(no)?;
        trade.trade_state = "REVOKED".into();
        trade.user_paying_left = 0;
        Some(())
    });
    match found {
        Some(()) => json_response(
            fake,
            200,
            &json!({ "appid": APP_ID, "mchid": MCH_ID, "out_trade_no": no }),
        ),
        None => error(fake, 404, "ORDER_NOT_EXIST", "订单不存在"),
    }
}

fn refund_json(r: &FakeRefund) -> Value {
    let mut body = json!({
        "refund_id": r.refund_id,
        "out_refund_no": r.out_refund_no,
        "transaction_id": r.transaction_id,
        "out_trade_no": r.out_trade_no,
        "channel": "ORIGINAL",
        "user_received_account": "支付用户零钱",
        "create_time": rfc3339(Utc::now()),
        "status": r.status,
        "funds_account": "AVAILABLE",
        "amount": { "total": r.total, "refund": r.amount, "payer_total": r.total, "payer_refund": r.amount,
                    "settlement_refund": r.amount, "settlement_total": r.total, "discount_refund": 0, "currency": "CNY" },
    });
    if let Some(at) = r.success_at {
        body["success_time"] = json!(rfc3339(at));
    }
    body
}

fn refund(fake: &FakeWechatPay, json: &Value) -> Response {
    let out_refund_no = str_of(json, "/out_refund_no").unwrap_or("").to_owned();
    if out_refund_no.is_empty() || out_refund_no.len() > 64 {
        return error(fake, 400, "PARAM_ERROR", "out_refund_no 不合法");
    }
    let amount = json
        .pointer("/amount/refund")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let total = json
        .pointer("/amount/total")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if amount <= 0 || str_of(json, "/amount/currency") != Some("CNY") {
        return error(fake, 400, "PARAM_ERROR", "amount 不合法");
    }
    let by_transaction = str_of(json, "/transaction_id").map(str::to_owned);
    let by_no = str_of(json, "/out_trade_no").map(str::to_owned);
    let result = fake.with(|i| {
        if let Some(existing) = i.refunds.get(&out_refund_no) {
            return Ok(existing.clone());
        }
        let trade = i
            .trades
            .values()
            .find(|t| {
                Some(&t.transaction_id) == by_transaction.as_ref()
                    || Some(&t.out_trade_no) == by_no.as_ref()
            })
            .cloned()
            .ok_or((404, "RESOURCE_NOT_EXISTS", "订单不存在"))?;
        if !matches!(trade.trade_state.as_str(), "SUCCESS" | "REFUND") {
            return Err((403, "INVALID_REQUEST", "订单未支付"));
        }
        if total != trade.amount {
            return Err((400, "PARAM_ERROR", "订单金额与原订单不一致"));
        }
        let refunded: i64 = i
            .refunds
            .values()
            .filter(|r| r.out_trade_no == trade.out_trade_no && r.status != "CLOSED")
            .map(|r| r.amount)
            .sum();
        if refunded + amount > trade.amount {
            return Err((403, "NOT_ENOUGH", "申请退款金额超过订单可退金额"));
        }
        i.counter += 1;
        let refund = FakeRefund {
            out_refund_no: out_refund_no.clone(),
            refund_id: format!("5030{:025}", i.counter),
            out_trade_no: trade.out_trade_no.clone(),
            transaction_id: trade.transaction_id.clone(),
            amount,
            total,
            status: "PROCESSING".into(),
            notify_url: str_of(json, "/notify_url").map(str::to_owned),
            success_at: None,
        };
        i.refunds.insert(out_refund_no.clone(), refund.clone());
        if let Some(t) = i.trades.get_mut(&trade.out_trade_no) {
            t.trade_state = "REFUND".into();
        }
        Ok(refund)
    });
    match result {
        Ok(r) => json_response(fake, 200, &refund_json(&r)),
        Err((status, code, message)) => error(fake, status, code, message),
    }
}

fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// The day's bill in WeChat Pay's `ALL` format (its columns, backquoted fields, the summary).
fn bill_text(fake: &FakeWechatPay, date: chrono::NaiveDate) -> Option<String> {
    let local = |t: DateTime<Utc>| t.with_timezone(&beijing());
    let (trades, refunds) = fake.with(|i| {
        let mut trades: Vec<FakeTrade> = i
            .trades
            .values()
            .filter(|t| t.paid_at.is_some_and(|p| local(p).date_naive() == date))
            .cloned()
            .collect();
        trades.sort_by_key(|t| t.paid_at);
        let mut refunds: Vec<(FakeRefund, String)> = i
            .refunds
            .values()
            .filter(|r| {
                r.status == "SUCCESS" && r.success_at.is_some_and(|s| local(s).date_naive() == date)
            })
            .map(|r| {
                let trade_type = i
                    .trades
                    .get(&r.out_trade_no)
                    .map(|t| t.trade_type.clone())
                    .unwrap_or_default();
                (r.clone(), trade_type)
            })
            .collect();
        refunds.sort_by_key(|(r, _)| r.success_at);
        (trades, refunds)
    });
    if trades.is_empty() && refunds.is_empty() {
        return None;
    }
    let mut text = String::from(
        "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\n",
    );
    let time = |t: DateTime<Utc>| local(t).format("%Y-%m-%d %H:%M:%S").to_string();
    let (mut settled, mut refunded) = (0_i64, 0_i64);
    for t in &trades {
        settled += t.amount;
        let description = str_of(&t.request, "/description")
            .unwrap_or("")
            .replace(',', "，");
        text.push_str(&format!(
            "`{},`{APP_ID},`{MCH_ID},`0,`,`{},`{},`{},`{},`SUCCESS,`OTHERS,`CNY,`{},`0.00,`0,`0,`0.00,`0.00,`,`,`{description},`,`0.00000,`0.60%,`{},`0.00,`\n",
            time(t.paid_at.unwrap_or_else(Utc::now)),
            t.transaction_id,
            t.out_trade_no,
            t.openid.clone().unwrap_or_default(),
            t.trade_type,
            yuan(t.amount),
            yuan(t.amount),
        ));
    }
    for (r, trade_type) in &refunds {
        refunded += r.amount;
        text.push_str(&format!(
            "`{},`{APP_ID},`{MCH_ID},`0,`,`{},`{},`,`{trade_type},`REFUND,`OTHERS,`CNY,`0.00,`0.00,`{},`{},`{},`0.00,`ORIGINAL,`SUCCESS,`,`,`0.00000,`0.60%,`0.00,`{},`\n",
            time(r.success_at.unwrap_or_else(Utc::now)),
            r.transaction_id,
            r.out_trade_no,
            r.refund_id,
            r.out_refund_no,
            yuan(r.amount),
            yuan(r.amount),
        ));
    }
    text.push_str("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n");
    text.push_str(&format!(
        "`{}.0,`{},`{},`0.0,`0.00,`{},`{}\n",
        trades.len() + refunds.len(),
        yuan(settled),
        yuan(refunded),
        yuan(settled),
        yuan(refunded)
    ));
    Some(text)
}

fn trade_bill(fake: &FakeWechatPay, query: &str) -> Response {
    let Some(date) = query_param(query, "bill_date")
        .and_then(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok())
    else {
        return error(fake, 400, "PARAM_ERROR", "bill_date 格式不正确");
    };
    if query_param(query, "bill_type").is_some_and(|t| t != "ALL") {
        return error(fake, 400, "PARAM_ERROR", "只支持 bill_type=ALL");
    }
    let Some(text) = bill_text(fake, date) else {
        return error(fake, 400, "NO_STATEMENT_EXIST", "账单文件不存在");
    };
    let bytes = text.into_bytes();
    let hash = hex::encode(sha1::Sha1::digest(&bytes));
    let token = random_text(40);
    fake.with(|i| i.bills.insert(token.clone(), bytes));
    json_response(
        fake,
        200,
        &json!({
            "hash_type": "SHA1",
            "hash_value": hash,
            "download_url": format!("{}/v3/billdownload/file?token={token}", fake.base_url),
        }),
    )
}
