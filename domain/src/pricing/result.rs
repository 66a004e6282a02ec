//! What the engine answers: the priced basket, and the errors.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::money::Money;

/// A text in Chinese and English, e.g. `满300减50` / `Spend ¥300, save ¥50`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Bilingual {
    /// Chinese.
    pub zh: String,
    /// English.
    pub en: String,
}

impl Bilingual {
    /// A text from its two languages.
    pub fn new(zh: impl Into<String>, en: impl Into<String>) -> Bilingual {
        Bilingual {
            zh: zh.into(),
            en: en.into(),
        }
    }
}

/// Where a line's unit price came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PriceSource {
    /// The chain price.
    Chain,
    /// The store's override of the chain price.
    Store,
    /// The member price.
    Member,
    /// The list price times the member's tier discount (e.g. 9.5折 for gold).
    Tier,
    /// A sale-price promotion.
    Sale {
        /// The promotion.
        promotion_id: Uuid,
    },
}

/// What a discount came from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DiscountSource {
    /// The member price (below the list price).
    MemberPrice,
    /// The member's tier discount on the list price (the tier is named in the applied
    /// discount).
    TierPrice,
    /// A promotion (sale price, full reduction, percentage, buy X get Y).
    Promotion {
        /// The promotion.
        promotion_id: Uuid,
    },
    /// A coupon.
    Coupon {
        /// The coupon.
        coupon_id: Uuid,
    },
    /// Rounding down of the amount due at the till (抹零).
    TillRounding,
}

/// The kind of an applied discount, for display and reporting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DiscountKind {
    /// Member price.
    MemberPrice,
    /// Tier discount price.
    TierPrice,
    /// Sale price (特价 / 秒杀).
    SalePrice,
    /// Full reduction (满减).
    FullReduction,
    /// Percentage discount (折扣).
    PercentOff,
    /// Buy X get Y.
    BuyXGetY,
    /// 满减券.
    ThresholdCoupon,
    /// 折扣券.
    PercentCoupon,
    /// 无门槛券.
    NoThresholdCoupon,
    /// 抹零.
    TillRounding,
}

/// A share of one discount on one line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LineDiscount {
    /// What it came from.
    pub source: DiscountSource,
    /// Amount (positive).
    pub amount: Money,
}

/// One priced line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PricedLine {
    /// The line number.
    pub line_no: u32,
    /// The SKU.
    pub sku_id: Uuid,
    /// Units, or grams when weighed.
    pub qty: i64,
    /// Sold by weight (prices per kg).
    pub weighed: bool,
    /// The list unit price (store override, else chain price).
    pub list_unit_price: Money,
    /// The unit price used (the lowest of list, member, tier and sale prices).
    pub unit_price: Money,
    /// Where the unit price used came from.
    pub price_source: PriceSource,
    /// List unit price × quantity (rounded to the fen for weighed lines).
    pub list_amount: Money,
    /// Every discount on this line, in the order applied (the difference between the list and
    /// the used unit price first). They sum to `discount`.
    pub discounts: Vec<LineDiscount>,
    /// Sum of `discounts`.
    pub discount: Money,
    /// What the line costs the shopper: `list_amount - discount` (never negative).
    pub amount: Money,
    /// The share of the points payment allocated to this line.
    pub points_value: Money,
    /// `amount - points_value`: the share of the amount due.
    pub amount_due: Money,
}

/// A discount applied to the basket, with its explanation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AppliedDiscount {
    /// What it came from.
    pub source: DiscountSource,
    /// Its kind.
    pub kind: DiscountKind,
    /// The promotion's or coupon's name (or a generic name).
    pub name: Bilingual,
    /// The rule as applied, e.g. `满300减50` / `Spend ¥300, save ¥50`.
    pub explanation: Bilingual,
    /// Total amount; equals the sum of its line shares.
    pub amount: Money,
    /// The lines it was computed on (its shares are on these lines).
    pub lines: Vec<u32>,
}

/// Why an active promotion that covers lines of the basket did not apply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NotAppliedReason {
    /// An exclusive promotion left out: the chosen combination saves more.
    NotInBestCombination,
    /// Its lines are taken by an exclusive promotion of the chosen combination.
    BlockedByExclusive,
    /// Spend this much more on its lines to qualify.
    SpendMore {
        /// Amount missing.
        short_by: Money,
    },
    /// Add this many units of its lines to qualify.
    AddItems {
        /// Units missing.
        units: i64,
    },
}

/// An active promotion covering lines of the basket that did not apply, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NotApplied {
    /// The promotion.
    pub promotion_id: Uuid,
    /// Its name.
    pub name: Bilingual,
    /// Why.
    pub reason: NotAppliedReason,
    /// For the shopper, e.g. `再买¥20.5可享满300减50`.
    pub explanation: Bilingual,
}

/// Points used as a payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PointsRedemption {
    /// Points redeemed.
    pub points: i64,
    /// Their value.
    pub value: Money,
    /// E.g. `使用500积分抵¥5` / `500 points redeemed for ¥5.00`.
    pub explanation: Bilingual,
}

/// The priced basket.
///
/// Invariants: `total = subtotal - discount = Σ line amounts`; each line's discounts sum to its
/// `discount`, and the lines' discounts sum to `discount`; each applied discount equals the sum
/// of its line shares; `amount_due = total - points_value`; nothing is negative.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PricedBasket {
    /// Lines, in line-number order.
    pub lines: Vec<PricedLine>,
    /// Discounts applied, in the order applied (price reductions first, till rounding last).
    pub applied: Vec<AppliedDiscount>,
    /// Active promotions covering lines of the basket that did not apply, and why.
    pub not_applied: Vec<NotApplied>,
    /// Sum of the lines' list amounts.
    pub subtotal: Money,
    /// Sum of all discounts (price reductions, promotions, coupons, till rounding).
    pub discount: Money,
    /// What the basket costs: `subtotal - discount`.
    pub total: Money,
    /// Points redeemed, if any (a payment, not a discount).
    pub points: Option<PointsRedemption>,
    /// Value of the points redeemed (0 if none).
    pub points_value: Money,
    /// To be paid by other means: `total - points_value`.
    pub amount_due: Money,
    /// Points the member earns: on `amount_due`, at the base rate times the tier multiplier
    /// (0 without a member).
    pub points_earned: i64,
    /// The most points the member could redeem on this basket (0 without a member).
    pub max_redeemable_points: i64,
    /// How many combinations of exclusive promotions were compared (1 when there is no
    /// choice to make).
    pub combinations_compared: u32,
    /// A summary for the shopper, e.g. `共优惠¥66.0（比较了4种组合…）`.
    pub explanation: Bilingual,
}

/// Why a basket could not be priced. Nothing is applied when this is returned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    /// The basket is empty or has too many lines.
    #[error("invalid basket: {0}")]
    InvalidBasket(String),
    /// A line has an impossible value.
    #[error("invalid basket line {line_no}: {reason}")]
    InvalidLine {
        /// The line number.
        line_no: u32,
        /// What is wrong.
        reason: String,
    },
    /// Two lines have the same number.
    #[error("line number {0} is used by more than one line")]
    DuplicateLine(u32),
    /// A promotion's rule is contradictory or has negative or absurd values.
    #[error("invalid promotion {id} ({name}): {reason}")]
    InvalidPromotion {
        /// The promotion.
        id: Uuid,
        /// Its name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// Two promotions have the same id.
    #[error("promotion {0} is given more than once")]
    DuplicatePromotion(Uuid),
    /// Two promotions contradict each other (see [`super::validate_promotion_set`]).
    #[error("promotions {first} and {second} contradict each other: {reason}")]
    ConflictingPromotions {
        /// One promotion.
        first: Uuid,
        /// The other.
        second: Uuid,
        /// How.
        reason: String,
    },
    /// Too many promotions or coupons.
    #[error("too many {what}: {count} (at most {max})")]
    TooMany {
        /// What.
        what: &'static str,
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A coupon's definition is contradictory or has negative or absurd values.
    #[error("invalid coupon {id}: {reason}")]
    InvalidCoupon {
        /// The coupon.
        id: Uuid,
        /// What is wrong.
        reason: String,
    },
    /// The same coupon is given twice.
    #[error("coupon {0} is given more than once")]
    DuplicateCoupon(Uuid),
    /// A coupon was given without an identified member.
    #[error("coupon {0} can only be used by an identified member")]
    CouponWithoutMember(Uuid),
    /// The coupon belongs to another member.
    #[error("coupon {0} belongs to another member")]
    ForeignCoupon(Uuid),
    /// The coupon's validity has not started.
    #[error("coupon {id} is not valid before {valid_from}")]
    CouponNotYetValid {
        /// The coupon.
        id: Uuid,
        /// Start of validity.
        valid_from: DateTime<Utc>,
    },
    /// The coupon has expired.
    #[error("coupon {id} expired at {valid_until}")]
    CouponExpired {
        /// The coupon.
        id: Uuid,
        /// End of validity.
        valid_until: DateTime<Utc>,
    },
    /// The coupon is not valid at this store.
    #[error("coupon {id} cannot be used at store {store}")]
    CouponWrongStore {
        /// The coupon.
        id: Uuid,
        /// The store.
        store: String,
    },
    /// None of the basket's lines is in the coupon's scope.
    #[error("coupon {0} does not apply to any item in the basket")]
    CouponOutOfScope(Uuid),
    /// The coupon's lines do not reach its minimum spend.
    #[error("coupon {id} needs a spend of ¥{min_spend} on its items, which come to ¥{eligible}")]
    CouponThresholdNotMet {
        /// The coupon.
        id: Uuid,
        /// Spend needed.
        min_spend: Money,
        /// What its lines come to (after promotions).
        eligible: Money,
    },
    /// The coupon's lines all have promotions it cannot be combined with.
    #[error("coupon {0} cannot be combined with the promotions on its items")]
    CouponBlockedByPromotions(Uuid),
    /// Several coupons, one of which may not be combined with others.
    #[error("coupon {0} cannot be combined with other coupons")]
    CouponsDoNotStack(Uuid),
    /// The member's tier is not in the points rules.
    #[error("unknown member tier {0:?}")]
    UnknownTier(String),
    /// The points rules are invalid.
    #[error("invalid points rules: {0}")]
    InvalidPointsRules(String),
    /// The points to redeem are negative.
    #[error("points to redeem must not be negative")]
    NegativePoints,
    /// Points redemption without a member.
    #[error("redeeming points needs an identified member")]
    PointsWithoutMember,
    /// More points than the member has.
    #[error("cannot redeem {requested} points: the member has {balance}")]
    InsufficientPoints {
        /// Requested.
        requested: i64,
        /// Balance.
        balance: i64,
    },
    /// More points than allowed on this basket.
    #[error("cannot redeem {requested} points: at most {max} may be redeemed on this basket")]
    PointsOverCap {
        /// Requested.
        requested: i64,
        /// The most allowed.
        max: i64,
    },
    /// The points are not worth a whole number of fen.
    #[error("{points} points are not worth a whole number of fen; use a multiple of {step}")]
    PointsNotWholeFen {
        /// Requested.
        points: i64,
        /// The step.
        step: i64,
    },
    /// An amount went out of range.
    #[error("amount out of range")]
    Overflow,
}
