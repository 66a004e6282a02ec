//! Validation of promotions, coupons and baskets: contradictory rules and negative or absurd
//! values are refused with a message saying what is wrong.

use rust_decimal::Decimal;
use uuid::Uuid;

use super::model::{Audience, BasketLine, Coupon, CouponRule, Promotion, PromotionRule, Scope};
use super::result::PricingError;
use crate::money::Money;

/// Most lines in a basket.
pub const MAX_LINES: usize = 500;
/// Most units on a line (grams for weighed lines: 1 tonne).
pub const MAX_QTY: i64 = 1_000_000;
/// Highest unit price (per unit or per kg): ¥1,000,000.
pub const MAX_UNIT_PRICE_FEN: i64 = 100_000_000;
/// Highest threshold, reduction or coupon amount: ¥100,000,000.
pub const MAX_RULE_AMOUNT_FEN: i64 = 10_000_000_000;
/// Most promotions given to one pricing.
pub const MAX_PROMOTIONS: usize = 1_000;
/// Most coupons used on one basket.
pub const MAX_COUPONS: usize = 20;
/// Most entries in one list of a scope or of a sale price.
pub const MAX_LIST_LEN: usize = 10_000;
/// Most tiers of a full reduction.
pub const MAX_REDUCTION_TIERS: usize = 20;
/// Most units to buy or get in a buy X get Y.
pub const MAX_BUY_GET: u32 = 1_000;
/// Most categories on a basket line.
pub const MAX_LINE_CATEGORIES: usize = 32;
/// Most decimal places of a price factor.
pub const MAX_FACTOR_DECIMALS: u32 = 4;

pub(super) fn check_line(line: &BasketLine) -> Result<(), PricingError> {
    let bad = |reason: String| {
        Err(PricingError::InvalidLine {
            line_no: line.line_no,
            reason,
        })
    };
    if line.qty <= 0 {
        return bad(format!("quantity {} must be positive", line.qty));
    }
    if line.qty > MAX_QTY {
        let unit = if line.weighed { "grams" } else { "units" };
        return bad(format!(
            "quantity {} is more than {MAX_QTY} {unit}",
            line.qty
        ));
    }
    for (what, price) in [
        ("price", Some(line.price)),
        ("store price", line.store_price),
        ("member price", line.member_price),
    ] {
        if let Some(p) = price {
            let fen = p.fen();
            if fen < 0 {
                return bad(format!("{what} ¥{p} is negative"));
            }
            if fen > MAX_UNIT_PRICE_FEN {
                return bad(format!(
                    "{what} ¥{p} is more than ¥{}",
                    Money::from_fen(MAX_UNIT_PRICE_FEN)
                ));
            }
        }
    }
    if line.categories.len() > MAX_LINE_CATEGORIES {
        return bad(format!(
            "{} categories (at most {MAX_LINE_CATEGORIES})",
            line.categories.len()
        ));
    }
    Ok(())
}

fn check_amount(what: &str, m: Money, allow_zero: bool) -> Result<(), String> {
    let fen = m.fen();
    if fen < 0 {
        return Err(format!("{what} ¥{m} is negative"));
    }
    if !allow_zero && fen == 0 {
        return Err(format!("{what} must be more than ¥0"));
    }
    if fen > MAX_RULE_AMOUNT_FEN {
        return Err(format!(
            "{what} ¥{m} is more than ¥{}",
            Money::from_fen(MAX_RULE_AMOUNT_FEN)
        ));
    }
    Ok(())
}

fn check_factor(f: Decimal) -> Result<(), String> {
    if f <= Decimal::ZERO || f >= Decimal::ONE {
        return Err(format!(
            "price factor {f} must be between 0 and 1 exclusive (0.9 = 9折)"
        ));
    }
    if f.normalize().scale() > MAX_FACTOR_DECIMALS {
        return Err(format!(
            "price factor {f} has more than {MAX_FACTOR_DECIMALS} decimal places"
        ));
    }
    Ok(())
}

fn check_list<T>(what: &str, list: &[T]) -> Result<(), String> {
    if list.len() > MAX_LIST_LEN {
        return Err(format!(
            "{what} has {} entries (at most {MAX_LIST_LEN})",
            list.len()
        ));
    }
    Ok(())
}

fn check_scope(scope: &Scope) -> Result<(), String> {
    check_list("scope.skus", &scope.skus)?;
    check_list("scope.categories", &scope.categories)?;
    check_list("scope.brands", &scope.brands)?;
    check_list("scope.exclude_skus", &scope.exclude_skus)?;
    check_list("scope.exclude_categories", &scope.exclude_categories)?;
    if let Some(s) = scope.skus.iter().find(|s| scope.exclude_skus.contains(s)) {
        return Err(format!("SKU {s} is both included and excluded"));
    }
    if let Some(c) = scope
        .categories
        .iter()
        .find(|c| scope.exclude_categories.contains(c))
    {
        return Err(format!("category {c:?} is both included and excluded"));
    }
    if scope
        .categories
        .iter()
        .chain(&scope.exclude_categories)
        .chain(&scope.brands)
        .any(|s| s.is_empty())
    {
        return Err("scope has an empty category or brand".into());
    }
    Ok(())
}

fn check_stores(stores: &[String]) -> Result<(), String> {
    check_list("stores", stores)?;
    if stores.iter().any(|s| s.is_empty()) {
        return Err("empty store code".into());
    }
    Ok(())
}

fn promotion_problem(p: &Promotion) -> Result<(), String> {
    if p.ends_at <= p.starts_at {
        return Err(format!(
            "ends at {} which is not after its start {}",
            p.ends_at, p.starts_at
        ));
    }
    check_stores(&p.stores)?;
    if let Audience::Tiers { tiers } = &p.audience {
        if tiers.is_empty() {
            return Err("audience lists no tiers".into());
        }
        check_list("audience.tiers", tiers)?;
    }
    check_scope(&p.scope)?;
    match &p.rule {
        PromotionRule::SalePrice { prices } => {
            if prices.is_empty() {
                return Err("sale price lists no SKUs".into());
            }
            check_list("prices", prices)?;
            let mut skus: Vec<Uuid> = prices.iter().map(|p| p.sku_id).collect();
            skus.sort_unstable();
            if let Some(w) = skus.windows(2).find(|w| w[0] == w[1]) {
                return Err(format!("SKU {} has more than one sale price", w[0]));
            }
            for sp in prices {
                if sp.price.is_negative() || sp.price.fen() > MAX_UNIT_PRICE_FEN {
                    return Err(format!(
                        "sale price ¥{} of SKU {} is negative or above ¥{}",
                        sp.price,
                        sp.sku_id,
                        Money::from_fen(MAX_UNIT_PRICE_FEN)
                    ));
                }
            }
        }
        PromotionRule::FullReduction { tiers, repeat } => {
            if tiers.is_empty() {
                return Err("full reduction has no tiers".into());
            }
            if tiers.len() > MAX_REDUCTION_TIERS {
                return Err(format!(
                    "full reduction has {} tiers (at most {MAX_REDUCTION_TIERS})",
                    tiers.len()
                ));
            }
            if *repeat && tiers.len() != 1 {
                return Err(
                    "a repeating full reduction (每满减) must have exactly one tier".into(),
                );
            }
            for (i, t) in tiers.iter().enumerate() {
                check_amount("threshold", t.threshold, false)?;
                check_amount("reduction", t.reduction, false)?;
                if t.reduction >= t.threshold {
                    return Err(format!(
                        "reduction ¥{} is not less than its threshold ¥{}",
                        t.reduction, t.threshold
                    ));
                }
                if let Some(prev) = i.checked_sub(1).and_then(|j| tiers.get(j)) {
                    if t.threshold <= prev.threshold || t.reduction <= prev.reduction {
                        return Err(format!(
                            "tiers must rise: 满{}减{} comes after 满{}减{}",
                            t.threshold, t.reduction, prev.threshold, prev.reduction
                        ));
                    }
                }
            }
        }
        PromotionRule::PercentOff {
            price_factor,
            min_spend,
        } => {
            check_factor(*price_factor)?;
            check_amount("min_spend", *min_spend, true)?;
        }
        PromotionRule::BuyXGetY { buy, get } => {
            if *buy == 0 || *get == 0 || *buy > MAX_BUY_GET || *get > MAX_BUY_GET {
                return Err(format!(
                    "buy {buy} get {get}: both must be between 1 and {MAX_BUY_GET}"
                ));
            }
        }
        PromotionRule::TimeOfDayMarkdown {
            price_factor,
            days,
            from_minute,
            until_minute,
        } => {
            check_factor(*price_factor)?;
            if days.len() > 7 || days.iter().any(|d| !(1..=7).contains(d)) {
                return Err("days must be ISO weekdays 1 (Monday) to 7 (Sunday)".into());
            }
            let mut sorted = days.clone();
            sorted.sort_unstable();
            sorted.dedup();
            if sorted.len() != days.len() {
                return Err("days lists a weekday twice".into());
            }
            if *from_minute >= 1440 || *until_minute == 0 || *until_minute > 1440 {
                return Err(format!(
                    "daily window {from_minute}..{until_minute}: from must be 0..1439 and until 1..1440 minutes after midnight"
                ));
            }
            if from_minute == until_minute {
                return Err("the daily window is empty (from equals until)".into());
            }
        }
    }
    Ok(())
}

impl Promotion {
    /// Checks the promotion on its own: a window that ends after it starts, non-empty store and
    /// tier lists, a scope that does not include what it excludes, and a rule without negative,
    /// zero or absurd values (sale prices within range and one per SKU; full-reduction tiers
    /// rising with reductions below thresholds; price factors strictly between 0 and 1; buy
    /// and get between 1 and 1000).
    pub fn validate(&self) -> Result<(), PricingError> {
        promotion_problem(self).map_err(|reason| PricingError::InvalidPromotion {
            id: self.id,
            name: if self.name_zh.is_empty() {
                self.name_en.clone()
            } else {
                self.name_zh.clone()
            },
            reason,
        })
    }

    /// True if the promotion runs at `at` at `store` for a shopper of tier `tier` (`None` =
    /// not a member).
    pub fn is_active(
        &self,
        at: chrono::DateTime<chrono::Utc>,
        store: &str,
        tier: Option<&str>,
    ) -> bool {
        self.starts_at <= at
            && at < self.ends_at
            && self.rule.daily_window_open(at)
            && (self.stores.is_empty() || self.stores.iter().any(|s| s == store))
            && match (&self.audience, tier) {
                (Audience::Everyone, _) => true,
                (Audience::Members, t) => t.is_some(),
                (Audience::Tiers { tiers }, Some(t)) => tiers.iter().any(|x| x == t),
                (Audience::Tiers { .. }, None) => false,
            }
    }
}

impl Coupon {
    /// Checks the coupon's definition: a validity window that ends after it starts, non-empty
    /// store codes, a consistent scope, and a rule without negative, zero or absurd values
    /// (a 满减券's amount below its minimum spend; price factors strictly between 0 and 1).
    pub fn validate(&self) -> Result<(), PricingError> {
        self.problem()
            .map_err(|reason| PricingError::InvalidCoupon {
                id: self.id,
                reason,
            })
    }

    fn problem(&self) -> Result<(), String> {
        if self.valid_until <= self.valid_from {
            return Err(format!(
                "valid until {} which is not after {}",
                self.valid_until, self.valid_from
            ));
        }
        check_stores(&self.stores)?;
        check_scope(&self.scope)?;
        match &self.rule {
            CouponRule::Threshold { min_spend, amount } => {
                check_amount("min_spend", *min_spend, false)?;
                check_amount("amount", *amount, false)?;
                if amount >= min_spend {
                    return Err(format!(
                        "amount ¥{amount} is not less than the minimum spend ¥{min_spend}"
                    ));
                }
            }
            CouponRule::Percent {
                price_factor,
                min_spend,
                max_discount,
            } => {
                check_factor(*price_factor)?;
                check_amount("min_spend", *min_spend, true)?;
                if let Some(m) = max_discount {
                    check_amount("max_discount", *m, false)?;
                }
            }
            CouponRule::NoThreshold { amount } => check_amount("amount", *amount, false)?,
        }
        Ok(())
    }
}

fn audiences_overlap(a: &Audience, b: &Audience) -> bool {
    match (a, b) {
        (Audience::Everyone, _) | (_, Audience::Everyone) => true,
        (Audience::Members, _) | (_, Audience::Members) => true,
        (Audience::Tiers { tiers: x }, Audience::Tiers { tiers: y }) => {
            x.iter().any(|t| y.contains(t))
        }
    }
}

fn stores_overlap(a: &[String], b: &[String]) -> bool {
    a.is_empty() || b.is_empty() || a.iter().any(|s| b.contains(s))
}

/// Checks a set of promotions as head office saves them: each one valid, ids unique, and no
/// SKU with two different sale prices for the same shoppers at the same store at the same time
/// (overlapping windows, stores and audiences). The engine itself only needs each promotion
/// valid (it takes the lowest sale price), so lanes are never blocked by such a conflict; the
/// console refuses it.
pub fn validate_promotion_set(promotions: &[Promotion]) -> Result<(), PricingError> {
    let mut ids: Vec<Uuid> = Vec::with_capacity(promotions.len());
    for p in promotions {
        p.validate()?;
        ids.push(p.id);
    }
    ids.sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        return Err(PricingError::DuplicatePromotion(w[0]));
    }
    let sales: Vec<(&Promotion, &[super::model::SkuPrice])> = promotions
        .iter()
        .filter_map(|p| match &p.rule {
            PromotionRule::SalePrice { prices } => Some((p, prices.as_slice())),
            _ => None,
        })
        .collect();
    for (i, (a, pa)) in sales.iter().enumerate() {
        for (b, pb) in sales.iter().skip(i + 1) {
            let overlap = a.starts_at < b.ends_at
                && b.starts_at < a.ends_at
                && stores_overlap(&a.stores, &b.stores)
                && audiences_overlap(&a.audience, &b.audience);
            if !overlap {
                continue;
            }
            for x in pa.iter() {
                if let Some(y) = pb
                    .iter()
                    .find(|y| y.sku_id == x.sku_id && y.price != x.price)
                {
                    return Err(PricingError::ConflictingPromotions {
                        first: a.id,
                        second: b.id,
                        reason: format!(
                            "SKU {} would have two sale prices, ¥{} and ¥{}, at the same time \
                             for the same shoppers",
                            x.sku_id, x.price, y.price
                        ),
                    });
                }
            }
        }
    }
    Ok(())
}
