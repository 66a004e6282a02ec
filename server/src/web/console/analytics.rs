//! The console's tracked events (埋点), head office only: events per name and day over a date
//! range (China days), from the daily counts kept as events arrive (never a scan of the raw
//! events), and their CSV export (per day, name and channel) — through
//! [`crate::app::events`], as the API's `GET /api/v1/events/daily`.

use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::html;
use serde::Deserialize;

use super::{channel_label, csv_bytes, csv_response};
use crate::app::events as events_app;
use crate::app::AppState;
use crate::web::{console_page, urlencode, Ctx, Staff, WebResult};

/// Analytics routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/analytics/events", get(page))
        .route("/console/analytics/events.csv", get(csv))
}

#[derive(Debug, Deserialize, Default)]
struct RangeParams {
    from: Option<String>,
    to: Option<String>,
}

/// Days shown when no range is asked for: the last fourteen, today included.
const DEFAULT_DAYS: i64 = 14;

/// The range asked for (China day numbers, with their `YYYY-MM-DD`), or the last
/// [`DEFAULT_DAYS`] days; `false` when what was asked for was not a date.
fn range(p: &RangeParams) -> (i64, i64, bool) {
    let today = crate::app::china_day(crate::storage::now_ms());
    let parse = |t: &Option<String>, field| match t.as_deref().filter(|t| !t.is_empty()) {
        None => Some(None),
        Some(t) => events_app::parse_day(t, field).ok().map(Some),
    };
    match (parse(&p.from, "from"), parse(&p.to, "to")) {
        (Some(from), Some(to)) => {
            let to = to.unwrap_or(today);
            (from.unwrap_or(to - (DEFAULT_DAYS - 1)), to, true)
        }
        _ => (today - (DEFAULT_DAYS - 1), today, false),
    }
}

fn date(day: i64) -> String {
    chrono::NaiveDate::from_num_days_from_ce_opt(i32::try_from(day + 719_163).unwrap_or(719_163))
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
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
        form.card.row #range-form method="get" action="/console/analytics/events" {
            label for="from" { (ctx.t("从", "From")) }
            input #from type="date" name="from" value=(from_s) style="max-width:170px";
            label for="to" { (ctx.t("到", "To")) }
            input #to type="date" name="to" value=(to_s) style="max-width:170px";
            button.btn type="submit" { (ctx.t("查看", "Show")) }
            a.btn.secondary #events-csv href={ "/console/analytics/events.csv?from=" (urlencode(&from_s)) "&to=" (urlencode(&to_s)) } {
                (ctx.t("导出 CSV", "Export CSV"))
            }
        }
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
