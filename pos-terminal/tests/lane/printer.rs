//! Printer status: the real `pos-terminal` binary prints to a **virtual network printer** (a TCP
//! listener speaking the ESC/POS real-time status protocol, `DLE EOT n`) and to a virtual serial
//! printer on a pseudo-terminal. Out of paper, the sale completes, nothing is printed, the
//! cashier is told, and after the paper is loaded the reprint prints the journal's receipt
//! bytes; paper near end prints and warns; a printer that never answers counts as offline; a
//! cover open on a serial printer is reported the same way; an idle printer is watched, so the
//! status bar shows paper out before the next sale and the cashier hears when the waiting
//! receipt can be reprinted.

use std::time::Duration;

use pos_terminal::store::LaneDb;
use retail_devices::printer_status::PrinterStatus;
use retail_devices::receipt::decode_text;
use retail_devices::serial::serial_stream;
use retail_devices::virtual_printer::VirtualPrinter;

use crate::binary::{write_config, LaneProcess};
use crate::support::{lane_sku, LaneServer, TestApp};

/// The cut of the TM-T88V profile, then its drawer kick.
const CUT: [u8; 4] = [0x1D, 0x56, 0x42, 0x00];
const KICK: [u8; 5] = [0x1B, 0x70, 0x00, 0x19, 0xFA];

/// A lane (TM-T88V profile: real-time status) printing to `printer` (a `printer = …` value).
async fn lane_with_printer(app: &TestApp, dir: &std::path::Path, printer: &str) -> LaneProcess {
    let (_, credential) = app.register_lane("Lane 1").await;
    let config = write_config(app, &credential, dir, &format!("printer = \"{printer}\""));
    LaneProcess::start(&config).await
}

/// Sells one item for cash; returns (sale id, the answer to the payment).
async fn cash_sale(lane: &mut LaneProcess, dir: &std::path::Path) -> (String, String) {
    let sku = lane_sku(&dir.join("data")).await;
    let answer = lane.scan(&sku.barcodes[0]).await;
    assert!(answer.starts_with("OK line 1"), "{answer}");
    lane.send("pay cash 1000.00").await;
    let sale = lane.expect_line(|l| l.starts_with("SALE ")).await;
    let id = sale.split_whitespace().nth(1).expect("id").to_owned();
    (id, lane.answer().await)
}

/// The receipt bytes the lane journalled for its last sale.
async fn journal_receipt(dir: &std::path::Path) -> Vec<u8> {
    let db = LaneDb::open(&dir.join("data").join("lane.db"))
        .await
        .expect("db");
    let last = db.last_sale().await.expect("read").expect("a sale");
    db.pool().close().await;
    last.receipt
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paper_out_the_sale_completes_and_the_reprint_prints_the_same_receipt() {
    let app = TestApp::sqlite().await;
    let dir = tempfile::tempdir().expect("dir");
    let printer = VirtualPrinter::start().await.expect("virtual printer");
    printer.set_status(PrinterStatus::paper_out());
    let addr = printer.addr().expect("addr");
    let mut lane = lane_with_printer(&app, dir.path(), &format!("tcp:{addr}")).await;

    let (id, answer) = cash_sale(&mut lane, dir.path()).await;
    assert!(
        answer.starts_with("OK sale"),
        "the sale completes: {answer}"
    );
    assert!(
        answer.contains("打印机缺纸 printer out of paper"),
        "the cashier is told: {answer}"
    );
    assert!(answer.contains("waits for reprint"), "{answer}");
    assert!(answer.contains("the drawer did not open"), "{answer}");
    assert!(printer.status_requests() >= 1, "the lane asked");
    assert_eq!(printer.received(), b"", "nothing was printed");
    let status = lane.command("status").await;
    assert!(status.contains("unprinted 1"), "{status}");
    assert!(status.contains("printer 缺纸 PAPER OUT"), "{status}");

    // Still out of paper: the reprint fails the same way and sends nothing.
    let answer = lane.command("reprint").await;
    assert!(
        answer.starts_with("ERR 打印机缺纸 printer out of paper"),
        "{answer}"
    );
    assert_eq!(printer.received(), b"");

    // Paper loaded: the reprint prints exactly the journalled receipt (no drawer kick).
    printer.set_status(PrinterStatus::READY);
    let answer = lane.command("reprint").await;
    assert!(
        answer.starts_with("OK receipt") && answer.contains("reprinted"),
        "{answer}"
    );
    let receipt = journal_receipt(dir.path()).await;
    assert_eq!(printer.received(), receipt, "the same receipt bytes");
    assert!(receipt.ends_with(&CUT));
    let sku = lane_sku(&dir.path().join("data")).await;
    assert!(decode_text(&receipt).contains(&sku.name_zh));
    let status = lane.command("status").await;
    assert!(
        status.contains("unprinted 0") && status.contains("printer ok"),
        "{status}"
    );

    // The sale reached the server all the same.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while lane.unsent().await > 0 {
        assert!(tokio::time::Instant::now() < deadline, "not pushed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    lane.kill().await;
    assert_eq!(app.server_sales().await.get(&id).map(|s| s.0), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paper_near_end_prints_and_warns() {
    let app = TestApp::sqlite().await;
    let dir = tempfile::tempdir().expect("dir");
    let printer = VirtualPrinter::start().await.expect("virtual printer");
    printer.set_status(PrinterStatus::paper_near_end());
    let addr = printer.addr().expect("addr");
    let mut lane = lane_with_printer(&app, dir.path(), &format!("tcp:{addr}")).await;

    let (_, answer) = cash_sale(&mut lane, dir.path()).await;
    assert!(answer.contains("receipt printed"), "{answer}");
    assert!(
        answer.contains("打印纸将尽 printer paper near end"),
        "the cashier is warned: {answer}"
    );
    let mut expected = journal_receipt(dir.path()).await;
    expected.extend_from_slice(&KICK);
    assert_eq!(
        printer.received(),
        expected,
        "the receipt, then the drawer kick"
    );
    let status = lane.command("status").await;
    assert!(
        status.contains("unprinted 0") && status.contains("printer 纸将尽 PAPER LOW"),
        "{status}"
    );
    lane.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_printer_that_never_answers_the_status_request_counts_as_offline() {
    let app = TestApp::sqlite().await;
    let dir = tempfile::tempdir().expect("dir");
    let printer = VirtualPrinter::start().await.expect("virtual printer");
    printer.set_answering(false);
    let addr = printer.addr().expect("addr");
    let mut lane = lane_with_printer(&app, dir.path(), &format!("tcp:{addr}")).await;

    let (_, answer) = cash_sale(&mut lane, dir.path()).await;
    assert!(answer.starts_with("OK sale"), "{answer}");
    assert!(
        answer.contains("printer offline: no answer to DLE EOT 1 (printer status)"),
        "{answer}"
    );
    assert!(answer.contains("waits for reprint"), "{answer}");
    assert!(printer.status_requests() >= 1);
    assert_eq!(
        printer.received(),
        b"",
        "nothing is sent to a silent printer"
    );
    let status = lane.command("status").await;
    assert!(
        status.contains("unprinted 1") && status.contains("printer OFFLINE"),
        "{status}"
    );
    lane.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serial_printer_with_its_cover_open_is_reported_and_reprinted() {
    let app = TestApp::sqlite().await;
    let dir = tempfile::tempdir().expect("dir");
    // The printer's side of a pseudo-terminal pair; the lane opens the other side's path.
    let (master, slave) = serialport::TTYPort::pair().expect("pty");
    let path = serialport::SerialPort::name(&slave).expect("pty name");
    let (stream, _line) = serial_stream(Box::new(master), "virtual printer").expect("bridge");
    let printer = VirtualPrinter::new();
    printer.set_status(PrinterStatus::cover_open());
    tokio::spawn(printer.clone().serve(stream));
    let mut lane = lane_with_printer(&app, dir.path(), &format!("serial:{path}@38400")).await;

    let (_, answer) = cash_sale(&mut lane, dir.path()).await;
    assert!(answer.starts_with("OK sale"), "{answer}");
    assert!(
        answer.contains("打印机盖未关 printer cover open"),
        "{answer}"
    );
    assert_eq!(printer.received(), b"");
    let status = lane.command("status").await;
    assert!(status.contains("printer 盖开 COVER OPEN"), "{status}");

    printer.set_status(PrinterStatus::READY);
    let answer = lane.command("reprint").await;
    assert!(answer.contains("reprinted"), "{answer}");
    let receipt = journal_receipt(dir.path()).await;
    // The lane has closed the port; the bytes are through the pty once the reprint answered.
    assert_eq!(printer.received(), receipt);
    lane.kill().await;
    drop(slave);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_printer_is_watched_and_the_cashier_hears_when_it_is_back() {
    let app = TestApp::sqlite().await;
    let dir = tempfile::tempdir().expect("dir");
    let printer = VirtualPrinter::start().await.expect("virtual printer");
    let addr = printer.addr().expect("addr");
    let (_, credential) = app.register_lane("Lane 1").await;
    let config = write_config(
        &app,
        &credential,
        dir.path(),
        &format!("printer = \"tcp:{addr}\"\nprinter_check_secs = 1"),
    );
    let mut lane = LaneProcess::start(&config).await;
    let (_, answer) = cash_sale(&mut lane, dir.path()).await;
    assert!(answer.contains("receipt printed"), "{answer}");
    let printed = printer.received();

    // The paper runs out while nobody is printing: the watch notices, nothing is printed.
    printer.set_status(PrinterStatus::paper_out());
    let event = lane.expect_line(|l| l.starts_with("EVENT printer")).await;
    assert!(event.contains("打印机缺纸 printer out of paper"), "{event}");
    let status = lane.command("status").await;
    assert!(status.contains("printer 缺纸 PAPER OUT"), "{status}");
    assert_eq!(printer.received(), printed, "asking sends no receipt bytes");

    // Two sales now complete and their receipts wait.
    let mut waiting = Vec::new();
    for _ in 0..2 {
        let (_, answer) = cash_sale(&mut lane, dir.path()).await;
        assert!(answer.contains("waits for reprint"), "{answer}");
        waiting.extend_from_slice(&journal_receipt(dir.path()).await);
    }

    // Paper loaded: the cashier is told the waiting receipt can be reprinted, unprompted.
    printer.set_status(PrinterStatus::READY);
    let event = lane.expect_line(|l| l.starts_with("EVENT printer")).await;
    assert!(
        event.contains("ready again") && event.contains("2 waiting receipt"),
        "{event}"
    );
    let status = lane.command("status").await;
    assert!(
        status.contains("printer ok") && status.contains("unprinted 2"),
        "{status}"
    );
    // One reprint prints both waiting receipts, oldest first, each once.
    let answer = lane.command("reprint").await;
    assert!(answer.contains("reprinted"), "{answer}");
    let mut expected = printed.clone();
    expected.extend_from_slice(&waiting);
    assert_eq!(
        printer.received(),
        expected,
        "the waiting receipts, in order, once"
    );
    let status = lane.command("status").await;
    assert!(status.contains("unprinted 0"), "{status}");
    // With nothing waiting, a reprint is a copy of the last receipt.
    let answer = lane.command("reprint").await;
    assert!(answer.contains("reprinted"), "{answer}");
    expected.extend_from_slice(&journal_receipt(dir.path()).await);
    assert_eq!(printer.received(), expected);
    lane.kill().await;
}
