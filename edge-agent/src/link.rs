//! The agent's MQTT link (DESIGN §6): presence, health, the outbox, and what the store hears.
//!
//! * Logs in with the device id and credential; the Last Will is a retained `offline` status.
//!   On every connection it publishes a retained `online` status with the health of the devices
//!   it drives, and again every `health_interval_secs`.
//! * Delivers the [outbox](crate::store) in order: a row leaves the outbox only when the broker
//!   acknowledges it (QoS 1 PUBACK). A connection that drops loses nothing: the next one starts
//!   again from the oldest unacknowledged row. A redelivery after a lost PUBACK carries the same
//!   `message_id`, which receivers de-duplicate, so every event takes effect once.
//! * Subscribes to its commands, the store's pickup notices and the store's device events (to
//!   learn exit passes used at other gates), with a persistent session so QoS 1 commands sent
//!   while it was away are delivered when it returns. Commands and notices are handled once per
//!   `message_id`; malformed or oversized ones are logged and dropped.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use retail_domain::wire::bus::{
    self, commands_topic, decode, pickup_topic, status_topic, store_events_filter, CommandMessage,
    ComponentHealth, DeviceEvent, EventMessage, PickupMessage, Presence, StatusMessage,
};
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Outgoing, Packet, QoS};
use tokio::sync::{mpsc, watch, Notify};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::store::LocalStore;

/// Outbox rows in flight at once.
const WINDOW: usize = 32;

/// Where and who.
#[derive(Clone, Debug)]
pub struct LinkConfig {
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
    /// Connected and subscribed.
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
        loop {
            if cancel.is_cancelled() {
                break;
            }
            let stopped = connection(
                &config, &store, &health, &inbound, &outbox, &state_tx, &cancel,
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

/// One connection, from CONNECT until it drops (false) or the agent stops (true).
async fn connection(
    config: &LinkConfig,
    store: &LocalStore,
    health: &watch::Receiver<Vec<ComponentHealth>>,
    inbound: &mpsc::Sender<Inbound>,
    outbox: &Notify,
    state: &watch::Sender<LinkState>,
    cancel: &CancellationToken,
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

    let mut connected = false;
    // Publishes handed to the client, in order: Some(outbox seq) or None (status).
    let mut handed: VecDeque<Option<i64>> = VecDeque::new();
    let mut inflight: HashMap<u16, i64> = HashMap::new();
    let mut after = 0i64;
    let mut health_tick = tokio::time::interval(config.health_interval);
    health_tick.tick().await;
    let mut poll_outbox = tokio::time::interval(Duration::from_millis(250));

    loop {
        tokio::select! {
            () = cancel.cancelled() => {
                if connected {
                    let _ = client.try_publish(status_topic.clone(), QoS::AtLeastOnce, true,
                        status(&config.store, Presence::Offline, health.borrow().clone()));
                    let _ = client.try_disconnect();
                    // Acknowledgements still arriving clear their rows before the link goes.
                    let _ = tokio::time::timeout(Duration::from_secs(2), async {
                        loop {
                            match eventloop.poll().await {
                                Ok(Event::Incoming(Packet::PubAck(ack))) => {
                                    if let Some(seq) = inflight.remove(&ack.pkid) {
                                        let _ = store.delivered(seq).await;
                                    }
                                }
                                Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                                    if let Some(Some(seq)) = handed.pop_front() {
                                        inflight.insert(pkid, seq);
                                    }
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
                    let online = status(&config.store, Presence::Online, health.borrow().clone());
                    if client.try_publish(status_topic.clone(), QoS::AtLeastOnce, true, online).is_ok() {
                        handed.push_back(None);
                    }
                    for filter in [&commands, &pickup, &store_events] {
                        if let Err(err) = client.try_subscribe(filter.clone(), QoS::AtLeastOnce) {
                            tracing::warn!(%filter, error = %err, "could not subscribe");
                        }
                    }
                    state.send_replace(LinkState { connected: true });
                    tracing::info!(host = %config.host, port = config.port, "connected to the store bus");
                    outbox.notify_one();
                }
                Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                    if let Some(Some(seq)) = handed.pop_front() {
                        tracing::debug!(pkid, seq, "event sent");
                        inflight.insert(pkid, seq);
                    }
                }
                Ok(Event::Incoming(Packet::PubAck(ack))) => {
                    tracing::debug!(pkid = ack.pkid, known = inflight.contains_key(&ack.pkid), "PUBACK");
                    if let Some(seq) = inflight.remove(&ack.pkid) {
                        if let Err(err) = store.delivered(seq).await {
                            tracing::error!(error = %err, "could not clear a delivered event");
                        }
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
                    } else {
                        tracing::debug!(error = %err, "store bus unreachable");
                    }
                    return false;
                }
            },
            () = outbox.notified(), if connected => {
                send_pending(&client, store, &mut handed, &inflight, &mut after).await;
            }
            _ = poll_outbox.tick(), if connected => {
                send_pending(&client, store, &mut handed, &inflight, &mut after).await;
            }
            _ = health_tick.tick(), if connected => {
                let report = status(&config.store, Presence::Online, health.borrow().clone());
                if client.try_publish(status_topic.clone(), QoS::AtLeastOnce, true, report).is_ok() {
                    handed.push_back(None);
                }
            }
        }
    }
}

/// Hands the next outbox rows to the client, up to the window.
async fn send_pending(
    client: &AsyncClient,
    store: &LocalStore,
    handed: &mut VecDeque<Option<i64>>,
    inflight: &HashMap<u16, i64>,
    after: &mut i64,
) {
    let busy = inflight.len() + handed.iter().filter(|h| h.is_some()).count();
    if busy >= WINDOW {
        return;
    }
    let rows = match store.pending(*after, (WINDOW - busy) as i64).await {
        Ok(rows) => rows,
        Err(err) => {
            tracing::error!(error = %err, "reading the outbox failed");
            return;
        }
    };
    for row in rows {
        if client
            .try_publish(row.topic, QoS::AtLeastOnce, false, row.payload)
            .is_err()
        {
            return;
        }
        handed.push_back(Some(row.seq));
        *after = row.seq;
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
