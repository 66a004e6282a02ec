//! The POS sale push (docs/DESIGN.md §5): a lane journals each completed sale locally, then pushes unsent
//! sales in batches; the server upserts by the sale's client id and answers what it applied.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::money::Money;

/// Most sales in one push.
pub const MAX_SALES_PER_PUSH: usize = 500;

/// How a sale (or part of it) was paid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    /// Cash in the drawer.
    Cash,
    /// The member's stored balance (needs the server).
    StoredBalance,
    /// Points redeemed (needs the server).
    Points,
    /// A QR payment through the (sandbox) payment provider.
    SandboxQr,
    /// A bank card on the lane's terminal.
    Card,
    /// WeChat Pay (a QR the shopper scans, or the shopper's payment code scanned at the lane).
    WechatPay,
    /// Alipay (a QR the shopper scans, or the shopper's payment code scanned at the lane).
    Alipay,
}

impl PaymentMethod {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cash => "cash",
            Self::StoredBalance => "stored_balance",
            Self::Points => "points",
            Self::SandboxQr => "sandbox_qr",
            Self::Card => "card",
            Self::WechatPay => "wechat_pay",
            Self::Alipay => "alipay",
        }
    }

    /// True for a payment provider's tender (the sandbox, WeChat Pay, Alipay): it goes through
    /// the server's payment intents, has the provider's transaction id, and is refunded through
    /// the provider.
    pub fn is_provider(self) -> bool {
        matches!(self, Self::SandboxQr | Self::WechatPay | Self::Alipay)
    }
}

impl std::str::FromStr for PaymentMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cash" => Ok(Self::Cash),
            "stored_balance" => Ok(Self::StoredBalance),
            "points" => Ok(Self::Points),
            "sandbox_qr" => Ok(Self::SandboxQr),
            "card" => Ok(Self::Card),
            "wechat_pay" => Ok(Self::WechatPay),
            "alipay" => Ok(Self::Alipay),
            other => Err(format!("unknown payment method {other:?}")),
        }
    }
}

/// One line of a POS sale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PosSaleLine {
    /// 1-based line number within the sale.
    pub line_no: u32,
    /// The SKU sold.
    pub sku_id: Uuid,
    /// The code scanned (product or variable-measure barcode).
    pub barcode: String,
    /// The name printed on the receipt.
    pub name: String,
    /// Units sold; for weighed SKUs, grams.
    pub qty: i64,
    /// Price per unit (per kg for weighed SKUs).
    pub unit_price: Money,
    /// Discounts allocated to this line.
    pub discount: Money,
    /// What the shopper paid for this line (after discounts).
    pub amount: Money,
    /// The price printed on a scale's price label, when the line was sold by one: the line is
    /// priced as that price (see `BasketLine::labelled`) while `qty` is the weight it stands
    /// for, in grams, which leaves the stock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_price: Option<Money>,
}

/// One payment of a POS sale (a sale may be split across methods).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PosPayment {
    /// Client id of the payment (UUIDv7); for stored balance and points it is also the id of the
    /// online charge made at the till.
    pub id: Uuid,
    /// Method.
    pub method: PaymentMethod,
    /// Amount applied to the sale (cash: tendered minus change).
    pub amount: Money,
    /// Points redeemed, for `points` payments.
    #[serde(default)]
    pub points: i64,
    /// The provider's transaction id, for provider payments (QR or payment code).
    #[serde(default)]
    pub provider_ref: Option<String>,
}

/// A completed POS sale as journalled at the lane.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PosSale {
    /// Client id (UUIDv7): the sale's identity; a retry is an upsert.
    pub id: Uuid,
    /// The lane's human-facing sale number, e.g. `SH001-01-000123`.
    pub sale_no: String,
    /// Store code; must be the pushing device's store.
    pub store: String,
    /// Cashier's username.
    pub cashier: String,
    /// The member identified at the till, if any.
    #[serde(default)]
    pub member_id: Option<Uuid>,
    /// The signed member code the member showed at the till (as scanned). Required when the
    /// sale spends the member's stored balance, points or coupons: the server checks that it is
    /// genuine, names `member_id` and was valid when the sale was completed. A member found by
    /// phone number only earns points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_code: Option<String>,
    /// Lines.
    pub lines: Vec<PosSaleLine>,
    /// Payments; they sum to `total`.
    pub payments: Vec<PosPayment>,
    /// Sum of line amounts before discounts.
    pub subtotal: Money,
    /// Sum of discounts.
    pub discount: Money,
    /// What the shopper paid: `subtotal - discount`, equal to the sum of line amounts.
    pub total: Money,
    /// When the sale was completed at the lane.
    pub completed_at: DateTime<Utc>,
    /// True when the lane was offline at the time.
    #[serde(default)]
    pub offline: bool,
    /// The member's coupons the sale used (chosen online at the till, priced by the engine);
    /// the server marks them used by this sale when it applies it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coupons: Vec<Uuid>,
}

/// A lane asking the server for a QR payment intent (`POST /pos/payments`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLanePayment {
    /// Client id of the payment (UUIDv7): a retry answers the same intent, and the sale pushed
    /// later carries it as its `sandbox_qr` payment's id.
    pub id: Uuid,
    /// The sale being rung up (its client id).
    pub sale_id: Uuid,
    /// The amount the shopper pays by QR.
    pub amount: Money,
}

/// A lane asking the server to charge the payment code (付款码) a shopper shows
/// (`POST /pos/payments/code`): the server charges it with the provider the code belongs to
/// ([`crate::payment_code::classify_payment_code`]) and answers the [`LanePayment`]. A retry
/// with the same id charges nothing again: it answers where that payment stands (asking the
/// provider when it is still open).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCodePayment {
    /// Client id of the payment (UUIDv7), journalled by the lane before it asks: the sale pushed
    /// later carries it as its `wechat_pay` / `alipay` payment's id.
    pub id: Uuid,
    /// The sale being rung up (its client id).
    pub sale_id: Uuid,
    /// The amount charged to the code.
    pub amount: Money,
    /// The payment code as scanned (digits).
    pub auth_code: String,
}

/// Where a lane's provider payment (QR or payment code) stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LanePaymentStatus {
    /// Waiting for the shopper to pay (a QR shown), or the outcome is not known yet (the
    /// provider did not answer: ask again).
    Pending,
    /// The payer is confirming on their phone (entering their PIN): ask again.
    UserPaying,
    /// Paid.
    Succeeded,
    /// Cancelled at the lane before it was paid.
    Cancelled,
    /// Refused by the provider (see `failure`): final; the lane takes another tender.
    Failed,
    /// Cancelled at the provider (撤销) after the shopper did not confirm in time: final; if it
    /// had been paid meanwhile, the provider gives the money back.
    Reversed,
}

impl LanePaymentStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::UserPaying => "user_paying",
            Self::Succeeded => "succeeded",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
            Self::Reversed => "reversed",
        }
    }
}

impl std::str::FromStr for LanePaymentStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(Self::Pending),
            "user_paying" => Ok(Self::UserPaying),
            "succeeded" => Ok(Self::Succeeded),
            "cancelled" => Ok(Self::Cancelled),
            "failed" => Ok(Self::Failed),
            "reversed" => Ok(Self::Reversed),
            other => Err(format!("unknown lane payment status {other:?}")),
        }
    }
}

/// A lane's QR payment intent as the server keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LanePayment {
    /// Payment id (the lane's client id).
    pub id: Uuid,
    /// The sale it pays.
    pub sale_id: Uuid,
    /// The store.
    pub store: String,
    /// Amount.
    pub amount: Money,
    /// Where it stands.
    pub status: LanePaymentStatus,
    /// The provider's reference once paid.
    #[serde(default)]
    pub provider_ref: Option<String>,
    /// The sale (order) that took it, once pushed.
    #[serde(default)]
    pub order_id: Option<Uuid>,
    /// The provider's page or code URL: shown as a QR for the shopper's phone (empty for a
    /// payment code).
    pub pay_url: String,
    /// The tender: `sandbox_qr`, `wechat_pay` or `alipay`.
    #[serde(default = "sandbox_qr")]
    pub method: PaymentMethod,
    /// Why the provider refused it (`failed`), for the cashier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

fn sandbox_qr() -> PaymentMethod {
    PaymentMethod::SandboxQr
}

/// A batch of sales pushed by a lane.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushSales {
    /// At most [`MAX_SALES_PER_PUSH`] sales.
    pub sales: Vec<PosSale>,
}

/// What happened to one pushed sale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SaleOutcome {
    /// Applied now.
    Applied,
    /// Applied by an earlier push; nothing changed now.
    Duplicate,
    /// Refused (bad data); the lane keeps it and shows the reason.
    Rejected,
}

/// The server's answer for one sale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SaleResult {
    /// The sale's client id.
    pub id: Uuid,
    /// Outcome.
    pub outcome: SaleOutcome,
    /// The server's order number for the sale.
    pub order_no: Option<String>,
    /// Points the member earned with it.
    pub points_earned: i64,
    /// The member's points balance afterwards.
    pub points_balance: Option<i64>,
    /// Why it was rejected.
    pub error: Option<String>,
}

/// The answer to a push, one result per sale in the same order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PushSalesResult {
    /// Results.
    pub results: Vec<SaleResult>,
}

/// Most lines in one return.
pub const MAX_RETURN_LINES: usize = 500;

/// One line of a return: which sale line, and how many of its units come back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnLineRequest {
    /// The line number on the sale (or order).
    pub line_no: u32,
    /// Units returned (for weighed SKUs, grams); at most what was sold minus what came back
    /// already.
    pub qty: i64,
}

/// A return of items of a completed POS sale (or of a picked-up or delivered online order).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateReturn {
    /// Client id of the return (UUIDv7); a retry answers the first result.
    pub id: Uuid,
    /// The sale (order) the items were bought with.
    pub order_id: Uuid,
    /// Lines returned.
    pub lines: Vec<ReturnLineRequest>,
    /// Why (free text, e.g. "damaged").
    #[serde(default)]
    pub reason: Option<String>,
    /// The approval of a store manager of the sale's store (or a head-office administrator),
    /// given with their lane PIN: required from a lane and from a cashier's session; a manager's
    /// or head office's own session approves by itself.
    #[serde(default)]
    pub approval: Option<ReturnApproval>,
    /// The cashier signed in at the lane that rang the return up (their user name): required
    /// from a lane.
    #[serde(default)]
    pub cashier: Option<String>,
}

/// Who approves a return, with their lane PIN (checked by the server against the same hash the
/// lanes hold).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnApproval {
    /// The approver's user name, e.g. `mgr.sh001`.
    pub username: String,
    /// Their six-digit lane PIN.
    pub pin: String,
}

impl std::fmt::Debug for ReturnApproval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReturnApproval")
            .field("username", &self.username)
            .field("pin", &"******")
            .finish()
    }
}

/// What one tender of the sale gives back for a return.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TenderRefund {
    /// The payment method the sale was paid with (`cash`, `card`, `sandbox_qr`, …).
    pub method: String,
    /// What goes back through it.
    pub amount: Money,
}

/// One returned line and what was refunded for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReturnLineResult {
    /// The sale's line number.
    pub line_no: u32,
    /// Units returned.
    pub qty: i64,
    /// Refund for these units: what was actually paid for them.
    pub refund: Money,
}

/// A recorded return.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReturnResult {
    /// The return's client id.
    pub return_id: Uuid,
    /// The sale (order).
    pub order_id: Uuid,
    /// Total refund: the sum of the lines, plus `shipping_refund`.
    pub refund: Money,
    /// The delivery's shipping fee given back with the order's last units (an after-sale the
    /// shopper is not to blame for, or a parcel that never arrived); absent when none.
    #[serde(default, skip_serializing_if = "Money::is_zero")]
    pub shipping_refund: Money,
    /// Part of the refund credited back to the member's stored balance.
    pub balance_refunded: Money,
    /// Points given back to the member (the returned share of the points redeemed on the sale).
    pub points_refunded: i64,
    /// Part of the refund handed back through the original tender (cash, card, QR):
    /// `refund` minus the stored-balance part minus the value of the points given back.
    pub tender_refund: Money,
    /// `tender_refund` by the tenders the sale was paid with: electronic tenders (QR, card)
    /// first up to what each paid, cash last; so the returns of a sale give back exactly what
    /// each tender paid.
    #[serde(default)]
    pub tenders: Vec<TenderRefund>,
    /// Who approved the return (a store manager's or head office's user name).
    #[serde(default)]
    pub approved_by: Option<String>,
    /// The cashier who rang it up.
    #[serde(default)]
    pub cashier: Option<String>,
    /// Points taken back from the member (the returned share of the points earned).
    pub points_reversed: i64,
    /// Why.
    pub reason: String,
    /// Who recorded it (`device:…` or `staff:…`).
    pub actor: String,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// Lines.
    pub lines: Vec<ReturnLineResult>,
}
