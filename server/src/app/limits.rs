//! Rate limits for log-ins and code look-ups: a fixed one-minute window per key.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{AppError, AppResult};

/// A fixed-window limiter for login attempts and code look-ups, per key.
#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<String, (Instant, u32)>>,
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
}
