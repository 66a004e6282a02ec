//! The engine: preparation of the input, the evaluation of one combination of promotions, the
//! search for the best combination, and the assembly of the priced basket.
//!
//! Everything runs on whole fen in `i64`. The input limits ([`super::validate`]) keep every sum
//! of amounts far below `i64::MAX` (at most 500 lines of at most 10¹⁴ fen each); products that
//! may exceed it (allocation, ratios) are computed in `i128`, and the search's upper bounds
//! saturate.

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

/// Most combinations of exclusive promotions compared for one basket. Up to this many, every
/// allowed combination is compared (priced, or ruled out by an upper bound of its discount);
/// beyond it a local search prices at most this many.
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

/// Largest total, weight sum and count for the fast path of [`allocate_into`]: quotients come
/// from a fixed-point reciprocal of the weight sum (products below 2⁶¹) with one correction,
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
    let weight_sum = weights
        .iter()
        .try_fold(0i64, |a, &w| if w < 0 { None } else { a.checked_add(w) });
    match weight_sum {
        Some(ws) => allocate_known(total, weights, ws, out, keys),
        None => {
            out.clear();
            out.extend(
                Money::from_fen(total)
                    .allocate(weights)
                    .iter()
                    .map(Money::fen),
            );
        }
    }
}

/// [`allocate_into`] for non-negative `weights` whose sum `ws` is known.
fn allocate_known(total: i64, weights: &[i64], ws: i64, out: &mut Vec<i64>, keys: &mut Vec<u64>) {
    out.clear();
    let n = weights.len();
    if n == 0 {
        return;
    }
    let fast = (0..FAST_TOTAL).contains(&total)
        && (0..FAST_WEIGHT_SUM).contains(&ws)
        && n < FAST_COUNT
        && total.checked_mul(ws).is_some_and(|p| p < FAST_PRODUCT);
    if !fast {
        out.extend(
            Money::from_fen(total)
                .allocate(weights)
                .iter()
                .map(Money::fen),
        );
        return;
    }
    if ws == 0 {
        let n64 = n as i64;
        let (base, extra) = (total / n64, total % n64);
        out.extend((0..n64).map(|i| base + i64::from(i < extra)));
        return;
    }
    keys.clear();
    // floor(2⁶⁴ / ws): p × inv / 2⁶⁴ is at most one below floor(p / ws) for p < 2⁶¹.
    let inv = (1u128 << 64) / ws as u128;
    let mut assigned = 0i64;
    for (i, &w) in weights.iter().enumerate() {
        let p = total * w;
        let mut q = ((p as u128 * inv) >> 64) as i64;
        let mut r = p - q * ws;
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
    if leftover == n {
        keys.iter().for_each(|&k| bump(k));
    } else if leftover <= 3 {
        // A few scans for the largest keys beat a selection.
        let mut bound = u64::MAX;
        for _ in 0..leftover {
            let next = keys
                .iter()
                .copied()
                .filter(|&k| k < bound)
                .max()
                .unwrap_or(0);
            bump(next);
            bound = next;
        }
    } else {
        keys.select_nth_unstable(n - leftover);
        for &k in &keys[n - leftover..] {
            bump(k);
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
    /// Lines by SKU, by category-name hash and by brand-name hash: sorted (key, line index).
    sku_index: Vec<(Uuid, u32)>,
    cat_index: Vec<(u64, u32)>,
    brand_index: Vec<(u64, u32)>,
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
    /// Every line's base amount (its best price without promotions), their saving on the list
    /// amounts, and the lines that have sale-price candidates.
    base_running: Vec<i64>,
    base_discount: i64,
    sale_lines: Vec<u32>,
    /// For the search's upper bounds: each step's figures and, per sale line, the exclusive
    /// promotions (positions in `exclusives`) that cover it.
    bounds: Vec<Bound>,
    sale_line_claimers: Vec<Vec<u32>>,
}

/// What the search needs to bound a step's discount in any combination without pricing it:
/// the sum of its lines' base amounts (an upper bound of their amounts at any point) and units,
/// and how much of both each exclusive promotion would take away by claiming its lines.
struct Bound {
    /// Step id (a promotion's index, or `promos.len()` + a coupon's index).
    step: usize,
    /// Its position in `exclusives` if it is an exclusive promotion.
    exclusive: Option<usize>,
    base_sum: i64,
    units: i64,
    /// Per exclusive position: (base amount, units) of the lines both cover.
    overlaps: Vec<(i64, i64)>,
    /// Highest base amount per unit among its lines (buy X get Y).
    max_unit: i64,
    /// Buy X get Y: its lines as (line, units, base amount), cheapest per unit first, and
    /// whether an earlier step might bring one of them to zero (which would leave it out and
    /// make the cheapest-units bound invalid; the cruder `max_unit` bound is used then).
    cheapest: Vec<(u32, i64, i64)>,
    zero_risk: bool,
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
        let mut cat_index = Vec::with_capacity(order.iter().map(|l| l.categories.len()).sum());
        let mut brand_index = Vec::with_capacity(order.len());
        let mut sku_index = Vec::with_capacity(order.len());
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
            let li = lines.len() as u32;
            cat_index.extend(line.categories.iter().map(|c| (fnv(c), li)));
            if !line.brand.is_empty() {
                brand_index.push((fnv(&line.brand), li));
            }
            sku_index.push((line.sku_id, li));
            lines.push(LineData {
                line,
                list,
                base,
                base_kind,
                sales: (0, 0),
            });
        }
        cat_index.sort_unstable();
        brand_index.sort_unstable();
        sku_index.sort_unstable();

        let mut ctx = Ctx {
            input,
            rounding,
            tier,
            lines,
            sku_index,
            cat_index,
            brand_index,
            sale_cands: Vec::new(),
            promos: Vec::new(),
            coupons: Vec::new(),
            exclusives: Vec::new(),
            conflicts: Vec::new(),
            step_needs: Vec::new(),
            step_deduct: Vec::new(),
            base_running: Vec::new(),
            base_discount: 0,
            sale_lines: Vec::new(),
            bounds: Vec::new(),
            sale_line_claimers: Vec::new(),
        };
        let mut mark = vec![false; ctx.lines.len()];

        ctx.prepare_promotions(&mut mark)?;
        ctx.prepare_coupons(&mut mark)?;
        ctx.prepare_exclusives();
        ctx.plan_allocations();
        ctx.base_running = ctx.lines.iter().map(|l| l.base.amount).collect();
        ctx.base_discount = ctx
            .lines
            .iter()
            .map(|l| l.list.amount - l.base.amount)
            .sum();
        ctx.sale_lines = (0..ctx.lines.len())
            .filter(|&i| ctx.lines[i].sales.0 < ctx.lines[i].sales.1)
            .map(|i| i as u32)
            .collect();
        ctx.prepare_bounds();
        Ok(ctx)
    }

    fn prepare_promotions(&mut self, mark: &mut [bool]) -> Result<(), PricingError> {
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
            PromotionRule::SalePrice { .. } | PromotionRule::TimeOfDayMarkdown { .. } => 0u8,
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
            self.mark_scope(&p.scope, mark);
            let rule = match &p.rule {
                PromotionRule::SalePrice { .. } | PromotionRule::TimeOfDayMarkdown { .. } => {
                    Rule::Sale
                }
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
                        for &(_, li) in key_range(&self.sku_index, &sp.sku_id) {
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
                PromotionRule::TimeOfDayMarkdown { price_factor, .. } => {
                    let (num, den) = ratio(*price_factor).ok_or(PricingError::Overflow)?;
                    let mut lines = Vec::new();
                    for li in marked(mark, |_| true) {
                        let Some(ld) = self.lines.get(li as usize) else {
                            continue;
                        };
                        let unit = mul_div(ld.list.unit, num, den, self.rounding)
                            .ok_or(PricingError::Overflow)?;
                        let amount = amount_for(unit, ld.line.qty, ld.line.weighed, self.rounding)
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
                    lines
                }
                PromotionRule::BuyXGetY { .. } => marked(mark, |i| !self.lines[i].line.weighed),
                _ => marked(mark, |_| true),
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

    fn prepare_coupons(&mut self, mark: &mut [bool]) -> Result<(), PricingError> {
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
            self.mark_scope(&c.scope, mark);
            let eligible = marked(mark, |_| true);
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
    /// instead. The final evaluation always allocates. Planned only when there is a search (some
    /// exclusive promotion) and for up to 64 steps; otherwise every step allocates.
    fn plan_allocations(&mut self) {
        let np = self.promos.len();
        let m = np + self.coupons.len();
        self.step_needs = vec![true; m];
        self.step_deduct = vec![Vec::new(); m];
        if self.exclusives.is_empty() {
            // No search, so no lean evaluation.
            return;
        }
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

    /// Prepares the search's upper bounds (only needed when there are exclusive promotions).
    fn prepare_bounds(&mut self) {
        if self.exclusives.is_empty() {
            return;
        }
        let np = self.promos.len();
        let mut bounds = Vec::new();
        let steps = self
            .promos
            .iter()
            .enumerate()
            .filter(|(_, p)| p.viable && !matches!(p.rule, Rule::Sale))
            .map(|(i, p)| (i, p.eligible.as_slice()))
            .chain(
                self.coupons
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (np + i, c.eligible.as_slice())),
            );
        for (step, eligible) in steps {
            let figures = |lines: &mut dyn Iterator<Item = &u32>| {
                lines.fold((0i64, 0i64), |(a, u), &l| {
                    let ld = &self.lines[l as usize];
                    (a + ld.base.amount, u + ld.line.qty)
                })
            };
            let (base_sum, units) = figures(&mut eligible.iter());
            let overlaps = self
                .exclusives
                .iter()
                .map(|&e| {
                    let other = &self.promos[e as usize].eligible;
                    figures(&mut eligible.iter().filter(|l| other.binary_search(l).is_ok()))
                })
                .collect();
            let max_unit = eligible
                .iter()
                .map(|&l| {
                    let ld = &self.lines[l as usize];
                    let q = ld.line.qty.max(1);
                    (ld.base.amount + q - 1) / q
                })
                .max()
                .unwrap_or(0);
            let (cheapest, zero_risk) = match self.promos.get(step).map(|p| &p.rule) {
                Some(Rule::Bxgy { .. }) => {
                    let mut c: Vec<(u32, i64, i64)> = eligible
                        .iter()
                        .map(|&l| {
                            let ld = &self.lines[l as usize];
                            (l, ld.line.qty, ld.base.amount)
                        })
                        .collect();
                    c.sort_by(|a, b| {
                        (i128::from(a.2) * i128::from(b.1))
                            .cmp(&(i128::from(b.2) * i128::from(a.1)))
                            .then(a.0.cmp(&b.0))
                    });
                    (c, self.may_zero_before(step, eligible))
                }
                _ => (Vec::new(), true),
            };
            bounds.push(Bound {
                step,
                exclusive: self.exclusives.iter().position(|&e| e as usize == step),
                base_sum,
                units,
                overlaps,
                max_unit,
                cheapest,
                zero_risk,
            });
        }
        self.bounds = bounds;
        self.sale_line_claimers = self
            .sale_lines
            .iter()
            .map(|&l| {
                (0..self.exclusives.len() as u32)
                    .filter(|&e| {
                        self.promos[self.exclusives[e as usize] as usize]
                            .eligible
                            .binary_search(&l)
                            .is_ok()
                    })
                    .collect()
            })
            .collect();
    }

    /// Whether some line of `eligible` might reach zero before promotion `step` in some
    /// combination: a zero base or sale price, an earlier buy X get Y on a common line, or a
    /// common line small enough that an earlier share could take all of it. A proportional
    /// share of `d` out of `W` exceeds nothing above `W / (W − d)` fen, which is at most
    /// `t / (t − r)` for a reduction of `r` at `t`, and below `2 / f + 2` for a factor `f`.
    fn may_zero_before(&self, step: usize, eligible: &[u32]) -> bool {
        let zero_priced = eligible.iter().any(|&l| {
            let ld = &self.lines[l as usize];
            ld.base.amount <= 0
                || self.sale_cands[ld.sales.0..ld.sales.1]
                    .iter()
                    .any(|c| c.price.amount <= 0)
        });
        if zero_priced {
            return true;
        }
        self.promos[..step.min(self.promos.len())]
            .iter()
            .filter(|p| p.viable && sorted_intersect(&p.eligible, eligible))
            .any(|p| {
                let limit = match &p.rule {
                    Rule::Sale => return false,
                    Rule::Bxgy { .. } => return true,
                    Rule::Reduction { tiers, .. } => tiers
                        .iter()
                        .map(|&(t, r)| t / (t - r).max(1) + 2)
                        .max()
                        .unwrap_or(i64::MAX),
                    Rule::Percent { num, den, .. } => {
                        i64::try_from(2 * den / (*num).max(1) + 3).unwrap_or(i64::MAX)
                    }
                };
                eligible.iter().any(|&l| {
                    p.eligible.binary_search(&l).is_ok()
                        && self.lines[l as usize].base.amount <= limit
                })
            })
    }

    /// An upper bound of the score of a combination, without pricing it: stage 1 exactly, then
    /// each step's discount at the base amounts of the lines the combination leaves it (a
    /// step's discount never decreases when its lines' amounts grow, and amounts only fall
    /// from their base). Also whether every coupon can possibly apply.
    fn upper_bound(&self, on: &[bool]) -> (bool, i64) {
        let is_on = |e: usize| on[self.exclusives[e] as usize];
        // Stage 1, as in `evaluate`.
        let mut ub = self.base_discount;
        for (&l, claimers) in self.sale_lines.iter().zip(&self.sale_line_claimers) {
            let ld = &self.lines[l as usize];
            let claim = claimers
                .iter()
                .find(|&&e| is_on(e as usize))
                .map_or(NONE, |&e| self.exclusives[e as usize]);
            let best = (ld.sales.0..ld.sales.1)
                .map(|ci| &self.sale_cands[ci])
                .filter(|c| {
                    (claim == NONE && !self.promos[c.promo as usize].exclusive) || claim == c.promo
                })
                .map(|c| c.price.amount)
                .fold(ld.base.amount, i64::min);
            ub += ld.base.amount - best;
        }
        let mut coupons_possible = true;
        for b in &self.bounds {
            if b.exclusive.is_some_and(|e| !is_on(e)) {
                continue;
            }
            let (mut sum, mut units) = (b.base_sum, b.units);
            for (e, &(a, u)) in b.overlaps.iter().enumerate() {
                if Some(e) != b.exclusive && is_on(e) {
                    sum -= a;
                    units -= u;
                }
            }
            let bound = if let Some(p) = self.promos.get(b.step) {
                match &p.rule {
                    Rule::Reduction { tiers, repeat } => tiers
                        .iter()
                        .rev()
                        .find(|&&(t, _)| t <= sum)
                        .map_or(0, |&(t, r)| if *repeat { sum / t * r } else { r }),
                    Rule::Percent {
                        num,
                        den,
                        min_spend,
                    } => {
                        if sum < *min_spend || sum <= 0 {
                            0
                        } else {
                            sum - mul_div(sum, *num, *den, self.rounding).unwrap_or(0)
                        }
                    }
                    Rule::Bxgy { buy, get } => {
                        let free = units / (buy + get) * get;
                        if b.zero_risk {
                            free * b.max_unit
                        } else {
                            // Every line keeps a positive amount, so the free units are the
                            // cheapest of the lines left to it, at most at their base amounts.
                            let claimed = |l: u32| {
                                (0..self.exclusives.len()).any(|e| {
                                    Some(e) != b.exclusive
                                        && is_on(e)
                                        && self.promos[self.exclusives[e] as usize]
                                            .eligible
                                            .binary_search(&l)
                                            .is_ok()
                                })
                            };
                            let (mut left, mut value) = (free, 0i64);
                            for &(l, q, amount) in &b.cheapest {
                                if left <= 0 {
                                    break;
                                }
                                if claimed(l) {
                                    continue;
                                }
                                let k = left.min(q);
                                value += if k == q {
                                    amount
                                } else {
                                    k * ((amount + q - 1) / q)
                                };
                                left -= k;
                            }
                            value
                        }
                    }
                    Rule::Sale => 0,
                }
            } else if let Some(c) = self.coupons.get(b.step - self.promos.len()) {
                let (min_spend, bound) = match c.rule {
                    CRule::Fixed { min_spend, amount } => (min_spend, amount.min(sum)),
                    CRule::Percent {
                        num,
                        den,
                        min_spend,
                        max,
                    } => {
                        let d = sum - mul_div(sum.max(0), num, den, self.rounding).unwrap_or(0);
                        (min_spend, max.map_or(d, |m| d.min(m)))
                    }
                };
                if sum <= 0 || sum < min_spend {
                    coupons_possible = false;
                }
                bound
            } else {
                0
            };
            ub = ub.saturating_add(bound.max(0));
        }
        (coupons_possible, ub)
    }

    /// Sets `mark[i]` for every line in the scope (through the line indexes, so the cost is
    /// that of the scope's lists, not of the basket).
    fn mark_scope(&self, scope: &Scope, mark: &mut [bool]) {
        mark.fill(scope.is_whole_basket());
        let mut set = |li: u32, value: bool| {
            if let Some(m) = mark.get_mut(li as usize) {
                *m = value;
            }
        };
        if !scope.is_whole_basket() {
            for sku in &scope.skus {
                for &(_, li) in key_range(&self.sku_index, sku) {
                    set(li, true);
                }
            }
            for c in &scope.categories {
                self.each_line_in_category(c, |li| set(li, true));
            }
            for b in &scope.brands {
                for &(_, li) in key_range(&self.brand_index, &fnv(b)) {
                    if self
                        .lines
                        .get(li as usize)
                        .is_some_and(|l| l.line.brand == *b)
                    {
                        set(li, true);
                    }
                }
            }
        }
        for sku in &scope.exclude_skus {
            for &(_, li) in key_range(&self.sku_index, sku) {
                set(li, false);
            }
        }
        for c in &scope.exclude_categories {
            self.each_line_in_category(c, |li| set(li, false));
        }
    }

    /// Calls `f` with every line whose category path includes `category`.
    fn each_line_in_category(&self, category: &str, mut f: impl FnMut(u32)) {
        for &(_, li) in key_range(&self.cat_index, &fnv(category)) {
            let exact = self
                .lines
                .get(li as usize)
                .is_some_and(|l| l.line.categories.iter().any(|c| c == category));
            if exact {
                f(li);
            }
        }
    }
}

/// The entries of a sorted `(key, line)` index with this key.
fn key_range<'i, K: Ord>(index: &'i [(K, u32)], key: &K) -> &'i [(K, u32)] {
    let start = index.partition_point(|(k, _)| k < key);
    let len = index[start..].partition_point(|(k, _)| k == key);
    &index[start..start + len]
}

/// The indices of the marked lines that pass `keep`, ascending.
fn marked(mark: &[bool], keep: impl Fn(usize) -> bool) -> Vec<u32> {
    let mut v = Vec::with_capacity(mark.iter().filter(|&&m| m).count());
    v.extend(
        mark.iter()
            .enumerate()
            .filter(|&(i, &m)| m && keep(i))
            .map(|(i, _)| i as u32),
    );
    v
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
    /// Line numbers of the lines it was computed on.
    line_nos: Vec<u32>,
    /// Range of its shares in `Detail::allocs`.
    allocs: (usize, usize),
    explanation: Bilingual,
}

enum CouponFail {
    Blocked,
    Threshold { min_spend: i64, eligible: i64 },
}

#[derive(Default)]
struct Detail {
    steps: Vec<Step>,
    /// Every step's shares: (line index, amount).
    allocs: Vec<(u32, i64)>,
    hints: Vec<(u32, NotAppliedReason)>,
    coupon_fail: Vec<(u32, CouponFail)>,
}

impl Scratch {
    /// Spreads `d` over `self.lines` in proportion to their running amounts (`self.weights`,
    /// gathered with the lines) and takes the shares off the running amounts; with `record`,
    /// writes them to `self.allocs`.
    fn spread(&mut self, d: i64, weight_sum: i64, record: bool) {
        let Scratch {
            running,
            lines,
            weights,
            parts,
            rem,
            allocs,
            ..
        } = self;
        allocate_known(d, weights, weight_sum, parts, rem);
        allocs.clear();
        for (&l, &part) in lines.iter().zip(parts.iter()) {
            running[l as usize] -= part;
            if record && part != 0 {
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
        s.running.extend_from_slice(&self.base_running);
        s.touched.clear();
        s.touched.resize(n, false);
        s.choice.clear();
        s.choice.resize(n, NONE);
        let mut discount = self.base_discount;
        for &l in &self.sale_lines {
            let li = l as usize;
            let ld = &self.lines[li];
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
            if choice != NONE {
                s.running[li] = best;
                s.touched[li] = true;
                s.choice[li] = choice;
                discount += ld.base.amount - best;
            }
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

    /// The unit price a line got in stage 1: its base kind (none for a sale price), the price,
    /// and the sale promotion if any.
    fn unit_choice(&self, li: usize, s: &Scratch) -> (Option<BaseKind>, Price, Option<u32>) {
        let ld = &self.lines[li];
        let choice = s.choice[li];
        match self.sale_cands.get(choice as usize) {
            Some(c) if choice != NONE => (None, c.price, Some(c.promo)),
            _ => (Some(ld.base_kind), ld.base, None),
        }
    }

    /// A step as applied, its shares appended to `det.allocs`.
    fn record(
        &self,
        det: &mut Detail,
        src: StepSrc,
        amount: i64,
        s: &Scratch,
        explanation: Bilingual,
    ) -> Step {
        let start = det.allocs.len();
        det.allocs.extend_from_slice(&s.allocs);
        Step {
            src,
            amount,
            line_nos: s
                .lines
                .iter()
                .map(|&l| self.lines[l as usize].line.line_no)
                .collect(),
            allocs: (start, det.allocs.len()),
            explanation,
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
        // The lines are gathered now when the rule or the record needs them, else only if the
        // promotion applies and allocates (see below).
        let gather = detail.is_some() || matches!(p.rule, Rule::Bxgy { .. });
        s.lines.clear();
        s.weights.clear();
        let mut sum = 0i64;
        let mut blocked = false;
        for &l in &p.eligible {
            let c = s.claimed[l as usize];
            if c != NONE && c != me {
                blocked = true;
                continue;
            }
            let r = s.running[l as usize];
            if gather && r > 0 {
                s.lines.push(l);
                s.weights.push(r);
            }
            sum += r;
        }
        let gathered = sum;
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
            if !gather {
                for &l in &p.eligible {
                    let c = s.claimed[l as usize];
                    let r = s.running[l as usize];
                    if (c == NONE || c == me) && r > 0 {
                        s.lines.push(l);
                        s.weights.push(r);
                    }
                }
            }
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
                s.spread(d, gathered, detail.is_some());
            }
        }
        if let Some(det) = detail {
            match explanation {
                Some(e) if d > 0 => {
                    let step = self.record(det, StepSrc::Promo(me), d, s, e);
                    det.steps.push(step);
                }
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
        let takes = |li: usize, s: &Scratch| {
            s.claimed[li] == NONE && (c.c.stacks_with_promotions || !s.touched[li])
        };
        let mut sum = 0i64;
        for &l in &c.eligible {
            if takes(l as usize, s) {
                sum += s.running[l as usize];
            }
        }
        let gathered = sum;
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
                s.lines.clear();
                s.weights.clear();
                for &l in &c.eligible {
                    let r = s.running[l as usize];
                    if takes(l as usize, s) && r > 0 {
                        s.lines.push(l);
                        s.weights.push(r);
                    }
                }
                s.spread(d, gathered, detail.is_some());
                if let Some(det) = detail {
                    let e = text::coupon_rule(&c.c.rule);
                    let step = self.record(det, StepSrc::Coupon(ci as u32), d, s, e);
                    det.steps.push(step);
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

    /// The best combination of exclusive promotions and how many were compared.
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
        let best: Option<(Score, Vec<bool>)>;
        let evaluated: u32;
        if count <= MAX_COMBINATIONS {
            // Every combination, best bound first; stop when no remaining bound can beat the
            // best score found (ties go to the combination found first depth first).
            let mut combos: Vec<(i64, bool, u32, Vec<bool>)> = Vec::with_capacity(count);
            self.each_combination(0, &mut on, &mut |set| {
                let (possible, ub) = self.upper_bound(set);
                combos.push((ub, possible, combos.len() as u32, set.to_vec()));
                true
            });
            combos.sort_by(|a, b| b.0.cmp(&a.0).then(a.2.cmp(&b.2)));
            let mut top: Option<(Score, u32, usize)> = None;
            for (i, (ub, possible, idx, set)) in combos.iter().enumerate() {
                if let Some((b, _, _)) = &top {
                    if b.coupons_ok && !possible {
                        continue;
                    }
                    if b.coupons_ok && *ub < b.discount {
                        break;
                    }
                }
                let score = self.evaluate(set, s, None);
                if top
                    .as_ref()
                    .is_none_or(|(b, bi, _)| score > *b || (score == *b && idx < bi))
                {
                    top = Some((score, *idx, i));
                }
            }
            evaluated = count as u32;
            best = top.and_then(|(score, _, i)| combos.get(i).map(|c| (score, c.3.clone())));
        } else {
            // Too many: start from the first (greedy) combination and improve it one exclusive
            // promotion at a time, within the same budget.
            let mut current = vec![false; self.promos.len()];
            self.each_combination(0, &mut on, &mut |set| {
                current.copy_from_slice(set);
                false
            });
            let mut score = self.evaluate(&current, s, None);
            let mut tried = 1u32;
            let k = self.exclusives.len();
            'passes: for _ in 0..4 {
                let mut improved = false;
                for i in 0..k {
                    if tried as usize >= MAX_COMBINATIONS {
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
                    tried += 1;
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
            evaluated = tried;
        }
        let on = best.map(|(_, set)| set).unwrap_or(on);
        (on, evaluated.max(1))
    }

    // -----------------------------------------------------------------------------------------
    // The result
    // -----------------------------------------------------------------------------------------

    fn price(&self) -> Result<PricedBasket, PricingError> {
        let n = self.lines.len();
        let mut s = Scratch {
            running: Vec::with_capacity(n),
            claimed: Vec::with_capacity(n),
            touched: Vec::with_capacity(n),
            choice: Vec::with_capacity(n),
            lines: Vec::with_capacity(n),
            weights: Vec::with_capacity(n),
            parts: Vec::with_capacity(n),
            rem: Vec::with_capacity(n),
            allocs: Vec::with_capacity(n),
            skipped: Vec::with_capacity(self.step_needs.len()),
        };
        let (on, compared) = self.search(&mut s);
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

        // Lines and applied discounts (vectors sized up front).
        let mut counts = vec![0usize; n];
        for (li, ld) in self.lines.iter().enumerate() {
            counts[li] += usize::from(ld.list.amount > self.unit_choice(li, &s).1.amount);
        }
        for &(l, _) in &detail.allocs {
            counts[l as usize] += 1;
        }
        for (l, &a) in rounding_alloc.iter().enumerate() {
            counts[l] += usize::from(a > 0);
        }
        let mut line_discounts: Vec<Vec<LineDiscount>> =
            counts.iter().map(|&c| Vec::with_capacity(c)).collect();
        let mut line_discount_sum = vec![0i64; n];
        let mut applied: Vec<AppliedDiscount> = Vec::with_capacity(detail.steps.len() + 4);
        let mut member_total = (0i64, Vec::new());
        let mut tier_total = (0i64, Vec::new());
        let mut sale_totals: Vec<(i64, Vec<u32>)> = vec![(0, Vec::new()); self.promos.len()];
        let mut price_sources = Vec::with_capacity(n);
        let mut unit_prices = Vec::with_capacity(n);
        for (li, ld) in self.lines.iter().enumerate() {
            let (kind, price, promo) = self.unit_choice(li, &s);
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
                line_discount_sum[li] += saved;
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
                let name = text::name_or(&p.name_zh, &p.name_en, || text::promotion_rule(&p.rule));
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
        for step in detail.steps {
            let (source, kind, name) = match step.src {
                StepSrc::Promo(pi) => {
                    let p = self.promos[pi as usize].p;
                    let kind = match p.rule {
                        PromotionRule::SalePrice { .. }
                        | PromotionRule::TimeOfDayMarkdown { .. } => DiscountKind::SalePrice,
                        PromotionRule::FullReduction { .. } => DiscountKind::FullReduction,
                        PromotionRule::PercentOff { .. } => DiscountKind::PercentOff,
                        PromotionRule::BuyXGetY { .. } => DiscountKind::BuyXGetY,
                    };
                    (
                        DiscountSource::Promotion { promotion_id: p.id },
                        kind,
                        text::name_or(&p.name_zh, &p.name_en, || text::promotion_rule(&p.rule)),
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
                        text::name_or(&c.name_zh, &c.name_en, || text::coupon_rule(&c.rule)),
                    )
                }
            };
            for &(l, a) in &detail.allocs[step.allocs.0..step.allocs.1] {
                line_discounts[l as usize].push(LineDiscount {
                    source: source.clone(),
                    amount: Money::from_fen(a),
                });
                line_discount_sum[l as usize] += a;
            }
            applied.push(AppliedDiscount {
                source,
                kind,
                name,
                explanation: step.explanation,
                amount: Money::from_fen(step.amount),
                lines: step.line_nos,
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
                    line_discount_sum[l] += a;
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
            let discount = line_discount_sum[li];
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
                name: text::name_or(&p.name_zh, &p.name_en, || text::promotion_rule(&p.rule)),
                explanation: text::not_applied(&p.rule, &reason),
                reason,
            });
        }

        let discount = subtotal - total;
        let explanation = summary(discount, compared, &applied);
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
            combinations_compared: compared,
            explanation,
        })
    }
}

fn summary(discount: i64, compared: u32, applied: &[AppliedDiscount]) -> Bilingual {
    let names: Vec<&Bilingual> = applied
        .iter()
        .filter(|a| {
            matches!(
                a.source,
                DiscountSource::Promotion { .. } | DiscountSource::Coupon { .. }
            )
        })
        .map(|a| &a.name)
        .collect();
    text::summary(discount, compared, &names)
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

/// For tests: whether the search (bounded, best bound first) picks the same combination as
/// pricing every combination and keeping the best (ties to the first found), and how many
/// combinations there were.
#[cfg(test)]
pub(super) fn search_matches_exhaustive(input: &PricingInput) -> Result<usize, String> {
    let Ok(ctx) = Ctx::new(input) else {
        return Ok(0);
    };
    let mut s = Scratch::default();
    let (chosen, _) = ctx.search(&mut s);
    let mut on = vec![false; ctx.promos.len()];
    let mut best: Option<(Score, Vec<bool>)> = None;
    let mut count = 0;
    ctx.each_combination(0, &mut on, &mut |set| {
        count += 1;
        let score = ctx.evaluate(set, &mut s, None);
        if !ctx.exclusives.is_empty() {
            let (possible, ub) = ctx.upper_bound(set);
            assert!(
                ub >= score.discount && (possible || !score.coupons_ok),
                "bound {ub} / {possible} for {score:?}"
            );
        }
        if best.as_ref().is_none_or(|(b, _)| score > *b) {
            best = Some((score, set.to_vec()));
        }
        count < MAX_COMBINATIONS
    });
    if count >= MAX_COMBINATIONS {
        return Ok(count);
    }
    match best {
        Some((_, set)) if set != chosen => Err(format!("search chose {chosen:?}, best is {set:?}")),
        _ => Ok(count),
    }
}
