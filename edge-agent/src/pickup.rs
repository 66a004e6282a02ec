//! The pickup counter: when a pickup order is paid the server says so on
//! `retail/v1/stores/{store}/pickup`; the agent fetches the order (`GET /api/v1/orders/{id}`)
//! and prints a **pick slip** on the counter printer: order number and time, the lines to pick
//! (each with its shelf location in this store when one is set: the server sends them with the
//! notice and with a `print_pick_slip` command), and the signed pickup code as a QR code.
//! ESC/POS encoding is the lanes' receipt encoder ([`retail_devices::receipt::encode_slip`]:
//! GB18030 Chinese, native QR or raster). Staff mark the order ready with a `mark_ready`
//! command, which the agent passes to the server with its own credential. The same printer
//! prints a same-city delivery order's shipping label on a `print_shipping_label` command (the
//! server sends the label with it; [`retail_devices::receipt::encode_label`]).
//!
//! The slip goes out through the lanes' printer code
//! ([`retail_devices::printer::ReceiptPrinter`]): a printer whose profile has real-time status,
//! connected by TCP or serial, is asked `DLE EOT` before and after the slip; out of paper, cover
//! open, an error or no answer fails the print (reported as a `printer_fault` event and in the
//! device health), paper near end prints and is reported in the health.

use std::time::Duration;

use anyhow::Context;
use retail_devices::printer::{PrintError, PrintOutcome, PrinterSink, ReceiptPrinter};
use retail_devices::receipt::{
    encode_label, encode_slip, ReceiptLayout, ShippingLabel, Slip, SlipItem,
};
use retail_domain::profiles::{PrinterConnection, SerialSettings};
use retail_domain::wire::bus::PickupLine;
use serde::Deserialize;
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
    /// The wait for each real-time status answer, when the profile has real-time status.
    pub status: Option<Duration>,
}

impl CounterPrinter {
    /// The lane's printer for this connection (a USB line printer device is a write-only file;
    /// a serial line takes the profile's settings).
    pub fn receipt_printer(&self) -> ReceiptPrinter {
        let sink = match &self.connection {
            PrinterConnection::Tcp { host, port } if host.contains(':') => {
                PrinterSink::Tcp(format!("[{host}]:{port}"))
            }
            PrinterConnection::Tcp { host, port } => PrinterSink::Tcp(format!("{host}:{port}")),
            PrinterConnection::UsbLp { device } => PrinterSink::File {
                path: device.into(),
                decoded_copy: false,
            },
            PrinterConnection::Serial { port } => PrinterSink::Serial {
                path: port.clone(),
                baud: self.serial.map(|s| s.baud).unwrap_or(9600),
            },
        };
        ReceiptPrinter {
            sink,
            status: self.status,
            serial: self.serial,
        }
    }
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
    /// The SKU (matches shelf locations).
    #[serde(default)]
    pub sku_id: Option<Uuid>,
    /// Product name.
    pub name: String,
    /// Quantity.
    pub qty: i64,
}

/// Fetches an order from the server.
pub async fn fetch_order(
    http: &crate::ServerHttp,
    server_url: &str,
    credential: &str,
    order_id: Uuid,
) -> anyhow::Result<OrderForSlip> {
    let response = http
        .client
        .get(format!(
            "{}/api/v1/orders/{order_id}",
            server_url.trim_end_matches('/')
        ))
        .bearer_auth(credential)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!(http.trust.explain(&e)))
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
pub async fn mark_ready(
    http: &crate::ServerHttp,
    server_url: &str,
    credential: &str,
    order_id: Uuid,
) -> anyhow::Result<()> {
    let response = http
        .client
        .post(format!(
            "{}/api/v1/orders/{order_id}/ready",
            server_url.trim_end_matches('/')
        ))
        .bearer_auth(credential)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!(http.trust.explain(&e)))
        .with_context(|| format!("cannot reach the server at {server_url}"))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    anyhow::ensure!(
        status.is_success(),
        "marking {order_id} ready: {status} {body}"
    );
    Ok(())
}

/// The pick slip of an order; `lines` (from the pickup notice or the command) give each SKU's
/// shelf in the store, printed under its line (`货架 A3-02`) when known.
pub fn slip_for(order: &OrderForSlip, lines: &[PickupLine]) -> Slip {
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
                note: l
                    .sku_id
                    .and_then(|sku| lines.iter().find(|p| p.sku_id == sku))
                    .and_then(|p| p.shelf.as_ref())
                    .map(|shelf| format!("货架 {shelf}")),
            })
            .collect(),
        qr: order.pickup_qr.clone(),
        footer: vec!["拣齐后在柜台标记\"已备好\"".to_owned()],
    }
}

/// Why a pick slip or a shipping label was not printed.
#[derive(Debug, thiserror::Error)]
pub enum SlipError {
    /// The slip or label could not be encoded for this printer.
    #[error("encoding for the counter printer: {0}")]
    Encode(#[from] retail_devices::receipt::ReceiptError),
    /// The printer failed (offline, or by its status out of paper, cover open, in error).
    #[error(transparent)]
    Print(#[from] PrintError),
}

/// What the counter printer prints.
#[derive(Clone, Debug)]
pub enum CounterPrint<'a> {
    /// A pickup order's pick slip.
    PickSlip(&'a Slip),
    /// A delivery order's shipping label (same-city delivery from this store).
    ShippingLabel(&'a ShippingLabel),
}

/// Encodes `what` for the printer's layout and sends it; returns the bytes sent and how the
/// print went.
pub async fn print(
    printer: &CounterPrinter,
    what: CounterPrint<'_>,
) -> Result<(Vec<u8>, PrintOutcome), SlipError> {
    let bytes = match what {
        CounterPrint::PickSlip(slip) => encode_slip(slip, &printer.layout)?,
        CounterPrint::ShippingLabel(label) => encode_label(label, &printer.layout)?,
    };
    let outcome = printer.receipt_printer().print(&bytes).await?;
    Ok((bytes, outcome))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn shelves_go_under_their_lines() {
        let (milk, bread) = (Uuid::now_v7(), Uuid::now_v7());
        let order = OrderForSlip {
            id: Uuid::now_v7(),
            order_no: "W20261123-0000ABCD".into(),
            location_id: "SH001".into(),
            fulfilment: "pickup".into(),
            lines: vec![
                OrderLineForSlip {
                    sku_id: Some(milk),
                    name: "纯牛奶".into(),
                    qty: 2,
                },
                OrderLineForSlip {
                    sku_id: Some(bread),
                    name: "吐司".into(),
                    qty: 1,
                },
            ],
            created_at: chrono::Utc::now(),
            pickup_qr: None,
            pickup_code: Some("123456".into()),
        };
        let lines = [
            PickupLine {
                sku_id: milk,
                name: "纯牛奶".into(),
                qty: 2,
                shelf: Some("A3-02".into()),
            },
            PickupLine {
                sku_id: bread,
                name: "吐司".into(),
                qty: 1,
                shelf: None,
            },
        ];
        let slip = slip_for(&order, &lines);
        assert_eq!(slip.items[0].note.as_deref(), Some("货架 A3-02"));
        assert_eq!(slip.items[0].qty_text, "x2");
        assert_eq!(slip.items[1].note, None);
        // Without lines (an older server): no shelves, same slip otherwise.
        assert!(slip_for(&order, &[]).items.iter().all(|i| i.note.is_none()));
    }
}
