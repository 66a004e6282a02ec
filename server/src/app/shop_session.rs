//! The shopper's web session and cart badge: looked up once and reused for a moment, since
//! nearly every shop page needs both. Every change this server makes drops the cached entry at
//! once, and an epoch keeps a read that raced with a log-in or log-out from being kept.

use std::collections::HashMap;

use uuid::Uuid;

use super::AppState;
use crate::error::AppResult;
use crate::secrets::token_hash;
use crate::storage;
use crate::storage::web::WebSession;

/// How long a shop session lives (30 days).
pub const SESSION_TTL_MS: i64 = 30 * 24 * 3600 * 1000;

/// How long a looked-up session or cart badge is reused without asking the database again.
/// Every change made by this server (a session created, logged in or out; a cart line added,
/// changed or ordered) drops the entry at once, so the only staleness is a session expiring up
/// to this much later than stored.
const REUSE: std::time::Duration = std::time::Duration::from_secs(2);

/// Values recently read from the database, by key, reused for [`REUSE`]: most pages need the
/// shopper's session and cart badge and would otherwise each make database round trips for them.
#[derive(Debug)]
pub struct Recent<K, V> {
    seen: std::sync::Mutex<HashMap<K, (std::time::Instant, V)>>,
    /// Moves on every change: a read that started before it is not kept.
    epoch: std::sync::atomic::AtomicU64,
}

impl<K, V> Default for Recent<K, V> {
    fn default() -> Self {
        Self {
            seen: std::sync::Mutex::new(HashMap::new()),
            epoch: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl<K: std::hash::Hash + Eq, V: Clone> Recent<K, V> {
    fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        let seen = self.seen.lock().ok()?;
        seen.get(key)
            .filter(|(at, _)| at.elapsed() < REUSE)
            .map(|(_, v)| v.clone())
    }

    /// The epoch to pass to [`Recent::put`]; taken before reading the database.
    fn epoch(&self) -> u64 {
        self.epoch.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Keeps what a read begun at `epoch` found, unless something changed meanwhile.
    fn put(&self, epoch: u64, key: K, value: V) {
        if let Ok(mut seen) = self.seen.lock() {
            if self.epoch() != epoch {
                return;
            }
            if seen.len() >= 100_000 {
                seen.retain(|_, (at, _)| at.elapsed() < REUSE);
            }
            seen.insert(key, (std::time::Instant::now(), value));
        }
    }

    /// Drops every entry (the cluster's notifications may have been missed).
    pub(crate) fn clear(&self) {
        if let Ok(mut seen) = self.seen.lock() {
            self.epoch.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            seen.clear();
        }
    }

    /// Drops `key`; called before and after each change to what it caches.
    pub(crate) fn forget<Q>(&self, key: &Q)
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        if let Ok(mut seen) = self.seen.lock() {
            self.epoch.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            seen.remove(key);
        }
    }
}

/// Shop sessions recently looked up, by token hash.
pub type SessionCache = Recent<String, Option<WebSession>>;

/// Units in carts recently counted, by session id.
pub type CartBadges = Recent<Uuid, i64>;

/// The shopper's stored session, if there is one.
pub async fn session(state: &AppState, sid: &str) -> AppResult<Option<WebSession>> {
    let hash = token_hash(sid);
    if let Some(session) = state.sessions.get(&hash) {
        return Ok(session);
    }
    let epoch = state.sessions.epoch();
    let session = storage::web::session(&state.store, &hash).await?;
    state.sessions.put(epoch, hash, session.clone());
    Ok(session)
}

/// The shopper's session, created when missing.
pub async fn ensure_session(state: &AppState, sid: &str) -> AppResult<WebSession> {
    let hash = token_hash(sid);
    if let Some(Some(session)) = state.sessions.get(&hash) {
        return Ok(session);
    }
    let epoch = state.sessions.epoch();
    let session = storage::web::ensure_session(&state.store, &hash, SESSION_TTL_MS).await?;
    state.sessions.put(epoch, hash, Some(session.clone()));
    Ok(session)
}

/// Logs a member in (`Some`) or out (`None`) of the shopper's session and moves it to the new
/// token `new_token` (no session fixation).
pub async fn rekey_session(
    state: &AppState,
    sid: &str,
    session: Uuid,
    new_token: &str,
    member: Option<Uuid>,
) -> AppResult<()> {
    let old = token_hash(sid);
    let new = token_hash(new_token);
    state.sessions.forget(&old);
    state.sessions.forget(&new);
    let stored =
        storage::web::rekey_session(&state.store, session, &new, member, SESSION_TTL_MS).await;
    // Look-ups that began while this was writing are not kept (the epoch moved again).
    state.sessions.forget(&old);
    super::cluster::announce(state, super::cluster::Invalidate::Session(old));
    stored
}

/// Remembers the pickup store the shopper chose (`None`: delivery, no store), so the product
/// page and cart show that store's prices and stock; a location that is not a store is 422
/// `store`. Choosing the store already chosen changes nothing.
pub async fn choose_pickup_store(
    state: &AppState,
    sid: &str,
    session: &WebSession,
    pickup_store: Option<&str>,
) -> AppResult<()> {
    if session.pickup_store.as_deref() == pickup_store {
        return Ok(());
    }
    if let Some(id) = pickup_store {
        let is_store = state
            .catalog_cache
            .stores(&state.store)
            .await?
            .iter()
            .any(|l| l.id == id);
        if !is_store {
            return Err(crate::error::AppError::field("store", "no such store"));
        }
    }
    let hash = token_hash(sid);
    state.sessions.forget(&hash);
    let stored = storage::web::set_pickup_store(&state.store, session.id, pickup_store).await;
    state.sessions.forget(&hash);
    super::cluster::announce(state, super::cluster::Invalidate::Session(hash));
    stored
}

/// Units in the cart (for the tab bar badge).
pub async fn cart_count(state: &AppState, session: Option<&WebSession>) -> AppResult<i64> {
    let Some(session) = session else {
        return Ok(0);
    };
    if let Some(count) = state.cart_badges.get(&session.id) {
        return Ok(count);
    }
    let epoch = state.cart_badges.epoch();
    let count = storage::web::cart(&state.store, session.id)
        .await?
        .iter()
        .map(|l| l.qty)
        .sum();
    state.cart_badges.put(epoch, session.id, count);
    Ok(count)
}

/// Runs `change` to a session's cart, dropping its badge before and after.
pub async fn change_cart<F: std::future::Future<Output = AppResult<()>>>(
    state: &AppState,
    session: Uuid,
    change: F,
) -> AppResult<()> {
    state.cart_badges.forget(&session);
    let done = change.await;
    state.cart_badges.forget(&session);
    super::cluster::announce(state, super::cluster::Invalidate::CartBadge(session));
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(member: Option<Uuid>) -> WebSession {
        WebSession {
            id: Uuid::nil(),
            member_id: member,
            pickup_store: None,
        }
    }

    #[test]
    fn a_session_looked_up_is_reused_and_a_rekey_drops_it() {
        let cache = SessionCache::default();
        let epoch = cache.epoch();
        cache.put(epoch, "h".into(), Some(session(None)));
        assert!(matches!(cache.get("h"), Some(Some(s)) if s.member_id.is_none()));
        assert!(cache.get("other").is_none());
        cache.forget("h");
        assert!(cache.get("h").is_none());
    }

    #[test]
    fn a_look_up_that_began_before_a_rekey_is_not_kept() {
        let cache = SessionCache::default();
        // A page read the session (logged in) from the database...
        let epoch = cache.epoch();
        // ...while the shopper logged out on another request.
        cache.forget("h");
        cache.put(epoch, "h".into(), Some(session(Some(Uuid::nil()))));
        assert!(
            cache.get("h").is_none(),
            "a stale logged-in session must not be served after log-out"
        );
        // A look-up begun after the change is kept.
        cache.put(cache.epoch(), "h".into(), Some(session(None)));
        assert!(matches!(cache.get("h"), Some(Some(s)) if s.member_id.is_none()));
    }
}
