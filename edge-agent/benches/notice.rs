//! Server-to-edge notice delivery on loopback: the server publishes a pickup notice
//! (`Bus::pickup`) and a store device, logged in with its own credential through the embedded
//! broker's access-checking gateway, receives it. Measured from the publish call to the
//! device's event loop yielding the message.
//!
//! `cargo bench -p edge-agent --bench notice [--profile dev] -- [--notices N]`

use std::time::{Duration, Instant};

use retail_domain::wire::bus::pickup_topic;
use retail_server::bus::PickupNotice;
use retail_server::config::{Secrets, Settings};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::json;
use uuid::Uuid;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let notices: usize = args
        .iter()
        .position(|a| a == "--notices")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let dir = tempfile::tempdir()?;
    let mut settings = Settings {
        listen: "127.0.0.1:0".parse()?,
        database_url: format!("sqlite://{}", dir.path().join("retail.db").display()),
        data_dir: dir.path().to_path_buf(),
        secrets: Secrets::generate(),
        ..Settings::default()
    };
    settings.mqtt.enabled = true;
    settings.mqtt.embedded_listen = "127.0.0.1:0".parse()?;
    let app = retail_server::Application::build(settings).await?;
    let url = format!("http://{}", app.local_addr());
    let state = app.state().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));

    let http = reqwest::Client::new();
    let login: serde_json::Value = http
        .post(format!("{url}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": "demo1234"}))
        .send()
        .await?
        .json()
        .await?;
    let device = Uuid::now_v7();
    let registered: serde_json::Value = http
        .post(format!("{url}/api/v1/devices"))
        .bearer_auth(login["token"].as_str().unwrap_or_default())
        .json(&json!({"id": device, "location_id": "SH001", "kind": "edge", "name": "bench"}))
        .send()
        .await?
        .json()
        .await?;
    let credential = registered["credential"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let broker = state
        .broker
        .clone()
        .ok_or_else(|| anyhow::anyhow!("bus off"))?;
    let bus = state
        .bus
        .clone()
        .ok_or_else(|| anyhow::anyhow!("bus off"))?;

    let mut options = MqttOptions::new(
        format!("bench-{}", device.simple()),
        broker.host,
        broker.port,
    );
    options.set_credentials(device.to_string(), credential);
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut events) = AsyncClient::new(options, 64);
    client
        .subscribe(pickup_topic("SH001"), QoS::AtLeastOnce)
        .await?;
    loop {
        if let Event::Incoming(Packet::SubAck(_)) = events.poll().await? {
            break;
        }
    }

    let mut samples = Vec::with_capacity(notices);
    for i in 0..notices {
        let order_no = format!("B{i}");
        let started = Instant::now();
        bus.pickup(
            "SH001",
            PickupNotice {
                event: "created",
                order_id: Uuid::now_v7(),
                order_no: &order_no,
                lines: &[],
            },
        )
        .await;
        loop {
            if let Event::Incoming(Packet::Publish(p)) = events.poll().await? {
                let body: serde_json::Value = serde_json::from_slice(&p.payload)?;
                if body["order_no"] == order_no.as_str() {
                    break;
                }
            }
        }
        samples.push(started.elapsed());
    }
    let _ = stop.send(());
    let _ = server.await;
    samples.sort();
    println!(
        "server-to-edge pickup notice, loopback, {notices} notices: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&samples, 0.50).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    Ok(())
}
