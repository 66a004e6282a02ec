//! What the engine prices: the basket, the shopper, the promotions and coupons in force.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::money::{Money, Rounding};
use crate::points::PointsRules;
use crate::wire::catalog::SkuRecord;

/// One line of the basket to price.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BasketLine {
    /// The line's number, unique within the basket. It is the line's identity: results are
    /// given per line number, in line-number order, whatever the order of the input.
    pub line_no: u32,
    /// The SKU.
    pub sku_id: Uuid,
    /// The SKU's category path: its own category and all its ancestors (any order), e.g.
    /// `["FOOD", "FOOD-SNACK", "FOOD-SNACK-CHIPS"]`. Category scopes match any of them.
    #[serde(default)]
    pub categories: Vec<String>,
    /// The brand (empty if none).
    #[serde(default)]
    pub brand: String,
    /// Units, or grams when `weighed`.
    pub qty: i64,
    /// Sold by weight: prices are per kg and `qty` is in grams.
    #[serde(default)]
    pub weighed: bool,
    /// The chain-wide price (per unit, or per kg).
    pub price: Money,
    /// The store's override of the chain price, if any; it replaces `price` as the list price.
    #[serde(default)]
    pub store_price: Option<Money>,
    /// The member price (any identified member), if any.
    #[serde(default)]
    pub member_price: Option<Money>,
}

impl BasketLine {
    /// A line for `qty` of a catalog SKU (prices, brand and weighing from the record).
    /// `category_path` is the SKU's category with its ancestors; if it is empty the SKU's own
    /// category is used alone.
    pub fn from_sku(
        line_no: u32,
        sku: &SkuRecord,
        category_path: Vec<String>,
        qty: i64,
    ) -> BasketLine {
        let categories = if category_path.is_empty() {
            vec![sku.category_id.clone()]
        } else {
            category_path
        };
        BasketLine {
            line_no,
            sku_id: sku.id,
            categories,
            brand: sku.brand.clone(),
            qty,
            weighed: sku.weighed,
            price: sku.price,
            store_price: sku.store_price,
            member_price: sku.member_price,
        }
    }

    /// The line as a scale's price label prices it: one unit at the printed price, whatever the
    /// weight (the label's price is what the shopper pays before discounts; member and store
    /// prices do not apply to it). The lanes and the server both price a labelled line this way.
    pub fn labelled(mut self, label_price: Money) -> BasketLine {
        self.qty = 1;
        self.weighed = false;
        self.price = label_price;
        self.store_price = None;
        self.member_price = None;
        self
    }

    /// The list price at the store: the store override, else the chain price.
    pub fn list_unit_price(&self) -> Money {
        self.store_price.unwrap_or(self.price)
    }
}

/// The weight a scale's price label of a weighed item stands for: its printed price at the
/// per-kg list price, in whole grams (at least 1), rounded half up; `None` when the item has no
/// positive per-kg price. The lanes and the server record a labelled weighed line with this
/// quantity (stock is kept in grams for weighed items) and the per-kg price.
pub fn label_grams(label_price: Money, per_kg: Money) -> Option<i64> {
    let per_kg = i128::from(per_kg.fen());
    if per_kg <= 0 {
        return None;
    }
    let grams = (i128::from(label_price.fen()) * 1000 + per_kg / 2) / per_kg;
    Some(i64::try_from(grams).unwrap_or(i64::MAX).max(1))
}

/// The identified member, if any.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MemberContext {
    /// The member's id (coupons must belong to it).
    pub member_id: Uuid,
    /// The member's tier code, one of the [`PointsRules`] tiers (e.g. `"gold"`).
    pub tier: String,
    /// The member's points balance (redemption may not exceed it).
    #[serde(default)]
    pub points_balance: i64,
}

/// Rounding of the amount due at the till (抹零), store configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TillRounding {
    /// No rounding (the online shop always uses this).
    #[default]
    None,
    /// Round the amount due down to a whole 0.1 yuan (抹分).
    DownToJiao,
    /// Round the amount due down to a whole yuan (抹角).
    DownToYuan,
}

impl TillRounding {
    /// The rounding unit in fen (1, 10 or 100).
    pub fn unit_fen(self) -> i64 {
        match self {
            TillRounding::None => 1,
            TillRounding::DownToJiao => 10,
            TillRounding::DownToYuan => 100,
        }
    }
}

/// Rounding configuration of the engine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PricingSettings {
    /// How fractions of a fen are rounded (percentage discounts, tier prices, weighed amounts,
    /// part of a line given free).
    #[serde(default)]
    pub rounding: Rounding,
    /// The store's till rounding (抹零); [`TillRounding::None`] online.
    #[serde(default)]
    pub till_rounding: TillRounding,
}

/// Who a promotion is for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Audience {
    /// Every shopper.
    #[default]
    Everyone,
    /// Identified members of any tier.
    Members,
    /// Members of these tiers only (tier codes), e.g. a gold-member price.
    Tiers {
        /// Tier codes.
        tiers: Vec<String>,
    },
}

/// Which basket lines a promotion or coupon applies to.
///
/// With all three include lists empty it is the whole basket; otherwise a line is in scope if
/// its SKU, any of its categories or its brand is listed. Exclusions win over inclusions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Scope {
    /// SKUs included.
    #[serde(default)]
    pub skus: Vec<Uuid>,
    /// Categories included (a line matches if any category of its path is listed).
    #[serde(default)]
    pub categories: Vec<String>,
    /// Brands included.
    #[serde(default)]
    pub brands: Vec<String>,
    /// SKUs excluded.
    #[serde(default)]
    pub exclude_skus: Vec<Uuid>,
    /// Categories excluded (with all their descendants).
    #[serde(default)]
    pub exclude_categories: Vec<String>,
}

impl Scope {
    /// The whole basket.
    pub fn whole_basket() -> Scope {
        Scope::default()
    }

    /// These SKUs only.
    pub fn skus(skus: impl IntoIterator<Item = Uuid>) -> Scope {
        Scope {
            skus: skus.into_iter().collect(),
            ..Scope::default()
        }
    }

    /// These categories (and their descendants) only.
    pub fn categories<S: Into<String>>(categories: impl IntoIterator<Item = S>) -> Scope {
        Scope {
            categories: categories.into_iter().map(Into::into).collect(),
            ..Scope::default()
        }
    }

    /// True if no include list is given (the whole basket, less exclusions).
    pub fn is_whole_basket(&self) -> bool {
        self.skus.is_empty() && self.categories.is_empty() && self.brands.is_empty()
    }

    /// True if `line` is in scope.
    pub fn matches(&self, line: &BasketLine) -> bool {
        let in_cats = |list: &[String]| line.categories.iter().any(|c| list.contains(c));
        if self.exclude_skus.contains(&line.sku_id) || in_cats(&self.exclude_categories) {
            return false;
        }
        self.is_whole_basket()
            || self.skus.contains(&line.sku_id)
            || in_cats(&self.categories)
            || (!line.brand.is_empty() && self.brands.contains(&line.brand))
    }
}

/// Whether a promotion combines with others.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stacking {
    /// Combines with every other stackable promotion and with coupons (subject to the coupon's
    /// own `stacks_with_promotions`).
    #[default]
    Stackable,
    /// 不与其他优惠同享: the lines it covers get no other promotion and no coupon. The engine
    /// decides, by comparing combinations, whether using it is better for the shopper.
    Exclusive,
}

/// A sale price for one SKU.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SkuPrice {
    /// The SKU.
    pub sku_id: Uuid,
    /// The price per unit (per kg for weighed SKUs).
    pub price: Money,
}

/// One step of a full-reduction: spend at least `threshold`, save `reduction`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReductionTier {
    /// Spend needed on the promotion's lines.
    pub threshold: Money,
    /// Amount taken off.
    pub reduction: Money,
}

/// What a promotion does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PromotionRule {
    /// Time-boxed sale price (特价, 秒杀), or a tier price with a [`Audience::Tiers`] audience:
    /// the listed SKUs sell at the given unit price while the promotion runs. The lowest
    /// available unit price of a line wins; unit prices never stack.
    SalePrice {
        /// The SKUs and their prices.
        prices: Vec<SkuPrice>,
    },
    /// Full reduction (满减): on the promotion's lines, reaching a threshold takes the matching
    /// reduction off (the highest tier reached). With `repeat` (每满减) the single tier is
    /// applied once per whole threshold reached.
    FullReduction {
        /// Tiers, thresholds and reductions strictly increasing.
        tiers: Vec<ReductionTier>,
        /// 每满 X 减 Y: repeat the (single) tier.
        #[serde(default)]
        repeat: bool,
    },
    /// Percentage discount (折扣, 满折) on the promotion's lines.
    PercentOff {
        /// Price factor: 0.9 = 9折 (10 % off); strictly between 0 and 1, at most 4 decimals.
        #[schema(value_type = String, example = "0.9")]
        price_factor: Decimal,
        /// Spend needed on the promotion's lines (0 = none).
        #[serde(default)]
        min_spend: Money,
    },
    /// Buy X get Y (买X送Y): for every `buy + get` units of the promotion's lines, the cheapest
    /// `get` units are free. Weighed lines never count.
    BuyXGetY {
        /// Units to buy.
        buy: u32,
        /// Units free.
        get: u32,
    },
    /// Time-of-day markdown (早晚市, e.g. bakery 7折 after 20:00, or a morning-market price
    /// before 09:00): while the promotion runs, on the listed days and inside a daily window in
    /// China time (UTC+8, no daylight saving), every line in the promotion's scope sells at its
    /// list price × `price_factor` (rounded per unit, per kg for weighed goods). It is a unit
    /// price like [`PromotionRule::SalePrice`]: the lowest unit price of a line wins, unit
    /// prices never stack, and the shelf label shows it. The lanes apply it by their own clock.
    TimeOfDayMarkdown {
        /// Price factor: 0.7 = 7折 (30 % off); strictly between 0 and 1, at most 4 decimals.
        #[schema(value_type = String, example = "0.7")]
        price_factor: Decimal,
        /// Days of the week on which the window opens, ISO numbers in China time (1 = Monday …
        /// 7 = Sunday); empty = every day.
        #[serde(default)]
        days: Vec<u8>,
        /// Start of the daily window, minutes after midnight China time (inclusive), e.g. 1200 =
        /// 20:00. 0 ..= 1439.
        from_minute: u16,
        /// End of the daily window, minutes after midnight China time (exclusive), 1 ..= 1440
        /// (1440 = midnight). Below `from_minute` the window runs past midnight and belongs to
        /// the day it opened on.
        until_minute: u16,
    },
}

/// China Standard Time (UTC+8), the clock of time-of-day markdowns.
pub fn china_offset() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

impl PromotionRule {
    /// True unless this is a [`PromotionRule::TimeOfDayMarkdown`] whose daily window (in China
    /// time) is closed at `at`.
    pub fn daily_window_open(&self, at: DateTime<Utc>) -> bool {
        use chrono::{Datelike, Timelike};
        let PromotionRule::TimeOfDayMarkdown {
            days,
            from_minute,
            until_minute,
            ..
        } = self
        else {
            return true;
        };
        let local = at.with_timezone(&china_offset());
        let minute = (local.hour() * 60 + local.minute()) as u16;
        let today = local.weekday().number_from_monday() as u8;
        let day_ok = |d: u8| days.is_empty() || days.contains(&d);
        if from_minute < until_minute {
            day_ok(today) && *from_minute <= minute && minute < *until_minute
        } else {
            // Past midnight: open from `from_minute` today, or until `until_minute` on the
            // morning after a listed day.
            let yesterday = if today == 1 { 7 } else { today - 1 };
            (day_ok(today) && minute >= *from_minute)
                || (day_ok(yesterday) && minute < *until_minute)
        }
    }

    /// For a [`PromotionRule::TimeOfDayMarkdown`], the last instant at or before `at` and the
    /// first instant after `at` at which its daily window opens or closes (China time), looked
    /// for within 8 days either way; `(None, None)` for other rules. Shelf labels use them for
    /// their validity window and the ESL scheduler pushes prices at them.
    pub fn window_boundaries(
        &self,
        at: DateTime<Utc>,
    ) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        use chrono::{Duration, TimeZone};
        let PromotionRule::TimeOfDayMarkdown {
            from_minute,
            until_minute,
            ..
        } = self
        else {
            return (None, None);
        };
        let offset = china_offset();
        let day = at.with_timezone(&offset).date_naive();
        let mut cands: Vec<DateTime<Utc>> = Vec::new();
        for d in -8..=9 {
            let Some(midnight) = (day + Duration::days(d)).and_hms_opt(0, 0, 0) else {
                continue;
            };
            let Some(midnight) = offset.from_local_datetime(&midnight).single() else {
                continue;
            };
            for m in [*from_minute, *until_minute] {
                cands.push((midnight + Duration::minutes(i64::from(m))).with_timezone(&Utc));
            }
        }
        cands.sort_unstable();
        cands.dedup();
        let changes = |t: DateTime<Utc>| {
            self.daily_window_open(t) != self.daily_window_open(t - Duration::milliseconds(1))
        };
        let prev = cands
            .iter()
            .rev()
            .find(|&&t| t <= at && changes(t))
            .copied();
        let next = cands.iter().find(|&&t| t > at && changes(t)).copied();
        (prev, next)
    }
}

/// A promotion, as created by head office and shipped to the lanes with the catalog.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Promotion {
    /// Id (UUIDv7).
    pub id: Uuid,
    /// Chinese name, e.g. `双11满减`.
    #[serde(default)]
    pub name_zh: String,
    /// English name.
    #[serde(default)]
    pub name_en: String,
    /// Start of the window (inclusive).
    pub starts_at: DateTime<Utc>,
    /// End of the window (exclusive).
    pub ends_at: DateTime<Utc>,
    /// Store codes where it runs; empty = chain-wide.
    #[serde(default)]
    pub stores: Vec<String>,
    /// Who gets it.
    #[serde(default)]
    pub audience: Audience,
    /// Which lines it covers.
    #[serde(default)]
    pub scope: Scope,
    /// What it does.
    pub rule: PromotionRule,
    /// Exclusive or stackable.
    #[serde(default)]
    pub stacking: Stacking,
    /// Order of application within a stage, lower first; also decides ties between equally
    /// good combinations (the one using the lower-numbered exclusive promotion wins).
    #[serde(default)]
    pub priority: i32,
}

/// What a coupon takes off.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CouponRule {
    /// 满减券: `amount` off when the coupon's lines reach `min_spend` (greater than `amount`).
    Threshold {
        /// Spend needed on the coupon's lines.
        min_spend: Money,
        /// Amount off.
        amount: Money,
    },
    /// 折扣券: a percentage off the coupon's lines, optionally with a minimum spend and a cap.
    Percent {
        /// Price factor: 0.9 = 9折; strictly between 0 and 1, at most 4 decimals.
        #[schema(value_type = String, example = "0.9")]
        price_factor: Decimal,
        /// Spend needed on the coupon's lines (0 = none).
        #[serde(default)]
        min_spend: Money,
        /// Largest amount off (最高减), if any.
        #[serde(default)]
        max_discount: Option<Money>,
    },
    /// 无门槛券: `amount` off with no minimum (never more than the coupon's lines cost).
    NoThreshold {
        /// Amount off.
        amount: Money,
    },
}

/// A coupon the member chose to use on this basket. Issuance, stock, per-member limits and
/// single use are the server's business; the engine re-checks what it can (owner, validity
/// window, store, scope, minimum spend, stacking).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Coupon {
    /// The member's coupon (instance) id.
    pub id: Uuid,
    /// The member it belongs to.
    pub owner: Uuid,
    /// Chinese name, e.g. `新人满100减10券`.
    #[serde(default)]
    pub name_zh: String,
    /// English name.
    #[serde(default)]
    pub name_en: String,
    /// Valid from (inclusive).
    pub valid_from: DateTime<Utc>,
    /// Valid until (exclusive).
    pub valid_until: DateTime<Utc>,
    /// Store codes where it may be used; empty = everywhere.
    #[serde(default)]
    pub stores: Vec<String>,
    /// Which lines it covers.
    #[serde(default)]
    pub scope: Scope,
    /// What it takes off.
    pub rule: CouponRule,
    /// May be used on lines that got a promotion: a sale price, or a promotion that applied to
    /// a set of lines including them (member and tier prices do not count). If false, those
    /// lines are left out of the coupon (特价商品不可用券).
    #[serde(default)]
    pub stacks_with_promotions: bool,
    /// May be used together with other coupons in one order.
    #[serde(default)]
    pub stacks_with_coupons: bool,
}

/// Everything the engine needs to price a basket. The engine is a pure function of this value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PricingInput {
    /// The store code (store prices are already in the lines; this selects store-scoped
    /// promotions and coupons).
    pub store: String,
    /// The time of pricing (promotion and coupon windows).
    pub at: DateTime<Utc>,
    /// The identified member, if any.
    #[serde(default)]
    pub member: Option<MemberContext>,
    /// The basket.
    pub lines: Vec<BasketLine>,
    /// The promotions known to the caller (inactive ones are ignored).
    #[serde(default)]
    pub promotions: Vec<Promotion>,
    /// The coupons the member chose to use.
    #[serde(default)]
    pub coupons: Vec<Coupon>,
    /// Points the member wants to redeem (0 = none).
    #[serde(default)]
    pub points_to_redeem: i64,
    /// Tiers, earning and redemption rules.
    pub points_rules: PointsRules,
    /// Rounding configuration.
    #[serde(default)]
    pub settings: PricingSettings,
}
