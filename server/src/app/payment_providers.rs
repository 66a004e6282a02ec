//! The payment providers this server takes money through, behind one interface: WeChat Pay
//! (API v3) and Alipay (open platform) when configured (`[payments.wechat]`,
//! `[payments.alipay]`), and the **sandbox** in demo mode only. The use cases
//! ([`crate::app::payments`], the lane's payment code, refunds, reconciliation) name a
//! [`Provider`] and call [`PaymentProviders`]; the provider clients themselves live in
//! `retail-payments`. Beside WeChat Pay, with `payments.wechat.app_secret`, the official
//! account's web authorisation ([`PaymentProviders::wechat_oauth`]) gives the shop the openid a
//! JSAPI payment is for ([`crate::app::wechat_oauth`]).
//!
//! The sandbox holds no trades of its own: its shopper page (`/sandbox/pay/{id}`, demo mode only)
//! signs the one notification it sends, it refunds at once, and it knows nothing to query. A
//! provider that is not configured answers [`ProviderError::Config`] for every call.

use std::sync::Arc;

use anyhow::Context;
use chrono::NaiveDate;
use retail_domain::wire::sales::PaymentMethod;
use retail_payments::alipay::{Alipay, AlipayConfig, CancelAction};
use retail_payments::wechat::{WechatOauth, WechatOauthConfig, WechatPay, WechatPayConfig};
use retail_payments::{
    BillLine, CodePayOutcome, CodePayRequest, PaidTrade, Prepay, PrepayRequest, ProviderError,
    ProviderResult, RefundOutcome, RefundRequest, RefundState, TradeState,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use crate::actor::ClientAddr;
use crate::config::{AlipaySettings, Settings, WechatPaySettings};
use crate::error::{AppError, AppResult};
use retail_payments::PrepayScene;

/// A payment provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// The demo's sandbox (demo mode only).
    Sandbox,
    /// WeChat Pay.
    WechatPay,
    /// Alipay.
    Alipay,
}

impl Provider {
    /// The tender a payment through this provider is recorded as.
    pub fn method(self) -> PaymentMethod {
        match self {
            Provider::Sandbox => PaymentMethod::SandboxQr,
            Provider::WechatPay => PaymentMethod::WechatPay,
            Provider::Alipay => PaymentMethod::Alipay,
        }
    }

    /// The provider a tender goes through, if any.
    pub fn of_method(method: PaymentMethod) -> Option<Provider> {
        match method {
            PaymentMethod::SandboxQr => Some(Provider::Sandbox),
            PaymentMethod::WechatPay => Some(Provider::WechatPay),
            PaymentMethod::Alipay => Some(Provider::Alipay),
            _ => None,
        }
    }

    /// The provider a stored tender name goes through, if any.
    pub fn of_method_name(method: &str) -> Option<Provider> {
        method
            .parse::<PaymentMethod>()
            .ok()
            .and_then(Self::of_method)
    }

    /// Its name in the API, logs and alerts (`sandbox`, `wechat_pay`, `alipay`).
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Sandbox => "sandbox",
            Provider::WechatPay => "wechat_pay",
            Provider::Alipay => "alipay",
        }
    }

    /// Its name for shoppers and cashiers.
    pub fn label(self) -> &'static str {
        match self {
            Provider::Sandbox => "沙箱支付 Sandbox",
            Provider::WechatPay => "微信支付 WeChat Pay",
            Provider::Alipay => "支付宝 Alipay",
        }
    }
}

/// The configured providers (see the module documentation). Cheap to share.
#[derive(Clone, Debug, Default)]
pub struct PaymentProviders {
    sandbox: bool,
    wechat: Option<Arc<WechatPay>>,
    wechat_oauth: Option<Arc<WechatOauth>>,
    alipay: Option<Arc<Alipay>>,
}

fn read_key_file(setting: &str, path: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("{setting}: reading {path}"))
        .map(|text| text.trim().to_owned())
}

/// The WeChat Pay client for the settings, or `None` when none is configured.
pub fn wechat_from_settings(
    settings: &WechatPaySettings,
    timeout: std::time::Duration,
) -> anyhow::Result<Option<WechatPay>> {
    settings.validate()?;
    if !settings.is_set() {
        return Ok(None);
    }
    let file = |name: &str, path: &str| -> anyhow::Result<String> {
        if path.trim().is_empty() {
            Ok(String::new())
        } else {
            read_key_file(&format!("payments.wechat.{name}"), path)
        }
    };
    let mut config = WechatPayConfig {
        mch_id: settings.mch_id.trim().into(),
        app_id: settings.app_id.trim().into(),
        merchant_serial_no: settings.merchant_serial_no.trim().into(),
        merchant_private_key_pem: file(
            "merchant_private_key_file",
            &settings.merchant_private_key_file,
        )?,
        api_v3_key: settings.api_v3_key.trim().into(),
        wechatpay_public_key_pem: file(
            "wechatpay_public_key_file",
            &settings.wechatpay_public_key_file,
        )?,
        wechatpay_public_key_id: settings.wechatpay_public_key_id.trim().into(),
        platform_certificates_pem: file(
            "platform_certificates_file",
            &settings.platform_certificates_file,
        )?,
        timeout,
        ..WechatPayConfig::default()
    };
    if !settings.base_url.trim().is_empty() {
        config.base_url = settings.base_url.trim().into();
    }
    WechatPay::new(config)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("payments.wechat: {e}"))
}

/// The official account's web-authorisation client (the shop's openid inside WeChat) for the
/// settings, or `None` when no AppSecret is configured. The AppSecret comes from
/// `payments.wechat.app_secret` (the environment) or the file `app_secret_file`.
pub fn wechat_oauth_from_settings(
    settings: &WechatPaySettings,
    timeout: std::time::Duration,
) -> anyhow::Result<Option<WechatOauth>> {
    settings.validate()?;
    if !settings.oauth_is_set() {
        return Ok(None);
    }
    let app_secret = if settings.app_secret.trim().is_empty() {
        read_key_file("payments.wechat.app_secret_file", &settings.app_secret_file)?
    } else {
        settings.app_secret.trim().to_owned()
    };
    let mut config = WechatOauthConfig {
        app_id: settings.app_id.trim().into(),
        app_secret,
        timeout,
        ..WechatOauthConfig::default()
    };
    if !settings.oauth_base_url.trim().is_empty() {
        config.authorize_base_url = settings.oauth_base_url.trim().into();
    }
    if !settings.oauth_api_base_url.trim().is_empty() {
        config.api_base_url = settings.oauth_api_base_url.trim().into();
    }
    WechatOauth::new(config)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("payments.wechat: {e}"))
}

/// The Alipay client for the settings, or `None` when none is configured.
pub fn alipay_from_settings(
    settings: &AlipaySettings,
    timeout: std::time::Duration,
) -> anyhow::Result<Option<Alipay>> {
    settings.validate()?;
    if !settings.is_set() {
        return Ok(None);
    }
    let mut config = AlipayConfig::new(
        settings.app_id.trim(),
        read_key_file(
            "payments.alipay.app_private_key_file",
            &settings.app_private_key_file,
        )?,
        read_key_file(
            "payments.alipay.alipay_public_key_file",
            &settings.alipay_public_key_file,
        )?,
    );
    if !settings.seller_id.trim().is_empty() {
        config.seller_id = Some(settings.seller_id.trim().into());
    }
    if !settings.gateway.trim().is_empty() {
        config.gateway = settings.gateway.trim().into();
    }
    config.timeout = timeout;
    Alipay::new(config)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("payments.alipay: {e}"))
}

fn not_configured(provider: Provider) -> ProviderError {
    ProviderError::Config {
        provider: match provider {
            Provider::Sandbox => "sandbox",
            Provider::WechatPay => retail_payments::wechat::PROVIDER,
            Provider::Alipay => retail_payments::alipay::PROVIDER,
        },
        reason: "this provider is not configured on this server".into(),
    }
}

impl PaymentProviders {
    /// The providers the configuration names; refuses a half-configured one (naming the
    /// setting) and keys that do not load. The sandbox exists in demo mode only.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<PaymentProviders> {
        let timeout = std::time::Duration::from_millis(settings.payments.provider_timeout_millis);
        Ok(PaymentProviders {
            sandbox: settings.demo,
            wechat: wechat_from_settings(&settings.payments.wechat, timeout)?.map(Arc::new),
            wechat_oauth: wechat_oauth_from_settings(&settings.payments.wechat, timeout)?
                .map(Arc::new),
            alipay: alipay_from_settings(&settings.payments.alipay, timeout)?.map(Arc::new),
        })
    }

    /// True when the provider can take payments here.
    pub fn has(&self, provider: Provider) -> bool {
        match provider {
            Provider::Sandbox => self.sandbox,
            Provider::WechatPay => self.wechat.is_some(),
            Provider::Alipay => self.alipay.is_some(),
        }
    }

    /// The providers that can take payments here, real ones first.
    pub fn available(&self) -> Vec<Provider> {
        [Provider::WechatPay, Provider::Alipay, Provider::Sandbox]
            .into_iter()
            .filter(|p| self.has(*p))
            .collect()
    }

    /// True when the sandbox exists (demo mode).
    pub fn sandbox(&self) -> bool {
        self.sandbox
    }

    /// The WeChat Pay client, when configured.
    pub fn wechat(&self) -> Option<&WechatPay> {
        self.wechat.as_deref()
    }

    /// The official account's web authorisation (the shopper's openid inside WeChat), when
    /// WeChat Pay and its AppSecret are configured.
    pub fn wechat_oauth(&self) -> Option<&WechatOauth> {
        self.wechat.as_ref().and(self.wechat_oauth.as_deref())
    }

    /// The Alipay client, when configured.
    pub fn alipay(&self) -> Option<&Alipay> {
        self.alipay.as_deref()
    }

    fn need_wechat(&self) -> ProviderResult<&WechatPay> {
        self.wechat()
            .ok_or_else(|| not_configured(Provider::WechatPay))
    }

    fn need_alipay(&self) -> ProviderResult<&Alipay> {
        self.alipay()
            .ok_or_else(|| not_configured(Provider::Alipay))
    }

    /// Places a prepay order. The sandbox's "prepay" is its own page for the payment
    /// (`sandbox_page`, a path under this server).
    pub async fn prepay(
        &self,
        provider: Provider,
        request: &PrepayRequest,
        sandbox_page: &str,
    ) -> ProviderResult<Prepay> {
        match provider {
            Provider::Sandbox if self.sandbox => Ok(Prepay::Redirect {
                url: sandbox_page.to_owned(),
            }),
            Provider::Sandbox => Err(not_configured(provider)),
            Provider::WechatPay => self.need_wechat()?.prepay(request).await,
            Provider::Alipay => self.need_alipay()?.prepay(request).await,
        }
    }

    /// Charges a payment code at a lane. The sandbox (demo mode) pays any code at once.
    pub async fn code_pay(
        &self,
        provider: Provider,
        request: &CodePayRequest,
    ) -> ProviderResult<CodePayOutcome> {
        match provider {
            Provider::Sandbox if self.sandbox => Ok(CodePayOutcome::Paid(PaidTrade {
                out_trade_no: request.out_trade_no.clone(),
                transaction_id: format!("SBX{}", retail_domain::ids::new_id().simple()),
                amount_fen: request.amount_fen,
                currency: "CNY".into(),
                paid_at: Some(chrono::Utc::now()),
            })),
            Provider::Sandbox => Err(not_configured(provider)),
            Provider::WechatPay => self.need_wechat()?.code_pay(request).await,
            Provider::Alipay => self.need_alipay()?.code_pay(request).await,
        }
    }

    /// A trade's state at the provider. The sandbox keeps no trades: its payments are settled
    /// only by the notification its page sends, so it answers `NotPaid`.
    pub async fn query(
        &self,
        provider: Provider,
        out_trade_no: &str,
    ) -> ProviderResult<TradeState> {
        match provider {
            Provider::Sandbox => Ok(TradeState::NotPaid),
            Provider::WechatPay => self.need_wechat()?.query(out_trade_no).await,
            Provider::Alipay => self.need_alipay()?.query(out_trade_no).await,
        }
    }

    /// Closes an unpaid prepay trade (its order was cancelled or timed out).
    pub async fn close(&self, provider: Provider, out_trade_no: &str) -> ProviderResult<()> {
        match provider {
            Provider::Sandbox => Ok(()),
            Provider::WechatPay => self.need_wechat()?.close(out_trade_no).await,
            Provider::Alipay => self.need_alipay()?.close(out_trade_no).await,
        }
    }

    /// Reverses (撤销) a payment-code trade: closed when unpaid, refunded by the provider when
    /// paid.
    pub async fn reverse(&self, provider: Provider, out_trade_no: &str) -> ProviderResult<()> {
        match provider {
            Provider::Sandbox => Ok(()),
            Provider::WechatPay => self.need_wechat()?.reverse(out_trade_no).await,
            Provider::Alipay => {
                self.need_alipay()?
                    .cancel(out_trade_no)
                    .await
                    .map(|action: CancelAction| {
                        tracing::info!(
                            provider = "alipay",
                            out_trade_no,
                            ?action,
                            "payment-code trade cancelled"
                        );
                    })
            }
        }
    }

    /// Sends a refund to the payment's original tender (idempotent by `out_refund_no`). The
    /// sandbox refunds at once.
    pub async fn refund(
        &self,
        provider: Provider,
        request: &RefundRequest,
    ) -> ProviderResult<RefundOutcome> {
        match provider {
            Provider::Sandbox => Ok(RefundOutcome {
                out_refund_no: request.out_refund_no.clone(),
                refund_id: Some(format!("SBXR{}", retail_domain::ids::new_id().simple())),
                state: RefundState::Success,
                amount_fen: request.amount_fen,
            }),
            Provider::WechatPay => self.need_wechat()?.refund(request).await,
            Provider::Alipay => self.need_alipay()?.refund(request).await,
        }
    }

    /// A refund's state at the provider.
    pub async fn query_refund(
        &self,
        provider: Provider,
        out_trade_no: &str,
        out_refund_no: &str,
        amount_fen: i64,
    ) -> ProviderResult<RefundOutcome> {
        match provider {
            Provider::Sandbox => Ok(RefundOutcome {
                out_refund_no: out_refund_no.to_owned(),
                refund_id: None,
                state: RefundState::Success,
                amount_fen,
            }),
            Provider::WechatPay => self.need_wechat()?.query_refund(out_refund_no).await,
            Provider::Alipay => {
                self.need_alipay()?
                    .refund_query(out_trade_no, out_refund_no)
                    .await
            }
        }
    }

    /// The provider's bill of a day (Beijing time), for reconciliation. The sandbox has none.
    pub async fn bill(&self, provider: Provider, date: NaiveDate) -> ProviderResult<Vec<BillLine>> {
        match provider {
            Provider::Sandbox => Ok(Vec::new()),
            Provider::WechatPay => self.need_wechat()?.trade_bill(date).await,
            Provider::Alipay => self.need_alipay()?.bill(date).await,
        }
    }
}

/// Fails unless this server takes payments through `provider`. The sandbox exists in demo mode
/// alone (`demo = true`): outside it no sandbox payment can be started and no code path signs a
/// notification for itself.
pub fn require_provider(state: &AppState, provider: Provider) -> AppResult<()> {
    if state.payments.has(provider) {
        Ok(())
    } else {
        Err(AppError::Unavailable(format!(
            "the payment provider {} is not configured on this server",
            provider.as_str()
        )))
    }
}

/// How the shopper pays an online order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PayScene {
    /// A QR code to scan (desktop, scan-and-go, a till's display).
    QrCode,
    /// A mobile browser: the provider's page (WeChat H5, Alipay wap.pay), then back to
    /// `return_url`.
    MobileWeb {
        /// Where the provider sends the shopper back.
        return_url: String,
    },
    /// Inside WeChat, for the payer's openid (JSAPI / mini-program).
    WechatJsapi {
        /// The payer's openid for the merchant's app id.
        openid: String,
    },
}

impl PayScene {
    /// How it is recorded with the payment (`qr`, `h5`, `jsapi`).
    pub fn stored(&self) -> &'static str {
        match self {
            PayScene::QrCode => "qr",
            PayScene::MobileWeb { .. } => "h5",
            PayScene::WechatJsapi { .. } => "jsapi",
        }
    }

    /// The provider's scene for a payer at `client`.
    pub fn prepay_scene(&self, client: &ClientAddr) -> PrepayScene {
        match self {
            PayScene::QrCode => PrepayScene::QrCode,
            PayScene::MobileWeb { return_url } => PrepayScene::MobileWeb {
                client_ip: client.0.to_string(),
                return_url: return_url.clone(),
            },
            PayScene::WechatJsapi { openid } => PrepayScene::WechatJsapi {
                openid: openid.clone(),
            },
        }
    }
}

/// A provider's failure as the shopper or cashier is told it: no answer is 503 (try again), a
/// refusal 409 `provider_refused` with the provider's message.
pub fn provider_error(provider: Provider, err: ProviderError) -> AppError {
    match err {
        ProviderError::Rejected { code, message, .. } => AppError::conflict(
            "provider_refused",
            format!("{} refused: {code}: {message}", provider.label()),
        ),
        ProviderError::Config { .. } => {
            tracing::error!(provider = provider.as_str(), error = %err, "payment provider not usable");
            AppError::Unavailable(format!("{} is not available here", provider.label()))
        }
        other => {
            tracing::warn!(provider = provider.as_str(), error = %other, "payment provider did not answer");
            AppError::Unavailable(format!(
                "{} did not answer; please try again",
                provider.label()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenders_and_providers_map_both_ways() {
        for provider in [Provider::Sandbox, Provider::WechatPay, Provider::Alipay] {
            assert_eq!(Provider::of_method(provider.method()), Some(provider));
            assert_eq!(
                Provider::of_method_name(provider.method().as_str()),
                Some(provider)
            );
        }
        assert_eq!(Provider::of_method(PaymentMethod::Cash), None);
        assert_eq!(Provider::of_method_name("stored_balance"), None);
    }

    #[test]
    fn only_demo_mode_has_the_sandbox_and_nothing_else_is_on_by_default() {
        let mut settings = Settings::default();
        let providers = PaymentProviders::from_settings(&settings).unwrap_or_default();
        assert!(providers.available().is_empty());
        settings.demo = true;
        let providers = PaymentProviders::from_settings(&settings).unwrap_or_default();
        assert_eq!(providers.available(), [Provider::Sandbox]);
    }

    #[test]
    fn a_key_file_that_is_not_there_is_named() {
        let mut settings = Settings::default();
        settings.payments.alipay.app_id = "2021000000000000".into();
        settings.payments.alipay.app_private_key_file = "/nonexistent/app.pem".into();
        settings.payments.alipay.alipay_public_key_file = "/nonexistent/alipay.pem".into();
        let err = PaymentProviders::from_settings(&settings)
            .err()
            .map(|e| format!("{e:#}"));
        assert!(
            err.as_deref().is_some_and(|e| e
                .contains("payments.alipay.app_private_key_file: reading /nonexistent/app.pem")),
            "{err:?}"
        );
    }
}
