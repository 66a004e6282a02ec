//! The console's recommendations (issue 19), head office only: click-through per list ("for
//! you", bought together, similar, popular: impressions, clicks, rate) over the last 30 days,
//! and the recommendation job's last run — through [`crate::app::recommendations`].

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::html;

use crate::app::recommendations as recs;
use crate::app::AppState;
use crate::web::{console_page, when, Ctx, Staff, WebResult};

/// Recommendation routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/console/recommendations", get(page))
}

/// Days the page covers, today included.
const DAYS: i64 = 30;

fn list_label(ctx: &Ctx, list: &str) -> String {
    match list {
        recs::FOR_YOU => ctx.t("为你推荐", "For you"),
        recs::TOGETHER => ctx.t("常一起买", "Bought together"),
        recs::SIMILAR => ctx.t("相似商品", "Similar items"),
        recs::POPULAR => ctx.t("本店热销", "Popular at your store"),
        other => other,
    }
    .to_owned()
}

async fn page(State(state): State<AppState>, ctx: Ctx, Staff(staff): Staff) -> WebResult<Response> {
    let today = crate::app::china_day(crate::storage::now_ms());
    let rows = recs::click_through(&state, &staff, today - (DAYS - 1), today).await?;
    let run = recs::last_run(&state).await?;
    let body = html! {
        div.card #click-through {
            b { (ctx.t("近 30 天点击率（点击 / 展示）", "Click-through, last 30 days (clicks / impressions)")) }
            div.table-wrap { table {
                thead { tr {
                    th { (ctx.t("推荐位", "List")) } th { (ctx.t("展示", "Impressions")) }
                    th { (ctx.t("点击", "Clicks")) } th { (ctx.t("点击率", "Rate")) }
                } }
                tbody { @for r in &rows {
                    tr data-list=(r.list) {
                        td { (list_label(&ctx, &r.list)) }
                        td.impressions { (r.impressions) }
                        td.clicks { (r.clicks) }
                        td.rate { @if r.impressions > 0 {
                            (format!("{:.1}%", r.clicks as f64 * 100.0 / r.impressions as f64))
                        } @else { "—" } }
                    }
                } }
            } }
            p.muted { (ctx.t("展示：页面显示该推荐位一次；点击：埋点 click 事件（target = recommendation）。",
                "Impressions: a page showing the list once; clicks: tracked click events (target recommendation).")) }
        }
        div.card #last-run {
            b { (ctx.t("推荐计算", "Recommendation job")) }
            @match run {
                Some((_, finished, orders, members, rows)) => p {
                    (ctx.t("上次完成 ", "Last finished ")) (when(finished)) " · "
                    (orders) (ctx.t(" 笔订单 · ", " orders · ")) (members) (ctx.t(" 位会员 · ", " members · "))
                    (rows) (ctx.t(" 条推荐", " list rows"))
                },
                None => p.muted { (ctx.t("尚未计算。", "Not computed yet.")) },
            }
        }
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("推荐效果", "Recommendations"),
        body,
    ))
}
