//! Merchant settlement (issue 20): per merchant and China day, the paid amount of its products'
//! lines minus the refunds minus the platform's commission, frozen until the after-sale window
//! closes, then paid out by head office.
//!
//! **What a day holds.** The statement of merchant M for China day D holds every line of M's
//! products (`order_lines` → `skus` → `products.merchant_id`) of the online orders whose payment
//! completed on D (the order's last `payments.paid_at`), at the line's recorded amount
//! (`order_lines.amount_fen`, the amount due: the pricing engine allocates every discount to
//! the lines), and every refund of such an order completed
//! (`payment_refunds.state = 'success'`, at its `updated_at`) on D. A refund is recorded per
//! order and payment, not per line, so it is **pro-rated over the order's lines by their
//! amounts** (largest remainder, so the shares add up to the refund exactly); the part of a
//! refund above the order's line amounts (a delivery fee) stays with the platform. Each
//! merchant's statement takes the shares of its own lines.
//!
//! **Commission.** Per line, `amount × rate_bp / 10000` rounded half up in fen, the rate being
//! the merchant's own for the category, else the default (`*`), else 0 — as in force when the
//! statement is built, and frozen on the line. A refund line gives back commission on its
//! share at the rate frozen on the sale it refunds (the rate in force at build when that sale is
//! on no statement).
//!
//! **Exactly once.** [`build_due`] (the sweeper, every minute under the job lease
//! `sweeper.merchant_statements`, or a test with its own `now`) builds each ended day (ended
//! [`BUILD_GRACE_MS`] ago, so late commits are in) once: one transaction per day whose first
//! write claims the day in `merchant_statement_days`, and `UNIQUE (merchant_id, period_day)` on
//! the statements. A merchant with nothing on a day gets no statement.
//!
//! **Frozen.** `frozen_until` = end of D + `merchants.after_sale_days`; the statement reads as
//! `settleable` from then on (stored so by [`release_due`]); head office marks a settleable one
//! paid out ([`payout`]: idempotent with the same reference, audited).

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{china_day, AppState};
use crate::actor::{Role, StaffActor};
use crate::error::{AppError, AppResult};
use crate::storage::merchant_statements::{
    self as st, RefundedLine, SoldLine, Statement, StatementFilter, StatementLine, StatementStatus,
};
use crate::storage::{self, Store};

/// How long after a day ends before its statements are built (late commits).
pub const BUILD_GRACE_MS: i64 = 10 * 60 * 1000;

/// At most this many days built by one [`build_due`] call (a first run over a long history
/// catches up over several runs).
pub const DAYS_PER_RUN: i64 = 62;

const DAY_MS: i64 = 86_400_000;
const CHINA_OFFSET_MS: i64 = 8 * 3_600_000;

/// A China day number as `YYYY-MM-DD`.
pub fn day_text(day: i64) -> String {
    super::sales_report::date(day)
}

/// The Unix ms a China day starts at.
pub fn day_start(day: i64) -> i64 {
    day * DAY_MS - CHINA_OFFSET_MS
}

/// `amount × rate_bp / 10000` rounded half up (away from zero for a negative amount), in fen.
pub fn commission_of(amount_fen: i64, rate_bp: i64) -> i64 {
    let magnitude = (i128::from(amount_fen.abs()) * i128::from(rate_bp) + 5_000) / 10_000;
    let magnitude = i64::try_from(magnitude).unwrap_or(i64::MAX);
    if amount_fen < 0 {
        -magnitude
    } else {
        magnitude
    }
}

/// Splits `total` over `weights` in proportion (largest remainder; ties to the earlier), so the
/// shares add up to `total` exactly. All zero when the weights add up to zero.
pub fn pro_rate(total: i64, weights: &[i64]) -> Vec<i64> {
    let sum: i128 = weights.iter().map(|w| i128::from((*w).max(0))).sum();
    if sum == 0 || total <= 0 {
        return vec![0; weights.len()];
    }
    let total = i128::from(total);
    let mut shares: Vec<i128> = Vec::with_capacity(weights.len());
    let mut rests: Vec<(i128, usize)> = Vec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        let exact = total * i128::from((*w).max(0));
        shares.push(exact / sum);
        rests.push((exact % sum, i));
    }
    let mut left = total - shares.iter().sum::<i128>();
    rests.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in rests {
        if left <= 0 {
            break;
        }
        shares[i] += 1;
        left -= 1;
    }
    shares
        .into_iter()
        .map(|s| i64::try_from(s).unwrap_or(0))
        .collect()
}

/// What one [`build_due`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Built {
    /// Days built.
    pub days: u64,
    /// Statements written.
    pub statements: u64,
}

/// Builds the statements of every day that ended at least [`BUILD_GRACE_MS`] before `now` and
/// is not built yet (at most [`DAYS_PER_RUN`]), each day in one transaction.
pub async fn build_due(state: &AppState, now: i64) -> AppResult<Built> {
    let store = &state.store;
    let last_done = china_day(now - BUILD_GRACE_MS) - 1;
    let first = match st::last_built_day(store).await? {
        Some(d) => super::events::parse_day(&d, "period_day")? + 1,
        None => match st::first_activity(store).await? {
            Some(t) => china_day(t),
            None => return Ok(Built::default()),
        },
    };
    let after_sale_days = i64::from(state.settings.merchants.after_sale_days.min(365));
    let mut built = Built::default();
    for day in first..=last_done.min(first + DAYS_PER_RUN - 1) {
        if let Some(n) = build_day(store, day, after_sale_days, now).await? {
            built.days += 1;
            built.statements += n;
        }
    }
    Ok(built)
}

/// The commission rate of a merchant in a category: its own, else the default, else 0.
fn rate_of(rates: &HashMap<(String, String), i64>, merchant: &str, category: &str) -> i64 {
    rates
        .get(&(merchant.to_owned(), category.to_owned()))
        .or_else(|| rates.get(&("*".to_owned(), category.to_owned())))
        .copied()
        .unwrap_or(0)
}

/// Builds China day `day`'s statements once; `None` when it was built already.
async fn build_day(
    store: &Store,
    day: i64,
    after_sale_days: i64,
    now: i64,
) -> AppResult<Option<u64>> {
    let period = day_text(day);
    let rates: HashMap<(String, String), i64> = storage::merchants::commission_rates(store)
        .await?
        .into_iter()
        .map(|r| ((r.merchant_id, r.category_id), r.rate_bp))
        .collect();
    let mut tx = store.begin().await?;
    if !st::claim_day(&mut tx, &period, now).await? {
        return Ok(None);
    }
    let (from, to) = (day_start(day), day_start(day + 1));
    let sold = st::sold_lines(&mut tx, from, to).await?;
    let refunded = st::refunded_lines(&mut tx, from, to).await?;

    let mut by_merchant: BTreeMap<String, Vec<StatementLine>> = BTreeMap::new();
    for l in &sold {
        let rate = rate_of(&rates, &l.merchant_id, &l.category_id);
        by_merchant
            .entry(l.merchant_id.clone())
            .or_default()
            .push(line("sale", l, None, l.amount_fen, rate, l.paid_at));
    }
    // Refunds, grouped by refund (the rows come ordered by refund, then line).
    let mut i = 0;
    while i < refunded.len() {
        let id = &refunded[i].refund_id;
        let end = refunded[i..]
            .iter()
            .position(|r| &r.refund_id != id)
            .map_or(refunded.len(), |n| i + n);
        let group: &[RefundedLine] = &refunded[i..end];
        let weights: Vec<i64> = group.iter().map(|r| r.line.amount_fen).collect();
        let lines_total: i64 = weights.iter().map(|w| (*w).max(0)).sum();
        let shares = pro_rate(group[0].refund_fen.min(lines_total), &weights);
        for (r, share) in group.iter().zip(shares) {
            if share == 0 {
                continue;
            }
            let rate = match st::sale_rate(&mut tx, &r.line.order_id, r.line.line_no).await? {
                Some(rate) => rate,
                None => rate_of(&rates, &r.line.merchant_id, &r.line.category_id),
            };
            by_merchant
                .entry(r.line.merchant_id.clone())
                .or_default()
                .push(line(
                    "refund",
                    &r.line,
                    Some(&r.refund_id),
                    -share,
                    rate,
                    r.at,
                ));
        }
        i = end;
    }

    let frozen_until = day_start(day + 1) + after_sale_days * DAY_MS;
    let mut written = 0;
    for (merchant, mut lines) in by_merchant {
        let mut paid = 0;
        let mut refunded_fen = 0;
        let mut commission = 0;
        for (n, l) in lines.iter_mut().enumerate() {
            l.line_no = i64::try_from(n).unwrap_or(i64::MAX - 1) + 1;
            if l.kind == "sale" {
                paid += l.amount_fen;
            } else {
                refunded_fen -= l.amount_fen;
            }
            commission += l.commission_fen;
        }
        let statement = Statement {
            id: uuid::Uuid::now_v7().to_string(),
            merchant_id: merchant,
            period_day: period.clone(),
            paid_fen: paid,
            refunded_fen,
            commission_fen: commission,
            net_fen: paid - refunded_fen - commission,
            line_count: i64::try_from(lines.len()).unwrap_or(i64::MAX),
            status: StatementStatus::Frozen,
            frozen_until,
            built_at: now,
            paid_out_at: None,
            paid_out_by: None,
            payout_ref: None,
        };
        if st::insert(&mut tx, &statement, &lines).await? {
            written += 1;
        }
    }
    tx.commit().await?;
    Ok(Some(written))
}

/// A statement line of `kind` for an order line (line numbers are given when the statement is
/// put together).
fn line(
    kind: &str,
    l: &SoldLine,
    refund: Option<&str>,
    amount_fen: i64,
    rate_bp: i64,
    at: i64,
) -> StatementLine {
    StatementLine {
        line_no: 0,
        kind: kind.to_owned(),
        order_id: l.order_id.clone(),
        order_no: l.order_no.clone(),
        order_line_no: l.line_no,
        refund_id: refund.map(str::to_owned),
        sku_id: l.sku_id.clone(),
        category_id: l.category_id.clone(),
        qty: l.qty,
        amount_fen,
        rate_bp,
        commission_fen: commission_of(amount_fen, rate_bp),
        at,
    }
}

/// Stores `settleable` on every frozen statement whose window closed by `now`; how many.
pub async fn release_due(store: &Store, now: i64) -> AppResult<u64> {
    st::release_due(store, now).await
}

/// The sweeper's job: statements of the ended days built, closed windows released.
pub async fn run(state: &AppState, now: i64) -> AppResult<(Built, u64)> {
    let built = build_due(state, now).await?;
    let released = release_due(&state.store, now).await?;
    Ok((built, released))
}

/// The status as of `now`: a frozen statement whose window has closed reads `settleable`.
fn as_of(mut s: Statement, now: i64) -> Statement {
    if s.status == StatementStatus::Frozen && now >= s.frozen_until {
        s.status = StatementStatus::Settleable;
    }
    s
}

/// Which statements to list (API and console).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ListQuery {
    /// A merchant (head office; a merchant administrator always gets its own).
    pub merchant: Option<String>,
    /// From this China day, `YYYY-MM-DD`.
    pub from: Option<String>,
    /// To this China day, `YYYY-MM-DD`.
    pub to: Option<String>,
    /// Only in this status.
    pub status: Option<StatementStatus>,
}

/// A day given as `YYYY-MM-DD`, checked and written back in that form.
fn check_day(field: &str, text: &Option<String>) -> AppResult<Option<String>> {
    match text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => Ok(Some(day_text(super::events::parse_day(t, field)?))),
    }
}

/// The statements `by` may see that `q` asks for (newest day first, at most 1000): head office
/// any merchant's, a merchant administrator its own only (whatever it asks for).
pub async fn list(
    store: &Store,
    by: &StaffActor,
    q: &ListQuery,
    now: i64,
) -> AppResult<Vec<Statement>> {
    let merchant = match by.merchant_scope()? {
        Some(own) => Some(own.to_owned()),
        None => q
            .merchant
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_owned),
    };
    let filter = StatementFilter {
        merchant_id: merchant,
        from: check_day("from", &q.from)?,
        to: check_day("to", &q.to)?,
        status: q.status,
        now,
        limit: 1000,
    };
    Ok(st::list(store, &filter)
        .await?
        .into_iter()
        .map(|s| as_of(s, now))
        .collect())
}

/// A statement with its lines.
#[derive(Clone, Debug, serde::Serialize, ToSchema)]
pub struct StatementDetail {
    /// The statement.
    #[serde(flatten)]
    pub statement: Statement,
    /// Its lines in order.
    pub lines: Vec<StatementLine>,
}

/// One statement `by` may see (another merchant's is not found, for a merchant administrator).
pub async fn get(store: &Store, by: &StaffActor, id: &str, now: i64) -> AppResult<Statement> {
    let scope = by.merchant_scope()?;
    match st::get(store, id).await? {
        Some(s) if scope.is_none_or(|own| own == s.merchant_id) => Ok(as_of(s, now)),
        _ => Err(AppError::not_found(format!("statement {id}"))),
    }
}

/// One statement with its lines, as [`get`].
pub async fn detail(
    store: &Store,
    by: &StaffActor,
    id: &str,
    now: i64,
) -> AppResult<StatementDetail> {
    let statement = get(store, by, id, now).await?;
    let lines = st::lines(store, &statement.id).await?;
    Ok(StatementDetail { statement, lines })
}

/// Head office's payout of a statement.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayoutRequest {
    /// The transfer's reference: 1–64 characters, no control characters.
    pub reference: String,
}

/// Head office marks a settleable statement paid out with the transfer's `reference` (audited
/// as `merchant_statement.payout`). The same reference again answers the statement as it is;
/// 409 while it is frozen or when it was paid out with another reference.
pub async fn payout(
    store: &Store,
    by: &StaffActor,
    id: &str,
    reference: &str,
    now: i64,
) -> AppResult<Statement> {
    by.require(&[Role::HeadOfficeAdmin])?;
    let reference = reference.trim();
    if reference.is_empty() || reference.chars().count() > 64 {
        return Err(AppError::field("reference", "1 to 64 characters"));
    }
    if reference.chars().any(char::is_control) {
        return Err(AppError::field("reference", "no control characters"));
    }
    let mut tx = store.begin().await?;
    let Some(s) = st::get_for_update(&mut tx, store, id).await? else {
        return Err(AppError::not_found(format!("statement {id}")));
    };
    let s = as_of(s, now);
    match s.status {
        StatementStatus::PaidOut if s.payout_ref.as_deref() == Some(reference) => return Ok(s),
        StatementStatus::PaidOut => {
            return Err(AppError::conflict(
                "statement_paid_out",
                format!(
                    "statement {id} was paid out with reference {}",
                    s.payout_ref.unwrap_or_default()
                ),
            ))
        }
        StatementStatus::Frozen => {
            return Err(AppError::conflict(
                "statement_frozen",
                format!(
                    "statement {id} is frozen until {} (the after-sale window)",
                    storage::from_ms(s.frozen_until)
                        .with_timezone(&super::china_offset())
                        .format("%Y-%m-%d %H:%M")
                ),
            ))
        }
        StatementStatus::Settleable => {}
    }
    if !st::mark_paid_out(&mut tx, id, reference, &by.actor(), now).await? {
        return Err(AppError::conflict(
            "statement_paid_out",
            format!("statement {id} was paid out meanwhile"),
        ));
    }
    storage::audit::record(
        &mut tx,
        &by.actor(),
        "merchant_statement.payout",
        "merchant_statement",
        id,
        json!({ "merchant_id": s.merchant_id, "period_day": s.period_day,
                "net_fen": s.net_fen, "reference": reference }),
    )
    .await?;
    tx.commit().await?;
    st::get(store, id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("statement {id}")))
}

/// Fen as yuan with two decimals: `1234` → `12.34`, `-5` → `-0.05`.
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// The CSV header of a statement file (docs/CONTRACTS.md, "Merchant statements").
pub const CSV_HEADER: [&str; 13] = [
    "line_no",
    "kind",
    "order_no",
    "order_line_no",
    "refund_id",
    "sku_id",
    "category_id",
    "qty",
    "amount_yuan",
    "rate_bp",
    "commission_yuan",
    "net_yuan",
    "at",
];

/// A statement as a CSV file: UTF-8 with a byte-order mark (so spreadsheet programs read the
/// Chinese right), the header, one row per line, then a totals row (`total`, the merchant, the
/// day, the line count, and the sums of the amount, commission and net columns).
pub fn csv(detail: &StatementDetail) -> AppResult<Vec<u8>> {
    let internal = |e: csv::Error| AppError::Internal(anyhow::anyhow!("statement csv: {e}"));
    let mut w = csv::Writer::from_writer(vec![0xEF, 0xBB, 0xBF]);
    w.write_record(CSV_HEADER).map_err(internal)?;
    let time = |ms: i64| {
        storage::from_ms(ms)
            .with_timezone(&super::china_offset())
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    for l in &detail.lines {
        w.write_record([
            l.line_no.to_string(),
            l.kind.clone(),
            l.order_no.clone(),
            l.order_line_no.to_string(),
            l.refund_id.clone().unwrap_or_default(),
            l.sku_id.clone(),
            l.category_id.clone(),
            l.qty.to_string(),
            yuan(l.amount_fen),
            l.rate_bp.to_string(),
            yuan(l.commission_fen),
            yuan(l.amount_fen - l.commission_fen),
            time(l.at),
        ])
        .map_err(internal)?;
    }
    let s = &detail.statement;
    w.write_record([
        "total".to_owned(),
        String::new(),
        s.merchant_id.clone(),
        String::new(),
        String::new(),
        String::new(),
        s.period_day.clone(),
        s.line_count.to_string(),
        yuan(s.paid_fen - s.refunded_fen),
        String::new(),
        yuan(s.commission_fen),
        yuan(s.net_fen),
        String::new(),
    ])
    .map_err(internal)?;
    w.into_inner()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("statement csv: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commission_rounds_half_up() {
        assert_eq!(commission_of(1250, 600), 75);
        assert_eq!(commission_of(1258, 600), 75); // 75.48
        assert_eq!(commission_of(1259, 600), 76); // 75.54
        assert_eq!(commission_of(250, 200), 5);
        assert_eq!(commission_of(25, 200), 1); // 0.5 → 1
        assert_eq!(commission_of(-25, 200), -1);
        assert_eq!(commission_of(0, 500), 0);
    }

    #[test]
    fn refunds_are_pro_rated_exactly() {
        assert_eq!(pro_rate(100, &[1, 1, 1]), vec![34, 33, 33]);
        assert_eq!(pro_rate(1000, &[600, 400]), vec![600, 400]);
        assert_eq!(pro_rate(500, &[600, 400]), vec![300, 200]);
        assert_eq!(pro_rate(7, &[0, 0]), vec![0, 0]);
        let shares = pro_rate(9_999, &[333, 777, 1]);
        assert_eq!(shares.iter().sum::<i64>(), 9_999);
    }

    #[test]
    fn days_and_yuan() {
        assert_eq!(day_start(0), -8 * 3_600_000);
        assert_eq!(china_day(day_start(20_000)), 20_000);
        assert_eq!(china_day(day_start(20_001) - 1), 20_000);
        assert_eq!(yuan(1234), "12.34");
        assert_eq!(yuan(-5), "-0.05");
        assert_eq!(yuan(0), "0.00");
    }
}
