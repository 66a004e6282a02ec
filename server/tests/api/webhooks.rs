//! Webhooks (issue 20): a local receiver checks each delivery's signature with its own HMAC
//! code; a receiver that times out, then answers 5xx, then recovers gets every change once per
//! delivery id and in order per entity; an endpoint that keeps failing is disabled; a delivery
//! is replayed with the same id; bad registrations and other callers are refused.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode as AxumStatus};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use retail_server::config::Settings;
use retail_server::storage::stock::{apply_movements, Movement, MovementKind};
use retail_testkit::wait_until;
use serde_json::{json, Value};
use sha2::Sha256;
use uuid::Uuid;

use crate::orders::{pickup_order, some_sku};
use crate::support::TestApp;

/// How the receiver answers its next requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    Ok,
    ServerError,
    /// Never answers within the sender's timeout.
    Hang,
}

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    delivery: String,
    event: String,
    body: Value,
    signed: bool,
    accepted: bool,
}

#[derive(Default)]
struct Inner {
    secret: String,
    /// Answers for the next requests, in order; then `Ok`.
    script: Vec<Answer>,
    /// Answer once the script is used up.
    after: Option<Answer>,
    received: Vec<Received>,
}

/// A local webhook receiver on an ephemeral port.
#[derive(Clone)]
struct Receiver {
    inner: Arc<Mutex<Inner>>,
    url: String,
}

/// Checks `t=<ts>,v1=<hex>` against HMAC-SHA256(secret, "<ts>.<body>"), this test's own code.
fn verify(secret: &str, header: &str, body: &[u8]) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = Some(value.to_owned()),
            Some(("v1", value)) => v1 = Some(value.to_owned()),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let Ok(given) = hex::decode(v1) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

impl Receiver {
    async fn start() -> Receiver {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let shared = inner.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let shared = shared.clone();
                async move {
                    let answer = {
                        let mut inner = shared.lock().unwrap();
                        if inner.script.is_empty() {
                            inner.after.unwrap_or(Answer::Ok)
                        } else {
                            inner.script.remove(0)
                        }
                    };
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    {
                        let mut inner = shared.lock().unwrap();
                        let signed = verify(&inner.secret, &header("x-retail-signature"), &body);
                        inner.received.push(Received {
                            delivery: header("x-retail-delivery"),
                            event: header("x-retail-event"),
                            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                            signed,
                            accepted: answer == Answer::Ok && signed,
                        });
                    }
                    match answer {
                        Answer::Ok => AxumStatus::OK,
                        Answer::ServerError => AxumStatus::SERVICE_UNAVAILABLE,
                        Answer::Hang => {
                            tokio::time::sleep(Duration::from_secs(5)).await;
                            AxumStatus::OK
                        }
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { inner, url }
    }

    fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// Deliveries accepted (2xx with a good signature), by delivery id.
    fn accepted(&self) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.accepted).collect()
    }
}

/// Fast retries for the tests: a 300 ms timeout, 20–100 ms backoff.
fn quick(settings: &mut Settings) {
    let w = &mut settings.webhooks;
    w.tick_millis = 20;
    w.timeout_millis = 300;
    w.backoff_millis = 20;
    w.max_backoff_millis = 100;
    w.disable_after_failures = 1000;
}

/// Like [`quick`], disabling an endpoint after 3 failed attempts in a row.
fn quick_disable(settings: &mut Settings) {
    quick(settings);
    settings.webhooks.disable_after_failures = 3;
    settings.webhooks.disable_after_secs = 0;
}

async fn register(app: &TestApp, token: &str, receiver: &Receiver, events: Value) -> Value {
    let (status, body) = app
        .post(
            "/api/v1/webhooks",
            Some(token),
            json!({"id": Uuid::now_v7(), "url": receiver.url, "events": events, "description": "中台"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let secret = body["secret"]
        .as_str()
        .expect("secret shown once")
        .to_owned();
    assert!(secret.starts_with("whsec_"));
    receiver.inner.lock().unwrap().secret = secret;
    body
}

async fn stock_up(app: &TestApp, sku: Uuid) {
    let mut tx = app.state.store.begin().await.unwrap();
    apply_movements(
        &mut tx,
        &[Movement {
            location_id: "SH001",
            sku_id: sku,
            kind: MovementKind::Adjustment,
            on_hand_delta: 100,
            reserved_delta: 0,
            reason: "test setup",
            actor: "test",
            ref_id: None,
            client_ts: 0,
        }],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

async fn place(app: &TestApp, sku: Uuid) -> String {
    let (status, body) = app.post("/api/v1/orders", None, pickup_order(sku, 1)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// Every accepted delivery is signed, each delivery id accepted once, and per entity the
/// accepted changes rise.
fn assert_once_and_in_order(accepted: &[Received]) {
    let mut ids = HashSet::new();
    let mut last: HashMap<String, i64> = HashMap::new();
    for r in accepted {
        assert!(r.signed);
        assert!(
            ids.insert(r.delivery.clone()),
            "delivery {} accepted twice",
            r.delivery
        );
        let entity = format!("{}:{}", r.body["feed"], r.body["entity_id"]);
        let seq = r.body["seq"].as_i64().unwrap();
        if let Some(before) = last.insert(entity.clone(), seq) {
            assert!(before < seq, "{entity}: {before} then {seq}");
        }
        assert_eq!(r.body["id"].as_str().unwrap(), r.delivery);
        assert_eq!(r.event, r.body["type"].as_str().unwrap());
    }
}

/// Orders placed after registration reach the receiver signed, with the order as record.
async fn deliveries_are_signed_and_complete(app: TestApp) {
    let token = app.login("admin").await;
    let receiver = Receiver::start().await;
    let endpoint = register(&app, &token, &receiver, json!(["orders"])).await;
    assert_eq!(endpoint["status"], "active");
    assert_eq!(endpoint["events"], json!(["orders"]));
    let (sku, _) = some_sku(&app).await;
    let mut placed = Vec::new();
    for _ in 0..3 {
        placed.push(place(&app, sku).await);
    }
    wait_until("three orders delivered", Duration::from_secs(30), || {
        let receiver = receiver.clone();
        let placed = placed.clone();
        async move {
            let got: HashSet<String> = receiver
                .accepted()
                .iter()
                .filter(|r| r.event == "orders.created")
                .map(|r| r.body["entity_id"].as_str().unwrap_or_default().to_owned())
                .collect();
            placed.iter().all(|p| got.contains(p))
        }
    })
    .await;
    let accepted = receiver.accepted();
    assert_once_and_in_order(&accepted);
    let first = accepted
        .iter()
        .find(|r| r.body["entity_id"] == placed[0].as_str())
        .unwrap();
    assert_eq!(first.body["record"]["id"], placed[0].as_str());
    assert_eq!(first.body["feed"], "orders");
    // No secret in the list, and the log shows the deliveries delivered.
    let (_, list) = app.get("/api/v1/webhooks", Some(&token)).await;
    assert!(list[0].get("secret").is_none(), "{list}");
    let id = endpoint["id"].as_str().unwrap();
    // The secret is kept sealed, bound to its endpoint; one kept plain (before secrets were
    // sealed) is sealed by the start-up reseal and deliveries still verify.
    let plain = receiver.inner.lock().unwrap().secret.clone();
    let endpoint_id: Uuid = id.parse().unwrap();
    let kept = || async {
        retail_server::storage::webhooks::secret(&app.state.store, endpoint_id)
            .await
            .unwrap()
            .unwrap()
            .1
    };
    let sealed = kept().await;
    assert!(
        sealed.starts_with("v2.") && !sealed.contains(&plain),
        "{sealed}"
    );
    let mut tx = app.state.store.begin().await.unwrap();
    sqlx::query("UPDATE webhook_endpoints SET secret = $1 WHERE id = $2")
        .bind(&plain)
        .bind(id)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let report = retail_server::app::privacy::reseal(&app.state)
        .await
        .unwrap();
    assert_eq!(report.webhook_secrets, 1, "{report:?}");
    let resealed = kept().await;
    assert!(
        resealed.starts_with("v2.") && resealed != sealed,
        "{resealed}"
    );
    let fourth = place(&app, sku).await;
    wait_until("a fourth order delivered", Duration::from_secs(30), || {
        let receiver = receiver.clone();
        let fourth = fourth.clone();
        async move {
            receiver
                .accepted()
                .iter()
                .any(|r| r.body["entity_id"] == fourth.as_str())
        }
    })
    .await;
    let (status, log) = app
        .get(&format!("/api/v1/webhooks/{id}/deliveries"), Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    assert!(log
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["status"] == "delivered" && d["event"] == "orders.created"));
}
crate::both_backends!(
    deliveries_are_signed_and_complete,
    deliveries_are_signed_and_complete,
    super::quick
);

/// A receiver that hangs, then answers 503, then recovers gets every change: each delivery
/// accepted once (retries carry the same id), per entity in order.
async fn retries_until_the_receiver_recovers(app: TestApp) {
    let token = app.login("admin").await;
    let receiver = Receiver::start().await;
    receiver.inner.lock().unwrap().script = vec![
        Answer::Hang,
        Answer::Hang,
        Answer::ServerError,
        Answer::ServerError,
        Answer::ServerError,
        Answer::ServerError,
    ];
    register(&app, &token, &receiver, json!(["orders", "stock"])).await;
    let (sku, _) = some_sku(&app).await;
    stock_up(&app, sku).await;
    let mut placed = Vec::new();
    for _ in 0..4 {
        placed.push(place(&app, sku).await);
    }
    // Every order created, and the level after the last reservation, delivered.
    let level_key = format!("SH001/{sku}");
    wait_until("every change delivered", Duration::from_secs(60), || {
        let receiver = receiver.clone();
        let placed = placed.clone();
        let level_key = level_key.clone();
        async move {
            let accepted = receiver.accepted();
            let orders: HashSet<String> = accepted
                .iter()
                .filter(|r| r.event == "orders.created")
                .map(|r| r.body["entity_id"].as_str().unwrap_or_default().to_owned())
                .collect();
            let stock = accepted
                .iter()
                .filter(|r| r.body["entity_id"] == level_key.as_str())
                .count();
            placed.iter().all(|p| orders.contains(p)) && stock >= 5
        }
    })
    .await;
    let received = receiver.received();
    assert!(received.iter().any(|r| !r.accepted), "some attempts failed");
    let accepted = receiver.accepted();
    assert_once_and_in_order(&accepted);
    // A retried delivery was retried under its own id.
    let failed_ids: HashSet<&String> = received
        .iter()
        .filter(|r| !r.accepted)
        .map(|r| &r.delivery)
        .collect();
    assert!(accepted.iter().any(|r| failed_ids.contains(&r.delivery)));
    // The stock level's deliveries arrived in change order.
    let seqs: Vec<i64> = accepted
        .iter()
        .filter(|r| r.body["entity_id"] == level_key.as_str())
        .map(|r| r.body["seq"].as_i64().unwrap())
        .collect();
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    assert_eq!(seqs, sorted);
}
crate::both_backends!(
    retries_until_the_receiver_recovers,
    retries_until_the_receiver_recovers,
    super::quick
);

/// An endpoint whose every attempt fails is disabled; enabled again with the receiver back, the
/// waiting delivery arrives; a replay sends it again under the same delivery id.
async fn failing_endpoint_is_disabled_and_replay_resends(app: TestApp) {
    let token = app.login("admin").await;
    let receiver = Receiver::start().await;
    receiver.inner.lock().unwrap().after = Some(Answer::ServerError);
    let endpoint = register(&app, &token, &receiver, json!(["orders"])).await;
    let id = endpoint["id"].as_str().unwrap().to_owned();
    let (sku, _) = some_sku(&app).await;
    let order = place(&app, sku).await;
    wait_until("the endpoint disabled", Duration::from_secs(30), || {
        let app = &app;
        let token = token.clone();
        async move {
            let (_, list) = app.get("/api/v1/webhooks", Some(&token)).await;
            list.as_array()
                .into_iter()
                .flatten()
                .any(|e| e["status"] == "disabled" && e["disabled_reason"] == "persistent_failure")
        }
    })
    .await;
    assert!(receiver.accepted().is_empty());
    // Back up, enabled again: the waiting delivery arrives.
    receiver.inner.lock().unwrap().after = Some(Answer::Ok);
    let (status, body) = app
        .post(
            &format!("/api/v1/webhooks/{id}/enable"),
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "active");
    wait_until("the order delivered", Duration::from_secs(30), || {
        let receiver = receiver.clone();
        let order = order.clone();
        async move {
            receiver
                .accepted()
                .iter()
                .any(|r| r.body["entity_id"] == order.as_str())
        }
    })
    .await;
    let delivered = receiver
        .accepted()
        .into_iter()
        .find(|r| r.body["entity_id"] == order.as_str())
        .unwrap();
    // Replay: the same delivery id again.
    let (status, body) = app
        .post(
            &format!("/api/v1/webhook-deliveries/{}/replay", delivered.delivery),
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    wait_until("the replay received", Duration::from_secs(30), || {
        let receiver = receiver.clone();
        let delivery = delivered.delivery.clone();
        async move {
            receiver
                .accepted()
                .iter()
                .filter(|r| r.delivery == delivery)
                .count()
                == 2
        }
    })
    .await;
    let mut per_id: BTreeMap<String, usize> = BTreeMap::new();
    for r in receiver.accepted() {
        *per_id.entry(r.delivery).or_default() += 1;
    }
    assert_eq!(per_id.get(&delivered.delivery), Some(&2));
    let (status, _) = app
        .post(
            &format!("/api/v1/webhook-deliveries/{}/replay", Uuid::now_v7()),
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
crate::both_backends!(
    failing_endpoint_is_disabled_and_replay_resends,
    failing_endpoint_is_disabled_and_replay_resends,
    super::quick_disable
);

/// Bad registrations are refused naming the field, nothing stored; only head office may.
async fn bad_registrations_are_refused(app: TestApp) {
    let token = app.login("admin").await;
    for (body, field) in [
        (
            json!({"id": Uuid::now_v7(), "url": "ftp://x.example/hook", "events": ["orders"]}),
            "url",
        ),
        (
            json!({"id": Uuid::now_v7(), "url": "not a url", "events": ["orders"]}),
            "url",
        ),
        (
            json!({"id": Uuid::now_v7(), "url": "https://x.example/hook", "events": ["coupons"]}),
            "events",
        ),
        (
            json!({"id": Uuid::now_v7(), "url": "https://x.example/hook", "events": []}),
            "events",
        ),
    ] {
        let (status, answer) = app.post("/api/v1/webhooks", Some(&token), body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert!(answer["error"]["fields"].get(field).is_some(), "{answer}");
    }
    let (_, list) = app.get("/api/v1/webhooks", Some(&token)).await;
    assert_eq!(list, json!([]));
    // Idempotent by id: a retry answers the same endpoint, without the secret.
    let body = json!({"id": Uuid::now_v7(), "url": "https://x.example/hook", "events": ["stock"]});
    let (_, first) = app
        .post("/api/v1/webhooks", Some(&token), body.clone())
        .await;
    let (status, again) = app.post("/api/v1/webhooks", Some(&token), body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["id"], again["id"]);
    assert_eq!(again["created"], false);
    assert!(again["secret"].is_null());
    let manager = app.login("mgr.sh001").await;
    let (status, _) = app.get("/api/v1/webhooks", Some(&manager)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
crate::both_backends!(bad_registrations_are_refused, bad_registrations_are_refused);
