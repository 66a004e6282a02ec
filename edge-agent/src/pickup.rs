//! The pickup counter: when a pickup order is paid the server says so on
//! `retail/v1/stores/{store}/pickup`; the agent fetches the order (`GET /api/v1/orders/{id}`)
//! and prints a **pick slip** on the counter printer: order number and time, the lines to pick
//! (with the shelf location when the catalog knows one — it does not carry locations yet), and
//! the signed pickup code as a QR code. ESC/POS encoding is the lanes' receipt encoder
//! (`pos_terminal::receipt::encode_slip`: GB18030 Chinese, native QR or raster). Staff mark the
//! order ready with a `mark_ready` command, which the agent passes to the server with its own
//! credential.

use anyhow::Context;
use pos_terminal::receipt::{encode_slip, ReceiptLayout, Slip, SlipItem};
use retail_domain::profiles::{PrinterConnection, SerialSettings};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

/// The counter printer: its layout and how it is reached.
#[derive(Clone, Debug)]
pub struct CounterPrinter {
    /// Inventory name for events and health.
    pub name: String,
    /// Columns, QR, cut (from its profile).
    pub layout: ReceiptLayout,
    /// Serial, USB line printer file, or TCP.
    pub connection: PrinterConnection,
    /// Serial settings (serial printers).
    pub serial: Option<SerialSettings>,
}

/// The parts of an order a pick slip needs (`GET /api/v1/orders/{id}`).
#[derive(Clone, Debug, Deserialize)]
pub struct OrderForSlip {
    /// Order id.
    pub id: Uuid,
    /// Number for people.
    pub order_no: String,
    /// Store.
    pub location_id: String,
    /// `pickup`, …
    pub fulfilment: String,
    /// Lines.
    pub lines: Vec<OrderLineForSlip>,
    /// When ordered.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The signed pickup code (QR).
    pub pickup_qr: Option<String>,
    /// The six-digit pickup code.
    pub pickup_code: Option<String>,
}

/// One order line.
#[derive(Clone, Debug, Deserialize)]
pub struct OrderLineForSlip {
    /// Product name.
    pub name: String,
    /// Quantity.
    pub qty: i64,
}

/// Fetches an order from the server.
pub async fn fetch_order(
    server_url: &str,
    credential: &str,
    order_id: Uuid,
) -> anyhow::Result<OrderForSlip> {
    let response = crate::http()
        .get(format!(
            "{}/api/v1/orders/{order_id}",
            server_url.trim_end_matches('/')
        ))
        .bearer_auth(credential)
        .send()
        .await
        .with_context(|| format!("cannot reach the server at {server_url}"))?;
    anyhow::ensure!(
        response.status().is_success(),
        "the server answered {} for order {order_id}",
        response.status()
    );
    response
        .json()
        .await
        .with_context(|| format!("reading order {order_id}"))
}

/// Asks the server to mark a pickup order ready (the agent's credential, its store only).
pub async fn mark_ready(server_url: &str, credential: &str, order_id: Uuid) -> anyhow::Result<()> {
    let response = crate::http()
        .post(format!(
            "{}/api/v1/orders/{order_id}/ready",
            server_url.trim_end_matches('/')
        ))
        .bearer_auth(credential)
        .send()
        .await
        .with_context(|| format!("cannot reach the server at {server_url}"))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    anyhow::ensure!(
        status.is_success(),
        "marking {order_id} ready: {status} {body}"
    );
    Ok(())
}

/// The pick slip of an order.
pub fn slip_for(order: &OrderForSlip) -> Slip {
    let mut fields = vec![
        ("订单".to_owned(), order.order_no.clone()),
        (
            "下单".to_owned(),
            // China time (UTC+08:00, no daylight saving).
            (order.created_at + chrono::Duration::hours(8))
                .format("%Y-%m-%d %H:%M")
                .to_string(),
        ),
        ("门店".to_owned(), order.location_id.clone()),
    ];
    if let Some(code) = &order.pickup_code {
        fields.push(("取货码".to_owned(), code.clone()));
    }
    Slip {
        title: "拣货单 PICK SLIP".to_owned(),
        fields,
        items: order
            .lines
            .iter()
            .map(|l| SlipItem {
                name: l.name.clone(),
                qty_text: format!("x{}", l.qty),
                note: None,
            })
            .collect(),
        qr: order.pickup_qr.clone(),
        footer: vec!["拣齐后在柜台标记\"已备好\"".to_owned()],
    }
}

/// Encodes and sends a pick slip; returns the bytes sent.
pub async fn print(printer: &CounterPrinter, slip: &Slip) -> anyhow::Result<Vec<u8>> {
    let bytes = encode_slip(slip, &printer.layout).context("encoding the pick slip")?;
    match &printer.connection {
        PrinterConnection::Tcp { host, port } => {
            let mut socket = tokio::net::TcpStream::connect((host.as_str(), *port))
                .await
                .with_context(|| format!("connecting to the printer at {host}:{port}"))?;
            socket.write_all(&bytes).await?;
            socket.shutdown().await?;
        }
        PrinterConnection::UsbLp { device } => {
            let mut file = tokio::fs::OpenOptions::new()
                .append(true)
                .create(false)
                .open(device)
                .await
                .with_context(|| format!("opening the printer {device}"))?;
            file.write_all(&bytes).await?;
            file.flush().await?;
        }
        PrinterConnection::Serial { port } => {
            let settings = printer
                .serial
                .with_context(|| format!("no serial settings for the printer on {port}"))?;
            let mut stream = crate::serial::open(port, &settings)?;
            stream.write_all(&bytes).await?;
            stream.flush().await?;
        }
    }
    Ok(bytes)
}
