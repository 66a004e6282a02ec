//! Sales analytics benchmark (issue 19): a year of history — `--orders` orders (two lines
//! each, over 6 stores and the four channels) and `--events` raw tracked events with their
//! daily counts — seeded straight into PostgreSQL with multi-row SQL (`generate_series`), the
//! sales rollup run once over all of it (timed), then the dashboards' reads timed over random
//! date ranges through the real server: `GET /api/v1/analytics/sales` (all stores and one
//! store, per day or week: the figures of `/console/analytics/sales` and `/stores`) and
//! `GET /api/v1/events/daily` (the events page's counts).
//!
//! ```sh
//! cargo bench -p retail-server --bench analytics -- --orders 1000000 --events 10000000 --requests 300
//! ```
//!
//! PostgreSQL only (`TEST_DATABASE_URL`, default the local server); the sweeper's own rollup is
//! held off during the run so the timed one counts everything.

#![allow(missing_docs, clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use sqlx::{Connection, Executor, Row};

#[global_allocator]
static ALLOCATOR: retail_server::Allocator = retail_server::Allocator;

struct Args {
    orders: i64,
    events: i64,
    requests: usize,
}

fn args() -> anyhow::Result<Args> {
    let flags = support::Flags::parse();
    Ok(Args {
        orders: flags.number("orders", 1_000_000)?,
        events: flags.number("events", 10_000_000)?,
        requests: flags.number("requests", 300)?,
    })
}

fn main() -> anyhow::Result<()> {
    support::block_on(run(args()?))
}

const YEAR_MS: i64 = 365 * 86_400_000;

async fn timed<F: std::future::Future<Output = anyhow::Result<()>>>(
    what: &str,
    f: F,
) -> anyhow::Result<Duration> {
    let t = Instant::now();
    f.await?;
    let d = t.elapsed();
    println!("{what}: {:.1} s", d.as_secs_f64());
    Ok(d)
}

async fn run(args: Args) -> anyhow::Result<()> {
    let (_dir, mut settings) = support::bench_settings("postgres").await?;
    // The timed rollup below counts everything; the sweeper's is held off.
    settings.sales_report.rollup_interval_millis = u64::MAX / 4;
    // ANALYTICS_BENCH_DATABASE: a database an earlier run seeded and rolled up (its URL): only
    // the reads are timed again.
    let reuse = std::env::var("ANALYTICS_BENCH_DATABASE").ok();
    if let Some(url) = &reuse {
        settings.database_url = url.clone();
    }
    let url = settings.database_url.clone();
    println!("database: {url}");
    let server = support::start(settings).await?;
    let mut db = sqlx::PgConnection::connect(&url).await?;

    // Six stores (the demo's and new ones), half the SKUs with a cost.
    let mut stores: Vec<String> =
        sqlx::query("SELECT id FROM locations WHERE kind = 'store' ORDER BY id")
            .fetch_all(&mut db)
            .await?
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect();
    let mut n = 1;
    while reuse.is_none() && stores.len() < 6 {
        let id = format!("BN{n:03}");
        sqlx::query(
            "INSERT INTO locations (id, kind, name_zh, name_en, created_at) VALUES ($1, 'store', $1, $1, 0)",
        )
        .bind(&id)
        .execute(&mut db)
        .await?;
        stores.push(id);
        n += 1;
    }
    stores.truncate(6);
    if reuse.is_none() {
        db.execute(
        "UPDATE skus SET cost_fen = price_fen * 6 / 10 WHERE weighed = 0 AND (length(id) % 2) = 0",
    )
    .await?;
        let skus: i64 = sqlx::query("SELECT COUNT(*) FROM skus")
            .fetch_one(&mut db)
            .await?
            .get(0);
        let start = retail_server::storage::now_ms() - YEAR_MS;
        let store_array = format!(
            "ARRAY[{}]",
            stores
                .iter()
                .map(|s| format!("'{s}'"))
                .collect::<Vec<_>>()
                .join(",")
        );
        println!(
        "seeding {} orders (2 lines each, {skus} SKUs, stores {stores:?}) and {} events over a year",
        args.orders, args.events
    );
        let orders = args.orders;
        let seed_orders = timed("orders", async {
        // Channel by g % 4: lane, delivery, pickup, scan-and-go; one in ten has a member-less
        // discount; created (and paid) evenly over the year.
        db.execute(
            format!(
                "INSERT INTO orders (id, order_no, channel, fulfilment, status, location_id, member_id, \
                   subtotal_fen, discount_fen, total_fen, created_by, client_ts, created_at, updated_at) \
                 SELECT 'bench-' || g, 'B' || g, \
                   (ARRAY['pos','online','online','scan_and_go'])[g % 4 + 1], \
                   (ARRAY['in_store','delivery','pickup','in_store'])[g % 4 + 1], \
                   (ARRAY['completed','delivered','picked_up','completed'])[g % 4 + 1], \
                   ({store_array})[g % 6 + 1], NULL, \
                   1000 + (g % 97) * 100, CASE WHEN g % 10 = 0 THEN 200 ELSE 0 END, \
                   1000 + (g % 97) * 100 - CASE WHEN g % 10 = 0 THEN 200 ELSE 0 END, \
                   'bench', {start} + g * ({YEAR_MS} / {orders}), \
                   {start} + g * ({YEAR_MS} / {orders}), {start} + g * ({YEAR_MS} / {orders}) \
                 FROM generate_series(1, {orders}) g"
            )
            .as_str(),
        )
        .await?;
        db.execute(
            format!(
                "WITH s AS (SELECT array_agg(id ORDER BY id) AS ids, COUNT(*) AS n FROM skus) \
                 INSERT INTO order_lines (order_id, line_no, sku_id, name, qty, unit_price_fen, discount_fen, amount_fen) \
                 SELECT 'bench-' || g, k, s.ids[((g * 7 + k * 13) % s.n) + 1], 'item', 1 + (g % 3), 500, 0, 500 * (1 + (g % 3)) \
                 FROM s, generate_series(1, {orders}) g, generate_series(1, 2) k"
            )
            .as_str(),
        )
        .await?;
        Ok(())
    })
    .await?;
        let events = args.events;
        let seed_events = timed("events (raw and daily counts)", async {
        db.execute(
            format!(
                "INSERT INTO events (event_id, name, source, schema_version, occurred_at, received_at, \
                   device_id, member_id, store_id, channel, page, props) \
                 SELECT 'bench-' || g, (ARRAY['page_view','click','search','order_placed','order_paid'])[g % 5 + 1], \
                   'client', 1, {start} + g * ({YEAR_MS} / {events}), {start} + g * ({YEAR_MS} / {events}), \
                   'device-' || (g % 50000), NULL, NULL, (ARRAY['online','scan_and_go'])[g % 2 + 1], '/p', '{{}}' \
                 FROM generate_series(1, {events}) g"
            )
            .as_str(),
        )
        .await?;
        db.execute(
            "INSERT INTO event_days (day, name, channel, events) \
             SELECT (occurred_at + 28800000) / 86400000, name, channel, COUNT(*) FROM events \
             GROUP BY 1, 2, 3 \
             ON CONFLICT (day, name, channel) DO UPDATE SET events = event_days.events + excluded.events",
        )
        .await?;
        db.execute("ANALYZE").await?;
        Ok(())
    })
    .await?;

        let rollup_started = Instant::now();
        let rolled = retail_server::app::sales_report::run_rollup(&server.state).await?;
        let rollup = rollup_started.elapsed();
        println!(
            "rollup: {} orders in {:.1} s ({:.0} orders/s)",
            rolled.orders,
            rollup.as_secs_f64(),
            rolled.orders as f64 / rollup.as_secs_f64()
        );
        assert_eq!(
            rolled.orders as i64, args.orders,
            "every order rolled up once"
        );
        let again = Instant::now();
        let rerun = retail_server::app::sales_report::run_rollup(&server.state).await?;
        println!(
            "rollup re-run (nothing new): {} orders in {:.0} ms",
            rerun.orders,
            again.elapsed().as_secs_f64() * 1000.0
        );
        db.execute("ANALYZE").await?;
        let rows: i64 = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM sales_days) + (SELECT COUNT(*) FROM sales_sku_days)",
        )
        .fetch_one(&mut db)
        .await?
        .get(0);
        println!("rollup rows (sales_days + sales_sku_days): {rows}");
        println!(
            "seed: orders {:.1} s, events {:.1} s; rollup {:.1} s",
            seed_orders.as_secs_f64(),
            seed_events.as_secs_f64(),
            rollup.as_secs_f64()
        );
    }

    // Random date ranges of 1 to 366 days within the year.
    let client = reqwest::Client::new();
    let token = support::login(&client, &server.url).await?;
    let today = retail_server::app::china_day(retail_server::storage::now_ms());
    let mut rng = 0x9e37_79b9_u64;
    let mut next = |m: i64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % m as u64) as i64
    };
    let date = retail_server::app::sales_report::date;
    let kinds = [
        ("sales, all stores, per day", "sales", ""),
        ("sales, all stores, per week", "sales", "&granularity=week"),
        ("sales, one store, per day", "sales", "&store=STORE"),
        ("events per day", "events", ""),
    ];
    println!("| read | requests | p50 | p99 | max |");
    println!("| --- | --- | --- | --- | --- |");
    for (name, what, extra) in kinds {
        let mut times = Vec::with_capacity(args.requests);
        for i in 0..args.requests {
            let len = 1 + next(366);
            let to = today - next(366 - len + 1);
            let from = to - len + 1;
            let extra = extra.replace("STORE", &stores[i % stores.len()]);
            let path = match what {
                "sales" => format!(
                    "/api/v1/analytics/sales?from={}&to={}{extra}",
                    date(from),
                    date(to)
                ),
                _ => format!("/api/v1/events/daily?from={}&to={}", date(from), date(to)),
            };
            let t = Instant::now();
            let resp = client
                .get(format!("{}{path}", server.url))
                .bearer_auth(&token)
                .send()
                .await?;
            let status = resp.status();
            let body = resp.bytes().await?;
            times.push(t.elapsed());
            anyhow::ensure!(status.is_success(), "{path}: {status} {body:?}");
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "| {name} | {} | {:.1} ms | {:.1} ms | {:.1} ms |",
            times.len(),
            ms(support::percentile(&times, 50.0)),
            ms(support::percentile(&times, 99.0)),
            ms(*times.last().unwrap_or(&Duration::ZERO)),
        );
    }
    drop(db);
    server.stop().await;
    Ok(())
}
