//! A payment-code sale at the lane against the kit's fake WeChat Pay (issue 14): "adds ≤ 10 ms
//! of its own to the provider's answer time".
//!
//! A real in-process server (SQLite, demo chain) takes money through the real WeChat Pay client;
//! between it and the fake sits a timing proxy that measures, for every request, how long the
//! provider took to answer (from forwarding the request to having the whole answer). Each
//! measured sale: one line already rung up, then the lane core's whole path for the payment
//! code — classify the scan, journal the attempt (`code_payments` and the open sale,
//! `synchronous=FULL`), `POST /pos/payments/code` (the server validates, journals, signs the
//! request, calls the provider, verifies the signed answer, settles the payment), take the
//! tender, journal the completed sale and encode its receipt. Overhead = that total minus the
//! provider's answer time (so the proxy's own hop counts against us). Printing is excluded.
//!
//! `cargo bench -p pos-terminal --bench code_payment [-- --sales N]` (default 300, after 20
//! warm-up sales).

#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use pos_terminal::lane::{Lane, LaneSettings, PaymentOutcome, ScanOutcome};
use pos_terminal::server_api::ServerApi;
use pos_terminal::store::LaneDb;
use pos_terminal::sync;
use retail_devices::receipt::ReceiptLayout;
use retail_domain::barcode::VariableMeasureLayout;
use retail_domain::profiles::DeviceCatalog;
use retail_domain::wire::catalog::{ShelfStatus, SkuRecord};
use retail_domain::wire::sales::{CreateCodePayment, LanePaymentStatus};
use retail_testkit::payments::wechat_settings;
use retail_testkit::wechat_pay::FakeWechatPay;
use retail_testkit::TestServer;

/// Forwards every request to the fake provider and adds up how long the answers took.
#[derive(Clone)]
struct Proxy {
    upstream: String,
    client: reqwest::Client,
    spent_nanos: Arc<AtomicU64>,
}

impl Proxy {
    fn spent(&self) -> Duration {
        Duration::from_nanos(self.spent_nanos.load(Ordering::SeqCst))
    }
}

async fn forward(
    State(proxy): State<Proxy>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let url = format!(
        "{}{}",
        proxy.upstream,
        uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut request = proxy.client.request(method, url).body(body);
    for (name, value) in &headers {
        if name != axum::http::header::HOST && name != axum::http::header::CONTENT_LENGTH {
            request = request.header(name, value);
        }
    }
    let started = Instant::now();
    let answer = match request.send().await {
        Ok(r) => r,
        Err(e) => return (axum::http::StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let status = answer.status();
    let mut answer_headers = HeaderMap::new();
    for (name, value) in answer.headers() {
        if name != axum::http::header::CONTENT_LENGTH
            && name != axum::http::header::TRANSFER_ENCODING
        {
            answer_headers.insert(name, value.clone());
        }
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    proxy.spent_nanos.fetch_add(nanos, Ordering::SeqCst);
    (status, answer_headers, bytes).into_response()
}

async fn start_proxy(upstream: &str) -> (Proxy, String) {
    let proxy = Proxy {
        upstream: upstream.to_owned(),
        client: reqwest::Client::new(),
        spent_nanos: Arc::new(AtomicU64::new(0)),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(proxy.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (proxy, url)
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn summary(name: &str, mut values: Vec<Duration>) {
    values.sort();
    println!(
        "{name:<26} p50 {:>9}  p90 {:>9}  p99 {:>9}  max {:>9}",
        ms(percentile(&values, 0.5)),
        ms(percentile(&values, 0.9)),
        ms(percentile(&values, 0.99)),
        ms(*values.last().unwrap())
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let sales = arg("--sales", 300);
    let warm_up = 20;
    let fake = FakeWechatPay::start();
    let (proxy, proxy_url) = start_proxy(&fake.base_url).await;
    let keys = tempfile::tempdir().unwrap();
    let app = TestServer::sqlite_with(|s| {
        let mut wechat = wechat_settings(&fake, keys.path());
        wechat.base_url = proxy_url.clone();
        s.payments.wechat = wechat;
    })
    .await;
    let (_, credential) = app
        .register_device("mgr.sh001", "SH001", "pos", "Bench lane")
        .await;

    let dir = tempfile::tempdir().unwrap();
    let db = LaneDb::open(&dir.path().join("lane.db")).await.unwrap();
    let api = ServerApi::new(&app.url, &credential);
    db.save_identity(&api.identify().await.unwrap())
        .await
        .unwrap();
    sync::pull_catalog(&db, &api, |_| {}).await.unwrap();
    sync::refresh_context(&db, &api, "SH001", None)
        .await
        .unwrap();
    let catalog =
        DeviceCatalog::load_dir(&retail_testkit::firmware_dir().join("profiles")).unwrap();
    let settings = LaneSettings {
        store: "SH001".into(),
        store_name: "鲜邻超市 上海一店".into(),
        lane: 1,
        layouts: vec![VariableMeasureLayout::cn_default()],
        receipt_layout: ReceiptLayout::from_profile(&catalog.printers["epson-tm-t88v"]),
        footer: vec!["谢谢惠顾".into()],
    };
    let records: Vec<String> = sqlx::query_scalar("SELECT record FROM skus ORDER BY id")
        .fetch_all(db.pool())
        .await
        .unwrap();
    let barcode = records
        .iter()
        .map(|r| serde_json::from_str::<SkuRecord>(r).unwrap())
        .find(|s| !s.weighed && s.status == ShelfStatus::OnShelf && !s.barcodes.is_empty())
        .map(|s| s.barcodes[0].clone())
        .unwrap();
    let mut lane = Lane::open(db, settings).await.unwrap();
    lane.sign_in("cashier1.sh001", retail_testkit::server::DEMO_PIN)
        .unwrap();
    lane.set_online(true);

    let (mut totals, mut providers, mut overheads) = (Vec::new(), Vec::new(), Vec::new());
    let (mut journal_first, mut server_own, mut take_and_complete) =
        (Vec::new(), Vec::new(), Vec::new());
    for i in 0..warm_up + sales {
        lane.scan(&barcode).await.unwrap();
        let provider_before = proxy.spent();
        let started = Instant::now();
        let ScanOutcome::PaymentCode { provider, code } =
            lane.scan("134567890123456789").await.unwrap()
        else {
            panic!("not a payment code");
        };
        let pending = lane.begin_code_payment(provider, &code).await.unwrap();
        let journalled = started.elapsed();
        let paid = api
            .create_code_payment(&CreateCodePayment {
                id: pending.payment_id,
                sale_id: lane.basket().id,
                amount: pending.amount,
                auth_code: code,
            })
            .await
            .unwrap();
        assert_eq!(paid.status, LanePaymentStatus::Succeeded, "{paid:?}");
        let answered = started.elapsed();
        let outcome = lane
            .code_paid(
                pending.payment_id,
                paid.method,
                paid.provider_ref.clone().unwrap(),
            )
            .await
            .unwrap();
        assert!(matches!(outcome, PaymentOutcome::Completed(_)));
        let total = started.elapsed();
        let provider_time = proxy.spent() - provider_before;
        if i >= warm_up {
            journal_first.push(journalled);
            server_own.push((answered - journalled).saturating_sub(provider_time));
            take_and_complete.push(total - answered);
            totals.push(total);
            providers.push(provider_time);
            overheads.push(total.saturating_sub(provider_time));
        }
    }
    println!(
        "payment-code sales at the lane against the fake WeChat Pay: {sales} measured \
         (after {warm_up} warm-up)"
    );
    summary("total (scan → completed)", totals);
    summary("provider's answer time", providers);
    summary("lane + server overhead", overheads.clone());
    summary("  lane: scan + journal", journal_first);
    summary("  server (HTTP, no provider)", server_own);
    summary("  lane: take + complete", take_and_complete);
    let mean = overheads.iter().sum::<Duration>() / u32::try_from(overheads.len()).unwrap();
    println!("overhead mean {}", ms(mean));
    drop(app);
}
