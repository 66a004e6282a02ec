//! The console's tracked events (埋点), head office only: events per name and day over a date
//! range (China days), from the daily counts kept as events arrive (never a scan of the raw
//! events), and their CSV export (per day, name and channel) — through
//! [`crate::app::events`], as the API's `GET /api/v1/events/daily`.

use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::html;

use super::{
    channel_label, csv_bytes, csv_response, day_range as range, day_text as date, range_form,
    RangeParams,
};
use crate::app::events as events_app;
use crate::app::AppState;
use crate::web::{console_page, urlencode, Ctx, Staff, WebResult};

/// Analytics routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/analytics/events", get(page))
        .route("/console/analytics/events.csv", get(csv))
}

async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<RangeParams>,
) -> WebResult<Response> {
    let (from, to, dates_ok) = range(&p);
    let counts = events_app::daily_counts(&state, &staff, from, to).await;
    let (counts, range_ok) = match counts {
        Ok(c) => (c, true),
        Err(crate::error::AppError::Invalid { .. }) => (Vec::new(), false),
        Err(e) => return Err(e.into()),
    };
    let (names, days) = events_app::by_day(&counts);
    let totals: Vec<i64> = (0..names.len())
        .map(|i| days.iter().map(|(_, row)| row[i]).sum())
        .collect();
    let mut channels: Vec<(&str, i64)> = Vec::new();
    for c in &counts {
        match channels.iter_mut().find(|(ch, _)| *ch == c.channel) {
            Some(entry) => entry.1 += c.events,
            None => channels.push((c.channel.as_str(), c.events)),
        }
    }
    let (from_s, to_s) = (date(from), date(to));
    let body = html! {
        @if !dates_ok || !range_ok { div.notice.err role="alert" #range-error {
            (ctx.t("请输入有效的日期范围（最多 366 天）。", "Enter a valid date range (at most 366 days)."))
        } }
        (range_form(&ctx, "/console/analytics/events", &from_s, &to_s, html! {}, &[
            ("events-csv", format!("/console/analytics/events.csv?from={}&to={}", urlencode(&from_s), urlencode(&to_s))),
        ]))
        div.card #by-channel {
            b { (ctx.t("按渠道", "By channel")) }
            div.chips { @for (ch, n) in &channels { span.chip { (channel_label(&ctx, ch)) " " (n) } } }
        }
        div.card #event-days {
            b { (ctx.t("每日事件数（按事件名）", "Events per day, by event name")) }
            @if names.is_empty() { p.muted { (ctx.t("此期间暂无事件。", "No events in this range.")) } }
            @else {
                div.table-wrap { table {
                    thead { tr { th { (ctx.t("日期", "Day")) } @for n in &names { th { (n) } } } }
                    tbody {
                        @for (day, row) in &days { tr data-day=(day) {
                            td { (day) }
                            @for (i, n) in row.iter().enumerate() { td data-name=(names[i]) { (n) } }
                        } }
                        tr.total { td { b { (ctx.t("合计", "Total")) } } @for t in &totals { td { b { (t) } } } }
                    }
                } }
            }
            p.muted { (ctx.t("事件定义见 docs/EVENTS.md；原始事件按配置天数保留，每日计数长期保留。",
                "Event definitions: docs/EVENTS.md. Raw events are kept for the configured days; the daily counts stay.")) }
        }
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("埋点事件", "Tracked events"),
        body,
    ))
}

async fn csv(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Query(p): Query<RangeParams>,
) -> WebResult<Response> {
    let (from, to, _) = range(&p);
    let counts = events_app::daily_counts(&state, &staff, from, to).await?;
    let rows = counts
        .into_iter()
        .map(|c| vec![c.date, c.name, c.channel, c.events.to_string()])
        .collect();
    let bytes = csv_bytes(&["date", "event", "channel", "events"], rows)?;
    Ok(csv_response(
        &format!("events-{}-{}.csv", date(from), date(to)),
        bytes,
    ))
}
