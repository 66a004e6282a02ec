//! Member tiers and points (docs/DESIGN.md §4, "Members and points").
//!
//! Points are earned on the **paid** amount at a configurable rate times the member's tier
//! multiplier, redeemed against orders at a fixed rate (e.g. 100 points = ¥1) up to a share of
//! the order, and reversed proportionally on returns. Tiers follow the growth value, which grows
//! by one per whole yuan paid. All of this is configuration ([`PointsRules`]); the functions here
//! are pure and never panic, even on rules that fail [`PointsRules::validate`].

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::Money;

/// Errors from points rules and redemption.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PointsError {
    /// The configured rules are inconsistent (the message says how).
    #[error("invalid points rules: {0}")]
    InvalidRules(String),
    /// A negative number of points was given.
    #[error("points must not be negative")]
    Negative,
    /// The points are not worth a whole number of fen.
    #[error("{points} points are not worth a whole number of fen; use a multiple of {step}")]
    NotWholeFen {
        /// The points given.
        points: i64,
        /// The smallest number of points worth a whole number of fen.
        step: i64,
    },
    /// The value is out of range.
    #[error("points value out of range")]
    Overflow,
}

/// A membership tier.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, utoipa::ToSchema)]
pub struct Tier {
    /// Stable machine code, e.g. `"gold"`.
    pub code: String,
    /// Display name, e.g. `"金卡会员"`.
    pub name: String,
    /// Growth value from which this tier applies.
    pub min_growth: i64,
    /// Points multiplier on the base earn rate (1.0 = none).
    #[schema(value_type = String, example = "1.5")]
    pub points_multiplier: Decimal,
    /// Price factor for tier discounts: 1.0 = none, 0.95 = 9.5折.
    #[schema(value_type = String, example = "0.95")]
    pub discount: Decimal,
}

/// The fallback used by [`PointsRules::tier_for_growth`] when the rules have no tiers at all
/// (which [`PointsRules::validate`] rejects): no multiplier, no discount.
static BASE_TIER: Tier = Tier {
    code: String::new(),
    name: String::new(),
    min_growth: 0,
    points_multiplier: Decimal::ONE,
    discount: Decimal::ONE,
};

/// Points configuration.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, utoipa::ToSchema)]
pub struct PointsRules {
    /// Base points earned per yuan paid (before the tier multiplier), e.g. 1.
    #[schema(value_type = String, example = "1")]
    pub points_per_yuan: Decimal,
    /// Points worth one yuan when redeeming, e.g. 100 (100 points = ¥1).
    pub redeem_points_per_yuan: i64,
    /// Largest share of an order that may be paid with points, e.g. 0.5.
    #[schema(value_type = String, example = "0.5")]
    pub redeem_cap_ratio: Decimal,
    /// Months after which earned points expire, e.g. 24.
    pub expiry_months: u32,
    /// Tiers, sorted by `min_growth`, the first at 0.
    pub tiers: Vec<Tier>,
}

impl Default for PointsRules {
    /// Common Chinese-retail defaults: 1 point per yuan, 100 points = ¥1, at most 50 % of an
    /// order, 24-month expiry, and four tiers (普通 / 银卡 / 金卡 / 钻石).
    fn default() -> Self {
        let tier =
            |code: &str, name: &str, min_growth: i64, mult: Decimal, discount: Decimal| Tier {
                code: code.into(),
                name: name.into(),
                min_growth,
                points_multiplier: mult,
                discount,
            };
        PointsRules {
            points_per_yuan: Decimal::ONE,
            redeem_points_per_yuan: 100,
            redeem_cap_ratio: Decimal::new(5, 1),
            expiry_months: 24,
            tiers: vec![
                tier("regular", "普通会员", 0, Decimal::ONE, Decimal::ONE),
                tier(
                    "silver",
                    "银卡会员",
                    1_000,
                    Decimal::new(12, 1),
                    Decimal::new(98, 2),
                ),
                tier(
                    "gold",
                    "金卡会员",
                    5_000,
                    Decimal::new(15, 1),
                    Decimal::new(95, 2),
                ),
                tier(
                    "diamond",
                    "钻石会员",
                    20_000,
                    Decimal::new(20, 1),
                    Decimal::new(90, 2),
                ),
            ],
        }
    }
}

fn gcd(mut a: i64, mut b: i64) -> i64 {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a.abs()
}

impl PointsRules {
    /// Checks the rules: at least one tier, tiers sorted by strictly increasing `min_growth`
    /// starting at 0, unique non-empty codes, multipliers > 0, discounts in (0, 1], earn rate
    /// ≥ 0, cap ratio in [0, 1], redeem rate > 0.
    pub fn validate(&self) -> Result<(), PointsError> {
        let bad = |m: String| Err(PointsError::InvalidRules(m));
        if self.points_per_yuan < Decimal::ZERO {
            return bad("points_per_yuan must not be negative".into());
        }
        if self.redeem_points_per_yuan <= 0 {
            return bad("redeem_points_per_yuan must be positive".into());
        }
        if self.redeem_cap_ratio < Decimal::ZERO || self.redeem_cap_ratio > Decimal::ONE {
            return bad("redeem_cap_ratio must be between 0 and 1".into());
        }
        let Some(first) = self.tiers.first() else {
            return bad("at least one tier is required".into());
        };
        if first.min_growth != 0 {
            return bad(format!(
                "the first tier ({}) must start at growth 0",
                first.code
            ));
        }
        for (i, t) in self.tiers.iter().enumerate() {
            if t.code.is_empty() {
                return bad(format!("tier #{i} has an empty code"));
            }
            if self.tiers[..i].iter().any(|o| o.code == t.code) {
                return bad(format!("duplicate tier code {:?}", t.code));
            }
            if let Some(prev) = i.checked_sub(1).and_then(|p| self.tiers.get(p)) {
                if t.min_growth <= prev.min_growth {
                    return bad(format!(
                        "tier {} (min_growth {}) must come after tier {} (min_growth {}) in \
                         strictly increasing order",
                        t.code, t.min_growth, prev.code, prev.min_growth
                    ));
                }
            }
            if t.points_multiplier <= Decimal::ZERO {
                return bad(format!("tier {} multiplier must be positive", t.code));
            }
            if t.discount <= Decimal::ZERO || t.discount > Decimal::ONE {
                return bad(format!(
                    "tier {} discount must be in (0, 1] (1 = none, 0.95 = 9.5折)",
                    t.code
                ));
            }
        }
        Ok(())
    }

    /// The tier for a growth value: the last tier whose `min_growth` ≤ `growth` (tiers are sorted).
    /// Below the first tier (negative growth) the first tier applies; with no tiers at all a
    /// neutral tier (code `""`, multiplier 1, no discount) is returned.
    pub fn tier_for_growth(&self, growth: i64) -> &Tier {
        self.tiers
            .iter()
            .rev()
            .find(|t| t.min_growth <= growth)
            .or_else(|| self.tiers.first())
            .unwrap_or(&BASE_TIER)
    }

    /// The tier with this code.
    pub fn tier(&self, code: &str) -> Option<&Tier> {
        self.tiers.iter().find(|t| t.code == code)
    }

    /// Points earned for `paid`: `floor(paid yuan × points_per_yuan × tier multiplier)`.
    /// Never negative (0 for zero or negative amounts or negative factors); saturates at
    /// `i64::MAX` instead of overflowing.
    pub fn points_earned(&self, paid: Money, tier: &Tier) -> i64 {
        if paid.fen() <= 0 {
            return 0;
        }
        let product = paid
            .amount()
            .checked_mul(self.points_per_yuan)
            .and_then(|p| p.checked_mul(tier.points_multiplier));
        match product {
            Some(p) if p <= Decimal::ZERO => 0,
            Some(p) => p.floor().to_i64().unwrap_or(i64::MAX),
            None => i64::MAX,
        }
    }

    /// Growth value for `paid`: one per whole yuan, `floor(paid yuan)`; 0 for negative amounts
    /// (reverse growth on returns with [`points_to_reverse`]).
    pub fn growth_for(&self, paid: Money) -> i64 {
        paid.fen().max(0) / 100
    }

    /// Smallest positive number of points worth a whole number of fen:
    /// `redeem_points_per_yuan / gcd(redeem_points_per_yuan, 100)` (1 for 100 points = ¥1,
    /// 10 for 1000 points = ¥1). `None` if the redeem rate is not positive.
    pub fn redeem_step(&self) -> Option<i64> {
        let rate = self.redeem_points_per_yuan;
        (rate > 0).then(|| rate / gcd(rate, 100))
    }

    /// The most points that may be redeemed on an order of `order_total` by a member with
    /// `balance` points: at most the balance, worth at most `redeem_cap_ratio` of the total, and a
    /// multiple of [`PointsRules::redeem_step`] so the value is whole fen. 0 if nothing can be
    /// redeemed (no balance, non-positive total, invalid rules).
    pub fn max_redeemable_points(&self, balance: i64, order_total: Money) -> i64 {
        let Some(step) = self.redeem_step() else {
            return 0;
        };
        if balance <= 0 || order_total.fen() <= 0 {
            return 0;
        }
        let ratio = self.redeem_cap_ratio.clamp(Decimal::ZERO, Decimal::ONE);
        // Cap in fen, rounded down (at most the order total, so it fits in i64).
        let cap_fen = Decimal::from(order_total.fen())
            .checked_mul(ratio)
            .and_then(|d| d.floor().to_i64())
            .unwrap_or(0);
        // Points worth at most cap_fen: p * 100 / rate <= cap_fen  <=>  p <= cap_fen * rate / 100.
        let rate = i128::from(self.redeem_points_per_yuan);
        let cap_points = i128::from(cap_fen) * rate / 100;
        let points = cap_points.min(i128::from(balance));
        let points = points - points % i128::from(step);
        i64::try_from(points).unwrap_or(0).max(0)
    }

    /// The money value of redeeming `points`. Errors if `points` is negative, not a multiple of
    /// [`PointsRules::redeem_step`] (not a whole number of fen), or the rules have no valid
    /// redeem rate.
    pub fn redemption_value(&self, points: i64) -> Result<Money, PointsError> {
        if points < 0 {
            return Err(PointsError::Negative);
        }
        let step = self.redeem_step().ok_or_else(|| {
            PointsError::InvalidRules("redeem_points_per_yuan must be positive".into())
        })?;
        if points % step != 0 {
            return Err(PointsError::NotWholeFen { points, step });
        }
        let fen = i128::from(points) * 100 / i128::from(self.redeem_points_per_yuan);
        i64::try_from(fen)
            .map(Money::from_fen)
            .map_err(|_| PointsError::Overflow)
    }

    /// See the free function [`points_to_reverse`].
    pub fn points_to_reverse(earned: i64, original_paid: Money, refunded: Money) -> i64 {
        points_to_reverse(earned, original_paid, refunded)
    }
}

/// Points (or growth) to take back when `refunded` of an order that paid `original_paid` and
/// earned `earned` is returned: `floor(earned × refunded / original_paid)`, clamped to
/// `0..=earned`.
///
/// Rounding down guarantees that the reversals of several partial returns never add up to more
/// than `earned` (a sum of floors is at most the floor of the sum). The flip side is that a few
/// points may remain after the last partial return; to reverse exactly, callers can compute on
/// the cumulative refunded amount and subtract what was already reversed:
/// `points_to_reverse(earned, paid, refunded_so_far) - already_reversed`. A full refund
/// (`refunded >= original_paid`) reverses everything. Returns 0 if `earned` ≤ 0, `refunded` ≤ 0
/// or `original_paid` ≤ 0.
pub fn points_to_reverse(earned: i64, original_paid: Money, refunded: Money) -> i64 {
    let paid = i128::from(original_paid.fen());
    let refunded = i128::from(refunded.fen());
    if earned <= 0 || paid <= 0 || refunded <= 0 {
        return 0;
    }
    if refunded >= paid {
        return earned;
    }
    let p = i128::from(earned) * refunded / paid;
    i64::try_from(p).unwrap_or(earned).clamp(0, earned)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn default_rules_are_valid() {
        let r = PointsRules::default();
        r.validate().unwrap();
        assert_eq!(r.tiers.len(), 4);
        assert_eq!(r.tiers[2].name, "金卡会员");
        assert_eq!(r.tiers[2].discount, dec("0.95"));
        let json = serde_json::to_string(&r).unwrap();
        let back: PointsRules = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn validation_errors() {
        let base = PointsRules::default();
        type Mutation = Box<dyn Fn(&mut PointsRules)>;
        let cases: Vec<Mutation> = vec![
            Box::new(|r| r.points_per_yuan = dec("-1")),
            Box::new(|r| r.redeem_points_per_yuan = 0),
            Box::new(|r| r.redeem_cap_ratio = dec("1.1")),
            Box::new(|r| r.redeem_cap_ratio = dec("-0.1")),
            Box::new(|r| r.tiers.clear()),
            Box::new(|r| r.tiers[0].min_growth = 1),
            Box::new(|r| r.tiers[1].code = "regular".into()),
            Box::new(|r| r.tiers[1].code = String::new()),
            Box::new(|r| r.tiers.swap(1, 2)),
            Box::new(|r| r.tiers[2].min_growth = 1000),
            Box::new(|r| r.tiers[1].points_multiplier = Decimal::ZERO),
            Box::new(|r| r.tiers[1].discount = Decimal::ZERO),
            Box::new(|r| r.tiers[1].discount = dec("1.01")),
        ];
        for (i, f) in cases.iter().enumerate() {
            let mut r = base.clone();
            f(&mut r);
            assert!(
                matches!(r.validate(), Err(PointsError::InvalidRules(_))),
                "case {i}"
            );
        }
    }

    #[test]
    fn tiers_by_growth() {
        let r = PointsRules::default();
        assert_eq!(r.tier_for_growth(0).code, "regular");
        assert_eq!(r.tier_for_growth(-5).code, "regular");
        assert_eq!(r.tier_for_growth(999).code, "regular");
        assert_eq!(r.tier_for_growth(1000).code, "silver");
        assert_eq!(r.tier_for_growth(19_999).code, "gold");
        assert_eq!(r.tier_for_growth(i64::MAX).code, "diamond");
        assert_eq!(r.tier("gold").unwrap().min_growth, 5000);
        assert!(r.tier("platinum").is_none());
        let empty = PointsRules {
            tiers: vec![],
            ..PointsRules::default()
        };
        assert_eq!(empty.tier_for_growth(10).points_multiplier, Decimal::ONE);
    }

    #[test]
    fn earning() {
        let r = PointsRules::default();
        let regular = r.tier("regular").unwrap();
        let silver = r.tier("silver").unwrap();
        assert_eq!(r.points_earned(Money::from_fen(1299), regular), 12);
        assert_eq!(r.points_earned(Money::from_fen(1299), silver), 15); // 15.588
        assert_eq!(r.points_earned(Money::from_fen(-500), silver), 0);
        assert_eq!(r.points_earned(Money::ZERO, silver), 0);
        assert_eq!(
            r.points_earned(Money::from_fen(i64::MAX), r.tier("diamond").unwrap()),
            184_467_440_737_095_516
        );
        assert_eq!(r.growth_for(Money::from_fen(1299)), 12);
        assert_eq!(r.growth_for(Money::from_fen(-1299)), 0);
        let huge = PointsRules {
            points_per_yuan: Decimal::MAX,
            ..PointsRules::default()
        };
        assert_eq!(
            huge.points_earned(Money::from_fen(i64::MAX), regular),
            i64::MAX
        );
    }

    #[test]
    fn redemption() {
        let r = PointsRules::default();
        assert_eq!(r.redeem_step(), Some(1));
        // ¥100 order, 50% cap → 5000 points max.
        assert_eq!(
            r.max_redeemable_points(10_000, Money::from_fen(10_000)),
            5000
        );
        assert_eq!(r.max_redeemable_points(1234, Money::from_fen(10_000)), 1234);
        assert_eq!(r.max_redeemable_points(0, Money::from_fen(10_000)), 0);
        assert_eq!(r.max_redeemable_points(-5, Money::from_fen(10_000)), 0);
        assert_eq!(r.max_redeemable_points(100, Money::from_fen(-100)), 0);
        // ¥0.03 order → cap 1 fen → 1 point.
        assert_eq!(r.max_redeemable_points(100, Money::from_fen(3)), 1);
        assert_eq!(r.redemption_value(1234).unwrap(), Money::from_fen(1234));
        assert_eq!(r.redemption_value(-1), Err(PointsError::Negative));

        let coarse = PointsRules {
            redeem_points_per_yuan: 1000,
            ..PointsRules::default()
        };
        assert_eq!(coarse.redeem_step(), Some(10));
        assert_eq!(
            coarse.redemption_value(15),
            Err(PointsError::NotWholeFen {
                points: 15,
                step: 10
            })
        );
        assert_eq!(coarse.redemption_value(1230).unwrap(), Money::from_fen(123));
        assert_eq!(
            coarse.max_redeemable_points(1239, Money::from_fen(10_000)),
            1230
        );
        let odd = PointsRules {
            redeem_points_per_yuan: 30,
            ..PointsRules::default()
        };
        assert_eq!(odd.redeem_step(), Some(3));
        assert_eq!(odd.redemption_value(3).unwrap(), Money::from_fen(10));
        let broken = PointsRules {
            redeem_points_per_yuan: 0,
            ..PointsRules::default()
        };
        assert!(broken.redemption_value(10).is_err());
        assert_eq!(broken.max_redeemable_points(10, Money::from_fen(100)), 0);
        let tiny = PointsRules {
            redeem_points_per_yuan: 1,
            ..PointsRules::default()
        };
        assert_eq!(tiny.redemption_value(i64::MAX), Err(PointsError::Overflow));
    }

    #[test]
    fn reversal() {
        let paid = Money::from_fen(10_000);
        assert_eq!(points_to_reverse(150, paid, Money::from_fen(3333)), 49);
        assert_eq!(points_to_reverse(150, paid, paid), 150);
        assert_eq!(points_to_reverse(150, paid, Money::from_fen(20_000)), 150);
        assert_eq!(points_to_reverse(150, paid, Money::ZERO), 0);
        assert_eq!(points_to_reverse(150, Money::ZERO, paid), 0);
        assert_eq!(points_to_reverse(-3, paid, paid), 0);
        assert_eq!(
            PointsRules::points_to_reverse(150, paid, Money::from_fen(5000)),
            75
        );
    }

    proptest! {
        #[test]
        fn earned_monotone_and_non_negative(a in any::<i64>(), b in any::<i64>(), tier_idx in 0usize..4) {
            let r = PointsRules::default();
            let tier = &r.tiers[tier_idx];
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            let e_lo = r.points_earned(Money::from_fen(lo), tier);
            let e_hi = r.points_earned(Money::from_fen(hi), tier);
            prop_assert!(e_lo >= 0);
            prop_assert!(e_lo <= e_hi);
        }

        #[test]
        fn redeemable_respects_caps(balance in any::<i64>(), total in any::<i64>(), rate in 1i64..100_000, cap in 0u32..=100) {
            let r = PointsRules {
                redeem_points_per_yuan: rate,
                redeem_cap_ratio: Decimal::new(i64::from(cap), 2),
                ..PointsRules::default()
            };
            let p = r.max_redeemable_points(balance, Money::from_fen(total));
            prop_assert!(p >= 0);
            prop_assert!(p <= balance.max(0));
            let value = r.redemption_value(p).unwrap();
            let cap_value = Decimal::from(total.max(0)) * Decimal::new(i64::from(cap), 2);
            prop_assert!(Decimal::from(value.fen()) <= cap_value);
        }

        #[test]
        fn partial_reversals_never_exceed_earned(earned in 0i64..1_000_000, paid in 1i64..100_000_000, cuts in proptest::collection::vec(1u32..100, 1..6)) {
            // Split `paid` into refunds proportional to `cuts`.
            let weights: Vec<i64> = cuts.iter().map(|&c| i64::from(c)).collect();
            let refunds = Money::from_fen(paid).allocate(&weights);
            let total: i64 = refunds
                .iter()
                .map(|&r| points_to_reverse(earned, Money::from_fen(paid), r))
                .sum();
            prop_assert!(total <= earned);
        }
    }
}
