//! `store-day`: a whole store on one laptop, in one command —
//! `cargo run -p retail-scenarios --bin store-day [-- --data DIR --listen ADDR]`.
//!
//! Starts the server on the embedded defaults (SQLite under `DIR/server`, the embedded MQTT
//! broker on 127.0.0.1:1884), store SH001's edge agent and two POS lanes with virtual devices,
//! then prints where to go and what to type. Lines on stdin go to a lane: `1 scan 690…`,
//! `2 pay cash 20` (the lane's headless commands). Ctrl-C stops everything cleanly.

#![forbid(unsafe_code)]

use std::path::PathBuf;

use anyhow::Context;
use retail_domain::money::Money;
use retail_scenarios::day::{scale_label, DayBus, DayOptions, StoreDay, STORE};
use retail_testkit::Database;
use tokio::io::AsyncBufReadExt;

const USAGE: &str = "usage: store-day [--data DIR] [--listen ADDR] [--mqtt ADDR]
  --data DIR     where everything is kept (default ./store-day; a second start reuses it)
  --listen ADDR  the server's address (default 127.0.0.1:8080)
  --mqtt ADDR    the embedded MQTT broker's address (default 127.0.0.1:1884)";

const HELP: &str = "Type `N COMMAND` to drive lane N (1 or 2), e.g.
  1 shift open 200        1 scan 6901234567892     1 qty 1 3      1 member 13800138001
  1 pay cash 50           1 pay card 12.50         1 status       1 shift close 250
  1 return 1:1 mgr.sh001 246810  (after scanning a receipt's QR)    1 reprint      1 voidsale mgr.sh001 246810 (manager, PIN)
or `help`. Scans can also be written to a lane's scanner path (see above). Ctrl-C stops.";

struct Args {
    data: PathBuf,
    listen: std::net::SocketAddr,
    mqtt: std::net::SocketAddr,
}

fn args() -> anyhow::Result<Option<Args>> {
    let mut out = Args {
        data: PathBuf::from("store-day"),
        listen: "127.0.0.1:8080".parse()?,
        mqtt: "127.0.0.1:1884".parse()?,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--data" => out.data = PathBuf::from(value()?),
            "--listen" => out.listen = value()?.parse().context("--listen")?,
            "--mqtt" => out.mqtt = value()?.parse().context("--mqtt")?,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            other => anyhow::bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    Ok(Some(out))
}

/// A packaged item with stock at the store: (barcode, name); the demo's sample barcode (the one
/// the README scans) when the catalog has it.
async fn sample_item(day: &StoreDay) -> anyhow::Result<(String, String)> {
    let sample = retail_server::demo_data::SAMPLE_BARCODE;
    if let Ok(Some(sku)) =
        retail_server::storage::catalog::sku_by_barcode(&day.server.state.store, sample, None).await
    {
        if !sku.weighed {
            return Ok((
                sample.to_owned(),
                format!("{} {}", sku.name_zh, sku.spec_zh),
            ));
        }
    }
    let token = day.api.login("mgr.sh001").await?;
    let page = day
        .api
        .get_ok(
            &format!("/stock?location_id={STORE}&limit=50"),
            Some(&token),
        )
        .await?;
    for item in page["items"].as_array().into_iter().flatten() {
        let Some(sku) = item["sku_id"].as_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        if item["available"].as_i64().unwrap_or(0) <= 0 {
            continue;
        }
        if let Ok(Some(sku)) =
            retail_server::storage::catalog::sku(&day.server.state.store, sku, None).await
        {
            if let (false, Some(code)) = (sku.weighed, sku.barcodes.first()) {
                return Ok((code.clone(), format!("{} {}", sku.name_zh, sku.spec_zh)));
            }
        }
    }
    anyhow::bail!("no packaged item with stock at {STORE}")
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

async fn run(args: Args) -> anyhow::Result<()> {
    println!(
        "Starting a store day in {} (the first start also loads the demo chain, registers the devices and downloads the catalog)…",
        args.data.display()
    );
    let day = StoreDay::start(DayOptions {
        data_dir: args.data.clone(),
        database: Database::Sqlite,
        listen: args.listen,
        bus: DayBus::Embedded(args.mqtt),
        echo: true,
        audit_over: Money::from_fen(50_000),
        promotions: Vec::new(),
    })
    .await?;
    let url = &day.server.url;
    let (code, name) = sample_item(&day).await?;
    let lane1 = day.lane(1);
    let label = scale_label(Money::from_fen(1_234))?;
    println!();
    println!(
        "Store day running: store {STORE}, server {url}, store bus {}",
        day.broker_url
    );
    println!("  Shop:     {url}/   log in by phone 13800138001…13800138008 (the SMS code is shown on the page); member code at /me, scan-and-go at /scan");
    println!("  Console:  {url}/console   admin, mgr.sh001 or cashier1.sh001, password demo1234");
    for lane in &day.lanes {
        println!(
            "  Lane {}:   scanner {}   receipts {} (raw ESC/POS) and {} (text)",
            lane.number,
            lane.scanner,
            lane.receipts.display(),
            lane.receipts_text.display()
        );
    }
    println!(
        "  Scan at lane 1:  printf '{code}\\r' > {}   ({name}; a scale label for ¥12.34 of apples: {label})",
        lane1.scanner
    );
    for gate in &day.edge.gates {
        println!(
            "  Exit {}:  printf '%s\\r' \"$EXIT_PASS\" > {}   (the pass is on /scan/pass after paying; relay commands print below)",
            gate.name,
            gate.scanner.display()
        );
    }
    println!(
        "  Pick slips (paid pickup orders): {} (raw) and {} (text)",
        day.edge.pick_slips.display(),
        day.edge.pick_slips_text.display()
    );
    println!("{HELP}");

    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let stop = shutdown_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            line = lines.next_line() => {
                let Ok(Some(line)) = line else {
                    // stdin closed: keep running until Ctrl-C.
                    (&mut stop).await;
                    break;
                };
                let line = line.trim();
                match line.split_once(' ') {
                    Some((n @ ("1" | "2"), command)) => {
                        let lane = day.lane(if n == "1" { 1 } else { 2 });
                        if let Err(e) = lane.send(command.trim()).await {
                            println!("{e:#}");
                        }
                    }
                    _ if line.is_empty() => {}
                    _ if line == "help" => println!("{HELP}"),
                    _ => println!("`N COMMAND` for lane N (1 or 2), e.g. `1 status`; `help` for more"),
                }
            }
        }
    }
    println!("Stopping: lanes, edge agent, server…");
    day.stop().await?;
    println!("Stopped cleanly.");
    Ok(())
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,rumqttd=off")),
        )
        .init();
    let code = match args() {
        Ok(None) => 0,
        Ok(Some(args)) => match run(args).await {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("store-day: {e:#}");
                1
            }
        },
        Err(e) => {
            eprintln!("store-day: {e:#}");
            2
        }
    };
    // The stdin reader blocks a thread that the runtime would wait for: leave now.
    std::process::exit(code);
}
