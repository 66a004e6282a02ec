//! What the server's bench binaries share: their command-line flags, a fresh database for a
//! run, a server started on it in the bench's process, the demo administrator's log-in, and
//! photo-like JPEGs to upload.

#![allow(dead_code)]

use std::collections::HashMap;

use serde_json::json;
use uuid::Uuid;

/// A bench's command-line flags: `--name value` pairs and bare `--name` switches after
/// `cargo bench … --` (a flag followed by another flag, or last, is a switch; `cargo bench`
/// itself passes the switch `--bench`).
pub struct Flags(HashMap<String, Option<String>>);

impl Flags {
    /// The flags of this process.
    pub fn parse() -> Self {
        Self::from_args(std::env::args().skip(1))
    }

    /// The flags in `args` (the program's name left out).
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Self {
        let mut flags = HashMap::new();
        let mut args = args.into_iter().peekable();
        while let Some(arg) = args.next() {
            let Some(name) = arg.strip_prefix("--") else {
                continue;
            };
            let value = args.next_if(|next| !next.starts_with("--"));
            flags.insert(name.to_owned(), value);
        }
        Self(flags)
    }

    /// The text of `--name`, or `default` when it is not given.
    pub fn text(&self, name: &str, default: &str) -> String {
        self.given(name).unwrap_or(default).to_owned()
    }

    /// The text of `--name`, when given.
    pub fn given(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Option::as_deref)
    }

    /// The number of `--name`, or `default` when it is not given; an error when it is not a
    /// number.
    pub fn number<T: std::str::FromStr>(&self, name: &str, default: T) -> anyhow::Result<T> {
        match self.given(name) {
            None => Ok(default),
            Some(text) => text
                .parse()
                .map_err(|_| anyhow::anyhow!("--{name} {text}: not a number")),
        }
    }

    /// Whether the switch `--name` is given.
    pub fn switch(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
}

/// Runs a bench's `main` future on a multi-threaded runtime.
pub fn block_on(run: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run)
}

/// A fresh database for one run: a SQLite file in `dir`, or a new PostgreSQL database on the
/// server `TEST_DATABASE_URL` names (default the local one).
pub async fn fresh_database(backend: &str, dir: &std::path::Path) -> anyhow::Result<String> {
    match backend {
        "sqlite" => Ok(format!("sqlite://{}", dir.join("bench.db").display())),
        "postgres" => {
            use sqlx::Connection;
            let admin = std::env::var("TEST_DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
            let mut conn = sqlx::PgConnection::connect(&admin).await?;
            let name = format!("retail_bench_{}", Uuid::now_v7().simple());
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await?;
            Ok(format!(
                "{}/{name}",
                admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin)
            ))
        }
        other => anyhow::bail!("unknown backend {other}"),
    }
}

/// Settings for a bench's server on `backend`: a fresh database in (or named after) the
/// returned folder, which must live as long as the server; an ephemeral port, the demo chain,
/// the store bus off.
pub async fn bench_settings(
    backend: &str,
) -> anyhow::Result<(tempfile::TempDir, retail_server::config::Settings)> {
    let dir = tempfile::tempdir()?;
    let database_url = fresh_database(backend, dir.path()).await?;
    let mut settings = retail_server::config::Settings {
        listen: "127.0.0.1:0".parse()?,
        database_url,
        data_dir: dir.path().to_path_buf(),
        secrets: retail_server::config::Secrets::generate(),
        demo: true,
        ..retail_server::config::Settings::default()
    };
    settings.mqtt.enabled = false;
    Ok((dir, settings))
}

/// A server running in the bench's process.
pub struct Running {
    /// Its base URL, `http://127.0.0.1:…`.
    pub url: String,
    /// Its shared state (store, hub, settings).
    pub state: retail_server::app::AppState,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Starts the server with `settings` on an ephemeral port.
pub async fn start(settings: retail_server::config::Settings) -> anyhow::Result<Running> {
    let app = retail_server::Application::build(settings).await?;
    let url = format!("http://{}", app.local_addr());
    let state = app.state().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    Ok(Running {
        url,
        state,
        stop,
        task,
    })
}

impl Running {
    /// Stops the server and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// A SKU with a stock row at the demo store SH001 (the first of the stock list).
pub async fn stocked_sku(client: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<Uuid> {
    let feed: serde_json::Value = client
        .get(format!("{url}/api/v1/stock?location_id=SH001&limit=1"))
        .bearer_auth(token)
        .send()
        .await?
        .json()
        .await?;
    let row = feed
        .get("items")
        .unwrap_or(&feed)
        .as_array()
        .and_then(|rows| rows.first().cloned())
        .ok_or_else(|| anyhow::anyhow!("no stock row"))?;
    Ok(row["sku_id"].as_str().unwrap_or_default().parse()?)
}

/// The demo administrator's bearer token.
pub async fn login(client: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    let body: serde_json::Value = client
        .post(format!("{url}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": "demo1234"}))
        .send()
        .await?
        .json()
        .await?;
    Ok(body["token"].as_str().unwrap_or_default().to_owned())
}

/// Per-pixel noise of up to 31 levels: far noisier than a product photo (a worst case for the
/// encoder and for the bytes a page transfers).
pub const SENSOR_NOISE_HEAVY: u32 = 0x1f;
/// Per-pixel noise of up to 7 levels: about a phone camera's sensor noise on a product photo.
pub const SENSOR_NOISE_PHOTO: u32 = 0x07;

/// A photo-like `width` × `height` JPEG: smooth gradients with per-pixel noise up to `noise`
/// levels (it compresses like a photo, not like a flat test card); `seed` makes each one
/// different (kept images are content-addressed, so equal uploads would be kept once).
pub fn photo_jpeg(width: u32, height: u32, seed: u32, noise_levels: u32) -> Vec<u8> {
    let mut state = 0x2545_f491_u32 ^ seed.wrapping_mul(0x9e37_79b9);
    let shift = (seed % 7) as u8 * 20;
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let noise = (state & noise_levels) as u8;
        image::Rgb([
            ((x * 250 / width) as u8)
                .wrapping_add(noise)
                .wrapping_add(shift),
            ((y * 250 / height) as u8).wrapping_add(noise / 2),
            (((x + y) * 140 / (width + height)) as u8).wrapping_add(noise),
        ])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .expect("encode a JPEG in memory");
    out.into_inner()
}

/// The `p`th percentile (0–100, nearest rank) of `sorted` durations; zero when there are none.
pub fn percentile(sorted: &[std::time::Duration], p: f64) -> std::time::Duration {
    if sorted.is_empty() {
        return std::time::Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
