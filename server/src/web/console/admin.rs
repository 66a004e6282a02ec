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

async fn audit(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
) -> WebResult<Response> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let entries = storage::audit::list(&state.store, None, 200).await?;
    let body = html! {
        div.table-wrap { table {
            tr { th { (ctx.t("时间", "Time")) } th { (ctx.t("操作人", "Actor")) } th { (ctx.t("操作", "Action")) } th { (ctx.t("对象", "Entity")) } th { (ctx.t("详情", "Detail")) } }
            @for e in &entries {
                tr { td { (when(e.at.timestamp_millis())) } td { (e.actor) } td { (e.action) } td { (e.entity) " " (e.entity_id) } td.muted { (e.detail.to_string().chars().take(160).collect::<String>()) } }
            }
        } }
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
