//! Human-readable explanations in Chinese and English.
//!
//! Texts are built by appending pieces ([`P`]) to a string instead of `format!`: pricing a
//! basket writes dozens of them, and this keeps it cheap.

use rust_decimal::Decimal;

use super::model::{CouponRule, PromotionRule};
use super::result::{Bilingual, NotAppliedReason};
use crate::money::Money;
use crate::points::Tier;

/// A piece of text.
#[derive(Clone, Copy)]
enum P<'a> {
    /// Literal text.
    S(&'a str),
    /// An integer.
    I(i64),
    /// An amount in yuan as on shop signs (from fen): `300`, `99.9`, `0.05`.
    Y(i64),
    /// An amount in yuan with two decimals (from fen), like [`Money`]'s display: `5.00`.
    M(i64),
    /// A price factor as 折: 0.95 → `9.5`.
    Zhe(Decimal),
    /// A price factor as percent off: 0.95 → `5`.
    Pct(Decimal),
}

fn push_uint(buf: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        buf.push(char::from(d));
    }
}

/// Writes `value / unit` (unit a power of ten) with its decimals, trailing zeros dropped when
/// `trim`, else exactly `log10(unit)` decimals.
fn push_scaled(buf: &mut String, value: u64, unit: u64, trim: bool) {
    push_uint(buf, value / unit);
    let mut frac = value % unit;
    let mut width = unit.ilog10();
    if trim {
        if frac == 0 {
            return;
        }
        loop {
            let shorter = frac / 10;
            if shorter * 10 != frac {
                break;
            }
            frac = shorter;
            width -= 1;
        }
    }
    if width == 0 {
        return;
    }
    buf.push('.');
    let mut pow = 10u64.pow(width - 1);
    while pow > 0 {
        buf.push(char::from(b'0' + ((frac / pow) % 10) as u8));
        pow /= 10;
    }
}

/// A price factor in basis points (0.95 → 9500), if it is in [0, 1] with at most 4 decimals.
fn basis_points(factor: Decimal) -> Option<u32> {
    let (m, scale) = (factor.mantissa(), factor.scale());
    let bp = if scale <= 4 {
        m.checked_mul(10i128.pow(4 - scale))?
    } else {
        let d = 10i128.checked_pow(scale - 4)?;
        if m % d != 0 {
            return None;
        }
        m / d
    };
    u32::try_from(bp).ok().filter(|&b| b <= 10_000)
}

fn push(buf: &mut String, piece: P<'_>) {
    match piece {
        P::S(s) => buf.push_str(s),
        P::I(n) => {
            if n < 0 {
                buf.push('-');
            }
            push_uint(buf, n.unsigned_abs());
        }
        P::Y(fen) | P::M(fen) => {
            if fen < 0 {
                buf.push('-');
            }
            push_scaled(buf, fen.unsigned_abs(), 100, matches!(piece, P::Y(_)));
        }
        P::Zhe(f) => match basis_points(f) {
            Some(bp) => push_scaled(buf, u64::from(bp), 1_000, true),
            None => buf.push_str(
                &f.checked_mul(Decimal::TEN)
                    .map_or_else(|| f.to_string(), |d| d.normalize().to_string()),
            ),
        },
        P::Pct(f) => match basis_points(f) {
            Some(bp) => push_scaled(buf, u64::from(10_000 - bp), 100, true),
            None => buf.push_str(
                &Decimal::ONE
                    .checked_sub(f)
                    .and_then(|d| d.checked_mul(Decimal::ONE_HUNDRED))
                    .map_or_else(|| f.to_string(), |d| d.normalize().to_string()),
            ),
        },
    }
}

/// A string from pieces.
fn cat(pieces: &[P<'_>]) -> String {
    let mut buf = String::with_capacity(48);
    for &p in pieces {
        push(&mut buf, p);
    }
    buf
}

/// Appends pieces to a string.
fn append(buf: &mut String, pieces: &[P<'_>]) {
    for &p in pieces {
        push(buf, p);
    }
}

fn bi(zh: &[P<'_>], en: &[P<'_>]) -> Bilingual {
    Bilingual {
        zh: cat(zh),
        en: cat(en),
    }
}

/// The rule of a promotion in its simplest form, e.g. `满300减50` (all tiers), `满200享9折`.
pub(super) fn promotion_rule(rule: &PromotionRule) -> Bilingual {
    match rule {
        PromotionRule::SalePrice { prices } => match prices.as_slice() {
            [one] => {
                let f = one.price.fen();
                bi(&[P::S("特价¥"), P::Y(f)], &[P::S("Sale price ¥"), P::M(f)])
            }
            _ => Bilingual::new("限时特价", "Limited-time sale price"),
        },
        PromotionRule::FullReduction { tiers, repeat } => {
            let mut t = Bilingual::default();
            if *repeat {
                if let Some(first) = tiers.first() {
                    let (th, r) = (first.threshold.fen(), first.reduction.fen());
                    append(&mut t.zh, &[P::S("每满"), P::Y(th), P::S("减"), P::Y(r)]);
                    append(
                        &mut t.en,
                        &[P::S("¥"), P::Y(r), P::S(" off every ¥"), P::Y(th)],
                    );
                }
            } else {
                for (i, tier) in tiers.iter().enumerate() {
                    let (th, r) = (tier.threshold.fen(), tier.reduction.fen());
                    let (sep_zh, spend) = if i == 0 {
                        ("", "Spend")
                    } else {
                        ("，", ", spend")
                    };
                    append(
                        &mut t.zh,
                        &[P::S(sep_zh), P::S("满"), P::Y(th), P::S("减"), P::Y(r)],
                    );
                    append(
                        &mut t.en,
                        &[P::S(spend), P::S(" ¥"), P::Y(th), P::S(" save ¥"), P::Y(r)],
                    );
                }
            }
            t
        }
        PromotionRule::PercentOff {
            price_factor,
            min_spend,
        } => percent(*price_factor, min_spend.fen(), ""),
        PromotionRule::TimeOfDayMarkdown {
            price_factor,
            from_minute,
            until_minute,
            ..
        } => {
            let hm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
            let window = format!("{}–{}", hm(*from_minute), hm(*until_minute));
            let market = if *from_minute < 720 && *until_minute <= 720 {
                "早市"
            } else {
                "晚市"
            };
            bi(
                &[
                    P::S(market),
                    P::S(&window),
                    P::S(" "),
                    P::Zhe(*price_factor),
                    P::S("折"),
                ],
                &[
                    P::Pct(*price_factor),
                    P::S("% off "),
                    P::S(&window),
                    P::S(" (China time)"),
                ],
            )
        }
        PromotionRule::BuyXGetY { buy, get } => {
            let (b, g) = (i64::from(*buy), i64::from(*get));
            bi(
                &[P::S("买"), P::I(b), P::S("送"), P::I(g)],
                &[P::S("Buy "), P::I(b), P::S(" get "), P::I(g), P::S(" free")],
            )
        }
    }
}

fn percent(factor: Decimal, min_spend: i64, what_en: &str) -> Bilingual {
    if min_spend == 0 {
        bi(
            &[P::Zhe(factor), P::S("折")],
            &[P::Pct(factor), P::S("% off"), P::S(what_en)],
        )
    } else {
        bi(
            &[
                P::S("满"),
                P::Y(min_spend),
                P::S("享"),
                P::Zhe(factor),
                P::S("折"),
            ],
            &[
                P::Pct(factor),
                P::S("% off"),
                P::S(what_en),
                P::S(" when you spend ¥"),
                P::Y(min_spend),
            ],
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
        bi(
            &[
                P::S("每满"),
                P::Y(threshold),
                P::S("减"),
                P::Y(reduction),
                P::S("（减"),
                P::I(times),
                P::S("次）"),
            ],
            &[
                P::S("¥"),
                P::Y(reduction),
                P::S(" off every ¥"),
                P::Y(threshold),
                P::S(" (×"),
                P::I(times),
                P::S(")"),
            ],
        )
    } else {
        bi(
            &[P::S("满"), P::Y(threshold), P::S("减"), P::Y(reduction)],
            &[
                P::S("Spend ¥"),
                P::Y(threshold),
                P::S(", save ¥"),
                P::Y(reduction),
            ],
        )
    }
}

/// Buy X get Y as applied.
pub(super) fn bxgy_applied(buy: i64, get: i64, free_units: i64) -> Bilingual {
    bi(
        &[
            P::S("买"),
            P::I(buy),
            P::S("送"),
            P::I(get),
            P::S("（"),
            P::I(free_units),
            P::S("件最低价商品免费）"),
        ],
        &[
            P::S("Buy "),
            P::I(buy),
            P::S(" get "),
            P::I(get),
            P::S(" free ("),
            P::I(free_units),
            P::S(" cheapest free)"),
        ],
    )
}

/// A coupon's rule: `满200减20券`, `9折券（最高减50）`, `无门槛10元券`.
pub(super) fn coupon_rule(rule: &CouponRule) -> Bilingual {
    match rule {
        CouponRule::Threshold { min_spend, amount } => {
            let (m, a) = (min_spend.fen(), amount.fen());
            bi(
                &[P::S("满"), P::Y(m), P::S("减"), P::Y(a), P::S("券")],
                &[P::S("¥"), P::Y(a), P::S(" off ¥"), P::Y(m), P::S(" coupon")],
            )
        }
        CouponRule::Percent {
            price_factor,
            min_spend,
            max_discount,
        } => {
            let min = min_spend.fen();
            let mut t = percent(*price_factor, min, " coupon");
            if min == 0 {
                t.zh.push('券');
            } else {
                t.zh = cat(&[
                    P::S("满"),
                    P::Y(min),
                    P::S("可用"),
                    P::Zhe(*price_factor),
                    P::S("折券"),
                ]);
            }
            if let Some(m) = max_discount {
                append(&mut t.zh, &[P::S("（最高减"), P::Y(m.fen()), P::S("）")]);
                append(&mut t.en, &[P::S(", up to ¥"), P::Y(m.fen())]);
            }
            t
        }
        CouponRule::NoThreshold { amount } => {
            let a = amount.fen();
            bi(
                &[P::S("无门槛"), P::Y(a), P::S("元券")],
                &[P::S("¥"), P::Y(a), P::S(" off coupon, no minimum spend")],
            )
        }
    }
}

/// Member price saving.
pub(super) fn member_price(saved: i64) -> Bilingual {
    bi(
        &[P::S("会员价，省¥"), P::M(saved)],
        &[P::S("Member price, save ¥"), P::M(saved)],
    )
}

/// Tier price saving, e.g. `金卡会员9.5折会员价，省¥16.00`.
pub(super) fn tier_price(tier: &Tier, saved: i64) -> Bilingual {
    bi(
        &[
            P::S(&tier.name),
            P::Zhe(tier.discount),
            P::S("折会员价，省¥"),
            P::M(saved),
        ],
        &[
            P::S(&tier.code),
            P::S(" member price, "),
            P::Pct(tier.discount),
            P::S("% off, save ¥"),
            P::M(saved),
        ],
    )
}

/// Sale price saving.
pub(super) fn sale_price(rule: &PromotionRule, saved: i64) -> Bilingual {
    match rule {
        PromotionRule::SalePrice { prices } if prices.len() == 1 => {
            let mut r = promotion_rule(rule);
            append(&mut r.zh, &[P::S("，省¥"), P::M(saved)]);
            append(&mut r.en, &[P::S(", save ¥"), P::M(saved)]);
            r
        }
        PromotionRule::TimeOfDayMarkdown { .. } => {
            let mut r = promotion_rule(rule);
            append(&mut r.zh, &[P::S("，省¥"), P::M(saved)]);
            append(&mut r.en, &[P::S(", save ¥"), P::M(saved)]);
            r
        }
        _ => bi(
            &[P::S("限时特价，省¥"), P::M(saved)],
            &[P::S("Limited-time sale price, save ¥"), P::M(saved)],
        ),
    }
}

/// 抹零.
pub(super) fn till_rounding(amount: i64) -> Bilingual {
    bi(
        &[P::S("抹零¥"), P::M(amount)],
        &[P::S("Till rounding ¥"), P::M(amount)],
    )
}

/// Points redeemed.
pub(super) fn points(points: i64, value: Money) -> Bilingual {
    let v = value.fen();
    bi(
        &[P::S("使用"), P::I(points), P::S("积分抵¥"), P::M(v)],
        &[P::I(points), P::S(" points redeemed for ¥"), P::M(v)],
    )
}

/// The basket summary: `共优惠¥66.00（…）`.
pub(super) fn summary(discount: i64, compared: u32, names: &[&Bilingual]) -> Bilingual {
    if discount == 0 {
        return Bilingual::new("无优惠", "No discounts");
    }
    let mut t = bi(
        &[P::S("共优惠¥"), P::M(discount)],
        &[P::S("You save ¥"), P::M(discount)],
    );
    if names.is_empty() {
        return t;
    }
    if compared > 1 {
        let c = i64::from(compared);
        append(
            &mut t.zh,
            &[P::S("（比较了"), P::I(c), P::S("种优惠组合，已选最优：")],
        );
        append(
            &mut t.en,
            &[
                P::S(" (compared "),
                P::I(c),
                P::S(" combinations of offers, chose the best: "),
            ],
        );
    } else {
        t.zh.push('（');
        t.en.push_str(" (");
    }
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            t.zh.push_str(" + ");
            t.en.push_str(" + ");
        }
        t.zh.push_str(&n.zh);
        t.en.push_str(&n.en);
    }
    t.zh.push('）');
    t.en.push(')');
    t
}

/// Why a promotion did not apply, for the shopper.
pub(super) fn not_applied(rule: &PromotionRule, reason: &NotAppliedReason) -> Bilingual {
    let r = promotion_rule(rule);
    let (zh, en) = (r.zh.as_str(), r.en.as_str());
    match reason {
        NotAppliedReason::NotInBestCombination => bi(
            &[P::S(zh), P::S("：不与其他优惠同享，已为您选择更优惠的组合")],
            &[
                P::S(en),
                P::S(": cannot be combined with other offers; a better combination was chosen"),
            ],
        ),
        NotAppliedReason::BlockedByExclusive => bi(
            &[P::S(zh), P::S("：相关商品已参加不与其他优惠同享的活动")],
            &[
                P::S(en),
                P::S(": its items already have an offer that cannot be combined"),
            ],
        ),
        NotAppliedReason::SpendMore { short_by } => {
            let f = short_by.fen();
            bi(
                &[P::S("再买¥"), P::Y(f), P::S("可享"), P::S(zh)],
                &[P::S("Spend ¥"), P::Y(f), P::S(" more for: "), P::S(en)],
            )
        }
        NotAppliedReason::AddItems { units } => bi(
            &[P::S("再买"), P::I(*units), P::S("件可享"), P::S(zh)],
            &[
                P::S("Add "),
                P::I(*units),
                P::S(if *units == 1 {
                    " more item"
                } else {
                    " more items"
                }),
                P::S(" for: "),
                P::S(en),
            ],
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

/// A promotion's or coupon's name, falling back to its rule (computed only when needed).
pub(super) fn name_or(zh: &str, en: &str, fallback: impl FnOnce() -> Bilingual) -> Bilingual {
    if !zh.is_empty() && !en.is_empty() {
        return Bilingual::new(zh, en);
    }
    let f = fallback();
    Bilingual::new(
        if zh.is_empty() { f.zh } else { zh.to_owned() },
        if en.is_empty() { f.en } else { en.to_owned() },
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::pricing::model::ReductionTier;

    #[test]
    fn formats() {
        let yuan = |f: i64| cat(&[P::Y(f)]);
        assert_eq!(yuan(30_000), "300");
        assert_eq!(yuan(9_990), "99.9");
        assert_eq!(yuan(5), "0.05");
        assert_eq!(yuan(-150), "-1.5");
        let z = |s: &str| cat(&[P::Zhe(s.parse().unwrap())]);
        let p = |s: &str| cat(&[P::Pct(s.parse().unwrap())]);
        assert_eq!(z("0.95"), "9.5");
        assert_eq!(z("0.90"), "9");
        assert_eq!(z("0.875"), "8.75");
        assert_eq!(z("0.0005"), "0.005");
        assert_eq!(z("0.123456"), "1.23456");
        assert_eq!(p("0.95"), "5");
        assert_eq!(p("0.875"), "12.5");
        assert_eq!(p("0.9995"), "0.05");
        assert_eq!(p("0.123456"), "87.6544");
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
        assert_eq!(
            cat(&[P::M(5), P::S(" "), P::M(-120_000), P::S(" "), P::M(0)]),
            "0.05 -1200.00 0.00"
        );
        assert_eq!(
            cat(&[P::I(i64::MIN), P::S(" "), P::Y(i64::MIN)]),
            "-9223372036854775808 -92233720368547758.08"
        );
        let t = points(3_000, Money::from_fen(3_000));
        assert_eq!(t.zh, "使用3000积分抵¥30.00");
        assert_eq!(Money::from_fen(-5).to_string(), cat(&[P::M(-5)]));
    }
}
