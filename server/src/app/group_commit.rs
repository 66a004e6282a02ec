//! A group-commit writer: one thread of its own that applies what callers hand it in batches,
//! one transaction (one durable commit) per batch, each caller awaiting its own answer. The
//! order writer ([`super::order_intake`]) and the payment writer ([`super::payment_intake`])
//! are two of them; what a batch does is theirs ([`Batcher`]), the queue, the thread and the
//! shutdown are this module's.
//!
//! The writer takes everything that queued up while the previous batch was in flight (up to
//! `max_batch`) and never waits for more: under light load a batch is one item and its latency
//! one commit, under heavy load the batch grows and one commit serves many. It may apply several
//! batches at once (`loops`, on PostgreSQL), each loop taking what is queued when it is free.
//! It runs on a thread
//! of its own (a single-threaded runtime) with, on PostgreSQL, connections of its own
//! ([`Store::for_own_runtime`]): it awaits the database a dozen times per batch, and on the
//! server's shared runtime each of those wake-ups would queue behind hundreds of HTTP
//! connections' tasks; its own thread is scheduled by the operating system beside them.

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::error::{AppError, AppResult};
use crate::storage::Store;

/// What one group-commit writer does with a batch (cloned for each of its writing loops).
pub trait Batcher: Clone + Send + 'static {
    /// What a caller hands in.
    type Item: Send + 'static;
    /// What a caller gets back.
    type Answer: Send + 'static;
    /// The writer's name in messages and its thread's name (`order writer`).
    const NAME: &'static str;
    /// The histogram of batch sizes.
    const SIZE_METRIC: &'static str;
    /// The histogram of the time a batch takes, in seconds.
    const SECONDS_METRIC: &'static str;

    /// Applies `items` (in arrival order) and answers one result per item, in the same order.
    fn apply(
        &mut self,
        store: &Store,
        items: &[Self::Item],
    ) -> impl Future<Output = Vec<AppResult<Self::Answer>>>;
}

struct Job<B: Batcher> {
    item: B::Item,
    reply: oneshot::Sender<AppResult<B::Answer>>,
}

/// Handle to a group-commit writer; cheap to clone.
pub struct GroupWriter<B: Batcher> {
    queue: mpsc::Sender<Job<B>>,
    stop: CancellationToken,
    worker: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl<B: Batcher> Clone for GroupWriter<B> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
            stop: self.stop.clone(),
            worker: self.worker.clone(),
        }
    }
}

impl<B: Batcher> GroupWriter<B> {
    /// Starts the writer on its own thread: batches of at most `max_batch` items, applied by
    /// `loops` writing loops at once (each with a connection of its own on PostgreSQL; one is
    /// all SQLite's single writer connection can use). A loop takes what is queued when it is
    /// free, so with several loops a batch grows only once every loop is busy.
    pub async fn start(
        store: Store,
        max_batch: usize,
        loops: usize,
        batcher: B,
    ) -> anyhow::Result<Self> {
        let max_batch = max_batch.max(1);
        let loops = loops.max(1);
        let (queue, rx) = mpsc::channel(max_batch * 8);
        let stop = CancellationToken::new();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let loop_stop = stop.clone();
        let (ready_tx, ready) = oneshot::channel::<anyhow::Result<()>>();
        let worker = std::thread::Builder::new()
            .name(B::NAME.replace(' ', "-"))
            .spawn(move || {
                let local = tokio::task::LocalSet::new();
                local.block_on(&runtime, async move {
                    let connections = u32::try_from(loops).unwrap_or(u32::MAX).max(2);
                    match store.for_own_runtime(connections).await {
                        Ok(store) => {
                            let _ = ready_tx.send(Ok(()));
                            let rx = Arc::new(tokio::sync::Mutex::new(rx));
                            let running: Vec<_> = (0..loops)
                                .map(|_| {
                                    tokio::task::spawn_local(write_loop(
                                        store.clone(),
                                        batcher.clone(),
                                        rx.clone(),
                                        max_batch,
                                        loop_stop.clone(),
                                    ))
                                })
                                .collect();
                            for one in running {
                                let _ = one.await;
                            }
                        }
                        Err(err) => {
                            let _ = ready_tx.send(Err(err));
                        }
                    }
                });
            })?;
        ready
            .await
            .map_err(|_| anyhow::anyhow!("the {} did not start", B::NAME))??;
        Ok(Self {
            queue,
            stop,
            worker: Arc::new(Mutex::new(Some(worker))),
        })
    }

    /// Hands one item to the writer and waits for the batch it joined to commit (or fail).
    pub async fn submit(&self, item: B::Item) -> AppResult<B::Answer> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job { item, reply })
            .await
            .map_err(|_| AppError::Unavailable("the server is shutting down".into()))?;
        answer
            .await
            .map_err(|_| AppError::Unavailable(format!("the {} stopped", B::NAME)))?
    }

    /// Stops accepting items, applies what is queued and waits for the writer.
    pub async fn close(&self) {
        let handle = self.worker.lock().ok().and_then(|mut w| w.take());
        if let Some(handle) = handle {
            // Called after the HTTP server (and the sweepers) have stopped, so nobody adds to
            // the queue: wait for it to empty (bounded), then stop the writer.
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

async fn write_loop<B: Batcher>(
    store: Store,
    mut batcher: B,
    rx: Arc<tokio::sync::Mutex<mpsc::Receiver<Job<B>>>>,
    max_batch: usize,
    stop: CancellationToken,
) {
    let mut jobs: Vec<Job<B>> = Vec::with_capacity(max_batch);
    let mut items: Vec<B::Item> = Vec::with_capacity(max_batch);
    let mut replies = Vec::with_capacity(max_batch);
    loop {
        // What is queued first, so a stop still applies what callers handed in.
        let received = {
            let mut rx = rx.lock().await;
            tokio::select! {
                biased;
                n = rx.recv_many(&mut jobs, max_batch) => n,
                () = stop.cancelled() => break,
            }
        };
        if received == 0 {
            break;
        }
        for job in jobs.drain(..) {
            items.push(job.item);
            replies.push(job.reply);
        }
        metrics::histogram!(B::SIZE_METRIC).record(items.len() as f64);
        let started = std::time::Instant::now();
        let results = batcher.apply(&store, &items).await;
        metrics::histogram!(B::SECONDS_METRIC).record(started.elapsed().as_secs_f64());
        items.clear();
        let mut results = results.into_iter();
        for reply in replies.drain(..) {
            let _ = reply.send(results.next().unwrap_or_else(|| {
                Err(AppError::Internal(anyhow::anyhow!(
                    "the {} left an item without an answer",
                    B::NAME
                )))
            }));
        }
    }
}
