//! The store bus (docs/DESIGN.md §6): the MQTT broker embedded in the server by default (rumqttd), or an
//! external one from `MQTT_URL`, and the server's own client (rumqttc) that publishes notices to
//! stores under `retail/v1/`.
//!
//! Devices log in to the embedded broker with their device id as the user name and their device
//! credential as the password; the broker asks the server's database (revoked devices are
//! refused). With `[tls]` the embedded broker's device listener is MQTT over TLS only; an
//! external broker may be reached over TLS (`mqtts://`, `mqtt.ca_file`). The server's own client logs in with a per-process random password.
//!
//! Notices published today: `retail/v1/stores/{store}/pickup` when a pickup order is paid, and
//! `retail/v1/stores/{store}/catalog` when the catalog change sequence moves (watched from the
//! database, so a change made through any server instance is announced), and
//! `retail/v1/stores/{store}/members` when the middle platform changes a member's tier or rights
//! ([`Bus::member_changed`]). Commands go to
//! `retail/v1/stores/{store}/commands/{device}`, and the device-event consumer
//! (`app::device_events`) acknowledges each device
//! event it has taken on `retail/v1/stores/{store}/acks/{device}` ([`Bus::acknowledge`]).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::secrets::new_token;
use crate::storage::{self, Store};

pub mod gateway;
pub mod mosquitto;

/// One message received by the server's client.
#[derive(Clone, Debug)]
pub struct Incoming {
    /// Its topic.
    pub topic: String,
    /// Its payload.
    pub payload: bytes::Bytes,
}

/// Version of the notice payloads.
pub const PAYLOAD_VERSION: u32 = 1;

/// Where the server's MQTT client connects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerAddress {
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// User name, if any.
    pub username: Option<String>,
    /// Password, if any.
    pub password: Option<String>,
    /// MQTT over TLS (`mqtts://`).
    pub tls: bool,
}

impl BrokerAddress {
    /// `mqtt://host:port` or `mqtts://host:port`, without the login: the address as devices
    /// are given it.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        format!("{scheme}://{}:{}", self.host, self.port)
    }
}

/// Parses `mqtt://[user[:password]@]host[:port]` (port 1883 by default), or `mqtts://…` for
/// MQTT over TLS (port 8883 by default).
pub fn parse_mqtt_url(url: &str) -> anyhow::Result<BrokerAddress> {
    let Some((rest, tls)) = retail_domain::wire::bus::broker_scheme(url) else {
        anyhow::bail!("MQTT_URL must start with mqtt:// or mqtts:// (got {url:?})")
    };
    let rest = rest.trim_end_matches('/');
    let (credentials, hostport) = match rest.rsplit_once('@') {
        Some((c, h)) => (Some(c), h),
        None => (None, rest),
    };
    let (username, password) = match credentials {
        Some(c) => match c.split_once(':') {
            Some((u, p)) => (Some(u.to_owned()), Some(p.to_owned())),
            None => (Some(c.to_owned()), None),
        },
        None => (None, None),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (
            h.to_owned(),
            p.parse().with_context(|| format!("bad port in {url:?}"))?,
        ),
        None => (hostport.to_owned(), if tls { 8883 } else { 1883 }),
    };
    anyhow::ensure!(!host.is_empty(), "no host in MQTT_URL {url:?}");
    Ok(BrokerAddress {
        host,
        port,
        username,
        password,
        tls,
    })
}

/// The embedded broker as started: where devices connect (the access-checking gateway) and
/// where the server's own client connects (the broker itself, on an internal port).
#[derive(Clone, Debug)]
pub struct EmbeddedBroker {
    /// The public address devices use (the [`gateway`]).
    pub public: BrokerAddress,
    /// The broker's internal address and the server's login there.
    pub inner: BrokerAddress,
    /// The devices connected through the gateway (a revocation ends their connections).
    pub sessions: gateway::Sessions,
}

/// Starts the embedded broker on an internal loopback port (its own threads, for the life of the
/// process) and the access-checking [`gateway`] on `listen` (a task, until `cancel`). Device
/// logins and topics are checked by the gateway; the broker itself accepts only connections that
/// present this process's secret. The gateway accepts devices once `ready` turns true (the
/// server's own client is subscribed, so no device event is published into the void). With
/// `tls` the gateway speaks MQTT over TLS only.
pub async fn start_embedded_broker(
    listen: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    store: Store,
    ready: tokio::sync::watch::Receiver<bool>,
    cancel: CancellationToken,
) -> anyhow::Result<EmbeddedBroker> {
    let secret = new_token("mq_");
    let expected = secret.clone();
    let mut connections = rumqttd::ConnectionSettings {
        connection_timeout_ms: 5_000,
        max_payload_size: 64 * 1024,
        max_inflight_count: 200,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    connections.set_auth_handler(move |_client_id: String, _user: String, pass: String| {
        let expected = expected.clone();
        async move { crate::secrets::signatures_match(&pass, &expected) }
    });
    let public = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding the MQTT listener {listen}"))?;
    let public_addr = public.local_addr()?;
    let inner_addr = std::net::TcpListener::bind((public_addr.ip(), 0))?.local_addr()?;
    let server = rumqttd::ServerSettings {
        name: "v4".into(),
        listen: inner_addr,
        tls: None,
        next_connection_delay_ms: 1,
        connections,
    };
    let config = rumqttd::Config {
        id: 0,
        router: rumqttd::RouterConfig {
            max_connections: 10_000,
            max_outgoing_packet_count: 200,
            max_segment_size: 1024 * 1024,
            max_segment_count: 10,
            ..Default::default()
        },
        v4: Some([("v4".to_owned(), server)].into_iter().collect()),
        ..Default::default()
    };
    std::thread::Builder::new()
        .name("mqtt-broker".into())
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(config);
            if let Err(err) = broker.start() {
                tracing::error!(error = %err, "embedded MQTT broker stopped");
            }
        })
        .context("starting the embedded MQTT broker")?;
    let sessions = gateway::Sessions::default();
    let public_tls = tls.is_some();
    tokio::spawn(gateway::serve(
        gateway::DeviceListener {
            listener: public,
            tls,
        },
        inner_addr,
        secret.clone(),
        store,
        sessions.clone(),
        ready,
        cancel,
    ));
    Ok(EmbeddedBroker {
        public: BrokerAddress {
            host: public_addr.ip().to_string(),
            port: public_addr.port(),
            username: None,
            password: None,
            tls: public_tls,
        },
        inner: BrokerAddress {
            host: inner_addr.ip().to_string(),
            port: inner_addr.port(),
            username: Some("server".into()),
            password: Some(secret),
            tls: false,
        },
        sessions,
    })
}

/// The server's publisher; cheap to clone.
#[derive(Clone, Debug)]
pub struct Bus {
    client: AsyncClient,
    subscribed: tokio::sync::watch::Receiver<bool>,
}

/// Envelope fields every payload carries.
#[derive(Debug, Serialize)]
struct Envelope<T: Serialize> {
    v: u32,
    message_id: Uuid,
    at: chrono::DateTime<chrono::Utc>,
    #[serde(flatten)]
    body: T,
}

/// A pickup order event for a store.
#[derive(Debug, Serialize)]
pub struct PickupNotice<'a> {
    /// `created` (paid, to be picked), `ready`, `collected` or `cancelled`.
    pub event: &'a str,
    /// Order id.
    pub order_id: Uuid,
    /// Order number.
    pub order_no: &'a str,
    /// The lines to pick with their shelf locations (`created`; empty otherwise).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub lines: &'a [retail_domain::wire::bus::PickupLine],
}

impl Bus {
    /// Connects the server's client and keeps it connected in the background until `cancel`.
    /// A non-empty `client_id` asks for a persistent session (see `MqttSettings::client_id`).
    /// With `consumer`, it subscribes to every store's device status and events and hands each
    /// message to it (the application's device-event consumer). An `mqtts://` address is
    /// reached over TLS with `tls` (see [`crate::tls::client_config`]).
    pub fn connect(
        address: &BrokerAddress,
        tls: Option<std::sync::Arc<rustls::ClientConfig>>,
        client_id: &str,
        consumer: Option<tokio::sync::mpsc::Sender<Incoming>>,
        cancel: CancellationToken,
    ) -> Bus {
        let persistent = !client_id.is_empty();
        let client_id = if persistent {
            client_id.to_owned()
        } else {
            format!("retail-server-{}", Uuid::now_v7().simple())
        };
        let mut options = MqttOptions::new(client_id, &address.host, address.port);
        options.set_clean_session(!persistent);
        options.set_keep_alive(Duration::from_secs(15));
        options.set_max_packet_size(256 * 1024, 256 * 1024);
        if let Some(user) = &address.username {
            options.set_credentials(user.clone(), address.password.clone().unwrap_or_default());
        }
        if let Some(tls) = tls {
            options.set_transport(rumqttc::Transport::tls_with_config(
                rumqttc::TlsConfiguration::Rustls(tls),
            ));
        }
        let (client, mut eventloop) = AsyncClient::new(options, 1024);
        let subscriber = client.clone();
        let (subscribed_tx, subscribed) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let mut acks = 0;
            let mut connected = false;
            loop {
                tokio::select! {
                    () = cancel.cancelled() => break,
                    event = eventloop.poll() => match event {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            connected = true;
                            acks = 0;
                            subscribed_tx.send_replace(false);
                            tracing::info!("connected to the MQTT broker");
                            if consumer.is_some() {
                                for filter in retail_domain::wire::bus::server_filters() {
                                    // try_: never wait on the event loop this task drives.
                                    if let Err(err) = subscriber.try_subscribe(&filter, QoS::AtLeastOnce) {
                                        tracing::error!(%filter, error = %err, "could not subscribe");
                                    }
                                }
                            }
                        }
                        Ok(Event::Incoming(Packet::SubAck(_))) => {
                            acks += 1;
                            if acks == retail_domain::wire::bus::server_filters().len() {
                                subscribed_tx.send_replace(true);
                            }
                        }
                        Ok(Event::Incoming(Packet::Publish(publish))) => {
                            if let Some(consumer) = &consumer {
                                let incoming = Incoming {
                                    topic: publish.topic.clone(),
                                    payload: publish.payload.clone(),
                                };
                                if consumer.send(incoming).await.is_err() {
                                    tracing::warn!("the bus consumer stopped");
                                }
                            }
                        }
                        Ok(_) => {}
                        Err(err) => {
                            if connected {
                                tracing::warn!(error = %err, "MQTT connection lost; reconnecting");
                            }
                            connected = false;
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                    },
                }
            }
        });
        Bus { client, subscribed }
    }

    /// Completes once the server's client is subscribed to device status and events (tests
    /// wait for it before devices publish; a broker drops QoS 1 messages nobody subscribes to).
    pub async fn wait_subscribed(&self) {
        let mut subscribed = self.subscribed.clone();
        let _ = subscribed.wait_for(|s| *s).await;
    }

    async fn publish<T: Serialize>(&self, topic: String, body: T) {
        self.publish_as(topic, Uuid::now_v7(), body).await;
    }

    async fn publish_as<T: Serialize>(&self, topic: String, message_id: Uuid, body: T) {
        let envelope = Envelope {
            v: PAYLOAD_VERSION,
            message_id,
            at: chrono::Utc::now(),
            body,
        };
        self.send(topic, &envelope).await;
    }

    /// Publishes a whole message (QoS 1, not retained).
    async fn send<T: Serialize>(&self, topic: String, message: &T) {
        match serde_json::to_vec(message) {
            Ok(payload) => {
                if let Err(err) = self
                    .client
                    .publish(topic.clone(), QoS::AtLeastOnce, false, payload)
                    .await
                {
                    tracing::warn!(%topic, error = %err, "could not queue an MQTT message");
                }
            }
            Err(err) => tracing::error!(error = %err, "could not encode an MQTT message"),
        }
    }

    /// Tells a device which of its events the server has taken
    /// (`retail/v1/stores/{store}/acks/{device}`); at most
    /// [`MAX_ACK_IDS`](retail_domain::wire::bus::MAX_ACK_IDS) ids per message, so longer lists
    /// go out as several.
    pub async fn acknowledge(&self, store: &str, device: Uuid, received: &[Uuid]) {
        use retail_domain::wire::bus::{acks_topic, AckMessage, MAX_ACK_IDS, VERSION};
        for ids in received.chunks(MAX_ACK_IDS) {
            let message = AckMessage {
                v: VERSION,
                message_id: Uuid::now_v7(),
                at: chrono::Utc::now(),
                store: store.to_owned(),
                received: ids.to_vec(),
            };
            self.send(acks_topic(store, device), &message).await;
        }
    }

    /// Announces a pickup order event to its store.
    pub async fn pickup(&self, store: &str, notice: PickupNotice<'_>) {
        self.publish(retail_domain::wire::bus::pickup_topic(store), notice)
            .await;
    }

    /// Sends a command to one device of a store (`retail/v1/stores/{store}/commands/{device}`).
    pub async fn command(
        &self,
        store: &str,
        device: Uuid,
        command: retail_domain::wire::bus::Command,
    ) {
        self.command_as(store, device, Uuid::now_v7(), &command)
            .await;
    }

    /// Sends a command under a given message id (the client's command id: a resend carries the
    /// same id, which the agent executes once).
    pub async fn command_as(
        &self,
        store: &str,
        device: Uuid,
        message_id: Uuid,
        command: &retail_domain::wire::bus::Command,
    ) {
        self.publish_as(
            retail_domain::wire::bus::commands_topic(store, device),
            message_id,
            command,
        )
        .await;
    }

    /// Tells a store's lanes the catalog changed up to `seq` (they pull at once).
    pub async fn catalog_changed(&self, store: &str, seq: i64) {
        #[derive(Serialize)]
        struct CatalogNotice {
            seq: i64,
        }
        self.publish(
            retail_domain::wire::bus::catalog_topic(store),
            CatalogNotice { seq },
        )
        .await;
    }
}

impl Bus {
    /// Tells a store's lanes a member's tier or rights changed (for a lane holding that member
    /// to take the new tier and re-read the member).
    pub async fn member_changed(
        &self,
        store: &str,
        notice: &retail_domain::wire::bus::MemberTierNotice,
    ) {
        self.publish(retail_domain::wire::bus::members_topic(store), notice)
            .await;
    }
}

/// Watches the catalog change sequence and announces every move to every store.
pub async fn watch_catalog(store: Store, bus: Bus, cancel: CancellationToken) {
    let mut last = storage::catalog_seq(&store).await.unwrap_or(0);
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        let seq = match storage::catalog_seq(&store).await {
            Ok(seq) => seq,
            Err(err) => {
                tracing::warn!(error = %err, "reading the catalog sequence failed");
                continue;
            }
        };
        if seq == last {
            continue;
        }
        last = seq;
        match storage::locations::list(&store).await {
            Ok(locations) => {
                for location in locations.iter().filter(|l| l.kind == "store") {
                    bus.catalog_changed(&location.id, seq).await;
                }
            }
            Err(err) => tracing::warn!(error = %err, "listing stores failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mqtt_urls() {
        let a = parse_mqtt_url("mqtt://127.0.0.1:1883").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (a.host.as_str(), a.port, a.username),
            ("127.0.0.1", 1883, None)
        );
        let b = parse_mqtt_url("mqtt://srv:secret@broker.local").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((b.host.as_str(), b.port), ("broker.local", 1883));
        assert_eq!(
            (b.username.as_deref(), b.password.as_deref()),
            (Some("srv"), Some("secret"))
        );
        assert!(!a.tls && !b.tls);
        let c = parse_mqtt_url("mqtts://srv:secret@broker.local").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (c.host.as_str(), c.port, c.tls),
            ("broker.local", 8883, true)
        );
        assert_eq!(c.url(), "mqtts://broker.local:8883");
        assert!(parse_mqtt_url("http://x").is_err());
        assert!(parse_mqtt_url("mqtt://host:notaport").is_err());
    }
}
