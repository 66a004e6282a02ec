//! Worked examples from real shop rules, validation errors, and properties of the engine.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::engine::{allocate_into, mul_div};
use super::*;
use crate::money::{Money, Rounding};
use crate::points::PointsRules;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 11, h, m, 0).unwrap()
}

fn sku(n: u128) -> Uuid {
    Uuid::from_u128(0x1000 + n)
}

fn pid(n: u128) -> Uuid {
    Uuid::from_u128(0x2000 + n)
}

fn cid(n: u128) -> Uuid {
    Uuid::from_u128(0x3000 + n)
}

const MEMBER: Uuid = Uuid::from_u128(0x4000);

fn y(s: &str) -> Money {
    Money::parse(s).unwrap()
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn line(no: u32, sku_n: u128, cats: &[&str], price: &str, qty: i64) -> BasketLine {
    BasketLine {
        line_no: no,
        sku_id: sku(sku_n),
        categories: cats.iter().map(|c| c.to_string()).collect(),
        brand: String::new(),
        qty,
        weighed: false,
        price: y(price),
        store_price: None,
        member_price: None,
    }
}

fn promo(n: u128, rule: PromotionRule) -> Promotion {
    Promotion {
        id: pid(n),
        name_zh: String::new(),
        name_en: String::new(),
        starts_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        ends_at: Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap(),
        stores: vec![],
        audience: Audience::Everyone,
        scope: Scope::whole_basket(),
        rule,
        stacking: Stacking::Stackable,
        priority: 0,
    }
}

fn reduction(tiers: &[(&str, &str)]) -> PromotionRule {
    PromotionRule::FullReduction {
        tiers: tiers
            .iter()
            .map(|(t, r)| ReductionTier {
                threshold: y(t),
                reduction: y(r),
            })
            .collect(),
        repeat: false,
    }
}

fn sale(prices: &[(u128, &str)]) -> PromotionRule {
    PromotionRule::SalePrice {
        prices: prices
            .iter()
            .map(|(s, p)| SkuPrice {
                sku_id: sku(*s),
                price: y(p),
            })
            .collect(),
    }
}

fn coupon(n: u128, rule: CouponRule) -> Coupon {
    Coupon {
        id: cid(n),
        owner: MEMBER,
        name_zh: String::new(),
        name_en: String::new(),
        valid_from: Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
        valid_until: Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap(),
        stores: vec![],
        scope: Scope::whole_basket(),
        rule,
        stacks_with_promotions: true,
        stacks_with_coupons: true,
    }
}

fn member(tier: &str, balance: i64) -> Option<MemberContext> {
    Some(MemberContext {
        member_id: MEMBER,
        tier: tier.into(),
        points_balance: balance,
    })
}

fn input(lines: Vec<BasketLine>) -> PricingInput {
    PricingInput {
        store: "SH001".into(),
        at: at(10, 30),
        member: None,
        lines,
        promotions: vec![],
        coupons: vec![],
        points_to_redeem: 0,
        points_rules: PointsRules::default(),
        settings: PricingSettings::default(),
    }
}

/// Every invariant of a priced basket; `Err` says which one broke.
fn invariants(b: &PricedBasket) -> Result<(), String> {
    let ensure = |ok: bool, what: &str| if ok { Ok(()) } else { Err(what.to_owned()) };
    let (mut disc, mut amount, mut list, mut points) = (0i64, 0i64, 0i64, 0i64);
    for l in &b.lines {
        let d: i64 = l.discounts.iter().map(|d| d.amount.fen()).sum();
        ensure(
            d == l.discount.fen(),
            "line discounts sum to the line discount",
        )?;
        ensure(
            l.discounts.iter().all(|d| d.amount.fen() > 0),
            "line discount shares are positive",
        )?;
        ensure(
            l.amount.fen() == l.list_amount.fen() - d,
            "line amount = list amount - discount",
        )?;
        ensure(l.amount.fen() >= 0, "line amount is not negative")?;
        ensure(l.points_value.fen() >= 0, "line points are not negative")?;
        ensure(
            l.amount_due.fen() == l.amount.fen() - l.points_value.fen() && l.amount_due.fen() >= 0,
            "line amount due",
        )?;
        disc += d;
        amount += l.amount.fen();
        list += l.list_amount.fen();
        points += l.points_value.fen();
    }
    ensure(
        b.lines.windows(2).all(|w| w[0].line_no < w[1].line_no),
        "lines in line-number order",
    )?;
    ensure(
        disc == b.discount.fen(),
        "line discounts sum to the basket discount",
    )?;
    ensure(list == b.subtotal.fen(), "list amounts sum to the subtotal")?;
    ensure(amount == b.total.fen(), "line amounts sum to the total")?;
    ensure(
        b.total.fen() == b.subtotal.fen() - b.discount.fen(),
        "total = subtotal - discount",
    )?;
    ensure(
        b.total.fen() >= 0 && b.discount.fen() >= 0,
        "nothing negative",
    )?;
    ensure(
        points == b.points_value.fen(),
        "line points sum to the points value",
    )?;
    ensure(
        b.amount_due.fen() == b.total.fen() - b.points_value.fen() && b.amount_due.fen() >= 0,
        "amount due = total - points",
    )?;
    let mut applied_sum = 0;
    for a in &b.applied {
        let shares: i64 = b
            .lines
            .iter()
            .flat_map(|l| &l.discounts)
            .filter(|d| d.source == a.source)
            .map(|d| d.amount.fen())
            .sum();
        ensure(
            shares == a.amount.fen(),
            "applied discount = sum of its line shares",
        )?;
        ensure(a.amount.fen() > 0, "applied discounts are positive")?;
        applied_sum += a.amount.fen();
    }
    ensure(
        applied_sum == b.discount.fen(),
        "applied discounts sum to the discount",
    )?;
    Ok(())
}

fn price(input: &PricingInput) -> PricedBasket {
    let b = price_basket(input).unwrap();
    invariants(&b).unwrap();
    b
}

fn line_amounts(b: &PricedBasket) -> Vec<i64> {
    b.lines.iter().map(|l| l.amount.fen()).collect()
}

// ---------------------------------------------------------------------------------------------
// Worked examples
// ---------------------------------------------------------------------------------------------

/// Gold member (9.5折), 满300减50 on the whole basket, a 满200减20 coupon.
///
/// List: 2 × ¥100 + 1 × ¥120 = ¥320. Gold prices: ¥95 and ¥114 → ¥304 (saves ¥16).
/// ¥304 ≥ ¥300 → −¥50, split ¥190 : ¥114 → ¥31.25 / ¥18.75 → 3125 / 1875 fen → ¥254.
/// Coupon: ¥254 ≥ ¥200 → −¥20, split ¥158.75 : ¥95.25 → 1250 / 750 fen → ¥234.
/// Points earned: ¥234 × 1 × 1.5 (gold) = 351.
#[test]
fn spend_300_save_50_with_gold_discount_and_coupon() {
    let mut inp = input(vec![
        line(1, 1, &["APPAREL", "APPAREL-TOP"], "100.00", 2),
        line(2, 2, &["APPAREL", "APPAREL-BOTTOM"], "120.00", 1),
    ]);
    inp.member = member("gold", 0);
    let mut p = promo(1, reduction(&[("300", "50")]));
    p.name_zh = "双11满减".into();
    p.name_en = "Double 11".into();
    inp.promotions = vec![p];
    inp.coupons = vec![coupon(
        1,
        CouponRule::Threshold {
            min_spend: y("200"),
            amount: y("20"),
        },
    )];
    let b = price(&inp);
    assert_eq!(b.subtotal, y("320.00"));
    assert_eq!(b.discount, y("86.00"));
    assert_eq!(b.total, y("234.00"));
    assert_eq!(b.amount_due, y("234.00"));
    assert_eq!(b.points_earned, 351);
    assert_eq!(line_amounts(&b), vec![14_625, 8_775]);
    let l1 = &b.lines[0];
    assert_eq!(l1.unit_price, y("95.00"));
    assert_eq!(l1.price_source, PriceSource::Tier);
    assert_eq!(
        l1.discounts
            .iter()
            .map(|d| d.amount.fen())
            .collect::<Vec<_>>(),
        vec![1_000, 3_125, 1_250]
    );
    assert_eq!(
        b.lines[1]
            .discounts
            .iter()
            .map(|d| d.amount.fen())
            .collect::<Vec<_>>(),
        vec![600, 1_875, 750]
    );
    let kinds: Vec<DiscountKind> = b.applied.iter().map(|a| a.kind).collect();
    assert_eq!(
        kinds,
        vec![
            DiscountKind::TierPrice,
            DiscountKind::FullReduction,
            DiscountKind::ThresholdCoupon
        ]
    );
    assert_eq!(b.applied[0].explanation.zh, "金卡会员9.5折会员价，省¥16.00");
    assert_eq!(b.applied[1].name.zh, "双11满减");
    assert_eq!(b.applied[1].explanation.zh, "满300减50");
    assert_eq!(b.applied[1].explanation.en, "Spend ¥300, save ¥50");
    assert_eq!(b.applied[2].explanation.zh, "满200减20券");
    assert_eq!(b.applied[2].lines, vec![1, 2]);
    assert!(
        b.explanation.zh.starts_with("共优惠¥86.00"),
        "{}",
        b.explanation.zh
    );
    assert!(b.not_applied.is_empty());
}

/// Without the tier discount the same basket is ¥320 → 满300减50 → ¥270 → coupon → ¥250.
#[test]
fn same_basket_without_member_tier() {
    let mut inp = input(vec![
        line(1, 1, &["APPAREL"], "100.00", 2),
        line(2, 2, &["APPAREL"], "120.00", 1),
    ]);
    inp.member = member("regular", 0);
    inp.promotions = vec![promo(1, reduction(&[("300", "50")]))];
    inp.coupons = vec![coupon(
        1,
        CouponRule::Threshold {
            min_spend: y("200"),
            amount: y("20"),
        },
    )];
    let b = price(&inp);
    assert_eq!(b.total, y("250.00"));
    assert_eq!(b.points_earned, 250);
}

/// 买2送1 on snacks: the cheapest snack unit is free; drinks do not count.
#[test]
fn buy_two_get_one_cheapest_free() {
    let bxgy = promo(1, PromotionRule::BuyXGetY { buy: 2, get: 1 });
    let mut bxgy = bxgy;
    bxgy.scope = Scope::categories(["SNACK"]);
    let mut inp = input(vec![
        line(1, 3, &["FOOD", "SNACK"], "8.50", 2),
        line(2, 4, &["FOOD", "SNACK"], "12.00", 1),
        line(3, 5, &["FOOD", "DRINK"], "3.00", 3),
    ]);
    inp.promotions = vec![bxgy];
    let b = price(&inp);
    // 3 snack units → 1 free: one ¥8.50 bag of chips.
    assert_eq!(b.subtotal, y("38.00"));
    assert_eq!(b.total, y("29.50"));
    assert_eq!(line_amounts(&b), vec![850, 1_200, 900]);
    assert_eq!(b.applied[0].kind, DiscountKind::BuyXGetY);
    assert_eq!(b.applied[0].explanation.zh, "买2送1（1件最低价商品免费）");
    assert_eq!(b.applied[0].lines, vec![1, 2]);

    // 2 chips + 4 cookies = 6 units → 2 free: both bags of chips.
    inp.lines[1].qty = 4;
    let b = price(&inp);
    assert_eq!(line_amounts(&b), vec![0, 4_800, 900]);
    assert_eq!(b.total, y("57.00"));

    // 2 units only → nothing free, and a hint.
    inp.lines.remove(1);
    let b = price(&inp);
    assert_eq!(b.total, y("26.00"));
    assert_eq!(b.not_applied.len(), 1);
    assert_eq!(
        b.not_applied[0].reason,
        NotAppliedReason::AddItems { units: 1 }
    );
    assert_eq!(b.not_applied[0].explanation.zh, "再买1件可享买2送1");
}

/// 秒杀: ¥59.90 → ¥9.90 at SH001 from 10:00 to 12:00, exclusive, next to a stackable
/// 满100减10. With the flash price the basket is ¥104.90 and the other ¥95 item alone misses
/// 满100; without it ¥154.90 − ¥10 = ¥144.90. The engine compares both and keeps the flash sale.
#[test]
fn flash_sale_price() {
    let mut flash = promo(1, sale(&[(6, "9.90")]));
    flash.name_zh = "限时秒杀".into();
    flash.starts_at = at(10, 0);
    flash.ends_at = at(12, 0);
    flash.stores = vec!["SH001".into()];
    flash.stacking = Stacking::Exclusive;
    let mut flash_line = line(1, 6, &["DIGITAL"], "59.90", 1);
    flash_line.member_price = Some(y("49.90"));
    let mut inp = input(vec![flash_line, line(2, 7, &["HOME"], "95.00", 1)]);
    inp.promotions = vec![flash, promo(2, reduction(&[("100", "10")]))];

    let b = price(&inp);
    assert_eq!(b.total, y("104.90"));
    assert_eq!(b.lines[0].unit_price, y("9.90"));
    assert_eq!(
        b.lines[0].price_source,
        PriceSource::Sale {
            promotion_id: pid(1)
        }
    );
    assert_eq!(b.combinations_compared, 2);
    assert_eq!(b.applied.len(), 1);
    assert_eq!(b.applied[0].kind, DiscountKind::SalePrice);
    assert_eq!(b.applied[0].explanation.zh, "特价¥9.9，省¥50.00");
    assert_eq!(
        b.not_applied[0].reason,
        NotAppliedReason::SpendMore {
            short_by: y("5.00")
        }
    );
    assert_eq!(b.not_applied[0].explanation.zh, "再买¥5可享满100减10");

    // A member: the flash price still beats the member price.
    inp.member = member("regular", 0);
    assert_eq!(price(&inp).total, y("104.90"));

    // At noon the flash sale is over: member price and 满100减10.
    inp.at = at(12, 0);
    let b = price(&inp);
    assert_eq!(b.total, y("134.90"));
    assert_eq!(b.lines[0].price_source, PriceSource::Member);
    assert_eq!(b.combinations_compared, 1);

    // Another store never had it.
    inp.at = at(10, 30);
    inp.member = None;
    inp.store = "BJ002".into();
    assert_eq!(price(&inp).total, y("144.90"));
}

/// An exclusive 8折 on category X against a stackable 满200减50: 8折 saves ¥20 and blocks the
/// 满减 (¥150 left), 满200减50 alone saves ¥50. The engine leaves the exclusive one out.
#[test]
fn exclusive_promotion_left_out_when_worse() {
    let mut off = promo(
        1,
        PromotionRule::PercentOff {
            price_factor: dec("0.8"),
            min_spend: Money::ZERO,
        },
    );
    off.scope = Scope::categories(["X"]);
    off.stacking = Stacking::Exclusive;
    let mut inp = input(vec![
        line(1, 8, &["X"], "100.00", 1),
        line(2, 9, &["Y"], "150.00", 1),
    ]);
    inp.promotions = vec![off, promo(2, reduction(&[("200", "50")]))];
    let b = price(&inp);
    assert_eq!(b.total, y("200.00"));
    assert_eq!(line_amounts(&b), vec![8_000, 12_000]);
    assert_eq!(b.combinations_compared, 2);
    assert_eq!(b.not_applied[0].promotion_id, pid(1));
    assert_eq!(
        b.not_applied[0].reason,
        NotAppliedReason::NotInBestCombination
    );
    assert!(
        b.explanation.zh.contains("比较了2种优惠组合"),
        "{}",
        b.explanation.zh
    );

    // With ¥300 on X the 8折 saves ¥60 > ¥50: now it is used.
    inp.lines[0].price = y("300.00");
    let b = price(&inp);
    assert_eq!(b.total, y("390.00"));
    assert_eq!(b.applied[0].kind, DiscountKind::PercentOff);
    assert_eq!(b.applied[0].explanation.zh, "8折");
    assert_eq!(b.applied[0].explanation.en, "20% off");
}

/// The member's chosen coupon is honoured when some combination allows it, even if another
/// combination (an exclusive 满300减100 that blocks coupons) would save more.
#[test]
fn chosen_coupon_is_honoured_by_the_search() {
    let mut excl = promo(1, reduction(&[("300", "100")]));
    excl.stacking = Stacking::Exclusive;
    let mut inp = input(vec![line(1, 1, &["X"], "300.00", 1)]);
    inp.member = member("regular", 0);
    inp.promotions = vec![excl];
    inp.coupons = vec![coupon(1, CouponRule::NoThreshold { amount: y("10") })];
    let b = price(&inp);
    assert_eq!(b.total, y("290.00"));
    assert_eq!(b.applied[0].kind, DiscountKind::NoThresholdCoupon);
    assert_eq!(b.applied[0].explanation.zh, "无门槛10元券");
    assert_eq!(
        b.not_applied[0].reason,
        NotAppliedReason::NotInBestCombination
    );
    // Without the coupon the exclusive reduction is used.
    inp.coupons.clear();
    assert_eq!(price(&inp).total, y("200.00"));
}

/// 抹零: ¥23.47 at the till.
#[test]
fn till_rounding() {
    let mut inp = input(vec![
        line(1, 1, &["A"], "12.34", 1),
        line(2, 2, &["A"], "11.13", 1),
    ]);
    let b = price(&inp);
    assert_eq!(b.total, y("23.47"));
    assert!(b.applied.is_empty());
    assert_eq!(b.explanation.zh, "无优惠");

    // To 0.1 yuan: ¥23.40; 7 fen split 1234 : 1113 → 4 / 3.
    inp.settings.till_rounding = TillRounding::DownToJiao;
    let b = price(&inp);
    assert_eq!(b.total, y("23.40"));
    assert_eq!(b.amount_due, y("23.40"));
    assert_eq!(line_amounts(&b), vec![1_230, 1_110]);
    assert_eq!(b.applied[0].kind, DiscountKind::TillRounding);
    assert_eq!(b.applied[0].explanation.zh, "抹零¥0.07");

    // To the yuan: ¥23.00; 47 fen → 25 / 22.
    inp.settings.till_rounding = TillRounding::DownToYuan;
    let b = price(&inp);
    assert_eq!(b.total, y("23.00"));
    assert_eq!(line_amounts(&b), vec![1_209, 1_091]);

    // Already round: nothing.
    inp.lines[0].price = y("12.87");
    let b = price(&inp);
    assert_eq!(b.total, y("24.00"));
    assert!(b.applied.is_empty());
}

/// 100 points = ¥1, at most 50 % of the order.
#[test]
fn points_capped_at_half() {
    let mut inp = input(vec![line(1, 1, &["A"], "60.00", 1)]);
    inp.member = member("regular", 10_000);
    let b = price(&inp);
    assert_eq!(b.max_redeemable_points, 3_000);
    assert_eq!(b.points_earned, 60);

    inp.points_to_redeem = 3_000;
    let b = price(&inp);
    assert_eq!(b.points_value, y("30.00"));
    assert_eq!(b.total, y("60.00"));
    assert_eq!(b.amount_due, y("30.00"));
    assert_eq!(b.points_earned, 30);
    assert_eq!(b.lines[0].points_value, y("30.00"));
    let p = b.points.unwrap();
    assert_eq!(p.explanation.zh, "使用3000积分抵¥30.00");

    inp.points_to_redeem = 3_001;
    assert_eq!(
        price_basket(&inp),
        Err(PricingError::PointsOverCap {
            requested: 3_001,
            max: 3_000
        })
    );

    // Points, then 抹零 on what is left to pay: ¥60 − ¥12.34 = ¥47.66 → ¥47.
    inp.points_to_redeem = 1_234;
    inp.settings.till_rounding = TillRounding::DownToYuan;
    let b = price(&inp);
    assert_eq!(b.amount_due, y("47.00"));
    assert_eq!(b.total, y("59.34"));
    assert_eq!(b.discount, y("0.66"));
    assert_eq!(b.points_earned, 47);

    inp.points_to_redeem = 20_000;
    assert_eq!(
        price_basket(&inp),
        Err(PricingError::InsufficientPoints {
            requested: 20_000,
            balance: 10_000
        })
    );
    inp.points_to_redeem = -1;
    assert_eq!(price_basket(&inp), Err(PricingError::NegativePoints));
    inp.points_to_redeem = 100;
    inp.member = None;
    assert_eq!(price_basket(&inp), Err(PricingError::PointsWithoutMember));
    inp.member = member("regular", 10_000);
    inp.points_rules.redeem_points_per_yuan = 1_000;
    inp.points_to_redeem = 15;
    assert_eq!(
        price_basket(&inp),
        Err(PricingError::PointsNotWholeFen {
            points: 15,
            step: 10
        })
    );
}

#[test]
fn tiered_and_repeating_full_reduction() {
    let mut inp = input(vec![line(1, 1, &["A"], "520.00", 1)]);
    inp.promotions = vec![promo(1, reduction(&[("300", "50"), ("500", "100")]))];
    assert_eq!(price(&inp).total, y("420.00"));
    inp.lines[0].price = y("499.99");
    assert_eq!(price(&inp).total, y("449.99"));
    inp.lines[0].price = y("299.00");
    let b = price(&inp);
    assert_eq!(b.total, y("299.00"));
    assert_eq!(
        b.not_applied[0].reason,
        NotAppliedReason::SpendMore { short_by: y("1") }
    );

    let mut every = promo(2, reduction(&[("100", "10")]));
    if let PromotionRule::FullReduction { repeat, .. } = &mut every.rule {
        *repeat = true;
    }
    inp.promotions = vec![every];
    inp.lines[0].price = y("350.00");
    let b = price(&inp);
    assert_eq!(b.total, y("320.00"));
    assert_eq!(b.applied[0].explanation.zh, "每满100减10（减3次）");
}

/// Category scope with exclusions, brand scope, and priorities between two percentages.
#[test]
fn scopes_and_priorities() {
    let mut l1 = line(1, 1, &["FOOD", "FOOD-DAIRY"], "10.00", 1);
    l1.brand = "光明".into();
    let l2 = line(2, 2, &["FOOD", "FOOD-WINE"], "100.00", 1);
    let l3 = line(3, 3, &["HOME"], "50.00", 1);
    let mut food = promo(
        1,
        PromotionRule::PercentOff {
            price_factor: dec("0.9"),
            min_spend: Money::ZERO,
        },
    );
    food.scope = Scope {
        categories: vec!["FOOD".into()],
        exclude_categories: vec!["FOOD-WINE".into()],
        ..Scope::default()
    };
    let mut brand = promo(
        2,
        PromotionRule::PercentOff {
            price_factor: dec("0.5"),
            min_spend: Money::ZERO,
        },
    );
    brand.scope = Scope {
        brands: vec!["光明".into()],
        ..Scope::default()
    };
    brand.priority = -1; // before the 9折
    let mut inp = input(vec![l1, l2, l3]);
    inp.promotions = vec![food, brand];
    let b = price(&inp);
    // Dairy: ¥10 × 0.5 = ¥5, then × 0.9 = ¥4.50. Wine and home untouched.
    assert_eq!(line_amounts(&b), vec![450, 10_000, 5_000]);
    assert_eq!(
        b.applied[0].source,
        DiscountSource::Promotion {
            promotion_id: pid(2)
        }
    );
    assert_eq!(
        b.applied[1].source,
        DiscountSource::Promotion {
            promotion_id: pid(1)
        }
    );
}

#[test]
fn unit_prices_member_tier_store_and_tier_audience() {
    let mut l = line(1, 1, &["A"], "10.00", 3);
    l.member_price = Some(y("9.00"));
    l.store_price = Some(y("9.80"));
    let mut inp = input(vec![l]);
    // Non-member: the store price is the list price.
    let b = price(&inp);
    assert_eq!(b.lines[0].list_unit_price, y("9.80"));
    assert_eq!(b.lines[0].price_source, PriceSource::Store);
    assert_eq!(b.total, y("29.40"));
    // Gold: member ¥9.00 beats 9.5折 of ¥9.80 = ¥9.31.
    inp.member = member("gold", 0);
    let b = price(&inp);
    assert_eq!(b.lines[0].price_source, PriceSource::Member);
    assert_eq!(b.total, y("27.00"));
    assert_eq!(b.applied[0].explanation.zh, "会员价，省¥2.40");
    // Diamond (9折): ¥8.82 beats the member price.
    inp.member = member("diamond", 0);
    assert_eq!(price(&inp).total, y("26.46"));

    // A gold-only sale price.
    let mut gold_price = promo(1, sale(&[(1, "7.00")]));
    gold_price.audience = Audience::Tiers {
        tiers: vec!["gold".into()],
    };
    inp.promotions = vec![gold_price];
    inp.member = member("silver", 0);
    // Silver: 9.8折 of ¥9.80 = ¥9.60 (9.604 rounded), member ¥9.00 wins.
    assert_eq!(price(&inp).total, y("27.00"));
    inp.member = member("gold", 0);
    assert_eq!(price(&inp).total, y("21.00"));
}

/// Weighed lines: prices per kg, quantities in grams, rounding from configuration.
#[test]
fn weighed_lines() {
    let mut pork = line(1, 1, &["FRESH"], "29.80", 1_234);
    pork.weighed = true;
    let mut inp = input(vec![pork]);
    // 29.80 × 1.234 = 36.7732.
    assert_eq!(price(&inp).total, y("36.77"));
    // Gold: unit ¥28.31 (28.31), × 1.234 = 34.93454.
    inp.member = member("gold", 0);
    let b = price(&inp);
    assert_eq!(b.total, y("34.93"));
    assert_eq!(b.lines[0].unit_price, y("28.31"));
    inp.member = None;
    inp.lines[0].price = y("10.01");
    inp.lines[0].qty = 1_235; // 12.36235
    inp.settings.rounding = Rounding::Up;
    assert_eq!(price(&inp).total, y("12.37"));
    inp.settings.rounding = Rounding::HalfUp;
    assert_eq!(price(&inp).total, y("12.36"));
    inp.lines[0].price = y("5.00");
    inp.lines[0].qty = 1; // half a fen
    assert_eq!(price(&inp).total, y("0.01"));
    inp.settings.rounding = Rounding::HalfEven;
    assert_eq!(price(&inp).total, y("0.00"));
    // Weighed lines never count for buy X get Y.
    inp.lines[0].qty = 5_000;
    inp.promotions = vec![promo(1, PromotionRule::BuyXGetY { buy: 1, get: 1 })];
    let b = price(&inp);
    assert_eq!(b.total, y("25.00"));
    assert!(b.not_applied.is_empty());
}

#[test]
fn coupons_of_every_kind() {
    let mut inp = input(vec![line(1, 1, &["A"], "100.00", 1)]);
    inp.member = member("regular", 0);
    // 9折券, up to ¥5.
    inp.coupons = vec![coupon(
        1,
        CouponRule::Percent {
            price_factor: dec("0.9"),
            min_spend: Money::ZERO,
            max_discount: Some(y("5")),
        },
    )];
    let b = price(&inp);
    assert_eq!(b.total, y("95.00"));
    assert_eq!(b.applied[0].explanation.zh, "9折券（最高减5）");
    // 无门槛 ¥10 on a ¥6 basket: at most what the lines cost.
    inp.lines[0].price = y("6.00");
    inp.coupons = vec![coupon(2, CouponRule::NoThreshold { amount: y("10") })];
    let b = price(&inp);
    assert_eq!(b.total, y("0.00"));
    assert_eq!(b.points_earned, 0);

    // A coupon that does not stack with promotions skips the sale-priced line.
    let mut inp = input(vec![
        line(1, 1, &["A"], "100.00", 1),
        line(2, 2, &["B"], "50.00", 1),
    ]);
    inp.member = member("regular", 0);
    inp.promotions = vec![promo(1, sale(&[(1, "80.00")]))];
    let mut c = coupon(
        3,
        CouponRule::Threshold {
            min_spend: y("40"),
            amount: y("10"),
        },
    );
    c.stacks_with_promotions = false;
    inp.coupons = vec![c];
    let b = price(&inp);
    assert_eq!(line_amounts(&b), vec![8_000, 4_000]);
    // ¥30 on the coupon's lines: below its threshold.
    inp.lines[1].price = y("30.00");
    assert_eq!(
        price_basket(&inp),
        Err(PricingError::CouponThresholdNotMet {
            id: cid(3),
            min_spend: y("40"),
            eligible: y("30")
        })
    );
    // Only promotion lines: blocked.
    inp.lines.remove(1);
    assert_eq!(
        price_basket(&inp),
        Err(PricingError::CouponBlockedByPromotions(cid(3)))
    );
}

#[test]
fn bad_coupons_are_refused() {
    let base = {
        let mut inp = input(vec![line(1, 1, &["A"], "300.00", 1)]);
        inp.member = member("regular", 0);
        inp
    };
    let fixed = || {
        coupon(
            1,
            CouponRule::Threshold {
                min_spend: y("200"),
                amount: y("20"),
            },
        )
    };
    let with = |c: Coupon| {
        let mut inp = base.clone();
        inp.coupons = vec![c];
        price_basket(&inp)
    };
    assert!(with(fixed()).is_ok());

    let mut c = fixed();
    c.valid_until = at(10, 30);
    assert!(matches!(with(c), Err(PricingError::CouponExpired { .. })));
    let mut c = fixed();
    c.valid_from = at(11, 0);
    assert!(matches!(
        with(c),
        Err(PricingError::CouponNotYetValid { .. })
    ));
    let mut c = fixed();
    c.owner = Uuid::from_u128(99);
    assert_eq!(with(c), Err(PricingError::ForeignCoupon(cid(1))));
    let mut c = fixed();
    c.stores = vec!["BJ002".into()];
    assert!(matches!(
        with(c),
        Err(PricingError::CouponWrongStore { .. })
    ));
    let mut c = fixed();
    c.scope = Scope::skus([sku(42)]);
    assert_eq!(with(c), Err(PricingError::CouponOutOfScope(cid(1))));
    let mut c = fixed();
    c.rule = CouponRule::Threshold {
        min_spend: y("20"),
        amount: y("20"),
    };
    assert!(matches!(with(c), Err(PricingError::InvalidCoupon { .. })));
    let mut c = fixed();
    c.rule = CouponRule::Percent {
        price_factor: dec("1.2"),
        min_spend: Money::ZERO,
        max_discount: None,
    };
    let err = with(c).unwrap_err();
    assert!(err.to_string().contains("between 0 and 1"), "{err}");

    let mut inp = base.clone();
    inp.member = None;
    inp.coupons = vec![fixed()];
    assert_eq!(
        price_basket(&inp),
        Err(PricingError::CouponWithoutMember(cid(1)))
    );
    let mut inp = base.clone();
    inp.coupons = vec![fixed(), fixed()];
    assert_eq!(
        price_basket(&inp),
        Err(PricingError::DuplicateCoupon(cid(1)))
    );
    let mut second = coupon(2, CouponRule::NoThreshold { amount: y("5") });
    second.stacks_with_coupons = false;
    inp.coupons = vec![fixed(), second];
    assert_eq!(
        price_basket(&inp),
        Err(PricingError::CouponsDoNotStack(cid(2)))
    );
}

#[test]
fn bad_promotions_are_refused() {
    let cases: Vec<(PromotionRule, &str)> = vec![
        (reduction(&[("100", "100")]), "not less than its threshold"),
        (reduction(&[("100", "-5")]), "negative"),
        (
            reduction(&[("300", "50"), ("200", "60")]),
            "tiers must rise",
        ),
        (
            reduction(&[("300", "50"), ("500", "40")]),
            "tiers must rise",
        ),
        (reduction(&[]), "no tiers"),
        (
            PromotionRule::PercentOff {
                price_factor: dec("1"),
                min_spend: Money::ZERO,
            },
            "between 0 and 1",
        ),
        (
            PromotionRule::PercentOff {
                price_factor: dec("0.12345"),
                min_spend: Money::ZERO,
            },
            "decimal places",
        ),
        (PromotionRule::BuyXGetY { buy: 0, get: 1 }, "between 1"),
        (sale(&[(1, "-1.00")]), "negative"),
        (
            sale(&[(1, "1.00"), (1, "2.00")]),
            "more than one sale price",
        ),
        (sale(&[]), "no SKUs"),
    ];
    for (rule, what) in cases {
        let mut inp = input(vec![line(1, 1, &["A"], "10.00", 1)]);
        inp.promotions = vec![promo(1, rule)];
        let err = price_basket(&inp).unwrap_err();
        assert!(
            matches!(err, PricingError::InvalidPromotion { .. }),
            "{err}"
        );
        assert!(err.to_string().contains(what), "{err} / {what}");
    }
    let mut p = promo(1, reduction(&[("100", "10")]));
    p.ends_at = p.starts_at;
    assert!(p.validate().is_err());
    let mut p = promo(1, reduction(&[("100", "10"), ("200", "30")]));
    if let PromotionRule::FullReduction { repeat, .. } = &mut p.rule {
        *repeat = true;
    }
    assert!(p.validate().is_err());
    let mut p = promo(1, reduction(&[("100", "10")]));
    p.scope = Scope {
        skus: vec![sku(1)],
        exclude_skus: vec![sku(1)],
        ..Scope::default()
    };
    assert!(p
        .validate()
        .unwrap_err()
        .to_string()
        .contains("both included"));
    let mut p = promo(1, reduction(&[("100", "10")]));
    p.audience = Audience::Tiers { tiers: vec![] };
    assert!(p.validate().is_err());

    let mut inp = input(vec![line(1, 1, &["A"], "10.00", 1)]);
    inp.promotions = vec![
        promo(1, reduction(&[("100", "10")])),
        promo(1, reduction(&[("100", "10")])),
    ];
    assert_eq!(
        price_basket(&inp),
        Err(PricingError::DuplicatePromotion(pid(1)))
    );
}

#[test]
fn promotion_set_conflicts() {
    let a = promo(1, sale(&[(1, "9.90"), (2, "5.00")]));
    let mut b = promo(2, sale(&[(1, "8.80")]));
    assert!(matches!(
        validate_promotion_set(&[a.clone(), b.clone()]),
        Err(PricingError::ConflictingPromotions { .. })
    ));
    // Different stores, or one after the other: no conflict.
    let mut a2 = a.clone();
    a2.stores = vec!["SH001".into()];
    b.stores = vec!["BJ002".into()];
    assert!(validate_promotion_set(&[a2, b.clone()]).is_ok());
    b.stores.clear();
    b.starts_at = a.ends_at;
    b.ends_at = b.starts_at + chrono::Duration::days(1);
    assert!(validate_promotion_set(&[a.clone(), b.clone()]).is_ok());
    assert_eq!(
        validate_promotion_set(&[a.clone(), a.clone()]),
        Err(PricingError::DuplicatePromotion(pid(1)))
    );
    // The engine itself takes the lowest price when both run.
    let b = promo(2, sale(&[(1, "8.80")]));
    let mut inp = input(vec![line(1, 1, &["A"], "10.00", 1)]);
    inp.promotions = vec![a, b];
    assert_eq!(price(&inp).total, y("8.80"));
}

#[test]
fn bad_lines_and_rules_are_refused() {
    let bad_line = |f: &dyn Fn(&mut BasketLine)| {
        let mut l = line(7, 1, &["A"], "10.00", 1);
        f(&mut l);
        price_basket(&input(vec![l]))
    };
    assert!(matches!(
        bad_line(&|l| l.qty = 0),
        Err(PricingError::InvalidLine { line_no: 7, .. })
    ));
    assert!(matches!(
        bad_line(&|l| l.qty = -3),
        Err(PricingError::InvalidLine { .. })
    ));
    assert!(matches!(
        bad_line(&|l| l.qty = MAX_QTY + 1),
        Err(PricingError::InvalidLine { .. })
    ));
    assert!(matches!(
        bad_line(&|l| l.price = y("-1")),
        Err(PricingError::InvalidLine { .. })
    ));
    assert!(matches!(
        bad_line(&|l| l.member_price = Some(y("2000000"))),
        Err(PricingError::InvalidLine { .. })
    ));
    let dup = input(vec![line(1, 1, &["A"], "1", 1), line(1, 2, &["A"], "1", 1)]);
    assert_eq!(price_basket(&dup), Err(PricingError::DuplicateLine(1)));
    let many = input(
        (0..=MAX_LINES as u32)
            .map(|i| line(i, 1, &[], "1", 1))
            .collect(),
    );
    assert!(matches!(
        price_basket(&many),
        Err(PricingError::InvalidBasket(_))
    ));

    let mut inp = input(vec![line(1, 1, &["A"], "10.00", 1)]);
    inp.member = member("platinum", 0);
    assert_eq!(
        price_basket(&inp),
        Err(PricingError::UnknownTier("platinum".into()))
    );
    inp.member = member("gold", 0);
    inp.points_rules.redeem_cap_ratio = dec("2");
    assert!(matches!(
        price_basket(&inp),
        Err(PricingError::InvalidPointsRules(_))
    ));
    // An empty basket prices to zero.
    let b = price(&input(vec![]));
    assert_eq!(b.total, Money::ZERO);
}

#[test]
fn explanations_and_serde() {
    let mut inp = input(vec![line(1, 1, &["A"], "320.00", 1)]);
    inp.promotions = vec![promo(1, reduction(&[("300", "50")]))];
    let json = serde_json::to_value(&inp).unwrap();
    assert_eq!(json["promotions"][0]["rule"]["kind"], "full_reduction");
    assert_eq!(
        json["promotions"][0]["rule"]["tiers"][0]["threshold"],
        "300.00"
    );
    assert_eq!(json["promotions"][0]["stacking"], "stackable");
    let back: PricingInput = serde_json::from_value(json).unwrap();
    assert_eq!(back, inp);
    let b = price(&inp);
    let json = serde_json::to_value(&b).unwrap();
    assert_eq!(json["total"], "270.00");
    assert_eq!(json["applied"][0]["source"]["kind"], "promotion");
    assert_eq!(json["lines"][0]["price_source"]["kind"], "chain");
    let back: PricedBasket = serde_json::from_value(json).unwrap();
    assert_eq!(back, b);

    use utoipa::PartialSchema;
    for schema in [
        serde_json::to_value(PricingInput::schema()).unwrap(),
        serde_json::to_value(PricedBasket::schema()).unwrap(),
        serde_json::to_value(Promotion::schema()).unwrap(),
        serde_json::to_value(Coupon::schema()).unwrap(),
    ] {
        assert!(schema.is_object());
    }
}

#[test]
fn from_catalog_record() {
    use crate::wire::catalog::{ShelfStatus, SkuRecord};
    let rec = SkuRecord {
        seq: 1,
        id: sku(1),
        sku_code: "100001-01".into(),
        product_id: Uuid::nil(),
        product_code: "100001".into(),
        name_zh: "苹果".into(),
        name_en: "Apple".into(),
        brand: "红富士".into(),
        category_id: "FOOD-FRUIT".into(),
        spec_zh: String::new(),
        spec_en: String::new(),
        unit: "kg".into(),
        weighed: true,
        status: ShelfStatus::OnShelf,
        price: y("12.00"),
        member_price: Some(y("10.00")),
        store_price: Some(y("11.00")),
        barcodes: vec![],
    };
    let l = BasketLine::from_sku(1, &rec, vec![], 500);
    assert_eq!(l.categories, vec!["FOOD-FRUIT".to_string()]);
    assert_eq!(l.list_unit_price(), y("11.00"));
    assert!(l.weighed);
    assert_eq!(price(&input(vec![l])).total, y("5.50"));
}

#[test]
fn many_exclusive_promotions_stay_bounded() {
    // 12 exclusive 9折 on 12 different SKUs: 4096 combinations, more than the budget.
    let lines: Vec<BasketLine> = (0..12)
        .map(|i| line(i + 1, u128::from(i), &["A"], "10.00", 1))
        .collect();
    let mut inp = input(lines);
    inp.promotions = (0u32..12)
        .map(|i| {
            let mut p = promo(
                u128::from(i),
                PromotionRule::PercentOff {
                    price_factor: dec("0.9"),
                    min_spend: Money::ZERO,
                },
            );
            p.scope = Scope::skus([sku(u128::from(i))]);
            p.stacking = Stacking::Exclusive;
            p
        })
        .collect();
    let b = price(&inp);
    assert!(b.combinations_compared as usize <= MAX_COMBINATIONS);
    // Greedy takes them all, which is the best here.
    assert_eq!(b.total, y("108.00"));
}

// ---------------------------------------------------------------------------------------------
// Helpers against the money module
// ---------------------------------------------------------------------------------------------

proptest! {
    #[test]
    fn allocation_matches_money_allocate(total in -1_000_000i64..1_000_000_000_000, weights in prop::collection::vec(-5i64..10_000_000_000, 0..40)) {
        let mut out = Vec::new();
        let mut rem = Vec::new();
        allocate_into(total, &weights, &mut out, &mut rem);
        let expected: Vec<i64> = Money::from_fen(total).allocate(&weights).iter().map(Money::fen).collect();
        prop_assert_eq!(out, expected);
    }

    #[test]
    fn allocation_fast_path_matches_money_allocate(total in 0i64..10_000_000, weights in prop::collection::vec(0i64..1_000_000, 0..60)) {
        let mut out = Vec::new();
        let mut rem = Vec::new();
        allocate_into(total, &weights, &mut out, &mut rem);
        let expected: Vec<i64> = Money::from_fen(total).allocate(&weights).iter().map(Money::fen).collect();
        prop_assert_eq!(out, expected);
    }

    #[test]
    fn mul_div_matches_mul_ratio(value in 0i64..1_000_000_000_000, m in 0i64..10_000, scale in 0u32..5, mode in 0u8..4) {
        let rounding = [Rounding::HalfUp, Rounding::HalfEven, Rounding::Down, Rounding::Up][mode as usize];
        let ratio = Decimal::new(m, scale);
        let expected = Money::from_fen(value).mul_ratio(ratio, rounding).unwrap().fen();
        let got = mul_div(value, i128::from(m), 10i128.pow(scale), rounding).unwrap();
        prop_assert_eq!(got, expected);
    }
}

// ---------------------------------------------------------------------------------------------
// Properties of the engine
// ---------------------------------------------------------------------------------------------

const CATS: [&str; 4] = ["FOOD", "DRINK", "HOME", "APPAREL"];
const BRANDS: [&str; 3] = ["", "光明", "蒙牛"];

type RawLine = (u8, u8, u8, i64, i64, bool, Option<i64>, Option<i64>);
type RawPromo = (u8, u8, u8, u32, u32, bool, i8, u8);

fn build_line(i: usize, r: &RawLine) -> BasketLine {
    let (s, c, b, qty, price, weighed, member_price, store_price) = *r;
    BasketLine {
        line_no: i as u32 + 1,
        sku_id: sku(u128::from(s)),
        categories: vec![
            CATS[c as usize % 4].to_owned(),
            format!("{}-{}", CATS[c as usize % 4], s % 3),
        ],
        brand: BRANDS[b as usize % 3].to_owned(),
        qty: if weighed { qty * 137 } else { qty },
        weighed,
        price: Money::from_fen(price),
        store_price: store_price.map(Money::from_fen),
        member_price: member_price.map(Money::from_fen),
    }
}

fn build_promo(i: usize, r: &RawPromo) -> Promotion {
    let (kind, scope, target, a, b, exclusive, priority, audience) = *r;
    let a = i64::from(a);
    let b = i64::from(b);
    let rule = match kind % 5 {
        0 => PromotionRule::SalePrice {
            prices: vec![
                SkuPrice {
                    sku_id: sku(u128::from(target % 12)),
                    price: Money::from_fen(a * 3),
                },
                SkuPrice {
                    sku_id: sku(u128::from((target + 5) % 12)),
                    price: Money::from_fen(b * 2),
                },
            ],
        },
        1 => PromotionRule::FullReduction {
            tiers: vec![
                ReductionTier {
                    threshold: Money::from_fen(a * 10 + 100),
                    reduction: Money::from_fen(a + 1),
                },
                ReductionTier {
                    threshold: Money::from_fen(a * 30 + 5_000),
                    reduction: Money::from_fen(a * 2 + 2 + b % 100),
                },
            ],
            repeat: false,
        },
        2 => PromotionRule::FullReduction {
            tiers: vec![ReductionTier {
                threshold: Money::from_fen(b * 7 + 1_000),
                reduction: Money::from_fen(b % 999 + 1),
            }],
            repeat: true,
        },
        3 => PromotionRule::PercentOff {
            price_factor: Decimal::new(i64::from(50 + a as u32 % 49), 2),
            min_spend: Money::from_fen(b * 5),
        },
        _ => PromotionRule::BuyXGetY {
            buy: 1 + a as u32 % 3,
            get: 1 + b as u32 % 2,
        },
    };
    let mut p = promo(i as u128 + 1, rule);
    p.scope = match scope % 4 {
        0 => Scope::whole_basket(),
        1 => Scope::categories([CATS[target as usize % 4]]),
        2 => Scope::skus([
            sku(u128::from(target % 12)),
            sku(u128::from((target + 1) % 12)),
        ]),
        _ => Scope {
            brands: vec![BRANDS[1 + target as usize % 2].to_owned()],
            exclude_skus: vec![sku(u128::from(target % 12))],
            ..Scope::default()
        },
    };
    p.stacking = if exclusive {
        Stacking::Exclusive
    } else {
        Stacking::Stackable
    };
    p.priority = i32::from(priority);
    p.audience = match audience % 4 {
        0 | 1 => Audience::Everyone,
        2 => Audience::Members,
        _ => Audience::Tiers {
            tiers: vec!["gold".into(), "diamond".into()],
        },
    };
    p
}

fn arb_input() -> impl Strategy<Value = PricingInput> {
    let raw_line = (
        0u8..12,
        0u8..4,
        0u8..3,
        1i64..6,
        1i64..20_000,
        prop::bool::weighted(0.15),
        prop::option::weighted(0.3, 1i64..20_000),
        prop::option::weighted(0.2, 1i64..20_000),
    );
    let raw_promo = (
        0u8..5,
        0u8..4,
        0u8..12,
        0u32..2_000,
        0u32..2_000,
        prop::bool::weighted(0.3),
        -2i8..3,
        0u8..4,
    );
    let raw_coupon = (0u8..3, 0i64..3_000, 1i64..3_000, any::<bool>());
    (
        prop::collection::vec(raw_line, 0..25),
        prop::collection::vec(raw_promo, 0..10),
        prop::option::of(0usize..4),
        prop::collection::vec(raw_coupon, 0..3),
        prop::option::weighted(0.3, 0i64..800),
        0u8..3,
        0u8..4,
    )
        .prop_map(|(lines, promos, tier, coupons, points, till, rounding)| {
            let mut inp = input(
                lines
                    .iter()
                    .enumerate()
                    .map(|(i, r)| build_line(i, r))
                    .collect(),
            );
            inp.promotions = promos
                .iter()
                .enumerate()
                .map(|(i, r)| build_promo(i, r))
                .collect();
            inp.member =
                tier.and_then(|t| member(["regular", "silver", "gold", "diamond"][t], 1_000_000));
            if inp.member.is_some() {
                inp.coupons = coupons
                    .iter()
                    .enumerate()
                    .map(|(i, &(kind, a, b, stacks))| {
                        let rule = match kind {
                            0 => CouponRule::Threshold {
                                min_spend: Money::from_fen(a + b + 1),
                                amount: Money::from_fen(b),
                            },
                            1 => CouponRule::Percent {
                                price_factor: Decimal::new(70 + b % 29, 2),
                                min_spend: Money::from_fen(a),
                                max_discount: (a % 2 == 0).then(|| Money::from_fen(b)),
                            },
                            _ => CouponRule::NoThreshold {
                                amount: Money::from_fen(b),
                            },
                        };
                        let mut c = coupon(i as u128 + 1, rule);
                        c.stacks_with_promotions = stacks;
                        c
                    })
                    .collect();
                inp.points_to_redeem = points.unwrap_or(0);
            }
            inp.settings.till_rounding = [
                TillRounding::None,
                TillRounding::DownToJiao,
                TillRounding::DownToYuan,
            ][till as usize];
            inp.settings.rounding = [
                Rounding::HalfUp,
                Rounding::HalfEven,
                Rounding::Down,
                Rounding::Up,
            ][rounding as usize];
            inp
        })
}

/// Deterministic Fisher–Yates shuffle driven by `seed`.
fn shuffle<T>(v: &mut [T], mut seed: u64) {
    for i in (1..v.len()).rev() {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let j = (seed >> 33) as usize % (i + 1);
        v.swap(i, j);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn priced_baskets_keep_every_invariant(inp in arb_input()) {
        match price_basket(&inp) {
            Ok(b) => {
                prop_assert!(invariants(&b).is_ok(), "{:?}", invariants(&b));
                prop_assert!(b.combinations_compared as usize <= MAX_COMBINATIONS);
                // Every discount stays on lines in its promotion's or coupon's scope.
                for a in &b.applied {
                    let scope = match &a.source {
                        DiscountSource::Promotion { promotion_id } => {
                            inp.promotions.iter().find(|p| p.id == *promotion_id).map(|p| &p.scope)
                        }
                        DiscountSource::Coupon { coupon_id } => {
                            inp.coupons.iter().find(|c| c.id == *coupon_id).map(|c| &c.scope)
                        }
                        _ => continue,
                    };
                    prop_assert!(scope.is_some());
                    for no in &a.lines {
                        let line = inp.lines.iter().find(|l| l.line_no == *no);
                        prop_assert!(line.zip(scope).is_some_and(|(l, s)| s.matches(l)), "line {} out of scope", no);
                    }
                }
                if inp.points_to_redeem > 0 {
                    // Points never exceed the cap share of the total before till rounding.
                    let before = b.total.fen() + b.applied.iter().filter(|a| a.kind == DiscountKind::TillRounding).map(|a| a.amount.fen()).sum::<i64>();
                    prop_assert!(b.points_value.fen() * 2 <= before);
                }
            }
            Err(e) => {
                // Only the errors a random but well-formed input can cause.
                let expected = matches!(
                    e,
                    PricingError::CouponThresholdNotMet { .. }
                        | PricingError::CouponBlockedByPromotions(_)
                        | PricingError::CouponOutOfScope(_)
                        | PricingError::PointsOverCap { .. }
                );
                prop_assert!(expected, "{e}");
            }
        }
    }

    #[test]
    fn result_is_independent_of_input_order(inp in arb_input(), seed in any::<u64>()) {
        let mut shuffled = inp.clone();
        shuffle(&mut shuffled.lines, seed);
        shuffle(&mut shuffled.promotions, seed ^ 0x5555);
        shuffle(&mut shuffled.coupons, seed ^ 0xAAAA);
        prop_assert_eq!(price_basket(&inp), price_basket(&shuffled));
    }

    #[test]
    fn best_combination_is_never_beaten_by_dropping_an_exclusive(inp in arb_input(), pick in any::<prop::sample::Index>()) {
        let mut inp = inp;
        inp.settings.till_rounding = TillRounding::None;
        let exclusive: Vec<usize> = inp.promotions.iter().enumerate().filter(|(_, p)| p.stacking == Stacking::Exclusive).map(|(i, _)| i).collect();
        if exclusive.is_empty() {
            return Ok(());
        }
        let Ok(full) = price_basket(&inp) else { return Ok(()); };
        let mut fewer = inp.clone();
        fewer.promotions.remove(exclusive[pick.index(exclusive.len())]);
        if let Ok(b) = price_basket(&fewer) {
            // Exhaustive below the budget: a subset of the choices cannot do better.
            if (full.combinations_compared as usize) < MAX_COMBINATIONS {
                prop_assert!(full.discount >= b.discount, "{} < {}", full.discount, b.discount);
            }
        }
    }
}

/// Arbitrary input, mostly near the valid range and sometimes wildly off: the engine answers
/// `Ok` or `Err`, never panics.
fn arb_wild_input() -> impl Strategy<Value = PricingInput> {
    fn near(lo: i64, hi: i64) -> BoxedStrategy<i64> {
        prop_oneof![1 => any::<i64>(), 80 => lo..hi].boxed()
    }
    let wild_line = (
        any::<u32>(),
        0u8..4,
        near(-1, 2_000),
        near(-10, 1_000_000),
        any::<bool>(),
        prop::option::of(near(-10, 1_000_000)),
        prop::option::of(near(-10, 1_000_000)),
    );
    let wild_money = near(-1_000, 1_000_000);
    let wild_promo = (
        prop_oneof![20 => 0u8..4, 1 => Just(4u8)],
        near(-5, 100),
        wild_money.clone(),
        wild_money.clone(),
        any::<u32>(),
        any::<u32>(),
        0u32..30,
        any::<bool>(),
        any::<i64>(),
        any::<i64>(),
    );
    let wild_coupon = (
        0u8..3,
        wild_money.clone(),
        wild_money,
        near(-5, 1_000),
        0u32..30,
        any::<bool>(),
        prop::bool::weighted(0.9),
    );
    (
        prop::collection::vec(wild_line, 0..12),
        prop::collection::vec(wild_promo, 0..8),
        prop::collection::vec(wild_coupon, 0..3),
        prop_oneof![3 => Just(0i64), 1 => near(-10, 5_000)],
        prop_oneof![1 => any::<i64>(), 8 => Just(100i64), 2 => -5i64..2_000],
        near(-2, 102),
        prop::option::of((0u8..5, near(-10, 1_000_000))),
        near(0, 101),
    )
        .prop_map(
            |(lines, promos, coupons, points, redeem_rate, cap_m, member_opt, tier_disc)| {
                let ts = |x: i64| {
                    Utc.timestamp_opt(x.rem_euclid(4_000_000_000), 0)
                        .single()
                        .unwrap_or_default()
                };
                let mut inp = input(
                    lines
                        .iter()
                        .enumerate()
                        .map(|(i, &(no, c, qty, price, weighed, mp, sp))| BasketLine {
                            line_no: if no % 50 == 0 { 0 } else { i as u32 + 1 },
                            sku_id: sku(u128::from(no % 5)),
                            categories: vec![CATS[c as usize].to_owned()],
                            brand: String::new(),
                            qty,
                            weighed,
                            price: Money::from_fen(price),
                            store_price: sp.map(Money::from_fen),
                            member_price: mp.map(Money::from_fen),
                        })
                        .collect(),
                );
                inp.promotions = promos
                    .iter()
                    .enumerate()
                    .map(|(i, &(kind, f, a, b, x, z, scale, excl, t0, t1))| {
                        let factor = Decimal::try_new(f, if x % 20 == 0 { scale } else { 2 })
                            .unwrap_or_default();
                        let rule = match kind {
                            0 => PromotionRule::SalePrice {
                                prices: vec![SkuPrice {
                                    sku_id: sku(u128::from(x % 5)),
                                    price: Money::from_fen(a),
                                }],
                            },
                            1 => PromotionRule::FullReduction {
                                tiers: vec![ReductionTier {
                                    threshold: Money::from_fen(a),
                                    reduction: Money::from_fen(if z % 7 == 0 {
                                        b
                                    } else {
                                        1 + b.rem_euclid(a.max(2) - 1)
                                    }),
                                }],
                                repeat: z % 2 == 0,
                            },
                            2 => PromotionRule::PercentOff {
                                price_factor: factor,
                                min_spend: Money::from_fen(a),
                            },
                            3 => PromotionRule::BuyXGetY {
                                buy: if z % 9 == 0 { x } else { x % 5 },
                                get: if z % 11 == 0 { 0 } else { 1 + z % 3 },
                            },
                            _ => PromotionRule::FullReduction {
                                tiers: vec![],
                                repeat: false,
                            },
                        };
                        let mut p = promo(i as u128, rule);
                        if t0 % 10 == 0 {
                            p.starts_at = ts(t0);
                            p.ends_at = ts(t1);
                        }
                        p.stacking = if excl {
                            Stacking::Exclusive
                        } else {
                            Stacking::Stackable
                        };
                        p
                    })
                    .collect();
                inp.coupons = coupons
                    .iter()
                    .enumerate()
                    .map(|(i, &(kind, a, b, f, scale, stacks, owner))| {
                        let rule = match kind {
                            0 => CouponRule::Threshold {
                                min_spend: Money::from_fen(a),
                                amount: Money::from_fen(b),
                            },
                            1 => CouponRule::Percent {
                                price_factor: Decimal::try_new(f, scale).unwrap_or_default(),
                                min_spend: Money::from_fen(a),
                                max_discount: Some(Money::from_fen(b)),
                            },
                            _ => CouponRule::NoThreshold {
                                amount: Money::from_fen(b),
                            },
                        };
                        let mut c = coupon(i as u128, rule);
                        c.stacks_with_promotions = stacks;
                        c.stacks_with_coupons = stacks;
                        if !owner {
                            c.owner = Uuid::nil();
                        }
                        c
                    })
                    .collect();
                inp.points_to_redeem = points;
                inp.points_rules.redeem_points_per_yuan = redeem_rate;
                inp.points_rules.redeem_cap_ratio = Decimal::try_new(cap_m, 2).unwrap_or_default();
                if let Some((t, balance)) = member_opt {
                    inp.member = member(
                        ["regular", "silver", "gold", "diamond", "nope"][t as usize],
                        balance,
                    );
                    if let Some(tier) = inp.points_rules.tiers.get_mut(t as usize) {
                        tier.discount = Decimal::try_new(tier_disc, 2).unwrap_or(Decimal::ONE);
                    }
                }
                inp
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn never_panics_on_arbitrary_input(inp in arb_wild_input()) {
        if let Ok(b) = price_basket(&inp) {
            prop_assert!(invariants(&b).is_ok(), "{:?}", invariants(&b));
        }
    }
}

/// The random inputs of the properties above mostly price, and exercise every feature.
#[test]
fn random_inputs_exercise_the_engine() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
    );
    let strategy = arb_input();
    let (mut ok, mut searched, mut coupons, mut points, mut rounding, mut kinds) =
        (0, 0, 0, 0, 0, std::collections::HashSet::new());
    let mut errors = std::collections::BTreeMap::new();
    for _ in 0..2_000 {
        let inp = strategy.new_tree(&mut runner).unwrap().current();
        match price_basket(&inp) {
            Ok(b) => {
                ok += 1;
                searched += usize::from(b.combinations_compared > 1);
                points += usize::from(b.points.is_some());
                for a in &b.applied {
                    kinds.insert(a.kind);
                    coupons += usize::from(matches!(a.source, DiscountSource::Coupon { .. }));
                    rounding += usize::from(a.kind == DiscountKind::TillRounding);
                }
            }
            Err(e) => {
                let name = format!("{e:?}");
                let name = name.split([' ', '(', '{']).next().unwrap_or("").to_owned();
                *errors.entry(name).or_insert(0) += 1;
            }
        }
    }
    eprintln!("ok {ok}, searched {searched}, coupons {coupons}, points {points}, rounding {rounding}, kinds {kinds:?}, errors {errors:?}");
    assert!(ok >= 1_200, "{ok}");
    assert!(searched >= 100 && coupons >= 100 && points >= 100 && rounding >= 100);
    assert_eq!(kinds.len(), 10, "{kinds:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// The search (best upper bound first, stopping when no bound can beat the best score)
    /// picks the same combination as pricing them all; every bound holds.
    #[test]
    fn bounded_search_picks_the_exhaustive_best(inp in arb_input()) {
        let r = super::engine::search_matches_exhaustive(&inp);
        prop_assert!(r.is_ok(), "{:?}", r);
    }

    /// The search's lean evaluation (allocation skipped where no later step needs it) scores
    /// every combination exactly like the full evaluation.
    #[test]
    fn lean_evaluation_scores_like_the_exact_one(inp in arb_input()) {
        let r = super::engine::lean_matches_exact(&inp);
        prop_assert!(r.is_ok(), "{:?}", r);
    }
}

#[test]
fn lean_evaluation_skips_allocations_in_random_baskets() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
    );
    let strategy = arb_input();
    let (mut combos, mut skipping) = (0, 0);
    for _ in 0..1_000 {
        let inp = strategy.new_tree(&mut runner).unwrap().current();
        let (c, k) = super::engine::lean_matches_exact(&inp).unwrap();
        combos += c;
        skipping += k;
    }
    eprintln!("combinations {combos}, skipping steps {skipping}");
    assert!(combos > 1_000 && skipping > 500);
}
