//! WeChat mini-program subscribe messages (订阅消息), behind one interface
//! ([`SubscribeSender`]), with the real adapter [`WechatApi`]:
//!
//! * the access token from `POST /cgi-bin/stable_token` (`{grant_type: "client_credential",
//!   appid, secret}` → `{access_token, expires_in}`), cached until five minutes before it
//!   expires and fetched again when the API answers errcode 40001 (invalid token), 42001
//!   (expired) or 40014 (not a token);
//! * `POST /cgi-bin/message/subscribe/send?access_token=…` with `{touser, template_id, page,
//!   data: {key: {value}}, miniprogram_state, lang}` → `{errcode: 0, errmsg: "ok", msgid}`;
//! * `GET /sns/jscode2session?appid&secret&js_code&grant_type=authorization_code` → `{openid,
//!   session_key}`: the openid of the member who just called `wx.login` in the mini-program.
//!
//! Errcodes sort into [`SubscribeError::Permanent`] (43101 the user refused or used up the
//! subscription, 40003 bad openid, 40037 bad template, 47003 bad data, 41030 bad page: never
//! retried) and [`SubscribeError::Temporary`] (-1 busy, 45009 quota, network, 5xx).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::Mutex;

use crate::config::WechatSubscribeSettings;

/// One subscribe message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscribeMessage {
    /// The member's openid in the mini-program.
    pub touser: String,
    /// The subscribe-message template.
    pub template_id: String,
    /// The mini-program page it opens (may be empty).
    pub page: String,
    /// The template's keys and their values (`thing1` → `…`).
    pub data: Vec<(String, String)>,
}

/// Why a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    /// Never deliverable as it is (refused subscription, bad openid or template): not retried.
    #[error("not deliverable: {0}")]
    Permanent(String),
    /// Try again later.
    #[error("temporarily not sent: {0}")]
    Temporary(String),
}

/// A call in progress.
pub type SubscribeFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, SubscribeError>> + Send + 'a>>;

/// Something that sends subscribe messages and knows the mini-program's users.
pub trait SubscribeSender: Send + Sync {
    /// Sends one message; answers the `msgid`.
    fn send<'a>(&'a self, message: &'a SubscribeMessage) -> SubscribeFuture<'a, String>;
    /// The openid behind a `wx.login` code.
    fn openid_of<'a>(&'a self, js_code: &'a str) -> SubscribeFuture<'a, String>;
}

/// The sender the configuration asks for: none without `notifications.wechat.app_id`.
pub fn sender_from_settings(
    settings: &WechatSubscribeSettings,
    http: reqwest::Client,
) -> Option<Arc<dyn SubscribeSender>> {
    if settings.app_id.trim().is_empty() || settings.app_secret.trim().is_empty() {
        return None;
    }
    Some(Arc::new(WechatApi::new(settings, http)))
}

/// The real WeChat API (see the module documentation).
pub struct WechatApi {
    base: String,
    app_id: String,
    app_secret: String,
    state: String,
    lang: String,
    http: reqwest::Client,
    token: Mutex<Option<(String, Instant)>>,
}

impl std::fmt::Debug for WechatApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WechatApi")
            .field("base", &self.base)
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct Answer {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    msgid: Option<serde_json::Value>,
    #[serde(default)]
    openid: Option<String>,
}

/// Errcodes that mean "this token is no good": fetch a new one and try once more.
const TOKEN_ERRORS: [i64; 3] = [40001, 42001, 40014];

/// Errcodes after which the message is never deliverable as it is.
const PERMANENT: [i64; 8] = [43101, 40003, 40037, 47003, 41030, 43107, 40013, 40029];

fn classify(errcode: i64, errmsg: &str) -> SubscribeError {
    let text = format!("errcode {errcode}: {errmsg}");
    if PERMANENT.contains(&errcode) {
        SubscribeError::Permanent(text)
    } else {
        SubscribeError::Temporary(text)
    }
}

fn network(error: &reqwest::Error) -> SubscribeError {
    // Without the URL: it carries the access token.
    SubscribeError::Temporary(if error.is_connect() {
        "could not connect".into()
    } else if error.is_timeout() {
        "no answer in time".into()
    } else {
        "the request failed".into()
    })
}

impl WechatApi {
    /// An adapter for these settings.
    pub fn new(settings: &WechatSubscribeSettings, http: reqwest::Client) -> Self {
        Self {
            base: settings.api_base_url.trim_end_matches('/').to_owned(),
            app_id: settings.app_id.clone(),
            app_secret: settings.app_secret.clone(),
            state: settings.miniprogram_state.clone(),
            lang: settings.lang.clone(),
            http,
            token: Mutex::new(None),
        }
    }

    async fn read(response: reqwest::Response) -> Result<Answer, SubscribeError> {
        let status = response.status();
        if status.is_server_error() {
            return Err(SubscribeError::Temporary(format!("HTTP {status}")));
        }
        let body = response.bytes().await.map_err(|e| network(&e))?;
        serde_json::from_slice(&body).map_err(|e| {
            SubscribeError::Temporary(format!("HTTP {status}: unreadable answer: {e}"))
        })
    }

    /// The cached access token, or a fresh one.
    async fn token(&self, force: bool) -> Result<String, SubscribeError> {
        let mut cached = self.token.lock().await;
        if !force {
            if let Some((token, until)) = cached.as_ref() {
                if Instant::now() < *until {
                    return Ok(token.clone());
                }
            }
        }
        let response = self
            .http
            .post(format!("{}/cgi-bin/stable_token", self.base))
            .json(&serde_json::json!({
                "grant_type": "client_credential",
                "appid": self.app_id,
                "secret": self.app_secret,
                "force_refresh": false,
            }))
            .send()
            .await
            .map_err(|e| network(&e))?;
        let answer = Self::read(response).await?;
        match answer.access_token {
            Some(token) if answer.errcode == 0 && !token.is_empty() => {
                let life = answer.expires_in.unwrap_or(7200).saturating_sub(300).max(1);
                *cached = Some((token.clone(), Instant::now() + Duration::from_secs(life)));
                Ok(token)
            }
            _ => Err(SubscribeError::Temporary(format!(
                "no access token: errcode {}: {}",
                answer.errcode, answer.errmsg
            ))),
        }
    }

    async fn send_once(
        &self,
        message: &SubscribeMessage,
        token: &str,
    ) -> Result<Answer, SubscribeError> {
        let data: serde_json::Map<String, serde_json::Value> = message
            .data
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::json!({ "value": v })))
            .collect();
        let response = self
            .http
            .post(format!(
                "{}/cgi-bin/message/subscribe/send?access_token={token}",
                self.base
            ))
            .json(&serde_json::json!({
                "touser": message.touser,
                "template_id": message.template_id,
                "page": message.page,
                "data": data,
                "miniprogram_state": self.state,
                "lang": self.lang,
            }))
            .send()
            .await
            .map_err(|e| network(&e))?;
        Self::read(response).await
    }

    async fn send_message(&self, message: &SubscribeMessage) -> Result<String, SubscribeError> {
        let mut token = self.token(false).await?;
        for attempt in 0..2 {
            let answer = self.send_once(message, &token).await?;
            if answer.errcode == 0 {
                return Ok(match answer.msgid {
                    Some(serde_json::Value::String(s)) => s,
                    Some(other) => other.to_string(),
                    None => String::new(),
                });
            }
            if TOKEN_ERRORS.contains(&answer.errcode) && attempt == 0 {
                token = self.token(true).await?;
                continue;
            }
            return Err(classify(answer.errcode, &answer.errmsg));
        }
        Err(SubscribeError::Temporary(
            "the access token was refused twice".into(),
        ))
    }

    async fn code_to_openid(&self, js_code: &str) -> Result<String, SubscribeError> {
        let response = self
            .http
            .get(format!("{}/sns/jscode2session", self.base))
            .query(&[
                ("appid", self.app_id.as_str()),
                ("secret", self.app_secret.as_str()),
                ("js_code", js_code),
                ("grant_type", "authorization_code"),
            ])
            .send()
            .await
            .map_err(|e| network(&e))?;
        let answer = Self::read(response).await?;
        match answer.openid {
            Some(openid) if answer.errcode == 0 && !openid.is_empty() => Ok(openid),
            _ => Err(classify(answer.errcode, &answer.errmsg)),
        }
    }
}

impl SubscribeSender for WechatApi {
    fn send<'a>(&'a self, message: &'a SubscribeMessage) -> SubscribeFuture<'a, String> {
        Box::pin(self.send_message(message))
    }

    fn openid_of<'a>(&'a self, js_code: &'a str) -> SubscribeFuture<'a, String> {
        Box::pin(self.code_to_openid(js_code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_subscriptions_are_permanent_and_busy_is_temporary() {
        assert!(matches!(
            classify(43101, "user refuse to accept the msg"),
            SubscribeError::Permanent(_)
        ));
        assert!(matches!(
            classify(40003, "invalid openid"),
            SubscribeError::Permanent(_)
        ));
        assert!(matches!(
            classify(-1, "system error"),
            SubscribeError::Temporary(_)
        ));
        assert!(matches!(
            classify(45009, "quota"),
            SubscribeError::Temporary(_)
        ));
    }

    #[test]
    fn no_sender_without_an_app() {
        let settings = WechatSubscribeSettings::default();
        assert!(sender_from_settings(&settings, reqwest::Client::new()).is_none());
    }
}
