//! The pricing and promotions engine (docs/DESIGN.md §4 "Pricing and promotions", issue 6).
//!
//! One pure, deterministic function, [`price_basket`], prices a basket for every channel (the
//! server's online checkout and POS sales ingestion, the shop pages, the POS lanes offline), so
//! the same basket costs the same to the fen everywhere. It takes a [`PricingInput`] — the lines
//! (SKU, category path, brand, quantity, chain / store / member prices), the store, the member
//! and tier, the time, the promotions, the member's chosen coupons, the points to redeem, the
//! [`PointsRules`](crate::points::PointsRules) and the rounding settings — and answers a
//! [`PricedBasket`] or a [`PricingError`]. All types are serde (promotions travel to the lanes
//! with the catalog) and OpenAPI schemas; money is [`Money`](crate::money::Money).
//!
//! # Stages
//!
//! 1. **Unit price.** Each line's unit price is the lowest of its list price (the store
//!    override, else the chain price), its member price (members only), its tier price (list
//!    price × the member's [`Tier::discount`](crate::points::Tier), rounded to the fen per unit:
//!    "9.5折会员价") and the sale prices of active [`PromotionRule::SalePrice`] promotions (flash
//!    sales, per-store or chain-wide, or tier prices through [`Audience::Tiers`]). Unit prices
//!    never stack; the difference to the list amount is the line's first discount. Ties go to
//!    the list price, then the member price, then the tier price, then promotions by priority.
//!    Member and tier prices are member benefits, not promotions. A
//!    [`PromotionRule::TimeOfDayMarkdown`] (早晚市) is a sale price too: the list price × its
//!    factor, on the lines of its scope, only inside its daily window in China time (UTC+8) on
//!    its days; the caller's clock (`at`) decides, so a lane applies it offline by its own clock.
//!    [`shelf_price`] prices one SKU's shelf tag with the same engine.
//! 2. **Item promotions** — [`PromotionRule::PercentOff`] and [`PromotionRule::BuyXGetY`] —
//!    then 3. **order promotions** — [`PromotionRule::FullReduction`] (满减, tiered or
//!    repeating) — each in `priority` order (lower first, then id). Each works on the lines in
//!    its [`Scope`] at their amounts after the previous steps (so a 满减 threshold counts the
//!    member and sale prices, not the list prices). A percentage is taken off the sum of its
//!    lines and rounded once; buy X get Y frees the cheapest units (by amount per unit).
//! 4. **Coupons**, percentage coupons first, then 满减券, then 无门槛券.
//! 5. **Points** (a payment, not a discount) on the total after coupons, at the rules' rate,
//!    capped at the rules' share of that total and at the member's balance.
//! 6. **Till rounding** (抹零, store configuration): the amount due after points is rounded
//!    down to 0.1 or 1 yuan and the difference is a discount.
//!
//! Every discount is **allocated to the lines it came from**: a percentage, a reduction, a
//! coupon, the points and the till rounding are split over their lines in proportion to the
//! lines' amounts at that step with the largest-remainder method of
//! [`Money::allocate`](crate::money::Money::allocate), so the shares add up exactly; buy X get
//! Y takes the free units off the cheapest lines themselves. A return refunds what was
//! actually paid for the returned lines.
//!
//! # Stacking and the best combination
//!
//! A promotion is [`Stacking::Stackable`] (always applies when its conditions are met) or
//! [`Stacking::Exclusive`] (不与其他优惠同享: the lines it covers get no other promotion and no
//! coupon). Two exclusive promotions covering a common line cannot both be used. The engine
//! compares every set of mutually compatible exclusive promotions that can apply to this basket
//! (each priced with all stackable promotions on the remaining lines) and keeps the best for the
//! shopper: first, one where all the member's chosen coupons apply; then the largest total
//! discount; ties go to the first set in depth-first order over the exclusive promotions by
//! priority (using a higher-priority one rather than leaving it out).
//!
//! To stay fast the comparison is a bounded best-first search with exact pruning: each set gets
//! a cheap upper bound of its discount (its unit prices exactly, then every step's discount at
//! the base amounts of the lines the set leaves it, which no real amount exceeds), sets are
//! priced best bound first, and the search stops when no remaining bound can beat the best
//! price found — the same answer as pricing every set (a property test checks it). While
//! searching, a step whose per-line shares no later step needs skips the allocation (later
//! steps deduct its total instead); the chosen set is then priced in full. Exclusive
//! promotions whose conditions cannot be met even at the base prices are left out first. At
//! most [`MAX_COMBINATIONS`] sets are compared; beyond that the engine starts from the greedy
//! set and adds or removes one exclusive promotion at a time within the same budget. The
//! result lists what applied (with a Chinese and English explanation), what did not and why
//! (including "spend ¥X more" hints), and how many combinations were compared.
//!
//! # Rounding
//!
//! Amounts are whole fen. Fractions appear only in percentage discounts (computed on the sum of
//! the lines, then allocated), tier prices (per unit), weighed amounts (price per kg × grams)
//! and part of a line given free; all are rounded with
//! [`PricingSettings::rounding`](PricingSettings) from configuration.
//!
//! # Errors
//!
//! Invalid input is refused, never applied partly and never a panic: negative or absurd
//! quantities and prices, duplicate line numbers, contradictory or absurd promotion rules
//! ([`Promotion::validate`]), coupons that are invalid, foreign, expired, not yet valid, for
//! another store, out of scope, below their minimum spend, blocked by promotions or combined
//! against their rules, and points over the balance or the cap. [`validate_promotion_set`] is
//! the console's check of a whole set of promotions (e.g. two sale prices for one SKU at the
//! same time).

mod engine;
mod model;
mod result;
mod shelf;
mod text;
mod validate;

#[cfg(test)]
mod markdown_tests;
#[cfg(test)]
mod tests;

pub use engine::MAX_COMBINATIONS;
pub use model::{
    china_offset, label_grams, Audience, BasketLine, Coupon, CouponRule, MemberContext,
    PricingInput, PricingSettings, Promotion, PromotionRule, ReductionTier, Scope, SkuPrice,
    Stacking, TillRounding,
};
pub use result::{
    AppliedDiscount, Bilingual, DiscountKind, DiscountSource, LineDiscount, NotApplied,
    NotAppliedReason, PointsRedemption, PriceSource, PricedBasket, PricedLine, PricingError,
};
pub use shelf::{shelf_price, ShelfContext, ShelfPrice, ShelfPromotion, UnitPrice};
pub use validate::{
    validate_promotion_set, MAX_BUY_GET, MAX_COUPONS, MAX_FACTOR_DECIMALS, MAX_LINES,
    MAX_LINE_CATEGORIES, MAX_LIST_LEN, MAX_PROMOTIONS, MAX_QTY, MAX_REDUCTION_TIERS,
    MAX_RULE_AMOUNT_FEN, MAX_UNIT_PRICE_FEN,
};

/// Prices a basket: see the [module documentation](self) for the stages, the stacking rules and
/// the errors. Pure and deterministic: the same input gives the same result everywhere,
/// whatever the order of its lines, promotions and coupons.
pub fn price_basket(input: &PricingInput) -> Result<PricedBasket, PricingError> {
    engine::price(input)
}
