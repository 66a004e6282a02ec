//! A fake Pricer Plaza (the ESL vendor's public REST API) on a free port, for the server's real
//! ESL adapter (`retail_server::app::esl::pricer`). It speaks the documented wire format:
//!
//! - `GET /api/public/auth/v1/login` with HTTP Basic authentication: `200 {"token": <JWT>,
//!   "tokenType": "JWT"}` for the right account, `401` otherwise;
//! - `PATCH /<store>/api/public/core/v1/items` with `Authorization: Bearer <token>` and a JSON
//!   array of items (`itemId`, `itemName`, `price` a decimal string, `presentation`,
//!   `properties` an object of strings): `202 {"requestId": …}`; a missing or expired token
//!   `401`; a body that is not such an array `400` with an error object;
//! - `PATCH /<store>/api/public/core/v1/labels` with `[{"barcode", "links": [{"itemId"}]}]`:
//!   links labels to items (`202`), items must exist (`400` otherwise).
//!
//! A test can make it reject the next batches ([`FakePricer::reject_next`]) or expire the
//! tokens it issued ([`FakePricer::expire_tokens`]).
//!
//! ```ignore
//! async fn labels(app: TestServer) {
//!     let pricer = FakePricer::of(&app);
//!     // … link a label, change a price …
//!     assert_eq!(pricer.item("sh001", "300101-01").unwrap()["price"], "9.03");
//! }
//! retail_testkit::both_backends!(labels, labels, FakePricer::configure);
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use axum::Router;
use base64::Engine;
use retail_server::config::Settings;
use serde_json::{json, Value};

/// The API account the fake accepts.
pub const USERNAME: &str = "api@retail.test";
/// Its password.
pub const PASSWORD: &str = "pricer-Fake-7q";

#[derive(Debug, Default)]
struct Inner {
    tokens: HashSet<String>,
    /// store → itemId → item.
    items: HashMap<String, BTreeMap<String, Value>>,
    /// store → label barcode → itemId.
    links: HashMap<String, BTreeMap<String, String>>,
    /// Batches (item or label PATCHes) still to reject, and with which status.
    reject: Vec<u16>,
    /// Every request: (method path, status answered).
    log: Vec<(String, u16)>,
    logins: usize,
}

/// A fake Pricer Plaza (see the module documentation).
#[derive(Clone)]
pub struct FakePricer {
    /// Its base URL, `http://127.0.0.1:port`.
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

fn registry() -> &'static Mutex<HashMap<String, FakePricer>> {
    static FAKES: OnceLock<Mutex<HashMap<String, FakePricer>>> = OnceLock::new();
    FAKES.get_or_init(Default::default)
}

impl FakePricer {
    /// Starts a fake on a free port (on the current Tokio runtime).
    ///
    /// # Panics
    /// Outside a Tokio runtime, or when no port can be bound.
    pub fn start() -> FakePricer {
        let (addr, listener) = crate::fake_server::bind();
        let fake = FakePricer {
            url: format!("http://{addr}"),
            inner: Arc::default(),
        };
        let app = Router::new()
            .route("/api/public/auth/v1/login", get(login))
            .route("/{store}/api/public/core/v1/items", patch(items))
            .route("/{store}/api/public/core/v1/labels", patch(labels))
            .with_state(fake.inner.clone());
        crate::fake_server::serve(listener, app);
        registry()
            .lock()
            .expect("the registry")
            .insert(fake.url.clone(), fake.clone());
        fake
    }

    /// A `both_backends!` adjustment: starts a fake and points `[esl]` at it (vendor `pricer`,
    /// a fast worker: 50 ms ticks, retries after 1 s, no lead).
    pub fn configure(settings: &mut Settings) {
        let fake = Self::start();
        settings.esl.vendor = "pricer".into();
        settings.esl.pricer.auth_url = format!("{}/api/public/auth/v1/login", fake.url);
        settings.esl.pricer.store_url = format!("{}/{{store}}", fake.url);
        settings.esl.pricer.username = USERNAME.into();
        settings.esl.pricer.password = PASSWORD.into();
        settings.esl.tick_millis = 50;
        settings.esl.retry_secs = 1;
        settings.esl.max_retry_secs = 2;
        settings.esl.lead_secs = 0;
    }

    /// The fake a server's settings point at.
    ///
    /// # Panics
    /// When the settings were not made by [`FakePricer::configure`].
    pub fn of(server: &crate::TestServer) -> FakePricer {
        let auth = &server.settings.esl.pricer.auth_url;
        let url = auth.trim_end_matches("/api/public/auth/v1/login");
        registry()
            .lock()
            .expect("the registry")
            .get(url)
            .cloned()
            .expect("the server's ESL vendor is a fake started by FakePricer::configure")
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().expect("the fake's state"))
    }

    /// Rejects the next `n` item or label PATCHes with `status` (e.g. 500, or 400).
    pub fn reject_next(&self, n: usize, status: u16) {
        self.with(|i| i.reject.extend(std::iter::repeat_n(status, n)));
    }

    /// Forgets every token issued (the next PATCH answers 401 until the client logs in again).
    pub fn expire_tokens(&self) {
        self.with(|i| i.tokens.clear());
    }

    /// The item `item_id` of `store` (the Pricer store id, lower case) as last received.
    pub fn item(&self, store: &str, item_id: &str) -> Option<Value> {
        self.with(|i| i.items.get(store).and_then(|m| m.get(item_id)).cloned())
    }

    /// How many items `store` holds.
    pub fn item_count(&self, store: &str) -> usize {
        self.with(|i| i.items.get(store).map_or(0, BTreeMap::len))
    }

    /// The item a label of `store` is linked to.
    pub fn link(&self, store: &str, label: &str) -> Option<String> {
        self.with(|i| i.links.get(store).and_then(|m| m.get(label)).cloned())
    }

    /// Every request so far: (`METHOD path`, status answered).
    pub fn log(&self) -> Vec<(String, u16)> {
        self.with(|i| i.log.clone())
    }

    /// Log-ins so far.
    pub fn logins(&self) -> usize {
        self.with(|i| i.logins)
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        [("content-type", "application/json")],
        json!({ "status": status.as_u16(), "error": status.canonical_reason().unwrap_or(""), "message": message })
            .to_string(),
    )
        .into_response()
}

async fn login(State(inner): State<Arc<Mutex<Inner>>>, headers: HeaderMap) -> Response {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USERNAME}:{PASSWORD}"))
    );
    let mut i = inner.lock().expect("the fake's state");
    let ok = headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str());
    if !ok {
        i.log.push(("GET login".into(), 401));
        return error(StatusCode::UNAUTHORIZED, "Bad credentials");
    }
    i.logins += 1;
    let token = format!("eyJhbGciOiJIUzI1NiJ9.{}.sig", uuid::Uuid::now_v7().simple());
    i.tokens.insert(token.clone());
    i.log.push(("GET login".into(), 200));
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        json!({ "token": token, "tokenType": "JWT" }).to_string(),
    )
        .into_response()
}

/// Checks the bearer token and the fault injection; `Some` is the answer to give instead.
fn gate(i: &mut Inner, what: &str, headers: &HeaderMap) -> Option<Response> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !token.is_some_and(|t| i.tokens.contains(t)) {
        i.log.push((what.into(), 401));
        return Some(error(
            StatusCode::UNAUTHORIZED,
            "Full authentication is required",
        ));
    }
    if !i.reject.is_empty() {
        let status = i.reject.remove(0);
        i.log.push((what.into(), status));
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return Some(error(status, "batch rejected by the fake"));
    }
    None
}

fn accepted(i: &mut Inner, what: &str) -> Response {
    i.log.push((what.into(), 202));
    (
        StatusCode::ACCEPTED,
        [("content-type", "application/json")],
        json!({ "requestId": uuid::Uuid::now_v7().to_string() }).to_string(),
    )
        .into_response()
}

fn item_problem(item: &Value) -> Option<String> {
    let id = item.get("itemId").and_then(Value::as_str)?;
    if id.is_empty() {
        return Some("itemId is empty".into());
    }
    if let Some(price) = item.get("price") {
        let p = price.as_str()?;
        if p.parse::<f64>().is_err() {
            return Some(format!("price {p:?} is not a number"));
        }
    }
    if let Some(props) = item.get("properties") {
        let obj = props.as_object()?;
        if obj.values().any(|v| !v.is_string()) {
            return Some("properties must be strings".into());
        }
    }
    None
}

async fn items(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(store): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut i = inner.lock().expect("the fake's state");
    let what = format!("PATCH {store}/items");
    if let Some(r) = gate(&mut i, &what, &headers) {
        return r;
    }
    let Ok(Value::Array(list)) = serde_json::from_slice::<Value>(&body) else {
        i.log.push((what, 400));
        return error(
            StatusCode::BAD_REQUEST,
            "the body must be a JSON array of items",
        );
    };
    for item in &list {
        let problem = match item.get("itemId").and_then(Value::as_str) {
            None => Some("itemId is missing".to_owned()),
            Some(_) => item_problem(item)
                .or_else(|| (!item.is_object()).then(|| "an item must be an object".to_owned())),
        };
        if let Some(p) = problem {
            i.log.push((what, 400));
            return error(StatusCode::BAD_REQUEST, &p);
        }
    }
    let store_items = i.items.entry(store).or_default();
    for item in list {
        let id = item["itemId"].as_str().unwrap_or_default().to_owned();
        let merged = match store_items.remove(&id) {
            // PATCH semantics: properties merge, given fields replace.
            Some(mut old) => {
                if let (Some(o), Some(n)) = (old.as_object_mut(), item.as_object()) {
                    for (k, v) in n {
                        if k == "properties" {
                            let props = o.entry("properties").or_insert_with(|| json!({}));
                            if let (Some(po), Some(pn)) = (props.as_object_mut(), v.as_object()) {
                                for (pk, pv) in pn {
                                    po.insert(pk.clone(), pv.clone());
                                }
                            }
                        } else {
                            o.insert(k.clone(), v.clone());
                        }
                    }
                }
                old
            }
            None => item,
        };
        store_items.insert(id, merged);
    }
    accepted(&mut i, &what)
}

async fn labels(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(store): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut i = inner.lock().expect("the fake's state");
    let what = format!("PATCH {store}/labels");
    if let Some(r) = gate(&mut i, &what, &headers) {
        return r;
    }
    let Ok(Value::Array(list)) = serde_json::from_slice::<Value>(&body) else {
        i.log.push((what, 400));
        return error(
            StatusCode::BAD_REQUEST,
            "the body must be a JSON array of labels",
        );
    };
    let mut new_links = Vec::new();
    for label in &list {
        let barcode = label.get("barcode").and_then(Value::as_str);
        let item = label
            .get("links")
            .and_then(Value::as_array)
            .and_then(|l| l.first())
            .and_then(|l| l.get("itemId"))
            .and_then(Value::as_str);
        let known = item.is_some_and(|it| i.items.get(&store).is_some_and(|m| m.contains_key(it)));
        match (barcode, item) {
            (Some(b), Some(it)) if known && !b.is_empty() => {
                new_links.push((b.to_owned(), it.to_owned()))
            }
            _ => {
                i.log.push((what, 400));
                return error(
                    StatusCode::BAD_REQUEST,
                    "each label needs a barcode and a link to a known itemId",
                );
            }
        }
    }
    let links = i.links.entry(store).or_default();
    for (b, it) in new_links {
        links.insert(b, it);
    }
    accepted(&mut i, &what)
}
