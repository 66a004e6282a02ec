//! Notifications that reach the shopper (issue 18): one service for every event kind
//! ([`EventKind`]) and three channels.
//!
//! * **In-app**: the shop's message centre. Order moves write `member_notices`, after-sale steps
//!   `after_sale_notices`, and the account events (pickup reminder, coupon and points expiring,
//!   balance changed, chat reply) `account_notices` — always on, counted as unread until the
//!   message centre is opened.
//! * **SMS** through the configured [`super::sms::SmsSender`] (Alibaba Cloud `SendSms` with the
//!   kind's `TemplateCode` and `TemplateParam` JSON). Never the demo sandbox.
//! * **WeChat subscribe messages** through [`super::wechat_subscribe::SubscribeSender`], only
//!   when the member accepted the kind's template in the mini-program (one credit per accepted
//!   one-time subscription, used by the message sent).
//!
//! Every event writes its in-app notice and one outbox row per outside channel in the
//! transaction of the business write (`storage::notifications::enqueue_in_tx`; unique per event
//! and channel, so a repeated trigger doubles nothing). [`deliver_due`] (the notification
//! sweeper, [`run`]) sends due rows in batches: a member's preference off, no template, no
//! subscription or no phone → `skipped` with the reason; a temporary failure → retried with
//! exponential backoff; a permanent one (bad number, subscription refused: errcode 43101) or
//! the attempts used up → `dead` with the reason, listed in `/console/notifications`, where head
//! office retries it ([`retry_dead`]) and edits the templates.
//!
//! Preferences per kind and channel ([`preferences`]; defaults [`default_enabled`]) and a signed
//! unsubscribe link that works without logging in ([`unsubscribe_link`], [`unsubscribe`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;
use uuid::Uuid;

use super::sms::{SmsError, SmsSender};
use super::wechat_subscribe::{SubscribeError, SubscribeMessage, SubscribeSender};
use super::AppState;
use crate::actor::{Role, StaffActor};
use crate::error::{AppError, AppResult};
pub use crate::storage::notifications::{Channel, EventKind, OutboxCount, OutboxRow};
use crate::storage::notifications::{Outcome, TemplateOverride};
use crate::storage::{self, now_ms};

/// The opt-out wording every SMS template ends with (Chinese carriers require it).
pub const SMS_OPT_OUT_ZH: &str = "拒收请回复R，退订回T";
/// The same in English.
pub const SMS_OPT_OUT_EN: &str = "Reply T (退订) to unsubscribe";

/// The text of one event kind: built in, or head office's override.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Template {
    /// The kind.
    pub kind: EventKind,
    /// Headline, Chinese.
    pub title_zh: String,
    /// Headline, English.
    pub title_en: String,
    /// Text, Chinese, with `{name}` placeholders filled from the event.
    pub text_zh: String,
    /// Text, English.
    pub text_en: String,
    /// The Alibaba Cloud SMS template code (empty: no SMS for this kind).
    pub sms_template_code: String,
    /// The WeChat subscribe-message template id (empty: no subscribe message).
    pub wechat_template_id: String,
    /// The mini-program page the subscribe message opens (`{name}` placeholders).
    pub wechat_page: String,
    /// The subscribe template's keys and what fills them: `thing1=title;time2=time`.
    pub wechat_fields: String,
    /// Head office changed it.
    pub overridden: bool,
}

/// The built-in template of `kind`.
pub fn default_template(kind: EventKind) -> Template {
    use EventKind as K;
    let (title_zh, title_en, text_zh, text_en) = match kind {
        K::OrderPaid => (
            "支付成功",
            "Payment received",
            "订单 {order_no} 已付款，我们正在为您备货。",
            "Order {order_no} is paid; we are getting it ready.",
        ),
        K::ReadyForPickup => (
            "可以取货了",
            "Ready for pickup",
            "订单 {order_no} 已备好，请凭取件码到店自提。",
            "Order {order_no} is ready: collect it with your pickup code.",
        ),
        K::PickupReminder => (
            "取货提醒",
            "Pickup reminder",
            "订单 {order_no} 还未取货，请在 {deadline} 前到店自提，逾期将自动取消。",
            "Order {order_no} is waiting: collect it before {deadline} or it is cancelled.",
        ),
        K::OrderShipped => (
            "已发货",
            "Shipped",
            "订单 {order_no} 已发货。",
            "Order {order_no} has shipped.",
        ),
        K::OutForDelivery => (
            "派送中",
            "Out for delivery",
            "订单 {order_no} 正在派送，请保持电话畅通。",
            "Order {order_no} is out for delivery today.",
        ),
        K::OrderDelivered => (
            "已送达",
            "Delivered",
            "订单 {order_no} 已送达，感谢您的惠顾。",
            "Order {order_no} has been delivered. Thank you!",
        ),
        K::DeliveryProblem => (
            "配送异常",
            "Delivery problem",
            "订单 {order_no} 配送遇到问题，我们正在处理。",
            "The carrier reported a problem with order {order_no}; we are on it.",
        ),
        K::OrderCancelled => (
            "订单已取消",
            "Order cancelled",
            "订单 {order_no} 已取消；已付款项将原路退回。",
            "Order {order_no} was cancelled; anything paid goes back the way it came.",
        ),
        K::OrderRefunded => (
            "已退款",
            "Refunded",
            "订单 {order_no} 已退款。",
            "Order {order_no} was refunded.",
        ),
        K::AfterSale => (
            "售后进度",
            "After-sale update",
            "订单 {order_no} 的售后申请有新进度（{step}）。",
            "Your after-sale request for order {order_no} moved on ({step}).",
        ),
        K::GroupFilled => (
            "拼团成功",
            "Group filled",
            "订单 {order_no} 拼团成功，我们将尽快为您发货。",
            "The group of order {order_no} filled; your order goes on.",
        ),
        K::GroupFailed => (
            "拼团未成",
            "Group did not fill",
            "订单 {order_no} 拼团未成，款项将原路退回。",
            "The group of order {order_no} did not fill; you are refunded.",
        ),
        K::CouponExpiring => (
            "优惠券即将过期",
            "A coupon expires soon",
            "您的优惠券「{name_zh}」将于 {until} 过期。",
            "Your coupon \"{name_en}\" expires on {until}.",
        ),
        K::PointsExpiring => (
            "积分即将过期",
            "Points expire soon",
            "您有 {points} 积分将于 {until} 前过期，请尽快使用。",
            "{points} of your points expire by {until}: use them soon.",
        ),
        K::BalanceChanged => (
            "余额变动",
            "Balance changed",
            "您的储值余额变动 {amount} 元。",
            "Your stored-value balance changed by ¥{amount}.",
        ),
        K::ChatReply => (
            "客服回复",
            "Customer service replied",
            "客服回复了您的咨询，点击查看。",
            "Customer service replied to you: tap to read it.",
        ),
        K::Campaign => ("会员专享", "For our members", "{text_zh}", "{text_en}"),
    };
    let page = if about_an_order(kind) {
        "pages/order/detail?id={order_id}"
    } else {
        "pages/me/index"
    };
    Template {
        kind,
        title_zh: title_zh.into(),
        title_en: title_en.into(),
        text_zh: text_zh.into(),
        text_en: text_en.into(),
        sms_template_code: String::new(),
        wechat_template_id: String::new(),
        wechat_page: page.into(),
        wechat_fields: "thing1=title;thing2=summary;time3=time".into(),
        overridden: false,
    }
}

/// True for the kinds about one order (their subscribe message opens the order).
fn about_an_order(kind: EventKind) -> bool {
    !matches!(
        kind,
        EventKind::CouponExpiring
            | EventKind::PointsExpiring
            | EventKind::BalanceChanged
            | EventKind::ChatReply
            | EventKind::Campaign
    )
}

impl Template {
    /// The headline in `zh` or `en`.
    pub fn title(&self, english: bool) -> &str {
        if english {
            &self.title_en
        } else {
            &self.title_zh
        }
    }

    /// The text in `zh` or `en`, placeholders filled from `params`.
    pub fn text(&self, english: bool, params: &serde_json::Value) -> String {
        render(
            if english {
                &self.text_en
            } else {
                &self.text_zh
            },
            params,
        )
    }

    /// The data of the subscribe message for an event with `params` at `at` (Unix ms): each key
    /// of [`Template::wechat_fields`] filled and cut to what WeChat accepts for its type.
    pub fn wechat_data(&self, params: &serde_json::Value, at: i64) -> Vec<(String, String)> {
        let time = chrono::DateTime::from_timestamp_millis(at)
            .unwrap_or_default()
            .with_timezone(&super::china_offset())
            .format("%Y-%m-%d %H:%M")
            .to_string();
        self.wechat_fields
            .split(';')
            .filter_map(|pair| pair.split_once('='))
            .map(|(key, source)| {
                let (key, source) = (key.trim(), source.trim());
                let value = match source {
                    "title" => self.title_zh.clone(),
                    "summary" | "text" => self.text(false, params),
                    "time" => time.clone(),
                    name => param(params, name),
                };
                (key.to_owned(), cut_for_key(key, &value))
            })
            .collect()
    }
}

/// Cuts a value to the length WeChat accepts for the key's type (`thing` 20 characters,
/// `phrase` 5, `name` 10, `character_string` and `number` 32).
fn cut_for_key(key: &str, value: &str) -> String {
    let limit = if key.starts_with("thing") {
        20
    } else if key.starts_with("phrase") {
        5
    } else if key.starts_with("name") {
        10
    } else {
        32
    };
    value.chars().take(limit).collect()
}

fn param(params: &serde_json::Value, name: &str) -> String {
    match &params[name] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Fills `{name}` placeholders from `params` (an unknown name is left as it is).
pub fn render(text: &str, params: &serde_json::Value) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end)
                if after[..end]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    && !params[&after[..end]].is_null() =>
            {
                out.push_str(&param(params, &after[..end]));
                rest = &after[end + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Every kind's template: head office's override where there is one, else the built-in one.
pub async fn templates(state: &AppState) -> AppResult<Vec<Template>> {
    let overrides: HashMap<String, TemplateOverride> =
        storage::notifications::template_overrides(&state.store)
            .await?
            .into_iter()
            .map(|t| (t.kind.clone(), t))
            .collect();
    Ok(EventKind::ALL
        .into_iter()
        .map(|kind| match overrides.get(kind.as_str()) {
            Some(t) => Template {
                kind,
                title_zh: t.title_zh.clone(),
                title_en: t.title_en.clone(),
                text_zh: t.text_zh.clone(),
                text_en: t.text_en.clone(),
                sms_template_code: t.sms_template_code.clone(),
                wechat_template_id: t.wechat_template_id.clone(),
                wechat_page: t.wechat_page.clone(),
                wechat_fields: t.wechat_fields.clone(),
                overridden: true,
            },
            None => default_template(kind),
        })
        .collect())
}

/// A template as head office edits it.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct TemplateEdit {
    /// Headline, Chinese.
    pub title_zh: String,
    /// Headline, English.
    pub title_en: String,
    /// Text, Chinese.
    pub text_zh: String,
    /// Text, English.
    pub text_en: String,
    /// `SMS_…` or empty.
    pub sms_template_code: String,
    /// The subscribe template id or empty.
    pub wechat_template_id: String,
    /// The mini-program page.
    pub wechat_page: String,
    /// `key=source;…`.
    pub wechat_fields: String,
}

/// Saves head office's template of `kind` after checking it (every text 1–500 characters, the
/// codes without spaces, the fields `key=source` pairs): a clear 422 and nothing saved
/// otherwise.
pub async fn save_template(
    state: &AppState,
    staff: &StaffActor,
    kind: EventKind,
    edit: &TemplateEdit,
) -> AppResult<()> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let actor = staff.username.as_str();
    for (field, value) in [
        ("title_zh", &edit.title_zh),
        ("title_en", &edit.title_en),
        ("text_zh", &edit.text_zh),
        ("text_en", &edit.text_en),
    ] {
        let n = value.trim().chars().count();
        if n == 0 || n > 500 {
            return Err(AppError::field(field, "1 to 500 characters"));
        }
    }
    for (field, value) in [
        ("sms_template_code", &edit.sms_template_code),
        ("wechat_template_id", &edit.wechat_template_id),
        ("wechat_page", &edit.wechat_page),
    ] {
        if value.len() > 200 || value.chars().any(char::is_whitespace) {
            return Err(AppError::field(field, "at most 200 characters, no spaces"));
        }
    }
    let fields = edit.wechat_fields.trim();
    if fields.len() > 500
        || fields.split(';').filter(|p| !p.trim().is_empty()).any(|p| {
            p.split_once('=')
                .is_none_or(|(k, v)| k.trim().is_empty() || v.trim().is_empty())
        })
    {
        return Err(AppError::field(
            "wechat_fields",
            "key=source pairs separated by ';'",
        ));
    }
    storage::notifications::save_template(
        &state.store,
        &TemplateOverride {
            kind: kind.as_str().into(),
            title_zh: edit.title_zh.trim().into(),
            title_en: edit.title_en.trim().into(),
            text_zh: edit.text_zh.trim().into(),
            text_en: edit.text_en.trim().into(),
            sms_template_code: edit.sms_template_code.trim().into(),
            wechat_template_id: edit.wechat_template_id.trim().into(),
            wechat_page: edit.wechat_page.trim().into(),
            wechat_fields: fields.into(),
        },
        actor,
    )
    .await
}

/// Whether `kind` goes out on `channel` for a member who chose nothing: subscribe messages
/// always (the member accepts each in the mini-program anyway), SMS only for what must not be
/// missed (ready for pickup, the pickup reminder). In-app is always on.
pub fn default_enabled(kind: EventKind, channel: Channel) -> bool {
    match channel {
        Channel::Wechat => true,
        Channel::Sms => matches!(kind, EventKind::ReadyForPickup | EventKind::PickupReminder),
    }
}

/// One preference as the shop shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Preference {
    /// The kind.
    pub kind: EventKind,
    /// The channel.
    pub channel: Channel,
    /// On.
    pub enabled: bool,
}

/// The member's preferences: every kind and outside channel, their choice or the default.
pub async fn preferences(state: &AppState, member: Uuid) -> AppResult<Vec<Preference>> {
    let saved: HashMap<(String, String), bool> =
        storage::notifications::preferences(&state.store, &[member])
            .await?
            .into_iter()
            .map(|(_, k, c, e)| ((k, c), e))
            .collect();
    Ok(EventKind::ALL
        .into_iter()
        .flat_map(|kind| Channel::ALL.into_iter().map(move |channel| (kind, channel)))
        .map(|(kind, channel)| Preference {
            kind,
            channel,
            enabled: saved
                .get(&(kind.as_str().to_owned(), channel.as_str().to_owned()))
                .copied()
                .unwrap_or_else(|| default_enabled(kind, channel)),
        })
        .collect())
}

/// Saves the member's choices (every kind and channel named in `enabled` is on, every other
/// one off).
pub async fn set_preferences(
    state: &AppState,
    member: Uuid,
    enabled: &[(EventKind, Channel)],
) -> AppResult<()> {
    let choices: Vec<(EventKind, Channel, bool)> = EventKind::ALL
        .into_iter()
        .flat_map(|k| Channel::ALL.into_iter().map(move |c| (k, c)))
        .map(|(k, c)| (k, c, enabled.contains(&(k, c))))
        .collect();
    storage::notifications::set_preferences(&state.store, member, &choices).await
}

/// What an unsubscribe link covers: `k` a kind or `all`, `c` a channel or `all`.
#[derive(Clone, Debug, Deserialize)]
pub struct UnsubscribeQuery {
    /// The member.
    pub m: String,
    /// A kind's name or `all`.
    pub k: String,
    /// `sms`, `wechat` or `all`.
    pub c: String,
    /// The signature: the first 32 hex digits of HMAC-SHA256 with the server's look-up key
    /// over `unsubscribe|v1|{m}|{k}|{c}`.
    pub s: String,
}

fn unsubscribe_signature(state: &AppState, member: &str, kind: &str, channel: &str) -> String {
    let mut full = state
        .keys
        .link_signature(&format!("unsubscribe|v1|{member}|{kind}|{channel}"));
    full.truncate(32);
    full
}

/// The signed unsubscribe link of `member` for `kind` (all kinds when `None`) on `channel`
/// (both outside channels when `None`): `{public_url}/unsubscribe?m=…&k=…&c=…&s=…`.
pub fn unsubscribe_link(
    state: &AppState,
    member: Uuid,
    kind: Option<EventKind>,
    channel: Option<Channel>,
) -> String {
    let (m, k, c) = (
        member.to_string(),
        kind.map_or("all", EventKind::as_str),
        channel.map_or("all", Channel::as_str),
    );
    let s = unsubscribe_signature(state, &m, k, c);
    format!(
        "{}/unsubscribe?m={m}&k={k}&c={c}&s={s}",
        state.public_url.trim_end_matches('/')
    )
}

/// What an unsubscribe link turned off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsubscribed {
    /// The member.
    pub member: Uuid,
    /// The kinds.
    pub kinds: Vec<EventKind>,
    /// The channels.
    pub channels: Vec<Channel>,
}

/// Follows an unsubscribe link: with a good signature, turns off what it covers (no log-in
/// needed; following it twice is harmless). A tampered or malformed link: 400, nothing changed.
pub async fn unsubscribe(state: &AppState, q: &UnsubscribeQuery) -> AppResult<Unsubscribed> {
    let bad =
        || AppError::bad_request("bad_unsubscribe_link", "this unsubscribe link is not valid");
    let member: Uuid = q.m.parse().map_err(|_| bad())?;
    let kinds: Vec<EventKind> = match q.k.as_str() {
        "all" => EventKind::ALL.to_vec(),
        k => vec![EventKind::parse(k).ok_or_else(bad)?],
    };
    let channels: Vec<Channel> = match q.c.as_str() {
        "all" => Channel::ALL.to_vec(),
        c => vec![Channel::parse(c).ok_or_else(bad)?],
    };
    let expected = unsubscribe_signature(state, &member.to_string(), &q.k, &q.c);
    if !crate::secrets::signatures_match(&expected, &q.s) {
        return Err(bad());
    }
    let current = preferences(state, member).await?;
    let choices: Vec<(EventKind, Channel, bool)> = current
        .iter()
        .map(|p| {
            let off = kinds.contains(&p.kind) && channels.contains(&p.channel);
            (p.kind, p.channel, p.enabled && !off)
        })
        .collect();
    if storage::members::exists(&state.store, member).await? {
        storage::notifications::set_preferences(&state.store, member, &choices).await?;
    }
    Ok(Unsubscribed {
        member,
        kinds,
        channels,
    })
}

/// What a member's `wx.requestSubscribeMessage` answered, as the mini-program posts it.
#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct SubscriptionResult {
    /// The client's id of this request (UUIDv7): a repeat records nothing.
    pub request_id: Uuid,
    /// A fresh `wx.login` code: the server learns the member's openid from it.
    pub js_code: String,
    /// Template id → `accept`, `reject`, `ban` or `filter` (the `wx.requestSubscribeMessage`
    /// success result).
    #[schema(value_type = Object)]
    pub results: BTreeMap<String, String>,
}

/// What was recorded.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SubscriptionsRecorded {
    /// False when this request was recorded before.
    pub new: bool,
    /// The template ids accepted (one credit each).
    pub accepted: Vec<String>,
}

/// Records the subscriptions a member accepted in the mini-program: each `accept` is one
/// subscribe message that may be sent (one-time subscriptions). Bad input: 400/422, nothing
/// recorded; no mini-program configured: 409.
pub async fn record_subscriptions(
    state: &AppState,
    member: Uuid,
    result: &SubscriptionResult,
) -> AppResult<SubscriptionsRecorded> {
    if result.request_id.get_version_num() != 7 {
        return Err(AppError::field("request_id", "a UUIDv7"));
    }
    if result.results.is_empty() || result.results.len() > 20 {
        return Err(AppError::field("results", "1 to 20 template ids"));
    }
    let mut accepted = Vec::new();
    for (template, answer) in &result.results {
        if template.is_empty()
            || template.len() > 128
            || !template
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(AppError::field("results", "a template id is malformed"));
        }
        match answer.as_str() {
            "accept" => accepted.push(template.clone()),
            "reject" | "ban" | "filter" => {}
            _ => {
                return Err(AppError::field(
                    "results",
                    "each answer is accept, reject, ban or filter",
                ))
            }
        }
    }
    let code = result.js_code.trim();
    if code.is_empty() || code.len() > 128 {
        return Err(AppError::field("js_code", "the code of wx.login"));
    }
    let Some(wechat) = &state.wechat_subscribe else {
        return Err(AppError::conflict(
            "wechat_not_configured",
            "subscribe messages are not configured",
        ));
    };
    let openid = wechat.openid_of(code).await.map_err(|e| match e {
        SubscribeError::Permanent(_) => {
            AppError::field("js_code", "WeChat does not know this code")
        }
        SubscribeError::Temporary(m) => AppError::Unavailable(format!("WeChat: {m}")),
    })?;
    let new = storage::notifications::record_subscriptions(
        &state.store,
        result.request_id,
        member,
        &openid,
        &accepted,
    )
    .await?;
    Ok(SubscriptionsRecorded { new, accepted })
}

/// Tells `member` that customer service replied in `conversation_id` (message `message_seq`)
/// while they were away: an in-app notice and the outside channels they chose. Idempotent by
/// conversation and sequence number: calling it again for the same message does nothing.
/// The chat calls it when an agent's message finds the shopper offline.
pub async fn chat_reply_while_offline(
    state: &AppState,
    member: Uuid,
    conversation_id: &str,
    message_seq: i64,
) -> AppResult<()> {
    if conversation_id.is_empty() || conversation_id.len() > 100 || message_seq < 0 {
        return Err(AppError::bad_request(
            "bad_chat_reference",
            "a conversation id and a message sequence number",
        ));
    }
    storage::notifications::notify_account(
        &state.store,
        member,
        EventKind::ChatReply,
        &format!("{conversation_id}:{message_seq}"),
        &serde_json::json!({ "conversation_id": conversation_id, "seq": message_seq }),
    )
    .await?;
    Ok(())
}

/// China-time `YYYY-MM-DD HH:MM` of a Unix time in ms.
fn china_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .with_timezone(&super::china_offset())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// Tells members of their unused coupons that expire within `members.coupon_expiry_notice_days`
/// (none when 0): in-app and the outside channels, once per coupon. Returns how many were told.
pub async fn tell_expiring_coupons(state: &AppState) -> AppResult<usize> {
    let days = i64::from(state.settings.members.coupon_expiry_notice_days);
    if days == 0 {
        return Ok(0);
    }
    let now = now_ms();
    let until = now + days * 86_400_000;
    let mut told = 0;
    loop {
        let coupons = storage::coupons::expiring_untold(&state.store, now, until, 500).await?;
        if coupons.is_empty() {
            return Ok(told);
        }
        for coupon in coupons {
            let valid_until = coupon.valid_until.timestamp_millis();
            let detail = serde_json::json!({
                "name_zh": coupon.terms.name_zh,
                "name_en": coupon.terms.name_en,
                "valid_until": valid_until,
                "until": china_time(valid_until),
            });
            if storage::notifications::notify_account(
                &state.store,
                coupon.member_id,
                EventKind::CouponExpiring,
                &coupon.id.to_string(),
                &detail,
            )
            .await?
            {
                told += 1;
            }
        }
    }
}

/// Tells members whose points expire within `notifications.points_expiry_notice_days` (none
/// when 0), once per batch of points falling due. Returns how many were told.
pub async fn tell_expiring_points(state: &AppState) -> AppResult<usize> {
    let days = i64::from(state.settings.notifications.points_expiry_notice_days);
    if days == 0 {
        return Ok(0);
    }
    let until = now_ms() + days * 86_400_000;
    let mut told = 0;
    for (member, points, due_total) in
        storage::members::points_expiring(&state.store, until).await?
    {
        if storage::notifications::notify_account(
            &state.store,
            member,
            EventKind::PointsExpiring,
            &format!("due:{due_total}"),
            &serde_json::json!({ "points": points, "until": china_time(until) }),
        )
        .await?
        {
            told += 1;
        }
    }
    Ok(told)
}

/// Reminds members of pickup orders that will be cancelled for not being collected within
/// `notifications.pickup_reminder_hours` (none when 0), once per order. Returns how many.
pub async fn remind_pickups(state: &AppState) -> AppResult<usize> {
    let hours = i64::from(state.settings.notifications.pickup_reminder_hours);
    if hours == 0 {
        return Ok(0);
    }
    let hold_ms = i64::try_from(state.settings.orders.pickup_hold_secs.saturating_mul(1000))
        .unwrap_or(i64::MAX / 4);
    let ready_before = now_ms() - (hold_ms - hours * 3_600_000).max(0);
    let mut told = 0;
    for (order, member, order_no, ready_at) in
        storage::notifications::pickups_to_remind(&state.store, ready_before, 500).await?
    {
        if storage::notifications::notify_account(
            &state.store,
            member,
            EventKind::PickupReminder,
            &order.to_string(),
            &serde_json::json!({
                "order_no": order_no,
                "order_id": order.to_string(),
                "deadline": china_time(ready_at.saturating_add(hold_ms)),
            }),
        )
        .await?
        {
            told += 1;
        }
    }
    Ok(told)
}

/// What one round of [`deliver_due`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Round {
    /// Rows claimed.
    pub claimed: usize,
    /// Sent.
    pub sent: usize,
    /// Skipped (preference, no subscription, no phone, not configured).
    pub skipped: usize,
    /// To be tried again.
    pub retried: usize,
    /// Dead-lettered.
    pub dead: usize,
}

enum Job {
    Sms {
        id: Uuid,
        attempts: i64,
        sender: Arc<dyn SmsSender>,
        phone: String,
        code: String,
        param: String,
    },
    Wechat {
        id: Uuid,
        attempts: i64,
        sender: Arc<dyn SubscribeSender>,
        member: Uuid,
        message: SubscribeMessage,
    },
}

/// A failure after a row's `attempts` before this one.
fn failed(state: &AppState, id: Uuid, attempts: i64, error: String, permanent: bool) -> Outcome {
    let cfg = &state.settings.notifications;
    let tried = attempts.saturating_add(1);
    if permanent {
        return Outcome::Dead { id, error };
    }
    if tried >= i64::from(cfg.max_attempts.max(1)) {
        return Outcome::Dead {
            id,
            error: format!("{error} (gave up after {tried} attempts)"),
        };
    }
    Outcome::Retry {
        id,
        error,
        at: now_ms().saturating_add(backoff_ms(
            cfg.retry_base_millis,
            cfg.retry_max_millis,
            tried,
        )),
    }
}

/// The delay before the next attempt after `tried` attempts: `base · 2^(tried−1)`, at most
/// `max`.
pub fn backoff_ms(base: u64, max: u64, tried: i64) -> i64 {
    let shift = u32::try_from((tried - 1).clamp(0, 30)).unwrap_or(30);
    let delay = base.saturating_mul(1_u64 << shift).min(max.max(base));
    i64::try_from(delay).unwrap_or(i64::MAX / 4)
}

async fn run_job(state: AppState, job: Job) -> Outcome {
    match job {
        Job::Sms {
            id,
            attempts,
            sender,
            phone,
            code,
            param,
        } => match sender.send_template(&phone, &code, &param).await {
            Ok(biz_id) => Outcome::Sent {
                id,
                provider_ref: biz_id,
                credit: None,
            },
            Err(e @ (SmsError::BadNumber(_) | SmsError::Refused { .. })) => {
                failed(&state, id, attempts, e.to_string(), true)
            }
            Err(e) => failed(&state, id, attempts, e.to_string(), false),
        },
        Job::Wechat {
            id,
            attempts,
            sender,
            member,
            message,
        } => match sender.send(&message).await {
            Ok(msgid) => Outcome::Sent {
                id,
                provider_ref: msgid,
                credit: Some((member, message.template_id)),
            },
            Err(SubscribeError::Permanent(e)) => failed(&state, id, attempts, e, true),
            Err(SubscribeError::Temporary(e)) => failed(&state, id, attempts, e, false),
        },
    }
}

/// Sends one batch of due outbox rows (see the module documentation) and writes what became of
/// each. Safe to run from several places at once: each row is claimed by one caller only.
pub async fn deliver_due(state: &AppState) -> AppResult<Round> {
    let cfg = &state.settings.notifications;
    let now = now_ms();
    let interrupted = storage::notifications::expire_leases(&state.store, now).await?;
    if interrupted > 0 {
        tracing::warn!(
            rows = interrupted,
            "notifications interrupted while sending dead-lettered"
        );
    }
    let lease = i64::try_from(cfg.lease_secs.saturating_mul(1000)).unwrap_or(300_000);
    let (token, rows) =
        storage::notifications::claim_due(&state.store, now, i64::from(cfg.batch.max(1)), lease)
            .await?;
    let mut round = Round {
        claimed: rows.len(),
        ..Round::default()
    };
    if rows.is_empty() {
        return Ok(round);
    }
    let templates: HashMap<EventKind, Template> = templates(state)
        .await?
        .into_iter()
        .map(|t| (t.kind, t))
        .collect();
    let mut members: Vec<Uuid> = rows.iter().map(|r| r.member_id).collect();
    members.sort_unstable();
    members.dedup();
    let prefs: HashMap<(Uuid, String, String), bool> =
        storage::notifications::preferences(&state.store, &members)
            .await?
            .into_iter()
            .map(|(m, k, c, e)| ((m, k, c), e))
            .collect();
    let sms = state.sms.clone().filter(|s| !s.shows_code_on_page());
    let phones: HashMap<Uuid, Option<String>> =
        if sms.is_some() && rows.iter().any(|r| r.channel == "sms") {
            storage::notifications::sealed_phones(&state.store, &members)
                .await?
                .into_iter()
                .collect()
        } else {
            HashMap::new()
        };
    let mut credits: HashMap<(Uuid, String), (String, i64)> =
        if state.wechat_subscribe.is_some() && rows.iter().any(|r| r.channel == "wechat") {
            storage::notifications::subscriptions(&state.store, &members)
                .await?
                .into_iter()
                .map(|(m, t, o, c)| ((m, t), (o, c)))
                .collect()
        } else {
            HashMap::new()
        };
    let mut outcomes = Vec::with_capacity(rows.len());
    let mut jobs = Vec::new();
    for row in rows {
        let skip = |reason: &str| Outcome::Skipped {
            id: row.id,
            reason: reason.to_owned(),
        };
        let (Some(kind), Some(channel)) =
            (EventKind::parse(&row.kind), Channel::parse(&row.channel))
        else {
            outcomes.push(Outcome::Dead {
                id: row.id,
                error: format!("unknown kind or channel: {} {}", row.kind, row.channel),
            });
            continue;
        };
        let enabled = prefs
            .get(&(row.member_id, row.kind.clone(), row.channel.clone()))
            .copied()
            .unwrap_or_else(|| default_enabled(kind, channel));
        if !enabled {
            outcomes.push(skip("the member turned this off"));
            continue;
        }
        let template = templates
            .get(&kind)
            .cloned()
            .unwrap_or_else(|| default_template(kind));
        match channel {
            Channel::Sms => {
                let Some(sender) = sms.clone() else {
                    outcomes.push(skip("SMS is not configured"));
                    continue;
                };
                if template.sms_template_code.is_empty() {
                    outcomes.push(skip("no SMS template for this kind"));
                    continue;
                }
                let phone = match phones.get(&row.member_id) {
                    Some(Some(sealed)) => state
                        .keys
                        .open(
                            crate::secrets::SealedField::MemberPhone,
                            row.member_id,
                            sealed,
                        )
                        .ok(),
                    _ => None,
                };
                let Some(phone) = phone.filter(|p| !p.is_empty()) else {
                    outcomes.push(skip("no phone number (account deleted)"));
                    continue;
                };
                let values: serde_json::Map<String, serde_json::Value> = row
                    .params
                    .as_object()
                    .map(|o| {
                        o.iter()
                            .filter(|(k, _)| !k.ends_with("_id") && !k.starts_with("valid_"))
                            .map(|(k, v)| {
                                let text = match v {
                                    serde_json::Value::String(s) => s.clone(),
                                    other => other.to_string(),
                                };
                                (
                                    k.clone(),
                                    serde_json::Value::String(text.chars().take(35).collect()),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                jobs.push(Job::Sms {
                    id: row.id,
                    attempts: row.attempts,
                    sender,
                    phone,
                    code: template.sms_template_code.clone(),
                    param: serde_json::Value::Object(values).to_string(),
                });
            }
            Channel::Wechat => {
                let Some(sender) = state.wechat_subscribe.clone() else {
                    outcomes.push(skip("WeChat subscribe messages are not configured"));
                    continue;
                };
                if template.wechat_template_id.is_empty() {
                    outcomes.push(skip("no subscribe template for this kind"));
                    continue;
                }
                let key = (row.member_id, template.wechat_template_id.clone());
                let openid = match credits.get_mut(&key) {
                    Some((openid, n)) if *n > 0 => {
                        *n -= 1;
                        openid.clone()
                    }
                    _ => {
                        outcomes.push(skip("the member has not accepted this subscription"));
                        continue;
                    }
                };
                let message = SubscribeMessage {
                    touser: openid,
                    template_id: template.wechat_template_id.clone(),
                    page: render(&template.wechat_page, &row.params),
                    data: template.wechat_data(&row.params, row.created_at.timestamp_millis()),
                };
                jobs.push(Job::Wechat {
                    id: row.id,
                    attempts: row.attempts,
                    sender,
                    member: row.member_id,
                    message,
                });
            }
        }
    }
    let limit = usize::try_from(cfg.concurrency.max(1)).unwrap_or(32);
    let mut running = tokio::task::JoinSet::new();
    for job in jobs {
        if running.len() >= limit {
            if let Some(Ok(outcome)) = running.join_next().await {
                outcomes.push(outcome);
            }
        }
        running.spawn(run_job(state.clone(), job));
    }
    while let Some(done) = running.join_next().await {
        match done {
            Ok(outcome) => outcomes.push(outcome),
            // A panicked send leaves its row `sending`: dead-lettered when the lease ends.
            Err(e) => tracing::error!(error = %e, "a notification send failed to finish"),
        }
    }
    for outcome in &outcomes {
        match outcome {
            Outcome::Sent { .. } => round.sent += 1,
            Outcome::Skipped { .. } => round.skipped += 1,
            Outcome::Retry { .. } => round.retried += 1,
            Outcome::Dead { .. } => round.dead += 1,
        }
    }
    storage::notifications::finish(&state.store, &token, &outcomes).await?;
    Ok(round)
}

/// Delivers until nothing is due (tests, the bench): rounds until one claims nothing.
pub async fn deliver_all_due(state: &AppState) -> AppResult<Round> {
    let mut total = Round::default();
    loop {
        let round = deliver_due(state).await?;
        if round.claimed == 0 {
            return Ok(total);
        }
        total.claimed += round.claimed;
        total.sent += round.sent;
        total.skipped += round.skipped;
        total.retried += round.retried;
        total.dead += round.dead;
    }
}

/// Puts a dead letter back in the queue (head office, from the console); 404 when it is not a
/// dead letter.
pub async fn retry_dead(state: &AppState, staff: &StaffActor, id: Uuid) -> AppResult<()> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    if storage::notifications::retry_dead(&state.store, id, &staff.username).await? {
        Ok(())
    } else {
        Err(AppError::not_found("dead letter"))
    }
}

/// The outbox as the console shows it: counts per channel and state, and dead letters.
pub async fn outbox_counts(state: &AppState, staff: &StaffActor) -> AppResult<Vec<OutboxCount>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    storage::notifications::counts(&state.store).await
}

/// Dead letters, newest first, filtered by channel and kind.
pub async fn dead_letters(
    state: &AppState,
    staff: &StaffActor,
    channel: Option<Channel>,
    kind: Option<EventKind>,
) -> AppResult<Vec<OutboxRow>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    storage::notifications::dead_letters(&state.store, channel, kind, 200).await
}

/// Runs the notification sweeps until cancelled, apart from the order sweeps (a slow provider
/// must not hold them up): the outbox every `notifications.deliver_every_millis`, pickup
/// reminders every minute, points expiring hourly.
///
/// With `deliver_every_millis = 0` it does nothing (tests and benchmarks deliver themselves).
pub async fn run(state: AppState, cancel: CancellationToken) {
    if state.settings.notifications.deliver_every_millis == 0 {
        return;
    }
    let every = Duration::from_millis(state.settings.notifications.deliver_every_millis.max(20));
    let (mut last_reminders, mut last_points) = (0_i64, 0_i64);
    loop {
        let now = now_ms();
        if now - last_reminders > 60_000 {
            let run = super::cluster::leased(
                &state,
                "notifications.pickup_reminders",
                Duration::from_secs(60),
                remind_pickups(&state),
            );
            if let Err(err) = run.await {
                tracing::warn!(error = %err, "pickup reminders failed; will retry");
            }
            last_reminders = now;
        }
        if now - last_points > 3_600_000 {
            let run = super::cluster::leased(
                &state,
                "notifications.expiring_points",
                Duration::from_secs(3600),
                tell_expiring_points(&state),
            );
            if let Err(err) = run.await {
                tracing::warn!(error = %err, "telling of expiring points failed; will retry");
            }
            last_points = now;
        }
        loop {
            match deliver_due(&state).await {
                Ok(round)
                    if round.claimed >= state.settings.notifications.batch.max(1) as usize =>
                {
                    if cancel.is_cancelled() {
                        break;
                    }
                }
                Ok(_) => break,
                Err(err) => {
                    tracing::warn!(error = %err, "delivering notifications failed; will retry");
                    break;
                }
            }
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(every) => {}
        }
    }
}
