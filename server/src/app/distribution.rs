//! Distribution (分销, issue 17): members who share links and earn commission on what the
//! buyers they bring pay.
//!
//! - **Becoming a distributor**: a member applies and head office approves or rejects in the
//!   console ([`apply`], [`decide`]); or, when `[distribution] auto_after_paid_orders` or
//!   `auto_after_spent` is set, a member who reaches it becomes one when applying or when an
//!   order of theirs is paid ([`order_paid`]). A new distributor's **parent** is the distributor
//!   the member was bound to at that moment (recruited through that distributor's share link).
//! - **Binding**: a logged-in member who opens an active distributor's share link
//!   ([`super::shares::opened`]) is bound to that distributor for `bind_days`, first touch: a
//!   binding in force is never taken over; once expired, the next link opened binds anew.
//! - **Commission** ([`order_paid`]): when a bound buyer's order is paid, each line earns
//!   `rate × the amount paid for that line` (the line's amount after every discount and coupon,
//!   as after-sales refunds it) for the bound distributor (level 1) and, with `levels` 2 or 3,
//!   its parent and grandparent; the rate is the SKU's, else its category's (nearest first),
//!   else the default, in basis points per level. A distributor's own purchases earn nobody
//!   commission (their binding, if any, is ignored), and a buyer is never paid for themselves.
//!   Decided once per order (`distribution_orders`); an order already cancelled or refunded by
//!   then earns nothing.
//! - **Frozen, then released**: commission is credited frozen; the sweeper ([`release_due`])
//!   releases each line's commission to available, once (a conditional update of the row in the
//!   transaction that writes the release), once the order has been fulfilled (delivered,
//!   collected, completed) and the line's after-sale return window (the after-sale rules,
//!   per category) plus `settle_after_days` has passed — driven from the database, so it
//!   survives restarts.
//! - **Reversed on refund** ([`reverse_in_tx`], in the refund's own transaction): a cancelled
//!   paid order reverses all of its commission, a return reverses each returned line's share
//!   (by units, the last units taking the remainder). Before release the reversal comes off
//!   frozen; after release it comes off available, which may go **negative** (the distributor
//!   owes it; later commission makes it up, and no withdrawal is possible meanwhile).
//! - **Ledger**: every movement is a row of `distribution_ledger` (commission, release,
//!   reversal, withdrawal hold / paid / rejected), each once by its key, and the account's
//!   balances (frozen, available, withdrawing, withdrawn) move in the same transaction, so they
//!   always equal the sums of the rows.
//! - **Withdrawals** ([`request_withdrawal`]): idempotent by the client's id; more than
//!   available is 409 `insufficient_balance` with nothing changed; the amount is held
//!   (available → withdrawing); head office approves, then marks it paid offline with a
//!   reference (withdrawing → withdrawn), or rejects it (back to available). Paying through the
//!   provider's transfer API is not built.

use chrono::Datelike;
use retail_domain::money::Money;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use crate::actor::{Role, StaffActor};
use crate::error::{AppError, AppResult};
use crate::storage::distribution::{
    Balances, CommissionRate, DistributionReport, Distributor, LeaderRow, LedgerRow, NewEntry,
    Withdrawal,
};
use crate::storage::{self, now_ms, Store, Tx};

const DAY_MS: i64 = 86_400_000;

fn levels(state: &AppState) -> usize {
    state.settings.distribution.levels.clamp(1, 3) as usize
}

fn active(d: &Option<Distributor>) -> bool {
    d.as_ref().is_some_and(|d| d.status == "active")
}

async fn qualifies_by_rule(state: &AppState, member: Uuid) -> AppResult<bool> {
    let rules = &state.settings.distribution;
    if rules.auto_after_paid_orders == 0 && rules.auto_after_spent.fen() <= 0 {
        return Ok(false);
    }
    let (orders, spent) = storage::distribution::paid_orders_of(&state.store, member).await?;
    Ok(
        (rules.auto_after_paid_orders > 0 && orders >= i64::from(rules.auto_after_paid_orders))
            || (rules.auto_after_spent.fen() > 0 && spent >= rules.auto_after_spent.fen()),
    )
}

/// The distributor a member is bound to now (the binding in force and the distributor active).
async fn bound_to(state: &AppState, member: Uuid) -> AppResult<Option<Uuid>> {
    let Some((distributor, expires_at)) =
        storage::distribution::binding(&state.store, member).await?
    else {
        return Ok(None);
    };
    if expires_at <= now_ms() || distributor == member {
        return Ok(None);
    }
    let d = storage::distribution::distributor(&state.store, distributor).await?;
    Ok(active(&d).then_some(distributor))
}

/// A member applies to become a distributor: active at once when the automatic rule says so,
/// else waiting for head office. A repeat answers the current state; a rejected member may
/// apply again.
pub async fn apply(state: &AppState, member: Uuid) -> AppResult<Distributor> {
    let current = storage::distribution::distributor(&state.store, member).await?;
    if current.as_ref().is_none_or(|d| d.status == "rejected") {
        let parent = bound_to(state, member).await?;
        let by_rule = qualifies_by_rule(state, member).await?;
        storage::distribution::apply(&state.store, member, parent, by_rule).await?;
    }
    storage::distribution::distributor(&state.store, member)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("distributor {member} vanished")))
}

/// Head office approves or rejects an application (audited); 404 for none, 409
/// `not_waiting` when it was decided already.
pub async fn decide(
    state: &AppState,
    staff: &StaffActor,
    member: Uuid,
    approve: bool,
    note: &str,
) -> AppResult<Distributor> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    if note.chars().count() > 200 {
        return Err(AppError::field("note", "at most 200 characters"));
    }
    let current = storage::distribution::distributor(&state.store, member)
        .await?
        .ok_or_else(|| AppError::not_found(format!("no application of member {member}")))?;
    let wanted = if approve { "active" } else { "rejected" };
    if current.status == wanted {
        return Ok(current);
    }
    if !storage::distribution::decide(&state.store, member, approve, note.trim(), &staff.actor())
        .await?
    {
        return Err(AppError::conflict(
            "not_waiting",
            format!("this application is {} already", current.status),
        ));
    }
    storage::distribution::distributor(&state.store, member)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("distributor {member} vanished")))
}

/// A logged-in member opened `sharer`'s link: bound to the sharer when the sharer is an active
/// distributor and no binding is in force (first touch, `bind_days`). True when bound now.
pub async fn bind_on_open(state: &AppState, buyer: Uuid, sharer: Uuid) -> AppResult<bool> {
    if buyer == sharer {
        return Ok(false);
    }
    let d = storage::distribution::distributor(&state.store, sharer).await?;
    if !active(&d) {
        return Ok(false);
    }
    let now = now_ms();
    let days = i64::from(state.settings.distribution.bind_days.max(1));
    storage::distribution::bind(&state.store, buyer, sharer, now, now + days * DAY_MS).await
}

fn rate_for(rates: &[CommissionRate], sku: Uuid, chain: &[String], level: usize) -> i64 {
    let pick = |r: &CommissionRate| match level {
        1 => r.level1_bp,
        2 => r.level2_bp,
        _ => r.level3_bp,
    };
    let sku = sku.to_string();
    rates
        .iter()
        .find(|r| r.scope == "sku" && r.scope_id == sku)
        .or_else(|| {
            chain.iter().find_map(|c| {
                rates
                    .iter()
                    .find(|r| r.scope == "category" && &r.scope_id == c)
            })
        })
        .or_else(|| rates.iter().find(|r| r.scope == "default"))
        .map(pick)
        .unwrap_or(0)
}

/// Commission of `amount_fen` at `bp` basis points (rounded down).
pub fn commission_of(amount_fen: i64, bp: i64) -> i64 {
    i64::try_from(i128::from(amount_fen.max(0)) * i128::from(bp) / 10_000).unwrap_or(0)
}

/// After an order is paid (called from `payments::after_paid`): who shared → who bought is
/// recorded, the order's commission decided once (frozen credits for the bound distributor and
/// its parents), and the buyer made a distributor when the automatic rule says so. Answers the
/// commission credited, in fen.
pub async fn order_paid(
    state: &AppState,
    order_id: Uuid,
    buyer: Option<Uuid>,
    order_no: &str,
) -> AppResult<i64> {
    let Some(buyer) = buyer else {
        return Ok(0);
    };
    // Who earns, read before the transaction (the chain of active distributors above the
    // buyer's binding).
    let buyer_row = storage::distribution::distributor(&state.store, buyer).await?;
    let mut chain: Vec<Uuid> = Vec::new();
    if !active(&buyer_row) {
        let mut next = bound_to(state, buyer).await?;
        while let Some(d) = next {
            if chain.len() >= levels(state) || chain.contains(&d) || d == buyer {
                break;
            }
            chain.push(d);
            next = match storage::distribution::distributor(&state.store, d).await? {
                Some(row) => match row.parent_id {
                    Some(p)
                        if active(&storage::distribution::distributor(&state.store, p).await?) =>
                    {
                        Some(p)
                    }
                    _ => None,
                },
                None => None,
            };
        }
    }
    // Most orders came from no share and earn nobody anything: no transaction for them.
    let since = now_ms() - super::shares::ATTRIBUTION_DAYS * DAY_MS;
    if chain.is_empty() && !storage::shares::opened_since(&state.store, buyer, since).await? {
        become_by_rule(state, buyer, &buyer_row).await?;
        return Ok(0);
    }
    let rates = storage::distribution::rates(&state.store).await?;
    let mut tx = state.store.begin().await?;
    if storage::distribution::order_decided_in_tx(&mut tx, order_id).await? {
        tx.rollback().await?;
        return Ok(0);
    }
    let head = storage::orders::lock_head(&mut tx, &state.store, order_id).await?;
    let sharer = super::shares::order_paid_in_tx(&mut tx, order_id, buyer).await?;
    let earns = !matches!(
        head.status,
        retail_domain::order::OrderStatus::PendingPayment
            | retail_domain::order::OrderStatus::Cancelled
            | retail_domain::order::OrderStatus::Refunded
    );
    let mut total = 0;
    if earns && !chain.is_empty() {
        let mut accounts = chain.clone();
        accounts.sort();
        for d in &accounts {
            storage::distribution::lock_account_in_tx(&mut tx, &state.store, *d).await?;
        }
        for (no, sku, qty, amount, _) in storage::orders::lines_in_tx(&mut tx, order_id).await? {
            let categories = storage::distribution::sku_category_chain_in_tx(&mut tx, sku).await?;
            for (i, d) in chain.iter().enumerate() {
                let level = i + 1;
                let fen = commission_of(amount, rate_for(&rates, sku, &categories, level));
                if fen <= 0 {
                    continue;
                }
                let written = storage::distribution::post_in_tx(
                    &mut tx,
                    &NewEntry {
                        distributor_id: *d,
                        kind: "commission",
                        delta: Balances {
                            frozen_fen: fen,
                            ..Balances::default()
                        },
                        order_id: Some(order_id),
                        line_no: Some(no),
                        level: Some(level as i64),
                        buyer_id: Some(buyer),
                        sku_id: Some(sku),
                        line_qty: Some(qty),
                        ref_id: None,
                        idem_key: format!("commission:{order_id}:{no}:{level}"),
                    },
                )
                .await?;
                if written {
                    total += fen;
                }
            }
        }
    }
    let distributor = (earns && total > 0)
        .then(|| chain.first().copied())
        .flatten();
    storage::distribution::record_order_in_tx(&mut tx, order_id, buyer, distributor, total).await?;
    tx.commit().await?;
    if let Some(sharer) = sharer {
        tracing::debug!(order = %order_no, %sharer, "order attributed to a share");
        super::events::record(
            state,
            vec![super::events::ServerEvent::new(
                "share_ordered",
                order_id,
                "online",
                serde_json::json!({"order_no": order_no}),
            )
            .member(Some(buyer))
            .order(order_id)],
        );
    }
    become_by_rule(state, buyer, &buyer_row).await?;
    Ok(total)
}

/// Makes `member` a distributor when the automatic rule says so (not while an application
/// waits for head office, nor when one already).
async fn become_by_rule(
    state: &AppState,
    member: Uuid,
    row: &Option<Distributor>,
) -> AppResult<()> {
    if row.as_ref().is_none_or(|d| d.status == "rejected")
        && qualifies_by_rule(state, member).await?
    {
        let parent = bound_to(state, member).await?;
        storage::distribution::apply(&state.store, member, parent, true).await?;
    }
    Ok(())
}

/// A refund's lines: (line number, units of the line returned in all after this refund).
pub type ReturnedLines<'a> = &'a [(i64, i64)];

/// Reverses commission of an order in the refund's transaction: all of it (`lines` `None`: the
/// paid order is cancelled), or each line's share of its returned units (`(line_no, units
/// returned in all after this return)`). `source` names the refund (the return's id, or
/// `cancel`); each reversal happens once per source and commission row. Before release the
/// reversal comes off frozen (and a wholly reversed row is closed), after it off available.
pub async fn reverse_in_tx(
    tx: &mut Tx,
    store: &Store,
    order_id: Uuid,
    lines: Option<ReturnedLines<'_>>,
    source: &str,
) -> AppResult<i64> {
    let credits = storage::distribution::credits_of_order_in_tx(tx, order_id).await?;
    if credits.is_empty() {
        return Ok(0);
    }
    let mut accounts: Vec<Uuid> = credits.iter().map(|c| c.distributor_id).collect();
    accounts.sort();
    accounts.dedup();
    for d in &accounts {
        storage::distribution::lock_account_in_tx(tx, store, *d).await?;
    }
    let mut reversed = 0;
    for c in credits {
        let target = match lines {
            None => c.amount_fen,
            Some(lines) => match lines.iter().find(|(no, _)| *no == c.line_no) {
                Some((_, returned)) if *returned >= c.line_qty => c.amount_fen,
                Some((_, returned)) => i64::try_from(
                    i128::from(c.amount_fen) * i128::from(*returned)
                        / i128::from(c.line_qty.max(1)),
                )
                .unwrap_or(0),
                None => continue,
            },
        };
        let fen = target - c.reversed_fen;
        if fen <= 0 {
            continue;
        }
        let delta = if c.settled {
            Balances {
                available_fen: -fen,
                ..Balances::default()
            }
        } else {
            Balances {
                frozen_fen: -fen,
                ..Balances::default()
            }
        };
        let written = storage::distribution::post_in_tx(
            tx,
            &NewEntry {
                distributor_id: c.distributor_id,
                kind: "reversal",
                delta,
                order_id: Some(order_id),
                line_no: Some(c.line_no),
                level: Some(c.level),
                ref_id: Some(c.id.clone()),
                idem_key: format!("reversal:{source}:{}", c.id),
                ..NewEntry::default()
            },
        )
        .await?;
        if written {
            reversed += fen;
            if !c.settled && c.reversed_fen + fen >= c.amount_fen {
                storage::distribution::settle_in_tx(tx, &c.id).await?;
            }
        }
    }
    Ok(reversed)
}

/// How far back [`catch_up`] looks for paid orders whose commission was never decided.
pub const CATCH_UP_HOURS: i64 = 6;

/// The sweeper's part for decisions lost to a crash or an error right after a payment (the
/// decision is made after the payment commits): paid online orders of members created in the
/// last [`CATCH_UP_HOURS`], unchanged for a minute, whose buyer is bound to a distributor or
/// opened a share and which have no decision, are decided now ([`order_paid`]: once, by order).
/// Answers how many it decided.
pub async fn catch_up(state: &AppState) -> AppResult<usize> {
    let now = now_ms();
    let since_share = now - super::shares::ATTRIBUTION_DAYS * DAY_MS;
    let orders = storage::distribution::undecided_paid_orders(
        &state.store,
        now - CATCH_UP_HOURS * 3_600_000,
        now - 60_000,
        since_share,
        200,
    )
    .await?;
    let mut decided = 0;
    for (order, buyer, order_no) in orders {
        order_paid(state, order, Some(buyer), &order_no).await?;
        decided += 1;
    }
    Ok(decided)
}

/// The sweeper's part: releases to available the frozen commission whose order was fulfilled
/// and whose line's after-sale window (plus `settle_after_days`) has passed, each row once.
/// Answers how many rows it released.
pub async fn release_due(state: &AppState) -> AppResult<usize> {
    let rules = storage::after_sales::rules(&state.store).await?;
    let extra = i64::from(state.settings.distribution.settle_after_days);
    let now = now_ms();
    // No window is shorter than the shortest of the rules: rows fulfilled later wait.
    let shortest = rules
        .category_windows
        .iter()
        .map(|w| w.days)
        .chain([rules.return_window_days])
        .min()
        .unwrap_or(0)
        + extra;
    let due =
        storage::distribution::unsettled_fulfilled(&state.store, now - shortest * DAY_MS, 500)
            .await?;
    let mut released = 0;
    for (id, sku, fulfilled_at) in due {
        let mut tx = state.store.begin().await?;
        let chain = match sku {
            Some(sku) => storage::distribution::sku_category_chain_in_tx(&mut tx, sku).await?,
            None => Vec::new(),
        };
        let days = super::after_sales::window_days(&rules, &chain) + extra;
        if now < fulfilled_at + days * DAY_MS {
            tx.rollback().await?;
            continue;
        }
        let Some(credit) = storage::distribution::credit_in_tx(&mut tx, &id).await? else {
            tx.rollback().await?;
            continue;
        };
        storage::distribution::lock_account_in_tx(&mut tx, &state.store, credit.distributor_id)
            .await?;
        if !storage::distribution::settle_in_tx(&mut tx, &id).await? {
            tx.rollback().await?;
            continue;
        }
        let net = credit.amount_fen - credit.reversed_fen;
        if net > 0 {
            storage::distribution::post_in_tx(
                &mut tx,
                &NewEntry {
                    distributor_id: credit.distributor_id,
                    kind: "release",
                    delta: Balances {
                        frozen_fen: -net,
                        available_fen: net,
                        ..Balances::default()
                    },
                    order_id: Some(credit.order_id),
                    line_no: Some(credit.line_no),
                    level: Some(credit.level),
                    ref_id: Some(id.clone()),
                    idem_key: format!("release:{id}"),
                    ..NewEntry::default()
                },
            )
            .await?;
        }
        tx.commit().await?;
        released += 1;
    }
    Ok(released)
}

/// A withdrawal to ask for.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWithdrawal {
    /// Client id (UUIDv7); a retry answers the first request.
    pub id: Uuid,
    /// How much (above zero, at most what is available).
    pub amount: Money,
}

/// A distributor asks to withdraw: the amount held from available (once by the client's id).
/// 403 for a member who is not an active distributor, 422 for an amount not above zero, 409
/// `insufficient_balance` above what is available (nothing changed), 409 `id_in_use` for an id
/// of another distributor's request.
pub async fn request_withdrawal(
    state: &AppState,
    member: Uuid,
    w: &NewWithdrawal,
) -> AppResult<Withdrawal> {
    retail_domain::ids::require_v7(w.id).map_err(|e| AppError::field("id", e.to_string()))?;
    if let Some(existing) = storage::distribution::withdrawal(&state.store, w.id).await? {
        if existing.distributor_id != member {
            return Err(AppError::conflict(
                "id_in_use",
                "this id belongs to another request",
            ));
        }
        return Ok(existing);
    }
    if !active(&storage::distribution::distributor(&state.store, member).await?) {
        return Err(AppError::Forbidden(
            "only active distributors withdraw".into(),
        ));
    }
    if w.amount.fen() <= 0 {
        return Err(AppError::field("amount", "above zero"));
    }
    let mut tx = state.store.begin().await?;
    let balances = storage::distribution::lock_account_in_tx(&mut tx, &state.store, member).await?;
    if w.amount.fen() > balances.available_fen {
        tx.rollback().await?;
        return Err(AppError::conflict(
            "insufficient_balance",
            format!(
                "at most {} is available to withdraw",
                Money::from_fen(balances.available_fen.max(0))
            ),
        ));
    }
    if let Err(err) =
        storage::distribution::insert_withdrawal_in_tx(&mut tx, w.id, member, w.amount.fen()).await
    {
        tx.rollback().await?;
        // The same id at the same moment: the first request's answer.
        return match storage::distribution::withdrawal(&state.store, w.id).await? {
            Some(existing) if existing.distributor_id == member => Ok(existing),
            Some(_) => Err(AppError::conflict(
                "id_in_use",
                "this id belongs to another request",
            )),
            None => Err(err),
        };
    }
    storage::distribution::post_in_tx(
        &mut tx,
        &NewEntry {
            distributor_id: member,
            kind: "withdrawal_hold",
            delta: Balances {
                available_fen: -w.amount.fen(),
                withdrawing_fen: w.amount.fen(),
                ..Balances::default()
            },
            ref_id: Some(w.id.to_string()),
            idem_key: format!("withdrawal_hold:{}", w.id),
            ..NewEntry::default()
        },
    )
    .await?;
    tx.commit().await?;
    get_withdrawal(state, w.id).await
}

async fn get_withdrawal(state: &AppState, id: Uuid) -> AppResult<Withdrawal> {
    storage::distribution::withdrawal(&state.store, id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("withdrawal {id} not found")))
}

/// What head office does with a withdrawal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WithdrawalStep {
    /// Requested → approved.
    Approve,
    /// Requested or approved → rejected: the amount back to available.
    Reject,
    /// Approved → paid (offline, with a reference): the amount withdrawn.
    MarkPaid,
}

/// Head office moves a withdrawal (audited as `withdrawal.approve` / `.reject` / `.paid`); a
/// repeat of the step answers the withdrawal as it is; 409 `invalid_transition` otherwise.
pub async fn decide_withdrawal(
    state: &AppState,
    staff: &StaffActor,
    id: Uuid,
    step: WithdrawalStep,
    text: &str,
) -> AppResult<Withdrawal> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let text = text.trim();
    if text.chars().count() > 100 {
        return Err(AppError::field("reference", "at most 100 characters"));
    }
    if step == WithdrawalStep::MarkPaid && text.is_empty() {
        return Err(AppError::field(
            "reference",
            "the payment's reference is required",
        ));
    }
    let (from, to, action): (&[&str], &str, &str) = match step {
        WithdrawalStep::Approve => (&["requested"], "approved", "withdrawal.approve"),
        WithdrawalStep::Reject => (&["requested", "approved"], "rejected", "withdrawal.reject"),
        WithdrawalStep::MarkPaid => (&["approved"], "paid", "withdrawal.paid"),
    };
    let actor = staff.actor();
    let mut tx = state.store.begin().await?;
    let w = storage::distribution::lock_withdrawal_in_tx(&mut tx, &state.store, id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("withdrawal {id} not found")))?;
    if w.status == to {
        tx.rollback().await?;
        return Ok(w);
    }
    if !from.contains(&w.status.as_str()) {
        tx.rollback().await?;
        return Err(AppError::conflict(
            "invalid_transition",
            format!("this withdrawal is {}", w.status),
        ));
    }
    storage::distribution::lock_account_in_tx(&mut tx, &state.store, w.distributor_id).await?;
    let (reference, reason) = match step {
        WithdrawalStep::Reject => ("", text),
        _ => (text, ""),
    };
    storage::distribution::move_withdrawal_in_tx(
        &mut tx, id, &w.status, to, &actor, reference, reason,
    )
    .await?;
    let delta = match step {
        WithdrawalStep::Approve => None,
        WithdrawalStep::Reject => Some((
            "withdrawal_rejected",
            Balances {
                withdrawing_fen: -w.amount_fen,
                available_fen: w.amount_fen,
                ..Balances::default()
            },
        )),
        WithdrawalStep::MarkPaid => Some((
            "withdrawal_paid",
            Balances {
                withdrawing_fen: -w.amount_fen,
                withdrawn_fen: w.amount_fen,
                ..Balances::default()
            },
        )),
    };
    if let Some((kind, delta)) = delta {
        storage::distribution::post_in_tx(
            &mut tx,
            &NewEntry {
                distributor_id: w.distributor_id,
                kind,
                delta,
                ref_id: Some(id.to_string()),
                idem_key: format!("{kind}:{id}"),
                ..NewEntry::default()
            },
        )
        .await?;
    }
    storage::audit::record(
        &mut tx,
        &actor,
        action,
        "withdrawal",
        &id.to_string(),
        serde_json::json!({"amount": Money::from_fen(w.amount_fen).to_string(),
            "distributor": w.distributor_id, "text": text}),
    )
    .await?;
    tx.commit().await?;
    get_withdrawal(state, id).await
}

/// Validates and sets a commission rate (head office; audited).
pub async fn set_rate(
    state: &AppState,
    staff: &StaffActor,
    rate: &CommissionRate,
) -> AppResult<()> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    for (field, bp) in [
        ("level1_bp", rate.level1_bp),
        ("level2_bp", rate.level2_bp),
        ("level3_bp", rate.level3_bp),
    ] {
        if !(0..=5000).contains(&bp) {
            return Err(AppError::field(field, "0 to 5000 basis points (50%)"));
        }
    }
    let mut rate = rate.clone();
    rate.scope_id = rate.scope_id.trim().to_owned();
    match rate.scope.as_str() {
        "default" => rate.scope_id.clear(),
        "sku" => {
            let sku: Uuid = rate
                .scope_id
                .parse()
                .map_err(|_| AppError::field("scope_id", "a SKU id"))?;
            if storage::catalog::skus(&state.store, &[sku], None)
                .await?
                .is_empty()
            {
                return Err(AppError::field("scope_id", "no such SKU"));
            }
        }
        "category" => {
            if rate.scope_id.is_empty() || rate.scope_id.chars().count() > 64 {
                return Err(AppError::field("scope_id", "a category id"));
            }
        }
        _ => return Err(AppError::field("scope", "default, sku or category")),
    }
    storage::distribution::set_rate(&state.store, &rate, &staff.actor()).await
}

/// Removes a SKU's or category's rate (head office; audited); 404 when none.
pub async fn delete_rate(
    state: &AppState,
    staff: &StaffActor,
    scope: &str,
    scope_id: &str,
) -> AppResult<()> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    if !storage::distribution::delete_rate(&state.store, scope, scope_id, &staff.actor()).await? {
        return Err(AppError::not_found("no such rate"));
    }
    Ok(())
}

/// A member shown to others: masked.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MaskedMember {
    /// Nickname, masked (`张**`).
    pub nickname: String,
    /// Phone, masked (`138****8000`).
    pub phone: String,
}

async fn masked(state: &AppState, member: Uuid) -> AppResult<MaskedMember> {
    let m = storage::members::find_by_id(&state.store, &state.keys, &state.settings.points, member)
        .await?;
    Ok(m.map(|m| MaskedMember {
        nickname: super::group_buys::mask_name(&m.name),
        phone: m.phone,
    })
    .unwrap_or_else(|| MaskedMember {
        nickname: "会员".into(),
        phone: "***********".into(),
    }))
}

/// The distributor centre's summary.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Centre {
    /// The member's distributor row (none: never applied).
    pub distributor: Option<Distributor>,
    /// Balances in fen.
    pub balances: Balances,
    /// Withdrawable now (available, never below zero), as money.
    pub withdrawable: Money,
    /// Share links opened by others.
    pub share_opens: i64,
    /// Orders bought after opening the member's links.
    pub share_orders: i64,
}

/// The member's distributor centre.
pub async fn centre(state: &AppState, member: Uuid) -> AppResult<Centre> {
    let balances = storage::distribution::balances(&state.store, member).await?;
    let (share_opens, share_orders) = storage::shares::figures(&state.store, member).await?;
    Ok(Centre {
        distributor: storage::distribution::distributor(&state.store, member).await?,
        withdrawable: Money::from_fen(balances.available_fen.max(0)),
        balances,
        share_opens,
        share_orders,
    })
}

/// A member of a distributor's team.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TeamMember {
    /// Masked.
    pub member: MaskedMember,
    /// `buyer` (bound) or `distributor` (recruited).
    pub role: String,
    /// Since.
    pub since: chrono::DateTime<chrono::Utc>,
    /// A buyer's binding ends (none for a sub-distributor).
    pub until: Option<chrono::DateTime<chrono::Utc>>,
}

/// A distributor's team: bound buyers and the sub-distributors it recruited, masked.
pub async fn team(state: &AppState, member: Uuid) -> AppResult<Vec<TeamMember>> {
    let mut out = Vec::new();
    for d in storage::distribution::children(&state.store, member).await? {
        out.push(TeamMember {
            member: masked(state, d.member_id).await?,
            role: "distributor".into(),
            since: d.applied_at,
            until: None,
        });
    }
    for b in storage::distribution::bound_buyers(&state.store, member).await? {
        out.push(TeamMember {
            member: masked(state, b.buyer_id).await?,
            role: "buyer".into(),
            since: storage::from_ms(b.bound_at),
            until: Some(storage::from_ms(b.expires_at)),
        });
    }
    Ok(out)
}

/// A distributor's ledger, latest first (`kind`: one kind only).
pub async fn ledger(
    state: &AppState,
    member: Uuid,
    kind: Option<&str>,
) -> AppResult<Vec<LedgerRow>> {
    storage::distribution::ledger(&state.store, member, kind, 200).await
}

/// A row of the leaderboard (masked).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Leader {
    /// Place, from 1.
    pub rank: usize,
    /// Masked.
    pub member: MaskedMember,
    /// Commission this month (reversals taken off).
    pub commission: Money,
}

/// The top distributors by commission this month (China time), masked.
pub async fn leaderboard(state: &AppState, top: i64) -> AppResult<Vec<Leader>> {
    let now = chrono::Utc::now().with_timezone(&super::china_offset());
    let month_start = now
        .date_naive()
        .with_day(1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|d| d.and_local_timezone(super::china_offset()).single())
        .map(|d| d.timestamp_millis())
        .unwrap_or(0);
    let rows: Vec<LeaderRow> =
        storage::distribution::leaderboard(&state.store, month_start, top.clamp(1, 100)).await?;
    let mut out = Vec::with_capacity(rows.len());
    for (i, r) in rows.into_iter().enumerate() {
        out.push(Leader {
            rank: i + 1,
            member: masked(state, r.member_id).await?,
            commission: Money::from_fen(r.commission_fen),
        });
    }
    Ok(out)
}

/// Head office's report.
pub async fn report(state: &AppState, staff: &StaffActor) -> AppResult<DistributionReport> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    storage::distribution::report(&state.store).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(scope: &str, id: &str, bp: i64) -> CommissionRate {
        CommissionRate {
            scope: scope.into(),
            scope_id: id.into(),
            level1_bp: bp,
            level2_bp: bp / 2,
            level3_bp: bp / 4,
        }
    }

    #[test]
    fn the_sku_rate_wins_then_the_nearest_category_then_the_default() {
        let sku = Uuid::now_v7();
        let rates = vec![
            rate("default", "", 500),
            rate("category", "food", 800),
            rate("category", "snacks", 1000),
        ];
        assert_eq!(rate_for(&rates, sku, &[], 1), 500);
        assert_eq!(
            rate_for(&rates, sku, &["snacks".into(), "food".into()], 1),
            1000
        );
        assert_eq!(
            rate_for(&rates, sku, &["chips".into(), "food".into()], 2),
            400
        );
        let mut with_sku = rates.clone();
        with_sku.push(rate("sku", &sku.to_string(), 1200));
        assert_eq!(rate_for(&with_sku, sku, &["snacks".into()], 1), 1200);
        assert_eq!(commission_of(9_990, 500), 499);
        assert_eq!(commission_of(-5, 500), 0);
    }
}
