//! Order intake: the flash-sale hot path.
//!
//! One transaction per order caps a hot SKU at roughly one commit (one fsync) per order. Instead,
//! handlers hand their orders to a single writer, which takes everything that queued up while
//! the previous commit was in flight (up to `max_batch`) and places it with
//! [`storage::orders::place_batch`] in one transaction: one stock row lock, one multi-row insert
//! per table, one durable commit. Under light load a batch is a single order, so latency stays
//! one commit; under heavy load the batch grows and throughput follows. Every caller still gets
//! its own answer, and a crash before the commit loses only orders that were never acknowledged.
//!
//! The writer runs on a thread of its own (a single-threaded runtime): it awaits the database
//! a dozen times per batch, and on the server's shared runtime each of those wake-ups would
//! queue behind hundreds of HTTP connections' tasks. Its own thread is scheduled by the
//! operating system beside the server's threads instead, so the one thing every order waits
//! for is never kept waiting.

use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::error::{AppError, AppResult};
use crate::storage::orders::{NewOrder, OrderPlaced};
use crate::storage::{self, Store};

struct Job {
    order: NewOrder,
    reply: oneshot::Sender<AppResult<OrderPlaced>>,
}

/// Handle to the writer; cheap to clone.
#[derive(Clone)]
pub struct OrderIntake {
    queue: mpsc::Sender<Job>,
    stop: CancellationToken,
    worker: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl std::fmt::Debug for OrderIntake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OrderIntake")
    }
}

impl OrderIntake {
    /// Starts the writer on its own thread (with its own PostgreSQL connections: see
    /// [`Store::for_own_runtime`]).
    pub async fn start(store: Store, max_batch: usize) -> anyhow::Result<Self> {
        let max_batch = max_batch.max(1);
        let (queue, rx) = mpsc::channel(max_batch * 8);
        let stop = CancellationToken::new();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let loop_stop = stop.clone();
        let (ready_tx, ready) = oneshot::channel::<anyhow::Result<()>>();
        let worker = std::thread::Builder::new()
            .name("order-writer".into())
            .spawn(move || {
                runtime.block_on(async move {
                    match store.for_own_runtime(2).await {
                        Ok(store) => {
                            let _ = ready_tx.send(Ok(()));
                            write_loop(store, rx, max_batch, loop_stop).await;
                        }
                        Err(err) => {
                            let _ = ready_tx.send(Err(err));
                        }
                    }
                });
            })?;
        ready
            .await
            .map_err(|_| anyhow::anyhow!("the order writer did not start"))??;
        Ok(Self {
            queue,
            stop,
            worker: Arc::new(Mutex::new(Some(worker))),
        })
    }

    /// Places one order (waits for the batch it joined to commit).
    pub async fn place(&self, order: NewOrder) -> AppResult<OrderPlaced> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job { order, reply })
            .await
            .map_err(|_| AppError::Unavailable("the server is shutting down".into()))?;
        answer
            .await
            .map_err(|_| AppError::Unavailable("the order writer stopped".into()))?
    }

    /// Stops accepting orders, finishes what is queued and waits for the writer.
    pub async fn close(&self) {
        let handle = self.worker.lock().ok().and_then(|mut w| w.take());
        if let Some(handle) = handle {
            // Called after the HTTP server has drained, so no caller is waiting: wait for the
            // queue to empty (bounded), then stop the writer.
            for _ in 0..200 {
                if self.queue.capacity() == self.queue.max_capacity() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            self.stop.cancel();
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
    }
}

async fn write_loop(
    store: Store,
    mut rx: mpsc::Receiver<Job>,
    max_batch: usize,
    stop: CancellationToken,
) {
    let mut jobs: Vec<Job> = Vec::with_capacity(max_batch);
    loop {
        let received = tokio::select! {
            () = stop.cancelled() => break,
            n = rx.recv_many(&mut jobs, max_batch) => n,
        };
        if received == 0 {
            break;
        }
        let orders: Vec<NewOrder> = jobs.iter().map(|j| j.order.clone()).collect();
        metrics::histogram!("order_batch_size").record(orders.len() as f64);
        let started = std::time::Instant::now();
        let placed = storage::orders::place_batch(&store, &orders).await;
        metrics::histogram!("order_batch_seconds").record(started.elapsed().as_secs_f64());
        match placed {
            Ok(results) => {
                for (job, result) in jobs.drain(..).zip(results) {
                    let _ = job.reply.send(result);
                }
            }
            Err(err) => {
                tracing::error!(error = %err, batch = orders.len(), "placing an order batch failed");
                for job in jobs.drain(..) {
                    let _ = job.reply.send(Err(AppError::Unavailable(
                        "could not place the order right now, please retry".into(),
                    )));
                }
            }
        }
    }
}
