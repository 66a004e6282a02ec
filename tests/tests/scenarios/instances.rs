//! Three server instances on one fresh PostgreSQL database and a private Mosquitto, behind a
//! round-robin balancer (issue 20, docs/OPERATIONS.md): shoppers place orders and two POS lanes
//! sell and push their sales, all spread over the instances; one instance is killed mid-load, and
//! then every accepted order and every lane sale is there exactly once, refused orders not at
//! all, the stock ledger agrees with the snapshot, and every unpaid order past its payment
//! deadline is cancelled exactly once (the sweep runs on the two survivors at once).

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use retail_testkit::balancer::RoundRobin;
use retail_testkit::lane::{LaneHandle, LaneOptions};
use retail_testkit::server::{settings, Bus, Database, EPHEMERAL};
use retail_testkit::{Mosquitto, TestServer};
use serde_json::{json, Value};
use uuid::Uuid;

const SHOPPERS: usize = 6;
const ORDERS_EACH: usize = 15;
const LANES: u32 = 2;
const SALES_EACH: usize = 8;

/// What became of one order: accepted (its id), refused, or never answered.
enum Outcome {
    Accepted(Uuid),
    Refused(Uuid),
    Unanswered(Uuid),
}

async fn place(client: &reqwest::Client, url: &str, body: &Value) -> Outcome {
    let id: Uuid = body["id"].as_str().unwrap().parse().unwrap();
    // A shopper's retry after a dropped connection or a 5xx: the same order id.
    for _ in 0..10 {
        match client
            .post(format!("{url}/api/v1/orders"))
            .json(body)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => return Outcome::Accepted(id),
            Ok(r) if r.status().as_u16() == 409 => return Outcome::Refused(id),
            Ok(r) if r.status().is_client_error() => {
                panic!(
                    "order refused: {} {}",
                    r.status(),
                    r.text().await.unwrap_or_default()
                )
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    Outcome::Unanswered(id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_one_killed_mid_load() {
    let Some(database_url) = retail_testkit::postgres::fresh_database_or_skip().await else {
        return;
    };
    let Some(binary) = retail_testkit::broker::binary_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = retail_testkit::free_port().unwrap();
    let mut broker = Mosquitto::anonymous(&binary, dir.path(), port, false).unwrap();
    broker.start().await.unwrap();

    let mut base = settings(
        dir.path(),
        &Database::Postgres(database_url.clone()),
        EPHEMERAL,
        &Bus::External {
            port,
            password: "scenario".into(),
        },
    );
    base.cluster.instances = 3;
    base.orders.payment_timeout_secs = 4;
    base.orders.sweep_interval_millis = 100;
    let mut servers = Vec::new();
    for i in 1..=3 {
        let mut s = base.clone();
        s.cluster.instance_id = format!("web-{i}");
        s.mqtt.client_id = format!("retail-server-{i}-{}", Uuid::now_v7().simple());
        // The first start loads the demo chain; the others find it.
        servers.push(TestServer::start(s).await.unwrap());
    }
    let balancer = RoundRobin::start(servers.iter().map(TestServer::addr).collect())
        .await
        .unwrap();
    let url = balancer.url();
    // A new connection per request, so requests spread over the instances.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    let token = servers[0].login("admin").await;
    let stock: Value = client
        .get(format!("{url}/api/v1/stock?location_id=SH001&limit=50"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rows = stock
        .get("items")
        .unwrap_or(&stock)
        .as_array()
        .unwrap()
        .clone();
    let skus: Vec<String> = rows
        .iter()
        .filter(|r| r["available"].as_i64().unwrap_or(0) > 20)
        .filter_map(|r| r["sku_id"].as_str().map(str::to_owned))
        .take(3)
        .collect();
    assert!(!skus.is_empty(), "stocked SKUs at SH001");

    // Two lanes of SH001, reaching the server through the balancer too.
    let barcode = servers[0].packaged_barcode("SH001", 40).await;
    let mut lanes = Vec::new();
    for number in 1..=LANES {
        let (_, credential) = servers[0]
            .register_device("mgr.sh001", "SH001", "pos", &format!("Lane {number}"))
            .await;
        let lane = LaneHandle::start(
            LaneOptions {
                store: "SH001".into(),
                number,
                cashier: "cashier1.sh001".into(),
                server_url: url.clone(),
                ca_file: None,
                credential,
                mqtt_url: None,
                data_dir: dir.path().join(format!("lane-{number}")),
                pin: retail_testkit::server::DEMO_PIN.into(),
                store_name: "鲜邻超市 上海一店".into(),
            },
            false,
        )
        .await
        .unwrap();
        lane.ok("shift open 100.00").await.unwrap();
        lanes.push(Arc::new(lane));
    }
    let mut tills = Vec::new();
    for lane in &lanes {
        let (lane, barcode) = (lane.clone(), barcode.clone());
        tills.push(tokio::spawn(async move {
            let mut sold = Vec::new();
            for _ in 0..SALES_EACH {
                sold.push(lane.sell_one_for_cash(&barcode).await.unwrap().id);
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            sold
        }));
    }

    let placed = Arc::new(AtomicUsize::new(0));
    let mut shoppers = Vec::new();
    for shopper in 0..SHOPPERS {
        let (client, url, skus, placed) =
            (client.clone(), url.clone(), skus.clone(), placed.clone());
        shoppers.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for n in 0..ORDERS_EACH {
                let sku = &skus[(shopper + n) % skus.len()];
                let body = json!({"id": Uuid::now_v7(), "fulfilment": "pickup", "store": "SH001",
                    "lines": [{"sku_id": sku, "qty": 1}]});
                outcomes.push(place(&client, &url, &body).await);
                placed.fetch_add(1, Ordering::Relaxed);
            }
            outcomes
        }));
    }
    // A third of the way in, the second instance dies.
    let start = Instant::now();
    while placed.load(Ordering::Relaxed) < SHOPPERS * ORDERS_EACH / 3 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "orders are placed"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    servers[1].kill();
    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    for shopper in shoppers {
        for outcome in shopper.await.unwrap() {
            match outcome {
                Outcome::Accepted(id) => accepted.push(id),
                Outcome::Refused(id) => refused.push(id),
                Outcome::Unanswered(id) => panic!("order {id} never answered by the survivors"),
            }
        }
    }
    assert!(!accepted.is_empty());
    let mut sales = Vec::new();
    for till in tills {
        sales.extend(till.await.unwrap());
    }
    assert_eq!(sales.len(), LANES as usize * SALES_EACH);
    let forwarded: Vec<usize> = balancer
        .forwarded
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .collect();
    assert!(
        forwarded.iter().all(|n| *n > 0),
        "every instance served: {forwarded:?}"
    );

    // Straight from the database: each accepted order once, no refused one.
    let db = sqlx::PgPool::connect(&database_url).await.unwrap();
    for id in &accepted {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE id = $1")
            .bind(id.to_string())
            .fetch_one(&db)
            .await
            .unwrap();
        assert_eq!(n, 1, "accepted order {id}");
    }
    for id in &refused {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE id = $1")
            .bind(id.to_string())
            .fetch_one(&db)
            .await
            .unwrap();
        assert_eq!(n, 0, "refused order {id}");
    }
    // Every lane sale reaches a survivor (the lanes push again what a dead instance did not
    // answer, with the same sale ids) and is there once.
    let start = Instant::now();
    for id in &sales {
        loop {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE id = $1")
                .bind(id.to_string())
                .fetch_one(&db)
                .await
                .unwrap();
            assert!(n <= 1, "lane sale {id} stored {n} times");
            if n == 1 {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "lane sale {id} never reached the server"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let numbers: Vec<String> = sqlx::query_scalar("SELECT order_no FROM orders")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(
        numbers.iter().collect::<HashSet<_>>().len(),
        numbers.len(),
        "order numbers are unique"
    );

    // Every accepted order goes unpaid past its deadline: cancelled once, by one survivor.
    let start = Instant::now();
    loop {
        let open: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE status = 'pending_payment'")
                .fetch_one(&db)
                .await
                .unwrap();
        if open == 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{open} unpaid orders past their deadline are still open"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for id in &accepted {
        let cancels: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM order_events WHERE order_id = $1 AND to_status = 'cancelled'",
        )
        .bind(id.to_string())
        .fetch_one(&db)
        .await
        .unwrap();
        assert_eq!(cancels, 1, "order {id} cancelled exactly once");
    }

    // The ledger agrees with the snapshot, asked through the balancer.
    let mismatches: Value = client
        .get(format!("{url}/api/v1/stock/ledger-check"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mismatches, json!([]), "stock snapshot = ledger");
    println!(
        "accepted {}, refused {}, lane sales {}, connections per instance {forwarded:?}",
        accepted.len(),
        refused.len(),
        sales.len()
    );
    db.close().await;
    for lane in lanes {
        if let Ok(mut lane) = Arc::try_unwrap(lane) {
            let _ = lane.stop().await;
        }
    }
    for server in &mut servers {
        let _ = server.stop().await;
    }
}
