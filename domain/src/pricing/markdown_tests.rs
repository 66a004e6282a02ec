//! Time-of-day markdowns (早晚市) at their boundaries, and shelf prices.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;

use super::*;
use crate::money::Money;
use crate::points::PointsRules;

const BREAD: Uuid = Uuid::from_u128(0x51);
const FISH: Uuid = Uuid::from_u128(0x52);

/// 2026-11-11 is a Wednesday; `h:m:s` China time.
fn cst(day: u32, h: u32, m: u32, s: u32) -> DateTime<Utc> {
    china_offset()
        .with_ymd_and_hms(2026, 11, day, h, m, s)
        .unwrap()
        .with_timezone(&Utc)
}

fn y(s: &str) -> Money {
    Money::parse(s).unwrap()
}

fn bread(qty: i64) -> BasketLine {
    BasketLine {
        line_no: 1,
        sku_id: BREAD,
        categories: vec!["FRESH-BAKERY".into(), "FRESH".into()],
        brand: String::new(),
        qty,
        weighed: false,
        price: y("12.90"),
        store_price: None,
        member_price: None,
    }
}

fn fish(grams: i64) -> BasketLine {
    BasketLine {
        line_no: 2,
        sku_id: FISH,
        categories: vec!["FRESH-SEAFOOD".into(), "FRESH".into()],
        brand: String::new(),
        qty: grams,
        weighed: true,
        price: y("39.80"),
        store_price: Some(y("36.80")),
        member_price: None,
    }
}

fn markdown(category: &str, factor: &str, days: Vec<u8>, from: u16, until: u16) -> Promotion {
    Promotion {
        id: Uuid::from_u128(0x99),
        name_zh: "晚市面包7折".into(),
        name_en: "Evening bakery 30% off".into(),
        starts_at: cst(1, 0, 0, 0),
        ends_at: cst(30, 0, 0, 0),
        stores: vec!["SH001".into()],
        audience: Audience::Everyone,
        scope: Scope::categories([category]),
        rule: PromotionRule::TimeOfDayMarkdown {
            price_factor: factor.parse().unwrap(),
            days,
            from_minute: from,
            until_minute: until,
        },
        stacking: Stacking::Stackable,
        priority: 0,
    }
}

fn price(
    lines: Vec<BasketLine>,
    promos: Vec<Promotion>,
    store: &str,
    at: DateTime<Utc>,
) -> PricedBasket {
    price_basket(&PricingInput {
        store: store.into(),
        at,
        member: None,
        lines,
        promotions: promos,
        coupons: Vec::new(),
        points_to_redeem: 0,
        points_rules: PointsRules::default(),
        settings: PricingSettings::default(),
    })
    .unwrap()
}

#[test]
fn evening_markdown_starts_at_20_00_00_china_time() {
    let p = markdown("FRESH-BAKERY", "0.7", vec![], 20 * 60, 24 * 60);
    let before = price(
        vec![bread(2)],
        vec![p.clone()],
        "SH001",
        cst(11, 19, 59, 59),
    );
    assert_eq!(before.lines[0].unit_price, y("12.90"));
    assert_eq!(before.total, y("25.80"));
    let at = price(vec![bread(2)], vec![p.clone()], "SH001", cst(11, 20, 0, 0));
    // 12.90 × 0.7 = 9.03 per unit.
    assert_eq!(at.lines[0].unit_price, y("9.03"));
    assert_eq!(at.total, y("18.06"));
    assert_eq!(
        at.lines[0].price_source,
        PriceSource::Sale { promotion_id: p.id }
    );
    assert_eq!(at.applied[0].kind, DiscountKind::SalePrice);
    assert!(
        at.applied[0].explanation.zh.contains("晚市20:00–24:00 7折"),
        "{:?}",
        at.applied[0].explanation
    );
    let last = price(
        vec![bread(1)],
        vec![p.clone()],
        "SH001",
        cst(11, 23, 59, 59),
    );
    assert_eq!(last.total, y("9.03"));
    let midnight = price(vec![bread(1)], vec![p.clone()], "SH001", cst(12, 0, 0, 0));
    assert_eq!(midnight.total, y("12.90"));
    // 12:00 UTC is 20:00 in China: the engine reads China time, not UTC.
    assert_eq!(
        cst(11, 20, 0, 0),
        Utc.with_ymd_and_hms(2026, 11, 11, 12, 0, 0).unwrap()
    );
}

#[test]
fn markdown_is_scoped_by_store_category_days_and_promotion_window() {
    // Weekdays only (Mon–Fri); 2026-11-14 is a Saturday.
    let p = markdown("FRESH-BAKERY", "0.7", vec![1, 2, 3, 4, 5], 20 * 60, 24 * 60);
    let evening = cst(11, 21, 0, 0);
    assert_eq!(
        price(vec![bread(1)], vec![p.clone()], "SH002", evening).total,
        y("12.90")
    );
    assert_eq!(
        price(vec![fish(1000)], vec![p.clone()], "SH001", evening).total,
        y("36.80")
    );
    assert_eq!(
        price(vec![bread(1)], vec![p.clone()], "SH001", cst(14, 21, 0, 0)).total,
        y("12.90")
    );
    assert_eq!(
        price(vec![bread(1)], vec![p.clone()], "SH001", cst(13, 21, 0, 0)).total,
        y("9.03")
    );
    // Outside the promotion's own window, the daily window does not matter.
    let mut ended = p.clone();
    ended.ends_at = cst(11, 20, 30, 0);
    assert_eq!(
        price(
            vec![bread(1)],
            vec![ended.clone()],
            "SH001",
            cst(11, 20, 29, 59)
        )
        .total,
        y("9.03")
    );
    assert_eq!(
        price(vec![bread(1)], vec![ended], "SH001", cst(11, 20, 30, 0)).total,
        y("12.90")
    );
}

#[test]
fn morning_market_window_runs_past_midnight_and_belongs_to_its_opening_day() {
    // 22:00–09:00 on Tuesdays only: Tuesday 22:00 to Wednesday 09:00 (2026-11-10 is a Tuesday).
    let p = markdown("FRESH-SEAFOOD", "0.8", vec![2], 22 * 60, 9 * 60);
    let at = |d, h, m, s| price(vec![fish(500)], vec![p.clone()], "SH001", cst(d, h, m, s)).total;
    // 36.80/kg list (store price); 500 g = 18.40; marked down 29.44/kg → 14.72.
    assert_eq!(at(10, 21, 59, 59), y("18.40"));
    assert_eq!(at(10, 22, 0, 0), y("14.72"));
    assert_eq!(at(11, 8, 59, 59), y("14.72"));
    assert_eq!(at(11, 9, 0, 0), y("18.40"));
    // Tuesday morning belongs to Monday's window, which is not listed.
    assert_eq!(at(10, 8, 0, 0), y("18.40"));
    assert_eq!(at(11, 22, 30, 0), y("18.40"));
}

#[test]
fn markdown_never_stacks_with_a_lower_unit_price() {
    let p = markdown("FRESH-BAKERY", "0.9", vec![], 20 * 60, 24 * 60);
    let mut line = bread(1);
    line.member_price = Some(y("10.00"));
    let basket = price_basket(&PricingInput {
        store: "SH001".into(),
        at: cst(11, 20, 0, 0),
        member: Some(MemberContext {
            member_id: Uuid::from_u128(7),
            tier: "regular".into(),
            points_balance: 0,
        }),
        lines: vec![line],
        promotions: vec![p],
        coupons: Vec::new(),
        points_to_redeem: 0,
        points_rules: PointsRules::default(),
        settings: PricingSettings::default(),
    })
    .unwrap();
    // 12.90 × 0.9 = 11.61 > member price 10.00.
    assert_eq!(basket.total, y("10.00"));
    assert_eq!(basket.lines[0].price_source, PriceSource::Member);
}

#[test]
fn invalid_markdowns_are_refused() {
    let bad = |days: Vec<u8>, from: u16, until: u16, factor: &str| {
        markdown("FRESH", factor, days, from, until)
            .validate()
            .unwrap_err()
            .to_string()
    };
    assert!(bad(vec![0], 1200, 1440, "0.7").contains("weekdays"));
    assert!(bad(vec![8], 1200, 1440, "0.7").contains("weekdays"));
    assert!(bad(vec![1, 1], 1200, 1440, "0.7").contains("twice"));
    assert!(bad(vec![], 1440, 1440, "0.7").contains("from must be"));
    assert!(bad(vec![], 600, 1441, "0.7").contains("from must be"));
    assert!(bad(vec![], 600, 600, "0.7").contains("empty"));
    bad(vec![], 600, 700, "1.2");
    bad(vec![], 600, 700, "0");
    assert!(markdown("FRESH", "0.7", vec![7], 0, 540).validate().is_ok());
}

#[test]
fn window_boundaries_in_china_time() {
    let p = markdown("FRESH", "0.7", vec![3], 20 * 60, 24 * 60);
    // Wednesday 2026-11-11 15:00: opens 20:00, previous change was last Wednesday midnight.
    let (prev, next) = p.rule.window_boundaries(cst(11, 15, 0, 0));
    assert_eq!(next, Some(cst(11, 20, 0, 0)));
    assert_eq!(prev, Some(cst(5, 0, 0, 0)));
    let (prev, next) = p.rule.window_boundaries(cst(11, 20, 0, 0));
    assert_eq!(prev, Some(cst(11, 20, 0, 0)));
    assert_eq!(next, Some(cst(12, 0, 0, 0)));
    let sale = PromotionRule::BuyXGetY { buy: 1, get: 1 };
    assert_eq!(sale.window_boundaries(cst(11, 20, 0, 0)), (None, None));
}

#[test]
fn shelf_price_shows_markdown_member_and_unit_prices_with_validity() {
    let p = markdown("FRESH", "0.7", vec![], 20 * 60, 24 * 60);
    let rules = PointsRules::default();
    let ctx = |at| ShelfContext {
        store: "SH001",
        at,
        promotions: std::slice::from_ref(&p),
        points_rules: &rules,
        settings: PricingSettings::default(),
    };
    let day = shelf_price(&fish(1), "", ctx(cst(11, 19, 59, 59))).unwrap();
    assert!(day.weighed);
    assert_eq!(day.regular_price, y("36.80"));
    assert_eq!(day.price, y("36.80"));
    assert_eq!(day.promotion, None);
    assert_eq!(day.unit_prices[0].price, y("36.80"));
    assert_eq!(day.unit_prices[0].unit_zh, "千克");
    assert_eq!(day.unit_prices[1].price, y("18.40"));
    assert_eq!(day.unit_prices[1].unit_zh, "500克");
    assert_eq!(day.valid_until, Some(cst(11, 20, 0, 0)));
    assert_eq!(day.valid_from, Some(cst(11, 0, 0, 0)));
    let night = shelf_price(&fish(1), "", ctx(cst(11, 20, 0, 0))).unwrap();
    assert_eq!(night.price, y("25.76"));
    assert_eq!(night.unit_prices[1].price, y("12.88"));
    assert!(night.promotion.as_ref().unwrap().markdown);
    assert_eq!(night.valid_from, Some(cst(11, 20, 0, 0)));
    assert_eq!(night.valid_until, Some(cst(12, 0, 0, 0)));
    // A packaged SKU with a member price and a net quantity in its spec.
    let mut milk = bread(1);
    milk.categories = vec!["DAIRY".into()];
    milk.price = y("6.50");
    milk.member_price = Some(y("5.90"));
    let tag = shelf_price(&milk, "250ml", ctx(cst(11, 12, 0, 0))).unwrap();
    assert_eq!(tag.price, y("6.50"));
    assert_eq!(tag.member_price, Some(y("5.90")));
    assert_eq!(tag.unit_prices[0].price, y("26.00"));
    assert_eq!(tag.unit_prices[0].unit_en, "L");
    assert_eq!((tag.valid_from, tag.valid_until), (None, None));
}
