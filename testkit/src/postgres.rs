//! Fresh PostgreSQL databases for tests: one per test (or per store day), on the server of
//! `TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`).
//!
//! Names carry a UUIDv7 (`retail_test_<uuid>`), so databases left behind by runs that ended
//! more than an hour ago (a failed test) are recognised by their age and dropped by the next
//! run.

use anyhow::Context;
use sqlx::Connection;

/// Prefix of every database this module creates.
const PREFIX: &str = "retail_test_";
/// Prefix of the store-day harness's databases before the kit (still cleaned up).
const OLD_DAY_PREFIX: &str = "retail_day_";

/// The administrative URL: `TEST_DATABASE_URL`, else `postgres://postgres@127.0.0.1:5432/postgres`.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Creates a fresh, empty database and returns its URL; `None` when no PostgreSQL server
/// answers (the caller decides whether that skips or fails: [`fresh_database_or_skip`]).
pub async fn fresh_database() -> anyhow::Result<Option<String>> {
    let admin = admin_url();
    let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await else {
        return Ok(None);
    };
    drop_stale_databases(&mut conn).await;
    let name = format!("{PREFIX}{}", uuid::Uuid::now_v7().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .with_context(|| format!("creating the test database {name}"))?;
    conn.close().await.ok();
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    Ok(Some(format!("{base}/{name}")))
}

/// [`fresh_database`] for a test: `None`, with a loud notice, when no server answers outside
/// CI.
///
/// # Panics
/// Under `CI=true` when no server answers, and when the database cannot be created.
pub async fn fresh_database_or_skip() -> Option<String> {
    match fresh_database().await {
        Ok(Some(url)) => Some(url),
        Ok(None) => {
            crate::skip_unless_ci(&format!(
                "PostgreSQL test: no PostgreSQL server answers at {}",
                admin_url()
            ));
            None
        }
        Err(e) => panic!("{e:#}"),
    }
}

/// Drops a database made by [`fresh_database`] (after everything using it has stopped);
/// failures are only logged (the next run's clean-up gets it).
pub async fn drop_database(url: &str) {
    let Some((base, name)) = url.rsplit_once('/') else {
        return;
    };
    let admin = format!("{base}/postgres");
    match sqlx::PgConnection::connect(&admin).await {
        Ok(mut conn) => {
            if let Err(e) = sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
                .execute(&mut conn)
                .await
            {
                tracing::warn!(error = %e, "dropping {name}");
            }
            conn.close().await.ok();
        }
        Err(e) => tracing::warn!(error = %e, "dropping {name}"),
    }
}

/// Drops test databases of runs that ended more than an hour ago (their names carry the UUIDv7
/// time), once per process, so repeated runs do not fill the disk. A database still in use by
/// another run simply fails to drop.
async fn drop_stale_databases(conn: &mut sqlx::PgConnection) {
    static ONCE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if ONCE.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    let names: Vec<(String,)> = sqlx::query_as(
        "SELECT datname FROM pg_database WHERE datname LIKE 'retail\\_test\\_%' OR datname LIKE 'retail\\_day\\_%'",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap_or_default();
    let cutoff = chrono::Utc::now().timestamp_millis() - 3_600_000;
    for (name,) in names {
        let created = name
            .strip_prefix(PREFIX)
            .or_else(|| name.strip_prefix(OLD_DAY_PREFIX))
            .and_then(|hex| hex.get(..12))
            .and_then(|ms| i64::from_str_radix(ms, 16).ok());
        if created.is_some_and(|ms| ms < cutoff) {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
                .execute(&mut *conn)
                .await;
        }
    }
}
