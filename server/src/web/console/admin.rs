//! Head office's console pages: the audit log and the stores (and warehouses). Staff accounts
//! are administered in [`super::staff`].

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::html;

use crate::actor::Role;
use crate::app::AppState;
use crate::storage;
use crate::web::{console_page, when, Ctx, Staff, WebResult};

/// Audit log, store and staff routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/audit", get(audit))
        .route("/console/stores", get(stores))
}

/// The audit page's cursor and filter.
#[derive(Debug, serde::Deserialize, Default)]
struct AuditParams {
    before: Option<uuid::Uuid>,
    entity: Option<String>,
}

/// Entries on one page of the audit log.
const AUDIT_PAGE: i64 = 100;

async fn audit(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    axum::extract::Query(p): axum::extract::Query<AuditParams>,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let entity = p
        .entity
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| e.chars().take(64).collect::<String>());
    let entries =
        storage::audit::list_before(&state.store, entity.as_deref(), p.before, AUDIT_PAGE).await?;
    let next = (entries.len() as i64 == AUDIT_PAGE)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    let body = html! {
        form.card.row method="get" action="/console/audit" {
            input name="entity" value=(entity.as_deref().unwrap_or("")) placeholder=(ctx.t("对象 ID", "Entity id")) style="max-width:280px";
            button.btn type="submit" { (ctx.t("筛选", "Filter")) }
        }
        div.table-wrap { table {
            tr { th { (ctx.t("时间", "Time")) } th { (ctx.t("操作人", "Actor")) } th { (ctx.t("操作", "Action")) } th { (ctx.t("对象", "Entity")) } th { (ctx.t("详情", "Detail")) } }
            @for e in &entries {
                tr { td { (when(e.at.timestamp_millis())) } td { (e.actor) } td { (e.action) } td { (e.entity) " " (e.entity_id) } td.muted { (e.detail.to_string().chars().take(160).collect::<String>()) } }
            }
        } }
        @if let Some(next) = next {
            p { a.btn.secondary #audit-next href={ "/console/audit?before=" (next) "&entity=" (crate::web::urlencode(entity.as_deref().unwrap_or(""))) } { (ctx.t("更早的记录", "Older entries")) } }
        }
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("审计日志", "Audit log"),
        body,
    ))
}

async fn stores(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let locations = storage::locations::list(&state.store).await?;
    let body = html! {
        div.table-wrap { table {
            tr { th { (ctx.t("编码", "Code")) } th { (ctx.t("类型", "Kind")) } th { (ctx.t("名称", "Name")) } th { (ctx.t("城市", "City")) } th { (ctx.t("地址", "Address")) } }
            @for l in &locations { tr { td { (l.id) } td { (l.kind) } td { (ctx.lang.pick(&l.name_zh, &l.name_en)) } td { (l.city) } td { (l.address) } } }
        } }
    };
    Ok(console_page(&ctx, &staff, ctx.t("门店", "Stores"), body))
}
