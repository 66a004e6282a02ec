//! The console's store operations (issue 21): count sessions from the handhelds with their
//! variances against book stock and the manager's approval (which posts the adjustment),
//! receivings with their differences from what was expected, supplier deliveries announced to a
//! store, requisitions (要货) and head office's allocation (配货; more than the warehouse has is
//! refused with the quantities), and the shrink report (报损) by store and category with its
//! CSV. Store staff see their own store only.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

use super::{csv_bytes, csv_response, day_range_of, day_text, pick_location, range_form, scope};
use crate::actor::{Role, StaffActor};
use crate::app::store_ops::{self, CodeLine, DeliveryRequest};
use crate::app::AppState;
use crate::error::AppError;
use crate::storage;
use crate::storage::store_ops::AllocateInput;
use crate::web::{console_page, redirect, when, yuan, Ctx, Form, Staff, WebResult};

/// Store-operations and shrink routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/store-ops", get(overview))
        .route("/console/store-ops/counts/{id}", get(count_page))
        .route("/console/store-ops/counts/{id}/approve", post(approve))
        .route("/console/store-ops/deliveries", post(delivery))
        .route(
            "/console/store-ops/requisitions/{id}/allocate",
            post(allocate),
        )
        .route("/console/store-ops/requisitions/{id}/reject", post(reject))
        .route("/console/shrink", get(shrink_report))
        .route("/console/shrink.csv", get(shrink_csv))
}

#[derive(Debug, Deserialize, Default)]
struct OpsParams {
    location: Option<String>,
    done: Option<String>,
}

async fn overview(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<OpsParams>,
) -> WebResult<Response> {
    let location = pick_location(&staff, p.location.as_deref())?;
    let notice = p
        .done
        .as_ref()
        .map(|_| (true, ctx.t("已完成。", "Done.").to_owned()));
    render(&state, &ctx, &staff, location, notice, StatusCode::OK).await
}

/// The overview page, with `notice` (ok, text) on top, answered with `status`.
async fn render(
    state: &AppState,
    ctx: &Ctx,
    staff: &StaffActor,
    location: Option<String>,
    notice: Option<(bool, String)>,
    status: StatusCode,
) -> WebResult<Response> {
    let loc = location.as_deref();
    let counts = storage::store_ops::list_counts(&state.store, loc, None).await?;
    let receivings = storage::store_ops::list_receivings(&state.store, loc).await?;
    let requisitions = storage::store_ops::list_requisitions(&state.store, loc, None).await?;
    let open = match loc {
        Some(l) => storage::store_ops::open_receivables(&state.store, l).await?,
        None => Vec::new(),
    };
    let locations = storage::locations::list(&state.store).await?;
    let head_office = staff.role == Role::HeadOfficeAdmin;
    let manager = staff.role != Role::Cashier;
    let body = html! {
        @if let Some((ok, text)) = &notice {
            @if *ok { div.notice.ok role="status" { (text) } } @else { div.notice.err #ops-error role="alert" { (text) } }
        }
        p { a href="/console/pda" { (ctx.t("打开门店手持终端（PDA）", "Open the store handheld (PDA)")) } " · " a href="/console/shrink" { (ctx.t("报损报表", "Shrink report")) } }
        @if scope(staff).is_none() {
            form.card.row method="get" action="/console/store-ops" {
                select name="location" style="max-width:220px" {
                    option value="" { (ctx.t("全部门店", "All stores")) }
                    @for l in locations.iter().filter(|l| l.kind == "store") { option value=(l.id) selected[Some(l.id.as_str()) == loc] { (l.id) " " (ctx.lang.pick(&l.name_zh, &l.name_en)) } }
                }
                button.btn type="submit" { (ctx.t("查看", "Show")) }
            }
        }
        h2 { (ctx.t("盘点单", "Counts")) }
        div.table-wrap { table #counts {
            tr { th { (ctx.t("开始", "Opened")) } th { (ctx.t("门店", "Store")) } th { (ctx.t("区域", "Zone")) } th { (ctx.t("状态", "Status")) } th { (ctx.t("开单人", "By")) } th {} }
            @for c in &counts {
                tr { td { (when(c.created_at.timestamp_millis())) } td { (c.location_id) } td { (c.zone) } td { (c.status) } td { (c.created_by) }
                     td { a href={ "/console/store-ops/counts/" (c.id) } { (ctx.t("差异", "Variances")) } } }
            }
        } }
        h2 { (ctx.t("收货差异", "Receiving differences")) }
        div.table-wrap { table #receivings {
            tr { th { (ctx.t("收货", "Received")) } th { (ctx.t("门店", "Store")) } th { (ctx.t("来源", "Source")) } th { (ctx.t("商品", "Item")) } th.num { (ctx.t("应收", "Expected")) } th.num { (ctx.t("实收", "Received")) } th.num { (ctx.t("差异", "Difference")) } }
            @for r in &receivings {
                @for l in &r.lines {
                    tr.diff[l.difference != 0] { td { (when(r.received_at.timestamp_millis())) } td { (r.location_id) } td { (r.source_kind) " " (r.source_id.to_string()[..8]) }
                         td { (l.label.sku_code) " " (ctx.lang.pick(&l.label.name_zh, &l.label.name_en)) }
                         td.num { (l.expected) } td.num { (l.received) } td.num { @if l.difference != 0 { b { (format!("{:+}", l.difference)) } } @else { "0" } } }
                }
            }
        } }
        @if !open.is_empty() {
            h3 { (ctx.t("待收货", "To receive")) }
            ul { @for o in &open { li { (o.source_kind) " " (o.from) " " (o.reference) " · " (o.lines.iter().map(|l| l.qty).sum::<i64>()) } } }
        }
        h2 { (ctx.t("要货单", "Requisitions")) }
        div.table-wrap { table #requisitions {
            tr { th { (ctx.t("提交", "Filed")) } th { (ctx.t("门店", "Store")) } th { (ctx.t("仓库", "Warehouse")) } th { (ctx.t("状态", "Status")) } th { (ctx.t("明细（要/配）", "Lines (asked / allocated)")) } th {} }
            @for r in &requisitions {
                tr { td { (when(r.created_at.timestamp_millis())) } td { (r.location_id) } td { (r.warehouse_id) } td.status { (r.status) }
                     td { @for l in &r.lines { div { (l.label.sku_code) " " (ctx.lang.pick(&l.label.name_zh, &l.label.name_en)) ": " (l.requested) " / " (l.allocated) } } }
                     td { @if head_office && r.status == "requested" {
                        form.allocate method="post" action={ "/console/store-ops/requisitions/" (r.id) "/allocate" } {
                            (ctx.csrf_field())
                            input type="hidden" name="id" value=(retail_domain::ids::new_id());
                            @for l in &r.lines { label { (l.label.sku_code) " " input type="number" name={ "qty_" (l.sku_id) } value=(l.requested) min="0" style="width:80px"; } }
                            button.btn type="submit" { (ctx.t("配货", "Allocate")) }
                        }
                        form method="post" action={ "/console/store-ops/requisitions/" (r.id) "/reject" } {
                            (ctx.csrf_field()) button.link type="submit" { (ctx.t("驳回", "Reject")) }
                        }
                     } }
                }
            }
        } }
        @if manager {
            form.card method="post" action="/console/store-ops/deliveries" #delivery-form {
                b { (ctx.t("登记供应商送货（预期）", "Announce a supplier delivery")) }
                (ctx.csrf_field())
                input type="hidden" name="id" value=(retail_domain::ids::new_id());
                div.field { label { (ctx.t("门店", "Store")) }
                    select name="location" { @for l in locations.iter().filter(|l| l.kind == "store" && scope(staff).is_none_or(|s| s == l.id)) { option value=(l.id) selected[Some(l.id.as_str()) == loc] { (l.id) } } } }
                div.field { label { (ctx.t("供应商", "Supplier")) } input name="supplier"; }
                div.field { label { (ctx.t("送货单号", "Delivery note")) } input name="reference"; }
                div.field { label { (ctx.t("明细：每行“条码 数量”", "Lines: one \"code qty\" per line")) } textarea name="lines" rows="4" {} }
                button.btn type="submit" { (ctx.t("登记", "Announce")) }
            }
        }
    };
    let mut resp = console_page(ctx, staff, ctx.t("门店作业", "Store operations"), body);
    *resp.status_mut() = status;
    Ok(resp)
}

/// The page again with a failed form's error (nothing was changed), or the error page for
/// anything but a refusal of the input.
async fn refused(
    state: &AppState,
    ctx: &Ctx,
    staff: &StaffActor,
    location: Option<String>,
    err: AppError,
) -> WebResult<Response> {
    let text = match &err {
        AppError::Invalid {
            message, fields, ..
        } => {
            let mut t = message.clone();
            for (k, v) in fields {
                t.push_str(&format!(" {k}: {v};"));
            }
            t
        }
        AppError::Conflict { message, .. } => message.clone(),
        _ => return Err(err.into()),
    };
    let status = err.status();
    render(state, ctx, staff, location, Some((false, text)), status).await
}

async fn count_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
) -> WebResult<Response> {
    let session = store_ops::count_session(&state, &staff, id).await?;
    let manager = staff.role != Role::Cashier;
    let body = html! {
        p { a href={ "/console/store-ops?location=" (session.location_id) } { "← " (ctx.t("门店作业", "Store operations")) } }
        p { (session.location_id) " · " (session.zone) " · " b #count-status { (session.status) } " · " (session.scans) " " (ctx.t("次扫描", "scans")) }
        div.table-wrap { table #count-variances {
            tr { th { (ctx.t("商品", "Item")) } th.num { (ctx.t("账面", "Book")) } th.num { (ctx.t("实盘", "Counted")) } th.num { (ctx.t("差异", "Variance")) } }
            @for l in &session.lines {
                tr { td { (l.label.sku_code) " " (ctx.lang.pick(&l.label.name_zh, &l.label.name_en)) } td.num { (l.book) } td.num { (l.counted) }
                     td.num { @if l.variance != 0 { b { (format!("{:+}", l.variance)) } } @else { "0" } } }
            }
        } }
        @if manager && session.status != "approved" && !session.lines.is_empty() {
            form method="post" action={ "/console/store-ops/counts/" (session.id) "/approve" } {
                (ctx.csrf_field())
                button.btn #approve-count type="submit" { (ctx.t("审核并调整库存", "Approve and adjust stock")) }
            }
        }
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("盘点差异", "Count variances"),
        body,
    ))
}

async fn approve(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(_): Form<HashMap<String, String>>,
) -> WebResult<Response> {
    store_ops::approve_count(&state, &staff, id).await?;
    Ok(redirect(&format!("/console/store-ops/counts/{id}")))
}

/// Lines typed as `code qty` (or `code,qty`), one per line.
fn parse_lines(text: &str) -> Result<Vec<CodeLine>, AppError> {
    let mut out = Vec::new();
    for (i, line) in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        let mut parts = line
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|p| !p.is_empty());
        let (Some(code), Some(qty), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(AppError::field(
                &format!("lines[{i}]"),
                "write a code and a quantity",
            ));
        };
        let qty = qty.parse::<i64>().map_err(|_| {
            AppError::field(&format!("lines[{i}]"), "the quantity is a whole number")
        })?;
        out.push(CodeLine {
            code: code.to_owned(),
            qty,
        });
    }
    Ok(out)
}

async fn delivery(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Form(f): Form<HashMap<String, String>>,
) -> WebResult<Response> {
    let location = f.get("location").cloned().unwrap_or_default();
    let result = async {
        let id = f
            .get("id")
            .and_then(|i| Uuid::parse_str(i).ok())
            .ok_or_else(|| AppError::field("id", "the form could not be read"))?;
        let req = DeliveryRequest {
            id,
            store: location.clone(),
            supplier: f.get("supplier").cloned().unwrap_or_default(),
            reference: f.get("reference").cloned().unwrap_or_default(),
            lines: parse_lines(f.get("lines").map(String::as_str).unwrap_or(""))?,
        };
        store_ops::create_delivery(&state, &staff, &req).await
    }
    .await;
    match result {
        Ok(_) => Ok(redirect(&format!(
            "/console/store-ops?location={}&done=1",
            crate::web::urlencode(&location)
        ))),
        Err(e) => refused(&state, &ctx, &staff, scope(&staff).or(Some(location)), e).await,
    }
}

async fn allocate(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(f): Form<HashMap<String, String>>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let result = async {
        let transfer_id = f
            .get("id")
            .and_then(|i| Uuid::parse_str(i).ok())
            .ok_or_else(|| AppError::field("id", "the form could not be read"))?;
        let mut lines = Vec::new();
        for (k, v) in &f {
            if let Some(sku) = k.strip_prefix("qty_") {
                let sku = Uuid::parse_str(sku)
                    .map_err(|_| AppError::field("lines", "the form could not be read"))?;
                let qty = super::whole_number("lines", v)?;
                lines.push((sku, qty));
            }
        }
        store_ops::allocate(
            &state,
            &staff,
            &AllocateInput {
                requisition_id: id,
                transfer_id,
                lines,
            },
        )
        .await
    }
    .await;
    match result {
        Ok(r) => Ok(redirect(&format!(
            "/console/store-ops?location={}&done=1",
            r.location_id
        ))),
        Err(e) => refused(&state, &ctx, &staff, None, e).await,
    }
}

async fn reject(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Path(id): Path<Uuid>,
    Form(_): Form<HashMap<String, String>>,
) -> WebResult<Response> {
    match store_ops::reject_requisition(&state, &staff, id).await {
        Ok(_) => Ok(redirect("/console/store-ops?done=1")),
        Err(e) => refused(&state, &ctx, &staff, None, e).await,
    }
}

// ---------------------------------------------------------------------------------------------
// Shrink report.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize, Default)]
struct ShrinkParams {
    from: Option<String>,
    to: Option<String>,
    location: Option<String>,
}

/// Days the shrink report shows when no range is asked for.
const SHRINK_DAYS: i64 = 30;

/// The asked range as (first China day, last China day, from ms, to ms exclusive).
fn shrink_range(p: &ShrinkParams) -> (i64, i64, i64, i64) {
    let (from, to, _) = day_range_of(&p.from, &p.to, SHRINK_DAYS);
    let (from, to) = (from.min(to), to.max(from));
    let day_ms = 86_400_000;
    // China days start at 16:00 UTC the day before.
    let start = |d: i64| d * day_ms - 8 * 3_600_000;
    (from, to, start(from), start(to + 1))
}

fn reason_label(ctx: &Ctx, reason: &str) -> &'static str {
    match reason {
        "expired" => ctx.t("过期", "Expired"),
        "damaged" => ctx.t("破损", "Damaged"),
        "quality" => ctx.t("质量", "Quality"),
        "theft" => ctx.t("被盗", "Theft"),
        _ => ctx.t("其他", "Other"),
    }
}

async fn shrink_report(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<ShrinkParams>,
) -> WebResult<Response> {
    let location = pick_location(&staff, p.location.as_deref())?;
    let (from, to, from_ms, to_ms) = shrink_range(&p);
    let rows = storage::shrink::report(&state.store, location.as_deref(), from_ms, to_ms).await?;
    let records =
        storage::shrink::list_shrink(&state.store, location.as_deref(), from_ms, to_ms).await?;
    let repacks = storage::shrink::list_repacks(&state.store, location.as_deref()).await?;
    let locations = storage::locations::list(&state.store).await?;
    let (from_t, to_t) = (day_text(from), day_text(to));
    let csv = format!(
        "/console/shrink.csv?from={from_t}&to={to_t}&location={}",
        location.as_deref().unwrap_or("")
    );
    let extra: Markup = html! {
        @if scope(&staff).is_none() {
            select name="location" style="max-width:200px" {
                option value="" { (ctx.t("全部门店", "All stores")) }
                @for l in locations.iter().filter(|l| l.kind == "store") { option value=(l.id) selected[location.as_deref() == Some(l.id.as_str())] { (l.id) } }
            }
        }
    };
    let total_value: i64 = rows.iter().map(|r| r.value_fen).sum();
    let body = html! {
        (range_form(&ctx, "/console/shrink", &from_t, &to_t, extra, &[("shrink-csv", csv)]))
        div.table-wrap { table #shrink-report {
            tr { th { (ctx.t("门店", "Store")) } th { (ctx.t("品类", "Category")) } th.num { (ctx.t("笔数", "Records")) } th.num { (ctx.t("数量", "Units")) } th.num { (ctx.t("金额", "Value")) } th { (ctx.t("原因", "Reasons")) } }
            @for r in &rows {
                tr { td { (r.location_id) } td { (ctx.lang.pick(&r.category_zh, &r.category_en)) } td.num { (r.records) } td.num { (r.qty) } td.num { (yuan(r.value_fen)) }
                     td { @for (reason, qty) in &r.by_reason { span.muted { (reason_label(&ctx, reason)) " " (qty) " " } } } }
            }
            tr { th { (ctx.t("合计", "Total")) } th {} th.num { (rows.iter().map(|r| r.records).sum::<i64>()) } th.num { (rows.iter().map(|r| r.qty).sum::<i64>()) } th.num { (yuan(total_value)) } th {} }
        } }
        h2 { (ctx.t("报损记录", "Write-offs")) }
        div.table-wrap { table #shrink-records {
            tr { th { (ctx.t("时间", "When")) } th { (ctx.t("门店", "Store")) } th { (ctx.t("商品", "Item")) } th.num { (ctx.t("数量", "Qty")) } th { (ctx.t("原因", "Reason")) } th { (ctx.t("照片", "Photos")) } th { (ctx.t("经办", "By")) } }
            @for r in &records {
                tr { td { (when(r.created_at.timestamp_millis())) } td { (r.location_id) } td { (r.label.sku_code) " " (ctx.lang.pick(&r.label.name_zh, &r.label.name_en)) }
                     td.num { (r.qty) } td { (reason_label(&ctx, &r.reason)) " " span.muted { (r.note) } }
                     td { @for ph in &r.photos { a href={ "/media/" (ph) } { "📷" } " " } } td { (r.actor) } }
            }
        } }
        h2 { (ctx.t("拆分与组装", "Splits and packs")) }
        div.table-wrap { table #repacks {
            tr { th { (ctx.t("时间", "When")) } th { (ctx.t("门店", "Store")) } th { (ctx.t("减", "Taken")) } th { (ctx.t("加", "Made")) } th { (ctx.t("经办", "By")) } }
            @for r in &repacks {
                tr { td { (when(r.created_at.timestamp_millis())) } td { (r.location_id) }
                     td { @for l in &r.inputs { div { (l.label.sku_code) " ×" (l.qty) } } }
                     td { @for l in &r.outputs { div { (l.label.sku_code) " ×" (l.qty) } } } td { (r.actor) } }
            }
        } }
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("报损报表", "Shrink report"),
        body,
    ))
}

async fn shrink_csv(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Query(p): Query<ShrinkParams>,
) -> WebResult<Response> {
    let location = pick_location(&staff, p.location.as_deref())?;
    let (from, to, from_ms, to_ms) = shrink_range(&p);
    let rows = storage::shrink::report(&state.store, location.as_deref(), from_ms, to_ms).await?;
    let reasons = storage::shrink::SHRINK_REASONS;
    let mut header = vec![
        "from",
        "to",
        "store",
        "category_id",
        "category_zh",
        "category_en",
        "records",
        "qty",
        "value_yuan",
    ];
    header.extend(reasons.iter().copied());
    let body = rows
        .iter()
        .map(|r| {
            let mut row = vec![
                day_text(from),
                day_text(to),
                r.location_id.clone(),
                r.category_id.clone(),
                r.category_zh.clone(),
                r.category_en.clone(),
                r.records.to_string(),
                r.qty.to_string(),
                format!("{}.{:02}", r.value_fen / 100, r.value_fen % 100),
            ];
            row.extend(
                reasons
                    .iter()
                    .map(|reason| r.by_reason.get(*reason).copied().unwrap_or(0).to_string()),
            );
            row
        })
        .collect();
    let bytes = csv_bytes(&header, body)?;
    Ok(csv_response(
        &format!("shrink-{}-{}.csv", day_text(from), day_text(to)),
        bytes,
    ))
}
