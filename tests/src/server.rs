//! The central server in-process: [`retail_server::Application::build`] and `run_until`, on its
//! own SQLite file or PostgreSQL database, stopped cleanly (HTTP drained, background work ended,
//! database pools closed).

use std::path::Path;

use anyhow::Context;
use retail_server::app::AppState;
use retail_server::config::{Secrets, Settings};
use tokio::sync::oneshot;

/// Which database the server runs on.
#[derive(Clone, Debug)]
pub enum Database {
    /// `retail.db` in the server's data folder.
    Sqlite,
    /// A PostgreSQL URL (an empty database gets the demo chain).
    Postgres(String),
}

/// Which store bus the server uses.
#[derive(Clone, Debug)]
pub enum Bus {
    /// The embedded broker, listening here (port 0: any free port).
    Embedded(std::net::SocketAddr),
    /// An external broker on `127.0.0.1:port`, the server logging in as `server` with this
    /// password (see [`crate::broker`]); it retries until the broker answers.
    External {
        /// Port on 127.0.0.1.
        port: u16,
        /// The server's broker password.
        password: String,
    },
}

/// Settings for a server with the demo chain: data (and SQLite file, secrets) under `data_dir`.
/// Secrets are generated for PostgreSQL (they are only kept in a file with SQLite).
pub fn settings(
    data_dir: &Path,
    database: &Database,
    listen: std::net::SocketAddr,
    bus: &Bus,
) -> Settings {
    let mut settings = Settings {
        listen,
        data_dir: data_dir.to_path_buf(),
        ..Settings::default()
    };
    match database {
        Database::Sqlite => {
            settings.database_url = format!("sqlite://{}", data_dir.join("retail.db").display());
        }
        Database::Postgres(url) => {
            settings.database_url = url.clone();
            settings.secrets = Secrets::generate();
        }
    }
    settings.mqtt.enabled = true;
    match bus {
        Bus::Embedded(addr) => settings.mqtt.embedded_listen = *addr,
        Bus::External { port, password } => {
            settings.mqtt.url = format!("mqtt://server:{password}@127.0.0.1:{port}");
            settings.mqtt.client_id = format!("retail-server-{}", uuid::Uuid::now_v7().simple());
        }
    }
    settings
}

/// Creates a fresh PostgreSQL database on the server of `TEST_DATABASE_URL` (default
/// `postgres://postgres@127.0.0.1:5432/postgres`) and returns its URL; `None` when none answers.
pub async fn fresh_postgres_database() -> anyhow::Result<Option<String>> {
    use sqlx::Connection;
    let admin = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await else {
        return Ok(None);
    };
    // Databases of runs that ended more than an hour ago without dropping theirs (a failed
    // test): their names carry the UUIDv7 time. One still in use just fails to drop.
    let names: Vec<(String,)> =
        sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE 'retail_day_%'")
            .fetch_all(&mut conn)
            .await
            .unwrap_or_default();
    let cutoff = chrono::Utc::now().timestamp_millis() - 3_600_000;
    for (stale,) in names {
        let created = stale
            .strip_prefix("retail_day_")
            .and_then(|hex| hex.get(..12))
            .and_then(|ms| i64::from_str_radix(ms, 16).ok());
        if created.is_some_and(|ms| ms < cutoff) {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {stale}"))
                .execute(&mut conn)
                .await;
        }
    }
    let name = format!("retail_day_{}", uuid::Uuid::now_v7().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .context("creating the day's database")?;
    conn.close().await.ok();
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    Ok(Some(format!("{base}/{name}")))
}

/// Drops a database made by [`fresh_postgres_database`] (after its server stopped); failures
/// are only logged.
pub async fn drop_postgres_database(url: &str) {
    use sqlx::Connection;
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

/// A server running in this process.
pub struct RunningServer {
    /// Base URL, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    /// Its shared state (store, keys, bus).
    pub state: AppState,
    /// The settings it runs with.
    pub settings: Settings,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl RunningServer {
    /// Builds (migrations, demo chain on an empty database) and starts serving.
    pub async fn start(settings: Settings) -> anyhow::Result<RunningServer> {
        let app = retail_server::Application::build(settings.clone())
            .await
            .context("starting the server")?;
        let url = format!("http://{}", app.local_addr());
        let state = app.state().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        Ok(RunningServer {
            url,
            state,
            settings,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The broker address devices use (`mqtt://host:port`).
    pub fn broker_url(&self) -> Option<String> {
        self.state
            .broker
            .as_ref()
            .map(|b| format!("mqtt://{}:{}", b.host, b.port))
    }

    /// Stops serving and waits until the server has closed its database.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.context("server task")??;
        }
        Ok(())
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
