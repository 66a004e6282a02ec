//! [`StoppableTask`]: a part of the system (the server, a lane, an agent) running as a task of
//! this process until it is told to stop, the way its `run…(…, shutdown)` entry point expects.

use std::future::Future;
use std::pin::Pin;

use anyhow::Context;
use tokio::sync::oneshot;

/// The future an entry point is given as its shutdown signal: it completes when the task is
/// told to stop (or its [`StoppableTask`] is dropped).
pub type StopSignal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A task running an entry point until told to stop. Dropping it tells the task to stop
/// without waiting for it; [`StoppableTask::stop`] also waits.
pub struct StoppableTask {
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl StoppableTask {
    /// Spawns `run(signal)` on the current runtime.
    pub fn spawn<Fut>(run: impl FnOnce(StopSignal) -> Fut) -> StoppableTask
    where
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel::<()>();
        let signal: StopSignal = Box::pin(async move {
            let _ = stopped.await;
        });
        StoppableTask {
            stop: Some(stop),
            task: Some(tokio::spawn(run(signal))),
        }
    }

    /// Tells the task to stop and waits until it has; its error, if it ended with one. Stopping
    /// a stopped task does nothing.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        self.signal();
        match self.task.take() {
            Some(task) => task.await.context("the task panicked or was cancelled")?,
            None => Ok(()),
        }
    }

    /// Aborts the task where it is, without telling it (a killed process: nothing after the
    /// current await point runs). Aborting a stopped task does nothing.
    pub fn abort(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        self.stop = None;
    }

    /// Waits until the task ends by itself (it failed, or ended early): its result. Cancel-safe:
    /// the task keeps running when this future is dropped. Never completes for a stopped task.
    pub async fn ended(&mut self) -> anyhow::Result<()> {
        let Some(task) = self.task.as_mut() else {
            return std::future::pending().await;
        };
        let result = task.await;
        self.task = None;
        result.context("the task panicked or was cancelled")?
    }

    fn signal(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for StoppableTask {
    fn drop(&mut self) {
        self.signal();
    }
}
