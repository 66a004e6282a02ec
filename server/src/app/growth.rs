//! Growth analytics for head office (issue 19, `docs/ANALYTICS.md`): the conversion funnel
//! (view → cart → checkout → paid, distinct visitors per day and step, by channel and
//! campaign, with the drop-off of each step), retention cohorts (week of first paid order ×
//! weeks after), promotion and coupon ROI against a baseline basket, and the flash-sale /
//! group-buy / bargain reports. Every figure comes from the rollups `storage::growth` keeps as
//! events are stored (and the small per-campaign tables), never from a scan of raw events or
//! orders. Figures are whole numbers (fen, visitors, members); rates are derived from them
//! here, with integer arithmetic, so the page, its CSV and a test agree to the digit.

use std::collections::BTreeMap;

use super::AppState;
use crate::actor::{Role, StaffActor};
use crate::error::{AppError, AppResult};
use crate::storage::growth::{self as rollups, week_of, week_start, STEPS};

/// Longest range, in days (as the daily event counts).
pub const MAX_RANGE_DAYS: i64 = super::events::MAX_RANGE_DAYS;

/// The funnel's steps, in order (`view`, `cart`, `checkout`, `paid`).
pub const STEPS_LIST: &[&str] = STEPS;

/// Most cohorts (weeks) on the retention table.
pub const MAX_COHORTS: i64 = 53;

/// Head office only; `from..=to` a range of at most [`MAX_RANGE_DAYS`] China days.
fn check(staff: &StaffActor, from: i64, to: i64) -> AppResult<()> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    if to < from {
        return Err(AppError::field("to", "on or after from"));
    }
    if to - from >= MAX_RANGE_DAYS {
        return Err(AppError::field("to", "at most 366 days after from"));
    }
    Ok(())
}

/// `n / d` as a percentage with one decimal, rounded half up (`"62.5%"`); `None` when `d` is 0.
pub fn percent(n: i64, d: i64) -> Option<String> {
    if d <= 0 {
        return None;
    }
    let tenths = (n.saturating_mul(2000) + d) / (2 * d);
    Some(format!("{}.{}%", tenths / 10, (tenths % 10).abs()))
}

/// `n / d` with two decimals, truncated toward zero (`"1.25"`, `"-0.40"`); `None` when `d` is 0.
pub fn ratio(n: i64, d: i64) -> Option<String> {
    if d == 0 {
        return None;
    }
    let hundredths = n.saturating_mul(100) / d;
    let sign = if hundredths < 0 { "-" } else { "" };
    let h = hundredths.abs();
    Some(format!("{sign}{}.{:02}", h / 100, h % 100))
}

/// Visitors per step (`view`, `cart`, `checkout`, `paid`, in [`STEPS`] order).
pub type StepCounts = [i64; 4];

fn step_index(step: &str) -> Option<usize> {
    STEPS.iter().position(|s| *s == step)
}

/// One step of the funnel over the whole range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunnelStep {
    /// `view`, `cart`, `checkout` or `paid`.
    pub step: &'static str,
    /// Visitor-days (distinct visitors per day, added up over the days).
    pub visitors: i64,
    /// Of the previous step's visitors, the share that reached this one (`None` for the first
    /// step or when the previous had none).
    pub conversion: Option<String>,
    /// The previous step's visitors that did not reach this one (0 for the first step, never
    /// below 0).
    pub dropped: i64,
    /// `dropped` as a share of the previous step.
    pub drop_off: Option<String>,
}

/// The funnel over a range, with its filters applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunnelReport {
    /// The four steps, in order.
    pub steps: Vec<FunnelStep>,
    /// Per China day (`YYYY-MM-DD`), the visitors of each step.
    pub by_day: Vec<(String, StepCounts)>,
    /// Per channel.
    pub by_channel: Vec<(String, StepCounts)>,
    /// Per campaign (`""`: none).
    pub by_campaign: Vec<(String, StepCounts)>,
    /// Every campaign seen in the range (for the filter), `""` left out.
    pub campaigns: Vec<String>,
}

/// The steps of `counts` with conversion and drop-off.
pub fn steps_of(counts: &StepCounts) -> Vec<FunnelStep> {
    STEPS
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let visitors = counts[i];
            let prev = i.checked_sub(1).map(|p| counts[p]);
            let dropped = prev.map_or(0, |p| (p - visitors).max(0));
            FunnelStep {
                step,
                visitors,
                conversion: prev.and_then(|p| percent(visitors, p)),
                dropped,
                drop_off: prev.and_then(|p| percent(dropped, p)),
            }
        })
        .collect()
}

/// The funnel from China day `from` to `to`, of one channel and / or campaign (`Some("")`: the
/// visitors of no campaign) when asked; head office only.
pub async fn funnel(
    state: &AppState,
    staff: &StaffActor,
    from: i64,
    to: i64,
    channel: Option<&str>,
    campaign: Option<&str>,
) -> AppResult<FunnelReport> {
    check(staff, from, to)?;
    let rows = rollups::funnel_rows(&state.store, from, to, channel, campaign).await?;
    let mut total: StepCounts = [0; 4];
    let mut by_day: BTreeMap<i64, StepCounts> = BTreeMap::new();
    let mut by_channel: BTreeMap<String, StepCounts> = BTreeMap::new();
    let mut by_campaign: BTreeMap<String, StepCounts> = BTreeMap::new();
    for r in &rows {
        let Some(i) = step_index(&r.step) else {
            continue;
        };
        total[i] += r.visitors;
        by_day.entry(r.day).or_insert([0; 4])[i] += r.visitors;
        by_channel.entry(r.channel.clone()).or_insert([0; 4])[i] += r.visitors;
        by_campaign.entry(r.campaign.clone()).or_insert([0; 4])[i] += r.visitors;
    }
    let campaigns = rollups::funnel_campaigns(&state.store, from, to)
        .await?
        .into_iter()
        .filter(|c| !c.is_empty())
        .collect();
    Ok(FunnelReport {
        steps: steps_of(&total),
        by_day: by_day.into_iter().map(|(d, c)| (date(d), c)).collect(),
        by_channel: by_channel.into_iter().collect(),
        by_campaign: by_campaign.into_iter().collect(),
        campaigns,
    })
}

/// China day number → `YYYY-MM-DD`.
pub fn date(day: i64) -> String {
    chrono::NaiveDate::from_num_days_from_ce_opt(i32::try_from(day + 719_163).unwrap_or(719_163))
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// One cohort: the members whose first paid order fell in its week.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cohort {
    /// The Monday starting the week, `YYYY-MM-DD`.
    pub week: String,
    /// Members in the cohort.
    pub size: i64,
    /// Members with a paid order `n` weeks after (index `n`; index 0 is `size`), up to the
    /// current week.
    pub active: Vec<i64>,
}

/// Retention cohorts of the weeks from the one holding China day `from` to the one holding
/// `to` (at most [`MAX_COHORTS`]), each with its members active every week after up to the
/// current one; head office only.
pub async fn retention(
    state: &AppState,
    staff: &StaffActor,
    from: i64,
    to: i64,
) -> AppResult<Vec<Cohort>> {
    check(staff, from, to)?;
    let (first, last) = (week_of(from), week_of(to));
    let first = first.max(last - (MAX_COHORTS - 1));
    let current = week_of(super::china_day(crate::storage::now_ms()));
    let cells = rollups::retention_cells(&state.store, first, last).await?;
    Ok((first..=last)
        .map(|w| {
            let span = usize::try_from((current - w).max(0) + 1).unwrap_or(1);
            let mut active = vec![0; span];
            for (_, after, n) in cells.iter().filter(|(c, _, _)| *c == w) {
                if let Some(slot) = usize::try_from(*after).ok().and_then(|a| active.get_mut(a)) {
                    *slot = *n;
                }
            }
            Cohort {
                week: date(week_start(w)),
                size: active.first().copied().unwrap_or(0),
                active,
            }
        })
        .collect())
}

/// One promotion's or coupon template's return over a range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PromoRoi {
    /// `promotion` or `coupon`.
    pub kind: String,
    /// The promotion or coupon template.
    pub id: String,
    /// Its name (Chinese, English), or the id when unknown.
    pub name: (String, String),
    /// Coupons claimed in the coupon centre (coupons only).
    pub claimed: i64,
    /// Coupons used by paid orders (coupons only).
    pub used: i64,
    /// `used / claimed`.
    pub redemption: Option<String>,
    /// Paid orders using it.
    pub orders: i64,
    /// Its discount on them (the cost), fen.
    pub discount_fen: i64,
    /// Their totals, fen.
    pub gmv_fen: i64,
    /// `gmv_fen − orders × baseline basket`, fen.
    pub incremental_fen: i64,
    /// `incremental_fen / discount_fen`, two decimals.
    pub roi: Option<String>,
}

/// The promotion and coupon report over a range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PromoReport {
    /// Paid orders with no promotion and no coupon (the baseline).
    pub baseline_orders: i64,
    /// Their totals, fen.
    pub baseline_gmv_fen: i64,
    /// Their average basket, fen (rounded down; 0 when there is none).
    pub baseline_basket_fen: i64,
    /// Each promotion and coupon template with paid orders or claims in the range.
    pub rows: Vec<PromoRoi>,
}

/// Promotion and coupon ROI from China day `from` to `to`; head office only. Group-buy and
/// bargain prices (promotions of the campaign's id) are left to [`campaigns`].
pub async fn promotions(
    state: &AppState,
    staff: &StaffActor,
    from: i64,
    to: i64,
) -> AppResult<PromoReport> {
    check(staff, from, to)?;
    let totals = rollups::promo_totals(&state.store, from, to).await?;
    let names = rollups::names(&state.store).await?;
    let campaign_ids = rollups::campaign_ids(&state.store).await?;
    let baseline = totals
        .iter()
        .find(|t| t.kind == "none")
        .cloned()
        .unwrap_or_default();
    let basket = if baseline.orders > 0 {
        baseline.gmv_fen / baseline.orders
    } else {
        0
    };
    let rows = totals
        .into_iter()
        .filter(|t| t.kind != "none" && !campaign_ids.contains(&t.ref_id))
        .map(|t| {
            let incremental = t.gmv_fen - t.orders * basket;
            PromoRoi {
                name: names
                    .get(&t.ref_id)
                    .cloned()
                    .unwrap_or_else(|| (t.ref_id.clone(), t.ref_id.clone())),
                redemption: if t.kind == "coupon" {
                    percent(t.used, t.claimed)
                } else {
                    None
                },
                roi: ratio(incremental, t.discount_fen),
                incremental_fen: incremental,
                kind: t.kind,
                id: t.ref_id,
                claimed: t.claimed,
                used: t.used,
                orders: t.orders,
                discount_fen: t.discount_fen,
                gmv_fen: t.gmv_fen,
            }
        })
        .collect();
    Ok(PromoReport {
        baseline_orders: baseline.orders,
        baseline_gmv_fen: baseline.gmv_fen,
        baseline_basket_fen: basket,
        rows,
    })
}

/// One flash sale's, group-buy's or bargain's report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CampaignReport {
    /// `flash_sale`, `group_buy` or `bargain`.
    pub kind: String,
    /// Its id.
    pub id: String,
    /// Its name (Chinese, English).
    pub name: (String, String),
    /// Paid orders in the range.
    pub orders: i64,
    /// Units in them.
    pub units: i64,
    /// Their totals, fen.
    pub gmv_fen: i64,
    /// Teams filled / runs bought (all time).
    pub succeeded: i64,
    /// Teams failed / runs past their deadline unbought (all time).
    pub failed: i64,
    /// Teams / runs still open.
    pub open: i64,
    /// `succeeded / (succeeded + failed)` (group-buys and bargains).
    pub success: Option<String>,
}

/// The flash-sale, group-buy and bargain report from China day `from` to `to` (orders, units
/// and GMV of the range; teams' and runs' outcomes of all time); head office only.
pub async fn campaigns(
    state: &AppState,
    staff: &StaffActor,
    from: i64,
    to: i64,
) -> AppResult<Vec<CampaignReport>> {
    check(staff, from, to)?;
    let totals = rollups::campaign_totals(&state.store, from, to).await?;
    let names = rollups::names(&state.store).await?;
    let outcomes = rollups::outcomes(&state.store, crate::storage::now_ms()).await?;
    let mut rows: BTreeMap<(String, String), CampaignReport> = BTreeMap::new();
    let blank = |kind: &str, id: &str| CampaignReport {
        kind: kind.to_owned(),
        id: id.to_owned(),
        name: names
            .get(id)
            .cloned()
            .unwrap_or_else(|| (id.to_owned(), id.to_owned())),
        orders: 0,
        units: 0,
        gmv_fen: 0,
        succeeded: 0,
        failed: 0,
        open: 0,
        success: None,
    };
    for t in totals {
        let row = rows
            .entry((t.kind.clone(), t.ref_id.clone()))
            .or_insert_with(|| blank(&t.kind, &t.ref_id));
        row.orders = t.orders;
        row.units = t.units;
        row.gmv_fen = t.gmv_fen;
    }
    for (kind, id, won, lost, open) in outcomes {
        let row = rows
            .entry((kind.clone(), id.clone()))
            .or_insert_with(|| blank(&kind, &id));
        row.succeeded = won;
        row.failed = lost;
        row.open = open;
        row.success = percent(won, won + lost);
    }
    Ok(rows.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_and_ratios_are_exact() {
        assert_eq!(percent(5, 8).as_deref(), Some("62.5%"));
        assert_eq!(percent(1, 3).as_deref(), Some("33.3%"));
        assert_eq!(percent(2, 3).as_deref(), Some("66.7%"));
        assert_eq!(percent(0, 3).as_deref(), Some("0.0%"));
        assert_eq!(percent(1, 0), None);
        assert_eq!(ratio(125, 100).as_deref(), Some("1.25"));
        assert_eq!(ratio(-40, 100).as_deref(), Some("-0.40"));
        assert_eq!(ratio(1, 0), None);
    }

    #[test]
    fn steps_drop_off() {
        let s = steps_of(&[4, 2, 1, 1]);
        assert_eq!(s[0].conversion, None);
        assert_eq!(s[1].dropped, 2);
        assert_eq!(s[1].drop_off.as_deref(), Some("50.0%"));
        assert_eq!(s[3].conversion.as_deref(), Some("100.0%"));
    }

    #[test]
    fn weeks_start_on_monday() {
        // 2026-12-07 is a Monday, 2026-12-06 a Sunday.
        let monday = crate::app::events::parse_day("2026-12-07", "d").unwrap_or_default();
        assert_eq!(week_of(monday), week_of(monday + 6));
        assert_eq!(week_of(monday - 1) + 1, week_of(monday));
        assert_eq!(date(week_start(week_of(monday + 3))), "2026-12-07");
    }
}
