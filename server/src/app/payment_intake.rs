//! Payment intake: providers' paid notifications applied in group commits.
//!
//! One write transaction per notification costs one durable commit (an fsync) each, and at a
//! few hundred notifications a second the commits queue behind each other. Instead, the
//! notification handlers hand their verified notifications ([`PaidNotice`]) to the payment
//! writer, which takes everything that queued up while its previous commit was in flight (up
//! to [`MAX_BATCH`]; it never waits for more to come) and applies it in one transaction: each
//! notification by the same rules as on its own ([`take_order_paid_in_tx`]), inside a
//! savepoint of its own, so one that fails is undone alone and answered its error (the provider
//! sends it again) while the others commit. Under light load a batch is one notification and
//! its latency one commit; under heavy load one commit serves many. On SQLite (one writer
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

use std::sync::Arc;

use super::group_commit::{Batcher, GroupWriter};
use super::payments::{take_order_paid_in_tx, NoticeApplied, PaidNotice};
use crate::config::Settings;
use crate::error::{AppError, AppResult};
use crate::storage::{self, Dialect, Store};

#[cfg(doc)]
use super::payments::AfterCommit;

/// Most notifications applied in one transaction.
pub const MAX_BATCH: usize = 64;

/// Batches applied at once on PostgreSQL (each its own connection): a notification takes a
/// dozen round trips to the database, and one batch after another would make them all wait in
/// one line. SQLite has one writer connection, so one batch at a time.
pub const POSTGRES_LOOPS: usize = 4;

/// The savepoint each notification of a batch is applied under.
const SAVEPOINT: &str = "paid_notice";

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

/// Applies `notices` in one transaction, each under a savepoint of its own (a batch of one
/// needs none), and answers one result per notice, in order. A notice whose rules fail is
/// undone to its savepoint and answered its error; the others commit. When the transaction
/// itself fails (begin, a savepoint, the commit), nothing is applied and every notice is
/// answered an error, so its provider sends it again.
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
    // Payments in id order (arrivals in order among one payment's): two batches at once on
    // PostgreSQL then lock their payments in the same order, and never wait for each other in a
    // circle.
    let mut order: Vec<usize> = (0..notices.len()).collect();
    order.sort_by_key(|&i| notices[i].payment_id);
    let mut results: Vec<Option<AppResult<NoticeApplied>>> =
        (0..notices.len()).map(|_| None).collect();
    for i in order {
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
