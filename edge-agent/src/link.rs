//! The agent's MQTT link (docs/DESIGN.md §6): presence, health, the outbox, and what the store hears.
//!
//! * Logs in with the device id and credential; the Last Will is a retained `offline` status.
//!   On every connection it publishes a retained `online` status with the health of the devices
//!   it drives, and again every `health_interval_secs`.
//! * Delivers the [outbox](crate::store) **end to end**: a row leaves the outbox only when the
//!   server's acknowledgement on `retail/v1/stores/{store}/acks/{device}` names its
//!   `message_id`. The broker's PUBACK only marks it published: a broker acknowledges a publish
//!   nobody is subscribed to and drops it (after a broker restart, before the server has
//!   subscribed again). A row published and not acknowledged within `ack_wait_secs` is
//!   published again with the same `message_id` and payload, which the server applies once and
//!   acknowledges again. Rows go out oldest first, at most [`WINDOW`] of them unacknowledged at
//!   a time, and only once the subscriptions (the acknowledgements' among them) are granted.
//!   A connection that drops loses nothing: the next one sends everything unacknowledged again,
//!   from the oldest row; so does an agent restarted with rows in its outbox.
//!   An acknowledgement that is malformed or names another store is logged and ignored; ids
//!   not in the outbox are ignored.
//! * Subscribes to its commands, the store's pickup notices and the store's device events (to
//!   learn exit passes used at other gates), with a persistent session so QoS 1 commands sent
//!   while it was away are delivered when it returns. Commands and notices are handled once per
//!   `message_id`; malformed or oversized ones are logged and dropped.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use retail_domain::wire::bus::{
    self, acks_topic, commands_topic, decode, pickup_topic, status_topic, store_events_filter,
    AckMessage, CommandMessage, ComponentHealth, DeviceEvent, EventMessage, PickupMessage,
    Presence, StatusMessage,
};
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Outgoing, Packet, QoS, SubscribeFilter};
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::store::{LocalStore, OutboxRow};

/// Outbox rows a connection has out at once: sent and not yet acknowledged by the server
/// (published again after the wait, never more of them).
const WINDOW: usize = 32;

/// Where and who.
#[derive(Clone, Debug)]
pub struct LinkConfig {
    /// MQTT over TLS (`mqtts://`).
    pub tls: bool,
    /// Whom the agent trusts for TLS.
    pub trust: retail_devices::server_link::ServerTrust,
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// Store code.
    pub store: String,
    /// This device.
    pub device: Uuid,
    /// Its credential.
    pub credential: String,
    /// Seconds between health reports.
    pub health_interval: Duration,
    /// How long a published event waits for the server's acknowledgement before it is
    /// published again.
    pub ack_wait: Duration,
}

/// What the link hands to the agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inbound {
    /// A command for this device (first sight of its message id).
    Command(CommandMessage),
    /// A pickup notice for the store (first sight of its message id).
    Pickup(PickupMessage),
    /// An exit pass was used at a gate of this store (reported on the bus by any agent).
    PassUsed(Uuid),
}

/// Link state visible to the agent and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkState {
    /// Connected and subscribed (the broker's SUBACK came).
    pub connected: bool,
}

/// Handles to a running link.
#[derive(Clone, Debug)]
pub struct LinkHandle {
    /// Wake the outbox sender (an event was queued).
    pub outbox: Arc<Notify>,
    /// Connection state.
    pub state: watch::Receiver<LinkState>,
}

fn status(store: &str, presence: Presence, health: Vec<ComponentHealth>) -> Vec<u8> {
    serde_json::to_vec(&StatusMessage {
        v: bus::VERSION,
        message_id: Uuid::now_v7(),
        at: chrono::Utc::now(),
        store: store.to_owned(),
        status: presence,
        version: Some(env!("CARGO_PKG_VERSION").to_owned()),
        health,
    })
    .unwrap_or_default()
}

/// Starts the link; it reconnects until `cancel`, then publishes `offline` and disconnects.
pub fn start(
    config: LinkConfig,
    store: LocalStore,
    health: watch::Receiver<Vec<ComponentHealth>>,
    inbound: mpsc::Sender<Inbound>,
    cancel: CancellationToken,
) -> (LinkHandle, tokio::task::JoinHandle<()>) {
    let outbox = Arc::new(Notify::new());
    let (state_tx, state) = watch::channel(LinkState::default());
    let handle = LinkHandle {
        outbox: outbox.clone(),
        state,
    };
    let task = tokio::spawn(async move {
        let mut refusal = None;
        loop {
            if cancel.is_cancelled() {
                break;
            }
            let stopped = connection(
                &config,
                &store,
                &health,
                &inbound,
                &outbox,
                &state_tx,
                &cancel,
                &mut refusal,
            )
            .await;
            state_tx.send_replace(LinkState { connected: false });
            if stopped {
                break;
            }
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    });
    (handle, task)
}

/// The outbox as one connection sees it: what was handed to the client, what waits for the
/// broker's PUBACK, and what waits for the server's acknowledgement.
struct Delivery {
    /// Publishes handed to the client, in order: `Some(outbox seq)` or `None` (a status).
    handed: VecDeque<Option<i64>>,
    /// Packet id → outbox seq: sent, waiting for the broker's PUBACK.
    inflight: HashMap<u16, i64>,
    /// Rows sent in this connection and not yet acknowledged by the server (at most
    /// [`WINDOW`]): `None` until the broker's PUBACK, then when it came.
    outstanding: BTreeMap<i64, Option<Instant>>,
    /// The newest row sent in this connection.
    after: i64,
    /// How long a published row waits for the server before it is published again.
    ack_wait: Duration,
}

impl Delivery {
    fn new(ack_wait: Duration) -> Self {
        Self {
            handed: VecDeque::new(),
            inflight: HashMap::new(),
            outstanding: BTreeMap::new(),
            after: 0,
            ack_wait,
        }
    }

    /// A status publish was handed to the client.
    fn status_handed(&mut self) {
        self.handed.push_back(None);
    }

    /// The client wrote a publish with packet id `pkid` (in the order they were handed).
    fn written(&mut self, pkid: u16) {
        if let Some(Some(seq)) = self.handed.pop_front() {
            tracing::debug!(pkid, seq, "event sent");
            self.inflight.insert(pkid, seq);
        }
    }

    /// The broker's PUBACK: the row is published and waits for the server.
    async fn puback(&mut self, store: &LocalStore, pkid: u16) {
        let Some(seq) = self.inflight.remove(&pkid) else {
            return;
        };
        // Not outstanding: the server acknowledged it before the broker did.
        if let Some(published) = self.outstanding.get_mut(&seq) {
            *published = Some(Instant::now());
            if let Err(err) = store.published(seq).await {
                tracing::error!(error = %err, "could not mark an event published");
            }
        }
    }

    /// An acknowledgement from the server: the rows it names leave the outbox. True when some
    /// did (the window has room).
    async fn acknowledged(
        &mut self,
        config: &LinkConfig,
        store: &LocalStore,
        payload: &[u8],
    ) -> bool {
        let ack = match decode::<AckMessage>(payload) {
            Ok(ack) => ack,
            Err(err) => {
                tracing::warn!(reason = %err, "acknowledgement refused");
                return false;
            }
        };
        if ack.store != config.store {
            tracing::warn!(store = %ack.store, "acknowledgement for another store refused");
            return false;
        }
        match store.acknowledged(&ack.received).await {
            Ok(removed) => {
                tracing::debug!(
                    named = ack.received.len(),
                    removed = removed.len(),
                    "events acknowledged by the server"
                );
                for seq in &removed {
                    self.outstanding.remove(seq);
                }
                !removed.is_empty()
            }
            Err(err) => {
                tracing::error!(error = %err, "could not clear acknowledged events");
                false
            }
        }
    }

    /// Publishes again the rows the server has not acknowledged within the wait, then the next
    /// rows of the outbox, oldest first, while the window has room.
    async fn send(&mut self, client: &AsyncClient, store: &LocalStore) {
        let due: Vec<i64> = self
            .outstanding
            .iter()
            .filter(|(_, published)| published.is_some_and(|at| at.elapsed() >= self.ack_wait))
            .map(|(seq, _)| *seq)
            .collect();
        if !due.is_empty() {
            tracing::info!(events = due.len(), wait = ?self.ack_wait, "no acknowledgement from the server: publishing again");
        }
        for seq in due {
            match store.waiting(seq).await {
                Ok(Some(row)) => {
                    if !self.publish(client, row) {
                        return;
                    }
                }
                // Acknowledged meanwhile.
                Ok(None) => {
                    self.outstanding.remove(&seq);
                }
                Err(err) => {
                    tracing::error!(error = %err, "reading the outbox failed");
                    return;
                }
            }
        }
        let room = WINDOW.saturating_sub(self.outstanding.len());
        if room == 0 {
            return;
        }
        let rows = match store.pending(self.after, room as i64).await {
            Ok(rows) => rows,
            Err(err) => {
                tracing::error!(error = %err, "reading the outbox failed");
                return;
            }
        };
        for row in rows {
            let seq = row.seq;
            if !self.publish(client, row) {
                return;
            }
            self.after = seq;
        }
    }

    /// Hands one row to the client (QoS 1); false when its queue is full.
    fn publish(&mut self, client: &AsyncClient, row: OutboxRow) -> bool {
        if client
            .try_publish(row.topic, QoS::AtLeastOnce, false, row.payload)
            .is_err()
        {
            return false;
        }
        self.handed.push_back(Some(row.seq));
        self.outstanding.insert(row.seq, None);
        true
    }
}

/// One connection, from CONNECT until it drops (false) or the agent stops (true). A TLS
/// handshake that fails (the broker's certificate is not from the pinned CA) is logged as an
/// error once per distinct reason (`refusal` keeps the last one; a connection clears it).
#[allow(clippy::too_many_arguments)]
async fn connection(
    config: &LinkConfig,
    store: &LocalStore,
    health: &watch::Receiver<Vec<ComponentHealth>>,
    inbound: &mpsc::Sender<Inbound>,
    outbox: &Notify,
    state: &watch::Sender<LinkState>,
    cancel: &CancellationToken,
    refusal: &mut Option<String>,
) -> bool {
    let status_topic = status_topic(&config.store, config.device);
    let mut options = MqttOptions::new(
        format!("edge-{}", config.device.simple()),
        &config.host,
        config.port,
    );
    options.set_keep_alive(Duration::from_secs(5));
    options.set_clean_session(false);
    options.set_credentials(config.device.to_string(), config.credential.clone());
    options.set_max_packet_size(256 * 1024, 256 * 1024);
    options.set_transport(config.trust.mqtt_transport(config.tls));
    options.set_last_will(LastWill::new(
        status_topic.clone(),
        status(&config.store, Presence::Offline, health.borrow().clone()),
        QoS::AtLeastOnce,
        true,
    ));
    let (client, mut eventloop) = AsyncClient::new(options, 256);
    let commands = commands_topic(&config.store, config.device);
    let pickup = pickup_topic(&config.store);
    let store_events = store_events_filter(&config.store);
    let acks = acks_topic(&config.store, config.device);

    let mut connected = false;
    // Subscribed (the server's acknowledgements can reach us): the outbox may go out.
    let mut subscribed = false;
    let mut delivery = Delivery::new(config.ack_wait);
    let mut health_tick = tokio::time::interval(config.health_interval);
    health_tick.tick().await;
    let mut poll_outbox = tokio::time::interval(Duration::from_millis(250));

    loop {
        tokio::select! {
            () = cancel.cancelled() => {
                if connected {
                    if client.try_publish(status_topic.clone(), QoS::AtLeastOnce, true,
                        status(&config.store, Presence::Offline, health.borrow().clone())).is_ok() {
                        delivery.status_handed();
                    }
                    let _ = client.try_disconnect();
                    // PUBACKs and acknowledgements still arriving are recorded before the link
                    // goes; whatever the server has not acknowledged is sent again next time.
                    let _ = tokio::time::timeout(Duration::from_secs(2), async {
                        loop {
                            match eventloop.poll().await {
                                Ok(Event::Incoming(Packet::PubAck(ack))) => delivery.puback(store, ack.pkid).await,
                                Ok(Event::Outgoing(Outgoing::Publish(pkid))) => delivery.written(pkid),
                                Ok(Event::Incoming(Packet::Publish(publish))) if publish.topic == acks => {
                                    delivery.acknowledged(config, store, &publish.payload).await;
                                }
                                Ok(_) => {}
                                Err(_) => break,
                            }
                        }
                    }).await;
                }
                return true;
            }
            event = eventloop.poll() => match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    connected = true;
                    *refusal = None;
                    let online = status(&config.store, Presence::Online, health.borrow().clone());
                    if client.try_publish(status_topic.clone(), QoS::AtLeastOnce, true, online).is_ok() {
                        delivery.status_handed();
                    }
                    let filters = [&acks, &commands, &pickup, &store_events]
                        .map(|f| SubscribeFilter::new(f.clone(), QoS::AtLeastOnce));
                    if let Err(err) = client.try_subscribe_many(filters) {
                        tracing::warn!(error = %err, "could not subscribe");
                    }
                }
                Ok(Event::Incoming(Packet::SubAck(_))) if connected && !subscribed => {
                    subscribed = true;
                    state.send_replace(LinkState { connected: true });
                    tracing::info!(host = %config.host, port = config.port, "connected to the store bus");
                    outbox.notify_one();
                }
                Ok(Event::Outgoing(Outgoing::Publish(pkid))) => delivery.written(pkid),
                Ok(Event::Incoming(Packet::PubAck(ack))) => {
                    tracing::debug!(pkid = ack.pkid, "PUBACK");
                    delivery.puback(store, ack.pkid).await;
                }
                Ok(Event::Incoming(Packet::Publish(publish))) if publish.topic == acks => {
                    if delivery.acknowledged(config, store, &publish.payload).await {
                        outbox.notify_one();
                    }
                }
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    if let Some(message) = route(config, store, &publish.topic, &publish.payload, &commands, &pickup).await {
                        if inbound.send(message).await.is_err() {
                            return true;
                        }
                    }
                }
                Ok(_) => {}
                Err(err) => {
                    if connected {
                        tracing::warn!(error = %err, "store bus connection lost");
                    } else if matches!(err, rumqttc::ConnectionError::Tls(_)) {
                        let reason = config.trust.explain(&err);
                        if refusal.as_deref() != Some(reason.as_str()) {
                            tracing::error!(%reason, "store bus: TLS handshake failed");
                            *refusal = Some(reason);
                        }
                    } else {
                        tracing::debug!(error = %err, "store bus unreachable");
                    }
                    return false;
                }
            },
            () = outbox.notified(), if subscribed => delivery.send(&client, store).await,
            _ = poll_outbox.tick(), if subscribed => delivery.send(&client, store).await,
            _ = health_tick.tick(), if connected => {
                let report = status(&config.store, Presence::Online, health.borrow().clone());
                if client.try_publish(status_topic.clone(), QoS::AtLeastOnce, true, report).is_ok() {
                    delivery.status_handed();
                }
            }
        }
    }
}

/// Checks an incoming message and turns it into what the agent acts on.
async fn route(
    config: &LinkConfig,
    store: &LocalStore,
    topic: &str,
    payload: &[u8],
    commands: &str,
    pickup: &str,
) -> Option<Inbound> {
    if topic == commands {
        let msg = match decode::<CommandMessage>(payload) {
            Ok(msg) => msg,
            Err(err) => {
                tracing::warn!(%topic, reason = %err, "command refused");
                return None;
            }
        };
        return first_sight(store, msg.message_id)
            .await
            .then_some(Inbound::Command(msg));
    }
    if topic == pickup {
        let msg = match decode::<PickupMessage>(payload) {
            Ok(msg) => msg,
            Err(err) => {
                tracing::warn!(%topic, reason = %err, "pickup notice refused");
                return None;
            }
        };
        return first_sight(store, msg.message_id)
            .await
            .then_some(Inbound::Pickup(msg));
    }
    let parsed = bus::parse_device_topic(topic)?;
    if parsed.store != config.store || parsed.kind != bus::DeviceTopicKind::Events {
        return None;
    }
    match decode::<EventMessage>(payload) {
        Ok(EventMessage {
            store: event_store,
            event:
                DeviceEvent::ExitScan {
                    session_id: Some(session),
                    decision,
                    ..
                },
            ..
        }) if decision.uses_pass() && event_store == config.store => {
            Some(Inbound::PassUsed(session))
        }
        Ok(_) => None,
        Err(err) => {
            tracing::warn!(%topic, reason = %err, "store event refused");
            None
        }
    }
}

async fn first_sight(store: &LocalStore, message_id: Uuid) -> bool {
    match store.first_sight(message_id).await {
        Ok(first) => first,
        Err(err) => {
            tracing::error!(error = %err, "recording a message id failed");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The outbox rows handed to the client, in order (statuses left out).
    fn handed_rows(delivery: &Delivery) -> Vec<i64> {
        delivery.handed.iter().flatten().copied().collect()
    }

    fn config() -> LinkConfig {
        LinkConfig {
            tls: false,
            trust: retail_devices::server_link::ServerTrust::load(None)
                .unwrap_or_else(|e| panic!("{e}")),
            host: "127.0.0.1".into(),
            port: 1,
            store: "SH001".into(),
            device: Uuid::now_v7(),
            credential: "dv_x".into(),
            health_interval: Duration::from_secs(30),
            ack_wait: Duration::from_secs(10),
        }
    }

    async fn outbox_of(n: usize) -> (tempfile::TempDir, LocalStore, Vec<Uuid>) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = LocalStore::open(dir.path())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let topic = bus::events_topic("SH001", Uuid::now_v7());
        let mut ids = Vec::new();
        for _ in 0..n {
            let id = Uuid::now_v7();
            store
                .enqueue(&topic, id, b"{}")
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            ids.push(id);
        }
        (dir, store, ids)
    }

    fn ack(store: &str, received: &[Uuid]) -> Vec<u8> {
        serde_json::to_vec(&AckMessage {
            v: bus::VERSION,
            message_id: Uuid::now_v7(),
            at: chrono::Utc::now(),
            store: store.into(),
            received: received.to_vec(),
        })
        .unwrap_or_default()
    }

    /// A client whose event loop never runs: publishes queue up, nothing is sent.
    fn idle_client() -> (AsyncClient, rumqttc::EventLoop) {
        AsyncClient::new(MqttOptions::new("test", "127.0.0.1", 1), 1024)
    }

    #[tokio::test]
    async fn only_a_well_formed_acknowledgement_of_this_store_clears_rows() {
        let config = config();
        let (_dir, store, ids) = outbox_of(3).await;
        let mut delivery = Delivery::new(config.ack_wait);
        assert!(!delivery.acknowledged(&config, &store, b"{not json").await);
        assert!(
            !delivery
                .acknowledged(&config, &store, &ack("HZ001", &ids))
                .await
        );
        assert!(
            !delivery
                .acknowledged(&config, &store, &ack("SH001", &[Uuid::now_v7()]))
                .await
        );
        assert_eq!(store.outbox_len().await.ok(), Some(3));
        assert!(
            delivery
                .acknowledged(&config, &store, &ack("SH001", &[ids[1], Uuid::now_v7()]))
                .await
        );
        let left: Vec<i64> = store
            .pending(0, 10)
            .await
            .unwrap_or_default()
            .iter()
            .map(|r| r.seq)
            .collect();
        assert_eq!(left.len(), 2);
        // The same acknowledgement again: nothing more leaves.
        assert!(
            !delivery
                .acknowledged(&config, &store, &ack("SH001", &[ids[1]]))
                .await
        );
        assert_eq!(store.outbox_len().await.ok(), Some(2));
    }

    #[tokio::test]
    async fn the_window_holds_unacknowledged_rows_and_resends_them_after_the_wait() {
        let (_dir, store, ids) = outbox_of(WINDOW + 5).await;
        let (client, _eventloop) = idle_client();
        // No wait: a published row is due again at once.
        let mut delivery = Delivery::new(Duration::ZERO);
        delivery.send(&client, &store).await;
        assert_eq!(delivery.outstanding.len(), WINDOW);
        assert_eq!(delivery.handed.len(), WINDOW);
        // Not yet PUBACKed: nothing is due, and the window is full.
        delivery.send(&client, &store).await;
        assert_eq!(delivery.handed.len(), WINDOW);
        for pkid in 1..=WINDOW as u16 {
            delivery.written(pkid);
        }
        for pkid in 1..=WINDOW as u16 {
            delivery.puback(&store, pkid).await;
        }
        assert_eq!(store.published_len().await.ok(), Some(WINDOW as i64));
        // Published, not acknowledged: the same rows go out again, no new ones.
        let first: Vec<i64> = delivery.outstanding.keys().copied().collect();
        delivery.send(&client, &store).await;
        assert_eq!(
            delivery.outstanding.keys().copied().collect::<Vec<_>>(),
            first
        );
        assert_eq!(handed_rows(&delivery), first);
        assert!(delivery.outstanding.values().all(Option::is_none));
        // The server acknowledges the oldest two: two newer rows take their places, oldest
        // first.
        let config = config();
        assert!(
            delivery
                .acknowledged(&config, &store, &ack("SH001", &ids[..2]))
                .await
        );
        delivery.handed.clear();
        delivery.send(&client, &store).await;
        let after: Vec<i64> = delivery.outstanding.keys().copied().collect();
        assert_eq!(after.len(), WINDOW);
        assert_eq!(after[..WINDOW - 2], first[2..]);
        assert_eq!(handed_rows(&delivery), after[WINDOW - 2..]);
    }

    #[tokio::test]
    async fn a_published_row_waits_for_the_server_before_going_again() {
        let (_dir, store, _ids) = outbox_of(2).await;
        let (client, _eventloop) = idle_client();
        let mut delivery = Delivery::new(Duration::from_secs(3600));
        delivery.send(&client, &store).await;
        delivery.written(1);
        delivery.written(2);
        delivery.puback(&store, 1).await;
        delivery.puback(&store, 2).await;
        assert!(delivery.handed.is_empty());
        delivery.send(&client, &store).await;
        assert!(delivery.handed.is_empty(), "nothing is due within the wait");
        assert_eq!(store.outbox_len().await.ok(), Some(2));
    }
}
