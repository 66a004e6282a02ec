//! Time-of-day markdowns (早晚市) at the lane: the markdown travels to the lane in the pricing
//! context and the lane applies it offline, by its own clock, inside its daily window only.

use chrono::{Timelike, Utc};
use serde_json::json;

use crate::support::{packaged_skus, synced_lane, LaneServer, TestApp};

fn china_minute() -> u16 {
    let now = Utc::now().with_timezone(&retail_domain::pricing::china_offset());
    (now.hour() * 60 + now.minute()) as u16
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lane_applies_a_markdown_offline_by_its_own_clock() {
    let mut app = TestApp::sqlite().await;
    let (_, credential) = app.register_lane("Lane 1").await;
    let admin = app.login("admin").await;
    // Two packaged SKUs from a first sync (the lane's own view of the catalog).
    let probe = tempfile::tempdir().expect("dir");
    let (_, probe_lane) = synced_lane(&app, &credential, probe.path()).await;
    let skus = packaged_skus(probe_lane.db(), 2).await;
    drop(probe_lane);
    let (open, closed) = (&skus[0], &skus[1]);
    let m = china_minute();
    let window = |from: u16, until: u16| {
        let until = if until.is_multiple_of(1440) {
            1440
        } else {
            until % 1440
        };
        (from % 1440, until)
    };
    // Open now (from a minute ago for an hour) on `open`; opening in two hours on `closed`.
    for (sku, (from, until)) in [
        (open, window(m + 1439, m + 60)),
        (closed, window(m + 120, m + 180)),
    ] {
        let (status, body) = app
            .post(
                "/api/v1/promotions",
                Some(&admin),
                json!({ "promotion": {
                    "id": retail_domain::ids::new_id(), "name_zh": "晚市7折", "name_en": "Markdown",
                    "starts_at": Utc::now() - chrono::Duration::minutes(5),
                    "ends_at": Utc::now() + chrono::Duration::days(1),
                    "stores": ["SH001"], "scope": { "skus": [sku.id] },
                    "rule": { "kind": "time_of_day_markdown", "price_factor": "0.7", "days": [],
                              "from_minute": from, "until_minute": until } } }),
            )
            .await;
        assert_eq!(status.as_u16(), 200, "{body}");
    }
    // The pricing cache lives one second: wait it out so the lane's sync sees both.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let dir = tempfile::tempdir().expect("dir");
    let (_, mut lane) = synced_lane(&app, &credential, dir.path()).await;
    let markdowns = lane
        .context()
        .promotions
        .iter()
        .filter(|p| {
            matches!(
                p.rule,
                retail_domain::pricing::PromotionRule::TimeOfDayMarkdown { .. }
            )
        })
        .count();
    assert_eq!(
        markdowns, 2,
        "both markdowns reached the lane with the context"
    );

    // The server goes away: the lane prices offline from what it holds, by its own clock.
    app.stop().await.expect("stop");
    lane.set_online(false);
    lane.scan(&open.barcodes[0]).await.expect("scan");
    lane.scan(&closed.barcodes[0]).await.expect("scan");
    let priced = lane.priced().expect("priced");
    let marked = open
        .effective_price()
        .mul_ratio(
            "0.7".parse().unwrap(),
            retail_domain::money::Rounding::HalfUp,
        )
        .unwrap();
    assert_eq!(priced.lines[0].unit_price, marked, "inside its window");
    assert_eq!(
        priced.lines[1].unit_price,
        closed.effective_price(),
        "outside its window"
    );
}
