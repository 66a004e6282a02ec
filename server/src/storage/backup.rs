//! Backing up and restoring the central database, for the operator's `retail-server backup` and
//! `retail-server restore` commands.
//!
//! * SQLite: an online, consistent snapshot with `VACUUM INTO` (the server may keep running; the
//!   copy is compact and has no WAL). Restoring copies a snapshot into place for a database
//!   file that does not exist yet (or is empty).
//! * PostgreSQL: `pg_dump --format=custom` and `pg_restore` (the PostgreSQL client tools on the
//!   `PATH`), into a database that has no tables yet.
//!
//! A restore is checked before it is reported done: the migrations run (a backup from an older
//! version is brought up to date), the statistics are gathered, and the stock ledger check must
//! find every snapshot equal to its ledger. The keys (`secrets.toml` or the `RETAIL_SECRETS__*`
//! settings) are not in the database: back them up separately, or the restored phone numbers
//! and addresses cannot be read.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use super::{col, Dialect, Store};

/// What a restored database holds, as checked after the restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    /// Orders (online and lane sales).
    pub orders: i64,
    /// Members.
    pub members: i64,
    /// Stock movements in the ledger.
    pub movements: i64,
    /// (location, SKU) pairs whose snapshot differs from the ledger; 0 for a good restore.
    pub ledger_mismatches: usize,
}

/// The file of a `sqlite:` URL.
fn sqlite_file(url: &str) -> anyhow::Result<PathBuf> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or(path);
    anyhow::ensure!(
        !path.is_empty() && path != ":memory:",
        "a backup needs a database file, not {url}"
    );
    Ok(PathBuf::from(path))
}

fn run(mut command: Command, what: &str) -> anyhow::Result<()> {
    let output = command
        .output()
        .with_context(|| format!("running {what} (are the PostgreSQL client tools installed?)"))?;
    anyhow::ensure!(
        output.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(())
}

/// Writes a consistent backup of the database `store` is connected to into `dest`, which must
/// not exist yet.
pub async fn backup(store: &Store, dest: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        !dest.exists(),
        "{} exists already: choose a new file",
        dest.display()
    );
    match store.dialect() {
        Dialect::Sqlite => {
            let target = dest
                .to_str()
                .context("the backup path is not valid UTF-8")?
                .to_owned();
            sqlx::query("VACUUM INTO $1")
                .bind(target)
                .execute(store.writer())
                .await
                .context("writing the SQLite snapshot (VACUUM INTO)")?;
        }
        Dialect::Postgres => {
            let url = store.url().to_owned();
            let dest = dest.to_path_buf();
            tokio::task::spawn_blocking(move || {
                let mut command = Command::new("pg_dump");
                command
                    .arg("--format=custom")
                    .arg("--no-owner")
                    .arg("--file")
                    .arg(&dest)
                    .arg("--dbname")
                    .arg(&url);
                run(command, "pg_dump")
            })
            .await
            .context("pg_dump task")??;
        }
    }
    Ok(())
}

/// Restores the backup `src` into the database at `url`, which must be empty (a SQLite file
/// that does not exist yet, or a PostgreSQL database without tables), then checks it.
pub async fn restore(url: &str, src: &Path) -> anyhow::Result<RestoreReport> {
    anyhow::ensure!(src.is_file(), "no backup file {}", src.display());
    if url.starts_with("sqlite:") {
        let target = sqlite_file(url)?;
        let occupied = std::fs::metadata(&target)
            .map(|m| m.len() > 0)
            .unwrap_or(false);
        anyhow::ensure!(
            !occupied,
            "{} exists and is not empty: restore into a new file (stop the server and move the \
             old one away first)",
            target.display()
        );
        let mut header = [0u8; 16];
        {
            use std::io::Read;
            std::fs::File::open(src)
                .and_then(|mut f| f.read_exact(&mut header))
                .with_context(|| format!("reading {}", src.display()))?;
        }
        anyhow::ensure!(
            &header == b"SQLite format 3\0",
            "{} is not a SQLite backup",
            src.display()
        );
        if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::copy(src, &target)
            .with_context(|| format!("copying the backup to {}", target.display()))?;
    } else {
        sqlx::any::install_default_drivers();
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(url)
            .await
            .context("connecting to the target database")?;
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .fetch_one(&mut conn)
        .await?;
        let tables: i64 = col(&row, "n").map_err(|e| anyhow::anyhow!("{e}"))?;
        drop(conn);
        anyhow::ensure!(
            tables == 0,
            "the target database has {tables} tables: restore into an empty database"
        );
        let (url, src) = (url.to_owned(), src.to_path_buf());
        tokio::task::spawn_blocking(move || {
            let mut command = Command::new("pg_restore");
            command
                .arg("--no-owner")
                .arg("--exit-on-error")
                .arg("--dbname")
                .arg(&url)
                .arg(&src);
            run(command, "pg_restore")
        })
        .await
        .context("pg_restore task")??;
    }
    let store = Store::connect(url)
        .await
        .context("opening the restored database")?;
    let report = check(&store).await;
    store.close().await;
    report
}

/// Counts and the stock ledger check of a database.
pub async fn check(store: &Store) -> anyhow::Result<RestoreReport> {
    let count = |table: &'static str| async move {
        let row = sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
            .fetch_one(store.reader())
            .await?;
        col::<i64>(&row, "n").map_err(|e| anyhow::anyhow!("{e}"))
    };
    Ok(RestoreReport {
        orders: count("orders").await?,
        members: count("members").await?,
        movements: count("stock_movements").await?,
        ledger_mismatches: super::stock::ledger_mismatches(store)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .len(),
    })
}
