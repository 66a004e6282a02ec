//! Order intake: the flash-sale hot path.
//!
//! One transaction per order caps a hot SKU at roughly one commit (one fsync) per order. Instead,
//! handlers hand their orders to a single writer task, which takes everything that queued up
//! while the previous commit was in flight (up to `max_batch`) and places it with
//! [`storage::orders::place_batch`] in one transaction: one stock row lock, one multi-row insert
//! per table, one durable commit. Under light load a batch is a single order, so latency stays
//! one commit; under heavy load the batch grows and throughput follows. Every caller still gets
//! its own answer, and a crash before the commit loses only orders that were never acknowledged.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Mutex};
use tokio::task::JoinHandle;

use crate::error::{AppError, AppResult};
use crate::storage::orders::{NewOrder, OrderPlaced};
use crate::storage::{self, Store};

struct Job {
    order: NewOrder,
    reply: oneshot::Sender<AppResult<OrderPlaced>>,
}

/// Handle to the writer task; cheap to clone.
#[derive(Clone)]
pub struct OrderIntake {
    queue: mpsc::Sender<Job>,
    worker: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl std::fmt::Debug for OrderIntake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OrderIntake")
    }
}

impl OrderIntake {
    /// Starts the writer task.
    pub fn start(store: Store, max_batch: usize) -> Self {
        let (queue, rx) = mpsc::channel(max_batch.max(1) * 8);
        let worker = tokio::spawn(write_loop(store, rx, max_batch.max(1)));
        Self {
            queue,
            worker: Arc::new(Mutex::new(Some(worker))),
        }
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
        let handle = self.worker.lock().await.take();
        if let Some(handle) = handle {
            // Called after the HTTP server has drained, so no caller is waiting: wait for the
            // queue to empty (bounded), then stop the writer.
            for _ in 0..200 {
                if self.queue.capacity() == self.queue.max_capacity() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            handle.abort();
            let _ = handle.await;
        }
    }
}

async fn write_loop(store: Store, mut rx: mpsc::Receiver<Job>, max_batch: usize) {
    let mut jobs: Vec<Job> = Vec::with_capacity(max_batch);
    while rx.recv_many(&mut jobs, max_batch).await > 0 {
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
