//! Rate limits for log-ins, code look-ups and one-time codes: a fixed window per key (one minute
//! for [`RateLimiter::check`], any length for [`RateLimiter::check_all`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{AppError, AppResult};

/// A fixed-window limiter for login attempts and code look-ups, per key.
#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<String, (Instant, u32)>>,
    /// Windows of other lengths ([`RateLimiter::check_all`]), keyed by key and length.
    long: Mutex<HashMap<(String, Duration), (Instant, u32)>>,
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
    /// Counts one attempt for `key`; fails with 429 once `limit` attempts fall in one minute.
    pub fn check(&self, key: &str, limit: u32) -> AppResult<()> {
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
    pub fn refund(&self, key: &str) {
        if let Ok(mut windows) = self.windows.lock() {
            if let Some(entry) = windows.get_mut(key) {
                entry.1 = entry.1.saturating_sub(1);
            }
        }
    }

    /// Counts one attempt against every limit, or against none when one of them is used up:
    /// then fails with 429 and the longest wait among the used-up limits.
    pub fn check_all(&self, limits: &[Limit]) -> AppResult<()> {
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
    pub fn reset(&self, key: &str) {
        if let Ok(mut windows) = self.windows.lock() {
            windows.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_blocks_after_the_limit() {
        let limiter = RateLimiter::default();
        for _ in 0..3 {
            assert!(limiter.check("a", 3).is_ok());
        }
        assert!(matches!(
            limiter.check("a", 3),
            Err(AppError::RateLimited { .. })
        ));
        assert!(limiter.check("b", 3).is_ok());
        limiter.reset("a");
        assert!(limiter.check("a", 3).is_ok());
        // A refunded attempt does not count.
        for _ in 0..5 {
            assert!(limiter.check("c", 3).is_ok());
            limiter.refund("c");
        }
        limiter.refund("unknown");
    }

    #[test]
    fn check_all_counts_all_or_nothing() {
        let limiter = RateLimiter::default();
        let minute = Duration::from_secs(60);
        let day = Duration::from_secs(86_400);
        let phone = |p: &str| {
            vec![
                Limit::new(format!("phone:{p}"), 1, minute),
                Limit::new("addr", 3, day),
            ]
        };
        assert!(limiter.check_all(&phone("a")).is_ok());
        // The phone's minute is used up: refused, and the address is not counted.
        for _ in 0..5 {
            assert!(matches!(
                limiter.check_all(&phone("a")),
                Err(AppError::RateLimited { retry_after_secs }) if (1..=61).contains(&retry_after_secs)
            ));
        }
        assert!(limiter.check_all(&phone("b")).is_ok());
        assert!(limiter.check_all(&phone("c")).is_ok());
        // The address's day is used up now: the longest wait is answered.
        assert!(matches!(
            limiter.check_all(&phone("d")),
            Err(AppError::RateLimited { retry_after_secs }) if retry_after_secs > 3600
        ));
    }
}
