//! Shelf prices (货架价签): what a SKU's price tag shows at a store at a given time, computed by
//! the one pricing engine ([`super::price_basket`]) so the shelf, the lanes and the shop agree.
//!
//! A tag shows the regular (list) price, the price anyone pays now (a sale price or a
//! time-of-day markdown, when one is lower), the member price (what an identified member of the
//! entry tier pays, when lower still), and the unit price Chinese price-tag rules (《明码标价和禁止价格欺诈规定》)
//! ask for: for goods sold by weight the price per kg and per 500 g (斤); for packaged goods
//! whose spec states a net quantity (`500g`, `1.5kg`, `550ml`, `1L`) the price per kg or per
//! litre. Every tag carries the window in which it is right: from the last change of a
//! promotion covering the SKU (start, end, or a markdown's daily window opening or closing) to
//! the next one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::model::{
    BasketLine, MemberContext, PricingInput, PricingSettings, Promotion, PromotionRule,
};
use super::result::{Bilingual, PriceSource, PricingError};
use crate::money::{Money, Rounding};
use crate::points::PointsRules;

/// A unit price for the tag (计价单位).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UnitPrice {
    /// The price per `unit_zh`.
    pub price: Money,
    /// The unit in Chinese: `千克`, `500克`, `升`.
    pub unit_zh: String,
    /// The unit in English: `kg`, `500 g`, `L`.
    pub unit_en: String,
}

/// The promotion a tag's price comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShelfPromotion {
    /// The promotion.
    pub id: Uuid,
    /// Its name.
    pub name: Bilingual,
    /// True for a time-of-day markdown (早晚市).
    pub markdown: bool,
}

/// What one SKU's price tag shows at a store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShelfPrice {
    /// The SKU.
    pub sku_id: Uuid,
    /// The store.
    pub store: String,
    /// Sold by weight: the prices are per kg.
    pub weighed: bool,
    /// The regular price (the store override, else the chain price), per unit or per kg.
    pub regular_price: Money,
    /// The price anyone pays now (the regular price, or a sale or markdown price below it).
    pub price: Money,
    /// The promotion `price` comes from, if any.
    #[serde(default)]
    pub promotion: Option<ShelfPromotion>,
    /// What an identified member of the entry tier pays, when below `price`.
    #[serde(default)]
    pub member_price: Option<Money>,
    /// Unit prices for the tag: per kg and per 500 g for weighed goods, per kg or per litre for
    /// packaged goods with a net quantity in their spec; empty otherwise.
    #[serde(default)]
    pub unit_prices: Vec<UnitPrice>,
    /// The instant from which this tag is right (the last change before `at`), if known.
    #[serde(default)]
    pub valid_from: Option<DateTime<Utc>>,
    /// The instant at which a promotion covering the SKU next starts, ends, or opens or closes
    /// its daily window; none if nothing is scheduled.
    #[serde(default)]
    pub valid_until: Option<DateTime<Utc>>,
}

/// What [`shelf_price`] needs besides the SKU's line.
#[derive(Clone, Copy, Debug)]
pub struct ShelfContext<'a> {
    /// The store code.
    pub store: &'a str,
    /// The time the tag is for.
    pub at: DateTime<Utc>,
    /// The promotions known for the store (inactive ones are ignored).
    pub promotions: &'a [Promotion],
    /// Tiers (the entry tier prices the member price).
    pub points_rules: &'a PointsRules,
    /// Rounding settings.
    pub settings: PricingSettings,
}

/// The price tag of the SKU `line` describes (its prices, categories and brand; the quantity
/// is ignored) at `ctx.store` at `ctx.at`; `spec` is the SKU's spec text (for the unit price of
/// packaged goods). Errors are the engine's (e.g. an invalid promotion).
pub fn shelf_price(
    line: &BasketLine,
    spec: &str,
    ctx: ShelfContext<'_>,
) -> Result<ShelfPrice, PricingError> {
    let mut one = line.clone();
    one.line_no = 1;
    one.qty = if one.weighed { 1000 } else { 1 };
    let price_for = |member: Option<MemberContext>| {
        super::price_basket(&PricingInput {
            store: ctx.store.to_owned(),
            at: ctx.at,
            member,
            lines: vec![one.clone()],
            promotions: ctx.promotions.to_vec(),
            coupons: Vec::new(),
            points_to_redeem: 0,
            points_rules: ctx.points_rules.clone(),
            settings: PricingSettings {
                till_rounding: Default::default(),
                ..ctx.settings
            },
        })
    };
    let anyone = price_for(None)?;
    let Some(priced) = anyone.lines.first() else {
        return Err(PricingError::Overflow);
    };
    let price = priced.unit_price;
    let promotion = match &priced.price_source {
        PriceSource::Sale { promotion_id } => ctx
            .promotions
            .iter()
            .find(|p| p.id == *promotion_id)
            .map(|p| ShelfPromotion {
                id: p.id,
                name: if p.name_zh.is_empty() && p.name_en.is_empty() {
                    super::text::promotion_rule(&p.rule)
                } else {
                    Bilingual::new(p.name_zh.clone(), p.name_en.clone())
                },
                markdown: matches!(p.rule, PromotionRule::TimeOfDayMarkdown { .. }),
            }),
        _ => None,
    };
    let member_price = match ctx.points_rules.tiers.first() {
        Some(tier) => {
            let member = price_for(Some(MemberContext {
                member_id: Uuid::nil(),
                tier: tier.code.clone(),
                points_balance: 0,
            }))?;
            member
                .lines
                .first()
                .map(|l| l.unit_price)
                .filter(|m| m.fen() < price.fen())
        }
        None => None,
    };
    let rounding = ctx.settings.rounding;
    let unit_prices = if one.weighed {
        vec![
            unit("千克", "kg", price),
            unit("500克", "500 g", per(price, 500, 1000, rounding)),
        ]
    } else {
        match net_quantity(spec) {
            Some((qty, Measure::Grams)) => {
                vec![unit("千克", "kg", per(price, 1000, qty, rounding))]
            }
            Some((qty, Measure::Millilitres)) => {
                vec![unit("升", "L", per(price, 1000, qty, rounding))]
            }
            None => Vec::new(),
        }
    };
    let (valid_from, valid_until) = validity(&one, ctx);
    Ok(ShelfPrice {
        sku_id: line.sku_id,
        store: ctx.store.to_owned(),
        weighed: one.weighed,
        regular_price: priced.list_unit_price,
        price,
        promotion,
        member_price,
        unit_prices,
        valid_from,
        valid_until,
    })
}

fn unit(zh: &str, en: &str, price: Money) -> UnitPrice {
    UnitPrice {
        price,
        unit_zh: zh.into(),
        unit_en: en.into(),
    }
}

/// `price × num / den`, rounded.
fn per(price: Money, num: i64, den: i64, rounding: Rounding) -> Money {
    Money::from_fen(
        super::engine::mul_div(price.fen(), i128::from(num), i128::from(den), rounding)
            .unwrap_or(price.fen()),
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Measure {
    Grams,
    Millilitres,
}

/// The net quantity a spec states, in grams or millilitres: `500g`, `1.5kg`, `550ml`, `1L`,
/// `500克`, `1.5千克`, `2升` (whole multiples such as `6×330ml` are not read).
fn net_quantity(spec: &str) -> Option<(i64, Measure)> {
    let s = spec.trim().to_lowercase();
    let num_end = s
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.'))
        .map(|(i, _)| i)?;
    let (num, rest) = s.split_at(num_end);
    let value: rust_decimal::Decimal = num.parse().ok()?;
    let (factor, measure) = match rest.trim() {
        "g" | "克" => (1, Measure::Grams),
        "kg" | "千克" | "公斤" => (1000, Measure::Grams),
        "ml" | "毫升" => (1, Measure::Millilitres),
        "l" | "升" => (1000, Measure::Millilitres),
        _ => return None,
    };
    let qty = (value * rust_decimal::Decimal::from(factor)).round();
    let qty = i64::try_from(qty).ok()?;
    (qty > 0).then_some((qty, measure))
}

/// The window around `ctx.at` in which no promotion covering `line` changes state.
fn validity(
    line: &BasketLine,
    ctx: ShelfContext<'_>,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let mut from: Option<DateTime<Utc>> = None;
    let mut until: Option<DateTime<Utc>> = None;
    for p in ctx.promotions {
        if !p.stores.is_empty() && !p.stores.iter().any(|s| s == ctx.store) {
            continue;
        }
        let covers = match &p.rule {
            PromotionRule::SalePrice { prices } => {
                p.scope.matches(line) && prices.iter().any(|sp| sp.sku_id == line.sku_id)
            }
            _ => p.scope.matches(line),
        };
        if !covers {
            continue;
        }
        let mut consider = |t: DateTime<Utc>| {
            if t <= ctx.at {
                from = Some(from.map_or(t, |f| f.max(t)));
            } else {
                until = Some(until.map_or(t, |u| u.min(t)));
            }
        };
        consider(p.starts_at);
        consider(p.ends_at);
        if p.starts_at <= ctx.at && ctx.at < p.ends_at {
            let (prev, next) = p.rule.window_boundaries(ctx.at);
            if let Some(t) = prev {
                consider(t.max(p.starts_at));
            }
            if let Some(t) = next {
                consider(t.min(p.ends_at));
            }
        }
    }
    (from, until)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn net_quantities() {
        assert_eq!(net_quantity("500g"), Some((500, Measure::Grams)));
        assert_eq!(net_quantity("1.5kg"), Some((1500, Measure::Grams)));
        assert_eq!(net_quantity("550ml"), Some((550, Measure::Millilitres)));
        assert_eq!(net_quantity("1L"), Some((1000, Measure::Millilitres)));
        assert_eq!(net_quantity("2升"), Some((2000, Measure::Millilitres)));
        assert_eq!(net_quantity("6×330ml"), None);
        assert_eq!(net_quantity("大号"), None);
        assert_eq!(net_quantity(""), None);
    }
}
