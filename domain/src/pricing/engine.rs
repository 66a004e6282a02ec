//! The engine: preparation of the input, the evaluation of one combination of promotions, the
//! search for the best combination, and the assembly of the priced basket.
//!
//! Everything runs on whole fen in `i64`. The input limits ([`super::validate`]) keep every sum
//! far below `i64::MAX` (at most 500 lines of at most ¥10¹⁰ each); products that may exceed it
//! (allocation, ratios) are computed in `i128`.

use rust_decimal::Decimal;
use uuid::Uuid;

use super::model::{
    BasketLine, Coupon, CouponRule, PricingInput, Promotion, PromotionRule, Scope, Stacking,
};
use super::result::{
    AppliedDiscount, Bilingual, DiscountKind, DiscountSource, LineDiscount, NotApplied,
    NotAppliedReason, PointsRedemption, PriceSource, PricedBasket, PricedLine, PricingError,
};
use super::text;
use super::validate::{check_line, MAX_COUPONS, MAX_LINES, MAX_PROMOTIONS};
use crate::money::{Money, Rounding};
use crate::points::{PointsError, Tier};

/// Most combinations of exclusive promotions evaluated for one basket. Up to this many, every
/// allowed combination is evaluated; beyond it a bounded local search is used.
pub const MAX_COMBINATIONS: usize = 128;

const NONE: u32 = u32::MAX;

// ---------------------------------------------------------------------------------------------
// Integer helpers
// ---------------------------------------------------------------------------------------------

/// `value × num / den` rounded to an integer with `rounding`, for `value ≥ 0`, `num ≥ 0`,
/// `den > 0`. Same result as [`Money::mul_ratio`] with the ratio `num / den` (in fen).
pub(super) fn mul_div(value: i64, num: i128, den: i128, rounding: Rounding) -> Option<i64> {
    if value < 0 || num < 0 || den <= 0 {
        return None;
    }
    let p = i128::from(value).checked_mul(num)?;
    let (q, r) = (p / den, p % den);
    let twice = r.checked_mul(2)?;
    let up = match rounding {
        Rounding::Down => false,
        Rounding::Up => r > 0,
        Rounding::HalfUp => twice >= den,
        Rounding::HalfEven => twice > den || (twice == den && q % 2 == 1),
    };
    i64::try_from(q + i128::from(up)).ok()
}

/// A decimal ratio as `(numerator, denominator)`; `None` if it is negative.
fn ratio(d: Decimal) -> Option<(i128, i128)> {
    let d = d.normalize();
    if d.is_sign_negative() {
        return None;
    }
    Some((d.mantissa(), 10i128.checked_pow(d.scale())?))
}

/// The amount of `qty` at `unit` (per unit, or per kg with `qty` in grams).
fn amount_for(unit: i64, qty: i64, weighed: bool, rounding: Rounding) -> Option<i64> {
    if weighed {
        mul_div(unit, i128::from(qty), 1000, rounding)
    } else {
        unit.checked_mul(qty)
    }
}

/// Largest total, weight sum and count for the fast path of [`allocate_into`]: quotients are
/// estimated in `f64` (exact to within a couple of units below 2⁵⁰) and corrected in integers,
/// and a remainder (below 2⁵⁴) packs with its index (below 512) into one `u64` sort key.
const FAST_TOTAL: i64 = 1 << 50;
const FAST_WEIGHT_SUM: i64 = 1 << 54;
const FAST_PRODUCT: i64 = 1 << 61;
const FAST_COUNT: usize = 512;

/// Splits `total` over `weights` exactly like [`Money::allocate`] (largest remainder, ties to
/// the lower index), writing the parts in fen into `out`. A fast integer path covers the usual
/// case (non-negative values of realistic size); anything else goes to [`Money::allocate`]
/// itself. The equivalence is a property test.
pub(super) fn allocate_into(total: i64, weights: &[i64], out: &mut Vec<i64>, keys: &mut Vec<u64>) {
    out.clear();
    let n = weights.len();
    if n == 0 {
        return;
    }
    let weight_sum = weights
        .iter()
        .try_fold(0i64, |a, &w| if w < 0 { None } else { a.checked_add(w) });
    let fast = weight_sum.filter(|&ws| {
        (0..FAST_TOTAL).contains(&total)
            && ws < FAST_WEIGHT_SUM
            && n < FAST_COUNT
            && total.checked_mul(ws).is_some_and(|p| p < FAST_PRODUCT)
    });
    let Some(ws) = fast else {
        out.extend(
            Money::from_fen(total)
                .allocate(weights)
                .iter()
                .map(Money::fen),
        );
        return;
    };
    if ws == 0 {
        let n64 = n as i64;
        let (base, extra) = (total / n64, total % n64);
        out.extend((0..n64).map(|i| base + i64::from(i < extra)));
        return;
    }
    keys.clear();
    let inv = 1.0 / ws as f64;
    let mut assigned = 0i64;
    for (i, &w) in weights.iter().enumerate() {
        let p = total * w;
        // Estimate, then correct to the exact floor and remainder.
        let mut q = (p as f64 * inv) as i64;
        let mut r = p - q * ws;
        while r < 0 {
            q -= 1;
            r += ws;
        }
        while r >= ws {
            q += 1;
            r -= ws;
        }
        out.push(q);
        assigned += q;
        // Larger remainder first, then lower index.
        keys.push(((r as u64) << 9) | (FAST_COUNT - 1 - i) as u64);
    }
    let leftover = usize::try_from(total - assigned).unwrap_or(0).min(n);
    let mut bump = |key: u64| {
        let i = FAST_COUNT - 1 - (key & (FAST_COUNT as u64 - 1)) as usize;
        if let Some(p) = out.get_mut(i) {
            *p += 1;
        }
    };
    match leftover {
        0 => {}
        1 => {
            if let Some(&k) = keys.iter().max() {
                bump(k);
            }
        }
        _ => {
            if leftover < n {
                keys.select_nth_unstable(n - leftover);
            }
            for &k in &keys[n - leftover..] {
                bump(k);
            }
        }
    }
}

/// FNV-1a, to compare category and brand names quickly.
fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn bloom_bit(h: u64) -> u64 {
    1u64 << (h >> 58)
}

// ---------------------------------------------------------------------------------------------
// Prepared input
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BaseKind {
    Chain,
    Store,
    Member,
    Tier,
}

#[derive(Clone, Copy, Debug)]
struct Price {
    unit: i64,
    amount: i64,
}

struct LineData<'a> {
    line: &'a BasketLine,
    list: Price,
    /// The best price that needs no promotion (list, member or tier price).
    base: Price,
    base_kind: BaseKind,
    /// Range of this line's sale candidates in `Ctx::sale_cands`.
    sales: (usize, usize),
    /// Range of this line's category hashes in `Ctx::cat_hashes`.
    cats: (usize, usize),
    cat_bloom: u64,
    brand_hash: u64,
}

struct SaleCand {
    line: u32,
    promo: u32,
    price: Price,
}

enum Rule {
    Sale,
    Reduction {
        tiers: Vec<(i64, i64)>,
        repeat: bool,
    },
    Percent {
        num: i128,
        den: i128,
        min_spend: i64,
    },
    Bxgy {
        buy: i64,
        get: i64,
    },
}

struct PromoData<'a> {
    p: &'a Promotion,
    rule: Rule,
    exclusive: bool,
    /// Lines it covers (ascending); for sale prices only those where its price beats the base.
    eligible: Vec<u32>,
    /// Whether it can possibly apply (its condition is met at the base prices).
    viable: bool,
}

enum CRule {
    Fixed {
        min_spend: i64,
        amount: i64,
    },
    Percent {
        num: i128,
        den: i128,
        min_spend: i64,
        max: Option<i64>,
    },
}

struct CouponData<'a> {
    c: &'a Coupon,
    rule: CRule,
    eligible: Vec<u32>,
}

struct Ctx<'a> {
    input: &'a PricingInput,
    rounding: Rounding,
    tier: Option<&'a Tier>,
    lines: Vec<LineData<'a>>,
    cat_hashes: Vec<u64>,
    sale_cands: Vec<SaleCand>,
    promos: Vec<PromoData<'a>>,
    coupons: Vec<CouponData<'a>>,
    /// Indices into `promos` of the viable exclusive promotions.
    exclusives: Vec<u32>,
    /// `conflicts[i * k + j]`: exclusives `i` and `j` cover a common line.
    conflicts: Vec<bool>,
    /// By step id (a promotion's index, or `promos.len()` + a coupon's index): whether a later
    /// step needs this step's per-line shares. See [`Ctx::plan_allocations`].
    step_needs: Vec<bool>,
    /// By step id: the earlier steps that may skip their allocation and whose lines all lie
    /// within this step's lines; their discounts are deducted from this step's sum.
    step_deduct: Vec<Vec<u32>>,
}

struct ScopeKeys<'s> {
    scope: &'s Scope,
    cats: Vec<u64>,
    cat_bloom: u64,
    brands: Vec<u64>,
    ex_cats: Vec<u64>,
    ex_bloom: u64,
}

impl<'s> ScopeKeys<'s> {
    fn new(scope: &'s Scope) -> Self {
        let hash = |v: &[String]| -> (Vec<u64>, u64) {
            let hs: Vec<u64> = v.iter().map(|s| fnv(s)).collect();
            let bloom = hs.iter().fold(0, |b, &h| b | bloom_bit(h));
            (hs, bloom)
        };
        let (cats, cat_bloom) = hash(&scope.categories);
        let (brands, _) = hash(&scope.brands);
        let (ex_cats, ex_bloom) = hash(&scope.exclude_categories);
        ScopeKeys {
            scope,
            cats,
            cat_bloom,
            brands,
            ex_cats,
            ex_bloom,
        }
    }
}

impl<'a> Ctx<'a> {
    fn new(input: &'a PricingInput) -> Result<Ctx<'a>, PricingError> {
        let rounding = input.settings.rounding;
        if input.lines.len() > MAX_LINES {
            return Err(PricingError::InvalidBasket(format!(
                "{} lines (at most {MAX_LINES})",
                input.lines.len()
            )));
        }
        // Canonical line order: by line number (results never depend on the input order).
        let mut order: Vec<&BasketLine> = input.lines.iter().collect();
        order.sort_by_key(|l| l.line_no);
        for l in &order {
            check_line(l)?;
        }
        if let Some(w) = order.windows(2).find(|w| w[0].line_no == w[1].line_no) {
            return Err(PricingError::DuplicateLine(w[0].line_no));
        }

        input
            .points_rules
            .validate()
            .map_err(|e| PricingError::InvalidPointsRules(points_reason(e)))?;
        let tier = match &input.member {
            Some(m) => Some(
                input
                    .points_rules
                    .tier(&m.tier)
                    .ok_or_else(|| PricingError::UnknownTier(m.tier.clone()))?,
            ),
            None => None,
        };
        check_points_request(input)?;

        // Lines: list, member and tier prices; category keys.
        let mut lines = Vec::with_capacity(order.len());
        let mut cat_hashes = Vec::new();
        let tier_ratio = match tier {
            Some(t) if t.discount < Decimal::ONE => {
                Some(ratio(t.discount).ok_or(PricingError::Overflow)?)
            }
            _ => None,
        };
        for line in order {
            let (list_unit, list_kind) = match line.store_price {
                Some(p) => (p.fen(), BaseKind::Store),
                None => (line.price.fen(), BaseKind::Chain),
            };
            let amount = |unit: i64| {
                amount_for(unit, line.qty, line.weighed, rounding).ok_or(PricingError::Overflow)
            };
            let list = Price {
                unit: list_unit,
                amount: amount(list_unit)?,
            };
            let (mut base, mut base_kind) = (list, list_kind);
            if let (Some(_), Some(mp)) = (&input.member, line.member_price) {
                let p = Price {
                    unit: mp.fen(),
                    amount: amount(mp.fen())?,
                };
                if p.amount < base.amount {
                    (base, base_kind) = (p, BaseKind::Member);
                }
            }
            if let Some((num, den)) = tier_ratio {
                let unit = mul_div(list_unit, num, den, rounding).ok_or(PricingError::Overflow)?;
                let p = Price {
                    unit,
                    amount: amount(unit)?,
                };
                if p.amount < base.amount {
                    (base, base_kind) = (p, BaseKind::Tier);
                }
            }
            let start = cat_hashes.len();
            let mut cat_bloom = 0;
            for c in &line.categories {
                let h = fnv(c);
                cat_bloom |= bloom_bit(h);
                cat_hashes.push(h);
            }
            lines.push(LineData {
                line,
                list,
                base,
                base_kind,
                sales: (0, 0),
                cats: (start, cat_hashes.len()),
                cat_bloom,
                brand_hash: if line.brand.is_empty() {
                    0
                } else {
                    fnv(&line.brand)
                },
            });
        }

        let mut ctx = Ctx {
            input,
            rounding,
            tier,
            lines,
            cat_hashes,
            sale_cands: Vec::new(),
            promos: Vec::new(),
            coupons: Vec::new(),
            exclusives: Vec::new(),
            conflicts: Vec::new(),
            step_needs: Vec::new(),
            step_deduct: Vec::new(),
        };
        let mut sku_index: Vec<(Uuid, u32)> = ctx
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| (l.line.sku_id, i as u32))
            .collect();
        sku_index.sort_unstable();
        let mut mark = vec![false; ctx.lines.len()];

        ctx.prepare_promotions(&sku_index, &mut mark)?;
        ctx.prepare_coupons(&sku_index, &mut mark)?;
        ctx.prepare_exclusives();
        ctx.plan_allocations();
        Ok(ctx)
    }

    fn prepare_promotions(
        &mut self,
        sku_index: &[(Uuid, u32)],
        mark: &mut [bool],
    ) -> Result<(), PricingError> {
        let input = self.input;
        if input.promotions.len() > MAX_PROMOTIONS {
            return Err(PricingError::TooMany {
                what: "promotions",
                count: input.promotions.len(),
                max: MAX_PROMOTIONS,
            });
        }
        let mut all: Vec<&Promotion> = input.promotions.iter().collect();
        all.sort_by_key(|p| p.id);
        for p in &all {
            p.validate()?;
        }
        if let Some(w) = all.windows(2).find(|w| w[0].id == w[1].id) {
            return Err(PricingError::DuplicatePromotion(w[0].id));
        }
        let tier_code = input.member.as_ref().map(|m| m.tier.as_str());
        let stage = |r: &PromotionRule| match r {
            PromotionRule::SalePrice { .. } => 0u8,
            PromotionRule::PercentOff { .. } | PromotionRule::BuyXGetY { .. } => 1,
            PromotionRule::FullReduction { .. } => 2,
        };
        let mut active: Vec<&Promotion> = all
            .into_iter()
            .filter(|p| p.is_active(input.at, &input.store, tier_code))
            .collect();
        active.sort_by_key(|p| (stage(&p.rule), p.priority, p.id));

        let mut cands: Vec<SaleCand> = Vec::new();
        for p in active {
            let keys = ScopeKeys::new(&p.scope);
            self.mark_scope(&keys, sku_index, mark);
            let rule = match &p.rule {
                PromotionRule::SalePrice { .. } => Rule::Sale,
                PromotionRule::FullReduction { tiers, repeat } => Rule::Reduction {
                    tiers: tiers
                        .iter()
                        .map(|t| (t.threshold.fen(), t.reduction.fen()))
                        .collect(),
                    repeat: *repeat,
                },
                PromotionRule::PercentOff {
                    price_factor,
                    min_spend,
                } => {
                    let (num, den) = ratio(*price_factor).ok_or(PricingError::Overflow)?;
                    Rule::Percent {
                        num,
                        den,
                        min_spend: min_spend.fen(),
                    }
                }
                PromotionRule::BuyXGetY { buy, get } => Rule::Bxgy {
                    buy: i64::from(*buy),
                    get: i64::from(*get),
                },
            };
            let promo_idx = self.promos.len() as u32;
            let eligible: Vec<u32> = match &p.rule {
                PromotionRule::SalePrice { prices } => {
                    let mut lines = Vec::new();
                    for sp in prices {
                        for &(_, li) in sku_range(sku_index, sp.sku_id) {
                            let Some(ld) = self.lines.get(li as usize) else {
                                continue;
                            };
                            if !mark[li as usize] {
                                continue;
                            }
                            let unit = sp.price.fen();
                            let amount =
                                amount_for(unit, ld.line.qty, ld.line.weighed, self.rounding)
                                    .ok_or(PricingError::Overflow)?;
                            if amount < ld.base.amount {
                                cands.push(SaleCand {
                                    line: li,
                                    promo: promo_idx,
                                    price: Price { unit, amount },
                                });
                                lines.push(li);
                            }
                        }
                    }
                    lines.sort_unstable();
                    lines.dedup();
                    lines
                }
                PromotionRule::BuyXGetY { .. } => (0..self.lines.len())
                    .filter(|&i| mark[i] && !self.lines[i].line.weighed)
                    .map(|i| i as u32)
                    .collect(),
                _ => (0..self.lines.len())
                    .filter(|&i| mark[i])
                    .map(|i| i as u32)
                    .collect(),
            };
            if eligible.is_empty() {
                continue;
            }
            let base_sum: i64 = eligible
                .iter()
                .map(|&l| self.lines[l as usize].base.amount)
                .sum();
            let viable = match &rule {
                Rule::Sale => true,
                Rule::Reduction { tiers, .. } => tiers.first().is_some_and(|&(t, _)| base_sum >= t),
                Rule::Percent { min_spend, .. } => base_sum > 0 && base_sum >= *min_spend,
                Rule::Bxgy { buy, get } => {
                    let units: i64 = eligible
                        .iter()
                        .map(|&l| self.lines[l as usize].line.qty)
                        .sum();
                    units >= buy + get && base_sum > 0
                }
            };
            self.promos.push(PromoData {
                p,
                rule,
                exclusive: p.stacking == Stacking::Exclusive,
                eligible,
                viable,
            });
        }
        cands.sort_unstable_by_key(|c| (c.line, c.promo));
        let mut start = 0;
        for (li, ld) in self.lines.iter_mut().enumerate() {
            let end = start
                + cands[start..]
                    .iter()
                    .take_while(|c| c.line as usize == li)
                    .count();
            ld.sales = (start, end);
            start = end;
        }
        self.sale_cands = cands;
        Ok(())
    }

    fn prepare_coupons(
        &mut self,
        sku_index: &[(Uuid, u32)],
        mark: &mut [bool],
    ) -> Result<(), PricingError> {
        let input = self.input;
        if input.coupons.len() > MAX_COUPONS {
            return Err(PricingError::TooMany {
                what: "coupons",
                count: input.coupons.len(),
                max: MAX_COUPONS,
            });
        }
        let mut all: Vec<&Coupon> = input.coupons.iter().collect();
        all.sort_by_key(|c| c.id);
        if let Some(w) = all.windows(2).find(|w| w[0].id == w[1].id) {
            return Err(PricingError::DuplicateCoupon(w[0].id));
        }
        for c in &all {
            c.validate()?;
            let Some(member) = &input.member else {
                return Err(PricingError::CouponWithoutMember(c.id));
            };
            if c.owner != member.member_id {
                return Err(PricingError::ForeignCoupon(c.id));
            }
            if input.at < c.valid_from {
                return Err(PricingError::CouponNotYetValid {
                    id: c.id,
                    valid_from: c.valid_from,
                });
            }
            if input.at >= c.valid_until {
                return Err(PricingError::CouponExpired {
                    id: c.id,
                    valid_until: c.valid_until,
                });
            }
            if !c.stores.is_empty() && !c.stores.contains(&input.store) {
                return Err(PricingError::CouponWrongStore {
                    id: c.id,
                    store: input.store.clone(),
                });
            }
            if all.len() > 1 && !c.stacks_with_coupons {
                return Err(PricingError::CouponsDoNotStack(c.id));
            }
        }
        // Percentage coupons first (they are worth more before fixed amounts), then 满减券,
        // then 无门槛券; by id within a kind.
        let rank = |c: &Coupon| match c.rule {
            CouponRule::Percent { .. } => 0u8,
            CouponRule::Threshold { .. } => 1,
            CouponRule::NoThreshold { .. } => 2,
        };
        all.sort_by_key(|c| (rank(c), c.id));
        for c in all {
            let keys = ScopeKeys::new(&c.scope);
            self.mark_scope(&keys, sku_index, mark);
            let eligible: Vec<u32> = (0..self.lines.len())
                .filter(|&i| mark[i])
                .map(|i| i as u32)
                .collect();
            if eligible.is_empty() {
                return Err(PricingError::CouponOutOfScope(c.id));
            }
            let rule = match &c.rule {
                CouponRule::Threshold { min_spend, amount } => CRule::Fixed {
                    min_spend: min_spend.fen(),
                    amount: amount.fen(),
                },
                CouponRule::NoThreshold { amount } => CRule::Fixed {
                    min_spend: 0,
                    amount: amount.fen(),
                },
                CouponRule::Percent {
                    price_factor,
                    min_spend,
                    max_discount,
                } => {
                    let (num, den) = ratio(*price_factor).ok_or(PricingError::Overflow)?;
                    CRule::Percent {
                        num,
                        den,
                        min_spend: min_spend.fen(),
                        max: max_discount.map(|m| m.fen()),
                    }
                }
            };
            self.coupons.push(CouponData { c, rule, eligible });
        }
        Ok(())
    }

    fn prepare_exclusives(&mut self) {
        self.exclusives = self
            .promos
            .iter()
            .enumerate()
            .filter(|(_, p)| p.exclusive && p.viable)
            .map(|(i, _)| i as u32)
            .collect();
        let k = self.exclusives.len();
        self.conflicts = vec![false; k * k];
        for i in 0..k {
            for j in (i + 1)..k {
                let a = &self.promos[self.exclusives[i] as usize].eligible;
                let b = &self.promos[self.exclusives[j] as usize].eligible;
                if sorted_intersect(a, b) {
                    self.conflicts[i * k + j] = true;
                    self.conflicts[j * k + i] = true;
                }
            }
        }
    }

    /// Decides which steps must allocate their discount to their lines during the search.
    ///
    /// A step's per-line shares matter to a later step that reads per-line amounts (one that
    /// allocates itself, or a buy X get Y) or that covers only part of its lines. When every
    /// later step either never shares a line with it in any combination (exclusive promotions
    /// own their lines; a promotion's lines are all taken out of a coupon that does not stack
    /// with promotions) or covers all of its lines and only reads their sum, the step may skip
    /// the allocation while searching: those later steps deduct its discount from their sum
    /// instead. The final evaluation always allocates. Planned only for up to 64 steps; beyond
    /// that every step allocates.
    fn plan_allocations(&mut self) {
        let np = self.promos.len();
        let m = np + self.coupons.len();
        self.step_needs = vec![true; m];
        self.step_deduct = vec![Vec::new(); m];
        struct Info<'e> {
            id: usize,
            eligible: &'e [u32],
            exclusive: bool,
            promo: bool,
            bxgy: bool,
            /// 0: not a coupon, 1: stacks with promotions, 2: does not.
            coupon: u8,
        }
        let mut steps: Vec<Info<'_>> = Vec::new();
        for (i, p) in self.promos.iter().enumerate() {
            if matches!(p.rule, Rule::Sale) || !p.viable {
                continue;
            }
            steps.push(Info {
                id: i,
                eligible: &p.eligible,
                exclusive: p.exclusive,
                promo: true,
                bxgy: matches!(p.rule, Rule::Bxgy { .. }),
                coupon: 0,
            });
        }
        for (i, c) in self.coupons.iter().enumerate() {
            steps.push(Info {
                id: np + i,
                eligible: &c.eligible,
                exclusive: false,
                promo: false,
                bxgy: false,
                coupon: if c.c.stacks_with_promotions { 1 } else { 2 },
            });
        }
        if steps.len() > 64 {
            return;
        }
        // Whether a later step `t` can ever share a line with `s`, and if so whether `t`
        // covers all of them.
        let shares = |s: &Info<'_>, t: &Info<'_>| -> bool {
            !(s.exclusive || t.exclusive || (s.promo && t.coupon == 2))
                && sorted_intersect(s.eligible, t.eligible)
        };
        let covers = |s: &Info<'_>, t: &Info<'_>| -> bool {
            sorted_subset(s.eligible, t.eligible) && !(s.coupon == 1 && t.coupon == 2)
        };
        let mut needs = vec![false; steps.len()];
        for j in (0..steps.len()).rev() {
            needs[j] = (j + 1..steps.len()).any(|k| {
                shares(&steps[j], &steps[k])
                    && !(covers(&steps[j], &steps[k]) && !needs[k] && !steps[k].bxgy)
            });
        }
        for (j, s) in steps.iter().enumerate() {
            self.step_needs[s.id] = needs[j];
            if needs[j] {
                continue;
            }
            for t in &steps[j + 1..] {
                if shares(s, t) {
                    self.step_deduct[t.id].push(s.id as u32);
                }
            }
        }
    }

    /// Sets `mark[i]` for every line in the scope.
    fn mark_scope(&self, keys: &ScopeKeys<'_>, sku_index: &[(Uuid, u32)], mark: &mut [bool]) {
        let scope = keys.scope;
        if scope.is_whole_basket() {
            mark.fill(true);
        } else {
            mark.fill(false);
            for sku in &scope.skus {
                for &(_, li) in sku_range(sku_index, *sku) {
                    if let Some(m) = mark.get_mut(li as usize) {
                        *m = true;
                    }
                }
            }
            if !scope.categories.is_empty() || !scope.brands.is_empty() {
                for (i, m) in mark.iter_mut().enumerate() {
                    if *m {
                        continue;
                    }
                    let ld = &self.lines[i];
                    *m = self.in_categories(i, &keys.cats, &scope.categories, keys.cat_bloom)
                        || (ld.brand_hash != 0
                            && keys
                                .brands
                                .iter()
                                .zip(&scope.brands)
                                .any(|(&h, b)| h == ld.brand_hash && *b == ld.line.brand));
                }
            }
        }
        for sku in &scope.exclude_skus {
            for &(_, li) in sku_range(sku_index, *sku) {
                if let Some(m) = mark.get_mut(li as usize) {
                    *m = false;
                }
            }
        }
        if !scope.exclude_categories.is_empty() {
            for (i, m) in mark.iter_mut().enumerate() {
                if *m
                    && self.in_categories(
                        i,
                        &keys.ex_cats,
                        &scope.exclude_categories,
                        keys.ex_bloom,
                    )
                {
                    *m = false;
                }
            }
        }
    }

    fn in_categories(&self, li: usize, hashes: &[u64], names: &[String], bloom: u64) -> bool {
        let ld = &self.lines[li];
        if ld.cat_bloom & bloom == 0 {
            return false;
        }
        let line_hashes = &self.cat_hashes[ld.cats.0..ld.cats.1];
        line_hashes
            .iter()
            .zip(&ld.line.categories)
            .any(|(h, name)| {
                hashes
                    .iter()
                    .zip(names)
                    .any(|(sh, sname)| sh == h && sname == name)
            })
    }
}

fn sku_range(index: &[(Uuid, u32)], sku: Uuid) -> &[(Uuid, u32)] {
    let start = index.partition_point(|(s, _)| *s < sku);
    let len = index[start..].partition_point(|(s, _)| *s == sku);
    &index[start..start + len]
}

/// Every element of sorted `a` is in sorted `b`.
fn sorted_subset(a: &[u32], b: &[u32]) -> bool {
    let mut j = 0;
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j == b.len() || b[j] != x {
            return false;
        }
    }
    true
}

fn sorted_intersect(a: &[u32], b: &[u32]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => return true,
        }
    }
    false
}

fn points_reason(e: PointsError) -> String {
    match e {
        PointsError::InvalidRules(r) => r,
        other => other.to_string(),
    }
}

fn check_points_request(input: &PricingInput) -> Result<(), PricingError> {
    let p = input.points_to_redeem;
    if p < 0 {
        return Err(PricingError::NegativePoints);
    }
    if p == 0 {
        return Ok(());
    }
    let Some(m) = &input.member else {
        return Err(PricingError::PointsWithoutMember);
    };
    if p > m.points_balance {
        return Err(PricingError::InsufficientPoints {
            requested: p,
            balance: m.points_balance,
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Evaluation of one combination
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Scratch {
    running: Vec<i64>,
    claimed: Vec<u32>,
    touched: Vec<bool>,
    choice: Vec<u32>,
    lines: Vec<u32>,
    weights: Vec<i64>,
    parts: Vec<i64>,
    rem: Vec<u64>,
    allocs: Vec<(u32, i64)>,
    /// Lean evaluation: the discount of each step that skipped its allocation (by step id).
    skipped: Vec<i64>,
}

/// How good a combination is for the shopper: first that every chosen coupon applies, then
/// the total discount.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Score {
    coupons_ok: bool,
    discount: i64,
}

enum StepSrc {
    Promo(u32),
    Coupon(u32),
}

struct Step {
    src: StepSrc,
    amount: i64,
    lines: Vec<u32>,
    allocs: Vec<(u32, i64)>,
    explanation: Bilingual,
}

enum CouponFail {
    Blocked,
    Threshold { min_spend: i64, eligible: i64 },
}

#[derive(Default)]
struct Detail {
    steps: Vec<Step>,
    hints: Vec<(u32, NotAppliedReason)>,
    coupon_fail: Vec<(u32, CouponFail)>,
}

impl Scratch {
    /// Spreads `d` over `self.lines` in proportion to their running amounts, writing the shares
    /// to `self.allocs` and taking them off the running amounts.
    fn spread(&mut self, d: i64) {
        let Scratch {
            running,
            lines,
            weights,
            parts,
            rem,
            allocs,
            ..
        } = self;
        weights.clear();
        weights.extend(lines.iter().map(|&l| running[l as usize]));
        allocate_into(d, weights, parts, rem);
        allocs.clear();
        for (&l, &part) in lines.iter().zip(parts.iter()) {
            if part != 0 {
                running[l as usize] -= part;
                allocs.push((l, part));
            }
        }
    }
}

impl Ctx<'_> {
    /// Prices the basket with the exclusive promotions `on` (indexed like `promos`; stackable
    /// ones always apply) and answers the score. With `detail`, records every step exactly;
    /// without (the search), steps whose per-line shares no later step needs skip their
    /// allocation (see [`Ctx::plan_allocations`]) — the score is the same.
    fn evaluate(&self, on: &[bool], s: &mut Scratch, mut detail: Option<&mut Detail>) -> Score {
        let n = self.lines.len();
        s.claimed.clear();
        s.claimed.resize(n, NONE);
        for &pi in &self.exclusives {
            if on[pi as usize] {
                for &l in &self.promos[pi as usize].eligible {
                    s.claimed[l as usize] = pi;
                }
            }
        }
        s.skipped.clear();
        s.skipped.resize(self.step_needs.len(), 0);
        // Stage 1: unit prices. The lowest of the base price and the allowed sale prices.
        s.running.clear();
        s.touched.clear();
        s.choice.clear();
        let mut discount = 0i64;
        for (li, ld) in self.lines.iter().enumerate() {
            let mut best = ld.base.amount;
            let mut choice = NONE;
            let claim = s.claimed[li];
            for ci in ld.sales.0..ld.sales.1 {
                let c = &self.sale_cands[ci];
                if ((claim == NONE && !self.promos[c.promo as usize].exclusive) || claim == c.promo)
                    && c.price.amount < best
                {
                    best = c.price.amount;
                    choice = ci as u32;
                }
            }
            s.running.push(best);
            s.touched.push(choice != NONE);
            s.choice.push(choice);
            discount += ld.list.amount - best;
        }
        // Stages 2 and 3: item promotions, then order promotions, by priority.
        for (pi, p) in self.promos.iter().enumerate() {
            let off = p.exclusive && !on[pi];
            if let Rule::Sale = p.rule {
                if let Some(d) = detail.as_deref_mut() {
                    if off && p.viable {
                        d.hints
                            .push((pi as u32, NotAppliedReason::NotInBestCombination));
                    }
                }
                continue;
            }
            if !p.viable {
                if let Some(d) = detail.as_deref_mut() {
                    if let Some(h) = self.hint(pi, s) {
                        d.hints.push((pi as u32, h));
                    }
                }
                continue;
            }
            if off {
                if let Some(d) = detail.as_deref_mut() {
                    d.hints
                        .push((pi as u32, NotAppliedReason::NotInBestCombination));
                }
                continue;
            }
            discount += self.apply_promo(pi, s, detail.as_deref_mut());
        }
        // Stage 4: coupons.
        let mut coupons_ok = true;
        for ci in 0..self.coupons.len() {
            match self.apply_coupon(ci, s, detail.as_deref_mut()) {
                Ok(d) => discount += d,
                Err(f) => {
                    coupons_ok = false;
                    if let Some(d) = detail.as_deref_mut() {
                        d.coupon_fail.push((ci as u32, f));
                    }
                }
            }
        }
        Score {
            coupons_ok,
            discount,
        }
    }

    /// What a promotion that cannot apply lacks, over all its lines.
    fn hint(&self, pi: usize, s: &Scratch) -> Option<NotAppliedReason> {
        let p = &self.promos[pi];
        let sum: i64 = p.eligible.iter().map(|&l| s.running[l as usize]).sum();
        match &p.rule {
            Rule::Reduction { tiers, .. } => tiers.first().and_then(|&(t, _)| {
                (t > sum).then(|| NotAppliedReason::SpendMore {
                    short_by: Money::from_fen(t - sum),
                })
            }),
            Rule::Percent { min_spend, .. } => {
                (*min_spend > sum).then(|| NotAppliedReason::SpendMore {
                    short_by: Money::from_fen(min_spend - sum),
                })
            }
            Rule::Bxgy { buy, get } => {
                let units: i64 = p
                    .eligible
                    .iter()
                    .map(|&l| self.lines[l as usize].line.qty)
                    .sum();
                (units < buy + get).then(|| NotAppliedReason::AddItems {
                    units: buy + get - units,
                })
            }
            Rule::Sale => None,
        }
    }

    /// The discounts of earlier steps that skipped their allocation and whose lines are all
    /// among this step's lines (0 in an exact evaluation).
    fn deduction(&self, step: usize, s: &Scratch) -> i64 {
        self.step_deduct[step]
            .iter()
            .map(|&j| s.skipped[j as usize])
            .sum()
    }

    fn apply_promo(&self, pi: usize, s: &mut Scratch, detail: Option<&mut Detail>) -> i64 {
        let p = &self.promos[pi];
        let me = pi as u32;
        let skip = detail.is_none() && !self.step_needs[pi];
        s.lines.clear();
        let mut sum = 0i64;
        let mut blocked = false;
        for &l in &p.eligible {
            let c = s.claimed[l as usize];
            if c != NONE && c != me {
                blocked = true;
                continue;
            }
            let r = s.running[l as usize];
            if r > 0 {
                s.lines.push(l);
                sum += r;
            }
        }
        sum -= self.deduction(pi, s);
        s.allocs.clear();
        let mut d = 0i64;
        let mut hint = None;
        let mut explanation = None;
        if sum <= 0 {
            if blocked {
                hint = Some(NotAppliedReason::BlockedByExclusive);
            }
        } else {
            match &p.rule {
                Rule::Reduction { tiers, repeat } => {
                    match tiers.iter().rposition(|&(t, _)| t <= sum) {
                        Some(k) => {
                            let (t, r) = tiers[k];
                            let times = if *repeat { sum / t } else { 1 };
                            d = r * times;
                            if detail.is_some() {
                                explanation = Some(text::reduction_applied(t, r, times, *repeat));
                            }
                        }
                        None => {
                            let t = tiers.first().map_or(0, |x| x.0);
                            hint = Some(NotAppliedReason::SpendMore {
                                short_by: Money::from_fen(t - sum),
                            });
                        }
                    }
                }
                Rule::Percent {
                    num,
                    den,
                    min_spend,
                } => {
                    if sum < *min_spend {
                        hint = Some(NotAppliedReason::SpendMore {
                            short_by: Money::from_fen(min_spend - sum),
                        });
                    } else {
                        let paid = mul_div(sum, *num, *den, self.rounding).unwrap_or(sum);
                        d = (sum - paid).clamp(0, sum);
                        if detail.is_some() {
                            explanation = Some(text::promotion_rule(&p.p.rule));
                        }
                    }
                }
                Rule::Bxgy { buy, get } => {
                    let group = buy + get;
                    let units: i64 = s
                        .lines
                        .iter()
                        .map(|&l| self.lines[l as usize].line.qty)
                        .sum();
                    let free = units / group * get;
                    if free == 0 {
                        hint = Some(NotAppliedReason::AddItems {
                            units: group - units,
                        });
                    } else {
                        d = self.cheapest_free(free, s);
                        if detail.is_some() {
                            explanation = Some(text::bxgy_applied(*buy, *get, free));
                        }
                    }
                }
                Rule::Sale => {}
            }
        }
        if d > 0 {
            for &l in &s.lines {
                s.touched[l as usize] = true;
            }
            if skip {
                s.skipped[pi] = d;
            } else if let Rule::Bxgy { .. } = p.rule {
                for &(l, a) in &s.allocs {
                    s.running[l as usize] -= a;
                }
            } else {
                s.spread(d);
            }
        }
        if let Some(det) = detail {
            match explanation {
                Some(e) if d > 0 => det.steps.push(Step {
                    src: StepSrc::Promo(me),
                    amount: d,
                    lines: s.lines.clone(),
                    allocs: s.allocs.clone(),
                    explanation: e,
                }),
                _ => {
                    if let Some(h) = hint {
                        det.hints.push((me, h));
                    }
                }
            }
        }
        d
    }

    /// The shares of making the `free` cheapest units of `s.lines` free (cheapest by running
    /// amount per unit, ties by line) into `s.allocs`; answers their sum. Running amounts are
    /// not changed.
    fn cheapest_free(&self, free: i64, s: &mut Scratch) -> i64 {
        let Scratch {
            running,
            lines,
            allocs,
            weights,
            ..
        } = s;
        let qty = |l: u32| self.lines[l as usize].line.qty;
        weights.clear();
        weights.extend(lines.iter().map(|&l| l as i64));
        weights.sort_unstable_by(|&a, &b| {
            let lhs = i128::from(running[a as usize]) * i128::from(qty(b as u32));
            let rhs = i128::from(running[b as usize]) * i128::from(qty(a as u32));
            lhs.cmp(&rhs).then(a.cmp(&b))
        });
        allocs.clear();
        let mut left = free;
        let mut total = 0;
        for &l in weights.iter() {
            if left <= 0 {
                break;
            }
            let l = l as u32;
            let q = qty(l);
            let k = left.min(q);
            let r = running[l as usize];
            let d = if k == q {
                r
            } else {
                mul_div(r, i128::from(k), i128::from(q), self.rounding)
                    .unwrap_or(0)
                    .clamp(0, r)
            };
            left -= k;
            if d > 0 {
                allocs.push((l, d));
                total += d;
            }
        }
        allocs.sort_unstable();
        total
    }

    fn apply_coupon(
        &self,
        ci: usize,
        s: &mut Scratch,
        detail: Option<&mut Detail>,
    ) -> Result<i64, CouponFail> {
        let c = &self.coupons[ci];
        let step = self.promos.len() + ci;
        let skip = detail.is_none() && !self.step_needs[step];
        s.lines.clear();
        let mut sum = 0i64;
        for &l in &c.eligible {
            let li = l as usize;
            if s.claimed[li] == NONE
                && (c.c.stacks_with_promotions || !s.touched[li])
                && s.running[li] > 0
            {
                s.lines.push(l);
                sum += s.running[li];
            }
        }
        sum -= self.deduction(step, s);
        if sum <= 0 {
            return Err(CouponFail::Blocked);
        }
        let d = match c.rule {
            CRule::Fixed { min_spend, amount } => {
                if sum < min_spend {
                    return Err(CouponFail::Threshold {
                        min_spend,
                        eligible: sum,
                    });
                }
                amount.min(sum)
            }
            CRule::Percent {
                num,
                den,
                min_spend,
                max,
            } => {
                if sum < min_spend {
                    return Err(CouponFail::Threshold {
                        min_spend,
                        eligible: sum,
                    });
                }
                let paid = mul_div(sum, num, den, self.rounding).unwrap_or(sum);
                let d = (sum - paid).clamp(0, sum);
                max.map_or(d, |m| d.min(m))
            }
        };
        if d > 0 {
            if skip {
                s.skipped[step] = d;
            } else {
                s.spread(d);
                if let Some(det) = detail {
                    det.steps.push(Step {
                        src: StepSrc::Coupon(ci as u32),
                        amount: d,
                        lines: s.lines.clone(),
                        allocs: s.allocs.clone(),
                        explanation: text::coupon_rule(&c.c.rule),
                    });
                }
            }
        }
        Ok(d)
    }

    // -----------------------------------------------------------------------------------------
    // The search
    // -----------------------------------------------------------------------------------------

    fn compatible(&self, i: usize, on: &[bool]) -> bool {
        let k = self.exclusives.len();
        (0..k).all(|j| j == i || !on[self.exclusives[j] as usize] || !self.conflicts[i * k + j])
    }

    /// Visits every set of mutually compatible exclusive promotions (depth first, including a
    /// promotion before leaving it out, in priority order) until `visit` answers false.
    fn each_combination(
        &self,
        i: usize,
        on: &mut [bool],
        visit: &mut dyn FnMut(&[bool]) -> bool,
    ) -> bool {
        let Some(&pi) = self.exclusives.get(i) else {
            return visit(on);
        };
        if self.compatible(i, on) {
            on[pi as usize] = true;
            let go_on = self.each_combination(i + 1, on, visit);
            on[pi as usize] = false;
            if !go_on {
                return false;
            }
        }
        self.each_combination(i + 1, on, visit)
    }

    /// The best combination of exclusive promotions and how many were evaluated.
    fn search(&self, s: &mut Scratch) -> (Vec<bool>, u32) {
        let mut on = vec![false; self.promos.len()];
        if self.exclusives.is_empty() {
            return (on, 1);
        }
        let mut count = 0usize;
        self.each_combination(0, &mut on, &mut |_| {
            count += 1;
            count <= MAX_COMBINATIONS
        });
        let mut best: Option<(Score, Vec<bool>)> = None;
        let mut evaluated = 0u32;
        if count <= MAX_COMBINATIONS {
            self.each_combination(0, &mut on, &mut |set| {
                let score = self.evaluate(set, s, None);
                evaluated += 1;
                if best.as_ref().is_none_or(|(b, _)| score > *b) {
                    best = Some((score, set.to_vec()));
                }
                true
            });
        } else {
            // Too many: start from the first (greedy) combination and improve it one exclusive
            // promotion at a time, within the same budget.
            let mut current = vec![false; self.promos.len()];
            self.each_combination(0, &mut on, &mut |set| {
                current.copy_from_slice(set);
                false
            });
            let mut score = self.evaluate(&current, s, None);
            evaluated = 1;
            let k = self.exclusives.len();
            'passes: for _ in 0..4 {
                let mut improved = false;
                for i in 0..k {
                    if evaluated as usize >= MAX_COMBINATIONS {
                        break 'passes;
                    }
                    let pi = self.exclusives[i] as usize;
                    let mut cand = current.clone();
                    if cand[pi] {
                        cand[pi] = false;
                    } else {
                        cand[pi] = true;
                        for j in 0..k {
                            if self.conflicts[i * k + j] {
                                cand[self.exclusives[j] as usize] = false;
                            }
                        }
                    }
                    let sc = self.evaluate(&cand, s, None);
                    evaluated += 1;
                    if sc > score {
                        score = sc;
                        current = cand;
                        improved = true;
                    }
                }
                if !improved {
                    break;
                }
            }
            best = Some((score, current));
        }
        let on = best.map(|(_, set)| set).unwrap_or(on);
        (on, evaluated.max(1))
    }

    // -----------------------------------------------------------------------------------------
    // The result
    // -----------------------------------------------------------------------------------------

    fn price(&self) -> Result<PricedBasket, PricingError> {
        let mut s = Scratch::default();
        let (on, evaluated) = self.search(&mut s);
        let mut detail = Detail::default();
        let score = self.evaluate(&on, &mut s, Some(&mut detail));
        if !score.coupons_ok {
            if let Some((ci, fail)) = detail.coupon_fail.first() {
                let id = self.coupons[*ci as usize].c.id;
                return Err(match fail {
                    CouponFail::Blocked => PricingError::CouponBlockedByPromotions(id),
                    CouponFail::Threshold {
                        min_spend,
                        eligible,
                    } => PricingError::CouponThresholdNotMet {
                        id,
                        min_spend: Money::from_fen(*min_spend),
                        eligible: Money::from_fen(*eligible),
                    },
                });
            }
        }
        let input = self.input;
        let n = self.lines.len();
        let rules = &input.points_rules;

        // Points (a payment) on the total after coupons, then till rounding on the amount due.
        let total_before: i64 = s.running.iter().sum();
        let max_redeemable = input.member.as_ref().map_or(0, |m| {
            rules.max_redeemable_points(m.points_balance, Money::from_fen(total_before))
        });
        let points = input.points_to_redeem;
        let mut points_value = 0i64;
        let mut points_alloc = vec![0i64; n];
        if points > 0 {
            let value = rules.redemption_value(points).map_err(|e| match e {
                PointsError::NotWholeFen { points, step } => {
                    PricingError::PointsNotWholeFen { points, step }
                }
                PointsError::InvalidRules(r) => PricingError::InvalidPointsRules(r),
                _ => PricingError::Overflow,
            })?;
            if points > max_redeemable {
                return Err(PricingError::PointsOverCap {
                    requested: points,
                    max: max_redeemable,
                });
            }
            points_value = value.fen();
            allocate_into(points_value, &s.running, &mut s.parts, &mut s.rem);
            points_alloc.copy_from_slice(&s.parts);
        }
        let due_before = total_before - points_value;
        let unit = input.settings.till_rounding.unit_fen();
        let rounding_off = if unit > 1 {
            due_before.rem_euclid(unit)
        } else {
            0
        };
        let mut rounding_alloc = vec![0i64; n];
        if rounding_off > 0 {
            s.weights.clear();
            s.weights
                .extend((0..n).map(|l| s.running[l] - points_alloc[l]));
            allocate_into(rounding_off, &s.weights, &mut s.parts, &mut s.rem);
            rounding_alloc.copy_from_slice(&s.parts);
        }
        let amount_due = due_before - rounding_off;
        let points_earned = match (&input.member, self.tier) {
            (Some(_), Some(tier)) => rules.points_earned(Money::from_fen(amount_due), tier),
            _ => 0,
        };

        // Lines and applied discounts.
        let mut line_discounts: Vec<Vec<LineDiscount>> = vec![Vec::new(); n];
        let mut applied: Vec<AppliedDiscount> = Vec::new();
        let mut member_total = (0i64, Vec::new());
        let mut tier_total = (0i64, Vec::new());
        let mut sale_totals: Vec<(i64, Vec<u32>)> = vec![(0, Vec::new()); self.promos.len()];
        let mut price_sources = Vec::with_capacity(n);
        let mut unit_prices = Vec::with_capacity(n);
        for (li, ld) in self.lines.iter().enumerate() {
            let choice = s.choice[li];
            let (kind, price, promo) = match self.sale_cands.get(choice as usize) {
                Some(c) if choice != NONE => (None, c.price, Some(c.promo)),
                _ => (Some(ld.base_kind), ld.base, None),
            };
            let saved = ld.list.amount - price.amount;
            let (source, dsource) = match (kind, promo) {
                (_, Some(pi)) => {
                    let id = self.promos[pi as usize].p.id;
                    if saved > 0 {
                        let t = &mut sale_totals[pi as usize];
                        t.0 += saved;
                        t.1.push(li as u32);
                    }
                    (
                        PriceSource::Sale { promotion_id: id },
                        Some(DiscountSource::Promotion { promotion_id: id }),
                    )
                }
                (Some(BaseKind::Member), _) => {
                    member_total.0 += saved;
                    member_total.1.push(li as u32);
                    (PriceSource::Member, Some(DiscountSource::MemberPrice))
                }
                (Some(BaseKind::Tier), _) => {
                    tier_total.0 += saved;
                    tier_total.1.push(li as u32);
                    (PriceSource::Tier, Some(DiscountSource::TierPrice))
                }
                (Some(BaseKind::Store), _) => (PriceSource::Store, None),
                _ => (PriceSource::Chain, None),
            };
            if let (true, Some(source)) = (saved > 0, dsource) {
                line_discounts[li].push(LineDiscount {
                    source,
                    amount: Money::from_fen(saved),
                });
            }
            price_sources.push(source);
            unit_prices.push(price.unit);
        }
        let line_nos = |ls: &[u32]| -> Vec<u32> {
            ls.iter()
                .map(|&l| self.lines[l as usize].line.line_no)
                .collect()
        };
        if member_total.0 > 0 {
            applied.push(AppliedDiscount {
                source: DiscountSource::MemberPrice,
                kind: DiscountKind::MemberPrice,
                name: text::generic_name("member"),
                explanation: text::member_price(member_total.0),
                amount: Money::from_fen(member_total.0),
                lines: line_nos(&member_total.1),
            });
        }
        if let (true, Some(tier)) = (tier_total.0 > 0, self.tier) {
            applied.push(AppliedDiscount {
                source: DiscountSource::TierPrice,
                kind: DiscountKind::TierPrice,
                name: Bilingual::new(tier.name.clone(), format!("{} member", tier.code)),
                explanation: text::tier_price(tier, tier_total.0),
                amount: Money::from_fen(tier_total.0),
                lines: line_nos(&tier_total.1),
            });
        }
        for (pi, (amount, ls)) in sale_totals.iter().enumerate() {
            if *amount > 0 {
                let p = self.promos[pi].p;
                let name = text::name_or(&p.name_zh, &p.name_en, text::promotion_rule(&p.rule));
                applied.push(AppliedDiscount {
                    source: DiscountSource::Promotion { promotion_id: p.id },
                    kind: DiscountKind::SalePrice,
                    name,
                    explanation: text::sale_price(&p.rule, *amount),
                    amount: Money::from_fen(*amount),
                    lines: line_nos(ls),
                });
            }
        }
        for step in &detail.steps {
            let (source, kind, name) = match step.src {
                StepSrc::Promo(pi) => {
                    let p = self.promos[pi as usize].p;
                    let kind = match p.rule {
                        PromotionRule::SalePrice { .. } => DiscountKind::SalePrice,
                        PromotionRule::FullReduction { .. } => DiscountKind::FullReduction,
                        PromotionRule::PercentOff { .. } => DiscountKind::PercentOff,
                        PromotionRule::BuyXGetY { .. } => DiscountKind::BuyXGetY,
                    };
                    (
                        DiscountSource::Promotion { promotion_id: p.id },
                        kind,
                        text::name_or(&p.name_zh, &p.name_en, text::promotion_rule(&p.rule)),
                    )
                }
                StepSrc::Coupon(ci) => {
                    let c = self.coupons[ci as usize].c;
                    let kind = match c.rule {
                        CouponRule::Threshold { .. } => DiscountKind::ThresholdCoupon,
                        CouponRule::Percent { .. } => DiscountKind::PercentCoupon,
                        CouponRule::NoThreshold { .. } => DiscountKind::NoThresholdCoupon,
                    };
                    (
                        DiscountSource::Coupon { coupon_id: c.id },
                        kind,
                        text::name_or(&c.name_zh, &c.name_en, text::coupon_rule(&c.rule)),
                    )
                }
            };
            for &(l, a) in &step.allocs {
                line_discounts[l as usize].push(LineDiscount {
                    source: source.clone(),
                    amount: Money::from_fen(a),
                });
            }
            applied.push(AppliedDiscount {
                source,
                kind,
                name,
                explanation: step.explanation.clone(),
                amount: Money::from_fen(step.amount),
                lines: line_nos(&step.lines),
            });
        }
        if rounding_off > 0 {
            let mut ls = Vec::new();
            for (l, &a) in rounding_alloc.iter().enumerate() {
                if a > 0 {
                    line_discounts[l].push(LineDiscount {
                        source: DiscountSource::TillRounding,
                        amount: Money::from_fen(a),
                    });
                    ls.push(l as u32);
                }
            }
            applied.push(AppliedDiscount {
                source: DiscountSource::TillRounding,
                kind: DiscountKind::TillRounding,
                name: text::generic_name("rounding"),
                explanation: text::till_rounding(rounding_off),
                amount: Money::from_fen(rounding_off),
                lines: line_nos(&ls),
            });
        }

        let mut lines = Vec::with_capacity(n);
        let mut subtotal = 0i64;
        let mut total = 0i64;
        for (li, ((ld, discounts), source)) in self
            .lines
            .iter()
            .zip(line_discounts)
            .zip(price_sources)
            .enumerate()
        {
            let discount: i64 = discounts.iter().map(|d| d.amount.fen()).sum();
            let amount = ld.list.amount - discount;
            subtotal += ld.list.amount;
            total += amount;
            lines.push(PricedLine {
                line_no: ld.line.line_no,
                sku_id: ld.line.sku_id,
                qty: ld.line.qty,
                weighed: ld.line.weighed,
                list_unit_price: Money::from_fen(ld.list.unit),
                unit_price: Money::from_fen(unit_prices[li]),
                price_source: source,
                list_amount: Money::from_fen(ld.list.amount),
                discounts,
                discount: Money::from_fen(discount),
                amount: Money::from_fen(amount),
                points_value: Money::from_fen(points_alloc[li]),
                amount_due: Money::from_fen(amount - points_alloc[li]),
            });
        }

        let mut not_applied = Vec::new();
        let mut hints = detail.hints;
        hints.sort_by_key(|h| h.0);
        for (pi, reason) in hints {
            let p = self.promos[pi as usize].p;
            not_applied.push(NotApplied {
                promotion_id: p.id,
                name: text::name_or(&p.name_zh, &p.name_en, text::promotion_rule(&p.rule)),
                explanation: text::not_applied(&p.rule, &reason),
                reason,
            });
        }

        let discount = subtotal - total;
        let explanation = summary(discount, evaluated, &applied);
        Ok(PricedBasket {
            lines,
            applied,
            not_applied,
            subtotal: Money::from_fen(subtotal),
            discount: Money::from_fen(discount),
            total: Money::from_fen(total),
            points: (points > 0).then(|| PointsRedemption {
                points,
                value: Money::from_fen(points_value),
                explanation: text::points(points, Money::from_fen(points_value)),
            }),
            points_value: Money::from_fen(points_value),
            amount_due: Money::from_fen(amount_due),
            points_earned,
            max_redeemable_points: max_redeemable,
            combinations_evaluated: evaluated,
            explanation,
        })
    }
}

fn summary(discount: i64, evaluated: u32, applied: &[AppliedDiscount]) -> Bilingual {
    if discount == 0 {
        return Bilingual::new("无优惠", "No discounts");
    }
    let m = Money::from_fen(discount);
    let mut t = Bilingual::new(format!("共优惠¥{m}"), format!("You save ¥{m}"));
    let offers = || {
        applied.iter().filter(|a| {
            matches!(
                a.source,
                DiscountSource::Promotion { .. } | DiscountSource::Coupon { .. }
            )
        })
    };
    if offers().next().is_some() {
        let zh: Vec<&str> = offers().map(|a| a.name.zh.as_str()).collect();
        let en: Vec<&str> = offers().map(|a| a.name.en.as_str()).collect();
        if evaluated > 1 {
            t.zh.push_str(&format!(
                "（比较了{evaluated}种优惠组合，已选最优：{}）",
                zh.join(" + ")
            ));
            t.en.push_str(&format!(
                " (compared {evaluated} combinations of offers, chose the best: {})",
                en.join(" + ")
            ));
        } else {
            t.zh.push_str(&format!("（{}）", zh.join(" + ")));
            t.en.push_str(&format!(" ({})", en.join(" + ")));
        }
    }
    t
}

/// See [`super::price_basket`].
pub(super) fn price(input: &PricingInput) -> Result<PricedBasket, PricingError> {
    Ctx::new(input)?.price()
}

/// For tests: evaluates every combination of `input` both ways (the search's lean evaluation and
/// the exact one) and answers how many combinations and skipping steps there were, or the first
/// combination whose scores differ.
#[cfg(test)]
pub(super) fn lean_matches_exact(input: &PricingInput) -> Result<(usize, usize), String> {
    let Ok(ctx) = Ctx::new(input) else {
        return Ok((0, 0));
    };
    let skipping = ctx
        .step_needs
        .iter()
        .enumerate()
        .filter(|&(i, &needs)| {
            !needs
                && ctx
                    .promos
                    .get(i)
                    .is_none_or(|p| p.viable && !matches!(p.rule, Rule::Sale))
        })
        .count();
    let mut s = Scratch::default();
    let mut on = vec![false; ctx.promos.len()];
    let mut count = 0;
    let mut bad = None;
    ctx.each_combination(0, &mut on, &mut |set| {
        let lean = ctx.evaluate(set, &mut s, None);
        let mut detail = Detail::default();
        let exact = ctx.evaluate(set, &mut s, Some(&mut detail));
        count += 1;
        if lean != exact {
            bad = Some(format!("{set:?}: lean {lean:?} exact {exact:?}"));
            return false;
        }
        count < 256
    });
    bad.map_or(Ok((count, skipping)), Err)
}
