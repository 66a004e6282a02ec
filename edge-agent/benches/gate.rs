//! Exit gate decision latency, offline: from the last byte of a scan written to the scanner's
//! pseudo-terminal to the relay's `open` command read from the relay's pseudo-terminal. The gate
//! runs with no server and no broker: signature, expiry, store and used-set checks, the local
//! SQLite transaction (pass used + event queued), the relay write through the serial port
//! threads.
//!
//! `cargo bench -p edge-agent --bench gate [--profile dev] -- [--scans N]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use edge_agent::config::GateRules;
use edge_agent::gate::{run_gate, GateContext, GateSetup};
use edge_agent::store::LocalStore;
use retail_devices::pty::raw_pty;
use retail_devices::serial::open_stream;
use retail_domain::codes::{CodeSigner, ExitPass, SignedCode};
use retail_domain::money::Money;
use retail_domain::profiles::DeviceCatalog;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch, Notify};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let scans: usize = args
        .iter()
        .position(|a| a == "--scans")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware-config");
    let catalog = DeviceCatalog::load_dir(&root).map_err(|e| anyhow::anyhow!("{e}"))?;
    let scanner_profile = catalog
        .scanners
        .get("newland-fm430-rs232")
        .ok_or_else(|| anyhow::anyhow!("scanner profile"))?;
    let relay_profile = catalog
        .gates
        .get("lcus-2-usb-relay")
        .ok_or_else(|| anyhow::anyhow!("relay profile"))?;

    let dir = tempfile::tempdir()?;
    let store = LocalStore::open(dir.path()).await?;
    let signer = CodeSigner::generate();
    let (_verifier_tx, verifier) = watch::channel(Some(Arc::new(signer.verifier())));
    let ctx = GateContext {
        store_code: "SH001".into(),
        device: Uuid::now_v7(),
        store: store.clone(),
        verifier,
        rules: GateRules {
            audit_share: 0.0,
            audit_over: Money::from_fen(1_000_000),
            audit_items_over: 1000,
            audit_first_visits: 1,
        },
        outbox: Arc::new(Notify::new()),
    };
    let (scanner_master, _scanner_slave, scanner_path) = raw_pty()?;
    let (relay_master, _relay_slave, relay_path) = raw_pty()?;
    let mut scanner_master = tokio::fs::File::from_std(std::fs::File::from(scanner_master));
    let mut relay_master = tokio::fs::File::from_std(std::fs::File::from(relay_master));
    let scanner_port = open_stream(&scanner_path.to_string_lossy(), &scanner_profile.serial)?;
    let relay_port = open_stream(&relay_path.to_string_lossy(), &relay_profile.serial)?;
    let setup = GateSetup {
        name: "gate-1".into(),
        codec: retail_devices::scanner::ScanFrameCodec::from_profile(scanner_profile),
        commands: relay_profile.commands.clone(),
        timing: relay_profile.timing,
        display: None,
    };
    let open = setup.commands.open.clone();
    let (_open_tx, open_rx) = mpsc::channel(1);
    let cancel = CancellationToken::new();
    let gate = tokio::spawn(run_gate(
        setup,
        ctx,
        scanner_port,
        relay_port,
        None,
        open_rx,
        None,
        cancel.clone(),
    ));

    let mut samples = Vec::with_capacity(scans);
    let mut buf = vec![0u8; open.len()];
    for i in 0..scans {
        let pass = signer.sign(&SignedCode::ExitPass(ExitPass {
            session_id: Uuid::now_v7(),
            store: "SH001".into(),
            item_count: 3,
            total: Money::from_fen(4_250),
            expires_at: chrono::Utc::now() + chrono::Duration::seconds(600),
            visit: Some(5),
        }));
        let mut frame = pass.into_bytes();
        frame.push(b'\r');
        scanner_master.write_all(&frame).await?;
        scanner_master.flush().await?;
        let started = Instant::now();
        if i > 0 {
            // The previous opening's release (`close`) goes out first.
            relay_master.read_exact(&mut buf).await?;
        }
        relay_master.read_exact(&mut buf).await?;
        let elapsed = started.elapsed();
        anyhow::ensure!(buf == open, "scan {i}: expected open, got {buf:02X?}");
        samples.push(elapsed);
    }
    cancel.cancel();
    let _ = gate.await;
    store.close().await;
    samples.sort();
    println!(
        "gate decision, offline, {scans} scans: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&samples, 0.50).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    Ok(())
}
