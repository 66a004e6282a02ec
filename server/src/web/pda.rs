//! The handheld page for store staff (`/console/pda`, issue 21): cycle counts by zone, receiving against
//! a transfer or a supplier delivery, requisitions (要货) to the warehouse, shrink (报损) with
//! photos, splitting and re-packing (组装拆分), and price checks; one scan field a hardware
//! scanner types into (a code and Enter), and the camera where the browser has
//! `BarcodeDetector`.
//!
//! Nothing scanned is lost in a short network drop: every write is queued in the browser's
//! `localStorage` with its client id (UUIDv7) before it is sent, and the queue is replayed in
//! order until the server answers; the server stores each write once by its id, so a replay of
//! something that did arrive (a lost answer) changes nothing. A refused write (unknown code,
//! negative quantity, more than on hand) leaves the queue and is listed as refused, with the
//! server's message.
//!
//! The JSON endpoints under `/console/pda/api/` (docs/CONTRACTS.md) take the console's log-in cookie with
//! the page's CSRF token in `X-CSRF-Token`, or a staff bearer token (`Authorization: Bearer
//! st_…`, as the API), and answer the API's JSON and error shape. They call
//! [`crate::app::store_ops`].

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use maud::{html, PreEscaped, DOCTYPE};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use uuid::Uuid;

use super::{check_csrf, cookie, html_response, Ctx, Sid, Staff, WebResult};
use crate::actor::{Role, StaffActor};
use crate::app::store_ops::{
    self, OpenCountRequest, ReceiveRequest, RepackRequest, RequisitionRequest, ScanRequest,
    ShrinkRequest,
};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::secrets::token_hash;
use crate::storage;

/// The PDA's routes: the page, its script and its JSON endpoints.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/pda", get(page))
        .route("/static/pda.js", get(script))
        .route("/console/pda/api/price", get(price))
        .route("/console/pda/api/counts", post(open_count))
        .route("/console/pda/api/counts/{id}", get(count))
        .route("/console/pda/api/counts/{id}/scans", post(scan))
        .route("/console/pda/api/counts/{id}/submit", post(submit))
        .route("/console/pda/api/counts/{id}/approve", post(approve))
        .route("/console/pda/api/receivables", get(receivables))
        .route("/console/pda/api/receivings", post(receive))
        .route("/console/pda/api/requisitions", post(requisition))
        .route("/console/pda/api/shrink", post(shrink))
        .route("/console/pda/api/photos", post(photo))
        .route("/console/pda/api/repacks", post(repack))
}

/// The caller of a `/console/pda/api/` endpoint: a staff bearer token, or the console's cookie with the
/// page's CSRF token in `X-CSRF-Token`.
pub struct PdaStaff(pub StaffActor);

impl FromRequestParts<AppState> for PdaStaff {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> AppResult<Self> {
        if parts.headers.contains_key(AUTHORIZATION) {
            return StaffActor::from_request_parts(parts, state).await.map(Self);
        }
        let token = cookie(&parts.headers, "console")
            .filter(|t| t.starts_with("st_") && t.len() < 200)
            .ok_or_else(|| AppError::Unauthorized("log in to the console first".into()))?;
        let actor = storage::staff::session_actor(&state.store, &token_hash(token))
            .await?
            .ok_or_else(|| AppError::Unauthorized("session expired, log in again".into()))?;
        if actor.must_change_password {
            return Err(AppError::Forbidden(
                "an administrator reset your password: choose a new one first".into(),
            ));
        }
        let sid = parts
            .extensions
            .get::<Sid>()
            .map(|s| s.0.clone())
            .unwrap_or_default();
        let given = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok());
        check_csrf(state, &sid, given).map_err(|_| {
            AppError::Forbidden("missing or stale X-CSRF-Token: reload the page".into())
        })?;
        Ok(Self(actor))
    }
}

/// A JSON body read into `T`; malformed JSON or a NUL character is a 400 in the API's shape.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned + Send> axum::extract::FromRequest<AppState> for Body<T> {
    type Rejection = AppError;

    async fn from_request(req: axum::extract::Request, state: &AppState) -> AppResult<Self> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| AppError::bad_request("invalid_json", "the body could not be read"))?;
        if bytes.contains(&0) || bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
            return Err(AppError::bad_request(
                "invalid_json",
                "text may not hold a NUL character",
            ));
        }
        serde_json::from_slice(&bytes)
            .map(Self)
            .map_err(|e| AppError::bad_request("invalid_json", format!("invalid JSON body: {e}")))
    }
}

#[derive(Debug, Deserialize)]
struct StoreParams {
    store: Option<String>,
    code: Option<String>,
}

/// The store a request is for: store staff their own, head office the one named.
fn store_of(staff: &StaffActor, named: Option<&str>) -> AppResult<String> {
    match (staff.role, named.filter(|n| !n.is_empty())) {
        (Role::HeadOfficeAdmin, Some(n)) => Ok(n.to_owned()),
        (Role::HeadOfficeAdmin, None) => Err(AppError::field("store", "name the store")),
        (_, named) => {
            let own = staff
                .location_id
                .clone()
                .ok_or_else(|| AppError::Forbidden("no store of your own".into()))?;
            if let Some(n) = named {
                staff.require_store(n)?;
            }
            Ok(own)
        }
    }
}

async fn price(
    State(state): State<AppState>,
    PdaStaff(staff): PdaStaff,
    Query(p): Query<StoreParams>,
) -> AppResult<Response> {
    let store = store_of(&staff, p.store.as_deref())?;
    let checked =
        store_ops::price_check(&state, &staff, &store, p.code.as_deref().unwrap_or("")).await?;
    Ok(Json(checked).into_response())
}

async fn open_count(
    State(state): State<AppState>,
    PdaStaff(staff): PdaStaff,
    Body(req): Body<OpenCountRequest>,
) -> AppResult<Response> {
    Ok(Json(store_ops::open_count(&state, &staff, &req).await?).into_response())
}

async fn count(
    State(state): State<AppState>,
    PdaStaff(staff): PdaStaff,
    Path(id): Path<Uuid>,
) -> AppResult<Response> {
    Ok(Json(store_ops::count_session(&state, &staff, id).await?).into_response())
}

async fn scan(
    State(state): State<AppState>,
    PdaStaff(staff): PdaStaff,
    Path(id): Path<Uuid>,
    Body(req): Body<ScanRequest>,
) -> AppResult<Response> {
    Ok(Json(store_ops::scan(&state, &staff, id, &req).await?).into_response())
}

async fn submit(
    State(state): State<AppState>,
    PdaStaff(staff): PdaStaff,
    Path(id): Path<Uuid>,
) -> AppResult<Response> {
    Ok(Json(store_ops::submit_count(&state, &staff, id).await?).into_response())
}

async fn approve(
    State(state): State<AppState>,
    PdaStaff(staff): PdaStaff,
    Path(id): Path<Uuid>,
) -> AppResult<Response> {
    Ok(Json(store_ops::approve_count(&state, &staff, id).await?).into_response())
}

async fn receivables(
    State(state): State<AppState>,
    PdaStaff(staff): PdaStaff,
    Query(p): Query<StoreParams>,
) -> AppResult<Response> {
    let store = store_of(&staff, p.store.as_deref())?;
    Ok(Json(store_ops::receivables(&state, &staff, &store).await?).into_response())
}

async fn receive(
    State(state): State<AppState>,
    PdaStaff(staff): PdaStaff,
    Body(req): Body<ReceiveRequest>,
) -> AppResult<Response> {
    Ok(Json(store_ops::receive(&state, &staff, &req).await?).into_response())
}

async fn requisition(
    State(state): State<AppState>,
    PdaStaff(staff): PdaStaff,
    Body(req): Body<RequisitionRequest>,
) -> AppResult<Response> {
    Ok(Json(store_ops::create_requisition(&state, &staff, &req).await?).into_response())
}

async fn shrink(
    State(state): State<AppState>,
    PdaStaff(staff): PdaStaff,
    Body(req): Body<ShrinkRequest>,
) -> AppResult<Response> {
    Ok(Json(store_ops::shrink(&state, &staff, &req).await?).into_response())
}

async fn photo(
    State(state): State<AppState>,
    PdaStaff(_staff): PdaStaff,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    super::chat_socket::keep_image(&state, body).await
}

async fn repack(
    State(state): State<AppState>,
    PdaStaff(staff): PdaStaff,
    Body(req): Body<RepackRequest>,
) -> AppResult<Response> {
    Ok(Json(store_ops::repack(&state, &staff, &req).await?).into_response())
}

/// `GET /static/pda.js`.
async fn script() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=300"),
        ],
        PDA_JS,
    )
}

#[derive(Debug, Deserialize, Default)]
struct PageParams {
    store: Option<String>,
}

/// `GET /console/pda`: the handheld page (store staff of their store; head office names one).
async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<PageParams>,
) -> WebResult<Response> {
    let store = match staff.role {
        Role::HeadOfficeAdmin => p.store.clone().unwrap_or_else(|| "SH001".to_owned()),
        _ => store_of(&staff, p.store.as_deref())?,
    };
    let receivables = store_ops::receivables(&state, &staff, &store).await?;
    let counts: Vec<_> =
        storage::store_ops::list_counts(&state.store, Some(&store), Some("open")).await?;
    let warehouses: Vec<_> = storage::locations::list(&state.store)
        .await?
        .into_iter()
        .filter(|l| l.kind == "warehouse")
        .collect();
    let data = serde_json::json!({
        "receivables": receivables,
        "counts": counts.iter().map(|c| serde_json::json!({"id": c.id, "zone": c.zone})).collect::<Vec<_>>(),
    });
    // `</` cannot end the script element early.
    let data = data.to_string().replace("</", "<\\/");
    let t = |zh, en| ctx.t(zh, en);
    let tab = |id: &str, zh: &'static str, en: &'static str| {
        html! { button.tab type="button" data-tab=(id) id={ "tab-btn-" (id) } { (t(zh, en)) } }
    };
    Ok(html_response(html! {
        (DOCTYPE)
        html lang=(ctx.lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (t("门店手持终端", "Store handheld")) }
                link rel="stylesheet" href="/static/app.css";
                style { (PreEscaped(PDA_CSS)) }
            }
            body.pda {
                div #pda data-store=(store) data-csrf=(ctx.csrf) data-lang=(ctx.lang.code())
                    data-offline=(t("离线：扫描已保存，联网后自动上传", "Offline: scans are kept and sent when back online"))
                    data-online=(t("在线", "Online"))
                    data-refused=(t("被拒绝", "Refused"))
                    data-sent=(t("已上传", "Sent")) {
                    header.pda-bar {
                        b { (t("鲜邻 PDA", "FreshNeighbour PDA")) " · " (store) }
                        span.muted { " " (staff.display_name) }
                        span #net.net { (t("在线", "Online")) }
                        span { (t("待上传", "Queued")) " " b #queue-count { "0" } }
                        a href="/console" { (t("后台", "Console")) }
                    }
                    nav.pda-tabs {
                        (tab("count", "盘点", "Count"))
                        (tab("receive", "收货", "Receive"))
                        (tab("requisition", "要货", "Requisition"))
                        (tab("shrink", "报损", "Shrink"))
                        (tab("repack", "拆分组装", "Split / pack"))
                        (tab("price", "查价", "Price"))
                    }
                    form.card.scan-bar #scan-form autocomplete="off" {
                        input #scan name="code" placeholder=(t("扫描或输入条码", "Scan or type a code")) autofocus enterkeyhint="enter";
                        input #qty type="number" inputmode="numeric" value="1" aria-label=(t("数量", "Quantity"));
                        button.btn type="submit" #scan-go { (t("确定", "OK")) }
                        button.btn.secondary type="button" #camera { (t("摄像头", "Camera")) }
                        video #camera-view hidden playsinline muted {}
                    }
                    p #scan-error.notice.err role="alert" hidden {}

                    section #pane-count data-pane="count" {
                        div.row {
                            input #zone placeholder=(t("区域（如 A1 冷柜）", "Zone (e.g. A1 chiller)"));
                            button.btn type="button" #open-count { (t("开始盘点", "Start count")) }
                        }
                        div.row {
                            label for="count-session" { (t("盘点单", "Count")) }
                            select #count-session {}
                            button.btn.secondary type="button" #submit-count { (t("提交审核", "Submit for approval")) }
                        }
                        table #count-lines {}
                    }
                    section #pane-receive data-pane="receive" hidden {
                        div.row {
                            select #receivable {}
                            button.btn.secondary type="button" #refresh-receivables { (t("刷新", "Refresh")) }
                        }
                        table #receive-lines {}
                        input #receive-note placeholder=(t("备注", "Note"));
                        button.btn type="button" #post-receive { (t("确认收货", "Post receipt")) }
                        div #receive-result {}
                    }
                    section #pane-requisition data-pane="requisition" hidden {
                        div.row {
                            label for="warehouse" { (t("向仓库要货", "From warehouse")) }
                            select #warehouse { @for w in &warehouses { option value=(w.id) { (w.id) " " (ctx.lang.pick(&w.name_zh, &w.name_en)) } } }
                        }
                        table #req-lines {}
                        input #req-note placeholder=(t("备注", "Note"));
                        button.btn type="button" #post-req { (t("提交要货", "Send requisition")) }
                    }
                    section #pane-shrink data-pane="shrink" hidden {
                        div.row {
                            input #shrink-code placeholder=(t("扫描商品", "Scan the item")) readonly;
                            select #shrink-reason {
                                option value="expired" { (t("过期", "Expired")) }
                                option value="damaged" { (t("破损", "Damaged")) }
                                option value="quality" { (t("质量问题", "Quality")) }
                                option value="theft" { (t("被盗", "Theft")) }
                                option value="other" { (t("其他", "Other")) }
                            }
                        }
                        input #shrink-note placeholder=(t("说明", "Note"));
                        label { (t("照片", "Photo")) " " input #shrink-photo type="file" accept="image/*" capture="environment"; }
                        span #shrink-photos.muted {}
                        button.btn type="button" #post-shrink { (t("报损", "Write off")) }
                    }
                    section #pane-repack data-pane="repack" hidden {
                        div.row {
                            label { input type="radio" name="repack-side" value="in" checked; (t("拆出/投入（减库存）", "Take (stock down)")) }
                            label { input type="radio" name="repack-side" value="out"; (t("产出（加库存）", "Make (stock up)")) }
                        }
                        table #repack-lines {}
                        input #repack-note placeholder=(t("备注", "Note"));
                        button.btn type="button" #post-repack { (t("确认拆分/组装", "Post split / pack")) }
                    }
                    section #pane-price data-pane="price" hidden {
                        div #price-result.card {}
                    }
                    h3 { (t("已上传", "Sent")) " " b #sent-count { "0" } }
                    ul #sent-log {}
                    h3 { (t("被拒绝", "Refused")) }
                    ul #refused {}
                    script #pda-data type="application/json" { (PreEscaped(data)) }
                }
                script src="/static/pda.js" {}
            }
        }
    }))
}

const PDA_CSS: &str = r#"
body.pda{margin:0;font-size:16px}
.pda-bar{display:flex;gap:10px;flex-wrap:wrap;align-items:center;padding:8px 10px;background:#0a7d4f;color:#fff}
.pda-bar a{color:#fff}
.pda .net{padding:1px 8px;border-radius:10px;background:#e6f6ee;color:#0a7d4f}
.pda .net.off{background:#fdecea;color:#b3261e}
.pda-tabs{display:flex;flex-wrap:wrap;gap:4px;padding:6px}
.pda-tabs .tab{flex:1 1 30%;padding:10px 4px;border:1px solid #ccc;background:#fff;border-radius:6px}
.pda-tabs .tab.on{background:#0a7d4f;color:#fff}
.pda section,.pda h3,.pda ul,.pda .scan-bar,.pda #scan-error{margin:6px 10px}
.pda .scan-bar{display:flex;flex-wrap:wrap;gap:6px}
.pda #scan{flex:1 1 60%;font-size:18px;padding:10px}
.pda #qty{width:70px;font-size:18px}
.pda #camera-view{width:100%;max-height:220px}
.pda .row{display:flex;flex-wrap:wrap;gap:6px;align-items:center;margin:6px 0}
.pda table{width:100%;border-collapse:collapse}
.pda td,.pda th{border-bottom:1px solid #eee;padding:4px;text-align:left}
.pda td.num,.pda th.num{text-align:right}
.pda .diff{color:#b3261e;font-weight:bold}
.pda input[type=number].cell{width:70px}
"#;

const PDA_JS: &str = r#"
// The store handheld (/console/pda): one scan field (a hardware scanner types a code and Enter; the
// camera where BarcodeDetector exists), six tasks, and an outbox in localStorage: every write is
// queued with its client id (UUIDv7) first, then sent in order; a network failure keeps it for
// the next try, a 4xx answer moves it to the refused list, a 2xx removes it. The server stores
// each write once by its id, so replays never double anything.
(function () {
  var root = document.getElementById('pda');
  if (!root) return;
  var store = root.dataset.store, csrf = root.dataset.csrf, L = root.dataset;
  var data = JSON.parse(document.getElementById('pda-data').textContent);
  var OUT = 'pda.outbox.' + store, REF = 'pda.refused.' + store, SENT = 'pda.sent.' + store;
  var TALLY = 'pda.tally.', SESS = 'pda.sessions.' + store;
  function $(id) { return document.getElementById(id); }
  function load(k, d) { try { var v = JSON.parse(localStorage.getItem(k)); return v == null ? d : v; } catch (e) { return d; } }
  function save(k, v) { localStorage.setItem(k, JSON.stringify(v)); }
  function hex(n) { var a = new Uint8Array(n); crypto.getRandomValues(a); return Array.from(a, function (b) { return ('0' + b.toString(16)).slice(-2); }).join(''); }
  function uuid7() {
    var t = Date.now().toString(16).padStart(12, '0'), r = hex(10);
    return t.slice(0, 8) + '-' + t.slice(8, 12) + '-7' + r.slice(0, 3) + '-' + ((parseInt(r[3], 16) & 3) | 8).toString(16) + r.slice(4, 7) + '-' + r.slice(7, 19);
  }
  function el(tag, text, cls) { var e = document.createElement(tag); if (text != null) e.textContent = text; if (cls) e.className = cls; return e; }
  function row(cells, head) { var tr = el('tr'); cells.forEach(function (c, i) { var td = el(head ? 'th' : 'td', null, i > 0 ? 'num' : ''); if (c instanceof Node) td.appendChild(c); else td.textContent = c; tr.appendChild(td); }); return tr; }
  function showError(msg) { var e = $('scan-error'); e.textContent = msg || ''; e.hidden = !msg; }

  // ---- outbox ----
  var flushing = false, timer = null;
  function setNet(on) { var n = $('net'); n.textContent = on ? L.online : L.offline; n.className = on ? 'net' : 'net off'; }
  function render() {
    $('queue-count').textContent = String(load(OUT, []).length);
    var sent = load(SENT, []), ul = $('sent-log'); ul.innerHTML = '';
    $('sent-count').textContent = String(sent.length);
    sent.slice(0, 30).forEach(function (s) { ul.appendChild(el('li', s)); });
    var refused = load(REF, []), rl = $('refused'); rl.innerHTML = '';
    refused.forEach(function (r) { var li = el('li', r.label + ': ' + r.message); li.className = 'refused'; rl.appendChild(li); });
  }
  function enqueue(op) { op.id = op.id || uuid7(); var q = load(OUT, []); q.push(op); save(OUT, q); render(); flush(); }
  function later(ms) { if (timer) clearTimeout(timer); timer = setTimeout(function () { timer = null; flush(); }, ms); }
  function flush() {
    if (flushing) return;
    var q = load(OUT, []);
    if (!q.length) return;
    flushing = true;
    var op = q[0];
    fetch(op.url, { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json', 'x-csrf-token': csrf }, body: JSON.stringify(op.body || {}) })
      .then(function (r) {
        if ((r.headers.get('content-type') || '').indexOf('json') < 0) throw new Error('not json');
        return r.json().then(function (j) { return { s: r.status, j: j }; });
      })
      .then(function (res) {
        flushing = false;
        if (res.s >= 500 || res.s === 401 || res.s === 429) { setNet(false); later(3000); return; }
        save(OUT, load(OUT, []).filter(function (o) { return o.id !== op.id; }));
        if (res.s < 300) {
          var sent = load(SENT, []); sent.unshift(op.label + (res.j && res.j.replayed ? ' (replay)' : '')); save(SENT, sent.slice(0, 200));
          done(op, res.j);
        } else {
          var err = (res.j && res.j.error) || {}, msg = err.message || ('HTTP ' + res.s);
          if (err.fields) msg += ' ' + Object.keys(err.fields).map(function (k) { return k + ': ' + err.fields[k]; }).join('; ');
          var rf = load(REF, []); rf.unshift({ id: op.id, label: op.label, message: msg }); save(REF, rf.slice(0, 100));
        }
        setNet(true); render(); flush();
      })
      .catch(function () { flushing = false; setNet(false); render(); later(2000); });
  }
  window.addEventListener('online', function () { flush(); });
  setInterval(flush, 4000);
  window.pdaFlush = flush;

  function done(op, j) {
    if (op.kind === 'receive') showReceiving(j);
  }

  // ---- tabs ----
  var current = 'count';
  function showTab(name) {
    current = name;
    document.querySelectorAll('[data-pane]').forEach(function (p) { p.hidden = p.dataset.pane !== name; });
    document.querySelectorAll('.pda-tabs .tab').forEach(function (b) { b.classList.toggle('on', b.dataset.tab === name); });
    $('scan').focus();
  }
  document.querySelectorAll('.pda-tabs .tab').forEach(function (b) { b.addEventListener('click', function () { showTab(b.dataset.tab); }); });

  // ---- counts ----
  // Sessions: those opened here (perhaps not sent yet) and the store's open ones, less those
  // submitted here.
  function sessions() {
    var all = load(SESS, []).slice(), gone = load(SESS + '.gone', []);
    (data.counts || []).forEach(function (c) { if (!all.some(function (x) { return x.id === c.id; })) all.push(c); });
    return all.filter(function (x) { return gone.indexOf(x.id) < 0; });
  }
  function renderSessions(select) {
    var sel = $('count-session'), keep = select || sel.value; sel.innerHTML = '';
    sessions().forEach(function (s) { var o = el('option', s.zone); o.value = s.id; sel.appendChild(o); });
    if (keep) sel.value = keep;
    renderTally();
  }
  function renderTally() {
    var id = $('count-session').value, t = $('count-lines'); t.innerHTML = '';
    if (!id) return;
    var tally = load(TALLY + id, {});
    Object.keys(tally).sort().forEach(function (code) { t.appendChild(row([code, String(tally[code])])); });
  }
  $('count-session').addEventListener('change', renderTally);
  $('open-count').addEventListener('click', function () {
    var zone = $('zone').value.trim();
    if (!zone) { showError($('zone').placeholder); return; }
    var id = uuid7(), s = load(SESS, []); s.unshift({ id: id, zone: zone }); save(SESS, s.slice(0, 50));
    enqueue({ kind: 'open-count', url: '/console/pda/api/counts', label: '+ ' + zone, body: { id: id, store: store, zone: zone } });
    $('zone').value = ''; renderSessions(id);
  });
  $('submit-count').addEventListener('click', function () {
    var id = $('count-session').value; if (!id) return;
    var zone = (sessions().find(function (x) { return x.id === id; }) || {}).zone, gone = load(SESS + '.gone', []);
    gone.unshift(id); save(SESS + '.gone', gone.slice(0, 200));
    enqueue({ kind: 'submit', url: '/console/pda/api/counts/' + id + '/submit', label: '✓ ' + zone, body: {} });
    renderSessions('');
  });
  function countScan(code, qty) {
    var id = $('count-session').value;
    if (!id) { showError($('zone').placeholder); return; }
    var tally = load(TALLY + id, {}); tally[code] = (tally[code] || 0) + qty; save(TALLY + id, tally);
    enqueue({ kind: 'scan', url: '/console/pda/api/counts/' + id + '/scans', label: code + ' ×' + qty, body: { id: uuid7(), code: code, qty: qty, client_ts: Date.now() } });
    renderTally();
  }

  // ---- receiving ----
  var received = {};
  function receivables() { return data.receivables || []; }
  function renderReceivables() {
    var sel = $('receivable'); sel.innerHTML = '';
    receivables().forEach(function (r) { var o = el('option', (r.source_kind === 'transfer' ? '⇄ ' : '🚚 ') + r.from + ' ' + r.reference + ' (' + r.lines.length + ')'); o.value = r.source_id; sel.appendChild(o); });
    received = {}; renderReceiveLines();
  }
  function chosen() { var id = $('receivable').value; return receivables().find(function (r) { return r.source_id === id; }); }
  function renderReceiveLines() {
    var t = $('receive-lines'); t.innerHTML = ''; var r = chosen(); if (!r) return;
    t.appendChild(row(['', '⇣', '✓'], true));
    var codes = r.lines.map(function (l) { return l.sku_code; });
    r.lines.concat(Object.keys(received).filter(function (c) { return codes.indexOf(c) < 0; }).map(function (c) { return { sku_code: c, name_zh: c, qty: 0 }; }))
      .forEach(function (l) {
        var input = el('input'); input.type = 'number'; input.className = 'cell'; input.min = '0'; input.value = String(received[l.sku_code] || 0);
        input.dataset.code = l.sku_code;
        input.addEventListener('change', function () { received[l.sku_code] = parseInt(input.value, 10) || 0; });
        t.appendChild(row([l.name_zh + ' ' + l.sku_code, String(l.qty), input]));
      });
  }
  function receiveScan(code, qty) {
    var r = chosen(); if (!r) return;
    var line = r.lines.find(function (l) { return l.sku_code === code || (l.barcodes || []).indexOf(code) >= 0; });
    var key = line ? line.sku_code : code;
    received[key] = (received[key] || 0) + qty; renderReceiveLines();
  }
  function showReceiving(j) {
    var box = $('receive-result'); box.innerHTML = '';
    if (!j || !j.lines) return;
    var t = el('table'); t.appendChild(row(['', '⇣', '✓', '±'], true));
    j.lines.forEach(function (l) { var tr = row([l.name_zh + ' ' + l.sku_code, String(l.expected), String(l.received), String(l.difference)]); if (l.difference !== 0) tr.className = 'diff'; t.appendChild(tr); });
    box.appendChild(t);
  }
  $('receivable').addEventListener('change', function () { received = {}; renderReceiveLines(); });
  $('refresh-receivables').addEventListener('click', function () {
    fetch('/console/pda/api/receivables?store=' + encodeURIComponent(store), { credentials: 'same-origin', headers: { 'x-csrf-token': csrf } })
      .then(function (r) { return r.json(); }).then(function (j) { if (Array.isArray(j)) { data.receivables = j; renderReceivables(); } }).catch(function () {});
  });
  $('post-receive').addEventListener('click', function () {
    var r = chosen(); if (!r) return;
    var lines = Object.keys(received).map(function (c) { return { code: c, qty: received[c] }; });
    enqueue({ kind: 'receive', url: '/console/pda/api/receivings', label: '⇣ ' + r.from + ' ' + r.reference,
      body: { id: uuid7(), store: store, source_kind: r.source_kind, source_id: r.source_id, lines: lines, note: $('receive-note').value } });
    data.receivables = receivables().filter(function (x) { return x.source_id !== r.source_id; });
    renderReceivables();
  });

  // ---- requisitions ----
  var reqLines = {};
  function renderReq() { var t = $('req-lines'); t.innerHTML = ''; Object.keys(reqLines).forEach(function (c) { t.appendChild(row([c, String(reqLines[c])])); }); }
  $('post-req').addEventListener('click', function () {
    var lines = Object.keys(reqLines).map(function (c) { return { code: c, qty: reqLines[c] }; });
    if (!lines.length) return;
    enqueue({ kind: 'requisition', url: '/console/pda/api/requisitions', label: '要货 ' + lines.map(function (l) { return l.code + '×' + l.qty; }).join(' '),
      body: { id: uuid7(), store: store, warehouse: $('warehouse').value, lines: lines, note: $('req-note').value } });
    reqLines = {}; renderReq();
  });

  // ---- shrink ----
  var photos = [];
  $('shrink-photo').addEventListener('change', function () {
    var f = this.files && this.files[0]; if (!f) return;
    fetch('/console/pda/api/photos', { method: 'POST', credentials: 'same-origin', headers: { 'x-csrf-token': csrf, 'content-type': f.type || 'application/octet-stream' }, body: f })
      .then(function (r) { return r.json().then(function (j) { return { s: r.status, j: j }; }); })
      .then(function (res) { if (res.s < 300) { photos.push(res.j.name); $('shrink-photos').textContent = photos.length + ' 📷'; } else { showError((res.j.error || {}).message); } })
      .catch(function () { showError(L.offline); });
  });
  $('post-shrink').addEventListener('click', function () {
    var code = $('shrink-code').value; if (!code) { showError($('shrink-code').placeholder); return; }
    var qty = parseInt($('qty').value, 10);
    enqueue({ kind: 'shrink', url: '/console/pda/api/shrink', label: '报损 ' + code + ' ×' + qty,
      body: { id: uuid7(), store: store, code: code, qty: isNaN(qty) ? 0 : qty, reason: $('shrink-reason').value, note: $('shrink-note').value, photos: photos } });
    photos = []; $('shrink-photos').textContent = ''; $('shrink-code').value = ''; $('shrink-note').value = '';
  });

  // ---- repack ----
  var repack = { in: {}, out: {} };
  function renderRepack() {
    var t = $('repack-lines'); t.innerHTML = '';
    ['in', 'out'].forEach(function (side) { Object.keys(repack[side]).forEach(function (c) { t.appendChild(row([(side === 'in' ? '− ' : '+ ') + c, String(repack[side][c])])); }); });
  }
  $('post-repack').addEventListener('click', function () {
    var list = function (m) { return Object.keys(m).map(function (c) { return { code: c, qty: m[c] }; }); };
    enqueue({ kind: 'repack', url: '/console/pda/api/repacks', label: '拆分 ' + Object.keys(repack.in).join(',') + ' → ' + Object.keys(repack.out).join(','),
      body: { id: uuid7(), store: store, inputs: list(repack.in), outputs: list(repack.out), note: $('repack-note').value } });
    repack = { in: {}, out: {} }; renderRepack();
  });

  // ---- price check (online only) ----
  function priceCheck(code) {
    var box = $('price-result'); box.textContent = '…';
    fetch('/console/pda/api/price?store=' + encodeURIComponent(store) + '&code=' + encodeURIComponent(code), { credentials: 'same-origin', headers: { 'x-csrf-token': csrf } })
      .then(function (r) { return r.json().then(function (j) { return { s: r.status, j: j }; }); })
      .then(function (res) {
        box.innerHTML = '';
        if (res.s >= 300) { box.textContent = (res.j.error || {}).message || ('HTTP ' + res.s); return; }
        var p = res.j, zh = L.lang !== 'en';
        box.appendChild(el('div', (zh ? p.name_zh : p.name_en) + ' ' + p.spec_zh + ' · ' + p.sku_code));
        box.appendChild(el('div', '¥' + p.price + (p.weighed ? '/kg' : ''), 'price-now'));
        if (p.price !== p.list_price) box.appendChild(el('div', '¥' + p.list_price + ' ' + (zh ? p.explanation_zh : p.explanation_en), 'muted'));
        if (p.member_price) box.appendChild(el('div', (zh ? '会员价 ¥' : 'Member ¥') + p.member_price));
        box.appendChild(el('div', (zh ? '在库 ' : 'On hand ') + p.on_hand, 'muted'));
      })
      .catch(function () { box.textContent = L.offline; });
  }

  // ---- the scan field ----
  function handle(code) {
    code = (code || '').trim(); showError('');
    if (!code) return;
    var qty = parseInt($('qty').value, 10); if (isNaN(qty)) qty = 1;
    if (current === 'count') countScan(code, qty);
    else if (current === 'receive') receiveScan(code, qty);
    else if (current === 'requisition') { reqLines[code] = (reqLines[code] || 0) + qty; renderReq(); }
    else if (current === 'shrink') $('shrink-code').value = code;
    else if (current === 'repack') { var side = document.querySelector('input[name=repack-side]:checked').value; repack[side][code] = (repack[side][code] || 0) + qty; renderRepack(); }
    else if (current === 'price') priceCheck(code);
  }
  $('scan-form').addEventListener('submit', function (e) { e.preventDefault(); var c = $('scan').value; $('scan').value = ''; handle(c); $('scan').focus(); });
  $('camera').addEventListener('click', function () {
    var video = $('camera-view');
    if (!('BarcodeDetector' in window) || !navigator.mediaDevices) { showError('BarcodeDetector ✗'); return; }
    var det = new window.BarcodeDetector({ formats: ['ean_13', 'ean_8', 'upc_a', 'code_128', 'qr_code'] }), last = '', lastAt = 0;
    navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } }).then(function (s) {
      video.srcObject = s; video.hidden = false; video.play();
      var busy = false;
      setInterval(function () {
        if (busy) return; busy = true;
        det.detect(video).then(function (codes) {
          busy = false;
          if (!codes.length) return;
          var c = codes[0].rawValue, now = Date.now();
          if (c === last && now - lastAt < 1500) return;
          last = c; lastAt = now; handle(c);
        }).catch(function () { busy = false; });
      }, 300);
    }).catch(function (e) { showError(String(e)); });
  });

  renderSessions(); renderReceivables(); renderReq(); renderRepack(); render(); showTab('count'); flush();
})();
"#;
