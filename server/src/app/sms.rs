//! Sending one-time log-in codes by SMS, behind one interface ([`SmsSender`]).
//!
//! Two implementations:
//! * [`Sandbox`] — exists only in demo mode ([`crate::config::Settings::demo`]) with no real
//!   provider configured; it sends nothing and is the only sender whose code the shop may show
//!   on the page ([`SmsSender::shows_code_on_page`]);
//! * [`Aliyun`] — Alibaba Cloud SMS (`dysmsapi`, action `SendSms`, version `2017-05-25`), the
//!   RPC-style API signed with HMAC-SHA1 ([`aliyun_signature`]).
//!
//! [`sender_from_settings`] picks one from `[sms]` in the configuration; with neither (outside
//! demo mode, no provider) there is no sender and SMS log-in is unavailable.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Deserialize;

use crate::config::{Settings, SmsSettings};

/// What a provider answered when a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmsError {
    /// The provider refuses more messages now (to this phone or for the account), e.g. Alibaba
    /// Cloud's `isv.BUSINESS_LIMIT_CONTROL`: try later.
    #[error("the SMS provider limits sending now ({0})")]
    Throttled(String),
    /// The provider says the phone number cannot receive messages (`isv.MOBILE_NUMBER_ILLEGAL`).
    #[error("the SMS provider refuses the phone number ({0})")]
    BadNumber(String),
    /// The provider refused the request for another reason (credentials, sign name, template,
    /// signature): a configuration problem on our side.
    #[error("the SMS provider refused the request: {code}: {message}")]
    Refused {
        /// The provider's error code.
        code: String,
        /// The provider's message.
        message: String,
    },
    /// The provider did not answer, or answered with a server error (5xx).
    #[error("the SMS provider is unavailable: {0}")]
    Unavailable(String),
    /// The provider answered something that is not its documented format.
    #[error("the SMS provider's answer could not be read: {0}")]
    BadAnswer(String),
}

/// A sending in progress.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<String, SmsError>> + Send + 'a>>;

/// Something that sends one-time log-in codes by SMS.
pub trait SmsSender: Send + Sync {
    /// Sends `code` to the 11-digit mainland mobile number `phone`; answers the provider's
    /// message id.
    fn send_login_code<'a>(&'a self, phone: &'a str, code: &'a str) -> SendFuture<'a>;

    /// Sends a notification with the approved template `template_code` and its parameters
    /// (`template_param`, a JSON object of strings) to `phone`; answers the provider's message
    /// id. Only a real provider sends notifications: the default (the demo sandbox) refuses.
    fn send_template<'a>(
        &'a self,
        phone: &'a str,
        template_code: &'a str,
        template_param: &'a str,
    ) -> SendFuture<'a> {
        let _ = (phone, template_code, template_param);
        Box::pin(async {
            Err(SmsError::Refused {
                code: "unsupported".into(),
                message: "this sender does not send notifications".into(),
            })
        })
    }

    /// True only for the demo sandbox: the shop shows the code on the page instead of sending it.
    fn shows_code_on_page(&self) -> bool {
        false
    }

    /// The provider's name, for logs (`sandbox`, `aliyun`).
    fn name(&self) -> &'static str;
}

/// The SMS sender the configuration asks for: Alibaba Cloud when `sms.provider = "aliyun"`,
/// the sandbox in demo mode without a provider, and none otherwise (SMS log-in unavailable).
///
/// # Errors
/// When `[sms]` names an unknown provider or is half configured ([`SmsSettings::validate`]).
pub fn sender_from_settings(
    settings: &Settings,
    http: reqwest::Client,
) -> anyhow::Result<Option<Arc<dyn SmsSender>>> {
    settings.sms.validate()?;
    Ok(match settings.sms.provider.as_str() {
        "aliyun" => Some(Arc::new(Aliyun::new(&settings.sms, http))),
        _ if settings.demo => Some(Arc::new(Sandbox { _private: () })),
        _ => None,
    })
}

/// The demo sandbox: sends nothing; the shop shows the code on the page. Only
/// [`sender_from_settings`] makes one, and only in demo mode.
#[derive(Debug)]
pub struct Sandbox {
    _private: (),
}

impl SmsSender for Sandbox {
    fn send_login_code<'a>(&'a self, _phone: &'a str, _code: &'a str) -> SendFuture<'a> {
        Box::pin(async { Ok(format!("sandbox-{}", retail_domain::ids::new_id())) })
    }

    fn shows_code_on_page(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "sandbox"
    }
}

/// Alibaba Cloud SMS (`dysmsapi` `SendSms`), over a signed GET to the configured endpoint.
pub struct Aliyun {
    endpoint: String,
    access_key_id: String,
    access_key_secret: String,
    sign_name: String,
    template_code: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for Aliyun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aliyun")
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// The answer of `SendSms` (JSON), success or error.
#[derive(Debug, Deserialize)]
struct SendSmsAnswer {
    #[serde(rename = "Code")]
    code: String,
    #[serde(rename = "Message", default)]
    message: String,
    #[serde(rename = "BizId", default)]
    biz_id: Option<String>,
    #[serde(rename = "RequestId", default)]
    request_id: Option<String>,
}

impl Aliyun {
    /// An adapter for these settings (checked by [`SmsSettings::validate`]).
    pub fn new(settings: &SmsSettings, http: reqwest::Client) -> Self {
        Self {
            endpoint: settings.endpoint.clone(),
            access_key_id: settings.access_key_id.clone(),
            access_key_secret: settings.access_key_secret.clone(),
            sign_name: settings.sign_name.clone(),
            template_code: settings.template_code.clone(),
            http,
        }
    }

    /// The signed query string of a `SendSms` request (`Signature` first, then the sorted
    /// parameters), with this nonce and timestamp.
    #[cfg(test)]
    fn signed_query(&self, phone: &str, code: &str, nonce: &str, timestamp: &str) -> String {
        let template_param = serde_json::json!({ "code": code }).to_string();
        self.signed_template_query(
            phone,
            &self.template_code,
            &template_param,
            nonce,
            timestamp,
        )
    }

    /// The signed query string of a `SendSms` request of `template_code` with `template_param`.
    fn signed_template_query(
        &self,
        phone: &str,
        template_code: &str,
        template_param: &str,
        nonce: &str,
        timestamp: &str,
    ) -> String {
        let params: BTreeMap<&str, &str> = [
            ("AccessKeyId", self.access_key_id.as_str()),
            ("Action", "SendSms"),
            ("Format", "JSON"),
            ("PhoneNumbers", phone),
            ("SignName", self.sign_name.as_str()),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", nonce),
            ("SignatureVersion", "1.0"),
            ("TemplateCode", template_code),
            ("TemplateParam", template_param),
            ("Timestamp", timestamp),
            ("Version", "2017-05-25"),
        ]
        .into_iter()
        .collect();
        let signature = aliyun_signature(&params, &self.access_key_secret);
        format!(
            "Signature={}&{}",
            percent_encode(&signature),
            canonical_query(&params)
        )
    }

    async fn send(&self, phone: &str, code: &str) -> Result<String, SmsError> {
        let template_param = serde_json::json!({ "code": code }).to_string();
        self.send_with(phone, &self.template_code, &template_param)
            .await
    }

    async fn send_with(
        &self,
        phone: &str,
        template_code: &str,
        template_param: &str,
    ) -> Result<String, SmsError> {
        let nonce = uuid::Uuid::now_v7().simple().to_string();
        let timestamp = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let query =
            self.signed_template_query(phone, template_code, template_param, &nonce, &timestamp);
        let separator = if self.endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        let url = format!("{}{separator}{query}", self.endpoint);
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| SmsError::Unavailable(without_url(&e)))?;
        let status = response.status();
        if status.is_server_error() {
            return Err(SmsError::Unavailable(format!("HTTP {status}")));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| SmsError::Unavailable(without_url(&e)))?;
        let answer: SendSmsAnswer = serde_json::from_slice(&body)
            .map_err(|e| SmsError::BadAnswer(format!("HTTP {status}: {e}")))?;
        match answer.code.as_str() {
            "OK" if status.is_success() => answer
                .biz_id
                .filter(|id| !id.is_empty())
                .ok_or_else(|| SmsError::BadAnswer("Code OK without a BizId".into())),
            "isv.BUSINESS_LIMIT_CONTROL" | "isv.DAY_LIMIT_CONTROL" | "Throttling.User" => {
                Err(SmsError::Throttled(answer.code))
            }
            "isv.MOBILE_NUMBER_ILLEGAL" | "isv.MOBILE_COUNT_OVER_LIMIT" => {
                Err(SmsError::BadNumber(answer.code))
            }
            _ => Err(SmsError::Refused {
                code: answer.code,
                message: format!(
                    "{} (HTTP {status}, request {})",
                    answer.message,
                    answer.request_id.as_deref().unwrap_or("-")
                ),
            }),
        }
    }
}

/// What went wrong with a request, without the URL (it carries the signed query and the phone
/// number, which must not reach the logs).
fn without_url(error: &reqwest::Error) -> String {
    let what = if error.is_builder() {
        "the request could not be made (an https:// endpoint needs a build with TLS)"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_timeout() {
        "no answer in time"
    } else if error.is_body() || error.is_decode() {
        "the answer broke off"
    } else {
        "the request failed"
    };
    what.to_owned()
}

impl SmsSender for Aliyun {
    fn send_login_code<'a>(&'a self, phone: &'a str, code: &'a str) -> SendFuture<'a> {
        Box::pin(self.send(phone, code))
    }

    fn send_template<'a>(
        &'a self,
        phone: &'a str,
        template_code: &'a str,
        template_param: &'a str,
    ) -> SendFuture<'a> {
        Box::pin(self.send_with(phone, template_code, template_param))
    }

    fn name(&self) -> &'static str {
        "aliyun"
    }
}

/// Percent-encoding of Alibaba Cloud's RPC signature: UTF-8 bytes, everything but `A–Z a–z
/// 0–9 - _ . ~` as `%XY` (upper-case hex; a space is `%20`, `*` is `%2A`).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The canonicalized query string: parameters sorted by name, each name and value
/// percent-encoded, joined with `=` and `&`.
pub fn canonical_query(params: &BTreeMap<&str, &str>) -> String {
    params
        .iter()
        .filter(|(name, _)| **name != "Signature")
        .map(|(name, value)| format!("{}={}", percent_encode(name), percent_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Alibaba Cloud's RPC signature (version 1.0) of a GET request: base64 of HMAC-SHA1 keyed by
/// `access_key_secret + "&"` over `"GET&%2F&" + percent_encode(canonical_query)`.
pub fn aliyun_signature(params: &BTreeMap<&str, &str>, access_key_secret: &str) -> String {
    let string_to_sign = format!("GET&%2F&{}", percent_encode(&canonical_query(params)));
    let Ok(mut mac) =
        Hmac::<sha1::Sha1>::new_from_slice(format!("{access_key_secret}&").as_bytes())
    else {
        // HMAC takes keys of any length; this cannot happen.
        return String::new();
    };
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of Alibaba Cloud's SMS documentation ("HTTP 协议及签名", `SendSms`):
    /// AccessKeyId `testId`, secret `testSecret`.
    #[test]
    fn signature_matches_the_sms_documentation_example() {
        let params: BTreeMap<&str, &str> = [
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
        .collect();
        assert_eq!(
            canonical_query(&params),
            "AccessKeyId=testId&Action=SendSms&Format=XML&OutId=123&PhoneNumbers=15300000001\
             &RegionId=cn-hangzhou&SignName=%E9%98%BF%E9%87%8C%E4%BA%91%E7%9F%AD%E4%BF%A1%E6%B5%8B\
             %E8%AF%95%E4%B8%93%E7%94%A8&SignatureMethod=HMAC-SHA1\
             &SignatureNonce=45e25e9b-0a6f-4070-8c85-2956eda1b466&SignatureVersion=1.0\
             &TemplateCode=SMS_71390007&TemplateParam=%7B%22customer%22%3A%22test%22%7D\
             &Timestamp=2017-07-12T02%3A42%3A19Z&Version=2017-05-25"
        );
        assert_eq!(
            aliyun_signature(&params, "testSecret"),
            "zJDF+Lrzhj/ThnlvIToysFRq6t4="
        );
    }

    /// The example of Alibaba Cloud's RPC signature documentation (`DescribeRegions`,
    /// AccessKeyId `testid`, secret `testsecret`).
    #[test]
    fn signature_matches_the_rpc_documentation_example() {
        let params: BTreeMap<&str, &str> = [
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("Format", "XML"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Version", "2014-05-26"),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            aliyun_signature(&params, "testsecret"),
            "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
        );
    }

    #[test]
    fn percent_encoding_follows_the_signature_rules() {
        assert_eq!(percent_encode("a b*~-_."), "a%20b%2A~-_.");
        assert_eq!(percent_encode("/=&+"), "%2F%3D%26%2B");
        assert_eq!(percent_encode("派"), "%E6%B4%BE");
    }

    #[test]
    fn the_signed_query_carries_every_parameter_and_the_code_only_in_template_param() {
        let adapter = Aliyun::new(
            &SmsSettings {
                provider: "aliyun".into(),
                access_key_id: "LTAI-test".into(),
                access_key_secret: "secret".into(),
                sign_name: "零售".into(),
                template_code: "SMS_1".into(),
                ..SmsSettings::default()
            },
            reqwest::Client::new(),
        );
        let query = adapter.signed_query("13800138000", "123456", "n1", "2026-01-01T00:00:00Z");
        assert!(query.starts_with("Signature="), "{query}");
        for part in [
            "AccessKeyId=LTAI-test",
            "Action=SendSms",
            "PhoneNumbers=13800138000",
            "SignatureMethod=HMAC-SHA1",
            "SignatureVersion=1.0",
            "SignatureNonce=n1",
            "TemplateCode=SMS_1",
            "TemplateParam=%7B%22code%22%3A%22123456%22%7D",
            "Timestamp=2026-01-01T00%3A00%3A00Z",
            "Version=2017-05-25",
        ] {
            assert!(query.contains(part), "{part} in {query}");
        }
    }

    #[test]
    fn the_sandbox_exists_only_in_demo_mode() {
        let mut settings = Settings {
            demo: true,
            ..Settings::default()
        };
        let http = reqwest::Client::new();
        let sandbox = sender_from_settings(&settings, http.clone());
        assert!(matches!(sandbox, Ok(Some(ref s)) if s.shows_code_on_page()));
        settings.demo = false;
        assert!(matches!(
            sender_from_settings(&settings, http.clone()),
            Ok(None)
        ));
        settings.sms = SmsSettings {
            provider: "aliyun".into(),
            access_key_id: "id".into(),
            access_key_secret: "secret".into(),
            sign_name: "sign".into(),
            template_code: "SMS_1".into(),
            ..SmsSettings::default()
        };
        let real = sender_from_settings(&settings, http.clone());
        assert!(matches!(real, Ok(Some(ref s)) if !s.shows_code_on_page() && s.name() == "aliyun"));
        settings.demo = true;
        let real = sender_from_settings(&settings, http);
        assert!(
            matches!(real, Ok(Some(ref s)) if !s.shows_code_on_page()),
            "a configured provider wins over the sandbox in demo mode too"
        );
    }
}
