//! Export benchmark (issue 19): one China day holding 1,000,000 tracked events (seeded with one
//! set-based `INSERT … SELECT` over a recursive counter, SQLite or PostgreSQL) exported to
//! Parquet in a folder by the real use case (`app::export::export_day`: keyset pages, one row
//! group per page, members pseudonymised). Target: ≤ 30 s.
//!
//! ```sh
//! cargo bench -p retail-server --bench export -- --backend sqlite
//! cargo bench -p retail-server --bench export -- --backend postgres --events 1000000
//! ```
//!
//! Reports the seeding time, the export's wall time, the rows and bytes written and the process's
//! peak resident memory (`VmHWM`), and checks the events file holds every seeded event.

#![allow(missing_docs, clippy::unwrap_used)]

mod support;

use std::time::Instant;

use retail_server::app::export::{self as export_app, Origin};

#[global_allocator]
static ALLOCATOR: retail_server::Allocator = retail_server::Allocator;

struct Args {
    backend: String,
    events: i64,
}

fn args() -> anyhow::Result<Args> {
    let flags = support::Flags::parse();
    Ok(Args {
        backend: flags.text("backend", "sqlite"),
        events: flags.number("events", 1_000_000)?,
    })
}

fn main() -> anyhow::Result<()> {
    support::block_on(run(args()?))
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(0.0)
}

async fn run(args: Args) -> anyhow::Result<()> {
    let (_dir, settings) = support::bench_settings(&args.backend).await?;
    let database_url = settings.database_url.clone();
    let server = support::start(settings).await?;
    let state = server.state.clone();

    // Yesterday (China time): 1M events spread over the day, one in ten of a member.
    let day = chrono::Utc::now()
        .with_timezone(&retail_server::app::china_offset())
        .date_naive()
        .pred_opt()
        .unwrap();
    let (from, _) = export_app::day_range(day);
    let step = (86_400_000 / args.events.max(1)).max(1);
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&database_url)
        .await?;
    let seeding = Instant::now();
    let sql = format!(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {last}) \
         INSERT INTO events (event_id, name, source, schema_version, occurred_at, received_at, \
         device_id, member_id, store_id, channel, page, props) \
         SELECT 'bench-' || CAST(i AS TEXT), 'page_view', 'client', 1, {from} + i * {step}, \
         {from} + i * {step} + 50, '0b6f3c1e-9a4d-4f7e-8c2b-5d1a7e9f3b21', \
         CASE WHEN i % 10 = 0 THEN 'member-' || CAST(i % 5000 AS TEXT) ELSE NULL END, NULL, \
         'online', '/p/0190b5e4-0000-7000-8000-000000000001', \
         '{{\"dwell_ms\":1200,\"referrer\":\"/\"}}' FROM n",
        last = args.events - 1,
    );
    sqlx::query(&sql).execute(&pool).await?;
    if args.backend == "postgres" {
        sqlx::query("ANALYZE events").execute(&pool).await?;
    }
    let seeded = seeding.elapsed();
    pool.close().await;

    let started = Instant::now();
    let run = export_app::export_day(&state, day, Origin::Cli, "bench").await?;
    let took = started.elapsed();
    anyhow::ensure!(run.status == "succeeded", "the export failed: {run:?}");
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(
        std::path::Path::new(&run.destination).join(format!(
            "manifests/dt={}/manifest.json",
            day.format("%Y-%m-%d")
        )),
    )?)?;
    let events = manifest["datasets"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["name"] == "events"))
        .cloned()
        .unwrap_or_default();
    anyhow::ensure!(
        events["rows"].as_i64() == Some(args.events),
        "the events file holds {} rows, not {}",
        events["rows"],
        args.events
    );
    println!(
        "export ({}): {} events seeded in {:.1} s; exported in {:.2} s ({:.0} rows/s): {} rows, \
         {:.1} MiB ({} row groups of events, {:.1} MiB events file), peak RSS {:.0} MiB",
        args.backend,
        args.events,
        seeded.as_secs_f64(),
        took.as_secs_f64(),
        run.rows as f64 / took.as_secs_f64(),
        run.rows,
        run.bytes as f64 / 1048576.0,
        events["row_groups"],
        events["bytes"].as_f64().unwrap_or(0.0) / 1048576.0,
        peak_rss_mib(),
    );
    server.stop().await;
    Ok(())
}
