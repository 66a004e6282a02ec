//! Daily reconciliation (issue 14): a payment provider's bill of one day (a Beijing calendar
//! day) matched against the payments and refunds on record, by our ids (`out_trade_no` is a
//! payment's id, `out_refund_no` a refund's, each as 32 hex). Every bill line is matched or a
//! mismatch — missing on our side, amount differs — and every record of ours dated that day that
//! the bill lacks is missing on theirs. A run per (provider, day) is stored with its items
//! ([`crate::storage::reconciliation`]).
//!
//! The daily job ([`run`], one pass: [`run_due`]) reconciles yesterday for every configured
//! real provider once the day has passed `payments.reconcile_at` (Beijing time), exactly once
//! per (provider, day) even across restarts: the run row is the record. A bill that is not made
//! yet, a provider that does not answer, an answer that does not read: nothing is recorded
//! but the attempt (`reconciliation_waits`), and the day is asked for again after
//! `payments.reconcile_retry_secs`, at most `payments.reconcile_attempts` times, each failure
//! logged with its reason. Head office can reconcile any past day by hand
//! ([`reconcile_now`]), which replaces that day's run.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};
use retail_payments::{BillLine, BillLineKind, ProviderError};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::actor::{Role, StaffActor};
use crate::app::payment_providers::Provider;
use crate::app::payment_review::{offset_of, Page, PAGE_SIZE};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::storage::reconciliation::{
    self as store, EntryKind, Item, OurRecord, Outcome, RunCounts,
};
use crate::storage::{self};

/// The actor the daily job records its runs as.
pub const JOB: &str = "job";

/// Beijing time (UTC+8), the providers' day.
pub fn beijing() -> FixedOffset {
    super::china_offset()
}

/// The Beijing calendar day of an instant.
pub fn beijing_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&beijing()).date_naive()
}

/// A Beijing day as Unix milliseconds, `[start, end)`.
pub fn day_bounds(date: NaiveDate) -> (i64, i64) {
    let start = date
        .and_hms_opt(0, 0, 0)
        .and_then(|t| beijing().from_local_datetime(&t).single())
        .map(|t| t.timestamp_millis())
        .unwrap_or_default();
    (start, start + 86_400_000)
}

/// The providers that keep bills: WeChat Pay and Alipay (the sandbox keeps none).
pub const RECONCILED: [Provider; 2] = [Provider::WechatPay, Provider::Alipay];

/// A provider by its name (`wechat_pay`, `alipay`), if it is one that keeps bills.
pub fn provider_named(name: &str) -> Option<Provider> {
    RECONCILED.into_iter().find(|p| p.as_str() == name)
}

/// Why a day's bill could not be had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BillProblem {
    /// The provider has not made the bill yet (WeChat Pay `NO_STATEMENT_EXIST`,
    /// `STATEMENT_CREATING`; Alipay's `isp.*` answers come as unavailable).
    NotReady,
    /// The provider could not be reached, timed out or could not say.
    Unavailable,
    /// Any other failure: an answer that does not read or verify, a refusal, our configuration.
    Failed,
}

impl BillProblem {
    /// What happened, for logs and pages.
    pub fn as_str(self) -> &'static str {
        match self {
            BillProblem::NotReady => "bill not ready",
            BillProblem::Unavailable => "provider unavailable",
            BillProblem::Failed => "bill download failed",
        }
    }

    /// What a provider error means for a bill.
    pub fn of(err: &ProviderError) -> BillProblem {
        match err {
            ProviderError::Rejected { code, .. }
                if matches!(code.as_str(), "NO_STATEMENT_EXIST" | "STATEMENT_CREATING") =>
            {
                BillProblem::NotReady
            }
            ProviderError::Unavailable { .. } => BillProblem::Unavailable,
            _ => BillProblem::Failed,
        }
    }
}

/// A bill that could not be had, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BillFailure {
    /// The kind of problem.
    pub problem: BillProblem,
    /// The provider's error, for people.
    pub reason: String,
}

impl BillFailure {
    fn of(err: &ProviderError) -> BillFailure {
        let problem = BillProblem::of(err);
        BillFailure {
            problem,
            reason: format!("{}: {err}", problem.as_str()),
        }
    }
}

/// A recorded run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reconciled {
    /// The run's id.
    pub run_id: Uuid,
    /// Its counts.
    pub counts: RunCounts,
}

fn key_of(line: &BillLine) -> Option<(EntryKind, Uuid)> {
    match line.kind {
        BillLineKind::Payment => Uuid::try_parse(&line.out_trade_no)
            .ok()
            .map(|id| (EntryKind::Payment, id)),
        BillLineKind::Refund => line
            .out_refund_no
            .as_deref()
            .and_then(|no| Uuid::try_parse(no).ok())
            .map(|id| (EntryKind::Refund, id)),
    }
}

fn kind_of(line: &BillLine) -> EntryKind {
    match line.kind {
        BillLineKind::Payment => EntryKind::Payment,
        BillLineKind::Refund => EntryKind::Refund,
    }
}

fn join_notes(notes: Vec<String>) -> String {
    notes.join("; ")
}

/// The item of a bill line and the record of ours it names (if any).
fn item_of_line(line: &BillLine, ours: Option<&OurRecord>, mut notes: Vec<String>) -> Item {
    let outcome = match ours {
        None => Outcome::MissingOurs,
        Some(r) if r.amount_fen == line.amount_fen => Outcome::Matched,
        Some(_) => Outcome::AmountDiffers,
    };
    if let Some(r) = ours {
        let theirs = match line.kind {
            BillLineKind::Payment => Some(line.transaction_id.as_str()),
            BillLineKind::Refund => line.refund_id.as_deref(),
        };
        if let (Some(mine), Some(theirs)) = (r.provider_ref.as_deref(), theirs) {
            if mine != theirs {
                notes.push(format!("the provider's id on record here is {mine}"));
            }
        }
        if line.kind == BillLineKind::Refund
            && Uuid::try_parse(&line.out_trade_no).ok() != Some(r.payment_id)
        {
            notes.push(format!(
                "on record here as a refund of payment {}",
                r.payment_id.simple()
            ));
        }
    }
    Item {
        kind: kind_of(line),
        outcome,
        out_trade_no: line.out_trade_no.clone(),
        out_refund_no: line.out_refund_no.clone(),
        transaction_id: Some(line.transaction_id.clone()),
        provider_refund_id: line.refund_id.clone(),
        payment_id: ours.map(|r| r.payment_id),
        refund_id: ours.filter(|r| r.kind == EntryKind::Refund).map(|r| r.id),
        order_id: ours.and_then(|r| r.order_id),
        our_fen: ours.map(|r| r.amount_fen),
        their_fen: Some(line.amount_fen),
        our_at: ours.map(|r| r.at_ms),
        their_at: Some(line.at.timestamp_millis()),
        note: join_notes(notes),
    }
}

/// A record of ours that the bill lacks.
fn item_of_missing(r: &OurRecord) -> Item {
    let refund = r.kind == EntryKind::Refund;
    Item {
        kind: r.kind,
        outcome: Outcome::MissingTheirs,
        out_trade_no: r.payment_id.simple().to_string(),
        out_refund_no: refund.then(|| r.id.simple().to_string()),
        transaction_id: (!refund).then(|| r.provider_ref.clone()).flatten(),
        provider_refund_id: refund.then(|| r.provider_ref.clone()).flatten(),
        payment_id: Some(r.payment_id),
        refund_id: refund.then_some(r.id),
        order_id: r.order_id,
        our_fen: Some(r.amount_fen),
        their_fen: None,
        our_at: Some(r.at_ms),
        their_at: None,
        note: String::new(),
    }
}

/// Matches a bill against our records of its day (`day`) and the records of other days that
/// bill lines name (`elsewhere`): one item per bill line, in the bill's order (matched, amount
/// differs, or missing on our side: an id that is not ours, a record we do not have, a line
/// listed twice), then one per record of the day the bill lacks (missing on theirs), oldest
/// first. Pure: nothing is guessed, only ids are matched.
pub fn match_bill(lines: &[BillLine], day: &[OurRecord], elsewhere: &[OurRecord]) -> Vec<Item> {
    let mut of_day: HashMap<(EntryKind, Uuid), &OurRecord> =
        day.iter().map(|r| ((r.kind, r.id), r)).collect();
    let other: HashMap<(EntryKind, Uuid), &OurRecord> =
        elsewhere.iter().map(|r| ((r.kind, r.id), r)).collect();
    let mut seen = HashSet::new();
    let mut items = Vec::with_capacity(lines.len() + day.len());
    for line in lines {
        let Some(key) = key_of(line) else {
            items.push(item_of_line(line, None, vec!["not an id of ours".into()]));
            continue;
        };
        if !seen.insert(key) {
            items.push(item_of_line(
                line,
                None,
                vec!["listed again on the bill".into()],
            ));
            continue;
        }
        if let Some(r) = of_day.remove(&key) {
            items.push(item_of_line(line, Some(r), Vec::new()));
        } else if let Some(r) = other.get(&key) {
            let dated = beijing_date(storage::from_ms(r.at_ms));
            items.push(item_of_line(
                line,
                Some(r),
                vec![format!("dated {dated} here")],
            ));
        } else {
            items.push(item_of_line(line, None, Vec::new()));
        }
    }
    let mut missing: Vec<&OurRecord> = of_day.into_values().collect();
    missing.sort_by_key(|r| (r.at_ms, r.kind, r.id));
    items.extend(missing.into_iter().map(item_of_missing));
    items
}

fn counts_of(items: &[Item], bill_lines: usize, our_records: usize) -> RunCounts {
    let mut counts = RunCounts {
        bill_lines: i64::try_from(bill_lines).unwrap_or(i64::MAX),
        our_records: i64::try_from(our_records).unwrap_or(i64::MAX),
        ..RunCounts::default()
    };
    for item in items {
        match item.outcome {
            Outcome::Matched => counts.matched += 1,
            Outcome::MissingOurs => counts.missing_ours += 1,
            Outcome::MissingTheirs => counts.missing_theirs += 1,
            Outcome::AmountDiffers => counts.amount_differs += 1,
        }
    }
    counts
}

/// Matches `lines`, the bill of (provider, date), against our records and stores the run (with
/// `replace`, over the day's run if there is one; without, `None` when there is one already).
async fn record(
    state: &AppState,
    provider: Provider,
    date: NaiveDate,
    lines: &[BillLine],
    run_by: &str,
    replace: bool,
) -> AppResult<Option<Reconciled>> {
    let (from, to) = day_bounds(date);
    let method = provider.method().as_str();
    let day = store::ours_of_day(&state.store, method, from, to).await?;
    let known: HashSet<(EntryKind, Uuid)> = day.iter().map(|r| (r.kind, r.id)).collect();
    let (mut payments, mut refunds) = (Vec::new(), Vec::new());
    for key in lines.iter().filter_map(key_of) {
        if !known.contains(&key) {
            match key.0 {
                EntryKind::Payment => payments.push(key.1),
                EntryKind::Refund => refunds.push(key.1),
            }
        }
    }
    let elsewhere = store::ours_by_ids(&state.store, method, &payments, &refunds).await?;
    let items = match_bill(lines, &day, &elsewhere);
    let counts = counts_of(&items, lines.len(), day.len());
    let bill_date = date.format("%Y-%m-%d").to_string();
    let mut tx = state.store.begin().await?;
    let saved = store::save_run(
        &mut tx,
        &store::NewRun {
            provider: provider.as_str(),
            bill_date: &bill_date,
            counts,
            run_by,
            at: storage::now_ms(),
        },
        &items,
        replace,
    )
    .await?;
    let Some(run_id) = saved else {
        return Ok(None);
    };
    store::delete_wait(&mut tx, provider.as_str(), &bill_date).await?;
    if run_by != JOB {
        storage::audit::record(
            &mut tx,
            run_by,
            "reconciliation.run",
            "reconciliation_run",
            &run_id.to_string(),
            serde_json::json!({
                "provider": provider.as_str(),
                "bill_date": bill_date,
                "matched": counts.matched,
                "mismatches": counts.mismatches(),
            }),
        )
        .await?;
    }
    tx.commit().await?;
    if counts.mismatches() == 0 {
        tracing::info!(provider = provider.as_str(), %bill_date, run_by, matched = counts.matched, "reconciled: every line matched");
    } else {
        tracing::warn!(
            provider = provider.as_str(), %bill_date, run_by,
            matched = counts.matched, missing_ours = counts.missing_ours,
            missing_theirs = counts.missing_theirs, amount_differs = counts.amount_differs,
            "reconciled with mismatches"
        );
    }
    Ok(Some(Reconciled { run_id, counts }))
}

/// What reconciling a day by hand came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// The run is recorded (replacing the day's earlier one).
    Reconciled(Reconciled),
    /// The bill could not be had; nothing was recorded.
    NoBill(BillFailure),
}

/// Reconciles (provider, date) now, for head office: downloads the bill and replaces the day's
/// run (audited). Refused for other roles (403), for a provider that keeps no bills or is not
/// configured here and for a day that has not begun (422).
pub async fn reconcile_now(
    state: &AppState,
    staff: &StaffActor,
    provider: &str,
    date: NaiveDate,
) -> AppResult<Attempt> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let provider = provider_named(provider)
        .filter(|p| state.payments.has(*p))
        .ok_or_else(|| AppError::field("provider", "not a payment provider configured here"))?;
    if date > beijing_date(Utc::now()) {
        return Err(AppError::field("date", "that day has not begun"));
    }
    match state.payments.bill(provider, date).await {
        Ok(lines) => record(state, provider, date, &lines, &staff.actor(), true)
            .await?
            .map(Attempt::Reconciled)
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("a replacing run was not saved"))),
        Err(err) => {
            let failure = BillFailure::of(&err);
            tracing::warn!(provider = provider.as_str(), %date, reason = %failure.reason, "reconciling by hand: no bill");
            Ok(Attempt::NoBill(failure))
        }
    }
}

/// One thing a pass of the daily job did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobStep {
    /// A day reconciled.
    Reconciled {
        /// The provider.
        provider: Provider,
        /// The day.
        date: NaiveDate,
        /// The run.
        run: Reconciled,
    },
    /// A day's bill could not be had: asked for again later, or (`gave_up`) that was the last
    /// allowed attempt and the day is left to a person.
    NoBill {
        /// The provider.
        provider: Provider,
        /// The day.
        date: NaiveDate,
        /// Attempts so far.
        attempts: i64,
        /// Why not this time.
        failure: BillFailure,
        /// True when the job will not ask again.
        gave_up: bool,
    },
}

/// One pass of the daily job at `now`: once it is past `payments.reconcile_at` (Beijing),
/// yesterday for every configured provider that keeps bills, plus the earlier days whose retry
/// is due; each day without a run and not given up is reconciled or its attempt recorded.
pub async fn run_due(state: &AppState, now: DateTime<Utc>) -> AppResult<Vec<JobStep>> {
    let settings = &state.settings.payments;
    let at = settings.reconcile_time().map_err(AppError::Internal)?;
    let now_ms = now.timestamp_millis();
    let local = now.with_timezone(&beijing());
    let configured: Vec<Provider> = RECONCILED
        .into_iter()
        .filter(|p| state.payments.has(*p))
        .collect();
    let mut days: Vec<(Provider, NaiveDate)> = Vec::new();
    if local.time() >= at {
        if let Some(yesterday) = local.date_naive().pred_opt() {
            days.extend(configured.iter().map(|p| (*p, yesterday)));
        }
    }
    for wait in store::waits_due(&state.store, now_ms).await? {
        let provider = provider_named(&wait.provider).filter(|p| configured.contains(p));
        let date = NaiveDate::parse_from_str(&wait.bill_date, "%Y-%m-%d").ok();
        if let (Some(provider), Some(date)) = (provider, date) {
            if !days.contains(&(provider, date)) {
                days.push((provider, date));
            }
        }
    }
    let retry_ms =
        i64::try_from(settings.reconcile_retry_secs.saturating_mul(1000)).unwrap_or(i64::MAX / 4);
    let mut steps = Vec::new();
    for (provider, date) in days {
        let bill_date = date.format("%Y-%m-%d").to_string();
        if store::run_of_day(&state.store, provider.as_str(), &bill_date)
            .await?
            .is_some()
        {
            continue;
        }
        if let Some(wait) = store::wait_of_day(&state.store, provider.as_str(), &bill_date).await? {
            if wait.next_try_at.is_none_or(|t| t > now_ms) {
                continue;
            }
        }
        match state.payments.bill(provider, date).await {
            Ok(lines) => {
                if let Some(run) = record(state, provider, date, &lines, JOB, false).await? {
                    steps.push(JobStep::Reconciled {
                        provider,
                        date,
                        run,
                    });
                }
            }
            Err(err) => {
                let failure = BillFailure::of(&err);
                let wait = store::record_attempt(
                    &state.store,
                    provider.as_str(),
                    &bill_date,
                    &failure.reason,
                    now_ms.saturating_add(retry_ms),
                    i64::from(settings.reconcile_attempts),
                    now_ms,
                )
                .await?;
                let gave_up = wait.next_try_at.is_none();
                if gave_up {
                    tracing::error!(provider = provider.as_str(), %bill_date, attempts = wait.attempts,
                        reason = %failure.reason, "reconciliation: gave up on this day's bill; reconcile it by hand");
                } else {
                    tracing::warn!(provider = provider.as_str(), %bill_date, attempts = wait.attempts,
                        reason = %failure.reason, "reconciliation: no bill yet, asking again later");
                }
                steps.push(JobStep::NoBill {
                    provider,
                    date,
                    attempts: wait.attempts,
                    failure,
                    gave_up,
                });
            }
        }
    }
    Ok(steps)
}

/// The daily job: a pass ([`run_due`]) every `payments.reconcile_every_secs` until cancelled;
/// returns at once when that is 0 or no provider that keeps bills is configured.
pub async fn run(state: AppState, cancel: CancellationToken) {
    let every = state.settings.payments.reconcile_every_secs;
    if every == 0 || !RECONCILED.iter().any(|p| state.payments.has(*p)) {
        return;
    }
    let every = Duration::from_secs(every);
    loop {
        // A pass stopped at shutdown records nothing it had not committed.
        tokio::select! {
            () = cancel.cancelled() => break,
            done = super::cluster::leased(&state, "reconciliation", Duration::ZERO, run_due(&state, Utc::now())) => {
                if let Err(err) = done {
                    tracing::warn!(error = %err, "the reconciliation job failed; will retry");
                }
            }
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(every) => {}
        }
    }
}

/// Runs (newest day first) and the days still waited for or given up, a page of each (head
/// office).
pub async fn runs(
    state: &AppState,
    staff: &StaffActor,
    page: i64,
) -> AppResult<(Page<store::Run>, Page<store::Wait>)> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let (runs, total) = store::runs(&state.store, offset_of(page), PAGE_SIZE).await?;
    let (waits, waits_total) = store::waits(&state.store, offset_of(page), PAGE_SIZE).await?;
    let page = page.max(1);
    Ok((
        Page {
            rows: runs,
            total,
            page,
        },
        Page {
            rows: waits,
            total: waits_total,
            page,
        },
    ))
}

async fn run_for(state: &AppState, staff: &StaffActor, id: Uuid) -> AppResult<store::Run> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    store::run(&state.store, id)
        .await?
        .ok_or_else(|| AppError::not_found("reconciliation run"))
}

/// A run and a page of its items: the mismatches, or with `all` every item (head office).
pub async fn run_items(
    state: &AppState,
    staff: &StaffActor,
    id: Uuid,
    all: bool,
    page: i64,
) -> AppResult<(store::Run, Page<store::ItemRow>)> {
    let run = run_for(state, staff, id).await?;
    let (rows, total) = store::items(&state.store, id, all, offset_of(page), PAGE_SIZE).await?;
    Ok((
        run,
        Page {
            rows,
            total,
            page: page.max(1),
        },
    ))
}

/// A run and every one of its items, for the CSV export (head office).
pub async fn export_items(
    state: &AppState,
    staff: &StaffActor,
    id: Uuid,
) -> AppResult<(store::Run, Vec<store::ItemRow>)> {
    let run = run_for(state, staff, id).await?;
    let (rows, _) = store::items(&state.store, id, true, 0, i64::MAX).await?;
    Ok((run, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(kind: BillLineKind, trade: Uuid, refund: Option<Uuid>, fen: i64) -> BillLine {
        BillLine {
            kind,
            at: Utc::now(),
            out_trade_no: trade.simple().to_string(),
            transaction_id: format!("T{}", trade.simple()),
            out_refund_no: refund.map(|r| r.simple().to_string()),
            refund_id: refund.map(|r| format!("R{}", r.simple())),
            amount_fen: fen,
        }
    }

    fn ours(kind: EntryKind, id: Uuid, payment: Uuid, fen: i64) -> OurRecord {
        OurRecord {
            kind,
            id,
            payment_id: payment,
            order_id: None,
            amount_fen: fen,
            at_ms: 1_000,
            provider_ref: None,
        }
    }

    fn outcomes(items: &[Item]) -> Vec<(EntryKind, Outcome)> {
        items.iter().map(|i| (i.kind, i.outcome)).collect()
    }

    #[test]
    fn every_line_and_record_gets_one_item() {
        let (paid, other_day, differs, unknown, lacking) = (
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
        );
        let refund = Uuid::now_v7();
        let lines = vec![
            line(BillLineKind::Payment, paid, None, 1_000),
            line(BillLineKind::Payment, other_day, None, 500),
            line(BillLineKind::Payment, differs, None, 700),
            line(BillLineKind::Payment, unknown, None, 300),
            line(BillLineKind::Refund, paid, Some(refund), 400),
            line(BillLineKind::Payment, paid, None, 1_000),
        ];
        let mut not_ours = line(BillLineKind::Payment, paid, None, 1);
        not_ours.out_trade_no = "2026120512345678".into();
        let lines: Vec<BillLine> = lines.into_iter().chain([not_ours]).collect();
        let day = vec![
            ours(EntryKind::Payment, paid, paid, 1_000),
            ours(EntryKind::Payment, differs, differs, 600),
            ours(EntryKind::Refund, refund, paid, 400),
            ours(EntryKind::Payment, lacking, lacking, 900),
        ];
        let elsewhere = vec![ours(EntryKind::Payment, other_day, other_day, 500)];
        let items = match_bill(&lines, &day, &elsewhere);
        assert_eq!(
            outcomes(&items),
            vec![
                (EntryKind::Payment, Outcome::Matched),
                (EntryKind::Payment, Outcome::Matched),
                (EntryKind::Payment, Outcome::AmountDiffers),
                (EntryKind::Payment, Outcome::MissingOurs),
                (EntryKind::Refund, Outcome::Matched),
                (EntryKind::Payment, Outcome::MissingOurs),
                (EntryKind::Payment, Outcome::MissingOurs),
                (EntryKind::Payment, Outcome::MissingTheirs),
            ]
        );
        assert!(items[1].note.contains("dated"), "{}", items[1].note);
        assert_eq!(items[5].note, "listed again on the bill");
        assert_eq!(items[6].note, "not an id of ours");
        assert_eq!(items[7].out_trade_no, lacking.simple().to_string());
        assert_eq!(
            (items[2].our_fen, items[2].their_fen),
            (Some(600), Some(700))
        );
        assert_eq!(items[4].refund_id, Some(refund));
        let counts = counts_of(&items, lines.len(), day.len());
        assert_eq!(
            (
                counts.matched,
                counts.missing_ours,
                counts.missing_theirs,
                counts.amount_differs
            ),
            (3, 3, 1, 1)
        );
    }

    #[test]
    fn bills_not_made_yet_are_told_apart() {
        let rejected = |code: &str| ProviderError::Rejected {
            provider: "wechat_pay",
            code: code.into(),
            message: String::new(),
        };
        assert_eq!(
            BillProblem::of(&rejected("NO_STATEMENT_EXIST")),
            BillProblem::NotReady
        );
        assert_eq!(
            BillProblem::of(&rejected("STATEMENT_CREATING")),
            BillProblem::NotReady
        );
        assert_eq!(
            BillProblem::of(&rejected("PARAM_ERROR")),
            BillProblem::Failed
        );
        let unavailable = ProviderError::Unavailable {
            provider: "alipay",
            reason: "isp.bill_not_exist".into(),
        };
        assert_eq!(BillProblem::of(&unavailable), BillProblem::Unavailable);
    }

    #[test]
    fn a_beijing_day_starts_at_16_utc_the_day_before() {
        let date = NaiveDate::from_ymd_opt(2026, 12, 5).unwrap_or_default();
        let (start, end) = day_bounds(date);
        assert_eq!(
            storage::from_ms(start).to_rfc3339(),
            "2026-12-04T16:00:00+00:00"
        );
        assert_eq!(end - start, 86_400_000);
        assert_eq!(beijing_date(storage::from_ms(start)), date);
        assert_eq!(beijing_date(storage::from_ms(end - 1)), date);
    }
}
