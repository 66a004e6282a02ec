//! Human-readable explanations in Chinese and English.

use rust_decimal::Decimal;

use super::model::{CouponRule, PromotionRule};
use super::result::{Bilingual, NotAppliedReason};
use crate::money::Money;
use crate::points::Tier;

/// An amount in yuan as written on shop signs: `300`, `99.9`, `0.05`.
pub(super) fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    let (y, f) = (abs / 100, abs % 100);
    if f == 0 {
        format!("{sign}{y}")
    } else if f % 10 == 0 {
        format!("{sign}{y}.{}", f / 10)
    } else {
        format!("{sign}{y}.{f:02}")
    }
}

fn y(m: Money) -> String {
    yuan(m.fen())
}

/// A price factor as 折: 0.95 → `9.5`, 0.9 → `9`.
pub(super) fn zhe(factor: Decimal) -> String {
    factor
        .checked_mul(Decimal::TEN)
        .map(|d| d.normalize().to_string())
        .unwrap_or_else(|| factor.to_string())
}

/// A price factor as percent off: 0.95 → `5`, 0.875 → `12.5`.
pub(super) fn pct_off(factor: Decimal) -> String {
    Decimal::ONE
        .checked_sub(factor)
        .and_then(|d| d.checked_mul(Decimal::ONE_HUNDRED))
        .map(|d| d.normalize().to_string())
        .unwrap_or_else(|| factor.to_string())
}

/// The rule of a promotion in its simplest form, e.g. `满300减50` (first tier), `满200享9折`.
pub(super) fn promotion_rule(rule: &PromotionRule) -> Bilingual {
    match rule {
        PromotionRule::SalePrice { prices } => match prices.as_slice() {
            [one] => Bilingual::new(
                format!("特价¥{}", y(one.price)),
                format!("Sale price ¥{}", one.price),
            ),
            _ => Bilingual::new("限时特价", "Limited-time sale price"),
        },
        PromotionRule::FullReduction { tiers, repeat } => {
            let steps: Vec<(String, String)> = tiers
                .iter()
                .map(|t| (y(t.threshold), y(t.reduction)))
                .collect();
            if *repeat {
                let (t, r) = steps.first().cloned().unwrap_or_default();
                Bilingual::new(format!("每满{t}减{r}"), format!("¥{r} off every ¥{t}"))
            } else {
                let zh: Vec<String> = steps.iter().map(|(t, r)| format!("满{t}减{r}")).collect();
                let en: Vec<String> = steps
                    .iter()
                    .map(|(t, r)| format!("spend ¥{t} save ¥{r}"))
                    .collect();
                let mut en = en.join(", ");
                if let Some(first) = en.get_mut(..1) {
                    first.make_ascii_uppercase();
                }
                Bilingual::new(zh.join("，"), en)
            }
        }
        PromotionRule::PercentOff {
            price_factor,
            min_spend,
        } => percent(*price_factor, *min_spend, ""),
        PromotionRule::BuyXGetY { buy, get } => Bilingual::new(
            format!("买{buy}送{get}"),
            format!("Buy {buy} get {get} free"),
        ),
    }
}

fn percent(factor: Decimal, min_spend: Money, what_en: &str) -> Bilingual {
    if min_spend.is_zero() {
        Bilingual::new(
            format!("{}折", zhe(factor)),
            format!("{}% off{what_en}", pct_off(factor)),
        )
    } else {
        Bilingual::new(
            format!("满{}享{}折", y(min_spend), zhe(factor)),
            format!(
                "{}% off{what_en} when you spend ¥{}",
                pct_off(factor),
                y(min_spend)
            ),
        )
    }
}

/// A full reduction as applied: `满300减50`, or `每满100减10（减3次）`.
pub(super) fn reduction_applied(
    threshold: i64,
    reduction: i64,
    times: i64,
    repeat: bool,
) -> Bilingual {
    if repeat {
        Bilingual::new(
            format!(
                "每满{}减{}（减{times}次）",
                yuan(threshold),
                yuan(reduction)
            ),
            format!(
                "¥{} off every ¥{} (×{times})",
                yuan(reduction),
                yuan(threshold)
            ),
        )
    } else {
        Bilingual::new(
            format!("满{}减{}", yuan(threshold), yuan(reduction)),
            format!("Spend ¥{}, save ¥{}", yuan(threshold), yuan(reduction)),
        )
    }
}

/// Buy X get Y as applied.
pub(super) fn bxgy_applied(buy: i64, get: i64, free_units: i64) -> Bilingual {
    Bilingual::new(
        format!("买{buy}送{get}（{free_units}件最低价商品免费）"),
        format!("Buy {buy} get {get} free ({free_units} cheapest free)"),
    )
}

/// A coupon's rule: `满200减20券`, `9折券（最高减50）`, `无门槛10元券`.
pub(super) fn coupon_rule(rule: &CouponRule) -> Bilingual {
    match rule {
        CouponRule::Threshold { min_spend, amount } => Bilingual::new(
            format!("满{}减{}券", y(*min_spend), y(*amount)),
            format!("¥{} off ¥{} coupon", y(*amount), y(*min_spend)),
        ),
        CouponRule::Percent {
            price_factor,
            min_spend,
            max_discount,
        } => {
            let mut t = percent(*price_factor, *min_spend, " coupon");
            if min_spend.is_zero() {
                t.zh.push('券');
            } else {
                t.zh = format!("满{}可用{}折券", y(*min_spend), zhe(*price_factor));
            }
            if let Some(m) = max_discount {
                t.zh.push_str(&format!("（最高减{}）", y(*m)));
                t.en.push_str(&format!(", up to ¥{}", y(*m)));
            }
            t
        }
        CouponRule::NoThreshold { amount } => Bilingual::new(
            format!("无门槛{}元券", y(*amount)),
            format!("¥{} off coupon, no minimum spend", y(*amount)),
        ),
    }
}

/// Member price saving.
pub(super) fn member_price(saved: i64) -> Bilingual {
    let m = Money::from_fen(saved);
    Bilingual::new(
        format!("会员价，省¥{m}"),
        format!("Member price, save ¥{m}"),
    )
}

/// Tier price saving, e.g. `金卡会员9.5折会员价`.
pub(super) fn tier_price(tier: &Tier, saved: i64) -> Bilingual {
    let m = Money::from_fen(saved);
    Bilingual::new(
        format!("{}{}折会员价，省¥{m}", tier.name, zhe(tier.discount)),
        format!(
            "{} member price, {}% off, save ¥{m}",
            tier.code,
            pct_off(tier.discount)
        ),
    )
}

/// Sale price saving.
pub(super) fn sale_price(rule: &PromotionRule, saved: i64) -> Bilingual {
    let m = Money::from_fen(saved);
    let r = promotion_rule(rule);
    Bilingual::new(format!("{}，省¥{m}", r.zh), format!("{}, save ¥{m}", r.en))
}

/// 抹零.
pub(super) fn till_rounding(amount: i64) -> Bilingual {
    let m = Money::from_fen(amount);
    Bilingual::new(format!("抹零¥{m}"), format!("Till rounding ¥{m}"))
}

/// Points redeemed.
pub(super) fn points(points: i64, value: Money) -> Bilingual {
    Bilingual::new(
        format!("使用{points}积分抵¥{value}"),
        format!("{points} points redeemed for ¥{value}"),
    )
}

/// Why a promotion did not apply, for the shopper.
pub(super) fn not_applied(rule: &PromotionRule, reason: &NotAppliedReason) -> Bilingual {
    let r = promotion_rule(rule);
    match reason {
        NotAppliedReason::NotInBestCombination => Bilingual::new(
            format!("{}：不与其他优惠同享，已为您选择更优惠的组合", r.zh),
            format!(
                "{}: cannot be combined with other offers; a better combination was chosen",
                r.en
            ),
        ),
        NotAppliedReason::BlockedByExclusive => Bilingual::new(
            format!("{}：相关商品已参加不与其他优惠同享的活动", r.zh),
            format!(
                "{}: its items already have an offer that cannot be combined",
                r.en
            ),
        ),
        NotAppliedReason::SpendMore { short_by } => Bilingual::new(
            format!("再买¥{}可享{}", y(*short_by), r.zh),
            format!("Spend ¥{} more for: {}", y(*short_by), r.en),
        ),
        NotAppliedReason::AddItems { units } => Bilingual::new(
            format!("再买{units}件可享{}", r.zh),
            format!(
                "Add {units} more item{} for: {}",
                if *units == 1 { "" } else { "s" },
                r.en
            ),
        ),
    }
}

/// Generic names for discounts that are not promotions or coupons.
pub(super) fn generic_name(kind: &str) -> Bilingual {
    match kind {
        "member" => Bilingual::new("会员价", "Member price"),
        "tier" => Bilingual::new("会员折扣", "Member tier discount"),
        _ => Bilingual::new("抹零", "Till rounding"),
    }
}

/// A promotion's or coupon's name, falling back to its rule.
pub(super) fn name_or(zh: &str, en: &str, fallback: Bilingual) -> Bilingual {
    Bilingual::new(
        if zh.is_empty() {
            fallback.zh.clone()
        } else {
            zh.to_owned()
        },
        if en.is_empty() {
            fallback.en
        } else {
            en.to_owned()
        },
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::pricing::model::ReductionTier;

    #[test]
    fn formats() {
        assert_eq!(yuan(30_000), "300");
        assert_eq!(yuan(9_990), "99.9");
        assert_eq!(yuan(5), "0.05");
        assert_eq!(yuan(-150), "-1.5");
        assert_eq!(zhe("0.95".parse().unwrap()), "9.5");
        assert_eq!(zhe("0.90".parse().unwrap()), "9");
        assert_eq!(pct_off("0.95".parse().unwrap()), "5");
        assert_eq!(pct_off("0.875".parse().unwrap()), "12.5");
        let rule = PromotionRule::FullReduction {
            tiers: vec![
                ReductionTier {
                    threshold: Money::from_fen(30_000),
                    reduction: Money::from_fen(5_000),
                },
                ReductionTier {
                    threshold: Money::from_fen(50_000),
                    reduction: Money::from_fen(10_000),
                },
            ],
            repeat: false,
        };
        let t = promotion_rule(&rule);
        assert_eq!(t.zh, "满300减50，满500减100");
        assert_eq!(t.en, "Spend ¥300 save ¥50, spend ¥500 save ¥100");
        let c = coupon_rule(&CouponRule::Percent {
            price_factor: "0.9".parse().unwrap(),
            min_spend: Money::ZERO,
            max_discount: Some(Money::from_fen(5_000)),
        });
        assert_eq!(c.zh, "9折券（最高减50）");
        assert_eq!(c.en, "10% off coupon, up to ¥50");
    }
}
