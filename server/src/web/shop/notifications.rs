//! The shopper's notification settings (`/me/notifications`, linked from the member centre):
//! per event kind, SMS and WeChat subscribe messages on or off (in-app is always on), and the
//! signed unsubscribe link (`/unsubscribe?m&k&c&s`) that works without logging in — through
//! [`crate::app::notifications`].

use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::html;
use serde::Deserialize;

use super::{cart_count, require_member, session};
use crate::app::notifications::{self as notify, Channel, EventKind, UnsubscribeQuery};
use crate::app::AppState;
use crate::web::{redirect, shop_page, Ctx, Form, Lang, WebResult};

/// Notification settings routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me/notifications", get(page).post(save))
        .route("/unsubscribe", get(unsubscribe))
}

#[derive(Debug, Deserialize, Default)]
struct PageParams {
    saved: Option<String>,
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
    Query(p): Query<PageParams>,
) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let (_, member) = require_member(session.as_ref(), "/me/notifications")?;
    let prefs = notify::preferences(&state, member).await?;
    let on = |k: EventKind, c: Channel| {
        prefs
            .iter()
            .any(|p| p.kind == k && p.channel == c && p.enabled)
    };
    let count = cart_count(&state, session.as_ref()).await?;
    let body = html! {
        @if p.saved.is_some() { div.notice.ok role="status" #prefs-saved { (ctx.t("已保存。", "Saved.")) } }
        form.card #notification-prefs method="post" action="/me/notifications" {
            (ctx.csrf_field())
            p.muted { (ctx.t("站内消息始终开启；短信与微信订阅消息可按类型开关。微信订阅消息还需在小程序中允许。",
                "In-app messages are always on; SMS and WeChat subscribe messages can be turned on or off per kind. Subscribe messages also need your consent in the mini-program.")) }
            div.table-wrap { table {
                tr { th { (ctx.t("通知", "Notification")) } th { (ctx.t("站内", "In-app")) } th { (ctx.t("短信", "SMS")) } th { (ctx.t("微信", "WeChat")) } }
                @for k in EventKind::ALL { tr {
                    td { (kind_label(&ctx, k)) }
                    td { input type="checkbox" checked disabled; }
                    @for c in Channel::ALL {
                        td { input type="checkbox" name="on" value={ (k.as_str()) ":" (c.as_str()) }
                            id={ "pref-" (k.as_str()) "-" (c.as_str()) } checked[on(k, c)]; }
                    }
                } }
            } }
            button.btn #save-prefs type="submit" { (ctx.t("保存", "Save")) }
        }
    };
    Ok(shop_page(
        &ctx,
        ctx.t("通知设置", "Notification settings"),
        count,
        body,
    ))
}

async fn save(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(form): Form<Vec<(String, String)>>,
) -> WebResult<Response> {
    let session = session(&state, &ctx).await?;
    let (_, member) = require_member(session.as_ref(), "/me/notifications")?;
    // Unknown values are ignored (a box of a kind this version does not know).
    let enabled: Vec<(EventKind, Channel)> = form
        .iter()
        .filter(|(name, _)| name == "on")
        .filter_map(|(_, value)| {
            let (k, c) = value.split_once(':')?;
            Some((EventKind::parse(k)?, Channel::parse(c)?))
        })
        .collect();
    notify::set_preferences(&state, member, &enabled).await?;
    Ok(redirect("/me/notifications?saved=1"))
}

async fn unsubscribe(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<UnsubscribeQuery>,
) -> WebResult<Response> {
    let done = notify::unsubscribe(&state, &q).await?;
    let channels: Vec<&str> = done
        .channels
        .iter()
        .map(|c| match c {
            Channel::Sms => ctx.t("短信", "SMS"),
            Channel::Wechat => ctx.t("微信订阅消息", "WeChat subscribe messages"),
        })
        .collect();
    let body = html! {
        div.card #unsubscribed {
            b { (ctx.t("已退订", "Unsubscribed")) }
            p { (ctx.t("以后不再通过以下渠道发送这些通知：", "These notifications no longer reach you by: ")) (channels.join(", ")) }
            @if done.kinds.len() == 1 { p.muted { (kind_label(&ctx, done.kinds[0])) } }
            p.muted { (ctx.t("站内消息仍会出现在消息中心。登录后可在「通知设置」中重新开启。",
                "In-app messages still appear in the message centre. Log in and open Notification settings to turn them back on.")) }
        }
    };
    Ok(shop_page(&ctx, ctx.t("退订", "Unsubscribe"), 0, body))
}
