//! The fresh counter at the lane (issue 21), through the real binary: the counter scale (a
//! virtual Mettler Toledo 8217 scale on a pseudo-terminal, opened by the lane as its serial
//! port), the customer displays (pole display bytes and the browser display, in a real
//! headless Chromium), and cash control (cash in/out, hand-over, the manager's offline switch).

use std::time::Duration;

use retail_devices::counter_scale::VirtualCounterScale;
use retail_devices::receipt::decode_text;

use crate::binary::{write_config, LaneProcess};
use crate::support::{LaneServer, TestApp};

/// The demo chain's loose apples (sold by weight), by their PLU.
const APPLES: &str = "10001";

/// Asks the lane for the scale's reading until it shows `text`.
async fn scale_shows(lane: &mut LaneProcess, text: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let answer = lane.command("scale").await;
        if answer.contains(text) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "scale never showed {text:?}: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The last screen written to a pole display file (2 × 20).
fn last_pole_screen(path: &std::path::Path) -> String {
    let bytes = std::fs::read(path).expect("display bytes");
    let screen = &bytes[bytes.len().saturating_sub(40)..];
    String::from_utf8_lossy(screen).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighed_items_from_the_counter_scale_on_both_customer_displays() {
    let app = TestApp::sqlite().await;
    let (_, credential) = app.register_lane("Lane 1").await;
    let dir = tempfile::tempdir().expect("dir");
    let scale = VirtualCounterScale::new(15_000);
    let port = scale.spawn_pty().expect("pty");
    let display = dir.path().join("display.bin");
    let screen_port = retail_testkit::free_port().expect("port");
    let config = write_config(
        &app,
        &credential,
        dir.path(),
        &format!(
            "scale_profile = \"mettler-toledo-ariva-s-8217\"\nscale_port = \"{port}\"\n\
             display_profile = \"vfd-2x20-epson-dmd\"\ndisplay = \"file:{}\"\n\
             customer_screen = \"127.0.0.1:{screen_port}\"\nadverts = [\"FRESH EGGS 9.90\"]",
            display.display()
        ),
    );
    let mut lane = LaneProcess::start(&config).await;
    scale_shows(&mut lane, "0.000 kg").await;
    // Idle: the advert on the pole display.
    lane.command("status").await;
    let pole = last_pole_screen(&display);
    assert!(
        pole.starts_with("WELCOME") && pole[20..].starts_with("FRESH EGGS 9.90"),
        "{pole:?}"
    );

    // Nothing on the platter, then a moving load: no weight is taken.
    let answer = lane.scan(APPLES).await;
    assert!(
        answer.starts_with("ERR") && answer.contains("put it on the scale"),
        "{answer}"
    );
    scale.set_weight(456);
    scale.set_motion(true);
    scale_shows(&mut lane, "moving").await;
    let answer = lane.scan(APPLES).await;
    assert!(answer.contains("moving"), "{answer}");
    // Settled: 0.456 kg of apples.
    scale.set_motion(false);
    scale_shows(&mut lane, "0.456 kg").await;
    let answer = lane.scan(APPLES).await;
    assert!(
        answer.starts_with("OK line 1") && answer.contains("x0.456kg"),
        "{answer}"
    );
    // The same load again: the scale must return to zero first.
    let answer = lane.scan(APPLES).await;
    assert!(answer.contains("return to zero"), "{answer}");
    scale.set_weight(0);
    scale_shows(&mut lane, "0.000 kg").await;
    // A tared container: the net weight is sold.
    scale.set_weight(120);
    scale_shows(&mut lane, "0.120 kg").await;
    let answer = lane.command("scale tare").await;
    assert!(answer.contains("0.000 kg NET"), "{answer}");
    scale.set_weight(120 + 300);
    scale_shows(&mut lane, "0.300 kg NET").await;
    let answer = lane.scan(APPLES).await;
    assert!(
        answer.starts_with("OK line 2") && answer.contains("x0.300kg"),
        "{answer}"
    );
    // Negative and garbage: refused with the reason.
    scale.set_weight(0);
    scale_shows(&mut lane, "under zero").await;
    let answer = lane.scan(APPLES).await;
    assert!(answer.contains("under zero"), "{answer}");
    lane.command("scale cleartare").await;
    scale.set_garbage(true);
    scale_shows(&mut lane, "fault").await;
    let answer = lane.scan(APPLES).await;
    assert!(answer.contains("faulty"), "{answer}");
    scale.set_garbage(false);
    scale.set_weight(0);
    scale_shows(&mut lane, "0.000 kg").await;

    // The customer screen as JSON: both lines, the weight, the total.
    let url = format!("http://127.0.0.1:{screen_port}");
    let screen: serde_json::Value = reqwest::get(format!("{url}/screen"))
        .await
        .expect("screen")
        .json()
        .await
        .expect("json");
    assert_eq!(screen["mode"], "sale", "{screen}");
    assert_eq!(
        screen["lines"].as_array().map(Vec::len),
        Some(2),
        "{screen}"
    );
    assert_eq!(screen["lines"][0]["qty"], "0.456kg", "{screen}");
    assert_eq!(screen["weight"], "0.000 kg", "{screen}");
    let total = screen["total"].as_str().expect("total").to_owned();
    // The pole display: the weight while the last item is weighed, and the total.
    let pole = last_pole_screen(&display);
    assert!(
        pole.starts_with("WEIGHT") && pole.contains("0.000 kg"),
        "{pole:?}"
    );
    assert!(
        pole[20..].starts_with("TOTAL") && pole.ends_with(&total),
        "{pole:?}"
    );

    // The browser display on a second monitor, in a real headless Chromium.
    if crate::browser::available() {
        let driver = crate::browser::start_driver().await;
        let client = crate::browser::browser(&driver).await;
        client.goto(&format!("{url}/")).await.expect("page");
        crate::browser::wait_text(&client, "#total", &total).await;
        let rows = client
            .find_all(fantoccini::Locator::Css("#rows tr"))
            .await
            .expect("rows");
        assert_eq!(rows.len(), 2);
        // Pay: the page follows (the change), without reloading.
        let answer = lane.command(&format!("pay cash {total}")).await;
        assert!(answer.contains("complete"), "{answer}");
        crate::browser::wait_text(&client, "#change", "0.00").await;
        let mode = client
            .find(fantoccini::Locator::Css("#mode"))
            .await
            .expect("mode")
            .attr("data-mode")
            .await
            .expect("attr");
        assert_eq!(mode.as_deref(), Some("done"));
        client.close().await.expect("close");
    } else {
        let answer = lane.command(&format!("pay cash {total}")).await;
        assert!(answer.contains("complete"), "{answer}");
    }
    lane.command("status").await;
    let pole = last_pole_screen(&display);
    assert!(
        pole.starts_with("THANK YOU") && pole.ends_with("0.00"),
        "{pole:?}"
    );
    lane.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cash_in_and_out_hand_over_and_the_managers_offline_switch() {
    let app = TestApp::sqlite().await;
    let (_, credential) = app.register_lane("Lane 1").await;
    let dir = tempfile::tempdir().expect("dir");
    let config = write_config(&app, &credential, dir.path(), "");
    let mut lane = LaneProcess::start(&config).await;
    lane.seen_or_expect(|l| l == "EVENT online").await;

    let answer = lane.command("cash in 50.00 float").await;
    assert!(answer.contains("no shift is open"), "{answer}");
    lane.command("shift open 100.00").await;
    let answer = lane.command("cash in 50.00").await;
    assert!(answer.contains("a reason is required"), "{answer}");
    let answer = lane.command("cash out 500.00 safe drop").await;
    assert!(answer.contains("should hold only 100.00"), "{answer}");
    let answer = lane.command("cash in 50.00 change float").await;
    assert!(
        answer.starts_with("OK cash in 50.00 recorded (change float)"),
        "{answer}"
    );
    let answer = lane.command("cash out 30.00 safe drop").await;
    assert!(answer.starts_with("OK cash out 30.00 recorded"), "{answer}");

    // The manager switches the lane to offline selling: a cashier's PIN is not enough.
    let answer = lane.command("offline on cashier1.sh001 246810").await;
    assert!(
        answer.starts_with("ERR") && answer.contains("may not approve"),
        "{answer}"
    );
    let answer = lane.command("offline on mgr.sh001 246810").await;
    assert!(
        answer.contains("switched to offline selling (approved by mgr.sh001)"),
        "{answer}"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let status = lane.command("status").await;
    assert!(status.starts_with("OK offline"), "{status}");
    let answer = lane.command("member 13800000001").await;
    assert!(answer.starts_with("ERR"), "{answer}");
    let answer = lane.command("offline off mgr.sh001 246810").await;
    assert!(
        answer.contains("switched back to online selling"),
        "{answer}"
    );

    // Hand-over: a wrong PIN changes nothing; then cashier2 takes the drawer.
    let answer = lane.command("handover cashier2.sh001 000000 120.00").await;
    assert!(answer.starts_with("ERR"), "{answer}");
    let answer = lane.command("handover cashier2.sh001 246810 119.50").await;
    assert!(
        answer.starts_with("OK handed over from cashier1.sh001 to cashier2.sh001")
            && answer.contains("Z report printed")
            && answer.contains("shift opened for cashier2.sh001 with 119.50"),
        "{answer}"
    );
    let answer = lane.command("shift close 119.50").await;
    assert!(answer.contains("expected cash 119.50"), "{answer}");
    // Two shifts opened and closed, two cash movements, two switches: on the server once.
    assert_eq!(server_cash_events(&app, 8).await, 8);
    lane.kill().await;

    let receipts = std::fs::read(dir.path().join("data").join("receipts.bin")).expect("receipts");
    let text = decode_text(&receipts);
    assert!(
        text.contains("入款 CASH IN") && text.contains("change float"),
        "{text}"
    );
    assert!(
        text.contains("出款 CASH OUT") && text.contains("safe drop"),
        "{text}"
    );
    let z = &text[text.find("Z REPORT").expect("Z report")..];
    let row = |label: &str| -> String {
        z.lines()
            .find(|l| l.contains(label))
            .unwrap_or_else(|| panic!("no {label} in {z}"))
            .split_whitespace()
            .last()
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(row("Cash in"), "50.00");
    assert_eq!(row("Cash out"), "30.00");
    assert_eq!(row("Expected cash"), "120.00");
    assert_eq!(row("Difference"), "-0.50");

    // The control log has the switches and the hand-over, with who approved.
    let db = pos_terminal::store::LaneDb::open(&dir.path().join("data").join("lane.db"))
        .await
        .expect("db");
    let book = pos_terminal::cash::CashBook::open(db.clone())
        .await
        .expect("book");
    let log = book.entries().await.expect("log");
    let kinds: Vec<&str> = log.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["offline_on", "offline_off", "handover"]);
    assert_eq!(log[0].approved_by.as_deref(), Some("mgr.sh001"));
    // As if the lane crashed before recording the server's answers: it sends them all again,
    // and the server still holds each once.
    sqlx::query("UPDATE cash_outbox SET outcome = NULL")
        .execute(db.pool())
        .await
        .expect("reset");
    db.pool().close().await;
    let lane = LaneProcess::start(&config).await;
    let book = {
        let db = pos_terminal::store::LaneDb::open(&dir.path().join("data").join("lane.db"))
            .await
            .expect("db");
        pos_terminal::cash::CashBook::open(db).await.expect("book")
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while book.unsent_count().await.expect("unsent") > 0 {
        assert!(tokio::time::Instant::now() < deadline, "never resent");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(server_cash_events(&app, 8).await, 8);
    lane.kill().await;
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", app.db_path().display()))
        .await
        .expect("server db");
    let diffs: Vec<(String, i64)> = sqlx::query_as(
        "SELECT cashier, difference FROM lane_shifts WHERE closed_at IS NOT NULL ORDER BY closed_at",
    )
    .fetch_all(&pool)
    .await
    .expect("shifts");
    assert_eq!(
        diffs,
        [
            ("cashier1.sh001".to_owned(), -50),
            ("cashier2.sh001".to_owned(), 0)
        ]
    );
    pool.close().await;
}

/// Waits (up to 30 s) until the server holds `n` cash events, and answers how many it holds.
async fn server_cash_events(app: &TestApp, n: i64) -> i64 {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", app.db_path().display()))
        .await
        .expect("server db");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let count = loop {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM lane_cash_events")
            .fetch_one(&pool)
            .await
            .expect("count");
        if count >= n || tokio::time::Instant::now() > deadline {
            break count;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    pool.close().await;
    count
}
