//! The cashier's screen as a cashier sees it (ratatui's TestBackend) and the keyboard map.

use pos_terminal::app::{printer_state, receipt_note, Command};
use pos_terminal::lane::PaymentOutcome;
use pos_terminal::ui::{draw, KeyAction, Keyboard, View};
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::Color;
use ratatui::Terminal;
use retail_devices::printer::{PrinterSink, ReceiptPrinter};
use retail_devices::printer_status::PrinterStatus;
use retail_devices::virtual_printer::VirtualPrinter;
use retail_domain::money::Money;
use retail_domain::wire::sales::PaymentMethod;

use crate::support::{firmware_dir, packaged_skus, synced_lane, LaneServer, TestApp, MANAGER, PIN};

/// The screen as text, as the cashier sees it (120 × 24).
pub(crate) fn screen(view: &View) -> String {
    let mut terminal = Terminal::new(TestBackend::new(120, 24)).expect("terminal");
    terminal.draw(|f| draw(f, view)).expect("draw");
    let buffer = terminal.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..buffer.area.height {
        let mut x = 0;
        while x < buffer.area.width {
            let symbol = buffer[(x, y)].symbol();
            out.push_str(symbol);
            // A wide (CJK) character covers the next cell too.
            x += ratatui::text::Span::raw(symbol).width().max(1) as u16;
        }
        out.push('\n');
    }
    out
}

/// The screen's rows, and the background colour of the first cell showing `text` (if shown).
fn find(view: &View, text: &str) -> (Vec<String>, Option<Color>) {
    let mut terminal = Terminal::new(TestBackend::new(120, 24)).expect("terminal");
    terminal.draw(|f| draw(f, view)).expect("draw");
    let buffer = terminal.backend().buffer().clone();
    let rows: Vec<String> = screen(view).lines().map(str::to_owned).collect();
    let first = text.chars().next().expect("text").to_string();
    let colour = rows.iter().enumerate().find_map(|(y, row)| {
        row.contains(text).then(|| {
            (0..buffer.area.width)
                .find(|&x| buffer[(x, y as u16)].symbol() == first)
                .map(|x| buffer[(x, y as u16)].bg)
        })?
    });
    (rows, colour)
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn type_text(kb: &mut Keyboard, text: &str, lines: &[u32]) {
    for c in text.chars() {
        assert_eq!(kb.key(key(KeyCode::Char(c)), lines), KeyAction::None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cashier_sees_lines_totals_member_and_status() {
    let app = TestApp::sqlite().await;
    let (_, credential) = app.register_lane("Lane 1").await;
    let dir = tempfile::tempdir().expect("dir");
    let (_, mut lane) = synced_lane(&app, &credential, dir.path()).await;
    let skus = packaged_skus(lane.db(), 2).await;

    let empty = screen(&View::from_lane(&lane));
    assert!(empty.contains("OFFLINE"), "{empty}");
    assert!(empty.contains("no member"), "{empty}");
    assert!(empty.contains("Lane 01"), "{empty}");

    lane.scan(&skus[0].barcodes[0]).await.expect("scan");
    lane.scan(&skus[0].barcodes[0]).await.expect("scan");
    lane.scan(&skus[1].barcodes[0]).await.expect("scan");
    lane.set_online(true);
    let mut view = View::from_lane(&lane);
    view.unsent = 3;
    view.printer = "OFFLINE".into();
    view.message = (
        true,
        "barcode 6900000000007 is not in the catalog; nothing added".into(),
    );
    let text = screen(&view);
    assert!(text.contains(&skus[0].name_zh), "{text}");
    assert!(
        text.contains(&format!("2 × {}", skus[0].effective_price())),
        "{text}"
    );
    let total = skus[0]
        .effective_price()
        .checked_mul_qty(2)
        .and_then(|m| m.checked_add(skus[1].effective_price()))
        .expect("total");
    assert!(text.contains(&total.to_string()), "{text}");
    assert!(text.contains("ONLINE"), "{text}");
    assert!(text.contains("unsent 3"), "{text}");
    assert!(text.contains("printer OFFLINE"), "{text}");
    assert!(text.contains("not in the catalog"), "{text}");

    // Part paid: paid and due appear.
    lane.pay(PaymentMethod::Card, Money::from_fen(100))
        .await
        .expect("card");
    let text = screen(&View::from_lane(&lane));
    assert!(text.contains("已付 Paid"), "{text}");
    assert!(
        text.contains(&Money::from_fen(total.fen() - 100).to_string()),
        "{text}"
    );
}

#[test]
fn keys_make_commands() {
    let lines = [1, 2, 3];
    let mut kb = Keyboard::default();
    type_text(&mut kb, "6901234567892", &lines);
    assert_eq!(
        kb.key(key(KeyCode::Enter), &lines),
        KeyAction::Run(Command::Scan("6901234567892".into()))
    );
    kb.key(key(KeyCode::Down), &lines);
    kb.key(key(KeyCode::F(2)), &lines);
    type_text(&mut kb, "3", &lines);
    assert_eq!(
        kb.key(key(KeyCode::Enter), &lines),
        KeyAction::Run(Command::Qty(2, 3))
    );
    assert_eq!(
        kb.key(key(KeyCode::Delete), &lines),
        KeyAction::Run(Command::Void(2))
    );
    kb.key(key(KeyCode::F(3)), &lines);
    type_text(&mut kb, MANAGER, &lines);
    assert_eq!(kb.key(key(KeyCode::Enter), &lines), KeyAction::None);
    type_text(&mut kb, PIN, &lines);
    assert_eq!(kb.input().1, "******", "the PIN is masked");
    assert_eq!(
        kb.key(key(KeyCode::Enter), &lines),
        KeyAction::Run(Command::VoidSale(MANAGER.into(), PIN.into()))
    );
    kb.key(key(KeyCode::F(8)), &lines);
    type_text(&mut kb, "100", &lines);
    assert_eq!(
        kb.key(key(KeyCode::Enter), &lines),
        KeyAction::Run(Command::Pay(PaymentMethod::Cash, Money::from_fen(10_000)))
    );
    kb.key(key(KeyCode::F(8)), &lines);
    type_text(&mut kb, "lots", &lines);
    assert!(matches!(
        kb.key(key(KeyCode::Enter), &lines),
        KeyAction::Run(Command::Invalid(_))
    ));
    kb.key(key(KeyCode::F(2)), &lines);
    type_text(&mut kb, "9", &lines);
    kb.key(key(KeyCode::Esc), &lines);
    assert_eq!(kb.key(key(KeyCode::Enter), &lines), KeyAction::None);
    kb.mode = pos_terminal::ui::InputMode::Return;
    type_text(&mut kb, "1:2,3:1", &lines);
    assert_eq!(kb.key(key(KeyCode::Enter), &lines), KeyAction::None);
    assert_eq!(kb.input().0, "店长工号 manager user name");
    type_text(&mut kb, MANAGER, &lines);
    assert_eq!(kb.key(key(KeyCode::Enter), &lines), KeyAction::None);
    type_text(&mut kb, PIN, &lines);
    assert_eq!(kb.input().1, "******", "the PIN is masked");
    assert_eq!(
        kb.key(key(KeyCode::Enter), &lines),
        KeyAction::Run(Command::Return(
            vec![(1, 2), (3, 1)],
            MANAGER.into(),
            PIN.into()
        ))
    );
    assert_eq!(
        kb.key(key(KeyCode::F(5)), &lines),
        KeyAction::Run(Command::Park)
    );
    assert_eq!(
        kb.key(
            KeyEvent::new(KeyCode::Char('q'), KeyModifiers::CONTROL),
            &lines
        ),
        KeyAction::Quit
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_qr_payment_is_shown_and_its_keys_work() {
    let url = "http://127.0.0.1:8080/sandbox/pay/019ab1c2-0000-7000-8000-000000000001";
    let qr = pos_terminal::ui::qr_block_lines(url).expect("qr");
    let view = View {
        qr: qr.clone(),
        qr_caption: format!("扫码支付 Scan to pay ¥12.30 · {url}"),
        ..View::default()
    };
    let text = screen(&view);
    assert!(text.contains("扫码支付 QR payment"), "{text}");
    assert!(
        text.contains(&qr[0]),
        "the QR's first row is on the screen:\n{text}"
    );
    assert!(text.contains(&qr[qr.len() - 1]), "and its last:\n{text}");
    // Bad input for a QR: too long for any QR version.
    assert!(pos_terminal::ui::qr_block_lines(&"x".repeat(5_000)).is_err());

    // Ctrl-P: QR amount (Enter alone: all due); Ctrl-X cancels; Ctrl-K lists coupons, then a
    // number applies one and 0 removes them.
    let ctrl = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL);
    let mut kb = Keyboard::default();
    assert_eq!(kb.key(ctrl('p'), &[1]), KeyAction::None);
    assert_eq!(
        kb.key(key(KeyCode::Enter), &[1]),
        KeyAction::Run(Command::PayQr(None))
    );
    kb.key(ctrl('p'), &[1]);
    type_text(&mut kb, "5.50", &[1]);
    assert_eq!(
        kb.key(key(KeyCode::Enter), &[1]),
        KeyAction::Run(Command::PayQr(Some(Money::from_fen(550))))
    );
    assert_eq!(kb.key(ctrl('x'), &[1]), KeyAction::Run(Command::QrCancel));
    assert_eq!(kb.key(ctrl('k'), &[1]), KeyAction::Run(Command::Coupons));
    type_text(&mut kb, "2", &[1]);
    assert_eq!(
        kb.key(key(KeyCode::Enter), &[1]),
        KeyAction::Run(Command::Coupon(2))
    );
    kb.key(ctrl('k'), &[1]);
    type_text(&mut kb, "0", &[1]);
    assert_eq!(
        kb.key(key(KeyCode::Enter), &[1]),
        KeyAction::Run(Command::NoCoupon)
    );
    // Ctrl-E: cash in or out with a reason; Ctrl-G: hand-over (the next cashier's PIN masked);
    // Ctrl-O: offline selling, approved by a manager; Ctrl-Z / Ctrl-T: zero and tare the scale.
    kb.key(ctrl('e'), &[1]);
    assert!(kb.input().0.contains("cash in|out"), "{:?}", kb.input());
    type_text(&mut kb, "out 200 银行存款", &[1]);
    assert_eq!(
        kb.key(key(KeyCode::Enter), &[1]),
        KeyAction::Run(Command::Cash(
            pos_terminal::cash::Direction::Out,
            Money::from_fen(20_000),
            "银行存款".into()
        ))
    );
    kb.key(ctrl('g'), &[1]);
    type_text(&mut kb, "cashier2", &[1]);
    assert_eq!(kb.key(key(KeyCode::Enter), &[1]), KeyAction::None);
    type_text(&mut kb, "4321", &[1]);
    assert_eq!(kb.input().1, "****", "the PIN is masked");
    assert_eq!(kb.key(key(KeyCode::Enter), &[1]), KeyAction::None);
    type_text(&mut kb, "812.50", &[1]);
    assert_eq!(
        kb.key(key(KeyCode::Enter), &[1]),
        KeyAction::Run(Command::Handover(
            "cashier2".into(),
            "4321".into(),
            Money::from_fen(81_250)
        ))
    );
    kb.key(ctrl('o'), &[1]);
    type_text(&mut kb, "on", &[1]);
    assert_eq!(kb.key(key(KeyCode::Enter), &[1]), KeyAction::None);
    type_text(&mut kb, "mgr.sh001", &[1]);
    assert_eq!(kb.key(key(KeyCode::Enter), &[1]), KeyAction::None);
    type_text(&mut kb, "9999", &[1]);
    assert_eq!(kb.input().1, "****", "the manager's PIN is masked");
    assert_eq!(
        kb.key(key(KeyCode::Enter), &[1]),
        KeyAction::Run(Command::Offline(true, "mgr.sh001".into(), "9999".into()))
    );
    kb.key(ctrl('e'), &[1]);
    type_text(&mut kb, "sideways 5", &[1]);
    assert!(
        matches!(
            kb.key(key(KeyCode::Enter), &[1]),
            KeyAction::Run(Command::Invalid(_))
        ),
        "a bad cash move is refused with a message"
    );
    assert_eq!(
        kb.key(ctrl('z'), &[1]),
        KeyAction::Run(Command::Scale(pos_terminal::scale::ScaleAction::Send(
            retail_devices::counter_scale::ScaleCommand::Zero
        )))
    );
    assert_eq!(
        kb.key(ctrl('t'), &[1]),
        KeyAction::Run(Command::Scale(pos_terminal::scale::ScaleAction::Send(
            retail_devices::counter_scale::ScaleCommand::Tare
        )))
    );
    assert_eq!(Command::parse("pay qr"), Ok(Command::PayQr(None)));
    assert_eq!(Command::parse("qr check"), Ok(Command::QrCheck));
    assert!(Command::parse("qr later").is_err());
    assert!(Command::parse("pay qr lots").is_err());
    assert!(Command::parse("coupon x").is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cashier_sees_what_is_wrong_with_the_printer() {
    let app = TestApp::sqlite().await;
    let (_, credential) = app.register_lane("Lane 1").await;
    let dir = tempfile::tempdir().expect("dir");
    let (_, mut lane) = synced_lane(&app, &credential, dir.path()).await;
    let sku = packaged_skus(lane.db(), 1).await.remove(0);
    let catalog =
        retail_domain::profiles::DeviceCatalog::load_dir(&firmware_dir().join("profiles"))
            .expect("profiles");
    let virtual_printer = VirtualPrinter::start().await.expect("virtual printer");
    let printer = ReceiptPrinter::new(
        PrinterSink::Tcp(virtual_printer.addr().expect("addr").to_string()),
        catalog.printers.get("epson-tm-t88v").expect("profile"),
    );
    assert!(printer.asks_status());

    // A cash sale completes while the printer is out of paper: what the lane shows.
    virtual_printer.set_status(PrinterStatus::paper_out());
    lane.scan(&sku.barcodes[0]).await.expect("scan");
    let done = match lane
        .pay(PaymentMethod::Cash, Money::from_fen(100_000))
        .await
        .expect("pay")
    {
        PaymentOutcome::Completed(done) => done,
        PaymentOutcome::Partial(due) => panic!("still due {due}"),
    };
    let result = printer.print(&done.receipt).await;
    let (state, alert) = printer_state(&result);
    let mut view = View::from_lane(&lane);
    view.printer = state.into();
    view.message = (alert, receipt_note(&result, done.open_drawer));
    let (rows, colour) = find(&view, "printer 缺纸 PAPER OUT");
    let text = rows.join("\n");
    assert!(
        rows[rows.len() - 1].contains("printer 缺纸 PAPER OUT"),
        "the status bar says it:\n{text}"
    );
    assert_eq!(colour, Some(Color::Yellow), "and it stands out");
    assert!(
        text.contains("打印机缺纸 printer out of paper: the sale is saved"),
        "the message line says it:\n{text}"
    );
    assert!(alert);
    assert_eq!(virtual_printer.received(), b"");

    // Paper in, but running low: printed, and the cashier is warned.
    virtual_printer.set_status(PrinterStatus::paper_near_end());
    let result = printer.print(&done.receipt).await;
    let (state, alert) = printer_state(&result);
    view.printer = state.into();
    view.message = (alert, receipt_note(&result, false));
    let (rows, colour) = find(&view, "printer 纸将尽 PAPER LOW");
    let text = rows.join("\n");
    assert!(
        rows[rows.len() - 1].contains("printer 纸将尽 PAPER LOW"),
        "{text}"
    );
    assert_eq!(colour, Some(Color::Yellow));
    assert!(text.contains("receipt printed; 打印纸将尽"), "{text}");
    assert_eq!(virtual_printer.received(), done.receipt);

    // Fine again: the status bar is plain.
    virtual_printer.set_status(PrinterStatus::READY);
    let result = printer.print(&done.receipt).await;
    assert_eq!(printer_state(&result), ("ok", false));
    view.printer = "ok".into();
    let (_, colour) = find(&view, "printer ok");
    assert_ne!(colour, Some(Color::Yellow));
}
