//! Payment intake: providers' paid notifications applied in group commits.
//!
//! One write transaction per notification costs one durable commit (an fsync) each, and at a
//! few hundred notifications a second the commits queue behind each other. Instead, the
//! notification handlers hand their verified notifications ([`PaidNotice`]) to the payment
//! writer, which takes everything that queued up while its previous commit was in flight (up
//! to [`MAX_BATCH`]; it never waits for more to come) and applies it in one transaction. The
//! plain ones (a pending payment of the amount asked, its order waiting for it) are applied
//! together, with one statement per step for the whole batch; the rest one by one by the same
//! rules ([`judge`], [`take_order_paid_in_tx`]), each inside a savepoint of its own, so one that
//! fails is undone alone and answered its error (the provider sends it again) while the others
//! commit. Under light load a batch is one notification and its latency one commit; under
//! heavy load one commit, and one statement per step, serves many. On SQLite (one writer
//! connection) one batch is applied at a time; on PostgreSQL [`POSTGRES_LOOPS`] at once, each
//! on its own connection, their payments locked in id order so they never deadlock each other.
//!
//! Every caller awaits its own answer, and gets it only after its batch committed: a
//! notification is never answered taken before it is durable, and a crash loses only
//! notifications no provider was told were taken. When the batch as a whole fails (the database
//! busy or gone, the commit refused), every notification of it gets an error and is sent again.
//! What follows the commit (the store told of a paid pickup order, the order's other pending
//! payments closed, refunds sent) is left to the caller ([`AfterCommit`]), once it has its
//! answer.
//!
//! Like the order writer ([`super::order_intake`]) the writer is a [`super::group_commit`]
//! writer: a thread of its own (a single-threaded runtime) with, on PostgreSQL, connections of
//! its own, so its many awaits per batch never queue behind the HTTP connections' tasks. It
//! stops after the HTTP server and the sweepers have stopped ([`PaymentIntake::close`]), having
//! applied what was queued.
//!
//! [`take_order_paid_in_tx`]: super::payments::take_order_paid_in_tx

use std::collections::HashSet;
use std::sync::Arc;

use uuid::Uuid;

use super::group_commit::{Batcher, GroupWriter};
use super::payments::{
    apply_many_paid_in_tx, judge, paid_now, take_order_paid_in_tx, NoticeApplied, OrderPaid,
    PaidNotice, Taken, Verdict,
};
use crate::config::Settings;
use crate::error::{AppError, AppResult};
use crate::storage::{self, Dialect, Store, Tx};

#[cfg(doc)]
use super::payments::AfterCommit;

/// Most notifications applied in one transaction.
pub const MAX_BATCH: usize = 64;

/// Batches applied at once on PostgreSQL (each its own connection): a notification takes a
/// dozen round trips to the database, and one batch after another would make them all wait in
/// one line. SQLite has one writer connection, so one batch at a time.
pub const POSTGRES_LOOPS: usize = 4;

/// The savepoint each notification of a batch applied one by one is applied under.
const SAVEPOINT: &str = "paid_notice";

/// The savepoint the notifications of a batch applied together are applied under.
const TOGETHER: &str = "paid_notices";

/// The payment writer's rules for a batch: [`apply_batch`] with the server's settings.
#[derive(Clone)]
struct PaymentRules {
    settings: Arc<Settings>,
}

impl Batcher for PaymentRules {
    type Item = PaidNotice;
    type Answer = NoticeApplied;
    const NAME: &'static str = "payment writer";
    const SIZE_METRIC: &'static str = "payment_notification_batch_size";
    const SECONDS_METRIC: &'static str = "payment_notification_batch_seconds";

    async fn apply(
        &mut self,
        store: &Store,
        notices: &[PaidNotice],
    ) -> Vec<AppResult<NoticeApplied>> {
        let notices: Vec<&PaidNotice> = notices.iter().collect();
        apply_batch(store, &self.settings, &notices).await
    }
}

/// Handle to the payment intake's writer; cheap to clone.
#[derive(Clone)]
pub struct PaymentIntake(GroupWriter<PaymentRules>);

impl std::fmt::Debug for PaymentIntake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PaymentIntake")
    }
}

impl PaymentIntake {
    /// Starts the writer on its own thread (with its own PostgreSQL connections: see
    /// [`Store::for_own_runtime`]); `settings` gives the rules a notification is applied by
    /// (points earned, the refund approval threshold).
    pub async fn start(store: Store, settings: Arc<Settings>) -> anyhow::Result<Self> {
        let loops = match store.dialect() {
            Dialect::Sqlite => 1,
            Dialect::Postgres => POSTGRES_LOOPS,
        };
        Ok(Self(
            GroupWriter::start(store, MAX_BATCH, loops, PaymentRules { settings }).await?,
        ))
    }

    /// Applies one notification: waits for the batch it joined to commit (or fail).
    pub async fn take(&self, notice: PaidNotice) -> AppResult<NoticeApplied> {
        self.0.submit(notice).await
    }

    /// Stops accepting notifications, applies what is queued and waits for the writer.
    pub async fn close(&self) {
        self.0.close().await;
    }
}

/// Applies `notices` in one transaction and answers one result per notice, in order.
///
/// Most notifications of a batch are the plain case — a pending payment of the amount asked,
/// its order waiting for it — and those are applied together, one statement per step for all
/// of them ([`apply_together`]): on PostgreSQL a statement is a round trip to a backend process,
/// and a dozen of them per notification, not the commit, is what a notification costs. The
/// others (an alert, a late payment, a replay, a lane's payment or a recharge, a second
/// notification for a payment or an order of the batch) are then applied one by one by the
/// same rules, each under a savepoint of its own (a batch of one needs none): one that fails is
/// undone alone and answered its error; the others commit. When applying together fails, it is
/// undone and every notice is applied one by one instead. When the transaction itself fails
/// (begin, a savepoint, the commit), nothing is applied and every notice is answered an error,
/// so its provider sends it again.
pub async fn apply_batch(
    store: &Store,
    settings: &Settings,
    notices: &[&PaidNotice],
) -> Vec<AppResult<NoticeApplied>> {
    let isolate = notices.len() > 1;
    let mut tx = match store.begin().await {
        Ok(tx) => tx,
        Err(err) => return failed(err, notices.len()),
    };
    let mut results: Vec<Option<AppResult<NoticeApplied>>> =
        (0..notices.len()).map(|_| None).collect();
    // Payments in id order (arrivals in order among one payment's): two batches at once on
    // PostgreSQL then lock their payments in the same order, and never wait for each other in a
    // circle.
    let mut alone: Vec<usize> = (0..notices.len()).collect();
    alone.sort_by_key(|&i| notices[i].payment_id);
    if isolate {
        if let Err(err) = storage::savepoint(&mut tx, TOGETHER).await {
            return failed(err, notices.len());
        }
        match apply_together(&mut tx, store, settings, notices).await {
            Ok(together) => {
                if let Err(err) = storage::release_savepoint(&mut tx, TOGETHER).await {
                    return failed(err, notices.len());
                }
                for (i, applied) in together.done {
                    results[i] = Some(Ok(applied));
                }
                alone = together.alone;
            }
            Err(err) => {
                tracing::warn!(error = %err, batch = notices.len(), "payment notifications could not be applied together; applying them one by one");
                if let Err(err) = storage::rollback_to_savepoint(&mut tx, TOGETHER).await {
                    return failed(err, notices.len());
                }
            }
        }
    }
    for i in alone {
        let notice = notices[i];
        if isolate {
            if let Err(err) = storage::savepoint(&mut tx, SAVEPOINT).await {
                return failed(err, notices.len());
            }
        }
        let result = take_order_paid_in_tx(&mut tx, store, settings, notice).await;
        if let Err(err) = &result {
            tracing::warn!(error = %err, payment = %notice.payment_id, "a payment notification could not be applied now");
        }
        if isolate {
            let closed = match result {
                Ok(_) => storage::release_savepoint(&mut tx, SAVEPOINT).await,
                Err(_) => storage::rollback_to_savepoint(&mut tx, SAVEPOINT).await,
            };
            if let Err(err) = closed {
                return failed(err, notices.len());
            }
        } else if result.is_err() {
            // A batch of one: its error undoes the whole transaction (dropped: rolled back).
            return vec![result];
        }
        results[i] = Some(result);
    }
    match tx.commit().await {
        Ok(()) => results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(AppError::Internal(anyhow::anyhow!(
                        "a payment notification left without an answer"
                    )))
                })
            })
            .collect(),
        Err(err) => failed(err.into(), notices.len()),
    }
}

/// What [`apply_together`] did.
#[derive(Debug)]
pub struct Together {
    /// The notices it applied (index into the batch) with their outcomes.
    pub done: Vec<(usize, NoticeApplied)>,
    /// The notices it left to be applied one by one (indexes, in payment id order).
    pub alone: Vec<usize>,
}

/// Applies together the notices of a batch that pay their order now, in the caller's
/// transaction: the batch's payments locked in one statement (id order), their orders in one
/// (id order), what the orders were paid so far in one; each notice judged by the same rules as
/// alone ([`judge`]); those that pay (at most one per payment and per order: a second one is
/// left to be applied after, when it will find the first applied) have their notification ids
/// recorded in one statement and their orders paid with one statement per step
/// ([`apply_many_paid_in_tx`]). Everything else is left to be applied one by one.
pub async fn apply_together(
    tx: &mut Tx,
    store: &Store,
    settings: &Settings,
    notices: &[&PaidNotice],
) -> AppResult<Together> {
    let ids: Vec<Uuid> = notices.iter().map(|n| n.payment_id).collect();
    let payments = storage::payments::lock_many(tx, store, &ids).await?;
    let order_ids: Vec<Uuid> = payments.values().map(|p| p.order_id).collect();
    let heads = storage::orders::lock_heads(tx, store, &order_ids).await?;
    let paid_before = storage::payments::paid_so_far_many(tx, &order_ids).await?;

    let mut by_payment: Vec<usize> = (0..notices.len()).collect();
    by_payment.sort_by_key(|&i| notices[i].payment_id);
    let (mut together, mut alone) = (Vec::new(), Vec::new());
    let (mut seen_payments, mut seen_orders) = (HashSet::new(), HashSet::new());
    for i in by_payment {
        let notice = notices[i];
        let found = payments
            .get(&notice.payment_id)
            .and_then(|p| heads.get(&p.order_id).map(|h| (p, h)));
        let pays = found.is_some_and(|(payment, head)| {
            let first = seen_payments.insert(payment.id);
            let first_of_order = seen_orders.insert(head.id);
            let before = paid_before.get(&head.id).copied().unwrap_or(0);
            first
                && first_of_order
                && judge(notice.provider, payment, head, &notice.trade, before) == Verdict::Pay
        });
        if pays {
            together.push(i);
        } else {
            alone.push(i);
        }
    }
    let mut done = Vec::with_capacity(together.len());
    if together.is_empty() {
        return Ok(Together { done, alone });
    }

    let keys: Vec<(String, Uuid)> = together
        .iter()
        .map(|&i| (notices[i].key(), notices[i].payment_id))
        .collect();
    let recorded =
        storage::payments::record_notifications(tx, "payment_notifications", &keys).await?;
    together.retain(|&i| {
        let new = recorded.contains(&notices[i].key());
        if !new {
            done.push((i, NoticeApplied::only(Taken::Duplicate)));
        }
        new
    });
    let mut paid = Vec::with_capacity(together.len());
    for &i in &together {
        let notice = notices[i];
        let head = payments
            .get(&notice.payment_id)
            .and_then(|p| heads.get(&p.order_id))
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("a judged payment vanished")))?;
        paid.push(OrderPaid {
            head,
            payment_id: notice.payment_id,
            transaction_id: &notice.trade.transaction_id,
        });
    }
    let after = apply_many_paid_in_tx(settings, tx, &paid, "payment-provider").await?;
    for (i, head) in together.into_iter().zip(after) {
        done.push((i, paid_now(head, notices[i].payment_id)));
    }
    Ok(Together { done, alone })
}

/// Every notice of a batch answered an error: the batch's own, for a batch of one; else (an
/// error cannot be copied) logged once and each answered "not applied now".
fn failed(err: AppError, n: usize) -> Vec<AppResult<NoticeApplied>> {
    if n == 1 {
        return vec![Err(err)];
    }
    tracing::error!(error = %err, batch = n, "a batch of payment notifications failed; each is sent again");
    metrics::counter!("payment_notification_batch_failures_total").increment(1);
    (0..n)
        .map(|_| {
            Err(AppError::Unavailable(
                "the payment notification could not be applied now".into(),
            ))
        })
        .collect()
}
