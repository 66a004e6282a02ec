//! Issue 15's HTTP trust boundaries, each attacked over real sockets and refused: `/metrics`
//! (finding 15), return targets (16), staff log-in throttling per client address (20) and the
//! Mosquitto files the server writes (19). The import size limit (18) is in `web.rs`.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::TestApp;
use crate::web::{between, console, Browser};

const METRICS_TOKEN: &str = "metrics-token-for-the-tests-0123456789";

/// Another client address on the loopback network (Linux routes all of 127/8 to `lo`).
const OTHER_CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

fn with_metrics_token(s: &mut retail_server::config::Settings) {
    s.metrics.token = METRICS_TOKEN.into();
}

fn on_every_interface(s: &mut retail_server::config::Settings) {
    s.listen = SocketAddr::from(([0, 0, 0, 0], 0));
}

async fn get_metrics(app: &TestApp, base: &str, bearer: Option<&str>) -> (StatusCode, String) {
    let mut request = app.client.get(format!("{base}/metrics"));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let resp = request.send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

/// Every value of `label` in a Prometheus text exposition.
fn label_values(exposition: &str, label: &str) -> BTreeSet<String> {
    let start = format!("{label}=\"");
    exposition
        .match_indices(&start)
        .map(|(at, _)| {
            let rest = &exposition[at + start.len()..];
            rest[..rest.find('"').unwrap()].to_owned()
        })
        .collect()
}

/// Finding 15, part one: with `metrics.token` set, `/metrics` answers only that token or a
/// head-office session, from every address; and no request can add label values: made-up
/// methods count as `other`, unknown paths as `unmatched`.
async fn metrics_need_a_credential_and_labels_stay_bounded(app: TestApp) {
    for bearer in [None, Some("wrong-token"), Some("st_forged")] {
        let (status, body) = get_metrics(&app, &app.url, bearer).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bearer:?}");
        assert!(!body.contains("http_requests_total"), "{body}");
    }
    let cashier = app.login("cashier1.sh001").await;
    assert_eq!(
        get_metrics(&app, &app.url, Some(&cashier)).await.0,
        StatusCode::FORBIDDEN
    );
    let admin = app.login("admin").await;
    assert_eq!(
        get_metrics(&app, &app.url, Some(&admin)).await.0,
        StatusCode::OK
    );

    // The label explosion: made-up methods on a route and on unknown paths.
    let tag = uuid::Uuid::now_v7().simple().to_string()[20..].to_uppercase();
    for i in 0..25 {
        let method = reqwest::Method::from_bytes(format!("M{i}X{tag}").as_bytes()).unwrap();
        for path in ["/healthz".to_owned(), format!("/nowhere-{tag}-{i}")] {
            let resp = app
                .client
                .request(method.clone(), format!("{}{path}", app.url))
                .send()
                .await
                .unwrap();
            assert!(resp.status().is_client_error(), "{method} {path}");
        }
    }
    let (status, metrics) = get_metrics(&app, &app.url, Some(METRICS_TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(metrics.contains("http_requests_total"), "{metrics}");
    assert!(
        !metrics.contains(&tag),
        "no label carries what the client sent"
    );
    let methods = label_values(&metrics, "method");
    let allowed: BTreeSet<String> = [
        "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "other",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert!(methods.is_subset(&allowed), "{methods:?}");
    assert!(methods.contains("other"), "{methods:?}");
    let routes = label_values(&metrics, "route");
    assert!(routes.contains("unmatched"), "{routes:?}");
    assert!(
        routes
            .iter()
            .all(|r| r == "unmatched" || r.starts_with('/')),
        "{routes:?}"
    );
}
crate::both_backends!(
    metrics_need_a_credential_and_labels_stay_bounded,
    metrics_need_a_credential_and_labels_stay_bounded,
    crate::http_safety::with_metrics_token
);

/// This host's address on a non-loopback interface, if it has one (the address a UDP socket
/// would send from; nothing is sent).
fn non_loopback_address() -> Option<IpAddr> {
    ["192.0.2.1:9", "10.255.255.1:9", "8.8.8.8:53"]
        .into_iter()
        .find_map(|target| {
            let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
            socket.connect(target).ok()?;
            let ip = socket.local_addr().ok()?.ip();
            (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
        })
}

/// Finding 15, part two: without a token, `/metrics` answers a scraper on this host (a
/// loopback peer) or head office, and refuses an anonymous client on the network.
async fn metrics_without_a_token_are_local_only(app: TestApp) {
    let port = app.addr().port();
    let Some(lan) = non_loopback_address() else {
        assert!(
            std::env::var("CI").is_err(),
            "CI=true: this test needs a non-loopback interface"
        );
        eprintln!("SKIPPED: no non-loopback interface to reach the server from the network");
        return;
    };
    let from_network = format!("http://{}", SocketAddr::new(lan, port));
    let local = format!("http://127.0.0.1:{port}");
    let (status, body) = get_metrics(&app, &from_network, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(!body.contains("http_requests_total"));
    // A metrics token is not configured, so none is accepted.
    assert_eq!(
        get_metrics(&app, &from_network, Some(METRICS_TOKEN))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let admin = app.login("admin").await;
    assert_eq!(
        get_metrics(&app, &from_network, Some(&admin)).await.0,
        StatusCode::OK
    );
    let (status, body) = get_metrics(&app, &local, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("http_requests_total"));
}
crate::both_backends!(
    metrics_without_a_token_are_local_only,
    metrics_without_a_token_are_local_only,
    crate::http_safety::on_every_interface
);

/// Open-redirect vectors as an attacker writes them in a query string.
const VECTORS: &[&str] = &[
    "//evil.example",
    "/%09/evil.example",
    "%09//evil.example",
    "/%5Cevil.example",
    "/%5C/evil.example",
    "https://evil.example",
    "https%3A%2F%2Fevil.example",
    "/%2F%2Fevil.example",
    "/%252F%252Fevil.example",
    "/%0D%0ALocation:%20https://evil.example",
    "/%0A/evil.example",
    "/%20/evil.example",
    "javascript:alert(1)",
];

/// A vector as the form or query extractor decodes it.
fn decoded(vector: &str) -> String {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(&format!("back={vector}")).unwrap();
    pairs[0].1.clone()
}

fn hidden_back(body: &str) -> &str {
    between(body, "name=\"back\" value=\"", "\"")
}

/// Finding 16: every `back` a page takes — the language switch, the shop's and the console's
/// log-in pages and forms, the cart — goes to a same-site path; every vector lands on `/` (or
/// the console's home), while a good return target is kept.
async fn return_targets_stay_on_this_site(app: TestApp) {
    let mut b = Browser::new(&app);
    // Good targets are kept (so the refusals below mean something).
    let page = b.get("/lang/en?back=/console/login").await;
    assert_eq!(page.location.as_deref(), Some("/console/login"));
    assert_eq!(hidden_back(&b.get("/login?back=/me").await.body), "/me");
    assert_eq!(
        hidden_back(&b.get("/console/login?back=/console/orders").await.body),
        "/console/orders"
    );
    for vector in VECTORS {
        let page = b.get(&format!("/lang/en?back={vector}")).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{vector}");
        assert_eq!(page.location.as_deref(), Some("/"), "/lang {vector}");
        let page = b.get(&format!("/login?back={vector}")).await;
        assert_eq!(hidden_back(&page.body), "/", "/login {vector}");
        let page = b.get(&format!("/console/login?back={vector}")).await;
        assert_eq!(hidden_back(&page.body), "/", "/console/login {vector}");
    }

    // The forms: the console log-in and the cart with each vector as the posted value.
    let sku = crate::web::a_sku(&app, "纯牛奶").await.1.to_string();
    let mut staff = Browser::new(&app);
    for vector in VECTORS {
        let back = decoded(vector);
        let page = staff
            .post_csrf(
                "/console/login",
                &[
                    ("username", "mgr.sh001"),
                    ("password", "demo1234"),
                    ("back", &back),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{vector}");
        assert_eq!(page.location.as_deref(), Some("/console"), "{vector}");
        let page = b
            .post_csrf("/cart/add", &[("sku", &sku), ("qty", "1"), ("back", &back)])
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{vector}");
        assert_eq!(page.location.as_deref(), Some("/?added=1"), "{vector}");
    }
    // The shop's log-in form (sandbox SMS code), with two of them.
    for (i, vector) in ["/%09/evil.example", "//evil.example"].iter().enumerate() {
        let phone = format!("1390000{:04}", 7100 + i);
        let mut shopper = Browser::new(&app);
        let page = shopper.post_csrf("/login/code", &[("phone", &phone)]).await;
        let code = between(&page.body, "id=\"sms-code\">", "<").to_owned();
        let page = shopper
            .post_csrf(
                "/login",
                &[
                    ("phone", &phone),
                    ("code", &code),
                    ("back", &decoded(vector)),
                    ("consent", "on"),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{vector}");
        assert_eq!(page.location.as_deref(), Some("/"), "{vector}");
    }
}
crate::both_backends!(
    return_targets_stay_on_this_site,
    return_targets_stay_on_this_site
);

/// Logs in through the API from `from`: status, `Retry-After`, body.
async fn api_login(
    app: &TestApp,
    from: IpAddr,
    username: &str,
    password: &str,
) -> (StatusCode, Option<u64>, Value) {
    let client = reqwest::Client::builder()
        .local_address(from)
        .build()
        .unwrap();
    let resp = client
        .post(format!("{}/api/v1/auth/login", app.url))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
    (status, retry_after, resp.json().await.unwrap())
}

async fn session_count(app: &TestApp) -> i64 {
    let mut tx = app.state.store.begin().await.unwrap();
    let row = sqlx::query("SELECT COUNT(*) AS n FROM staff_sessions")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    sqlx::Row::get::<i64, _>(&row, "n")
}

fn assert_throttled(status: StatusCode, retry_after: Option<u64>, what: &str) {
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{what}");
    assert!(
        retry_after.is_some_and(|s| (1..=60).contains(&s)),
        "{what}: Retry-After {retry_after:?}"
    );
}

/// Finding 20 over the API: guessing a manager's password from one address throttles that
/// address (429 with `Retry-After`, even for the right password, no session opened) while
/// the manager logs in from another; past the per-address limit the attacker's address is
/// throttled for every user name, and nobody else is.
async fn login_guessing_throttles_the_guesser_not_the_user(app: TestApp) {
    let attacker = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let per_user = app.settings.auth.login_attempts_per_minute;
    let per_address = app.settings.auth.login_attempts_per_address_per_minute;
    assert!(per_user < per_address);
    for _ in 0..per_user {
        let (status, _, _) = api_login(&app, attacker, "mgr.sh001", "guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let before = session_count(&app).await;
    let (status, retry, body) = api_login(&app, attacker, "mgr.sh001", "guess").await;
    assert_throttled(status, retry, "the next guess");
    assert_eq!(body["error"]["code"], "rate_limited");
    let (status, retry, _) = api_login(&app, attacker, "mgr.sh001", "demo1234").await;
    assert_throttled(status, retry, "even the right password from the attacker");
    assert_eq!(session_count(&app).await, before, "no session opened");

    // The manager, from elsewhere, is not locked out.
    let (status, _, body) = api_login(&app, OTHER_CLIENT, "mgr.sh001", "demo1234").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(session_count(&app).await, before + 1);

    // Spraying other user names from the same address: throttled at the per-address limit.
    let mut failures = per_user + 2;
    let mut i = 0;
    loop {
        let (status, retry, _) = api_login(&app, attacker, &format!("spray{i}"), "guess").await;
        i += 1;
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert_throttled(status, retry, "spraying");
            break;
        }
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        failures += 1;
        assert!(failures <= per_address, "never throttled per address");
    }
    assert_eq!(failures, per_address, "throttled exactly at the limit");
    let (status, retry, _) = api_login(&app, attacker, "cashier1.sh001", "demo1234").await;
    assert_throttled(status, retry, "any user from the throttled address");
    let (status, _, _) = api_login(&app, OTHER_CLIENT, "cashier1.sh001", "demo1234").await;
    assert_eq!(status, StatusCode::OK);
}
crate::both_backends!(
    login_guessing_throttles_the_guesser_not_the_user,
    login_guessing_throttles_the_guesser_not_the_user
);

/// Logs in through the API from this host with `X-Forwarded-For: forwarded`: the status.
async fn login_forwarded_for(app: &TestApp, forwarded: &str, password: &str) -> StatusCode {
    reqwest::Client::new()
        .post(format!("{}/api/v1/auth/login", app.url))
        .header("x-forwarded-for", forwarded)
        .json(&json!({"username": "mgr.sh001", "password": password}))
        .send()
        .await
        .unwrap()
        .status()
}

fn behind_this_host(s: &mut retail_server::config::Settings) {
    s.cluster.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
}

/// Behind a trusted proxy (here: this host) the limits count the address the proxy forwarded
/// for: a guesser behind the load balancer is throttled, the manager behind the same load
/// balancer is not, and a first hop the guesser wrote into the header changes nothing.
async fn behind_a_trusted_proxy_the_forwarded_address_is_throttled(app: TestApp) {
    for _ in 0..app.settings.auth.login_attempts_per_minute {
        let status = login_forwarded_for(&app, "203.0.113.7", "guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        login_forwarded_for(&app, "203.0.113.7", "demo1234").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login_forwarded_for(&app, "198.51.100.1, 203.0.113.7", "demo1234").await,
        StatusCode::TOO_MANY_REQUESTS,
        "a forged first hop is not the address"
    );
    assert_eq!(
        login_forwarded_for(&app, "198.51.100.2", "demo1234").await,
        StatusCode::OK,
        "another shopper behind the same proxy"
    );
}
crate::both_backends!(
    behind_a_trusted_proxy_the_forwarded_address_is_throttled,
    behind_a_trusted_proxy_the_forwarded_address_is_throttled,
    super::behind_this_host
);

/// Without trusted proxies (the default) `X-Forwarded-For` is the client's own words and
/// changes nothing: guesses "from" many addresses are all counted against the peer.
async fn without_trusted_proxies_the_header_is_ignored(app: TestApp) {
    let per_user = app.settings.auth.login_attempts_per_minute;
    for i in 0..per_user {
        let status = login_forwarded_for(&app, &format!("203.0.113.{i}"), "guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        login_forwarded_for(&app, "198.51.100.2", "demo1234").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}
crate::both_backends!(
    without_trusted_proxies_the_header_is_ignored,
    without_trusted_proxies_the_header_is_ignored
);

/// Finding 20 on the console's log-in page: the same limits, a 429 page with `Retry-After`
/// for the guessing browser, the manager logging in from another address.
async fn console_login_guessing_throttles_the_guesser(app: TestApp) {
    let mut attacker = Browser::new(&app);
    let form = |password: &'static str| {
        [
            ("username", "mgr.sh001"),
            ("password", password),
            ("back", "/console"),
        ]
    };
    for _ in 0..app.settings.auth.login_attempts_per_minute {
        let page = attacker.post_csrf("/console/login", &form("guess")).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.body.contains("data-field=\"password\""),
            "wrong password shown"
        );
    }
    let before = session_count(&app).await;
    for password in ["guess", "demo1234"] {
        let page = attacker.post_csrf("/console/login", &form(password)).await;
        assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS, "{password}");
        let retry: u64 = page.retry_after.as_deref().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry));
    }
    assert_eq!(session_count(&app).await, before, "no session opened");
    let mut manager = Browser::from_address(&app, OTHER_CLIENT);
    let page = manager.post_csrf("/console/login", &form("demo1234")).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location.as_deref(), Some("/console"));
    assert_eq!(manager.get("/console").await.status, StatusCode::OK);
    // A head-office account on the page is not affected either.
    console(&app, "admin").await;
}
crate::both_backends!(
    console_login_guessing_throttles_the_guesser,
    console_login_guessing_throttles_the_guesser
);

fn mosquitto_files_kept(s: &mut retail_server::config::Settings) {
    let port = retail_testkit::free_port().unwrap();
    s.mqtt.enabled = true;
    s.mqtt.url = format!(
        "mqtt://server:{}@127.0.0.1:{port}",
        uuid::Uuid::now_v7().simple()
    );
    s.mqtt.mosquitto_dir = s.data_dir.join("mosquitto").display().to_string();
}

/// Finding 19: the server rewrites Mosquitto's files on every registration as new files created
/// 0600, renamed over the old ones: a world-readable old file (held open by a local user) never
/// receives the new passwords, no file in the folder is ever readable by others (a watcher
/// looks all along), and no temporary file is left behind.
#[cfg(unix)]
async fn mosquitto_files_are_private_from_the_start(app: TestApp) {
    use std::os::unix::fs::PermissionsExt as _;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let dir = std::path::PathBuf::from(&app.settings.mqtt.mosquitto_dir);
    std::fs::create_dir_all(&dir).unwrap();
    let passwords = dir.join("passwords");
    std::fs::write(&passwords, "old\n").unwrap();
    std::fs::set_permissions(&passwords, std::fs::Permissions::from_mode(0o644)).unwrap();
    let held = std::fs::File::open(&passwords).unwrap();

    let planted = std::os::unix::fs::MetadataExt::ino(&held.metadata().unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (dir, stop) = (dir.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut exposed = BTreeSet::new();
            let mut looks = 0u64;
            while !stop.load(Ordering::Relaxed) || looks == 0 {
                looks += 1;
                for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                    let Ok(meta) = entry.metadata() else {
                        continue; // renamed away meanwhile
                    };
                    let ino = std::os::unix::fs::MetadataExt::ino(&meta);
                    if ino != planted && meta.permissions().mode() & 0o077 != 0 {
                        exposed.insert(entry.file_name().to_string_lossy().into_owned());
                    }
                }
            }
            (exposed, looks)
        })
    };
    let mut devices = Vec::new();
    for store in ["SH001", "SH002", "SH001"] {
        devices.push(crate::bus::register_at(&app, store).await.0);
    }
    stop.store(true, Ordering::Relaxed);
    let (exposed, looks) = watcher.join().unwrap();
    assert!(exposed.is_empty(), "readable by others: {exposed:?}");
    assert!(looks > 0);

    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&passwords), 0o600);
    assert_eq!(mode(&dir.join("acl")), 0o600);
    let written = std::fs::read_to_string(&passwords).unwrap();
    for device in &devices {
        assert!(written.contains(&format!("{device}:$7$")), "{written}");
    }
    let mut old = String::new();
    std::io::Read::read_to_string(&mut &held, &mut old).unwrap();
    assert_eq!(
        old, "old\n",
        "the old world-readable file never got the passwords"
    );
    let names: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["acl".to_owned(), "passwords".to_owned()])
    );
}
#[cfg(unix)]
crate::both_backends!(
    mosquitto_files_are_private_from_the_start,
    mosquitto_files_are_private_from_the_start,
    crate::http_safety::mosquitto_files_kept
);

/// Cookies travel over HTTPS only, and browsers are told to stay on HTTPS, when the server's
/// public address is `https://`; a plain-HTTP demo is unchanged.
async fn cookies_are_secure_behind_https(app: TestApp) {
    let resp = app
        .client
        .get(format!("{}/", app.url))
        .send()
        .await
        .unwrap();
    let cookies: Vec<String> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(!cookies.is_empty(), "the shop sets its session cookie");
    assert!(
        cookies.iter().all(|c| c.contains("; Secure")),
        "{cookies:?}"
    );
    assert_eq!(
        resp.headers()
            .get("strict-transport-security")
            .and_then(|v| v.to_str().ok()),
        Some("max-age=31536000")
    );
}
crate::both_backends!(
    cookies_are_secure_behind_https,
    cookies_are_secure_behind_https,
    |s: &mut retail_server::config::Settings| s.public_url = "https://shop.example".into()
);

async fn plain_http_has_no_hsts(app: TestApp) {
    let resp = app
        .client
        .get(format!("{}/", app.url))
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("strict-transport-security").is_none());
    assert!(resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .all(|v| !v.to_str().unwrap().contains("Secure")));
}
crate::both_backends!(plain_http_has_no_hsts, plain_http_has_no_hsts);
