//! Rate limits for log-ins, code look-ups and one-time codes: a fixed window per key (one minute
//! for [`RateLimiter::check`], any length for [`RateLimiter::check_all`]).
//!
//! One process keeps the counts in memory ([`RateLimiter::default`]); several instances on one
//! PostgreSQL database count in the database ([`RateLimiter::shared`], `rate_windows`: one
//! conditional upsert per key and window, windows aligned to multiples of their length, the
//! expired ones swept), so a limit holds whichever instance a request reaches.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{AppError, AppResult};
use crate::storage::{self, Store};

/// A fixed-window limiter for login attempts and code look-ups, per key.
#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<String, (Instant, u32)>>,
    /// Windows of other lengths ([`RateLimiter::check_all`]), keyed by key and length.
    long: Mutex<HashMap<(String, Duration), (Instant, u32)>>,
    /// Counts in the database instead (several instances).
    shared: Option<Store>,
}

/// The window of [`RateLimiter::check`].
const MINUTE: Duration = Duration::from_secs(60);

fn window_ms(window: Duration) -> i64 {
    i64::try_from(window.as_millis()).unwrap_or(i64::MAX).max(1)
}

/// The start of the window of `len_ms` holding `now` and the whole seconds left in it (+1).
fn window_of(now: i64, len_ms: i64) -> (i64, u64) {
    let start = now - now.rem_euclid(len_ms);
    let left = u64::try_from(start + len_ms - now).unwrap_or(0);
    (start, left / 1000 + 1)
}

/// One limit of [`RateLimiter::check_all`]: at most `limit` within `window` for `key`.
#[derive(Debug, Clone)]
pub struct Limit {
    /// What is counted, e.g. `sms:phone:<hash>`.
    pub key: String,
    /// Most attempts in one window.
    pub limit: u32,
    /// The window.
    pub window: Duration,
}

impl Limit {
    /// At most `limit` per `window` for `key`.
    pub fn new(key: impl Into<String>, limit: u32, window: Duration) -> Self {
        Self {
            key: key.into(),
            limit,
            window,
        }
    }
}

impl RateLimiter {
    /// A limiter counting in the database `store` (several instances share its counts).
    pub fn shared(store: Store) -> Self {
        Self {
            shared: Some(store),
            ..Self::default()
        }
    }

    /// True when the counts are kept in the database.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Counts one attempt for `key`; fails with 429 once `limit` attempts fall in one minute.
    pub async fn check(&self, key: &str, limit: u32) -> AppResult<()> {
        match &self.shared {
            Some(store) => Self::check_all_shared(store, &[Limit::new(key, limit, MINUTE)]).await,
            None => self.check_local(key, limit),
        }
    }

    fn check_local(&self, key: &str, limit: u32) -> AppResult<()> {
        let now = Instant::now();
        let mut windows = self
            .windows
            .lock()
            .map_err(|_| AppError::Internal(anyhow::anyhow!("rate limiter poisoned")))?;
        if windows.len() > 100_000 {
            windows.retain(|_, (start, _)| now.duration_since(*start) < Duration::from_secs(60));
        }
        let entry = windows.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= Duration::from_secs(60) {
            *entry = (now, 0);
        }
        if entry.1 >= limit {
            let left = Duration::from_secs(60).saturating_sub(now.duration_since(entry.0));
            return Err(AppError::RateLimited {
                retry_after_secs: left.as_secs() + 1,
            });
        }
        entry.1 += 1;
        Ok(())
    }

    /// Gives back one attempt counted for `key` in its current window (a successful log-in
    /// that should not count as a failure).
    pub async fn refund(&self, key: &str) {
        if let Some(store) = &self.shared {
            let len = window_ms(MINUTE);
            let (start, _) = window_of(storage::now_ms(), len);
            if let Err(err) = storage::cluster::unhit_window(store, key, len, start).await {
                tracing::warn!(error = %err, "giving back a rate-limit hit failed");
            }
            return;
        }
        if let Ok(mut windows) = self.windows.lock() {
            if let Some(entry) = windows.get_mut(key) {
                entry.1 = entry.1.saturating_sub(1);
            }
        }
    }

    /// Counts one attempt against every limit, or against none when one of them is used up:
    /// then fails with 429 and the longest wait among the used-up limits.
    pub async fn check_all(&self, limits: &[Limit]) -> AppResult<()> {
        match &self.shared {
            Some(store) => Self::check_all_shared(store, limits).await,
            None => self.check_all_local(limits),
        }
    }

    /// [`RateLimiter::check_all`] in the database: one transaction, a conditional upsert per
    /// limit; a limit used up rolls the others back.
    async fn check_all_shared(store: &Store, limits: &[Limit]) -> AppResult<()> {
        let now = storage::now_ms();
        let mut tx = store.begin().await?;
        // A crash may lose the last counts of a window: no request waits for the disk for them.
        storage::cluster::commit_without_waiting_for_disk(&mut tx).await?;
        let mut wait = None::<u64>;
        for limit in limits {
            let len = window_ms(limit.window);
            let (start, left) = window_of(now, len);
            let counted = storage::cluster::hit_window(
                &mut tx,
                &limit.key,
                len,
                start,
                i64::from(limit.limit),
            )
            .await?;
            if counted.is_none() {
                wait = Some(wait.map_or(left, |w| w.max(left)));
            }
        }
        if let Some(retry_after_secs) = wait {
            tx.rollback().await?;
            return Err(AppError::RateLimited { retry_after_secs });
        }
        tx.commit().await?;
        Ok(())
    }

    fn check_all_local(&self, limits: &[Limit]) -> AppResult<()> {
        let now = Instant::now();
        let mut windows = self
            .long
            .lock()
            .map_err(|_| AppError::Internal(anyhow::anyhow!("rate limiter poisoned")))?;
        if windows.len() > 100_000 {
            windows.retain(|(_, window), (start, _)| now.duration_since(*start) < *window);
        }
        let mut wait = None::<Duration>;
        for limit in limits {
            if let Some((start, count)) = windows.get(&(limit.key.clone(), limit.window)) {
                let elapsed = now.duration_since(*start);
                if elapsed < limit.window && *count >= limit.limit {
                    let left = limit.window.saturating_sub(elapsed);
                    wait = Some(wait.map_or(left, |w| w.max(left)));
                }
            }
        }
        if let Some(left) = wait {
            return Err(AppError::RateLimited {
                retry_after_secs: left.as_secs() + 1,
            });
        }
        for limit in limits {
            let entry = windows
                .entry((limit.key.clone(), limit.window))
                .or_insert((now, 0));
            if now.duration_since(entry.0) >= limit.window {
                *entry = (now, 0);
            }
            entry.1 += 1;
        }
        Ok(())
    }

    /// Forgets `key` (after a successful login).
    pub async fn reset(&self, key: &str) {
        if let Some(store) = &self.shared {
            if let Err(err) = storage::cluster::clear_windows(store, key, window_ms(MINUTE)).await {
                tracing::warn!(error = %err, "clearing a rate-limit window failed");
            }
            return;
        }
        if let Ok(mut windows) = self.windows.lock() {
            windows.remove(key);
        }
    }

    /// Deletes the database's expired windows (the sweeper, under a job lease); nothing for the
    /// in-memory counts, which prune themselves.
    pub async fn sweep(&self) -> AppResult<u64> {
        match &self.shared {
            Some(store) => storage::cluster::sweep_windows(store, storage::now_ms()).await,
            None => Ok(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_align_to_their_length() {
        assert_eq!(window_of(125_000, 60_000), (120_000, 56));
        assert_eq!(window_of(120_000, 60_000), (120_000, 61));
        assert_eq!(window_of(119_999, 60_000), (60_000, 1));
    }

    #[tokio::test]
    async fn limiter_blocks_after_the_limit() {
        let limiter = RateLimiter::default();
        for _ in 0..3 {
            assert!(limiter.check("a", 3).await.is_ok());
        }
        assert!(matches!(
            limiter.check("a", 3).await,
            Err(AppError::RateLimited { .. })
        ));
        assert!(limiter.check("b", 3).await.is_ok());
        limiter.reset("a").await;
        assert!(limiter.check("a", 3).await.is_ok());
        // A refunded attempt does not count.
        for _ in 0..5 {
            assert!(limiter.check("c", 3).await.is_ok());
            limiter.refund("c").await;
        }
        limiter.refund("unknown").await;
    }

    #[tokio::test]
    async fn check_all_counts_all_or_nothing() {
        let limiter = RateLimiter::default();
        let minute = Duration::from_secs(60);
        let day = Duration::from_secs(86_400);
        let phone = |p: &str| {
            vec![
                Limit::new(format!("phone:{p}"), 1, minute),
                Limit::new("addr", 3, day),
            ]
        };
        assert!(limiter.check_all(&phone("a")).await.is_ok());
        // The phone's minute is used up: refused, and the address is not counted.
        for _ in 0..5 {
            assert!(matches!(
                limiter.check_all(&phone("a")).await,
                Err(AppError::RateLimited { retry_after_secs }) if (1..=61).contains(&retry_after_secs)
            ));
        }
        assert!(limiter.check_all(&phone("b")).await.is_ok());
        assert!(limiter.check_all(&phone("c")).await.is_ok());
        // The address's day is used up now: the longest wait is answered.
        assert!(matches!(
            limiter.check_all(&phone("d")).await,
            Err(AppError::RateLimited { retry_after_secs }) if retry_after_secs > 3600
        ));
    }
}
