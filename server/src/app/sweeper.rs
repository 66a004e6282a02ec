//! Background sweeps driven from the database (so a restart loses nothing): cancelling unpaid
//! orders past their payment deadline (releasing their reservations), cancelling pickups left
//! uncollected (releasing stock, refunding), group-buy teams past their deadline failed and
//! refunded and seats of cancelled orders given back ([`super::group_buys::sweep`]), bargains
//! whose order was cancelled before payment opened again ([`super::bargains::sweep`]),
//! points-mall redemptions of cancelled orders given back ([`super::points_mall::sweep`]), expiring old
//! points, granting the month's birthday perks
//! ([`super::member_perks::grant_birthdays`], hourly), telling members of coupons about to expire
//! ([`super::account_notices::tell_expiring_coupons`], hourly), releasing distributors' frozen
//! commission past the after-sale window ([`super::distribution::release_due`], every minute),
//! deciding commission a crash kept from being decided after a payment
//! ([`super::distribution::catch_up`], every minute),
//! building merchants' daily settlement statements of the ended days and releasing those past
//! their after-sale window ([`super::merchant_statements::run`], every minute),
//! deleting raw tracked events past `events.retention_days` ([`super::events::sweep`], hourly) and writing the server's events
//! recorded since the last sweep ([`super::events::flush`]), adding the new sales to the sales
//! rollup ([`super::sales_report::run_rollup`], every `sales_report.rollup_interval_millis`),
//! and adding up the shop's
//! searches for the hot words ([`super::search_words::flush`]);
//! in a loop of its own the SQLite WAL checkpoint, kept off the writer's commit path
//! ([`run_checkpoints`]); and in a loop of their own
//! the payment sweeps (refunds to send and follow, pending payments to ask about, lane payment
//! codes left open settled: `app::lane_payments::settle_stale`).

use std::time::Duration;

use retail_domain::order::OrderStatus;
use tokio_util::sync::CancellationToken;

use crate::app::cluster::leased;
use crate::app::AppState;
use crate::error::AppResult;
use crate::storage::{self, now_ms};

const HOUR: Duration = Duration::from_secs(3600);
const MINUTE: Duration = Duration::from_secs(60);

/// Runs the sweeps every `orders.sweep_interval_millis` until cancelled.
pub async fn run(state: AppState, cancel: CancellationToken) {
    let every = Duration::from_millis(state.settings.orders.sweep_interval_millis.max(50));
    let mut last_points_sweep = 0_i64;
    let mut last_search_flush = std::time::Instant::now();
    let mut last_birthdays = 0_i64;
    let mut last_events_sweep = 0_i64;
    let mut last_commission_release = 0_i64;
    let mut last_sales_rollup = 0_i64;
    let rollup_every =
        i64::try_from(state.settings.sales_report.rollup_interval_millis).unwrap_or(i64::MAX);
    loop {
        if let Err(err) = cancel_overdue(&state).await {
            tracing::warn!(error = %err, "sweeping unpaid orders failed; will retry");
        }
        if let Err(err) = super::group_buys::sweep(&state).await {
            tracing::warn!(error = %err, "sweeping group-buy teams failed; will retry");
        }
        if let Err(err) = super::points_mall::sweep(&state).await {
            tracing::warn!(error = %err, "giving back points-mall redemptions failed; will retry");
        }
        if let Err(err) = super::bargains::sweep(&state).await {
            tracing::warn!(error = %err, "sweeping bargains failed; will retry");
        }
        if let Err(err) = cancel_uncollected(&state).await {
            tracing::warn!(error = %err, "sweeping uncollected pickups failed; will retry");
        }
        let now = now_ms();
        // Whole-table periodic work: one instance per period across the cluster (a job lease;
        // docs/OPERATIONS.md).
        if now - last_points_sweep > 3_600_000 {
            match leased(&state, "sweeper.points_expiry", HOUR, async {
                storage::members::expire_points(&state.store, now).await
            })
            .await
            {
                Ok(Some(n)) if n > 0 => tracing::info!(points = n, "expired points"),
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "expiring points failed; will retry"),
            }
            last_points_sweep = now;
        }
        if now - last_birthdays > 3_600_000 {
            match leased(&state, "sweeper.birthdays", HOUR, async {
                super::member_perks::grant_birthdays(&state).await
            })
            .await
            {
                Ok(Some(n)) if n > 0 => tracing::info!(members = n, "birthday perks granted"),
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "granting birthday perks failed; will retry")
                }
            }
            match leased(&state, "sweeper.expiring_coupons", HOUR, async {
                super::account_notices::tell_expiring_coupons(&state).await
            })
            .await
            {
                Ok(Some(n)) if n > 0 => {
                    tracing::info!(coupons = n, "members told of expiring coupons")
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "telling of expiring coupons failed; will retry")
                }
            }
            last_birthdays = now;
        }
        if now - last_commission_release > 60_000 {
            match leased(&state, "sweeper.commission", MINUTE, async {
                let released = super::distribution::release_due(&state).await?;
                let decided = super::distribution::catch_up(&state).await?;
                Ok((released, decided))
            })
            .await
            {
                Ok(Some((released, decided))) => {
                    if released > 0 {
                        tracing::info!(rows = released, "released frozen commission");
                    }
                    if decided > 0 {
                        tracing::info!(orders = decided, "decided commission missed after payment");
                    }
                }
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "releasing or deciding commission failed; will retry")
                }
            }
            match leased(&state, "sweeper.cluster_tidy", MINUTE, async {
                let windows = state.limiter.sweep().await?;
                let jobs = super::catalog_import::sweep(&state).await?;
                Ok((windows, jobs))
            })
            .await
            {
                Ok(Some((windows, jobs))) if windows + jobs > 0 => {
                    tracing::debug!(
                        windows,
                        jobs,
                        "expired rate windows and import jobs deleted"
                    )
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "tidying shared state failed; will retry"),
            }
            match leased(&state, "sweeper.merchant_statements", MINUTE, async {
                super::merchant_statements::run(&state, now).await
            })
            .await
            {
                Ok(Some((built, released))) => {
                    if built.statements > 0 || released > 0 {
                        tracing::info!(
                            days = built.days,
                            statements = built.statements,
                            released,
                            "merchant statements built or released"
                        );
                    }
                }
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "building merchant statements failed; will retry")
                }
            }
            last_commission_release = now;
        }
        if now - last_events_sweep > 3_600_000 {
            match leased(&state, "sweeper.events_retention", HOUR, async {
                super::events::sweep(&state).await
            })
            .await
            {
                Ok(Some(n)) if n > 0 => {
                    tracing::info!(events = n, "deleted raw events past retention")
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "deleting old events failed; will retry"),
            }
            match leased(&state, "sweeper.changes_retention", HOUR, async {
                super::changes::prune(&state).await
            })
            .await
            {
                Ok(Some(n)) if n > 0 => {
                    tracing::info!(changes = n, "pruned change-feed entries past retention")
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "pruning the change feeds failed; will retry")
                }
            }
            last_events_sweep = now;
        }
        if let Err(err) = super::events::flush(&state).await {
            tracing::warn!(error = %err, "writing server events failed; will retry");
        }
        if now - last_sales_rollup >= rollup_every {
            match super::sales_report::run_rollup(&state).await {
                Ok(r) if r.orders + r.refunds > 0 => {
                    tracing::debug!(orders = r.orders, refunds = r.refunds, "sales rolled up")
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "rolling up sales failed; will retry"),
            }
            last_sales_rollup = now;
        }
        // Price-list lines from the middle platform whose start has come.
        match super::platform_sync::apply_due_prices(&state).await {
            Ok(n) if n > 0 => tracing::info!(lines = n, "applied scheduled platform prices"),
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(error = %err, "applying scheduled prices failed; will retry")
            }
        }
        if last_search_flush.elapsed() >= super::search_words::FLUSH_EVERY {
            if let Err(err) = super::search_words::flush(&state).await {
                tracing::warn!(error = %err, "adding up searches failed; will retry");
            }
            last_search_flush = std::time::Instant::now();
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(every) => {}
        }
    }
    // The server events and searches recorded since the last time, before the server stops.
    if let Err(err) = super::events::flush(&state).await {
        tracing::warn!(error = %err, "writing server events at shutdown failed");
    }
    if let Err(err) = super::search_words::flush(&state).await {
        tracing::warn!(error = %err, "adding up searches at shutdown failed");
    }
}

/// How often the SQLite WAL is checkpointed ([`run_checkpoints`]).
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// A WAL of more frames than this (4 KiB pages: 4 MiB) is started again
/// ([`crate::storage::Store::restart_wal`]) …
pub const RESTART_WAL_ABOVE: i64 = 1_024;

/// … at most this often (the restart holds the writer for a moment).
pub const RESTART_EVERY: Duration = Duration::from_secs(5);

/// Copies the SQLite WAL back into the database file every [`CHECKPOINT_EVERY`] until cancelled
/// (a passive checkpoint on a reading connection, so the writer never waits for it); returns at
/// once on PostgreSQL.
///
/// When the WAL has grown past [`RESTART_WAL_ABOVE`] frames, at most every [`RESTART_EVERY`],
/// it is started again ([`crate::storage::Store::restart_wal`]).
///
/// Often, so each checkpoint is small: the checkpoint ends with an fsync of the database file,
/// and on a journalling file system (ext4 with ordered data) the writer's own commit fsync of
/// the WAL waits for that one's data to reach the disk. Once a second (the sweep's pace, as
/// before) a checkpoint carried a second of commits — at 500 payment notifications a second,
/// megabytes — and the commits behind it stalled for tens of milliseconds (BENCHMARKS.md,
/// "Payment notifications", the p99).
pub async fn run_checkpoints(state: AppState, cancel: CancellationToken) {
    if state.store.dialect() != storage::Dialect::Sqlite {
        return;
    }
    let mut last_restart = std::time::Instant::now();
    loop {
        match state.store.checkpoint().await {
            Ok(frames) if frames > RESTART_WAL_ABOVE && last_restart.elapsed() >= RESTART_EVERY => {
                match state.store.restart_wal().await {
                    Ok(true) => {}
                    Ok(false) => tracing::debug!("a reader kept the WAL busy; will retry"),
                    Err(err) => {
                        tracing::warn!(error = %err, "restarting the WAL failed; will retry")
                    }
                }
                last_restart = std::time::Instant::now();
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "WAL checkpoint failed; will retry"),
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(CHECKPOINT_EVERY) => {}
        }
    }
}

/// Runs the payment sweeps until cancelled, apart from [`run`] (a provider that answers slowly
/// must not hold up order deadlines): refunds sent to their providers and followed until final
/// ([`crate::app::refunds::dispatch_due`]), and pending payments asked about
/// ([`crate::app::payments::settle_pending`]).
pub async fn run_payments(state: AppState, cancel: CancellationToken) {
    let every = Duration::from_millis(state.settings.orders.sweep_interval_millis.max(50));
    loop {
        // One instance at a time asks the providers (the `payments.sweep` job lease): the
        // items themselves are idempotent (a refund's out_refund_no, a payment's notification
        // id), this keeps two instances from asking about the same one at once.
        let pass = leased(&state, "payments.sweep", Duration::ZERO, async {
            if let Err(err) = crate::app::refunds::dispatch_due(&state).await {
                tracing::warn!(error = %err, "sending refunds failed; will retry");
            }
            if let Err(err) = crate::app::payments::settle_pending(&state).await {
                tracing::warn!(error = %err, "settling pending payments failed; will retry");
            }
            if let Err(err) = crate::app::checkouts::settle_pending(&state).await {
                tracing::warn!(error = %err, "settling pending combined payments failed; will retry");
            }
            if let Err(err) = crate::app::recharges::settle_pending(&state).await {
                tracing::warn!(error = %err, "settling pending recharges failed; will retry");
            }
            if let Err(err) = crate::app::lane_payments::settle_stale(&state).await {
                tracing::warn!(error = %err, "settling stale payment-code payments failed; will retry");
            }
            Ok(())
        });
        if let Err(err) = pass.await {
            tracing::warn!(error = %err, "the payment sweeps' lease failed; will retry");
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(every) => {}
        }
    }
}

/// Cancels every unpaid order past its deadline; returns how many.
pub async fn cancel_overdue(state: &AppState) -> AppResult<usize> {
    let mut cancelled = 0;
    loop {
        let overdue = storage::orders::overdue_unpaid(&state.store, now_ms(), 200).await?;
        if overdue.is_empty() {
            return Ok(cancelled);
        }
        for id in &overdue {
            if move_once(
                state,
                *id,
                OrderStatus::PendingPayment,
                OrderStatus::Cancelled,
                "payment timeout",
            )
            .await?
            .is_some()
            {
                cancelled += 1;
            }
        }
        if overdue.len() < 200 {
            return Ok(cancelled);
        }
    }
}

/// Cancels pickup orders left uncollected past `orders.pickup_hold_secs` after they were ready:
/// the stock goes back on the shelf, the payment is refunded, and the store is told.
pub async fn cancel_uncollected(state: &AppState) -> AppResult<usize> {
    let hold_ms = i64::try_from(state.settings.orders.pickup_hold_secs.saturating_mul(1000))
        .unwrap_or(i64::MAX / 2);
    let overdue =
        storage::orders::uncollected(&state.store, now_ms().saturating_sub(hold_ms), 200).await?;
    let mut cancelled = 0;
    for id in overdue {
        // Only the instance whose transaction moved the order tells the store.
        if let Some(order) = move_once(
            state,
            id,
            OrderStatus::ReadyForPickup,
            OrderStatus::Cancelled,
            "not collected in time",
        )
        .await?
        {
            cancelled += 1;
            if let Some(bus) = &state.bus {
                bus.pickup(
                    &order.location_id,
                    crate::bus::PickupNotice {
                        event: "cancelled",
                        order_id: order.id,
                        order_no: &order.order_no,
                        lines: &[],
                    },
                )
                .await;
            }
        }
    }
    Ok(cancelled)
}

/// Moves order `id` from `from` to `to` for the system; answers the order when this call moved
/// it, None when it was no longer in `from` (another instance's sweep, or the shopper, got there
/// first: the order's row lock serialises them, and the loser finds it moved).
async fn move_once(
    state: &AppState,
    id: uuid::Uuid,
    from: OrderStatus,
    to: OrderStatus,
    reason: &str,
) -> AppResult<Option<crate::storage::orders::OrderView>> {
    let mut tx = state.store.begin().await?;
    let moved =
        crate::app::orders::move_in_tx(&mut tx, &state.store, id, Some(from), to, "system", reason)
            .await?;
    if !moved {
        tx.rollback().await?;
        return Ok(None);
    }
    tx.commit().await?;
    Ok(Some(storage::orders::get(&state.store, id).await?))
}
