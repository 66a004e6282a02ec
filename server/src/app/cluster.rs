//! Several server instances on one PostgreSQL database (issue 20, docs/OPERATIONS.md).
//!
//! - **Job leases** ([`leased`]): a periodic whole-table job (points expiry, birthdays, the
//!   export, reconciliation, tags, recommendations, the shelf-label worker …) runs on one
//!   instance at a time: the instance takes the job's row in `job_leases` with one conditional
//!   upsert, keeps it alive while the run lasts (a heartbeat every [`HEARTBEAT`]), and at the end
//!   leaves it held until the next run is due (`hold`), so the other instances' timers find it
//!   taken. An instance that dies mid-run loses its lease after [`LEASE_TTL`] and another takes
//!   the job over; a run that loses its lease is stopped (its open transaction rolls back).
//! - **Cache invalidation** ([`Invalidate`], [`announce`], [`run`]): an instance that changes
//!   what another may have cached sends a PostgreSQL `NOTIFY` on [`CACHE_CHANNEL`]; catalog and
//!   price changes are announced by the database transaction itself (`storage::next_counter` on
//!   the `catalog` and `pricing` sequences), sessions, cart badges and hot words by the instance.
//!   Every instance `LISTEN`s and drops the entries; after its listening connection broke it
//!   drops everything (it may have missed some).
//! - **Chat** ([`CHAT_CHANNEL`]): an event published on one instance's chat hub is relayed to
//!   the sockets held by every other instance.
//!
//! With one instance (the default) only the leases are used: no listener runs, nothing is
//! announced.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::AppState;
use crate::config::Settings;
use crate::error::{AppError, AppResult};
use crate::storage::{self, now_ms, Store};

/// The `NOTIFY` channel of cache invalidations.
pub const CACHE_CHANNEL: &str = "retail_cache";

/// The `NOTIFY` channel of chat events.
pub const CHAT_CHANNEL: &str = "retail_chat";

/// How long a running job's lease lasts without a heartbeat: an instance that stopped mid-run
/// gives the job up after this long.
pub const LEASE_TTL: Duration = Duration::from_secs(60);

/// How often a running job's lease is renewed.
pub const HEARTBEAT: Duration = Duration::from_secs(15);

/// Longest `NOTIFY` payload PostgreSQL takes (8,000 bytes), less room for the sender's id.
const MAX_PAYLOAD: usize = 7_900;

/// This instance's part in the cluster; shared through `AppState`.
#[derive(Debug)]
pub struct Cluster {
    /// This instance's id (in leases, logs and its own notifications).
    pub instance_id: Arc<str>,
    /// True when several instances share the database (`cluster.instances > 1`): caches are
    /// invalidated and chat relayed through PostgreSQL.
    pub shared: bool,
    outgoing: mpsc::UnboundedSender<(&'static str, String)>,
    pending: Mutex<Option<mpsc::UnboundedReceiver<(&'static str, String)>>>,
    /// Notifications from other instances applied so far.
    pub received: AtomicU64,
    /// True while the listening connection is up.
    pub listening: AtomicBool,
}

impl Cluster {
    /// This instance, from the settings (a random id when none is configured).
    pub fn from_settings(settings: &Settings) -> Self {
        let instance_id: Arc<str> = if settings.cluster.instance_id.is_empty() {
            format!("i-{}", &Uuid::new_v4().simple().to_string()[..12]).into()
        } else {
            settings.cluster.instance_id.as_str().into()
        };
        let (outgoing, pending) = mpsc::unbounded_channel();
        Self {
            instance_id,
            shared: settings.cluster.is_shared() && !settings.is_sqlite(),
            outgoing,
            pending: Mutex::new(Some(pending)),
            received: AtomicU64::new(0),
            listening: AtomicBool::new(false),
        }
    }

    fn send(&self, channel: &'static str, body: String) {
        if self.shared {
            let _ = self.outgoing.send((channel, body));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Job leases
// ---------------------------------------------------------------------------------------------

/// Runs `job` when this instance gets its lease, else does nothing (`Ok(None)`): another
/// instance runs it now, or ran it less than `hold` ago. While it runs the lease is renewed every
/// [`HEARTBEAT`]; a run whose lease was lost is stopped with an error. After a run that
/// succeeded the lease is kept until `hold` after its start (the time to the next run; zero
/// frees it at once); after a failure it is freed so any instance may retry.
pub async fn leased<T, F>(
    state: &AppState,
    job: &str,
    hold: Duration,
    run: F,
) -> AppResult<Option<T>>
where
    F: Future<Output = AppResult<T>>,
{
    leased_as(&state.store, &state.cluster.instance_id, job, hold, run).await
}

/// [`leased`] for a `holder` that is not a running server (the command line's `export`): the
/// same lease, so it never runs beside a server instance's run of the same job.
pub async fn leased_as<T, F>(
    store: &Store,
    holder: &str,
    job: &str,
    hold: Duration,
    run: F,
) -> AppResult<Option<T>>
where
    F: Future<Output = AppResult<T>>,
{
    let started = now_ms();
    let ttl = millis(LEASE_TTL);
    if !storage::cluster::take_lease(store, job, holder, started, started + ttl).await? {
        return Ok(None);
    }
    let mut run = std::pin::pin!(run);
    let mut beat = tokio::time::interval(HEARTBEAT);
    beat.tick().await;
    let outcome = loop {
        tokio::select! {
            done = &mut run => break done,
            _ = beat.tick() => {
                match storage::cluster::set_lease(store, job, holder, now_ms() + ttl).await {
                    Ok(true) => {}
                    Ok(false) => break Err(AppError::Internal(anyhow::anyhow!(
                        "the lease on job {job} was lost mid-run; stopped"
                    ))),
                    Err(err) => tracing::warn!(job, error = %err, "renewing a job lease failed"),
                }
            }
        }
    };
    let until = match &outcome {
        Ok(_) => started.saturating_add(millis(hold)),
        Err(_) => 0,
    };
    if let Err(err) = storage::cluster::set_lease(store, job, holder, until).await {
        tracing::warn!(job, error = %err, "ending a job lease failed; it runs out by itself");
    }
    outcome.map(Some)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

// ---------------------------------------------------------------------------------------------
// Cache invalidation
// ---------------------------------------------------------------------------------------------

/// What another instance must drop from its caches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invalidate {
    /// A shop session changed (by its token hash): logged in or out, moved, its store chosen.
    Session(String),
    /// A cart changed (by session id): its badge count.
    CartBadge(Uuid),
    /// The catalog or prices changed: products, SKUs, images, promotions, pricing contexts and
    /// the search index.
    Catalog,
    /// Head office changed the hot search words.
    HotWords,
}

impl Invalidate {
    fn encode(&self) -> String {
        match self {
            Self::Session(hash) => format!("session:{hash}"),
            Self::CartBadge(id) => format!("badge:{id}"),
            Self::Catalog => "catalog".into(),
            Self::HotWords => "hot".into(),
        }
    }

    /// Reads a payload: the instance's own forms and the database's (`catalog`, `pricing`).
    fn decode(text: &str) -> Option<Self> {
        match text.split_once(':') {
            Some(("session", hash)) => Some(Self::Session(hash.to_owned())),
            Some(("badge", id)) => id.parse().ok().map(Self::CartBadge),
            _ => match text {
                "catalog" | "pricing" => Some(Self::Catalog),
                "hot" => Some(Self::HotWords),
                _ => None,
            },
        }
    }
}

/// Tells the other instances to drop `what` (nothing with one instance). Sent after the change
/// committed, in the background; an instance learns of it within milliseconds.
pub fn announce(state: &AppState, what: Invalidate) {
    state.cluster.send(CACHE_CHANNEL, what.encode());
}

/// Drops `what` from this instance's caches.
pub fn apply(state: &AppState, what: &Invalidate) {
    match what {
        Invalidate::Session(hash) => state.sessions.forget(hash.as_str()),
        Invalidate::CartBadge(id) => state.cart_badges.forget(id),
        Invalidate::Catalog => {
            state.catalog_cache.clear();
            state.pricing.clear();
            state.search.invalidate();
        }
        Invalidate::HotWords => super::search_words::forget_hot(state),
    }
}

/// Drops everything this instance caches that another may have changed (after the listening
/// connection broke: notifications may have been missed).
fn apply_all(state: &AppState) {
    state.sessions.clear();
    state.cart_badges.clear();
    apply(state, &Invalidate::Catalog);
    apply(state, &Invalidate::HotWords);
}

// ---------------------------------------------------------------------------------------------
// The loop
// ---------------------------------------------------------------------------------------------

/// Sends this instance's notifications and applies the others' until cancelled; returns at once
/// with one instance.
pub async fn run(state: AppState, cancel: CancellationToken) {
    if !state.cluster.shared {
        return;
    }
    let Some(mut outgoing) = state.cluster.pending.lock().ok().and_then(|mut p| p.take()) else {
        return;
    };
    let sender = {
        let state = state.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            loop {
                let (channel, body) = tokio::select! {
                    () = cancel.cancelled() => break,
                    next = outgoing.recv() => match next { Some(n) => n, None => break },
                };
                let payload = format!("{}|{body}", state.cluster.instance_id);
                if payload.len() > MAX_PAYLOAD {
                    tracing::warn!(
                        channel,
                        bytes = payload.len(),
                        "a cluster notification is too long; not sent"
                    );
                    continue;
                }
                if let Err(err) = storage::cluster::notify(&state.store, channel, &payload).await {
                    tracing::warn!(channel, error = %err, "sending a cluster notification failed");
                }
            }
        })
    };
    let mut backoff = Duration::from_millis(100);
    while !cancel.is_cancelled() {
        let listener = storage::cluster::listen(&state.store, &[CACHE_CHANNEL, CHAT_CHANNEL]).await;
        let mut listener = match listener {
            Ok(Some(l)) => l,
            Ok(None) => break,
            Err(err) => {
                tracing::warn!(error = %err, "listening for cluster notifications failed; will retry");
                tokio::select! {
                    () = cancel.cancelled() => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        // Anything may have changed while this instance was not listening.
        apply_all(&state);
        state.cluster.listening.store(true, Ordering::Release);
        loop {
            let next = tokio::select! {
                () = cancel.cancelled() => break,
                next = listener.try_recv() => next,
            };
            match next {
                Ok(Some(note)) => handle(&state, note.channel(), note.payload()),
                Ok(None) | Err(_) => {
                    tracing::warn!("the cluster notification connection broke; reconnecting");
                    break;
                }
            }
        }
        state.cluster.listening.store(false, Ordering::Release);
    }
    sender.abort();
}

fn handle(state: &AppState, channel: &str, payload: &str) {
    // The database's own notifications (catalog and price changes) carry no sender.
    let (from, body) = payload.split_once('|').unwrap_or(("", payload));
    let own = from == &*state.cluster.instance_id;
    match channel {
        CACHE_CHANNEL => {
            if let Some(what) = Invalidate::decode(body) {
                if !own || what == Invalidate::Catalog {
                    apply(state, &what);
                }
                state.cluster.received.fetch_add(1, Ordering::Relaxed);
            }
        }
        CHAT_CHANNEL if !own => match serde_json::from_str(body) {
            Ok(event) => {
                state.chat.deliver(Arc::new(event));
                state.cluster.received.fetch_add(1, Ordering::Relaxed);
            }
            Err(err) => {
                tracing::warn!(error = %err, "an unreadable chat event from another instance")
            }
        },
        _ => {}
    }
}

/// Relays a chat event published on this instance to the others (nothing with one instance).
pub fn relay_chat(cluster: &Cluster, event: &super::chat::ChatEvent) {
    if !cluster.shared {
        return;
    }
    match serde_json::to_string(event) {
        Ok(json) => cluster.send(CHAT_CHANNEL, json),
        Err(err) => tracing::warn!(error = %err, "a chat event could not be relayed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalidations_read_back() {
        for what in [
            Invalidate::Session("abc".into()),
            Invalidate::CartBadge(Uuid::nil()),
            Invalidate::Catalog,
            Invalidate::HotWords,
        ] {
            assert_eq!(Invalidate::decode(&what.encode()), Some(what));
        }
        assert_eq!(Invalidate::decode("pricing"), Some(Invalidate::Catalog));
        assert_eq!(Invalidate::decode("badge:nope"), None);
        assert_eq!(Invalidate::decode("other"), None);
    }
}
