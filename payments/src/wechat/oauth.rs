//! WeChat's web authorisation (网页授权) for an official account, scope `snsapi_base`: how the
//! shop learns the openid of the shopper inside WeChat's browser, which a JSAPI prepay needs
//! (`payer.openid`).
//!
//! 1. The browser is sent to [`WechatOauth::authorize_url`]:
//!    `{authorize_base}/connect/oauth2/authorize?appid=…&redirect_uri=<urlencoded>&response_type=code&scope=snsapi_base&state=…#wechat_redirect`.
//!    `snsapi_base` shows the shopper nothing: WeChat sends the browser straight back to
//!    `redirect_uri?code=…&state=…` (a page on the account's 网页授权域名).
//! 2. The server exchanges the code ([`WechatOauth::openid`]) at
//!    `{api_base}/sns/oauth2/access_token?appid=…&secret=…&code=…&grant_type=authorization_code`;
//!    the JSON answer carries `openid` (and an `access_token` this client does not keep), or
//!    `{"errcode": …, "errmsg": …}` — e.g. 40029 (invalid code), 40163 (code been used), 40125
//!    (invalid app secret). A code works once and for five minutes.
//!
//! Failures follow [`ProviderError`]: an `errcode` is `Rejected` (its number as the code), except
//! `-1` (system busy), which like a timeout, a refused connection or a non-200 status is
//! `Unavailable`; an answer that is not JSON, or has neither `openid` nor `errcode`, is
//! `Malformed`. A "snapshot page" visitor (`is_snapshotuser: 1`, a virtual account WeChat uses
//! when a page is opened from a Moments snapshot) cannot pay: `Rejected` with code
//! [`SNAPSHOT_USER`]. The app secret travels only in the exchange's query string and is never
//! in an error, a log line or `Debug`.

use std::time::Duration;

use serde::Deserialize;

use crate::{ProviderError, ProviderResult};

use super::crypto::clip;
use super::{
    config_error, encode, http_client, malformed, not_sent, read_answer, unavailable, PROVIDER,
};

/// WeChat's authorisation page address.
pub const DEFAULT_AUTHORIZE_BASE_URL: &str = "https://open.weixin.qq.com";

/// WeChat's official-account API address (where the code is exchanged).
pub const DEFAULT_API_BASE_URL: &str = "https://api.weixin.qq.com";

/// The code [`WechatOauth::openid`] refuses a snapshot-page visitor with.
pub const SNAPSHOT_USER: &str = "SNAPSHOT_USER";

/// The longest `state` WeChat carries back (a–z, A–Z, 0–9 only).
pub const MAX_STATE_LEN: usize = 128;

/// The largest exchange answer read.
const MAX_ANSWER_BYTES: usize = 64 << 10;

/// An official account's web-authorisation settings. `Debug` does not show the secret.
#[derive(Clone)]
pub struct WechatOauthConfig {
    /// The official account's app id (the same `app_id` WeChat Pay's JSAPI payments are for).
    pub app_id: String,
    /// The official account's AppSecret.
    pub app_secret: String,
    /// The authorisation page's address, [`DEFAULT_AUTHORIZE_BASE_URL`] unless a test points it
    /// at a fake.
    pub authorize_base_url: String,
    /// The API's address, [`DEFAULT_API_BASE_URL`] unless a test points it at a fake.
    pub api_base_url: String,
    /// The time allowed for the exchange, answer included.
    pub timeout: Duration,
}

impl Default for WechatOauthConfig {
    fn default() -> Self {
        WechatOauthConfig {
            app_id: String::new(),
            app_secret: String::new(),
            authorize_base_url: DEFAULT_AUTHORIZE_BASE_URL.into(),
            api_base_url: DEFAULT_API_BASE_URL.into(),
            timeout: super::DEFAULT_TIMEOUT,
        }
    }
}

impl std::fmt::Debug for WechatOauthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WechatOauthConfig")
            .field("app_id", &self.app_id)
            .field("authorize_base_url", &self.authorize_base_url)
            .field("api_base_url", &self.api_base_url)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn base(name: &str, value: &str) -> ProviderResult<reqwest::Url> {
    reqwest::Url::parse(value.trim().trim_end_matches('/'))
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| config_error(format!("{name} {value:?} is not an http(s) URL")))
}

/// A web-authorisation client for one official account (see the module documentation).
#[derive(Clone)]
pub struct WechatOauth {
    config: WechatOauthConfig,
    authorize_base: String,
    api_base: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for WechatOauth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WechatOauth")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The exchange's answer, success or error.
#[derive(Debug, Default, Deserialize)]
struct TokenAnswer {
    openid: Option<String>,
    is_snapshotuser: Option<i64>,
    errcode: Option<i64>,
    errmsg: Option<String>,
}

/// What an exchange answer body says: the openid, or why not.
fn openid_of(body: &[u8]) -> ProviderResult<String> {
    let answer: TokenAnswer = serde_json::from_slice(body).map_err(|e| {
        malformed(format!(
            "the code exchange's answer is not JSON ({e}): {:?}",
            clip(&String::from_utf8_lossy(body))
        ))
    })?;
    match answer.errcode {
        Some(0) | None => {}
        Some(-1) => {
            return Err(unavailable(format!(
                "the code exchange: errcode -1 {:?} (system busy)",
                clip(answer.errmsg.as_deref().unwrap_or(""))
            )))
        }
        Some(code) => {
            let message = clip(answer.errmsg.as_deref().unwrap_or(""));
            tracing::warn!(provider = PROVIDER, errcode = code, errmsg = %message, "WeChat refused the authorisation code");
            return Err(ProviderError::Rejected {
                provider: PROVIDER,
                code: code.to_string(),
                message,
            });
        }
    }
    if answer.is_snapshotuser == Some(1) {
        return Err(ProviderError::Rejected {
            provider: PROVIDER,
            code: SNAPSHOT_USER.into(),
            message: "a snapshot-page visitor (is_snapshotuser): open the page in full to pay"
                .into(),
        });
    }
    answer
        .openid
        .filter(|o| {
            !o.is_empty()
                && o.len() <= 128
                && o.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .ok_or_else(|| malformed("the code exchange's answer has no usable openid".into()))
}

/// True for a `state` WeChat carries back unchanged: 1 to [`MAX_STATE_LEN`] of a–z, A–Z, 0–9.
pub fn valid_state(state: &str) -> bool {
    !state.is_empty()
        && state.len() <= MAX_STATE_LEN
        && state.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl WechatOauth {
    /// A client for the settings: the app id and secret present, both addresses http(s), a
    /// timeout above zero; [`ProviderError::Config`] names what is not.
    pub fn new(config: WechatOauthConfig) -> ProviderResult<WechatOauth> {
        if config.app_id.trim().is_empty() {
            return Err(config_error("app_id is missing"));
        }
        if config.app_secret.trim().is_empty() {
            return Err(config_error("app_secret is missing"));
        }
        let authorize_base = base("oauth_base_url", &config.authorize_base_url)?
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        let api_base = base("oauth_api_base_url", &config.api_base_url)?
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        if config.timeout.is_zero() {
            return Err(config_error("timeout is zero"));
        }
        let http = http_client(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| config_error(format!("the HTTP client does not start: {e}")))?;
        Ok(WechatOauth {
            config,
            authorize_base,
            api_base,
            http,
        })
    }

    /// The app id the openids are for.
    pub fn app_id(&self) -> &str {
        self.config.app_id.trim()
    }

    /// Where to send the shopper's browser: WeChat's authorisation page for `snsapi_base`, which
    /// sends it back to `redirect_uri` with `code` and `state`. `state` must pass
    /// [`valid_state`] (WeChat drops anything else).
    pub fn authorize_url(&self, redirect_uri: &str, state: &str) -> String {
        format!(
            "{}/connect/oauth2/authorize?appid={}&redirect_uri={}&response_type=code&scope=snsapi_base&state={}#wechat_redirect",
            self.authorize_base,
            encode(self.app_id()),
            encode(redirect_uri),
            encode(state),
        )
    }

    /// Exchanges an authorisation code for the shopper's openid (see the module documentation
    /// for what each failure is).
    pub async fn openid(&self, code: &str) -> ProviderResult<String> {
        let url = format!(
            "{}/sns/oauth2/access_token?appid={}&secret={}&code={}&grant_type=authorization_code",
            self.api_base,
            encode(self.app_id()),
            encode(self.config.app_secret.trim()),
            encode(code),
        );
        let what = "GET /sns/oauth2/access_token";
        // Its errors never carry the URL, which holds the AppSecret.
        let mut response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| not_sent(what, e))?;
        let status = response.status().as_u16();
        let body = read_answer(&mut response, MAX_ANSWER_BYTES, what, "").await?;
        if status != 200 {
            return Err(unavailable(format!("{what}: HTTP {status}")));
        }
        openid_of(&body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn client() -> WechatOauth {
        WechatOauth::new(WechatOauthConfig {
            app_id: "wx520c15f417810387".into(),
            app_secret: "s3cret".into(),
            ..WechatOauthConfig::default()
        })
        .expect("client")
    }

    #[test]
    fn the_authorize_url_is_wechats_snsapi_base_link() {
        assert_eq!(
            client().authorize_url("https://shop.example.cn/wechat/oauth?x=1&y=2", "Ab09"),
            "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wx520c15f417810387\
             &redirect_uri=https%3A%2F%2Fshop.example.cn%2Fwechat%2Foauth%3Fx%3D1%26y%3D2\
             &response_type=code&scope=snsapi_base&state=Ab09#wechat_redirect"
        );
    }

    #[test]
    fn exchange_answers_map_to_openids_or_errors() {
        let ok = br#"{"access_token":"ACCESS_TOKEN","expires_in":7200,"refresh_token":"R","openid":"oLVPpjqs9BhvzwPj5A-vTYAX3GLc","scope":"snsapi_base"}"#;
        assert_eq!(
            openid_of(ok).expect("openid"),
            "oLVPpjqs9BhvzwPj5A-vTYAX3GLc"
        );
        match openid_of(br#"{"errcode":40029,"errmsg":"invalid code"}"#) {
            Err(ProviderError::Rejected { code, message, .. }) => {
                assert_eq!((code.as_str(), message.as_str()), ("40029", "invalid code"));
            }
            other => panic!("{other:?}"),
        }
        match openid_of(br#"{"errcode":40163,"errmsg":"code been used, rid: 1"}"#) {
            Err(ProviderError::Rejected { code, .. }) => assert_eq!(code, "40163"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            openid_of(br#"{"errcode":-1,"errmsg":"system error"}"#),
            Err(ProviderError::Unavailable { .. })
        ));
        match openid_of(br#"{"openid":"o1","is_snapshotuser":1}"#) {
            Err(ProviderError::Rejected { code, .. }) => assert_eq!(code, SNAPSHOT_USER),
            other => panic!("{other:?}"),
        }
        for bad in [
            &b"<html>busy</html>"[..],
            b"{}",
            br#"{"openid":""}"#,
            br#"{"openid":"o 1"}"#,
        ] {
            assert!(
                matches!(openid_of(bad), Err(ProviderError::Malformed { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn settings_are_checked_and_the_secret_never_shows() {
        let reason = |c: WechatOauthConfig| match WechatOauth::new(c) {
            Err(ProviderError::Config { reason, .. }) => reason,
            other => panic!("{other:?}"),
        };
        assert!(reason(WechatOauthConfig::default()).contains("app_id"));
        let mut config = WechatOauthConfig {
            app_id: "wx1".into(),
            ..WechatOauthConfig::default()
        };
        assert!(reason(config.clone()).contains("app_secret"));
        config.app_secret = "s3cret".into();
        config.api_base_url = "ftp://x".into();
        assert!(reason(config.clone()).contains("oauth_api_base_url"));
        config.api_base_url = DEFAULT_API_BASE_URL.into();
        let client = WechatOauth::new(config).expect("client");
        assert!(!format!("{client:?}").contains("s3cret"));
    }

    #[tokio::test]
    async fn an_unreachable_api_is_unavailable_and_the_error_hides_the_secret() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        let addr = closed.local_addr().expect("addr");
        drop(closed);
        let client = WechatOauth::new(WechatOauthConfig {
            app_id: "wx1".into(),
            app_secret: "s3cret".into(),
            api_base_url: format!("http://{addr}"),
            timeout: Duration::from_secs(2),
            ..WechatOauthConfig::default()
        })
        .expect("client");
        match client.openid("CODE").await {
            Err(e @ ProviderError::Unavailable { .. }) => {
                assert!(!e.to_string().contains("s3cret"), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn states_are_what_wechat_carries_back() {
        assert!(valid_state("aZ09"));
        assert!(valid_state(&"a".repeat(MAX_STATE_LEN)));
        assert!(!valid_state(""));
        assert!(!valid_state(&"a".repeat(MAX_STATE_LEN + 1)));
        assert!(!valid_state("a_b"));
        assert!(!valid_state("a%20"));
    }

    proptest! {
        #[test]
        fn reading_exchange_answers_never_panics(body in proptest::collection::vec(any::<u8>(), 0..300),
                                                 text in ".{0,100}") {
            let _ = openid_of(&body);
            let _ = openid_of(text.as_bytes());
            let near = serde_json::json!({"openid": text, "errcode": 0}).to_string();
            let _ = openid_of(near.as_bytes());
        }
    }
}
