//! Customer-service chat (issue 18): conversations between a member and the service, their
//! numbered messages, the queues' working hours and the agents' canned replies (migration 0048).
//!
//! A message's number (`seq`) is the conversation's `last_seq` counted up in the transaction
//! that stores it, so numbers have no gaps and a reconnecting client asks for what follows the
//! last number it holds. A message's `client_id` is unique: storing the same one again answers
//! the message stored the first time and changes nothing.

use serde::Serialize;
use uuid::Uuid;

use super::paging::{self, Cursor, Order, Page};
use super::{col, is_unique_violation, now_ms, uuid_col, Store};
use crate::error::{AppError, AppResult};

/// Answered by the bot; no agent yet.
pub const BOT: &str = "bot";
/// Handed over to the queue, waiting for an agent.
pub const WAITING: &str = "waiting";
/// An agent took it.
pub const ASSIGNED: &str = "assigned";
/// Finished; the member's next message opens a new conversation.
pub const CLOSED: &str = "closed";

/// A conversation.
#[derive(Clone, Debug, Serialize)]
pub struct Conversation {
    /// Id.
    pub id: Uuid,
    /// The member.
    pub member_id: Uuid,
    /// `hq` or a store's location id.
    pub queue: String,
    /// [`BOT`], [`WAITING`], [`ASSIGNED`] or [`CLOSED`].
    pub status: String,
    /// The agent who took it.
    pub agent_id: Option<Uuid>,
    /// The agent's display name.
    pub agent_name: Option<String>,
    /// Where the member started it (`product:{id}`, `order:{id}` or empty).
    pub context: String,
    /// Why the bot handed it over (`asked`, `low_confidence`, `keyword`).
    pub handover_reason: Option<String>,
    /// The number of its last message.
    pub last_seq: i64,
    /// The last number the member has read.
    pub member_read_seq: i64,
    /// The last number an agent has read.
    pub agent_read_seq: i64,
    /// Questions the bot answered.
    pub bot_answers: i64,
    /// Messages from the member after `agent_read_seq` (lists only; 0 elsewhere).
    pub unread_by_agent: i64,
    /// Started (Unix ms).
    pub created_at: i64,
    /// Last message or move (Unix ms).
    pub updated_at: i64,
    /// Handed over (Unix ms).
    pub handed_over_at: Option<i64>,
}

/// One message.
#[derive(Clone, Debug, Serialize)]
pub struct Message {
    /// The conversation.
    pub conversation_id: Uuid,
    /// Its number in the conversation, from 1.
    pub seq: i64,
    /// The sender's id for it (a UUID; `bot:…`/`system:…` for the service's own).
    pub client_id: String,
    /// `member`, `agent`, `bot` or `system`.
    pub sender: String,
    /// The agent who sent it.
    pub staff_id: Option<Uuid>,
    /// The agent's display name.
    pub staff_name: Option<String>,
    /// `text`, `image`, `product` or `order`.
    pub kind: String,
    /// The text, the image's media name, or the card as JSON.
    pub body: String,
    /// The FAQ entry the bot answered from.
    pub faq_id: Option<i64>,
    /// Sent (Unix ms).
    pub created_at: i64,
}

/// A message to store.
#[derive(Clone, Debug)]
pub struct NewMessage<'a> {
    /// The sender's id for it.
    pub client_id: &'a str,
    /// `member`, `agent`, `bot` or `system`.
    pub sender: &'a str,
    /// The agent who sends it.
    pub staff_id: Option<Uuid>,
    /// The agent's display name.
    pub staff_name: Option<&'a str>,
    /// `text`, `image`, `product` or `order`.
    pub kind: &'a str,
    /// What it holds.
    pub body: &'a str,
    /// The FAQ entry the bot answers from.
    pub faq_id: Option<i64>,
    /// Counts as a question the bot answered.
    pub bot_answer: bool,
}

const CONVERSATION_COLUMNS: &str = "c.id, c.member_id, c.queue, c.status, c.agent_id, \
     s.display_name AS agent_name, c.context, c.handover_reason, c.last_seq, c.member_read_seq, \
     c.agent_read_seq, c.bot_answers, c.created_at, c.updated_at, c.handed_over_at";

fn conversation_from_row(r: &sqlx::any::AnyRow, unread: bool) -> AppResult<Conversation> {
    Ok(Conversation {
        id: uuid_col(r, "id")?,
        member_id: uuid_col(r, "member_id")?,
        queue: col(r, "queue")?,
        status: col(r, "status")?,
        agent_id: col::<Option<String>>(r, "agent_id")?
            .map(|s| s.parse())
            .transpose()
            .map_err(|e: uuid::Error| AppError::Internal(e.into()))?,
        agent_name: col(r, "agent_name")?,
        context: col(r, "context")?,
        handover_reason: col(r, "handover_reason")?,
        last_seq: col(r, "last_seq")?,
        member_read_seq: col(r, "member_read_seq")?,
        agent_read_seq: col(r, "agent_read_seq")?,
        bot_answers: col(r, "bot_answers")?,
        unread_by_agent: if unread { col(r, "unread")? } else { 0 },
        created_at: col(r, "created_at")?,
        updated_at: col(r, "updated_at")?,
        handed_over_at: col(r, "handed_over_at")?,
    })
}

const MESSAGE_COLUMNS: &str = "m.conversation_id, m.seq, m.client_id, m.sender, m.staff_id, \
     s.display_name AS staff_name, m.kind, m.body, m.faq_id, m.created_at";

fn message_from_row(r: &sqlx::any::AnyRow) -> AppResult<Message> {
    Ok(Message {
        conversation_id: uuid_col(r, "conversation_id")?,
        seq: col(r, "seq")?,
        client_id: col(r, "client_id")?,
        sender: col(r, "sender")?,
        staff_id: col::<Option<String>>(r, "staff_id")?
            .map(|s| s.parse())
            .transpose()
            .map_err(|e: uuid::Error| AppError::Internal(e.into()))?,
        staff_name: col(r, "staff_name")?,
        kind: col(r, "kind")?,
        body: col(r, "body")?,
        faq_id: col(r, "faq_id")?,
        created_at: col(r, "created_at")?,
    })
}

/// One conversation.
pub async fn get(store: &Store, id: Uuid) -> AppResult<Option<Conversation>> {
    let row = sqlx::query(&format!(
        "SELECT {CONVERSATION_COLUMNS} FROM chat_conversations c \
         LEFT JOIN staff s ON s.id = c.agent_id WHERE c.id = $1"
    ))
    .bind(id.to_string())
    .fetch_optional(store.writer())
    .await?;
    row.as_ref()
        .map(|r| conversation_from_row(r, false))
        .transpose()
}

/// The member's conversation that is not closed, if any.
pub async fn open_of_member(store: &Store, member: Uuid) -> AppResult<Option<Conversation>> {
    let row = sqlx::query(&format!(
        "SELECT {CONVERSATION_COLUMNS} FROM chat_conversations c \
         LEFT JOIN staff s ON s.id = c.agent_id WHERE c.member_id = $1 AND c.status <> 'closed'"
    ))
    .bind(member.to_string())
    .fetch_optional(store.writer())
    .await?;
    row.as_ref()
        .map(|r| conversation_from_row(r, false))
        .transpose()
}

/// The member's latest conversation (open or closed), if any.
pub async fn latest_of_member(store: &Store, member: Uuid) -> AppResult<Option<Conversation>> {
    let row = sqlx::query(&format!(
        "SELECT {CONVERSATION_COLUMNS} FROM chat_conversations c \
         LEFT JOIN staff s ON s.id = c.agent_id WHERE c.member_id = $1 \
         ORDER BY c.updated_at DESC, c.id DESC LIMIT 1"
    ))
    .bind(member.to_string())
    .fetch_optional(store.writer())
    .await?;
    row.as_ref()
        .map(|r| conversation_from_row(r, false))
        .transpose()
}

/// The member's open conversation, started in `queue` with `context` when there is none (two
/// racing starts give one conversation: the open one is unique per member).
pub async fn open_or_start(
    store: &Store,
    member: Uuid,
    queue: &str,
    context: &str,
) -> AppResult<Conversation> {
    if let Some(open) = open_of_member(store, member).await? {
        return Ok(open);
    }
    let now = now_ms();
    let inserted = sqlx::query(
        "INSERT INTO chat_conversations (id, member_id, queue, status, context, created_at, updated_at) \
         VALUES ($1, $2, $3, 'bot', $4, $5, $5)",
    )
    .bind(retail_domain::ids::new_id().to_string())
    .bind(member.to_string())
    .bind(queue)
    .bind(context)
    .bind(now)
    .execute(store.writer())
    .await;
    match inserted {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => {}
        Err(e) => return Err(e.into()),
    }
    open_of_member(store, member)
        .await?
        .ok_or_else(|| AppError::conflict("conversation_closed", "the conversation was closed"))
}

/// The message stored under this client id, if any.
pub async fn message_by_client_id(store: &Store, client_id: &str) -> AppResult<Option<Message>> {
    let row = sqlx::query(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM chat_messages m LEFT JOIN staff s ON s.id = m.staff_id \
         WHERE m.client_id = $1"
    ))
    .bind(client_id)
    .fetch_optional(store.writer())
    .await?;
    row.as_ref().map(message_from_row).transpose()
}

/// Stores a message in the conversation under the next number, in one transaction that counts
/// the conversation's `last_seq` up (its row lock orders concurrent senders); answers the message
/// and the conversation as it is after it, and whether it is new. A client id stored before (in
/// this conversation) answers that first message with `false`; in another conversation it is 409
/// `id_in_use`. A closed conversation takes nothing: 409 `conversation_closed`.
pub async fn append(
    store: &Store,
    conversation: Uuid,
    message: &NewMessage<'_>,
) -> AppResult<(Message, Conversation, bool)> {
    let now = now_ms();
    let mut tx = store.begin().await?;
    let row = sqlx::query(&format!(
        "UPDATE chat_conversations SET last_seq = last_seq + 1, updated_at = $2, \
         bot_answers = bot_answers + $3 WHERE id = $1 AND status <> 'closed' RETURNING {RETURNED_COLUMNS}"
    ))
    .bind(conversation.to_string())
    .bind(now)
    .bind(i64::from(message.bot_answer))
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        drop(tx);
        if let Some(existing) = message_by_client_id(store, message.client_id).await? {
            let existing = same_conversation(existing, conversation)?;
            let now = get(store, conversation)
                .await?
                .ok_or_else(|| AppError::not_found("conversation"))?;
            return Ok((existing, now, false));
        }
        return Err(AppError::conflict(
            "conversation_closed",
            "the conversation is closed",
        ));
    };
    let after = conversation_from_row(&row, false)?;
    let inserted = sqlx::query(
        "INSERT INTO chat_messages (conversation_id, seq, client_id, sender, staff_id, kind, body, \
         faq_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(conversation.to_string())
    .bind(after.last_seq)
    .bind(message.client_id)
    .bind(message.sender)
    .bind(message.staff_id.map(|s| s.to_string()))
    .bind(message.kind)
    .bind(message.body)
    .bind(message.faq_id)
    .bind(now)
    .execute(&mut *tx)
    .await;
    match inserted {
        Ok(_) => tx.commit().await?,
        Err(e) if is_unique_violation(&e) => {
            drop(tx);
            let existing = message_by_client_id(store, message.client_id)
                .await?
                .ok_or_else(|| AppError::Internal(anyhow::anyhow!("message vanished")))?;
            let existing = same_conversation(existing, conversation)?;
            let now = get(store, conversation)
                .await?
                .ok_or_else(|| AppError::not_found("conversation"))?;
            return Ok((existing, now, false));
        }
        Err(e) => return Err(e.into()),
    }
    let stored = Message {
        conversation_id: conversation,
        seq: after.last_seq,
        client_id: message.client_id.to_owned(),
        sender: message.sender.to_owned(),
        staff_id: message.staff_id,
        staff_name: message.staff_name.map(str::to_owned),
        kind: message.kind.to_owned(),
        body: message.body.to_owned(),
        faq_id: message.faq_id,
        created_at: now,
    };
    Ok((stored, after, true))
}

/// The conversation's columns as an `UPDATE … RETURNING` gives them (the agent's name by a
/// subquery).
const RETURNED_COLUMNS: &str = "id, member_id, queue, status, agent_id, \
     (SELECT s.display_name FROM staff s WHERE s.id = chat_conversations.agent_id) AS agent_name, \
     context, handover_reason, last_seq, member_read_seq, agent_read_seq, bot_answers, created_at, \
     updated_at, handed_over_at";

fn same_conversation(existing: Message, conversation: Uuid) -> AppResult<Message> {
    if existing.conversation_id == conversation {
        Ok(existing)
    } else {
        Err(AppError::conflict(
            "id_in_use",
            "this message id was used for another message",
        ))
    }
}

/// Messages of the conversation numbered after `after`, oldest first, at most `limit`.
pub async fn messages_after(
    store: &Store,
    conversation: Uuid,
    after: i64,
    limit: i64,
) -> AppResult<Vec<Message>> {
    let rows = sqlx::query(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM chat_messages m LEFT JOIN staff s ON s.id = m.staff_id \
         WHERE m.conversation_id = $1 AND m.seq > $2 ORDER BY m.seq LIMIT $3"
    ))
    .bind(conversation.to_string())
    .bind(after)
    .bind(limit.clamp(1, 500))
    .fetch_all(store.writer())
    .await?;
    rows.iter().map(message_from_row).collect()
}

/// The last `limit` messages of the conversation, oldest first.
pub async fn last_messages(
    store: &Store,
    conversation: Uuid,
    limit: i64,
) -> AppResult<Vec<Message>> {
    let rows = sqlx::query(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM chat_messages m LEFT JOIN staff s ON s.id = m.staff_id \
         WHERE m.conversation_id = $1 ORDER BY m.seq DESC LIMIT $2"
    ))
    .bind(conversation.to_string())
    .bind(limit.clamp(1, 500))
    .fetch_all(store.writer())
    .await?;
    let mut messages = rows
        .iter()
        .map(message_from_row)
        .collect::<AppResult<Vec<_>>>()?;
    messages.reverse();
    Ok(messages)
}

/// Moves the conversation from one of `from` to `to` with `agent` (kept when `None` and
/// `keep_agent`) and, for a hand-over, its reason; `None` when it was in none of `from`.
pub async fn move_to(
    store: &Store,
    id: Uuid,
    from: &[&str],
    to: &str,
    agent: Option<Uuid>,
    queue: Option<&str>,
    handover_reason: Option<&str>,
) -> AppResult<Option<Conversation>> {
    let now = now_ms();
    let list = from
        .iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let moved = sqlx::query(&format!(
        "UPDATE chat_conversations SET status = $2, agent_id = $3, queue = COALESCE($4, queue), \
         handover_reason = COALESCE($5, handover_reason), updated_at = $6, \
         handed_over_at = CASE WHEN $2 = 'waiting' THEN COALESCE(handed_over_at, $6) ELSE handed_over_at END, \
         closed_at = CASE WHEN $2 = 'closed' THEN $6 ELSE closed_at END \
         WHERE id = $1 AND status IN ({list})"
    ))
    .bind(id.to_string())
    .bind(to)
    .bind(agent.map(|a| a.to_string()))
    .bind(queue)
    .bind(handover_reason)
    .bind(now)
    .execute(store.writer())
    .await?
    .rows_affected();
    if moved == 0 {
        return Ok(None);
    }
    get(store, id).await
}

/// Records that the member (`agent` false) or an agent read up to `seq` (never backwards).
pub async fn mark_read(store: &Store, id: Uuid, agent: bool, seq: i64) -> AppResult<()> {
    let column = if agent {
        "agent_read_seq"
    } else {
        "member_read_seq"
    };
    sqlx::query(&format!(
        "UPDATE chat_conversations SET {column} = CASE WHEN $2 > last_seq THEN last_seq ELSE $2 END \
         WHERE id = $1 AND {column} < $2"
    ))
    .bind(id.to_string())
    .bind(seq)
    .execute(store.writer())
    .await?;
    Ok(())
}

/// Messages the member has not read in their latest conversation (from the service).
pub async fn member_unread(store: &Store, member: Uuid) -> AppResult<i64> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM chat_messages m JOIN chat_conversations c ON c.id = m.conversation_id \
         WHERE c.member_id = $1 AND m.seq > c.member_read_seq AND m.sender <> 'member'",
    )
    .bind(member.to_string())
    .fetch_one(store.reader())
    .await?;
    col(&row, "n")
}

/// Which conversations an inbox lists.
#[derive(Clone, Debug, Default)]
pub struct InboxQuery {
    /// Only these queues (`None`: all, for head office).
    pub queues: Option<Vec<String>>,
    /// Only these statuses (empty: all but closed).
    pub statuses: Vec<String>,
    /// Only this agent's.
    pub agent: Option<Uuid>,
    /// Only this member's.
    pub member: Option<Uuid>,
    /// The page's cursor.
    pub cursor: Option<Cursor>,
    /// At most this many.
    pub limit: i64,
}

/// A page of conversations, last moved first, each with its messages the agents have not read.
pub async fn inbox(store: &Store, q: &InboxQuery) -> AppResult<Page<Conversation>> {
    let limit = q.limit.clamp(1, 200);
    let mut next = 6;
    let mut filters = Vec::new();
    if let Some(queues) = &q.queues {
        if queues.is_empty() {
            return Ok(Page::last(Vec::new()));
        }
        filters.push(format!(
            "c.queue IN ({})",
            super::placeholders(next, queues.len())
        ));
        next += queues.len();
    }
    let statuses: Vec<String> = if q.statuses.is_empty() {
        vec![BOT.into(), WAITING.into(), ASSIGNED.into()]
    } else {
        q.statuses.clone()
    };
    filters.push(format!(
        "c.status IN ({})",
        super::placeholders(next, statuses.len())
    ));
    let sql = format!(
        "SELECT {CONVERSATION_COLUMNS}, (SELECT COUNT(*) FROM chat_messages m WHERE m.conversation_id = c.id \
         AND m.seq > c.agent_read_seq AND m.sender = 'member') AS unread \
         FROM chat_conversations c LEFT JOIN staff s ON s.id = c.agent_id \
         WHERE ($1 IS NULL OR c.agent_id = $1) AND ($2 IS NULL OR c.member_id = $2) AND {} AND {} {} LIMIT $5",
        paging::after("c.updated_at", "c.id", 3, Order::Desc),
        filters.join(" AND "),
        paging::order_by("c.updated_at", "c.id", Order::Desc),
    );
    let mut query = sqlx::query(&sql)
        .bind(q.agent.map(|a| a.to_string()))
        .bind(q.member.map(|m| m.to_string()));
    query = paging::bind(query, q.cursor.as_ref());
    query = query.bind(paging::fetch_limit(limit));
    for queue in q.queues.iter().flatten() {
        query = query.bind(queue.clone());
    }
    for status in &statuses {
        query = query.bind(status.clone());
    }
    let rows = query.fetch_all(store.writer()).await?;
    let items = rows
        .iter()
        .map(|r| conversation_from_row(r, true))
        .collect::<AppResult<Vec<_>>>()?;
    Ok(paging::page(items, limit, |c| {
        Cursor::new(c.updated_at, c.id)
    }))
}

/// A message found by head office's search, with its conversation's member and queue.
#[derive(Clone, Debug, Serialize)]
pub struct Found {
    /// The message.
    pub message: Message,
    /// Its conversation's member.
    pub member_id: Uuid,
    /// Its conversation's queue.
    pub queue: String,
}

/// Text messages containing `text` (any conversation), newest first.
pub async fn search(
    store: &Store,
    text: &str,
    cursor: Option<&Cursor>,
    limit: i64,
) -> AppResult<Page<Found>> {
    let limit = limit.clamp(1, 200);
    let like = format!(
        "%{}%",
        text.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    paging::fetch(
        store.reader(),
        sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS}, c.member_id, c.queue \
             FROM chat_messages m JOIN chat_conversations c ON c.id = m.conversation_id \
             LEFT JOIN staff s ON s.id = m.staff_id \
             WHERE m.kind = 'text' AND m.body LIKE $1 ESCAPE '\\' AND {} {} LIMIT $2",
            paging::after("m.created_at", "m.client_id", 3, Order::Desc),
            paging::order_by("m.created_at", "m.client_id", Order::Desc),
        ))
        .bind(like)
        .bind(paging::fetch_limit(limit)),
        cursor,
        limit,
        |r| {
            let message = message_from_row(r)?;
            Ok((
                Cursor::new(message.created_at, &message.client_id),
                Found {
                    member_id: uuid_col(r, "member_id")?,
                    queue: col(r, "queue")?,
                    message,
                },
            ))
        },
    )
    .await
}

/// A queue's working hours (minutes after midnight, China time), when set.
pub async fn queue_hours(store: &Store, queue: &str) -> AppResult<Option<(i64, i64)>> {
    let row =
        sqlx::query("SELECT opens_minute, closes_minute FROM chat_queue_hours WHERE queue = $1")
            .bind(queue)
            .fetch_optional(store.reader())
            .await?;
    row.map(|r| Ok((col(&r, "opens_minute")?, col(&r, "closes_minute")?)))
        .transpose()
}

/// Every queue's working hours that were set.
pub async fn all_queue_hours(store: &Store) -> AppResult<Vec<(String, i64, i64)>> {
    let rows = sqlx::query(
        "SELECT queue, opens_minute, closes_minute FROM chat_queue_hours ORDER BY queue",
    )
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                col(r, "queue")?,
                col(r, "opens_minute")?,
                col(r, "closes_minute")?,
            ))
        })
        .collect()
}

/// Sets a queue's working hours (audited).
pub async fn set_queue_hours(
    store: &Store,
    queue: &str,
    opens: i64,
    closes: i64,
    by: &str,
) -> AppResult<()> {
    let mut tx = store.begin().await?;
    sqlx::query(
        "INSERT INTO chat_queue_hours (queue, opens_minute, closes_minute, updated_by, updated_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (queue) DO UPDATE SET opens_minute = $2, \
         closes_minute = $3, updated_by = $4, updated_at = $5",
    )
    .bind(queue)
    .bind(opens)
    .bind(closes)
    .bind(by)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    super::audit::record(
        &mut tx,
        by,
        "chat_hours_set",
        "chat_queue",
        queue,
        serde_json::json!({ "opens": opens, "closes": closes }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Records an agent's move of a conversation in the audit log.
pub async fn audit(
    store: &Store,
    actor: &str,
    action: &str,
    conversation: &str,
    detail: serde_json::Value,
) -> AppResult<()> {
    let mut tx = store.begin().await?;
    super::audit::record(
        &mut tx,
        actor,
        action,
        "chat_conversation",
        conversation,
        detail,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A canned reply.
#[derive(Clone, Debug, Serialize)]
pub struct CannedReply {
    /// Id.
    pub id: Uuid,
    /// `hq` (everyone's) or a store.
    pub queue: String,
    /// What the agent picks it by.
    pub title: String,
    /// The text sent.
    pub body: String,
}

/// Canned replies of these queues, by title.
pub async fn canned_replies(store: &Store, queues: &[String]) -> AppResult<Vec<CannedReply>> {
    if queues.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT id, queue, title, body FROM chat_canned_replies WHERE queue IN ({}) \
         ORDER BY title, id LIMIT 500",
        super::placeholders(1, queues.len())
    );
    let mut query = sqlx::query(&sql);
    for q in queues {
        query = query.bind(q.clone());
    }
    let rows = query.fetch_all(store.reader()).await?;
    rows.iter()
        .map(|r| {
            Ok(CannedReply {
                id: uuid_col(r, "id")?,
                queue: col(r, "queue")?,
                title: col(r, "title")?,
                body: col(r, "body")?,
            })
        })
        .collect()
}

/// Adds a canned reply (idempotent by its id).
pub async fn add_canned_reply(
    store: &Store,
    id: Uuid,
    queue: &str,
    title: &str,
    body: &str,
    by: &str,
) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO chat_canned_replies (id, queue, title, body, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id.to_string())
    .bind(queue)
    .bind(title)
    .bind(body)
    .bind(by)
    .bind(now_ms())
    .execute(store.writer())
    .await?;
    Ok(())
}

/// The queue of a canned reply, when it exists.
pub async fn canned_reply_queue(store: &Store, id: Uuid) -> AppResult<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT queue FROM chat_canned_replies WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(store.reader())
            .await?,
    )
}

/// Deletes a canned reply.
pub async fn delete_canned_reply(store: &Store, id: Uuid) -> AppResult<()> {
    sqlx::query("DELETE FROM chat_canned_replies WHERE id = $1")
        .bind(id.to_string())
        .execute(store.writer())
        .await?;
    Ok(())
}

/// The service's figures over conversations started since a time.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ChatStats {
    /// Conversations started.
    pub conversations: i64,
    /// Of them, handed over to a person.
    pub handed_over: i64,
    /// Questions the bot answered in them.
    pub bot_answers: i64,
}

/// [`ChatStats`] of the conversations started at or after `since` (Unix ms).
pub async fn stats(store: &Store, since: i64) -> AppResult<ChatStats> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS conversations, \
         CAST(COALESCE(SUM(CASE WHEN handed_over_at IS NULL THEN 0 ELSE 1 END), 0) AS BIGINT) AS handed_over, \
         CAST(COALESCE(SUM(bot_answers), 0) AS BIGINT) AS bot_answers \
         FROM chat_conversations WHERE created_at >= $1",
    )
    .bind(since)
    .fetch_one(store.reader())
    .await?;
    Ok(ChatStats {
        conversations: col(&row, "conversations")?,
        handed_over: col(&row, "handed_over")?,
        bot_answers: col(&row, "bot_answers")?,
    })
}
