//! Sales analytics (issue 19): the rollup job that keeps the daily sales per store, channel and
//! SKU as orders are paid, lane sales arrive and refunds are paid back ([`run_rollup`], run by
//! the sweeper; exactly once, see migration 0049 and docs/CONTRACTS.md "Sales rollup"), and the
//! console's and API's sales report over a date range ([`report`]): GMV, orders, average basket
//! and margin per day or week, per store and channel, the best-selling products and categories.
//! Reads only the rollup tables, never the orders. Head office sees every store, a store
//! manager their own; cashiers are refused.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::actor::{Role, StaffActor};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::storage;
pub use crate::storage::sales_report::Figures;

/// How far behind its cursor the job looks again (ms), so that a transaction committing up to
/// this long after it stamped its `updated_at` is still counted (its marker keeps it from
/// being counted twice).
pub const LAG_MS: i64 = 10 * 60 * 1000;

/// Orders (and refunds) counted per transaction.
pub const BATCH_LIMIT: i64 = 20_000;

/// At most this many days in one report.
pub const MAX_RANGE_DAYS: i64 = 366;

/// Best sellers listed.
pub const TOP_LIMIT: i64 = 20;

/// The channels, in the order shown.
pub const CHANNELS: [&str; 4] = ["delivery", "pickup", "lane", "scan_and_go"];

/// What one [`run_rollup`] counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rolled {
    /// Orders added.
    pub orders: u64,
    /// Refunds subtracted.
    pub refunds: u64,
}

/// Adds the orders sold and the refunds paid back since the last run to the rollup tables, in
/// transactions of [`BATCH_LIMIT`], until none is left. Running it again changes nothing.
pub async fn run_rollup(state: &AppState) -> AppResult<Rolled> {
    let mut rolled = Rolled::default();
    loop {
        let b = storage::sales_report::rollup_batch(&state.store, LAG_MS, BATCH_LIMIT).await?;
        rolled.orders += b.orders;
        rolled.refunds += b.refunds;
        if !b.more {
            return Ok(rolled);
        }
    }
}

/// Sets (or, with `None`, clears) a SKU's cost in fen (per selling unit; per kg for weighed
/// SKUs), head office only, audited (`sku.cost`). Orders rolled up later use it for margin.
pub async fn set_cost(
    state: &AppState,
    staff: &StaffActor,
    sku_id: uuid::Uuid,
    cost_fen: Option<i64>,
) -> AppResult<()> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    if cost_fen.is_some_and(|c| !(0..=100_000_000).contains(&c)) {
        return Err(AppError::field("cost", "between 0 and 1,000,000 yuan"));
    }
    if storage::sales_report::set_cost(&state.store, &sku_id.to_string(), cost_fen, &staff.actor())
        .await?
    {
        Ok(())
    } else {
        Err(AppError::not_found("sku"))
    }
}

/// Per day or per (Monday-started) week.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    /// One point per China day.
    Day,
    /// One point per week, Monday to Sunday.
    Week,
}

impl Granularity {
    /// `day` (or nothing) or `week`.
    pub fn parse(text: Option<&str>) -> AppResult<Self> {
        match text.unwrap_or("day") {
            "" | "day" => Ok(Self::Day),
            "week" => Ok(Self::Week),
            _ => Err(AppError::field("granularity", "day or week")),
        }
    }

    /// Its name on the wire.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Week => "week",
        }
    }
}

/// The Monday of a China day's week.
pub fn week_start(day: i64) -> i64 {
    // Day 0 (1970-01-01) was a Thursday.
    day - (day + 3).rem_euclid(7)
}

/// A China day number as `YYYY-MM-DD`.
pub fn date(day: i64) -> String {
    chrono::NaiveDate::from_num_days_from_ce_opt(i32::try_from(day + 719_163).unwrap_or(719_163))
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// Figures with what is derived from them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Line {
    /// The day (`YYYY-MM-DD`, a week's Monday), store id or channel this line is about.
    pub key: String,
    /// For people: the store's name (else the key).
    pub label: String,
    /// Orders sold.
    pub orders: i64,
    /// Of them by members (a count only).
    pub member_orders: i64,
    /// GMV: the orders' paid totals (fen).
    pub gmv_fen: i64,
    /// Discounts given (fen).
    pub discount_fen: i64,
    /// Refunds paid back (count).
    pub refunds: i64,
    /// Refunds paid back (fen).
    pub refund_fen: i64,
    /// GMV less refunds (fen).
    pub net_fen: i64,
    /// Units sold (a weighed line counts one).
    pub items: i64,
    /// GMV per order (fen, rounded down); 0 without orders.
    pub avg_basket_fen: i64,
    /// Amount of the lines whose SKU has a cost (fen).
    pub costed_amount_fen: i64,
    /// Their cost (fen).
    pub cost_fen: i64,
    /// `costed_amount_fen - cost_fen`: the margin over the lines whose cost is known.
    pub margin_fen: i64,
    /// The margin per mille of the costed amount; none when no line had a cost.
    pub margin_permille: Option<i64>,
}

impl Line {
    /// The line for `figures`.
    pub fn new(key: String, label: String, f: &Figures) -> Self {
        let margin_fen = f.costed_amount_fen - f.cost_fen;
        Self {
            key,
            label,
            orders: f.orders,
            member_orders: f.member_orders,
            gmv_fen: f.gmv_fen,
            discount_fen: f.discount_fen,
            refunds: f.refunds,
            refund_fen: f.refund_fen,
            net_fen: f.gmv_fen - f.refund_fen,
            items: f.items,
            avg_basket_fen: if f.orders > 0 {
                f.gmv_fen / f.orders
            } else {
                0
            },
            costed_amount_fen: f.costed_amount_fen,
            cost_fen: f.cost_fen,
            margin_fen,
            margin_permille: (f.costed_amount_fen > 0)
                .then(|| margin_fen * 1000 / f.costed_amount_fen),
        }
    }
}

/// A best-selling product or category.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Top {
    /// SKU code or category id.
    pub key: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Quantity (units; grams for weighed SKUs).
    pub qty: i64,
    /// Amount sold (fen).
    pub amount_fen: i64,
}

/// The sales report over a date range.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = SalesReport)]
pub struct Report {
    /// First day (`YYYY-MM-DD`, China).
    pub from: String,
    /// Last day, included.
    pub to: String,
    /// Per day or week.
    pub granularity: Granularity,
    /// The store the report is limited to; none for all.
    pub store: Option<String>,
    /// One line per day (or week) of the range, days without sales included.
    pub series: Vec<Line>,
    /// One line per store with sales.
    pub by_store: Vec<Line>,
    /// One line per channel (all four).
    pub by_channel: Vec<Line>,
    /// The whole range.
    pub total: Line,
    /// Best-selling products (by amount).
    pub top_products: Vec<Top>,
    /// Best-selling categories (by amount).
    pub top_categories: Vec<Top>,
}

/// The store a staff member may see: head office any (or all, `None`), a store manager their
/// own (asking for another is refused); cashiers are refused.
pub fn scope(staff: &StaffActor, asked: Option<&str>) -> AppResult<Option<String>> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])?;
    let asked = asked.filter(|a| !a.is_empty());
    match staff.role {
        Role::HeadOfficeAdmin => Ok(asked.map(str::to_owned)),
        _ => {
            let own = staff
                .location_id
                .clone()
                .ok_or_else(|| AppError::Forbidden("no store".into()))?;
            match asked {
                Some(a) if a != own => Err(AppError::Forbidden(format!(
                    "{} may not see store {a}",
                    staff.username
                ))),
                _ => Ok(Some(own)),
            }
        }
    }
}

/// The sales report from `from` to `to` (China day numbers, both included, at most
/// [`MAX_RANGE_DAYS`]), of `store` (see [`scope`]), read from the rollup tables only.
pub async fn report(
    state: &AppState,
    staff: &StaffActor,
    from: i64,
    to: i64,
    granularity: Granularity,
    store: Option<&str>,
) -> AppResult<Report> {
    let store = scope(staff, store)?;
    if to < from {
        return Err(AppError::field("to", "on or after from"));
    }
    if to - from >= MAX_RANGE_DAYS {
        return Err(AppError::field("to", "at most 366 days after from"));
    }
    let s = store.as_deref();
    use storage::sales_report::By;
    let st = &state.store;
    let (days, per_store, per_channel, top_products, top_categories, stores) = tokio::try_join!(
        storage::sales_report::sums(st, from, to, s, By::Day),
        storage::sales_report::sums(st, from, to, s, By::Store),
        storage::sales_report::sums(st, from, to, s, By::Channel),
        storage::sales_report::top_products(st, from, to, s, TOP_LIMIT),
        storage::sales_report::top_categories(st, from, to, s, TOP_LIMIT),
        storage::sales_report::stores(st),
    )?;
    let bucket = |day: i64| match granularity {
        Granularity::Day => day,
        Granularity::Week => week_start(day),
    };
    let mut series: BTreeMap<i64, Figures> = BTreeMap::new();
    let mut d = bucket(from);
    while d <= to {
        series.insert(d, Figures::default());
        d += match granularity {
            Granularity::Day => 1,
            Granularity::Week => 7,
        };
    }
    let mut total = Figures::default();
    for (day, f) in &days {
        let day: i64 = day
            .parse()
            .map_err(|_| AppError::Internal(anyhow::anyhow!("a day that is not a number")))?;
        series.entry(bucket(day)).or_default().add(f);
        total.add(f);
    }
    let by_store: BTreeMap<String, Figures> = per_store.into_iter().collect();
    let mut by_channel: BTreeMap<String, Figures> = CHANNELS
        .iter()
        .map(|c| ((*c).to_owned(), Figures::default()))
        .collect();
    for (c, f) in per_channel {
        by_channel.entry(c).or_default().add(&f);
    }
    let store_name = |id: &str| {
        stores
            .iter()
            .find(|(s, _, _)| s == id)
            .map(|(_, zh, en)| format!("{zh} / {en}"))
            .unwrap_or_else(|| id.to_owned())
    };
    let top = |rows: Vec<storage::sales_report::TopRow>| {
        rows.into_iter()
            .map(|r| Top {
                key: r.key,
                name_zh: r.name_zh,
                name_en: r.name_en,
                qty: r.qty,
                amount_fen: r.amount_fen,
            })
            .collect()
    };
    let channel_rank = |c: &str| {
        CHANNELS
            .iter()
            .position(|x| *x == c)
            .unwrap_or(CHANNELS.len())
    };
    let mut by_channel: Vec<Line> = by_channel
        .into_iter()
        .map(|(c, f)| Line::new(c.clone(), c, &f))
        .collect();
    by_channel.sort_by_key(|l| (channel_rank(&l.key), l.key.clone()));
    Ok(Report {
        from: date(from),
        to: date(to),
        granularity,
        store,
        series: series
            .into_iter()
            .map(|(d, f)| Line::new(date(d), date(d), &f))
            .collect(),
        by_store: by_store
            .into_iter()
            .map(|(s, f)| Line::new(s.clone(), store_name(&s), &f))
            .collect(),
        by_channel,
        total: Line::new("total".into(), "total".into(), &total),
        top_products: top(top_products),
        top_categories: top(top_categories),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_start_on_monday() {
        // 2026-12-07 is a Monday.
        let monday = crate::app::events::parse_day("2026-12-07", "d").unwrap_or(0);
        assert_eq!(week_start(monday), monday);
        assert_eq!(week_start(monday + 6), monday);
        assert_eq!(week_start(monday + 7), monday + 7);
        assert_eq!(week_start(monday - 1), monday - 7);
        assert_eq!(date(monday), "2026-12-07");
    }

    #[test]
    fn lines_derive_basket_and_margin() {
        let f = Figures {
            orders: 3,
            gmv_fen: 1000,
            costed_amount_fen: 800,
            cost_fen: 600,
            refund_fen: 100,
            ..Figures::default()
        };
        let l = Line::new("k".into(), "k".into(), &f);
        assert_eq!(l.avg_basket_fen, 333);
        assert_eq!(l.margin_fen, 200);
        assert_eq!(l.margin_permille, Some(250));
        assert_eq!(l.net_fen, 900);
        assert_eq!(
            Line::new("k".into(), "k".into(), &Figures::default()).margin_permille,
            None
        );
    }

    #[test]
    fn granularity_parses() {
        assert_eq!(Granularity::parse(None).ok(), Some(Granularity::Day));
        assert_eq!(
            Granularity::parse(Some("week")).ok(),
            Some(Granularity::Week)
        );
        assert!(Granularity::parse(Some("month")).is_err());
    }
}
