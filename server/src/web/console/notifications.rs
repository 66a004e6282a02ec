//! The console's notifications page (`/console/notifications`), head office only: the outbox
//! counted per channel and state, the dead-letter list (filtered by channel and kind) with a
//! retry button each, and the templates of every event kind to edit — through
//! [`crate::app::notifications`].

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use crate::app::notifications::{self as notify, Channel, EventKind, TemplateEdit};
use crate::app::AppState;
use crate::error::AppError;
use crate::web::{console_page, redirect, Ctx, Form, Lang, Staff, WebResult};

/// Notification routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/notifications", get(page))
        .route("/console/notifications/retry/{id}", post(retry))
        .route(
            "/console/notifications/templates/{kind}",
            post(save_template),
        )
}

#[derive(Debug, Deserialize, Default)]
struct PageParams {
    channel: Option<String>,
    kind: Option<String>,
    done: Option<String>,
    error: Option<String>,
}

fn kind_label(ctx: &Ctx, kind: EventKind) -> String {
    let t = notify::default_template(kind);
    if ctx.lang == Lang::En {
        t.title_en
    } else {
        t.title_zh
    }
}

async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Staff(staff): Staff,
    Query(p): Query<PageParams>,
) -> WebResult<Response> {
    let channel = p.channel.as_deref().and_then(Channel::parse);
    let kind = p.kind.as_deref().and_then(EventKind::parse);
    let counts = notify::outbox_counts(&state, &staff).await?;
    let dead = notify::dead_letters(&state, &staff, channel, kind).await?;
    let templates = notify::templates(&state).await?;
    let count = |c: &str, s: &str| {
        counts
            .iter()
            .find(|x| x.channel == c && x.state == s)
            .map_or(0, |x| x.count)
    };
    let states = ["pending", "sending", "sent", "skipped", "dead"];
    let body = html! {
        @if p.done.is_some() { div.notice.ok role="status" { (ctx.t("已完成。", "Done.")) } }
        @if let Some(e) = &p.error { div.notice.err role="alert" #notify-error { (ctx.t("未保存：", "Not saved: ")) (e) } }
        div.card #outbox-counts {
            b { (ctx.t("发件箱", "Outbox")) }
            div.table-wrap { table {
                tr { th { (ctx.t("渠道", "Channel")) } @for s in states { th { (s) } } }
                @for c in Channel::ALL { tr {
                    td { (c.as_str()) }
                    @for s in states { td id={ "count-" (c.as_str()) "-" (s) } { (count(c.as_str(), s)) } }
                } }
            } }
            p.muted { (ctx.t("站内消息随业务写入消息中心，始终送达；短信与订阅消息经发件箱发送，失败重试，多次失败或永久错误进入死信。",
                "In-app notices are written with the business change and always arrive; SMS and subscribe messages go through the outbox, are retried, and land in the dead letters after repeated or permanent failures.")) }
        }
        form.card.row #dead-filter method="get" action="/console/notifications" {
            select name="channel" {
                option value="" { (ctx.t("全部渠道", "All channels")) }
                @for c in Channel::ALL { option value=(c.as_str()) selected[channel == Some(c)] { (c.as_str()) } }
            }
            select name="kind" {
                option value="" { (ctx.t("全部类型", "All kinds")) }
                @for k in EventKind::ALL { option value=(k.as_str()) selected[kind == Some(k)] { (kind_label(&ctx, k)) } }
            }
            button.btn type="submit" { (ctx.t("筛选", "Filter")) }
        }
        div.card #dead-letters {
            b { (ctx.t("死信", "Dead letters")) }
            @if dead.is_empty() { p.muted { (ctx.t("没有死信。", "No dead letters.")) } }
            div.table-wrap { table {
                @for row in &dead { tr.dead-letter id={ "dead-" (row.id) } {
                    td { (row.channel) } td { (row.kind) } td.muted { (row.event_key) }
                    td { (row.attempts) } td.reason { (row.last_error) }
                    td.muted { (row.updated_at.format("%Y-%m-%d %H:%M")) }
                    td { form.inline method="post" action={ "/console/notifications/retry/" (row.id) } {
                        (ctx.csrf_field())
                        button.link type="submit" { (ctx.t("重试", "Retry")) }
                    } }
                } }
            } }
        }
        div.card #templates {
            b { (ctx.t("模板", "Templates")) }
            p.muted { (ctx.t("文本中的 {order_no} 等占位符由事件填入。短信模板须在阿里云报备，并以「", "Placeholders such as {order_no} are filled from the event. SMS templates are registered with Alibaba Cloud and end with \""))
                (notify::SMS_OPT_OUT_ZH) (ctx.t("」结尾。", "\".")) }
            @for t in &templates {
                details id={ "template-" (t.kind.as_str()) } {
                    summary { (kind_label(&ctx, t.kind)) " · " code { (t.kind.as_str()) } @if t.overridden { " " span.badge { (ctx.t("已修改", "edited")) } } }
                    form method="post" action={ "/console/notifications/templates/" (t.kind.as_str()) } {
                        (ctx.csrf_field())
                        label { (ctx.t("标题（中）", "Title (zh)")) input name="title_zh" value=(t.title_zh); }
                        label { (ctx.t("标题（英）", "Title (en)")) input name="title_en" value=(t.title_en); }
                        label { (ctx.t("内容（中）", "Text (zh)")) textarea name="text_zh" { (t.text_zh) } }
                        label { (ctx.t("内容（英）", "Text (en)")) textarea name="text_en" { (t.text_en) } }
                        label { (ctx.t("短信模板 CODE", "SMS TemplateCode")) input name="sms_template_code" value=(t.sms_template_code); }
                        label { (ctx.t("订阅消息模板 ID", "Subscribe template id")) input name="wechat_template_id" value=(t.wechat_template_id); }
                        label { (ctx.t("小程序页面", "Mini-program page")) input name="wechat_page" value=(t.wechat_page); }
                        label { (ctx.t("订阅消息字段", "Subscribe fields")) input name="wechat_fields" value=(t.wechat_fields); }
                        button.btn type="submit" { (ctx.t("保存", "Save")) }
                    }
                }
            }
        }
    };
    Ok(console_page(
        &ctx,
        &staff,
        ctx.t("通知", "Notifications"),
        body,
    ))
}

async fn retry(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(id): Path<String>,
    Form(_): Form<std::collections::HashMap<String, String>>,
) -> WebResult<Response> {
    let id: Uuid = id.parse().map_err(|_| AppError::not_found("dead letter"))?;
    notify::retry_dead(&state, &staff, id).await?;
    Ok(redirect("/console/notifications?done=1"))
}

#[derive(Debug, Deserialize, Default)]
struct TemplateForm {
    #[serde(default)]
    title_zh: String,
    #[serde(default)]
    title_en: String,
    #[serde(default)]
    text_zh: String,
    #[serde(default)]
    text_en: String,
    #[serde(default)]
    sms_template_code: String,
    #[serde(default)]
    wechat_template_id: String,
    #[serde(default)]
    wechat_page: String,
    #[serde(default)]
    wechat_fields: String,
}

async fn save_template(
    State(state): State<AppState>,
    Staff(staff): Staff,
    Path(kind): Path<String>,
    Form(form): Form<TemplateForm>,
) -> WebResult<Response> {
    let kind = EventKind::parse(&kind).ok_or_else(|| AppError::not_found("event kind"))?;
    let edit = TemplateEdit {
        title_zh: form.title_zh,
        title_en: form.title_en,
        text_zh: form.text_zh,
        text_en: form.text_en,
        sms_template_code: form.sms_template_code,
        wechat_template_id: form.wechat_template_id,
        wechat_page: form.wechat_page,
        wechat_fields: form.wechat_fields,
    };
    match notify::save_template(&state, &staff, kind, &edit).await {
        Ok(()) => Ok(redirect("/console/notifications?done=1")),
        Err(AppError::Invalid { fields, .. }) => {
            let what = fields.keys().cloned().collect::<Vec<_>>().join(",");
            Ok(redirect(&format!(
                "/console/notifications?error={}",
                crate::web::urlencode(&what)
            )))
        }
        Err(e) => Err(e.into()),
    }
}
