//! Exactly once: the real binary sells through its virtual scanner, is SIGKILLed at random
//! points (mid-sale, right after the payment command, after the sale), restarted, and in the
//! end every sale committed to the lane's journal is on the server exactly once with all its
//! lines, every sale the lane announced is in the journal, and nothing else (no half-sale) is.

use std::collections::HashSet;
use std::time::Duration;

use pos_terminal::store::LaneDb;

use crate::binary::{write_config, LaneProcess};
use crate::support::{packaged_skus, LaneServer, TestApp};

/// A small deterministic generator (xorshift64*), seeded from the clock and printed, so a
/// failing run can be replayed with `POS_KILL_SEED`.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_completed_sale_reaches_the_server_exactly_once_across_sigkills() {
    let seed = std::env::var("POS_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                | 1
        });
    eprintln!("POS_KILL_SEED={seed}");
    let mut rng = Rng(seed);

    let app = TestApp::sqlite().await;
    let (_, credential) = app.register_lane("Lane 1").await;
    let dir = tempfile::tempdir().expect("dir");
    let config = write_config(&app, &credential, dir.path(), "");
    let mut lane = LaneProcess::start(&config).await;

    // Barcodes to sell, from the lane's own synced catalog.
    let barcodes: Vec<String> = {
        let db = LaneDb::open(&dir.path().join("data").join("lane.db"))
            .await
            .expect("db");
        let skus = packaged_skus(&db, 20).await;
        db.pool().close().await;
        skus.into_iter().map(|s| s.barcodes[0].clone()).collect()
    };
    assert!(barcodes.len() >= 5);

    let mut announced = HashSet::new();
    let mut kills = 0;
    let mut attempts = 0;
    while announced.len() < 50 {
        attempts += 1;
        assert!(attempts < 200, "too many attempts");
        let items = 1 + rng.below(3);
        for _ in 0..items {
            let code = &barcodes[rng.below(barcodes.len() as u64) as usize];
            let answer = lane.scan(code).await;
            assert!(answer.starts_with("OK line"), "{answer}");
        }
        // Kill points: 0 mid-sale, 1 right after sending the payment, 2 after the sale.
        let kill = if rng.below(4) == 0 {
            Some(rng.below(3))
        } else {
            None
        };
        if kill == Some(0) {
            lane.kill().await;
            kills += 1;
            lane = LaneProcess::start(&config).await;
            continue;
        }
        lane.send("pay cash 9999.00").await;
        if kill == Some(1) {
            // Give it anywhere from nothing to a few milliseconds.
            tokio::time::sleep(Duration::from_micros(rng.below(5000))).await;
            lane.kill().await;
            kills += 1;
            lane = LaneProcess::start(&config).await;
            continue;
        }
        let sale = lane.expect_line(|l| l.starts_with("SALE ")).await;
        let id = sale.split_whitespace().nth(1).expect("id").to_owned();
        let answer = lane.answer().await;
        assert!(answer.contains("complete"), "{answer}");
        announced.insert(id);
        if kill == Some(2) {
            lane.kill().await;
            kills += 1;
            lane = LaneProcess::start(&config).await;
        }
    }
    assert!(kills >= 3, "only {kills} kills with seed {seed}");

    // Let the pusher drain the journal.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while lane.unsent().await > 0 {
        assert!(tokio::time::Instant::now() < deadline, "sales not pushed");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    lane.kill().await;

    let db = LaneDb::open(&dir.path().join("data").join("lane.db"))
        .await
        .expect("db");
    let journal = db.all_sales().await.expect("journal");
    let server = app.server_sales().await;
    let journal_ids: HashSet<String> = journal.iter().map(|e| e.sale.id.to_string()).collect();
    assert!(journal.len() >= 50);
    for id in &announced {
        assert!(
            journal_ids.contains(id),
            "announced sale {id} not journalled"
        );
    }
    for entry in &journal {
        let id = entry.sale.id.to_string();
        assert_eq!(
            server.get(&id),
            Some(&(1, entry.sale.lines.len() as i64)),
            "sale {id} on the server"
        );
        assert!(entry.outcome.is_some(), "sale {id} has no answer");
    }
    let server_ids: HashSet<String> = server.keys().cloned().collect();
    assert_eq!(
        server_ids, journal_ids,
        "the server has sales the lane never completed"
    );
    // Sale numbers are unique and gapless.
    let numbers: Vec<i64> = journal.iter().map(|e| e.seq).collect();
    assert_eq!(numbers, (1..=journal.len() as i64).collect::<Vec<_>>());
    eprintln!(
        "{} sales journalled, {} announced, {kills} SIGKILLs",
        journal.len(),
        announced.len()
    );
}
