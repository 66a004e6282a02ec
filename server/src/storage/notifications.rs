//! Notifications (issue 18, migration 0047): the outbox of the outside channels (SMS, WeChat
//! subscribe messages), head office's template overrides, the shoppers' preferences and their
//! accepted mini-program subscriptions.
//!
//! The outbox holds one row per event and channel (`UNIQUE (event_key, channel)`), written with
//! `ON CONFLICT DO NOTHING` in the transaction of the business write ([`enqueue_in_tx`]), so an
//! event repeated never notifies twice. The sweeper claims due rows in batches ([`claim_due`]:
//! `pending` → `sending` under a claim token and a lease), sends them, and writes the outcomes in
//! one transaction ([`finish`]). A row found `sending` past its lease (the server stopped while
//! sending) is dead-lettered, never sent again ([`expire_leases`]): at most once, never silently.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{col, from_ms, now_ms, uuid_col, Store, Tx};
use crate::error::AppResult;

/// What a notification is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The order's payment arrived.
    OrderPaid,
    /// A delivery order left the warehouse.
    OrderShipped,
    /// A delivery order arrived.
    OrderDelivered,
    /// A pickup order waits at its store.
    ReadyForPickup,
    /// A pickup order is about to be cancelled for not being collected.
    PickupReminder,
    /// The store cancelled the order (or it was never paid or collected).
    OrderCancelled,
    /// The order was refunded.
    OrderRefunded,
    /// The carrier is bringing the parcel today.
    OutForDelivery,
    /// The carrier reported a problem with the parcel.
    DeliveryProblem,
    /// An after-sale case moved on.
    AfterSale,
    /// The order's group-buy team filled.
    GroupFilled,
    /// The order's group-buy team failed (refunded).
    GroupFailed,
    /// A coupon expires soon.
    CouponExpiring,
    /// Points expire soon.
    PointsExpiring,
    /// The stored-value balance changed.
    BalanceChanged,
    /// Customer service replied while the shopper was away.
    ChatReply,
    /// Head office's message to a segment of members (`app::segments::notify_segment`).
    Campaign,
}

impl EventKind {
    /// Every kind, in the order the console and the preferences page list them.
    pub const ALL: [EventKind; 17] = [
        Self::OrderPaid,
        Self::ReadyForPickup,
        Self::PickupReminder,
        Self::OrderShipped,
        Self::OutForDelivery,
        Self::OrderDelivered,
        Self::DeliveryProblem,
        Self::OrderCancelled,
        Self::OrderRefunded,
        Self::AfterSale,
        Self::GroupFilled,
        Self::GroupFailed,
        Self::CouponExpiring,
        Self::PointsExpiring,
        Self::BalanceChanged,
        Self::ChatReply,
        Self::Campaign,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrderPaid => "order_paid",
            Self::OrderShipped => "order_shipped",
            Self::OrderDelivered => "order_delivered",
            Self::ReadyForPickup => "ready_for_pickup",
            Self::PickupReminder => "pickup_reminder",
            Self::OrderCancelled => "order_cancelled",
            Self::OrderRefunded => "order_refunded",
            Self::OutForDelivery => "out_for_delivery",
            Self::DeliveryProblem => "delivery_exception",
            Self::AfterSale => "after_sale",
            Self::GroupFilled => "group_filled",
            Self::GroupFailed => "group_failed",
            Self::CouponExpiring => "coupon_expiring",
            Self::PointsExpiring => "points_expiring",
            Self::BalanceChanged => "balance_changed",
            Self::ChatReply => "chat_reply",
            Self::Campaign => "campaign",
        }
    }

    /// The kind of a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// The kind of an order notice ([`super::notices::NoticeKind`]).
    pub fn of_order_notice(kind: super::notices::NoticeKind) -> Self {
        use super::notices::NoticeKind as K;
        match kind {
            K::Paid => Self::OrderPaid,
            K::ReadyForPickup => Self::ReadyForPickup,
            K::Shipped => Self::OrderShipped,
            K::Delivered => Self::OrderDelivered,
            K::Cancelled => Self::OrderCancelled,
            K::Refunded => Self::OrderRefunded,
            K::OutForDelivery => Self::OutForDelivery,
            K::DeliveryProblem => Self::DeliveryProblem,
            K::GroupFilled => Self::GroupFilled,
            K::GroupFailed => Self::GroupFailed,
        }
    }
}

/// An outside channel (the in-app channel is the message centre's own tables).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// SMS (Alibaba Cloud `SendSms` with a template).
    Sms,
    /// WeChat mini-program subscribe message.
    Wechat,
}

impl Channel {
    /// Both outside channels.
    pub const ALL: [Channel; 2] = [Self::Sms, Self::Wechat];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Wechat => "wechat",
        }
    }

    /// The channel of a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// A notification to write: the event once, for every outside channel.
#[derive(Clone, Debug)]
pub struct NewNotification {
    /// Who is told.
    pub member: Uuid,
    /// What about.
    pub kind: EventKind,
    /// The event's key: the same event always has the same key (e.g. `order_paid:<order>`).
    pub event_key: String,
    /// The facts the texts are made from (strings).
    pub params: serde_json::Value,
}

/// Writes the outbox rows of `notifications` (one per outside channel; nothing twice for the
/// same event and channel).
pub async fn enqueue_in_tx(tx: &mut Tx, notifications: &[NewNotification]) -> AppResult<()> {
    if notifications.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    let rows: Vec<(String, &NewNotification, Channel, String)> = notifications
        .iter()
        .flat_map(|n| {
            let params = n.params.to_string();
            Channel::ALL.into_iter().map(move |c| {
                (
                    retail_domain::ids::new_id().to_string(),
                    n,
                    c,
                    params.clone(),
                )
            })
        })
        .collect();
    super::upsert_rows(
        tx,
        "notification_outbox",
        &[
            "id",
            "event_key",
            "channel",
            "member_id",
            "kind",
            "params",
            "state",
            "next_attempt_at",
            "created_at",
            "updated_at",
        ],
        &rows,
        "ON CONFLICT (event_key, channel) DO NOTHING",
        |query, (id, n, channel, params)| {
            query
                .bind(id.as_str())
                .bind(n.event_key.as_str())
                .bind(channel.as_str())
                .bind(n.member.to_string())
                .bind(n.kind.as_str())
                .bind(params.as_str())
                .bind("pending")
                .bind(now)
                .bind(now)
                .bind(now)
        },
    )
    .await
}

/// Records an account notice (the in-app channel, [`super::account_notices`]) of `kind` about
/// `subject` and the outbox rows of the same event, in `tx`; false when it was there already.
pub async fn notify_account_in_tx(
    tx: &mut Tx,
    member: Uuid,
    kind: EventKind,
    subject: &str,
    detail: &serde_json::Value,
) -> AppResult<bool> {
    let new =
        super::account_notices::record_in_tx(tx, member, kind.as_str(), subject, detail).await?;
    enqueue_in_tx(
        tx,
        &[NewNotification {
            member,
            kind,
            event_key: format!("{}:{member}:{subject}", kind.as_str()),
            params: detail.clone(),
        }],
    )
    .await?;
    Ok(new)
}

/// [`notify_account_in_tx`] in a transaction of its own.
pub async fn notify_account(
    store: &Store,
    member: Uuid,
    kind: EventKind,
    subject: &str,
    detail: &serde_json::Value,
) -> AppResult<bool> {
    let mut tx = store.begin().await?;
    let new = notify_account_in_tx(&mut tx, member, kind, subject, detail).await?;
    tx.commit().await?;
    Ok(new)
}

/// One outbox row.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct OutboxRow {
    /// Id.
    pub id: Uuid,
    /// The event's key.
    pub event_key: String,
    /// `sms` or `wechat`.
    pub channel: String,
    /// Who is told.
    pub member_id: Uuid,
    /// The event kind's name.
    pub kind: String,
    /// The facts the text is made from.
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// `pending`, `sending`, `sent`, `skipped` or `dead`.
    pub state: String,
    /// Sending attempts so far.
    pub attempts: i64,
    /// When it is tried next (pending).
    pub next_attempt_at: chrono::DateTime<chrono::Utc>,
    /// Why the last attempt failed, or why it was skipped.
    pub last_error: String,
    /// The provider's message id, once sent.
    pub provider_ref: Option<String>,
    /// Written.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Last changed.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

const OUTBOX_COLUMNS: &str = "id, event_key, channel, member_id, kind, params, state, attempts, \
     next_attempt_at, last_error, provider_ref, created_at, updated_at";

fn outbox_row(r: &sqlx::any::AnyRow) -> AppResult<OutboxRow> {
    Ok(OutboxRow {
        id: uuid_col(r, "id")?,
        event_key: col(r, "event_key")?,
        channel: col(r, "channel")?,
        member_id: uuid_col(r, "member_id")?,
        kind: col(r, "kind")?,
        params: serde_json::from_str(&col::<String>(r, "params")?).unwrap_or_default(),
        state: col(r, "state")?,
        attempts: col(r, "attempts")?,
        next_attempt_at: from_ms(col(r, "next_attempt_at")?),
        last_error: col(r, "last_error")?,
        provider_ref: col(r, "provider_ref")?,
        created_at: from_ms(col(r, "created_at")?),
        updated_at: from_ms(col(r, "updated_at")?),
    })
}

/// Dead-letters rows left `sending` past their lease (the sender stopped mid-way: the message
/// may or may not have gone out, so it is never sent again); returns how many.
pub async fn expire_leases(store: &Store, now: i64) -> AppResult<u64> {
    Ok(sqlx::query(
        "UPDATE notification_outbox SET state = 'dead', claim = NULL, updated_at = $1, \
         last_error = 'interrupted while sending (may or may not have been delivered; not sent again)' \
         WHERE state = 'sending' AND lease_until < $1",
    )
    .bind(now)
    .execute(store.writer())
    .await?
    .rows_affected())
}

/// Claims up to `limit` due pending rows for `lease_ms` under a fresh claim token; answers the
/// token and the rows (each claimed by this caller only).
pub async fn claim_due(
    store: &Store,
    now: i64,
    limit: i64,
    lease_ms: i64,
) -> AppResult<(String, Vec<OutboxRow>)> {
    let token = retail_domain::ids::new_id().to_string();
    let ids = sqlx::query(
        "SELECT id FROM notification_outbox WHERE state = 'pending' AND next_attempt_at <= $1 \
         ORDER BY next_attempt_at LIMIT $2",
    )
    .bind(now)
    .bind(limit.clamp(1, 2_000))
    .fetch_all(store.reader())
    .await?;
    if ids.is_empty() {
        return Ok((token, Vec::new()));
    }
    let ids: Vec<String> = ids
        .iter()
        .map(|r| col::<String>(r, "id"))
        .collect::<AppResult<_>>()?;
    let mut tx = store.begin().await?;
    for chunk in ids.chunks(500) {
        let list = super::placeholders(4, chunk.len());
        let sql = format!(
            "UPDATE notification_outbox SET state = 'sending', claim = $1, lease_until = $2, \
             updated_at = $3 WHERE state = 'pending' AND id IN ({list})"
        );
        let mut q = sqlx::query(&sql)
            .bind(token.as_str())
            .bind(now + lease_ms)
            .bind(now);
        for id in chunk {
            q = q.bind(id.as_str());
        }
        q.execute(&mut *tx).await?;
    }
    let rows = sqlx::query(&format!(
        "SELECT {OUTBOX_COLUMNS} FROM notification_outbox WHERE claim = $1"
    ))
    .bind(token.as_str())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let rows = rows.iter().map(outbox_row).collect::<AppResult<_>>()?;
    Ok((token, rows))
}

/// What became of a claimed row.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Delivered; the provider's message id; a WeChat subscription credit used.
    Sent {
        /// The row.
        id: Uuid,
        /// The provider's message id.
        provider_ref: String,
        /// The member's subscription credit to use (WeChat).
        credit: Option<(Uuid, String)>,
    },
    /// Not for this member now (preference off, no subscription, no phone, not configured).
    Skipped {
        /// The row.
        id: Uuid,
        /// Why.
        reason: String,
    },
    /// A temporary failure: tried again at `at`.
    Retry {
        /// The row.
        id: Uuid,
        /// What failed.
        error: String,
        /// When to try again (Unix ms).
        at: i64,
    },
    /// A permanent failure, or the attempts used up: dead-lettered with the reason.
    Dead {
        /// The row.
        id: Uuid,
        /// Why.
        error: String,
    },
}

/// Writes the outcomes of the rows claimed under `token` (one transaction; a row no longer
/// claimed by `token` is left alone).
pub async fn finish(store: &Store, token: &str, outcomes: &[Outcome]) -> AppResult<()> {
    if outcomes.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    let mut tx = store.begin().await?;
    for outcome in outcomes {
        let (sql, id, text, at): (&str, Uuid, &str, i64) = match outcome {
            Outcome::Sent {
                id, provider_ref, ..
            } => (
                "UPDATE notification_outbox SET state = 'sent', attempts = attempts + 1, \
                 provider_ref = $3, last_error = '', claim = NULL, updated_at = $4, \
                 next_attempt_at = $5 WHERE id = $1 AND claim = $2",
                *id,
                provider_ref.as_str(),
                now,
            ),
            Outcome::Skipped { id, reason } => (
                "UPDATE notification_outbox SET state = 'skipped', last_error = $3, claim = NULL, \
                 updated_at = $4, next_attempt_at = $5 WHERE id = $1 AND claim = $2",
                *id,
                reason.as_str(),
                now,
            ),
            Outcome::Retry { id, error, at } => (
                "UPDATE notification_outbox SET state = 'pending', attempts = attempts + 1, \
                 last_error = $3, claim = NULL, updated_at = $4, next_attempt_at = $5 \
                 WHERE id = $1 AND claim = $2",
                *id,
                error.as_str(),
                *at,
            ),
            Outcome::Dead { id, error } => (
                "UPDATE notification_outbox SET state = 'dead', attempts = attempts + 1, \
                 last_error = $3, claim = NULL, updated_at = $4, next_attempt_at = $5 \
                 WHERE id = $1 AND claim = $2",
                *id,
                error.as_str(),
                now,
            ),
        };
        let done = sqlx::query(sql)
            .bind(id.to_string())
            .bind(token)
            .bind(text)
            .bind(now)
            .bind(at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if let (
            1,
            Outcome::Sent {
                credit: Some((member, template)),
                ..
            },
        ) = (done, outcome)
        {
            sqlx::query(
                "UPDATE notification_subscriptions SET credits = credits - 1, updated_at = $3 \
                 WHERE member_id = $1 AND template_id = $2 AND credits > 0",
            )
            .bind(member.to_string())
            .bind(template.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Rows per channel and state.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct OutboxCount {
    /// `sms` or `wechat`.
    pub channel: String,
    /// The state.
    pub state: String,
    /// How many rows.
    pub count: i64,
}

/// The outbox's rows counted per channel and state.
pub async fn counts(store: &Store) -> AppResult<Vec<OutboxCount>> {
    sqlx::query(
        "SELECT channel, state, COUNT(*) AS n FROM notification_outbox GROUP BY channel, state \
         ORDER BY channel, state",
    )
    .fetch_all(store.reader())
    .await?
    .iter()
    .map(|r| {
        Ok(OutboxCount {
            channel: col(r, "channel")?,
            state: col(r, "state")?,
            count: col(r, "n")?,
        })
    })
    .collect()
}

/// Dead letters, newest first, of one channel and kind when given.
pub async fn dead_letters(
    store: &Store,
    channel: Option<Channel>,
    kind: Option<EventKind>,
    limit: i64,
) -> AppResult<Vec<OutboxRow>> {
    sqlx::query(&format!(
        "SELECT {OUTBOX_COLUMNS} FROM notification_outbox WHERE state = 'dead' \
         AND ($1 IS NULL OR channel = $1) AND ($2 IS NULL OR kind = $2) \
         ORDER BY updated_at DESC, id DESC LIMIT $3"
    ))
    .bind(channel.map(Channel::as_str))
    .bind(kind.map(EventKind::as_str))
    .bind(limit.clamp(1, 500))
    .fetch_all(store.reader())
    .await?
    .iter()
    .map(outbox_row)
    .collect()
}

/// A member's outbox rows, oldest first.
pub async fn of_member(store: &Store, member: Uuid) -> AppResult<Vec<OutboxRow>> {
    sqlx::query(&format!(
        "SELECT {OUTBOX_COLUMNS} FROM notification_outbox WHERE member_id = $1 \
         ORDER BY created_at, id"
    ))
    .bind(member.to_string())
    .fetch_all(store.reader())
    .await?
    .iter()
    .map(outbox_row)
    .collect()
}

/// One outbox row.
pub async fn row(store: &Store, id: Uuid) -> AppResult<Option<OutboxRow>> {
    sqlx::query(&format!(
        "SELECT {OUTBOX_COLUMNS} FROM notification_outbox WHERE id = $1"
    ))
    .bind(id.to_string())
    .fetch_optional(store.writer())
    .await?
    .as_ref()
    .map(outbox_row)
    .transpose()
}

/// Puts a dead letter back in the queue, due now with its attempts counted afresh; false when
/// the row is not dead.
pub async fn retry_dead(store: &Store, id: Uuid, actor: &str) -> AppResult<bool> {
    let now = now_ms();
    let mut tx = store.begin().await?;
    let done = sqlx::query(
        "UPDATE notification_outbox SET state = 'pending', attempts = 0, next_attempt_at = $2, \
         updated_at = $2 WHERE id = $1 AND state = 'dead'",
    )
    .bind(id.to_string())
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if done {
        super::audit::record(
            &mut tx,
            actor,
            "notification.retry",
            "notification_outbox",
            &id.to_string(),
            serde_json::json!({}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(done)
}

/// Head office's text of one event kind.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TemplateOverride {
    /// The event kind's name.
    pub kind: String,
    /// Headline, Chinese.
    pub title_zh: String,
    /// Headline, English.
    pub title_en: String,
    /// Text, Chinese (`{name}` placeholders).
    pub text_zh: String,
    /// Text, English.
    pub text_en: String,
    /// Alibaba Cloud SMS template code (`SMS_…`); empty: no SMS for this kind.
    pub sms_template_code: String,
    /// WeChat subscribe-message template id; empty: no subscribe message for this kind.
    pub wechat_template_id: String,
    /// The mini-program page the message opens.
    pub wechat_page: String,
    /// The template's keys and what fills them: `thing1=title;character_string2=order_no`.
    pub wechat_fields: String,
}

/// Every override head office saved.
pub async fn template_overrides(store: &Store) -> AppResult<Vec<TemplateOverride>> {
    sqlx::query(
        "SELECT kind, title_zh, title_en, text_zh, text_en, sms_template_code, \
         wechat_template_id, wechat_page, wechat_fields FROM notification_templates ORDER BY kind",
    )
    .fetch_all(store.reader())
    .await?
    .iter()
    .map(|r| {
        Ok(TemplateOverride {
            kind: col(r, "kind")?,
            title_zh: col(r, "title_zh")?,
            title_en: col(r, "title_en")?,
            text_zh: col(r, "text_zh")?,
            text_en: col(r, "text_en")?,
            sms_template_code: col(r, "sms_template_code")?,
            wechat_template_id: col(r, "wechat_template_id")?,
            wechat_page: col(r, "wechat_page")?,
            wechat_fields: col(r, "wechat_fields")?,
        })
    })
    .collect()
}

/// Saves head office's template of one kind (replacing the one before), audited.
pub async fn save_template(store: &Store, t: &TemplateOverride, actor: &str) -> AppResult<()> {
    let mut tx = store.begin().await?;
    sqlx::query(
        "INSERT INTO notification_templates (kind, title_zh, title_en, text_zh, text_en, \
         sms_template_code, wechat_template_id, wechat_page, wechat_fields, updated_by, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (kind) DO UPDATE SET \
         title_zh = excluded.title_zh, title_en = excluded.title_en, text_zh = excluded.text_zh, \
         text_en = excluded.text_en, sms_template_code = excluded.sms_template_code, \
         wechat_template_id = excluded.wechat_template_id, wechat_page = excluded.wechat_page, \
         wechat_fields = excluded.wechat_fields, updated_by = excluded.updated_by, \
         updated_at = excluded.updated_at",
    )
    .bind(t.kind.as_str())
    .bind(t.title_zh.as_str())
    .bind(t.title_en.as_str())
    .bind(t.text_zh.as_str())
    .bind(t.text_en.as_str())
    .bind(t.sms_template_code.as_str())
    .bind(t.wechat_template_id.as_str())
    .bind(t.wechat_page.as_str())
    .bind(t.wechat_fields.as_str())
    .bind(actor)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    super::audit::record(
        &mut tx,
        actor,
        "notification.template",
        "notification_templates",
        &t.kind,
        serde_json::json!({ "sms_template_code": t.sms_template_code, "wechat_template_id": t.wechat_template_id }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The choices the members saved: `(member, kind, channel, enabled)`.
pub async fn preferences(
    store: &Store,
    members: &[Uuid],
) -> AppResult<Vec<(Uuid, String, String, bool)>> {
    let mut out = Vec::new();
    for chunk in members.chunks(500) {
        let sql = format!(
            "SELECT member_id, kind, channel, enabled FROM notification_preferences \
             WHERE member_id IN ({})",
            super::placeholders(1, chunk.len())
        );
        let mut q = sqlx::query(&sql);
        for m in chunk {
            q = q.bind(m.to_string());
        }
        for r in q.fetch_all(store.reader()).await? {
            out.push((
                uuid_col(&r, "member_id")?,
                col(&r, "kind")?,
                col(&r, "channel")?,
                col::<i64>(&r, "enabled")? != 0,
            ));
        }
    }
    Ok(out)
}

/// Saves a member's choices `(kind, channel, enabled)` (replacing those before).
pub async fn set_preferences(
    store: &Store,
    member: Uuid,
    choices: &[(EventKind, Channel, bool)],
) -> AppResult<()> {
    let now = now_ms();
    let mut tx = store.begin().await?;
    for (kind, channel, enabled) in choices {
        sqlx::query(
            "INSERT INTO notification_preferences (member_id, kind, channel, enabled, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (member_id, kind, channel) DO UPDATE SET \
             enabled = excluded.enabled, updated_at = excluded.updated_at",
        )
        .bind(member.to_string())
        .bind(kind.as_str())
        .bind(channel.as_str())
        .bind(i64::from(*enabled))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Records the subscriptions a member accepted in one `wx.requestSubscribeMessage` (one credit
/// each), once per `request_id`; false when that request was recorded already.
pub async fn record_subscriptions(
    store: &Store,
    request_id: Uuid,
    member: Uuid,
    openid: &str,
    accepted: &[String],
) -> AppResult<bool> {
    let now = now_ms();
    let mut tx = store.begin().await?;
    let new = sqlx::query(
        "INSERT INTO notification_subscription_requests (request_id, member_id, created_at) \
         VALUES ($1, $2, $3) ON CONFLICT (request_id) DO NOTHING",
    )
    .bind(request_id.to_string())
    .bind(member.to_string())
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if new {
        for template in accepted {
            sqlx::query(
                "INSERT INTO notification_subscriptions (member_id, template_id, openid, credits, \
                 updated_at) VALUES ($1, $2, $3, 1, $4) ON CONFLICT (member_id, template_id) \
                 DO UPDATE SET credits = notification_subscriptions.credits + 1, \
                 openid = excluded.openid, updated_at = excluded.updated_at",
            )
            .bind(member.to_string())
            .bind(template.as_str())
            .bind(openid)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(new)
}

/// The members' subscriptions: `(member, template id, openid, credits)`.
pub async fn subscriptions(
    store: &Store,
    members: &[Uuid],
) -> AppResult<Vec<(Uuid, String, String, i64)>> {
    let mut out = Vec::new();
    for chunk in members.chunks(500) {
        let sql = format!(
            "SELECT member_id, template_id, openid, credits FROM notification_subscriptions \
             WHERE member_id IN ({})",
            super::placeholders(1, chunk.len())
        );
        let mut q = sqlx::query(&sql);
        for m in chunk {
            q = q.bind(m.to_string());
        }
        for r in q.fetch_all(store.writer()).await? {
            out.push((
                uuid_col(&r, "member_id")?,
                col(&r, "template_id")?,
                col(&r, "openid")?,
                col(&r, "credits")?,
            ));
        }
    }
    Ok(out)
}

/// The members' sealed phones (`None` for a deleted account).
pub async fn sealed_phones(
    store: &Store,
    members: &[Uuid],
) -> AppResult<Vec<(Uuid, Option<String>)>> {
    let mut out = Vec::new();
    for chunk in members.chunks(500) {
        let sql = format!(
            "SELECT id, phone_enc, deleted_at FROM members WHERE id IN ({})",
            super::placeholders(1, chunk.len())
        );
        let mut q = sqlx::query(&sql);
        for m in chunk {
            q = q.bind(m.to_string());
        }
        for r in q.fetch_all(store.reader()).await? {
            let deleted = col::<Option<i64>>(&r, "deleted_at")?.is_some();
            out.push((
                uuid_col(&r, "id")?,
                (!deleted)
                    .then(|| col::<String>(&r, "phone_enc"))
                    .transpose()?,
            ));
        }
    }
    Ok(out)
}

/// A pickup order to remind its member of: `(order, member, order number, ready since ms)`.
pub type PickupToRemind = (Uuid, Uuid, String, i64);

/// Pickup orders of members ready since before `ready_before` and not reminded yet.
pub async fn pickups_to_remind(
    store: &Store,
    ready_before: i64,
    limit: i64,
) -> AppResult<Vec<PickupToRemind>> {
    sqlx::query(
        "SELECT o.id, o.member_id, o.order_no, o.updated_at FROM orders o \
         WHERE o.status = 'ready_for_pickup' AND o.updated_at <= $1 AND o.member_id IS NOT NULL \
         AND NOT EXISTS (SELECT 1 FROM account_notices n WHERE n.member_id = o.member_id \
         AND n.kind = 'pickup_reminder' AND n.ref = o.id) ORDER BY o.updated_at LIMIT $2",
    )
    .bind(ready_before)
    .bind(limit)
    .fetch_all(store.reader())
    .await?
    .iter()
    .map(|r| {
        Ok((
            uuid_col(r, "id")?,
            uuid_col(r, "member_id")?,
            col(r, "order_no")?,
            col(r, "updated_at")?,
        ))
    })
    .collect()
}
