//! How a coupon's rule reads for people (`满100减20`, `9折（最高减¥30）`, `10% off`…), shared by
//! the console's coupon templates ([`super::console::coupons`]) and the shop's pages that show
//! coupons (the coupon centre, my coupons, checkout).

use retail_domain::pricing::CouponRule;

use super::{yuan, Lang};

/// A coupon rule for people, e.g. `满100减20`, `9折（最高减¥30）`, `无门槛减¥5`.
pub fn rule_text(lang: Lang, rule: &CouponRule) -> String {
    match rule {
        CouponRule::Threshold { min_spend, amount } => format!(
            "{}{}{}{}",
            lang.t("满", "spend "),
            yuan(min_spend.fen()),
            lang.t("减", " save "),
            yuan(amount.fen())
        ),
        CouponRule::Percent {
            price_factor,
            min_spend,
            max_discount,
        } => {
            let mut text = percent_text(lang, *price_factor);
            if min_spend.fen() > 0 {
                text.push_str(&format!(
                    "{}{}",
                    lang.t("，满", ", over "),
                    yuan(min_spend.fen())
                ));
            }
            if let Some(cap) = max_discount {
                text.push_str(&format!(
                    "{}{}",
                    lang.t("，最高减", ", at most "),
                    yuan(cap.fen())
                ));
            }
            text
        }
        CouponRule::NoThreshold { amount } => {
            format!(
                "{}{}",
                lang.t("无门槛减", "no minimum, save "),
                yuan(amount.fen())
            )
        }
    }
}

/// A price factor for people: `9折` in Chinese, `10% off` in English.
pub fn percent_text(lang: Lang, factor: rust_decimal::Decimal) -> String {
    match lang {
        Lang::Zh => format!("{}折", (factor * rust_decimal::Decimal::TEN).normalize()),
        Lang::En => format!(
            "{}% off",
            ((rust_decimal::Decimal::ONE - factor) * rust_decimal::Decimal::ONE_HUNDRED)
                .normalize()
        ),
    }
}
