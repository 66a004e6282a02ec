//! Growth analytics rollups (issue 19, migration 0050, `docs/ANALYTICS.md`): the conversion
//! funnel, the retention cohorts, promotion and coupon ROI and the flash-sale / group-buy /
//! bargain reports. [`count`] keeps them, called by [`super::events::insert`] inside its
//! transaction with the events stored there for the first time, so each event counts exactly
//! once (a resent event id is not passed) and the rollups commit or roll back with the events;
//! the console's pages read only these tables (and the small per-campaign tables for names and
//! team / run outcomes), never the raw events or the order history.

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;
use uuid::Uuid;

use super::events::NewEvent;
use super::{col, Store, Tx};
use crate::error::AppResult;

/// The funnel's steps, in order.
pub const STEPS: &[&str] = &["view", "cart", "checkout", "paid"];

/// The product pages' path prefix (`/p/{product}`): a page view there is the funnel's `view`.
pub const PRODUCT_PATH: &str = "/p/";

/// Longest campaign name kept (longer ones are cut).
pub const MAX_CAMPAIGN: usize = 64;

/// The Monday-based week number of China day `day` (day 0 = 1970-01-01, a Thursday; week 0
/// starts on Monday 1969-12-29).
pub fn week_of(day: i64) -> i64 {
    (day + 3).div_euclid(7)
}

/// The China day number of the Monday starting week `week`.
pub fn week_start(week: i64) -> i64 {
    week * 7 - 3
}

/// The funnel step a client event is, if any.
fn client_step(e: &NewEvent, props: &Value) -> Option<&'static str> {
    match e.name.as_str() {
        "page_view"
            if e.page
                .as_deref()
                .is_some_and(|p| p.starts_with(PRODUCT_PATH)) =>
        {
            Some("view")
        }
        "click" => match props.get("target").and_then(Value::as_str) {
            Some("add_to_cart") => Some("cart"),
            Some("checkout" | "place_order") => Some("checkout"),
            _ => None,
        },
        _ => None,
    }
}

fn campaign_of(props: &Value) -> String {
    props
        .get("campaign")
        .and_then(Value::as_str)
        .map(|c| c.trim().chars().take(MAX_CAMPAIGN).collect())
        .unwrap_or_default()
}

/// The order an `order_paid` or `lane_sale` event is about (its id is `<name>:<order id>`).
fn order_of(e: &NewEvent) -> Option<Uuid> {
    e.order_id.or_else(|| {
        e.event_id
            .split_once(':')
            .and_then(|(_, id)| Uuid::try_parse(id).ok())
    })
}

/// Adds `stored` (events stored now for the first time, in the transaction that stored them)
/// to the rollups: funnel steps (client product views, add-to-cart and checkout clicks, paid
/// orders), retention weeks, promotion / coupon figures and campaign figures of paid orders
/// (`order_paid`, `lane_sale`), coupon claims (`coupon_claimed`).
pub async fn count(tx: &mut Tx, stored: &[&NewEvent]) -> AppResult<()> {
    // (day, visitor, step) -> (channel, campaign, at), the first of the batch.
    let mut steps: BTreeMap<(i64, String, &'static str), (String, String, i64)> = BTreeMap::new();
    let mut claims: BTreeMap<(i64, String), i64> = BTreeMap::new();
    for e in stored {
        match (e.source, e.name.as_str()) {
            ("client", _) => {
                let props: Value = serde_json::from_str(&e.props).unwrap_or(Value::Null);
                let (Some(step), Some(device)) = (client_step(e, &props), e.device_id.as_ref())
                else {
                    continue;
                };
                steps
                    .entry((e.day, format!("d:{device}"), step))
                    .or_insert_with(|| (e.channel.clone(), campaign_of(&props), e.occurred_at));
            }
            ("server", "order_paid" | "lane_sale") => {
                let Some(order) = order_of(e) else { continue };
                let Some(paid) = paid_order(tx, order).await? else {
                    continue;
                };
                if e.name == "order_paid" {
                    let (visitor, campaign) = paid_visitor(tx, order, &paid).await?;
                    steps
                        .entry((e.day, visitor, "paid"))
                        .or_insert_with(|| (e.channel.clone(), campaign, e.occurred_at));
                }
                if let Some(member) = paid.member.as_deref().filter(|_| !paid.opted_out) {
                    retention_add(tx, member, week_of(e.day)).await?;
                }
                promotions_add(tx, e.day, &paid).await?;
                campaigns_add(tx, e.day, order, &paid).await?;
            }
            ("server", "coupon_claimed") => {
                let props: Value = serde_json::from_str(&e.props).unwrap_or(Value::Null);
                if let Some(t) = props.get("template_id").and_then(Value::as_str) {
                    *claims.entry((e.day, t.to_owned())).or_insert(0) += 1;
                }
            }
            _ => {}
        }
    }
    let mut days: BTreeMap<(i64, &'static str, String, String), i64> = BTreeMap::new();
    for ((day, visitor, step), (channel, campaign, at)) in steps {
        let new = sqlx::query(
            "INSERT INTO funnel_seen (day, visitor, step, channel, campaign, at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (day, visitor, step) DO NOTHING",
        )
        .bind(day)
        .bind(&visitor)
        .bind(step)
        .bind(&channel)
        .bind(&campaign)
        .bind(at)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if new == 1 {
            *days.entry((day, step, channel, campaign)).or_insert(0) += 1;
        }
    }
    for ((day, step, channel, campaign), n) in days {
        sqlx::query(
            "INSERT INTO funnel_days (day, step, channel, campaign, visitors) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (day, step, channel, campaign) \
             DO UPDATE SET visitors = funnel_days.visitors + excluded.visitors",
        )
        .bind(day)
        .bind(step)
        .bind(&channel)
        .bind(&campaign)
        .bind(n)
        .execute(&mut **tx)
        .await?;
    }
    for ((day, template), n) in claims {
        promo_add(
            tx,
            day,
            "coupon",
            &template,
            PromoDelta {
                claimed: n,
                ..Default::default()
            },
        )
        .await?;
    }
    Ok(())
}

/// What a paid order's rollups need of it.
struct PaidOrder {
    member: Option<String>,
    opted_out: bool,
    total_fen: i64,
    units: i64,
    pricing: Option<String>,
}

async fn paid_order(tx: &mut Tx, order: Uuid) -> AppResult<Option<PaidOrder>> {
    let row = sqlx::query(
        "SELECT o.member_id, COALESCE(m.personalisation_opt_out, 0) AS opted_out, o.total_fen, \
         o.units, o.pricing FROM orders o LEFT JOIN members m ON m.id = o.member_id WHERE o.id = $1",
    )
    .bind(order.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|r| {
        Ok(PaidOrder {
            member: col(&r, "member_id")?,
            opted_out: col::<i64>(&r, "opted_out")? != 0,
            total_fen: col(&r, "total_fen")?,
            units: col(&r, "units")?,
            pricing: col(&r, "pricing")?,
        })
    })
    .transpose()
}

/// Who paid, for the funnel: the device of the member's latest tracked client event (`d:…`),
/// with the campaign of that device's latest funnel step; else the member (`m:…`), or the order
/// (`o:…`) when the member opted out or there is none.
async fn paid_visitor(tx: &mut Tx, order: Uuid, paid: &PaidOrder) -> AppResult<(String, String)> {
    let Some(member) = paid.member.as_deref().filter(|_| !paid.opted_out) else {
        return Ok((format!("o:{order}"), String::new()));
    };
    let device = sqlx::query(
        "SELECT device_id FROM events WHERE member_id = $1 AND device_id IS NOT NULL \
         ORDER BY occurred_at DESC LIMIT 1",
    )
    .bind(member)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(device) = device.map(|r| col::<String>(&r, "device_id")).transpose()? else {
        return Ok((format!("m:{member}"), String::new()));
    };
    let visitor = format!("d:{device}");
    let campaign =
        sqlx::query("SELECT campaign FROM funnel_seen WHERE visitor = $1 ORDER BY at DESC LIMIT 1")
            .bind(&visitor)
            .fetch_optional(&mut **tx)
            .await?
            .map(|r| col::<String>(&r, "campaign"))
            .transpose()?
            .unwrap_or_default();
    Ok((visitor, campaign))
}

async fn cell_add(tx: &mut Tx, cohort: i64, after: i64, n: i64) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO retention_cells (cohort_week, weeks_after, members) VALUES ($1, $2, $3) \
         ON CONFLICT (cohort_week, weeks_after) \
         DO UPDATE SET members = retention_cells.members + excluded.members",
    )
    .bind(cohort)
    .bind(after)
    .bind(n)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// `member` had a paid order in `week`: their first week and active weeks, and the cohort
/// cells. A week before their first one (a late lane sale) moves all their weeks to the new
/// cohort.
async fn retention_add(tx: &mut Tx, member: &str, week: i64) -> AppResult<()> {
    let first = sqlx::query(&format!(
        "SELECT week FROM member_first_week WHERE member_id = $1{}",
        for_update(tx)
    ))
    .bind(member)
    .fetch_optional(&mut **tx)
    .await?
    .map(|r| col::<i64>(&r, "week"))
    .transpose()?;
    let new_week = sqlx::query(
        "INSERT INTO member_active_weeks (member_id, week) VALUES ($1, $2) \
         ON CONFLICT (member_id, week) DO NOTHING",
    )
    .bind(member)
    .bind(week)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    match first {
        None => {
            sqlx::query("INSERT INTO member_first_week (member_id, week) VALUES ($1, $2)")
                .bind(member)
                .bind(week)
                .execute(&mut **tx)
                .await?;
            cell_add(tx, week, 0, 1).await?;
        }
        Some(first) if week >= first => {
            if new_week {
                cell_add(tx, first, week - first, 1).await?;
            }
        }
        Some(first) => {
            let weeks = sqlx::query("SELECT week FROM member_active_weeks WHERE member_id = $1")
                .bind(member)
                .fetch_all(&mut **tx)
                .await?;
            for r in &weeks {
                let w: i64 = col(r, "week")?;
                if w != week {
                    cell_add(tx, first, w - first, -1).await?;
                }
                cell_add(tx, week, w - week, 1).await?;
            }
            sqlx::query("UPDATE member_first_week SET week = $1 WHERE member_id = $2")
                .bind(week)
                .bind(member)
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}

/// ` FOR UPDATE` on PostgreSQL; nothing on SQLite (its single writer serialises writes).
fn for_update(tx: &Tx) -> &'static str {
    if tx.backend_name() == "SQLite" {
        ""
    } else {
        " FOR UPDATE"
    }
}

/// What a paid order adds to one promotion's, coupon template's or the baseline's day.
#[derive(Default)]
struct PromoDelta {
    claimed: i64,
    used: i64,
    orders: i64,
    discount_fen: i64,
    gmv_fen: i64,
}

async fn promo_add(tx: &mut Tx, day: i64, kind: &str, id: &str, d: PromoDelta) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO promo_days (day, kind, ref_id, claimed, used, orders, discount_fen, gmv_fen) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (day, kind, ref_id) DO UPDATE SET \
         claimed = promo_days.claimed + excluded.claimed, used = promo_days.used + excluded.used, \
         orders = promo_days.orders + excluded.orders, \
         discount_fen = promo_days.discount_fen + excluded.discount_fen, \
         gmv_fen = promo_days.gmv_fen + excluded.gmv_fen",
    )
    .bind(day)
    .bind(kind)
    .bind(id)
    .bind(d.claimed)
    .bind(d.used)
    .bind(d.orders)
    .bind(d.discount_fen)
    .bind(d.gmv_fen)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The promotions and coupons an order's pricing record (`orders.pricing`, JSON) applied, with
/// their amounts in fen: `(promotions, coupons)`.
fn applied(pricing: Option<&str>) -> (BTreeMap<String, i64>, BTreeMap<String, i64>) {
    let mut promotions = BTreeMap::new();
    let mut coupons = BTreeMap::new();
    let value: Value = pricing
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or(Value::Null);
    for d in value
        .get("applied")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let fen = d
            .get("amount")
            .cloned()
            .and_then(|a| serde_json::from_value::<retail_domain::money::Money>(a).ok())
            .map_or(0, |m| m.fen());
        let source = d.get("source");
        let kind = source.and_then(|s| s.get("kind")).and_then(Value::as_str);
        match kind {
            Some("promotion") => {
                if let Some(id) = source
                    .and_then(|s| s.get("promotion_id"))
                    .and_then(Value::as_str)
                {
                    *promotions.entry(id.to_owned()).or_insert(0) += fen;
                }
            }
            Some("coupon") => {
                if let Some(id) = source
                    .and_then(|s| s.get("coupon_id"))
                    .and_then(Value::as_str)
                {
                    *coupons.entry(id.to_owned()).or_insert(0) += fen;
                }
            }
            _ => {}
        }
    }
    (promotions, coupons)
}

async fn promotions_add(tx: &mut Tx, day: i64, paid: &PaidOrder) -> AppResult<()> {
    let (promotions, coupons) = applied(paid.pricing.as_deref());
    // Coupons by template (a template's coupons used together count once as an order).
    let mut templates: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for (coupon, fen) in &coupons {
        let template = sqlx::query("SELECT template_id FROM coupons WHERE id = $1")
            .bind(coupon)
            .fetch_optional(&mut **tx)
            .await?
            .map(|r| col::<String>(&r, "template_id"))
            .transpose()?;
        if let Some(t) = template {
            let e = templates.entry(t).or_insert((0, 0));
            e.0 += 1;
            e.1 += fen;
        }
    }
    if promotions.is_empty() && templates.is_empty() {
        return promo_add(
            tx,
            day,
            "none",
            "",
            PromoDelta {
                orders: 1,
                gmv_fen: paid.total_fen,
                ..Default::default()
            },
        )
        .await;
    }
    for (id, fen) in promotions {
        let d = PromoDelta {
            orders: 1,
            discount_fen: fen,
            gmv_fen: paid.total_fen,
            ..Default::default()
        };
        promo_add(tx, day, "promotion", &id, d).await?;
    }
    for (id, (used, fen)) in templates {
        let d = PromoDelta {
            used,
            orders: 1,
            discount_fen: fen,
            gmv_fen: paid.total_fen,
            ..Default::default()
        };
        promo_add(tx, day, "coupon", &id, d).await?;
    }
    Ok(())
}

async fn campaign_add(
    tx: &mut Tx,
    day: i64,
    kind: &str,
    id: &str,
    units: i64,
    gmv: i64,
) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO campaign_days (day, kind, ref_id, orders, units, gmv_fen) \
         VALUES ($1, $2, $3, 1, $4, $5) ON CONFLICT (day, kind, ref_id) DO UPDATE SET \
         orders = campaign_days.orders + 1, units = campaign_days.units + excluded.units, \
         gmv_fen = campaign_days.gmv_fen + excluded.gmv_fen",
    )
    .bind(day)
    .bind(kind)
    .bind(id)
    .bind(units)
    .bind(gmv)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A paid order of a flash sale (a promotion it applied that is a flash sale holding units for
/// it), a group-buy (its seat) or a bargain (its run).
async fn campaigns_add(tx: &mut Tx, day: i64, order: Uuid, paid: &PaidOrder) -> AppResult<()> {
    let order_id = order.to_string();
    let (promotions, _) = applied(paid.pricing.as_deref());
    for id in promotions.keys() {
        let held = sqlx::query(
            "SELECT qty FROM flash_sale_orders WHERE flash_sale_id = $1 AND order_id = $2",
        )
        .bind(id)
        .bind(&order_id)
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(r) = held {
            let qty: i64 = col(&r, "qty")?;
            campaign_add(tx, day, "flash_sale", id, qty, paid.total_fen).await?;
        }
    }
    let seat = sqlx::query("SELECT group_buy_id, qty FROM group_members WHERE order_id = $1")
        .bind(&order_id)
        .fetch_optional(&mut **tx)
        .await?;
    if let Some(r) = seat {
        let id: String = col(&r, "group_buy_id")?;
        let qty: i64 = col(&r, "qty")?;
        campaign_add(tx, day, "group_buy", &id, qty, paid.total_fen).await?;
    }
    let run = sqlx::query("SELECT bargain_id FROM bargain_runs WHERE order_id = $1")
        .bind(&order_id)
        .fetch_optional(&mut **tx)
        .await?;
    if let Some(r) = run {
        let id: String = col(&r, "bargain_id")?;
        campaign_add(tx, day, "bargain", &id, paid.units, paid.total_fen).await?;
    }
    Ok(())
}

/// Forgets a member whose account is deleted: their first and active weeks and their
/// member-keyed funnel steps (the counts and cohort cells stay, anonymous).
pub async fn forget_member(tx: &mut Tx, member: &str) -> AppResult<()> {
    for sql in [
        "DELETE FROM member_first_week WHERE member_id = $1",
        "DELETE FROM member_active_weeks WHERE member_id = $1",
    ] {
        sqlx::query(sql).bind(member).execute(&mut **tx).await?;
    }
    sqlx::query("DELETE FROM funnel_seen WHERE visitor = $1")
        .bind(format!("m:{member}"))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Distinct visitors of one day, step, channel and campaign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunnelRow {
    /// The China day number.
    pub day: i64,
    /// The step (`view`, `cart`, `checkout`, `paid`).
    pub step: String,
    /// The channel.
    pub channel: String,
    /// The campaign (`""`: none).
    pub campaign: String,
    /// Distinct visitors.
    pub visitors: i64,
}

/// The funnel's daily rows from China day `from` to `to` (both included), optionally of one
/// channel and one campaign.
pub async fn funnel_rows(
    store: &Store,
    from: i64,
    to: i64,
    channel: Option<&str>,
    campaign: Option<&str>,
) -> AppResult<Vec<FunnelRow>> {
    let rows = sqlx::query(
        "SELECT day, step, channel, campaign, visitors FROM funnel_days \
         WHERE day >= $1 AND day <= $2 AND ($3 = '' OR channel = $3) \
         AND ($4 = '*' OR campaign = $4) ORDER BY day, step, channel, campaign",
    )
    .bind(from)
    .bind(to)
    .bind(channel.unwrap_or(""))
    .bind(campaign.unwrap_or("*"))
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(FunnelRow {
                day: col(r, "day")?,
                step: col(r, "step")?,
                channel: col(r, "channel")?,
                campaign: col(r, "campaign")?,
                visitors: col(r, "visitors")?,
            })
        })
        .collect()
}

/// The campaigns the funnel saw from China day `from` to `to` (`""` for none), in order.
pub async fn funnel_campaigns(store: &Store, from: i64, to: i64) -> AppResult<Vec<String>> {
    let rows = sqlx::query(
        "SELECT DISTINCT campaign FROM funnel_days WHERE day >= $1 AND day <= $2 ORDER BY campaign",
    )
    .bind(from)
    .bind(to)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(|r| col(r, "campaign")).collect()
}

/// The retention cells of cohorts `from_week` to `to_week`: `(cohort_week, weeks_after,
/// members)`, cells of no member left out.
pub async fn retention_cells(
    store: &Store,
    from_week: i64,
    to_week: i64,
) -> AppResult<Vec<(i64, i64, i64)>> {
    let rows = sqlx::query(
        "SELECT cohort_week, weeks_after, members FROM retention_cells \
         WHERE cohort_week >= $1 AND cohort_week <= $2 AND members <> 0 \
         ORDER BY cohort_week, weeks_after",
    )
    .bind(from_week)
    .bind(to_week)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                col(r, "cohort_week")?,
                col(r, "weeks_after")?,
                col(r, "members")?,
            ))
        })
        .collect()
}

/// One promotion's, coupon template's or the baseline's figures over a range.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PromoTotals {
    /// `promotion`, `coupon` or `none`.
    pub kind: String,
    /// The promotion or template id (`""` for the baseline).
    pub ref_id: String,
    /// Coupons claimed in the coupon centre.
    pub claimed: i64,
    /// Coupons used by paid orders.
    pub used: i64,
    /// Paid orders using it.
    pub orders: i64,
    /// Its discount on them, in fen.
    pub discount_fen: i64,
    /// Their totals, in fen.
    pub gmv_fen: i64,
}

/// The promotion and coupon figures from China day `from` to `to`, summed per kind and id.
pub async fn promo_totals(store: &Store, from: i64, to: i64) -> AppResult<Vec<PromoTotals>> {
    let rows = sqlx::query(
        "SELECT kind, ref_id, CAST(COALESCE(SUM(claimed), 0) AS BIGINT) AS claimed, \
         CAST(COALESCE(SUM(used), 0) AS BIGINT) AS used, \
         CAST(COALESCE(SUM(orders), 0) AS BIGINT) AS orders, \
         CAST(COALESCE(SUM(discount_fen), 0) AS BIGINT) AS discount_fen, \
         CAST(COALESCE(SUM(gmv_fen), 0) AS BIGINT) AS gmv_fen \
         FROM promo_days WHERE day >= $1 AND day <= $2 GROUP BY kind, ref_id ORDER BY kind, ref_id",
    )
    .bind(from)
    .bind(to)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(PromoTotals {
                kind: col(r, "kind")?,
                ref_id: col(r, "ref_id")?,
                claimed: col(r, "claimed")?,
                used: col(r, "used")?,
                orders: col(r, "orders")?,
                discount_fen: col(r, "discount_fen")?,
                gmv_fen: col(r, "gmv_fen")?,
            })
        })
        .collect()
}

/// One flash sale's, group-buy's or bargain's paid orders over a range.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CampaignTotals {
    /// `flash_sale`, `group_buy` or `bargain`.
    pub kind: String,
    /// Its id.
    pub ref_id: String,
    /// Paid orders.
    pub orders: i64,
    /// Units in them.
    pub units: i64,
    /// Their totals, in fen.
    pub gmv_fen: i64,
}

/// The campaign figures from China day `from` to `to`, summed per kind and id.
pub async fn campaign_totals(store: &Store, from: i64, to: i64) -> AppResult<Vec<CampaignTotals>> {
    let rows = sqlx::query(
        "SELECT kind, ref_id, CAST(COALESCE(SUM(orders), 0) AS BIGINT) AS orders, \
         CAST(COALESCE(SUM(units), 0) AS BIGINT) AS units, \
         CAST(COALESCE(SUM(gmv_fen), 0) AS BIGINT) AS gmv_fen \
         FROM campaign_days WHERE day >= $1 AND day <= $2 GROUP BY kind, ref_id ORDER BY kind, ref_id",
    )
    .bind(from)
    .bind(to)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(CampaignTotals {
                kind: col(r, "kind")?,
                ref_id: col(r, "ref_id")?,
                orders: col(r, "orders")?,
                units: col(r, "units")?,
                gmv_fen: col(r, "gmv_fen")?,
            })
        })
        .collect()
}

/// Outcomes of a group-buy's teams or a bargain's runs: `(id, succeeded, failed, open)` —
/// teams filled / failed / open; runs bought / past their deadline unbought / open.
pub async fn outcomes(store: &Store, now: i64) -> AppResult<Vec<(String, String, i64, i64, i64)>> {
    let rows = sqlx::query(
        "SELECT 'group_buy' AS kind, group_buy_id AS id, \
         CAST(COALESCE(SUM(CASE WHEN status = 'filled' THEN 1 ELSE 0 END), 0) AS BIGINT) AS won, \
         CAST(COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0) AS BIGINT) AS lost, \
         CAST(COALESCE(SUM(CASE WHEN status = 'open' THEN 1 ELSE 0 END), 0) AS BIGINT) AS pending \
         FROM group_teams GROUP BY group_buy_id \
         UNION ALL \
         SELECT 'bargain' AS kind, bargain_id AS id, \
         CAST(COALESCE(SUM(CASE WHEN status = 'bought' THEN 1 ELSE 0 END), 0) AS BIGINT) AS won, \
         CAST(COALESCE(SUM(CASE WHEN status = 'open' AND deadline_at <= $1 THEN 1 ELSE 0 END), 0) AS BIGINT) AS lost, \
         CAST(COALESCE(SUM(CASE WHEN status = 'open' AND deadline_at > $1 THEN 1 ELSE 0 END), 0) AS BIGINT) AS pending \
         FROM bargain_runs GROUP BY bargain_id",
    )
    .bind(now)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                col(r, "kind")?,
                col(r, "id")?,
                col(r, "won")?,
                col(r, "lost")?,
                col(r, "pending")?,
            ))
        })
        .collect()
}

/// The names (Chinese, English) of promotions, coupon templates, group-buys and bargains, by
/// id (small per-campaign tables).
pub async fn names(store: &Store) -> AppResult<BTreeMap<String, (String, String)>> {
    let mut names = BTreeMap::new();
    for sql in [
        "SELECT id, body FROM promotions",
        "SELECT id, body FROM coupon_templates",
    ] {
        for r in sqlx::query(sql).fetch_all(store.reader()).await? {
            let body: String = col(&r, "body")?;
            let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let name = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            names.insert(col(&r, "id")?, (name("name_zh"), name("name_en")));
        }
    }
    for sql in [
        "SELECT id, name_zh, name_en FROM group_buys",
        "SELECT id, name_zh, name_en FROM bargains",
    ] {
        for r in sqlx::query(sql).fetch_all(store.reader()).await? {
            names.insert(col(&r, "id")?, (col(&r, "name_zh")?, col(&r, "name_en")?));
        }
    }
    Ok(names)
}

/// Ids that are group-buys or bargains (their price is a promotion of the same id, which the
/// promotions report leaves to the campaigns report).
pub async fn campaign_ids(store: &Store) -> AppResult<HashSet<String>> {
    let mut ids = HashSet::new();
    for sql in ["SELECT id FROM group_buys", "SELECT id FROM bargains"] {
        for r in sqlx::query(sql).fetch_all(store.reader()).await? {
            ids.insert(col(&r, "id")?);
        }
    }
    Ok(ids)
}
