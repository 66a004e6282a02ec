//! `retail-payments`: how the server talks to payment providers, kept apart from the server's
//! storage and use cases so each provider's wire format and cryptography is one tested unit.
//!
//! * [`payment_code`] — recognising the payment code (付款码) a shopper shows at a lane (from
//!   `retail-domain`, which the lanes share);
//! * [`alipay`] — the Alipay open-platform client (RSA2): QR and mobile-browser prepay, payment
//!   codes, query, close and cancel, refunds, notifications, the daily bill;
//! * [`wechat`] — WeChat Pay API v3 (direct merchant): prepay, payment code, query, reverse,
//!   close, refunds, notifications, the trade bill;
//! * the provider clients (WeChat Pay API v3, Alipay open platform) speak the providers' real
//!   wire formats and answer the types below, whatever the provider: a prepay to show the
//!   shopper ([`Prepay`]), the outcome of a payment-code charge ([`CodePayOutcome`]), a trade's
//!   state ([`TradeState`]), a refund's state ([`RefundState`]), a verified notification
//!   ([`Notification`]) and the lines of a daily bill ([`BillLine`]).
//!
//! Money is integer fen (分) and the currency CNY throughout. Nothing here decides anything by a
//! guess: a provider that cannot be reached, answers 5xx or answers something that does not
//! verify is [`ProviderError::Unavailable`] or [`ProviderError::Malformed`], and the caller
//! keeps the payment pending and asks again later.

#![forbid(unsafe_code)]

pub mod alipay;
pub use retail_domain::payment_code;
pub mod wechat;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Why a provider call did not give an answer to act on.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider refused the request with a business error (e.g. the payer's balance is
    /// short, the order was closed): final for this request.
    #[error("{provider} refused: {code}: {message}")]
    Rejected {
        /// Which provider.
        provider: &'static str,
        /// The provider's error code.
        code: String,
        /// Its message.
        message: String,
    },
    /// The provider could not be reached, timed out or answered 5xx: the outcome is unknown
    /// and must be asked again (query), never guessed.
    #[error("{provider} unavailable: {reason}")]
    Unavailable {
        /// Which provider.
        provider: &'static str,
        /// What happened (with the provider's request id when it gave one).
        reason: String,
    },
    /// The answer did not parse or its signature did not verify: treated like no answer.
    #[error("{provider} answered something unusable: {reason}")]
    Malformed {
        /// Which provider.
        provider: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// A notification that must not be applied: bad or missing signature, unknown certificate
    /// serial, stale timestamp, tampered ciphertext.
    #[error("{provider} notification refused: {reason}")]
    BadNotification {
        /// Which provider.
        provider: &'static str,
        /// Why.
        reason: String,
    },
    /// The client's own configuration is unusable (a key that does not parse, …).
    #[error("{provider} configuration: {reason}")]
    Config {
        /// Which provider.
        provider: &'static str,
        /// What is wrong, naming the setting.
        reason: String,
    },
}

/// Result of a provider call.
pub type ProviderResult<T> = Result<T, ProviderError>;

/// Where the shopper pays a prepaid order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrepayScene {
    /// A QR code the shopper scans (WeChat Pay Native, Alipay precreate): lanes' customer
    /// displays, scan-and-go, a desktop browser.
    QrCode,
    /// Inside WeChat (JSAPI / mini-program), for the payer's `openid`.
    WechatJsapi {
        /// The payer's openid for the merchant's app id.
        openid: String,
    },
    /// A mobile browser outside the provider's app (WeChat H5, Alipay wap.pay).
    MobileWeb {
        /// The shopper's IP address (WeChat H5 requires it).
        client_ip: String,
        /// Where the provider sends the shopper back (Alipay `return_url`).
        return_url: String,
    },
}

/// A prepay request: our payment id is the provider's merchant order number
/// (`out_trade_no`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrepayRequest {
    /// Our payment id (32 characters at most: a UUID without hyphens).
    pub out_trade_no: String,
    /// What is bought, shown to the payer.
    pub description: String,
    /// Amount in fen.
    pub amount_fen: i64,
    /// The provider's notifications go here.
    pub notify_url: String,
    /// The provider closes the trade at this time.
    pub expires_at: DateTime<Utc>,
    /// Where the shopper pays.
    pub scene: PrepayScene,
}

/// What the shopper is shown to pay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Prepay {
    /// Show this text as a QR code.
    QrCode {
        /// The provider's code URL.
        code_url: String,
    },
    /// Call the provider's in-app payment with these signed parameters (WeChat JSAPI
    /// `requestPayment`).
    InApp {
        /// The parameters, as the provider's SDK takes them.
        params: serde_json::Value,
    },
    /// Send the shopper's browser here.
    Redirect {
        /// The provider's page.
        url: String,
    },
}

/// A payment-code charge at a lane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodePayRequest {
    /// Our payment id.
    pub out_trade_no: String,
    /// What is bought.
    pub description: String,
    /// Amount in fen.
    pub amount_fen: i64,
    /// The code scanned from the shopper's phone.
    pub auth_code: String,
    /// The store's code (shown in the payer's bill, used in reconciliation).
    pub store_id: String,
    /// The lane's device id.
    pub device_id: String,
    /// The lane's IP address as the server saw it.
    pub client_ip: String,
}

/// A trade the provider says is paid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaidTrade {
    /// Our payment id.
    pub out_trade_no: String,
    /// The provider's transaction id.
    pub transaction_id: String,
    /// What the payer paid, in fen.
    pub amount_fen: i64,
    /// Its currency (`CNY`).
    pub currency: String,
    /// When, as the provider says.
    pub paid_at: Option<DateTime<Utc>>,
}

/// What a payment-code charge came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodePayOutcome {
    /// Paid.
    Paid(PaidTrade),
    /// The payer is confirming on their phone (entering their PIN): query until it settles,
    /// then reverse if it never does.
    UserPaying,
    /// Refused for good (a bad or used code, the payer's balance short, …).
    Failed {
        /// The provider's code.
        code: String,
        /// Its message, for the cashier.
        message: String,
    },
}

/// A trade's state as the provider reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TradeState {
    /// Created, not paid.
    NotPaid,
    /// The payer is confirming.
    UserPaying,
    /// Paid.
    Paid(PaidTrade),
    /// Closed or reversed before it was paid (or reversed after: then refunded by the
    /// provider).
    Closed,
    /// Paid, then refunded (in part or whole).
    Refunded,
    /// Failed at the provider.
    Failed(String),
}

/// A refund to the original tender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundRequest {
    /// Our refund id (the provider's `out_refund_no`).
    pub out_refund_no: String,
    /// The payment refunded (our id).
    pub out_trade_no: String,
    /// The provider's transaction id of the payment, when known.
    pub transaction_id: Option<String>,
    /// This refund, in fen.
    pub amount_fen: i64,
    /// The payment's whole amount, in fen.
    pub total_fen: i64,
    /// Why, shown to the payer.
    pub reason: String,
    /// The provider's refund notifications go here.
    pub notify_url: String,
}

/// A refund's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundState {
    /// Accepted, money on its way.
    Processing,
    /// Done.
    Success,
    /// Closed by the provider without paying out.
    Closed,
    /// Stuck (the payer's account closed, …): needs a person.
    Abnormal,
}

/// A refund as the provider reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundOutcome {
    /// Our refund id.
    pub out_refund_no: String,
    /// The provider's refund id.
    pub refund_id: Option<String>,
    /// Its state.
    pub state: RefundState,
    /// The amount refunded, in fen.
    pub amount_fen: i64,
}

/// A verified notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notification {
    /// A payment succeeded.
    Paid {
        /// The provider's id of this notification (a replay carries the same).
        notify_id: String,
        /// The trade.
        trade: PaidTrade,
    },
    /// A refund reached a final or new state.
    Refund {
        /// The provider's id of this notification.
        notify_id: String,
        /// The payment refunded (our id).
        out_trade_no: String,
        /// The refund.
        refund: RefundOutcome,
    },
    /// The trade closed without being paid (Alipay `TRADE_CLOSED` with no refund: a QR or
    /// payment-code trade that timed out or was cancelled unpaid): nothing is owed; the
    /// notification is answered as taken.
    Closed {
        /// The provider's id of this notification.
        notify_id: String,
        /// The trade (our payment id).
        out_trade_no: String,
    },
}

/// Whether a bill line is money in or money back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BillLineKind {
    /// A payment.
    Payment,
    /// A refund.
    Refund,
}

/// One line of a provider's daily bill, for reconciliation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillLine {
    /// Payment or refund.
    pub kind: BillLineKind,
    /// When, as the provider recorded it.
    pub at: DateTime<Utc>,
    /// Our payment id.
    pub out_trade_no: String,
    /// The provider's transaction id.
    pub transaction_id: String,
    /// Our refund id (refund lines).
    pub out_refund_no: Option<String>,
    /// The provider's refund id (refund lines).
    pub refund_id: Option<String>,
    /// The amount in fen (positive for both kinds).
    pub amount_fen: i64,
}
