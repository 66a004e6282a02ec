//! Notices to members about their orders: "your pickup order is ready", "shipped", "cancelled
//! by the store"… Each is written in the same transaction as the order's move
//! ([`super::orders::set_status`]), once per order and kind, and read in the shop's message
//! centre.

use retail_domain::order::{Channel, OrderStatus};
use uuid::Uuid;

use super::orders::OrderHead;
use super::paging::{self, Cursor, Order, Page};
use super::{col, from_ms, now_ms, uuid_col, Store, Tx};
use crate::error::AppResult;

/// What a notice says about the order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoticeKind {
    /// The payment arrived.
    Paid,
    /// A pickup order waits at its store.
    ReadyForPickup,
    /// A delivery order left the warehouse.
    Shipped,
    /// A delivery order arrived.
    Delivered,
    /// The store cancelled it, or it was never paid or never collected.
    Cancelled,
    /// Refunded after a return.
    Refunded,
    /// The carrier is bringing the parcel today (a tracking event).
    OutForDelivery,
    /// The carrier reported a problem with the parcel (a tracking event).
    DeliveryProblem,
    /// The order's group-buy team (拼团) filled: the order goes on to fulfilment.
    GroupFilled,
    /// The order's group-buy team did not fill in time: the order is cancelled and refunded.
    GroupFailed,
}

impl NoticeKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Paid => "paid",
            Self::ReadyForPickup => "ready_for_pickup",
            Self::Shipped => "shipped",
            Self::Delivered => "delivered",
            Self::Cancelled => "cancelled",
            Self::Refunded => "refunded",
            Self::OutForDelivery => "out_for_delivery",
            Self::DeliveryProblem => "delivery_exception",
            Self::GroupFilled => "group_filled",
            Self::GroupFailed => "group_failed",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "paid" => Self::Paid,
            "ready_for_pickup" => Self::ReadyForPickup,
            "shipped" => Self::Shipped,
            "delivered" => Self::Delivered,
            "cancelled" => Self::Cancelled,
            "refunded" => Self::Refunded,
            "out_for_delivery" => Self::OutForDelivery,
            "delivery_exception" => Self::DeliveryProblem,
            "group_filled" => Self::GroupFilled,
            "group_failed" => Self::GroupFailed,
            _ => return None,
        })
    }

    /// The notice a move of an online order to `to` by `actor` sends its member, if any: the
    /// shopper is not told about what they did themselves (cancelling their own order).
    pub fn for_move(channel: Channel, to: OrderStatus, actor: &str) -> Option<Self> {
        if channel != Channel::Online {
            return None; // a lane sale or scan-and-go basket is finished in the shopper's hands
        }
        Some(match to {
            OrderStatus::Paid => Self::Paid,
            OrderStatus::ReadyForPickup => Self::ReadyForPickup,
            OrderStatus::Shipped => Self::Shipped,
            OrderStatus::Delivered => Self::Delivered,
            OrderStatus::Cancelled if !is_shopper(actor) => Self::Cancelled,
            OrderStatus::Refunded => Self::Refunded,
            _ => return None,
        })
    }
}

impl NoticeKind {
    /// The notice a carrier's tracking event of `status` sends the order's member, if any: the
    /// parcel out for delivery, or a problem with it (the other steps are on the order's page).
    pub fn for_tracking(status: &str) -> Option<Self> {
        match status {
            "out_for_delivery" => Some(Self::OutForDelivery),
            "exception" => Some(Self::DeliveryProblem),
            _ => None,
        }
    }
}

/// True for the actors the shop and the shopper's API act as.
fn is_shopper(actor: &str) -> bool {
    actor == "shopper" || actor.starts_with("member:")
}

/// One notice.
#[derive(Clone, Debug)]
pub struct Notice {
    /// Id.
    pub id: Uuid,
    /// The order it is about.
    pub order_id: Uuid,
    /// The order's number.
    pub order_no: String,
    /// The order's store or warehouse.
    pub location_id: String,
    /// What happened.
    pub kind: NoticeKind,
    /// When.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Whether the member has seen it.
    pub read: bool,
}

/// Records the notice for a move of `head` to `to` (see [`NoticeKind::for_move`]); nothing for
/// orders without a member, and nothing twice for the same order and kind.
pub async fn record_move_in_tx(
    tx: &mut Tx,
    head: &OrderHead,
    to: OrderStatus,
    actor: &str,
) -> AppResult<()> {
    record_moves_in_tx(tx, &[head], to, actor).await
}

/// [`record_move_in_tx`] for many orders moving to `to` (one multi-row insert).
pub async fn record_moves_in_tx(
    tx: &mut Tx,
    heads: &[&OrderHead],
    to: OrderStatus,
    actor: &str,
) -> AppResult<()> {
    let rows: Vec<(&OrderHead, NoticeKind)> = heads
        .iter()
        .filter_map(|head| Some((*head, NoticeKind::for_move(head.channel, to, actor)?)))
        .collect();
    record_in_tx(tx, &rows).await
}

/// Records the notice of a tracking event of `status` on `head` (see
/// [`NoticeKind::for_tracking`]): online orders of a member only, once per order and kind.
pub async fn record_tracking_in_tx(tx: &mut Tx, head: &OrderHead, status: &str) -> AppResult<()> {
    match NoticeKind::for_tracking(status) {
        Some(kind) if head.channel == Channel::Online => record_in_tx(tx, &[(head, kind)]).await,
        _ => Ok(()),
    }
}

/// Records a group-buy notice ([`NoticeKind::GroupFilled`] or [`NoticeKind::GroupFailed`]) for
/// each of `heads` (their members only, once per order and kind).
pub async fn record_group_in_tx(
    tx: &mut Tx,
    heads: &[&OrderHead],
    kind: NoticeKind,
) -> AppResult<()> {
    let rows: Vec<(&OrderHead, NoticeKind)> = heads.iter().map(|h| (*h, kind)).collect();
    record_in_tx(tx, &rows).await
}

/// Writes one notice per order and kind (one multi-row insert; none for an order without a
/// member, none twice).
async fn record_in_tx(tx: &mut Tx, notices: &[(&OrderHead, NoticeKind)]) -> AppResult<()> {
    let now = now_ms();
    let rows: Vec<(String, Uuid, &OrderHead, NoticeKind)> = notices
        .iter()
        .filter_map(|(head, kind)| {
            Some((
                retail_domain::ids::new_id().to_string(),
                head.member_id?,
                *head,
                *kind,
            ))
        })
        .collect();
    super::upsert_rows(
        tx,
        "member_notices",
        &[
            "id",
            "member_id",
            "order_id",
            "kind",
            "order_no",
            "location_id",
            "created_at",
        ],
        &rows,
        "ON CONFLICT (order_id, kind) DO NOTHING",
        |query, (id, member, head, kind)| {
            query
                .bind(id.as_str())
                .bind(member.to_string())
                .bind(head.id.to_string())
                .bind(kind.as_str())
                .bind(head.order_no.as_str())
                .bind(head.location_id.as_str())
                .bind(now)
        },
    )
    .await?;
    // The same events for the outside channels (SMS, WeChat), once per order, kind and channel.
    let outbox: Vec<super::notifications::NewNotification> = rows
        .iter()
        .map(|(_, member, head, kind)| {
            let event = super::notifications::EventKind::of_order_notice(*kind);
            super::notifications::NewNotification {
                member: *member,
                kind: event,
                event_key: format!("{}:{}", event.as_str(), head.id),
                params: serde_json::json!({
                    "order_no": head.order_no,
                    "order_id": head.id.to_string(),
                    "location_id": head.location_id,
                }),
            }
        })
        .collect();
    super::notifications::enqueue_in_tx(tx, &outbox).await
}

/// A page of the member's notices, newest first (keyset on time then id, from `cursor`).
pub async fn recent(
    store: &Store,
    member: Uuid,
    cursor: Option<&Cursor>,
    limit: i64,
) -> AppResult<Page<Notice>> {
    let limit = limit.clamp(1, 200);
    let rows = paging::bind(
        sqlx::query(&format!(
            "SELECT id, order_id, order_no, location_id, kind, created_at, read_at FROM member_notices \
             WHERE member_id = $1 AND {} {} LIMIT $2",
            paging::after("created_at", "id", 3, Order::Desc),
            paging::order_by("created_at", "id", Order::Desc),
        ))
        .bind(member.to_string())
        .bind(paging::fetch_limit(limit)),
        cursor,
    )
    .fetch_all(store.reader())
    .await?;
    // Paged on every row, then the kinds this version does not know are left out.
    let mut keyed = Vec::with_capacity(rows.len());
    for row in &rows {
        let id = uuid_col(row, "id")?;
        let created_at: i64 = col(row, "created_at")?;
        let kind: String = col(row, "kind")?;
        let notice = match NoticeKind::parse(&kind) {
            Some(kind) => Some(Notice {
                id,
                order_id: uuid_col(row, "order_id")?,
                order_no: col(row, "order_no")?,
                location_id: col(row, "location_id")?,
                kind,
                created_at: from_ms(created_at),
                read: col::<Option<i64>>(row, "read_at")?.is_some(),
            }),
            None => None,
        };
        keyed.push((Cursor::new(created_at, id), notice));
    }
    let page = paging::page_keyed(keyed, limit);
    Ok(Page {
        items: page.items.into_iter().flatten().collect(),
        next_cursor: page.next_cursor,
    })
}

/// How many of the member's notices are unread (about orders, after-sales and the account).
pub async fn unread(store: &Store, member: Uuid) -> AppResult<i64> {
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM member_notices WHERE member_id = $1 AND read_at IS NULL) \
         + (SELECT COUNT(*) FROM after_sale_notices WHERE member_id = $1 AND read_at IS NULL) \
         + (SELECT COUNT(*) FROM account_notices WHERE member_id = $1 AND read_at IS NULL) AS n",
    )
    .bind(member.to_string())
    .fetch_one(store.reader())
    .await?;
    col(&row, "n")
}

/// Marks every notice of the member as read (they opened the message centre), after-sale
/// notices too.
pub async fn mark_all_read(store: &Store, member: Uuid) -> AppResult<u64> {
    super::after_sales::mark_read(store, member).await?;
    super::account_notices::mark_read(store, member).await?;
    Ok(sqlx::query(
        "UPDATE member_notices SET read_at = $1 WHERE member_id = $2 AND read_at IS NULL",
    )
    .bind(now_ms())
    .bind(member.to_string())
    .execute(store.writer())
    .await?
    .rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_is_told_what() {
        use NoticeKind as K;
        use OrderStatus as S;
        let online = Channel::Online;
        assert_eq!(
            K::for_move(online, S::ReadyForPickup, "mgr.sh001"),
            Some(K::ReadyForPickup)
        );
        assert_eq!(
            K::for_move(online, S::ReadyForPickup, "device:x"),
            Some(K::ReadyForPickup)
        );
        assert_eq!(K::for_move(online, S::Shipped, "admin"), Some(K::Shipped));
        assert_eq!(
            K::for_move(online, S::Cancelled, "payment-timeout"),
            Some(K::Cancelled)
        );
        // Shoppers cancelling their own orders are not told about it.
        assert_eq!(K::for_move(online, S::Cancelled, "shopper"), None);
        assert_eq!(K::for_move(online, S::Cancelled, "member:0190"), None);
        // Nothing about collecting it (the shopper was there) or lane sales.
        assert_eq!(K::for_move(online, S::PickedUp, "cashier1.sh001"), None);
        assert_eq!(K::for_move(Channel::Pos, S::Refunded, "cashier1"), None);
        assert_eq!(K::for_move(Channel::ScanAndGo, S::Completed, "gate"), None);
        for kind in [
            K::Paid,
            K::ReadyForPickup,
            K::Shipped,
            K::Delivered,
            K::Cancelled,
            K::Refunded,
        ] {
            assert_eq!(K::parse(kind.as_str()), Some(kind));
        }
    }
}
