//! The console's dashboard (`/console`): today's sales by store and by channel, the orders
//! waiting for pickup, low-stock alerts and the devices online — for the staff member's own
//! store, or for every store for head office.

use std::collections::{BTreeMap, HashMap};

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};

use super::orders::awaiting_pickup;
use super::{channel_label, scope};
use crate::app::AppState;
use crate::storage;
use crate::web::{console_page, status_label, today_start_ms, yuan, Ctx, Staff, WebResult};

/// The console's orders list filtered to the pickup orders awaiting collection.
const AWAITING_PICKUP_LINK: &str = "/console/orders?status=awaiting_pickup";

/// Dashboard route.
pub fn router() -> Router<AppState> {
    Router::new().route("/console", get(dashboard))
}

fn bars(rows: &[(String, i64)]) -> Markup {
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1);
    html! {
        div.bars {
            @for (label, fen) in rows {
                div.bar {
                    span.l { (label) }
                    i style={ "width:" (fen.saturating_mul(60) / max) "%" } {}
                    span { (yuan(*fen)) }
                }
            }
        }
    }
}

async fn dashboard(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
) -> WebResult<Response> {
    // A merchant administrator's console starts at its settlement statements.
    if staff.role == crate::actor::Role::MerchantAdmin {
        return Ok(crate::web::redirect("/console/settlements"));
    }
    let location = scope(&staff);
    let sales =
        storage::web::sales_since(&state.store, today_start_ms(), location.as_deref()).await?;
    let awaiting_pickup = storage::web::OrderQuery {
        limit: 20,
        ..awaiting_pickup(location.clone())
    };
    let waiting = storage::web::orders(&state.store, &awaiting_pickup)
        .await?
        .items;
    let waiting_count = storage::web::count_orders(&state.store, &awaiting_pickup).await?;
    let low = storage::stock::list_levels(
        &state.store,
        &storage::stock::LevelFilter {
            location_id: location.clone(),
            alerts_only: true,
            limit: 20,
            ..Default::default()
        },
    )
    .await?;
    let devices = storage::web::devices_seen(&state.store, location.as_deref()).await?;
    let now = storage::now_ms();
    let online = |d: &storage::web::DeviceSeen| {
        d.revoked_at.is_none() && d.last_seen_at.is_some_and(|t| now - t < 5 * 60 * 1000)
    };
    let total: i64 = sales.iter().map(|s| s.total_fen).sum();
    let count: i64 = sales.iter().map(|s| s.orders).sum();
    // Stores by code, labelled with their names ("SH001 人民广场店").
    let names: HashMap<String, String> = storage::locations::list(&state.store)
        .await?
        .into_iter()
        .map(|l| {
            let label = format!("{} {}", l.id, ctx.lang.pick(&l.name_zh, &l.name_en));
            (l.id, label)
        })
        .collect();
    let mut by_store: BTreeMap<String, i64> = BTreeMap::new();
    let mut by_channel: BTreeMap<String, i64> = BTreeMap::new();
    for s in &sales {
        let label = names
            .get(&s.location_id)
            .cloned()
            .unwrap_or_else(|| s.location_id.clone());
        *by_store.entry(label).or_default() += s.total_fen;
        *by_channel
            .entry(channel_label(&ctx, &s.channel).to_owned())
            .or_default() += s.total_fen;
    }
    let head_office = staff.role == crate::actor::Role::HeadOfficeAdmin;
    let service = if head_office {
        crate::app::chat::stats(&state, now - 7 * 86_400_000).await?
    } else {
        Default::default()
    };
    let percent = |part: i64, whole: i64| {
        if whole == 0 {
            "–".to_owned()
        } else {
            format!("{:.0}%", part as f64 * 100.0 / whole as f64)
        }
    };
    let body = html! {
        div.kpis {
            div.kpi { span.muted { (ctx.t("今日销售额", "Sales today")) } b #kpi-sales { (yuan(total)) } }
            div.kpi { span.muted { (ctx.t("今日订单", "Orders today")) } b { (count) } }
            div.kpi { span.muted { (ctx.t("待自提", "Awaiting pickup")) } b { a #kpi-pickup href=(AWAITING_PICKUP_LINK) { (waiting_count) } } }
            @if head_office { div.kpi #kpi-bot { span.muted { (ctx.t("客服机器人回答率（7 天）", "Bot answer rate (7 days)")) }
                b #kpi-bot-answers { (percent(service.bot_answers, service.bot_answers + service.handed_over)) } } }
            @if head_office { div.kpi #kpi-handover { span.muted { (ctx.t("转人工率（7 天）", "Hand-over rate (7 days)")) }
                b #kpi-handed-over { (percent(service.handed_over, service.conversations)) } } }
            div.kpi { span.muted { (ctx.t("在线设备", "Devices online")) } b { (devices.iter().filter(|d| online(d)).count()) " / " (devices.iter().filter(|d| d.revoked_at.is_none()).count()) } }
        }
        div.two {
            div.card { b { (ctx.t("按门店", "By store")) } (bars(&by_store.into_iter().collect::<Vec<_>>())) }
            div.card { b { (ctx.t("按渠道", "By channel")) } (bars(&by_channel.into_iter().collect::<Vec<_>>())) }
        }
        h2 { (ctx.t("等待自提的订单", "Orders waiting for pickup")) }
        @if waiting_count > i64::try_from(waiting.len()).unwrap_or(i64::MAX) {
            p.muted { (ctx.t("最新的 ", "The newest ")) (waiting.len()) (ctx.t(" 单，共 ", " of ")) (waiting_count) (ctx.t(" 单", "")) " · "
                a #all-pickup href=(AWAITING_PICKUP_LINK) { (ctx.t("查看全部", "See them all")) } }
        }
        div.table-wrap { table #awaiting-pickup {
            tr { th { (ctx.t("订单号", "Order")) } th { (ctx.t("门店", "Store")) } th { (ctx.t("状态", "Status")) } th.num { (ctx.t("金额", "Total")) } }
            @for o in &waiting {
                tr { td { a href={ "/console/orders/" (o.id) } { (o.order_no) } } td { (o.location_id) }
                     td { span class={ "status " (o.status) } { (status_label(ctx.lang, &o.status)) } } td.num { (yuan(o.total_fen)) } }
            }
        } }
        h2 { (ctx.t("低库存提醒", "Low-stock alerts")) }
        div.table-wrap { table {
            tr { th { (ctx.t("门店", "Location")) } th { (ctx.t("商品", "Item")) } th.num { (ctx.t("可用", "Available")) } th.num { (ctx.t("阈值", "Threshold")) } }
            @for l in &low {
                tr { td { (l.location_id) } td { (ctx.lang.pick(&l.name_zh, &l.name_en)) " " (ctx.lang.pick(&l.spec_zh, &l.spec_en)) }
                     td.num { (l.available) } td.num { (l.threshold) } }
            }
        } }
        h2 { (ctx.t("设备", "Devices")) }
        div.table-wrap { table {
            tr { th { (ctx.t("门店", "Store")) } th { (ctx.t("名称", "Name")) } th { (ctx.t("状态", "State")) } }
            @for d in &devices {
                tr { td { (d.location_id) } td { (d.name) " (" (d.kind) ")" }
                     td { @if d.revoked_at.is_some() { span.status.cancelled { (ctx.t("已吊销", "Revoked")) } }
                          @else if online(d) { span.status.paid { (ctx.t("在线", "Online")) } }
                          @else { span.status { (ctx.t("离线", "Offline")) } } } }
            }
        } }
    };
    Ok(console_page(&ctx, &staff, ctx.t("概览", "Dashboard"), body))
}
