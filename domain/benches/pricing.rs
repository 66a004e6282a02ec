//! Benchmark of the pricing engine (issue 6): a 50-line basket against 20 active promotions,
//! a gold member with two coupons, points and till rounding. Target: median ≤ 50 µs.
//!
//! `CARGO_TARGET_DIR=/work/target-domain cargo bench -p retail-domain --bench pricing`
//! (optionally `-- <iterations>`). Std only: every call is timed with `Instant`, and the
//! median, percentiles and mean are reported.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use retail_domain::money::Money;
use retail_domain::points::PointsRules;
use retail_domain::pricing::{
    price_basket, Audience, BasketLine, Coupon, CouponRule, MemberContext, PricingInput,
    PricingSettings, Promotion, PromotionRule, ReductionTier, Scope, SkuPrice, Stacking,
    TillRounding,
};

const MEMBER: Uuid = Uuid::from_u128(0xABCD);

fn sku(n: u32) -> Uuid {
    Uuid::from_u128(0x1000 + u128::from(n))
}

fn fen(n: i64) -> Money {
    Money::from_fen(n)
}

/// Category paths: (top, sub).
const CATEGORIES: [(&str, &str); 10] = [
    ("FOOD", "FOOD-SNACK"),
    ("FOOD", "FOOD-FRESH"),
    ("FOOD", "FOOD-DAIRY"),
    ("DRINK", "DRINK-SODA"),
    ("DRINK", "DRINK-TEA"),
    ("HOME", "HOME-CLEAN"),
    ("HOME", "HOME-KITCHEN"),
    ("APPAREL", "APPAREL-TOP"),
    ("APPAREL", "APPAREL-BOTTOM"),
    ("DIGITAL", "DIGITAL-ACC"),
];

const BRANDS: [&str; 10] = [
    "光明",
    "蒙牛",
    "农夫山泉",
    "可口可乐",
    "蓝月亮",
    "苏泊尔",
    "优衣库",
    "李宁",
    "小米",
    "三只松鼠",
];

fn basket() -> Vec<BasketLine> {
    (0..50u32)
        .map(|i| {
            let (top, sub) = CATEGORIES[(i % 10) as usize];
            let weighed = i % 10 == 1 && i < 45; // fresh food by weight
            let price = 200 + i64::from((i * 7_919) % 29_800); // ¥2.00 … ¥300.00
            BasketLine {
                line_no: i + 1,
                sku_id: sku(i),
                categories: vec![top.to_owned(), sub.to_owned(), format!("{sub}-{}", i % 3)],
                brand: BRANDS[(i % 10) as usize].to_owned(),
                qty: if weighed {
                    350 + i64::from(i) * 37
                } else {
                    1 + i64::from(i % 4)
                },
                weighed,
                price: fen(price),
                store_price: (i % 9 == 0).then(|| fen(price - price / 20)),
                member_price: (i % 5 == 0).then(|| fen(price - price / 10)),
            }
        })
        .collect()
}

fn promotions() -> Vec<Promotion> {
    let start = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    let end = Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap();
    let mut n = 0u128;
    let mut p = |name: &str, scope: Scope, rule: PromotionRule, exclusive: bool| {
        n += 1;
        Promotion {
            id: Uuid::from_u128(0x2000 + n),
            name_zh: name.to_owned(),
            name_en: name.to_owned(),
            starts_at: start,
            ends_at: end,
            stores: vec![],
            audience: Audience::Everyone,
            scope,
            rule,
            stacking: if exclusive {
                Stacking::Exclusive
            } else {
                Stacking::Stackable
            },
            priority: (n % 3) as i32,
        }
    };
    let sale = |skus: &[u32], pct: i64| PromotionRule::SalePrice {
        prices: skus
            .iter()
            .map(|&s| SkuPrice {
                sku_id: sku(s),
                price: fen((200 + i64::from((s * 7_919) % 29_800)) * pct / 100),
            })
            .collect(),
    };
    let red = |tiers: &[(i64, i64)], repeat: bool| PromotionRule::FullReduction {
        tiers: tiers
            .iter()
            .map(|&(t, r)| ReductionTier {
                threshold: fen(t * 100),
                reduction: fen(r * 100),
            })
            .collect(),
        repeat,
    };
    let pct = |f: i64, min: i64| PromotionRule::PercentOff {
        price_factor: Decimal::new(f, 2),
        min_spend: fen(min * 100),
    };
    let cats = |c: &[&str]| Scope::categories(c.iter().copied());
    let brand = |b: &str| Scope {
        brands: vec![b.to_owned()],
        ..Scope::default()
    };
    let mut v = vec![
        p("秒杀", Scope::default(), sale(&[3, 17, 29], 30), true),
        p(
            "金卡专享价",
            Scope::default(),
            sale(&[4, 8, 15, 16, 23], 85),
            false,
        ),
        p(
            "周末特价",
            Scope::default(),
            sale(&[5, 12, 19, 26, 33, 40], 80),
            false,
        ),
        p(
            "门店特价",
            Scope::default(),
            sale(&[6, 13, 20, 27], 75),
            false,
        ),
        p(
            "全场满减",
            Scope::default(),
            red(&[(300, 30), (500, 60), (1000, 150)], false),
            false,
        ),
        p("食品满减", cats(&["FOOD"]), red(&[(100, 10)], false), false),
        p("饮料每满减", cats(&["DRINK"]), red(&[(50, 5)], true), false),
        p("家居满减", cats(&["HOME"]), red(&[(200, 40)], false), true),
        p(
            "服饰满减",
            cats(&["APPAREL"]),
            red(&[(300, 50), (600, 120)], false),
            false,
        ),
        p("品牌满减", brand("三只松鼠"), red(&[(80, 8)], false), false),
        p("数码9折", cats(&["DIGITAL"]), pct(90, 0), false),
        p("光明8.8折", brand("光明"), pct(88, 0), true),
        p("零食满50享95折", cats(&["FOOD-SNACK"]), pct(95, 50), false),
        p("会员上衣98折", cats(&["APPAREL-TOP"]), pct(98, 0), false),
        p(
            "汽水买2送1",
            cats(&["DRINK-SODA"]),
            PromotionRule::BuyXGetY { buy: 2, get: 1 },
            false,
        ),
        p(
            "指定商品买1送1",
            Scope::skus([sku(7), sku(37), sku(47)]),
            PromotionRule::BuyXGetY { buy: 1, get: 1 },
            true,
        ),
        p(
            "清洁买3送1",
            cats(&["HOME-CLEAN"]),
            PromotionRule::BuyXGetY { buy: 3, get: 1 },
            false,
        ),
        p(
            "数码满500减50",
            cats(&["DIGITAL"]),
            red(&[(500, 50)], false),
            true,
        ),
        p("全场满800享99折", Scope::default(), pct(99, 800), false),
        p(
            "生鲜满60减6",
            cats(&["FOOD-FRESH"]),
            red(&[(60, 6)], false),
            false,
        ),
    ];
    v[1].audience = Audience::Tiers {
        tiers: vec!["gold".into(), "diamond".into()],
    };
    v[3].stores = vec!["SH001".into()];
    v[13].audience = Audience::Members;
    v
}

fn input() -> PricingInput {
    let from = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    let until = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
    let coupon = |n: u128, rule: CouponRule| Coupon {
        id: Uuid::from_u128(0x3000 + n),
        owner: MEMBER,
        name_zh: String::new(),
        name_en: String::new(),
        valid_from: from,
        valid_until: until,
        stores: vec![],
        scope: Scope::default(),
        rule,
        stacks_with_promotions: true,
        stacks_with_coupons: true,
    };
    PricingInput {
        store: "SH001".into(),
        at: Utc.with_ymd_and_hms(2026, 11, 11, 10, 30, 0).unwrap(),
        member: Some(MemberContext {
            member_id: MEMBER,
            tier: "gold".into(),
            points_balance: 50_000,
        }),
        lines: basket(),
        promotions: promotions(),
        coupons: vec![
            coupon(
                1,
                CouponRule::Percent {
                    price_factor: Decimal::new(95, 2),
                    min_spend: fen(10_000),
                    max_discount: Some(fen(5_000)),
                },
            ),
            coupon(
                2,
                CouponRule::Threshold {
                    min_spend: fen(50_000),
                    amount: fen(3_000),
                },
            ),
        ],
        points_to_redeem: 2_000,
        points_rules: PointsRules::default(),
        settings: PricingSettings {
            till_rounding: TillRounding::DownToJiao,
            ..PricingSettings::default()
        },
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx]
}

fn measure(label: &str, input: &PricingInput, iterations: usize) {
    let basket = match price_basket(input) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("the benchmark basket does not price: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "{label}: {} lines, {} promotions ({} applied, {} not applied), {} combinations \
         compared; subtotal ¥{}, discount ¥{}, total ¥{}, points ¥{}, due ¥{}",
        input.lines.len(),
        input.promotions.len(),
        basket.applied.len(),
        basket.not_applied.len(),
        basket.combinations_compared,
        basket.subtotal,
        basket.discount,
        basket.total,
        basket.points_value,
        basket.amount_due
    );
    for _ in 0..iterations / 10 {
        black_box(price_basket(black_box(input)).ok());
    }
    let mut times = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let t = Instant::now();
        let r = price_basket(black_box(input));
        times.push(t.elapsed());
        black_box(r.ok());
    }
    let mean = times.iter().sum::<Duration>() / iterations.max(1) as u32;
    times.sort_unstable();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "  {iterations} iterations: median {:.1} µs, p10 {:.1} µs, p90 {:.1} µs, p99 {:.1} µs, \
         mean {:.1} µs",
        us(percentile(&times, 0.5)),
        us(percentile(&times, 0.1)),
        us(percentile(&times, 0.9)),
        us(percentile(&times, 0.99)),
        us(mean),
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let iterations: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(20_000);
    // `stackable` or `exclusive` runs one scenario only (cargo passes `--bench` too).
    let only = args.iter().find(|a| *a == "stackable" || *a == "exclusive");
    let input = input();
    println!("target (issue 6): median ≤ 50 µs for a 50-line basket against 20 active promotions");
    if only.is_none_or(|o| o == "exclusive") {
        measure(
            "price_basket, 5 of the 20 promotions exclusive",
            &input,
            iterations,
        );
    }
    let mut stackable = input.clone();
    for p in &mut stackable.promotions {
        p.stacking = Stacking::Stackable;
    }
    if only.is_none_or(|o| o == "stackable") {
        measure(
            "price_basket, all 20 promotions stackable",
            &stackable,
            iterations,
        );
    }
}
