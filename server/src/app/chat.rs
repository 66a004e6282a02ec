//! Customer-service chat (issue 18): a member talks to the service from the shop (any page, a
//! product or an order, which decides the queue), the bot ([`super::service_bot`]) answers
//! first, and hands over to a person on request, on low confidence or on keywords; agents of
//! the conversation's queue (a store's managers for its store, head office for every queue)
//! take it from the console's inbox, transfer it, answer with text, images, product and order
//! cards or canned replies, close it, and turn an answer into an FAQ entry in one click.
//!
//! Delivery is real time through the [`ChatHub`]: every stored message and every move of a
//! conversation is published to the member's topic, its queue's topic and head office's. A
//! socket ([`crate::web`]'s chat sockets) subscribes before it reads the history it missed, so
//! nothing falls between the two, and drops a live message it has already sent (by its number).
//! Messages are numbered per conversation in the transaction that stores them, and a client's
//! message id makes a resent message a no-op ([`crate::storage::chat`]).
//!
//! Outside a queue's working hours (head office sets them per queue; `[chat]` has the default)
//! a hand-over still queues the conversation, and the member is told when agents are back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::AppState;
use crate::actor::{Role, StaffActor};
use crate::error::{AppError, AppResult};
use crate::storage;
use crate::storage::chat::{self as stored, Conversation, Message, NewMessage};
use crate::storage::paging::{Cursor, Page};

/// Head office's queue (conversations not about one store).
pub const HEAD_OFFICE_QUEUE: &str = "hq";

/// How many events may wait for one socket before it is dropped as too slow (it reconnects and
/// reads what it missed from the history).
const SOCKET_BACKLOG: usize = 256;

/// The most messages a history read returns at once.
pub const HISTORY_LIMIT: i64 = 200;

// ---------------------------------------------------------------------------------------------
// What clients see
// ---------------------------------------------------------------------------------------------

/// A conversation as the member's and the agents' screens show it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConversationView {
    /// Id.
    pub id: Uuid,
    /// The member.
    pub member_id: Uuid,
    /// `hq` or a store.
    pub queue: String,
    /// `bot`, `waiting`, `assigned` or `closed`.
    pub status: String,
    /// The agent who took it.
    pub agent_id: Option<Uuid>,
    /// The agent's display name.
    pub agent_name: Option<String>,
    /// The number of the last message.
    pub last_seq: i64,
    /// Messages from the member the agents have not read (inbox lists; 0 elsewhere).
    pub unread_by_agent: i64,
    /// Last message or move (Unix ms).
    pub updated_at: i64,
}

impl From<&Conversation> for ConversationView {
    fn from(c: &Conversation) -> Self {
        Self {
            id: c.id,
            member_id: c.member_id,
            queue: c.queue.clone(),
            status: c.status.clone(),
            agent_id: c.agent_id,
            agent_name: c.agent_name.clone(),
            last_seq: c.last_seq,
            unread_by_agent: c.unread_by_agent,
            updated_at: c.updated_at,
        }
    }
}

/// A message as screens show it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MessageView {
    /// The conversation.
    pub conversation_id: Uuid,
    /// Its number in the conversation.
    pub seq: i64,
    /// The sender's id for it.
    pub client_id: String,
    /// `member`, `agent`, `bot` or `system`.
    pub sender: String,
    /// The agent's display name.
    pub staff_name: Option<String>,
    /// `text`, `image`, `product` or `order`.
    pub kind: String,
    /// The text (text messages).
    pub text: Option<String>,
    /// The image's address (image messages).
    pub image: Option<String>,
    /// The product or order card.
    pub card: Option<serde_json::Value>,
    /// The FAQ entry the bot answered from.
    pub faq_id: Option<i64>,
    /// Sent (Unix ms).
    pub at: i64,
}

impl From<&Message> for MessageView {
    fn from(m: &Message) -> Self {
        let (text, image, card) = match m.kind.as_str() {
            "image" => (None, Some(format!("/media/{}", m.body)), None),
            "product" | "order" => (None, None, serde_json::from_str(&m.body).ok()),
            _ => (Some(m.body.clone()), None, None),
        };
        Self {
            conversation_id: m.conversation_id,
            seq: m.seq,
            client_id: m.client_id.clone(),
            sender: m.sender.clone(),
            staff_name: m.staff_name.clone(),
            kind: m.kind.clone(),
            text,
            image,
            card,
            faq_id: m.faq_id,
            at: m.created_at,
        }
    }
}

/// What the hub delivers to sockets.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChatEvent {
    /// A message was stored.
    Message {
        /// Its conversation as it is now.
        conversation: ConversationView,
        /// The message.
        message: Box<MessageView>,
    },
    /// A conversation moved (handed over, taken, transferred, closed, read by an agent).
    Conversation {
        /// The conversation as it is now.
        conversation: ConversationView,
    },
}

impl ChatEvent {
    /// The conversation it is about.
    pub fn conversation(&self) -> &ConversationView {
        match self {
            Self::Message { conversation, .. } | Self::Conversation { conversation } => {
                conversation
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The hub
// ---------------------------------------------------------------------------------------------

/// Routes chat events to the sockets subscribed to their topics: `member:{id}`, `queue:{queue}`
/// and `all` (head office). Events published here reach this instance's sockets, and, with
/// several instances, are relayed to the others' through PostgreSQL ([`ChatHub::relay_to`]).
#[derive(Default)]
pub struct ChatHub {
    topics: Mutex<HashMap<String, Vec<Subscriber>>>,
    next_id: AtomicU64,
    relay: std::sync::OnceLock<Arc<super::cluster::Cluster>>,
}

/// One socket's place in a topic: its subscription id and where its events go.
type Subscriber = (u64, mpsc::Sender<Arc<ChatEvent>>);

/// A socket's subscription: its events arrive on `events`; dropping it unsubscribes.
pub struct Subscription {
    hub: Arc<ChatHub>,
    id: u64,
    topics: Vec<String>,
    /// The events, in the order they were published.
    pub events: mpsc::Receiver<Arc<ChatEvent>>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.remove(self.id, &self.topics);
    }
}

/// The topic of a member's own conversations.
pub fn member_topic(member: Uuid) -> String {
    format!("member:{member}")
}

/// The topic of a queue's conversations.
pub fn queue_topic(queue: &str) -> String {
    format!("queue:{queue}")
}

/// Head office's topic: every conversation.
pub const ALL_TOPIC: &str = "all";

impl ChatHub {
    /// Subscribes one socket to these topics.
    pub fn subscribe(self: &Arc<Self>, topics: Vec<String>) -> Subscription {
        let (tx, rx) = mpsc::channel(SOCKET_BACKLOG);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut map) = self.topics.lock() {
            for topic in &topics {
                map.entry(topic.clone()).or_default().push((id, tx.clone()));
            }
        }
        Subscription {
            hub: Arc::clone(self),
            id,
            topics,
            events: rx,
        }
    }

    fn remove(&self, id: u64, topics: &[String]) {
        if let Ok(mut map) = self.topics.lock() {
            for topic in topics {
                if let Some(subscribers) = map.get_mut(topic) {
                    subscribers.retain(|(sid, _)| *sid != id);
                    if subscribers.is_empty() {
                        map.remove(topic);
                    }
                }
            }
        }
    }

    /// Relays every event published from now on to the other instances of `cluster` too.
    pub fn relay_to(&self, cluster: Arc<super::cluster::Cluster>) {
        let _ = self.relay.set(cluster);
    }

    /// Delivers an event to the member's, the queue's and head office's subscribers, on this
    /// instance and (relayed) every other.
    pub fn publish(&self, event: ChatEvent) {
        if let Some(cluster) = self.relay.get() {
            super::cluster::relay_chat(cluster, &event);
        }
        self.deliver(Arc::new(event));
    }

    /// Delivers an event to this instance's subscribers of its topics. A socket whose backlog
    /// is full loses its subscription (it closes, reconnects and reads the history).
    pub fn deliver(&self, event: Arc<ChatEvent>) {
        let conversation = event.conversation();
        let topics = [
            member_topic(conversation.member_id),
            queue_topic(&conversation.queue),
            ALL_TOPIC.to_owned(),
        ];
        let Ok(mut map) = self.topics.lock() else {
            return;
        };
        for topic in &topics {
            if let Some(subscribers) = map.get_mut(topic) {
                subscribers.retain(|(_, tx)| tx.try_send(Arc::clone(&event)).is_ok());
                if subscribers.is_empty() {
                    map.remove(topic);
                }
            }
        }
    }

    /// True while a socket of the member is connected (a reply reaches them live).
    pub fn member_online(&self, member: Uuid) -> bool {
        self.topics
            .lock()
            .map(|map| map.contains_key(&member_topic(member)))
            .unwrap_or(false)
    }

    /// Connected sockets (each counted once per topic it follows).
    pub fn subscribers(&self) -> usize {
        self.topics
            .lock()
            .map(|map| map.values().map(Vec::len).sum())
            .unwrap_or(0)
    }
}

// ---------------------------------------------------------------------------------------------
// Working hours
// ---------------------------------------------------------------------------------------------

/// A queue's working hours: minutes after midnight, China time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Hours {
    /// Opens.
    pub opens: i64,
    /// Closes.
    pub closes: i64,
}

impl Hours {
    /// Whether agents are at work at `now_ms`.
    pub fn open_at(self, now_ms: i64) -> bool {
        let minute = (now_ms + 8 * 3_600_000).rem_euclid(86_400_000) / 60_000;
        minute >= self.opens && minute < self.closes
    }

    /// `09:00–21:00`.
    pub fn text(self) -> String {
        format!(
            "{:02}:{:02}–{:02}:{:02}",
            self.opens / 60,
            self.opens % 60,
            self.closes / 60,
            self.closes % 60
        )
    }
}

/// The queue's working hours: its own, else the configured default.
pub async fn hours(state: &AppState, queue: &str) -> AppResult<Hours> {
    if let Some((opens, closes)) = stored::queue_hours(&state.store, queue).await? {
        return Ok(Hours { opens, closes });
    }
    let (opens, closes) = state
        .settings
        .chat
        .default_hours()
        .map_err(AppError::Internal)?;
    Ok(Hours { opens, closes })
}

/// Sets a queue's working hours (head office for any queue, a store manager for their store).
pub async fn set_hours(
    state: &AppState,
    staff: &StaffActor,
    queue: &str,
    opens: &str,
    closes: &str,
) -> AppResult<Hours> {
    require_queue(staff, queue)?;
    check_queue(state, queue).await?;
    let opens = crate::config::parse_clock(opens)
        .ok_or_else(|| AppError::field("opens", "HH:MM, e.g. 09:00"))?;
    let closes = crate::config::parse_clock(closes)
        .ok_or_else(|| AppError::field("closes", "HH:MM, e.g. 21:00"))?;
    if opens >= closes || opens >= 1440 {
        return Err(AppError::field(
            "closes",
            "must come after the opening time",
        ));
    }
    stored::set_queue_hours(&state.store, queue, opens, closes, &staff.actor()).await?;
    Ok(Hours { opens, closes })
}

// ---------------------------------------------------------------------------------------------
// Who may do what
// ---------------------------------------------------------------------------------------------

/// Fails with 403 unless the staff member answers chats: head office and store managers.
pub fn require_agent(staff: &StaffActor) -> AppResult<()> {
    staff.require(&[Role::HeadOfficeAdmin, Role::StoreManager])
}

/// Fails with 403 unless the staff member may answer the queue's conversations: head office
/// every queue, a store manager their store's.
pub fn require_queue(staff: &StaffActor, queue: &str) -> AppResult<()> {
    require_agent(staff)?;
    match (&staff.role, &staff.location_id) {
        (Role::HeadOfficeAdmin, _) => Ok(()),
        (_, Some(own)) if own == queue => Ok(()),
        _ => Err(AppError::Forbidden(
            "this conversation belongs to another queue".into(),
        )),
    }
}

/// The queues the staff member answers (`None`: all of them, head office).
pub fn agent_queues(staff: &StaffActor) -> AppResult<Option<Vec<String>>> {
    require_agent(staff)?;
    Ok(match (&staff.role, &staff.location_id) {
        (Role::HeadOfficeAdmin, _) => None,
        (_, Some(own)) => Some(vec![own.clone()]),
        (_, None) => Some(Vec::new()),
    })
}

/// The topics an agent's socket follows.
pub fn agent_topics(staff: &StaffActor) -> AppResult<Vec<String>> {
    Ok(match agent_queues(staff)? {
        None => vec![ALL_TOPIC.to_owned()],
        Some(queues) => queues.iter().map(|q| queue_topic(q)).collect(),
    })
}

async fn check_queue(state: &AppState, queue: &str) -> AppResult<()> {
    if queue == HEAD_OFFICE_QUEUE {
        return Ok(());
    }
    match storage::locations::get(&state.store, queue).await {
        Ok(_) => Ok(()),
        Err(AppError::NotFound(_)) => Err(AppError::field("queue", "no such queue")),
        Err(e) => Err(e),
    }
}

/// The conversation, when the staff member answers its queue (404 when there is none, 403 for
/// another store's).
pub async fn conversation_for_agent(
    state: &AppState,
    staff: &StaffActor,
    id: Uuid,
) -> AppResult<Conversation> {
    let conversation = stored::get(&state.store, id)
        .await?
        .ok_or_else(|| AppError::not_found("conversation"))?;
    require_queue(staff, &conversation.queue)?;
    Ok(conversation)
}

// ---------------------------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------------------------

/// A message a member or an agent sends.
#[derive(Clone, Debug)]
pub struct Outgoing {
    /// The sender's id for it (a UUID; resending it changes nothing).
    pub client_id: Uuid,
    /// `text`, `image` (body: the media name from an upload), `product` or `order` (body: the
    /// product's or order's id).
    pub kind: String,
    /// What it holds.
    pub body: String,
    /// Where the member writes from when a conversation starts (`product:{id}`, `order:{id}`).
    pub context: Option<String>,
}

/// The member who writes and where their shop session picks up orders.
#[derive(Clone, Debug)]
pub struct MemberSide {
    /// The member.
    pub id: Uuid,
    /// The store the member chose for pickup, if any.
    pub pickup_store: Option<String>,
    /// The shop's language for the bot.
    pub english: bool,
}

/// A member sends a message: stored in their open conversation (started in the queue of its
/// context when there is none) and published; while the bot has the conversation, a text is
/// answered by it, or handed over. Answers the stored message (the first one when resent).
pub async fn member_send(
    state: &AppState,
    member: &MemberSide,
    out: Outgoing,
) -> AppResult<MessageView> {
    let body = checked_body(state, &out, Some(member.id)).await?;
    let existing = stored::message_by_client_id(&state.store, &out.client_id.to_string()).await?;
    let conversation = match &existing {
        Some(m) => stored::get(&state.store, m.conversation_id)
            .await?
            .filter(|c| c.member_id == member.id)
            .ok_or_else(|| {
                AppError::conflict("id_in_use", "this message id was used for another message")
            })?,
        None => {
            let (queue, context) = queue_for(state, member, out.context.as_deref()).await?;
            stored::open_or_start(&state.store, member.id, &queue, &context).await?
        }
    };
    let (message, after, new) = stored::append(
        &state.store,
        conversation.id,
        &NewMessage {
            client_id: &out.client_id.to_string(),
            sender: "member",
            staff_id: None,
            staff_name: None,
            kind: &out.kind,
            body: &body,
            faq_id: None,
            bot_answer: false,
        },
    )
    .await?;
    let view = MessageView::from(&message);
    if new {
        publish_message(state, &after, &message);
    }
    // The bot answers a text while it has the conversation (also when a resent message's answer
    // was never stored: its id is derived from the question's).
    if out.kind == "text" && conversation.status == stored::BOT {
        let answer_id = format!("bot:{}", out.client_id);
        if stored::message_by_client_id(&state.store, &answer_id)
            .await?
            .is_none()
        {
            bot_turn(state, member, &conversation, &body, &answer_id).await?;
        }
    }
    Ok(view)
}

/// The bot's turn: an answer, or a hand-over to the queue.
async fn bot_turn(
    state: &AppState,
    member: &MemberSide,
    conversation: &Conversation,
    question: &str,
    answer_id: &str,
) -> AppResult<()> {
    use super::service_bot::{BotQuestion, BotReply, Lang};
    let order_id = conversation
        .context
        .strip_prefix("order:")
        .and_then(|id| id.parse().ok());
    let reply = super::service_bot::reply(
        state,
        BotQuestion {
            // The bot reads at most 500 characters of a question.
            text: &question.chars().take(500).collect::<String>(),
            member: Some(member.id),
            order_id,
            lang: if member.english { Lang::En } else { Lang::Zh },
        },
    )
    .await?;
    match reply {
        BotReply::Answer { text, faq_id, .. } => {
            let (message, after, new) = stored::append(
                &state.store,
                conversation.id,
                &NewMessage {
                    client_id: answer_id,
                    sender: "bot",
                    staff_id: None,
                    staff_name: None,
                    kind: "text",
                    body: &text,
                    faq_id,
                    bot_answer: true,
                },
            )
            .await?;
            if new {
                publish_message(state, &after, &message);
            }
        }
        BotReply::Handover { reason, text } => {
            let reason = serde_json::to_value(reason)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "asked".into());
            hand_over(
                state,
                conversation,
                &reason,
                &text,
                member.english,
                answer_id,
            )
            .await?;
        }
    }
    Ok(())
}

/// Hands the conversation to its queue: `waiting`, with the bot's words and, outside working
/// hours, when agents are back.
async fn hand_over(
    state: &AppState,
    conversation: &Conversation,
    reason: &str,
    text: &str,
    english: bool,
    note_id: &str,
) -> AppResult<()> {
    let hours = hours(state, &conversation.queue).await?;
    let mut note = text.to_owned();
    if !hours.open_at(storage::now_ms()) {
        let away = if english {
            format!(
                " Our agents work {} (China time); your message is kept and they will answer when they are back.",
                hours.text()
            )
        } else {
            format!(
                " 现在是非工作时间（客服在线时间 {}），您的留言已保存，客服上班后会第一时间回复您。",
                hours.text()
            )
        };
        note.push_str(&away);
    }
    let (message, after, new) = stored::append(
        &state.store,
        conversation.id,
        &NewMessage {
            client_id: note_id,
            sender: "system",
            staff_id: None,
            staff_name: None,
            kind: "text",
            body: note.trim(),
            faq_id: None,
            bot_answer: false,
        },
    )
    .await?;
    let moved = stored::move_to(
        &state.store,
        conversation.id,
        &[stored::BOT],
        stored::WAITING,
        None,
        None,
        Some(reason),
    )
    .await?;
    if new {
        publish_message(state, &after, &message);
    }
    if let Some(moved) = moved {
        state.chat.publish(ChatEvent::Conversation {
            conversation: ConversationView::from(&moved),
        });
    }
    Ok(())
}

/// An agent sends a message in a conversation of their queue; one waiting for an agent (or
/// still with the bot) becomes theirs. A closed conversation takes nothing (409
/// `conversation_closed`).
pub async fn agent_send(
    state: &AppState,
    staff: &StaffActor,
    conversation: Uuid,
    out: Outgoing,
) -> AppResult<MessageView> {
    let found = conversation_for_agent(state, staff, conversation).await?;
    let body = checked_body(state, &out, Some(found.member_id)).await?;
    if found.status == stored::BOT || found.status == stored::WAITING {
        if let Some(moved) = stored::move_to(
            &state.store,
            found.id,
            &[stored::BOT, stored::WAITING],
            stored::ASSIGNED,
            Some(staff.id),
            None,
            None,
        )
        .await?
        {
            state.chat.publish(ChatEvent::Conversation {
                conversation: ConversationView::from(&moved),
            });
        }
    }
    let (message, after, new) = stored::append(
        &state.store,
        found.id,
        &NewMessage {
            client_id: &out.client_id.to_string(),
            sender: "agent",
            staff_id: Some(staff.id),
            staff_name: Some(&staff.display_name),
            kind: &out.kind,
            body: &body,
            faq_id: None,
            bot_answer: false,
        },
    )
    .await?;
    if new {
        publish_message(state, &after, &message);
        // A member who is not connected hears of the reply through the notification service
        // (in-app, and SMS or WeChat as they chose), once per message.
        if !state.chat.member_online(found.member_id) {
            super::notifications::chat_reply_while_offline(
                state,
                found.member_id,
                &found.id.to_string(),
                message.seq,
            )
            .await?;
        }
    }
    Ok(MessageView::from(&message))
}

/// Publishes a stored message with its conversation as it was after it.
fn publish_message(state: &AppState, conversation: &Conversation, message: &Message) {
    state.chat.publish(ChatEvent::Message {
        conversation: ConversationView::from(conversation),
        message: Box::new(MessageView::from(message)),
    });
}

/// The queue and context of a new conversation: a pickup order's store, a product seen with a
/// pickup store chosen, else head office.
async fn queue_for(
    state: &AppState,
    member: &MemberSide,
    context: Option<&str>,
) -> AppResult<(String, String)> {
    let Some(context) = context.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok((HEAD_OFFICE_QUEUE.into(), String::new()));
    };
    if let Some(order) = context.strip_prefix("order:") {
        let id: Uuid = order
            .parse()
            .map_err(|_| AppError::field("context", "order:{id}"))?;
        let order = own_order(state, member.id, id).await?;
        let queue = if order.fulfilment.as_str() == "pickup" {
            order.location_id.clone()
        } else {
            HEAD_OFFICE_QUEUE.into()
        };
        return Ok((queue, format!("order:{id}")));
    }
    if let Some(product) = context.strip_prefix("product:") {
        let id: Uuid = product
            .parse()
            .map_err(|_| AppError::field("context", "product:{id}"))?;
        let queue = member
            .pickup_store
            .clone()
            .unwrap_or_else(|| HEAD_OFFICE_QUEUE.into());
        return Ok((queue, format!("product:{id}")));
    }
    Err(AppError::field(
        "context",
        "product:{id}, order:{id} or nothing",
    ))
}

async fn own_order(
    state: &AppState,
    member: Uuid,
    id: Uuid,
) -> AppResult<storage::orders::OrderView> {
    match storage::orders::get(&state.store, id).await {
        Ok(order) if order.member_id == Some(member) => Ok(order),
        Ok(_) | Err(AppError::NotFound(_)) => Err(AppError::not_found("order")),
        Err(e) => Err(e),
    }
}

/// The queue of the member's open conversation, if any.
pub async fn open_queue(state: &AppState, member: Uuid) -> AppResult<Option<String>> {
    Ok(stored::open_of_member(&state.store, member)
        .await?
        .map(|c| c.queue))
}

/// The card of what a member writes from (`product:{id}` on shelf, `order:{id}` of theirs);
/// `None` when it is neither.
pub async fn context_card(
    state: &AppState,
    member: Uuid,
    context: &str,
) -> AppResult<Option<serde_json::Value>> {
    let found = if let Some(id) = context.strip_prefix("product:") {
        match id.parse() {
            Ok(id) => product_card(state, id).await,
            Err(_) => return Ok(None),
        }
    } else if let Some(id) = context.strip_prefix("order:") {
        match id.parse() {
            Ok(id) => own_order(state, member, id).await.map(|o| order_card(&o)),
            Err(_) => return Ok(None),
        }
    } else {
        return Ok(None);
    };
    match found {
        Ok(card) => Ok(Some(card)),
        Err(AppError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The stored body of an outgoing message, checked: a text within the limit, an image uploaded
/// before, a product on shelf, an order of the conversation's member (as a card).
async fn checked_body(state: &AppState, out: &Outgoing, member: Option<Uuid>) -> AppResult<String> {
    match out.kind.as_str() {
        "text" => {
            let text = out.body.trim();
            if text.is_empty() {
                return Err(AppError::field_code(
                    "message_empty",
                    "body",
                    "write something",
                ));
            }
            let max = state.settings.chat.max_text_chars;
            if text.chars().count() > max {
                return Err(AppError::field_code(
                    "message_too_long",
                    "body",
                    format!("at most {max} characters"),
                ));
            }
            if text
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t')
            {
                return Err(AppError::field("body", "no control characters"));
            }
            Ok(text.to_owned())
        }
        "image" => {
            let name = out.body.trim();
            if !super::media::is_image_name(name)
                || super::media::load(state, name).await?.is_none()
            {
                return Err(AppError::field("body", "not an image uploaded to the chat"));
            }
            Ok(name.to_owned())
        }
        "product" => {
            let id: Uuid = out
                .body
                .trim()
                .parse()
                .map_err(|_| AppError::field("body", "a product id"))?;
            Ok(product_card(state, id).await?.to_string())
        }
        "order" => {
            let id: Uuid = out
                .body
                .trim()
                .parse()
                .map_err(|_| AppError::field("body", "an order id"))?;
            let member = member.ok_or_else(|| AppError::not_found("order"))?;
            let order = own_order(state, member, id).await?;
            Ok(order_card(&order).to_string())
        }
        _ => Err(AppError::field("kind", "text, image, product or order")),
    }
}

/// A product card: names, the price at the first warehouse, the first image.
async fn product_card(state: &AppState, id: Uuid) -> AppResult<serde_json::Value> {
    let product = state
        .catalog_cache
        .product(&state.store, id)
        .await?
        .filter(|p| p.status.as_str() == "on_shelf")
        .ok_or_else(|| AppError::not_found("product"))?;
    let sku = product
        .skus
        .iter()
        .find(|s| s.status.as_str() == "on_shelf")
        .ok_or_else(|| AppError::not_found("product"))?;
    let location = super::checkout::default_delivery_location(state).await?;
    let price = state
        .catalog_cache
        .sku_prices(&state.store, &location, &[sku.id])
        .await?
        .get(&sku.id)
        .map(|p| p.price_fen);
    let image = state
        .catalog_cache
        .product_images(&state.store, id)
        .await?
        .first()
        .map(|i| format!("/media/{}", i.image.at_least(160).name));
    Ok(json!({
        "id": id,
        "name_zh": product.name_zh,
        "name_en": product.name_en,
        "price_fen": price,
        "image": image,
        "link": format!("/p/{id}"),
    }))
}

/// An order card: number, status, total, first line, when.
fn order_card(order: &storage::orders::OrderView) -> serde_json::Value {
    json!({
        "id": order.id,
        "order_no": order.order_no,
        "status": order.status.as_str(),
        "fulfilment": order.fulfilment.as_str(),
        "total_fen": order.total.fen(),
        "lines": order.lines.len(),
        "first_line": order.lines.first().map(|l| l.name.clone()),
        "created_at": order.created_at.timestamp_millis(),
    })
}

// ---------------------------------------------------------------------------------------------
// Agents' moves
// ---------------------------------------------------------------------------------------------

/// An agent takes a conversation waiting in their queue (or still with the bot). 409
/// `conversation_taken` when another agent has it, `conversation_closed` when it is closed.
pub async fn take(state: &AppState, staff: &StaffActor, id: Uuid) -> AppResult<ConversationView> {
    let found = conversation_for_agent(state, staff, id).await?;
    if found.status == stored::ASSIGNED && found.agent_id == Some(staff.id) {
        return Ok(ConversationView::from(&found));
    }
    let moved = stored::move_to(
        &state.store,
        id,
        &[stored::BOT, stored::WAITING],
        stored::ASSIGNED,
        Some(staff.id),
        None,
        None,
    )
    .await?
    .ok_or_else(|| refusal(&found))?;
    system_note(
        state,
        &moved,
        &format!("take:{}:{}", staff.id, moved.updated_at),
        &format!(
            "客服 {} 为您服务 / {} is here to help",
            staff.display_name, staff.display_name
        ),
    )
    .await?;
    let view = ConversationView::from(&moved);
    state.chat.publish(ChatEvent::Conversation {
        conversation: view.clone(),
    });
    Ok(view)
}

fn refusal(found: &Conversation) -> AppError {
    if found.status == stored::CLOSED {
        AppError::conflict("conversation_closed", "the conversation is closed")
    } else {
        AppError::conflict("conversation_taken", "another agent has this conversation")
    }
}

/// Where a conversation is transferred.
#[derive(Clone, Debug)]
pub enum TransferTo {
    /// To another queue, waiting there.
    Queue(String),
    /// To another agent (who answers the conversation's queue).
    Agent(Uuid),
}

/// An agent transfers an open conversation of their queue to another queue (waiting there) or
/// to another agent who answers it.
pub async fn transfer(
    state: &AppState,
    staff: &StaffActor,
    id: Uuid,
    to: TransferTo,
) -> AppResult<ConversationView> {
    let found = conversation_for_agent(state, staff, id).await?;
    if found.status == stored::CLOSED {
        return Err(refusal(&found));
    }
    let open = [stored::BOT, stored::WAITING, stored::ASSIGNED];
    let (moved, note) = match to {
        TransferTo::Queue(queue) => {
            check_queue(state, &queue).await?;
            let moved = stored::move_to(
                &state.store,
                id,
                &open,
                stored::WAITING,
                None,
                Some(&queue),
                Some("transferred"),
            )
            .await?;
            (
                moved,
                "已为您转接其他客服，请稍候 / Transferred to another team, please wait".to_owned(),
            )
        }
        TransferTo::Agent(agent) => {
            let target = storage::staff::record(&state.store, agent)
                .await?
                .filter(|r| r.active)
                .ok_or_else(|| AppError::field("agent", "no such staff member"))?
                .actor;
            require_queue(&target, &found.queue)
                .map_err(|_| AppError::field("agent", "this agent does not answer the queue"))?;
            let moved = stored::move_to(
                &state.store,
                id,
                &open,
                stored::ASSIGNED,
                Some(agent),
                None,
                None,
            )
            .await?;
            (
                moved,
                format!(
                    "客服 {} 为您服务 / {} is here to help",
                    target.display_name, target.display_name
                ),
            )
        }
    };
    let moved = moved.ok_or_else(|| refusal(&found))?;
    system_note(
        state,
        &moved,
        &format!("transfer:{}:{}", id, moved.updated_at),
        &note,
    )
    .await?;
    stored::audit(
        &state.store,
        &staff.actor(),
        "chat_transferred",
        &id.to_string(),
        json!({ "queue": moved.queue, "agent": moved.agent_id }),
    )
    .await?;
    let view = ConversationView::from(&moved);
    state.chat.publish(ChatEvent::Conversation {
        conversation: view.clone(),
    });
    Ok(view)
}

/// An agent closes a conversation of their queue; the member's next message opens a new one.
pub async fn close(state: &AppState, staff: &StaffActor, id: Uuid) -> AppResult<ConversationView> {
    let found = conversation_for_agent(state, staff, id).await?;
    if found.status == stored::CLOSED {
        return Ok(ConversationView::from(&found));
    }
    system_note(
        state,
        &found,
        &format!("close:{id}"),
        "本次会话已结束，感谢您的咨询 / This conversation has ended, thank you",
    )
    .await?;
    let moved = stored::move_to(
        &state.store,
        id,
        &[stored::BOT, stored::WAITING, stored::ASSIGNED],
        stored::CLOSED,
        found.agent_id,
        None,
        None,
    )
    .await?;
    let view = match moved {
        Some(moved) => ConversationView::from(&moved),
        None => ConversationView::from(
            &stored::get(&state.store, id)
                .await?
                .ok_or_else(|| AppError::not_found("conversation"))?,
        ),
    };
    state.chat.publish(ChatEvent::Conversation {
        conversation: view.clone(),
    });
    Ok(view)
}

/// A line from the service in the conversation (taken, transferred, closed).
async fn system_note(
    state: &AppState,
    conversation: &Conversation,
    client_id: &str,
    text: &str,
) -> AppResult<()> {
    let (message, after, new) = stored::append(
        &state.store,
        conversation.id,
        &NewMessage {
            client_id,
            sender: "system",
            staff_id: None,
            staff_name: None,
            kind: "text",
            body: text,
            faq_id: None,
            bot_answer: false,
        },
    )
    .await?;
    if new {
        publish_message(state, &after, &message);
    }
    Ok(())
}

/// An agent turns their answer (message `seq`, a text) into an FAQ entry, with the member's
/// last question before it as the question. Answers the new entry's id.
pub async fn learn_answer(
    state: &AppState,
    staff: &StaffActor,
    id: Uuid,
    seq: i64,
) -> AppResult<i64> {
    let found = conversation_for_agent(state, staff, id).await?;
    let messages = stored::messages_after(&state.store, found.id, (seq - 50).max(0), 51).await?;
    let answer = messages
        .iter()
        .find(|m| m.seq == seq && m.sender == "agent" && m.kind == "text")
        .ok_or_else(|| AppError::field("seq", "not an agent's text in this conversation"))?;
    let question = messages
        .iter()
        .rev()
        .find(|m| m.seq < seq && m.sender == "member" && m.kind == "text")
        .ok_or_else(|| AppError::field("seq", "no question from the member before it"))?;
    // One entry per answer however often the button is pressed: the entry's client id is a
    // UUIDv7 made from the answer's time and a hash of the conversation and number.
    let hash = {
        use sha2::Digest;
        sha2::Sha256::digest(format!("chat-faq:{}:{}", found.id, answer.seq).as_bytes())
    };
    let mut random = [0u8; 10];
    random.copy_from_slice(&hash[..10]);
    let client_id = uuid::Builder::from_unix_timestamp_millis(
        u64::try_from(answer.created_at).unwrap_or_default(),
        &random,
    )
    .into_uuid();
    super::service_bot::learn_from_agent_once(
        state,
        staff,
        client_id,
        &question.body,
        &answer.body,
        super::service_bot::Lang::Zh,
        Some(&found.id.to_string()),
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

/// The member's latest conversation and its messages after `after` (all of them when
/// `conversation` is not that conversation).
pub async fn member_history(
    state: &AppState,
    member: Uuid,
    conversation: Option<Uuid>,
    after: i64,
) -> AppResult<(Option<ConversationView>, Vec<MessageView>)> {
    let Some(latest) = stored::latest_of_member(&state.store, member).await? else {
        return Ok((None, Vec::new()));
    };
    let after = if conversation == Some(latest.id) {
        after.max(0)
    } else {
        0
    };
    let messages = if after == 0 {
        stored::last_messages(&state.store, latest.id, HISTORY_LIMIT).await?
    } else {
        stored::messages_after(&state.store, latest.id, after, HISTORY_LIMIT).await?
    };
    Ok((
        Some(ConversationView::from(&latest)),
        messages.iter().map(MessageView::from).collect(),
    ))
}

/// A conversation of the agent's queue and its messages after `after`.
pub async fn agent_history(
    state: &AppState,
    staff: &StaffActor,
    id: Uuid,
    after: i64,
) -> AppResult<(ConversationView, Vec<MessageView>)> {
    let found = conversation_for_agent(state, staff, id).await?;
    let messages = if after <= 0 {
        stored::last_messages(&state.store, id, HISTORY_LIMIT).await?
    } else {
        stored::messages_after(&state.store, id, after, HISTORY_LIMIT).await?
    };
    Ok((
        ConversationView::from(&found),
        messages.iter().map(MessageView::from).collect(),
    ))
}

/// The member read their conversation up to `seq`.
pub async fn member_read(state: &AppState, member: Uuid, seq: i64) -> AppResult<()> {
    if let Some(latest) = stored::latest_of_member(&state.store, member).await? {
        stored::mark_read(&state.store, latest.id, false, seq).await?;
    }
    Ok(())
}

/// An agent read a conversation of their queue up to `seq`: the inboxes' unread counts follow.
pub async fn agent_read(state: &AppState, staff: &StaffActor, id: Uuid, seq: i64) -> AppResult<()> {
    let found = conversation_for_agent(state, staff, id).await?;
    if seq > found.agent_read_seq {
        stored::mark_read(&state.store, id, true, seq).await?;
        if let Some(now) = stored::get(&state.store, id).await? {
            state.chat.publish(ChatEvent::Conversation {
                conversation: ConversationView::from(&now),
            });
        }
    }
    Ok(())
}

/// Messages from the service the member has not read.
pub async fn member_unread(state: &AppState, member: Uuid) -> AppResult<i64> {
    stored::member_unread(&state.store, member).await
}

/// Which conversations an agent's inbox shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum InboxView {
    /// Waiting for an agent.
    #[default]
    Waiting,
    /// Taken by this agent.
    Mine,
    /// Every open one (with the bot, waiting, taken).
    Open,
    /// Closed ones.
    Closed,
}

/// A page of the agent's inbox.
pub async fn inbox(
    state: &AppState,
    staff: &StaffActor,
    view: InboxView,
    cursor: Option<Cursor>,
    limit: i64,
) -> AppResult<Page<ConversationView>> {
    let queues = agent_queues(staff)?;
    let (statuses, agent): (Vec<String>, _) = match view {
        InboxView::Waiting => (vec![stored::WAITING.into()], None),
        InboxView::Mine => (vec![stored::ASSIGNED.into()], Some(staff.id)),
        InboxView::Open => (Vec::new(), None),
        InboxView::Closed => (vec![stored::CLOSED.into()], None),
    };
    let page = stored::inbox(
        &state.store,
        &stored::InboxQuery {
            queues,
            statuses,
            agent,
            member: None,
            cursor,
            limit,
        },
    )
    .await?;
    Ok(Page {
        items: page.items.iter().map(ConversationView::from).collect(),
        next_cursor: page.next_cursor,
    })
}

/// Head office searches every conversation's texts.
pub async fn search(
    state: &AppState,
    staff: &StaffActor,
    text: &str,
    cursor: Option<Cursor>,
    limit: i64,
) -> AppResult<Page<stored::Found>> {
    staff.require(&[Role::HeadOfficeAdmin])?;
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 100 {
        return Err(AppError::field("q", "1 to 100 characters"));
    }
    stored::search(&state.store, text, cursor.as_ref(), limit).await
}

/// The service's figures since a time: conversations, hand-overs, questions the bot answered.
/// The bot's answer rate is answers ÷ (answers + hand-overs) (each question to the bot is
/// answered or handed over); the hand-over rate is hand-overs ÷ conversations.
pub async fn stats(state: &AppState, since_ms: i64) -> AppResult<stored::ChatStats> {
    stored::stats(&state.store, since_ms).await
}

/// Canned replies an agent picks from: head office's and their store's.
pub async fn canned_replies(
    state: &AppState,
    staff: &StaffActor,
) -> AppResult<Vec<stored::CannedReply>> {
    let queues = match agent_queues(staff)? {
        None => vec![HEAD_OFFICE_QUEUE.to_owned()],
        Some(mut own) => {
            own.push(HEAD_OFFICE_QUEUE.to_owned());
            own
        }
    };
    stored::canned_replies(&state.store, &queues).await
}

/// Adds a canned reply to a queue the agent answers (head office's: head office only).
pub async fn add_canned_reply(
    state: &AppState,
    staff: &StaffActor,
    id: Uuid,
    queue: &str,
    title: &str,
    body: &str,
) -> AppResult<()> {
    require_queue(staff, queue)?;
    check_queue(state, queue).await?;
    let title = title.trim();
    let body = body.trim();
    if title.is_empty() || title.chars().count() > 40 {
        return Err(AppError::field("title", "1 to 40 characters"));
    }
    if body.is_empty() || body.chars().count() > state.settings.chat.max_text_chars {
        return Err(AppError::field("body", "1 to the text limit"));
    }
    stored::add_canned_reply(&state.store, id, queue, title, body, &staff.actor()).await
}

/// Deletes a canned reply of a queue the agent answers.
pub async fn delete_canned_reply(state: &AppState, staff: &StaffActor, id: Uuid) -> AppResult<()> {
    let queue = stored::canned_reply_queue(&state.store, id)
        .await?
        .ok_or_else(|| AppError::not_found("canned reply"))?;
    require_queue(staff, &queue)?;
    stored::delete_canned_reply(&state.store, id).await
}

/// The conversation's member as staff see them (the phone masked).
pub async fn member_of(
    state: &AppState,
    staff: &StaffActor,
    id: Uuid,
) -> AppResult<storage::members::Member> {
    let found = conversation_for_agent(state, staff, id).await?;
    storage::members::get(
        &state.store,
        &state.keys,
        &state.settings.points,
        found.member_id,
    )
    .await
}

/// The active staff who answer the queue (a transfer's choices).
pub async fn agents(state: &AppState, queue: &str) -> AppResult<Vec<StaffActor>> {
    Ok(storage::staff::list(&state.store, None)
        .await?
        .into_iter()
        .filter(|s| require_queue(s, queue).is_ok())
        .collect())
}

/// The member's five latest orders (beside a conversation in the inbox).
pub async fn recent_orders(
    state: &AppState,
    staff: &StaffActor,
    id: Uuid,
) -> AppResult<Vec<storage::web::OrderRow>> {
    let found = conversation_for_agent(state, staff, id).await?;
    Ok(storage::web::orders(
        &state.store,
        &storage::web::OrderQuery {
            member: Some(found.member_id),
            limit: 5,
            ..Default::default()
        },
    )
    .await?
    .items)
}
