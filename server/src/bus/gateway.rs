//! Topic-level access control in front of the embedded broker.
//!
//! rumqttd 0.20 checks a login (user name and password) but has no hook for authorising
//! individual publishes and subscriptions (its only per-tenant scoping needs TLS client
//! certificates and a `/tenants/…` topic prefix). So devices never talk to it directly: they
//! connect to this gateway, which
//!
//! * with `[tls]`, terminates MQTT over TLS (the server's certificate): a client that does not
//!   complete the handshake is dropped before anything of it is read, so a device's credential
//!   never crosses the network in clear;
//! * reads the CONNECT packet, checks the device id and credential against the database
//!   (revoked devices are refused with `NotAuthorized`), checks that the client id names the
//!   device ([`client_id_of_device`]: `edge-{device}`, `pos-{device}`, …; anything else is
//!   refused with `BadClientId`, "identifier rejected", before the broker sees it, so no device
//!   can take over another device's session and receive its commands), checks the Last Will
//!   topic, and passes
//!   the connection on to the broker on an internal loopback port under a per-process secret the
//!   broker accepts from nobody else;
//! * checks every PUBLISH topic and SUBSCRIBE filter from the device against
//!   [`retail_domain::wire::bus`]'s rules (subscribe only to its own commands and
//!   acknowledgements and its store's notices and device topics; publish only its own status
//!   and events) and closes the connection, with a logged reason, on the first violation —
//!   nothing of the offending packet reaches the broker (so a device reads its commands and
//!   the acknowledgements of its events, `…/acks/{device}`, and no other device's or store's,
//!   and cannot publish an acknowledgement);
//! * copies the broker's packets back to the device untouched;
//! * ends a device's connections when its credential is revoked: at once when the revocation
//!   goes through this server ([`Sessions::disconnect`]), and within [`RECHECK`] when it went
//!   through another instance (each connection re-reads its device's revocation).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use retail_domain::wire::bus::{client_id_of_device, device_may_publish, device_may_subscribe};
use rumqttc::mqttbytes::v4::{ConnAck, ConnectReturnCode, Login, Packet};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::secrets::token_hash;
use crate::storage::{self, Store};

/// Largest packet a device may send (the broker's own limit is the same).
const MAX_PACKET: usize = 64 * 1024;

/// How often a live connection re-reads whether its device was revoked.
pub const RECHECK: Duration = Duration::from_secs(5);

/// The devices connected through the gateway, so a revocation can end their connections.
#[derive(Clone, Debug, Default)]
pub struct Sessions {
    inner: Arc<Mutex<SessionMap>>,
}

#[derive(Debug, Default)]
struct SessionMap {
    next: u64,
    live: HashMap<Uuid, Vec<(u64, CancellationToken)>>,
}

impl Sessions {
    fn register(&self, device: Uuid) -> (u64, CancellationToken) {
        let token = CancellationToken::new();
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        map.next += 1;
        let key = map.next;
        map.live
            .entry(device)
            .or_default()
            .push((key, token.clone()));
        (key, token)
    }

    fn unregister(&self, device: Uuid, key: u64) {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(list) = map.live.get_mut(&device) {
            list.retain(|(k, _)| *k != key);
            if list.is_empty() {
                map.live.remove(&device);
            }
        }
    }

    /// Ends every live connection of `device`; returns how many there were.
    pub fn disconnect(&self, device: Uuid) -> usize {
        let list = self
            .inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .live
            .remove(&device)
            .unwrap_or_default();
        for (_, token) in &list {
            token.cancel();
        }
        list.len()
    }

    /// How many connections `device` has open now.
    pub fn connections(&self, device: Uuid) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .live
            .get(&device)
            .map_or(0, Vec::len)
    }
}

/// Why a connection was closed.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("connection closed")]
    Closed,
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("malformed MQTT packet: {0}")]
    Protocol(String),
    #[error("login refused for {0:?}")]
    Login(String),
    #[error("device {device} (store {store}) may not {action} {topic:?}")]
    Forbidden {
        device: Uuid,
        store: String,
        action: &'static str,
        topic: String,
    },
    #[error("device {device} may not connect as client {client_id:?}")]
    ClientId { device: Uuid, client_id: String },
    #[error("the first packet was not CONNECT")]
    NotConnect,
    #[error("no CONNECT within 10 s")]
    Timeout,
    #[error("device {0} was revoked")]
    Revoked(Uuid),
}

/// Where devices connect: the socket, and TLS on it when configured.
pub struct DeviceListener {
    /// The bound socket.
    pub listener: TcpListener,
    /// The acceptor of `[tls]` (None: plain MQTT).
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

/// Accepts device connections on `listener` (from when `ready` turns true) and relays them to
/// the broker at `inner` until `cancel`. `inner_secret` is the password the broker accepts for
/// relayed connections. With `tls` every device connection is MQTT over TLS (the handshake
/// within [`crate::tls::HANDSHAKE_TIMEOUT`]); a client that does not complete it is dropped
/// before anything of it is read.
pub async fn serve(
    DeviceListener { listener, tls }: DeviceListener,
    inner: SocketAddr,
    inner_secret: String,
    store: Store,
    sessions: Sessions,
    mut ready: tokio::sync::watch::Receiver<bool>,
    cancel: CancellationToken,
) {
    tokio::select! {
        () = cancel.cancelled() => return,
        _ = ready.wait_for(|r| *r) => {}
    }
    loop {
        let (socket, peer) = tokio::select! {
            () = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    tracing::warn!(error = %err, "MQTT gateway accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let store = store.clone();
        let secret = inner_secret.clone();
        let cancel = cancel.clone();
        let sessions = sessions.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _ = socket.set_nodelay(true);
            let connection = async {
                match tls {
                    None => relay(socket, inner, &secret, &store, &sessions).await,
                    Some(acceptor) => {
                        let socket = tokio::time::timeout(
                            crate::tls::HANDSHAKE_TIMEOUT,
                            acceptor.accept(socket),
                        )
                        .await
                        .map_err(|_| Refusal::Tls("handshake timed out".into()))?
                        .map_err(|e| Refusal::Tls(e.to_string()))?;
                        relay(socket, inner, &secret, &store, &sessions).await
                    }
                }
            };
            tokio::select! {
                () = cancel.cancelled() => {}
                result = connection => match result {
                    Ok(()) | Err(Refusal::Closed) => {}
                    Err(err @ Refusal::Tls(_)) => tracing::info!(%peer, reason = %err, "MQTT over TLS: handshake failed"),
                    Err(err) => tracing::warn!(%peer, reason = %err, "MQTT connection closed by the gateway"),
                },
            }
        });
    }
}

/// Reads the next whole packet from `socket` into `buffer`; returns its raw bytes and parsed
/// form.
async fn next_packet(
    socket: &mut (impl AsyncReadExt + Unpin),
    buffer: &mut BytesMut,
) -> Result<(BytesMut, Packet), Refusal> {
    loop {
        match rumqttc::mqttbytes::check(buffer.iter(), MAX_PACKET) {
            Ok(header) => {
                let raw = buffer.split_to(header.frame_length());
                let mut copy = raw.clone();
                let packet = Packet::read(&mut copy, MAX_PACKET)
                    .map_err(|e| Refusal::Protocol(e.to_string()))?;
                return Ok((raw, packet));
            }
            Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => {
                if socket.read_buf(buffer).await? == 0 {
                    return Err(Refusal::Closed);
                }
            }
            Err(err) => return Err(Refusal::Protocol(err.to_string())),
        }
    }
}

async fn refuse(socket: &mut (impl AsyncWriteExt + Unpin), code: ConnectReturnCode) {
    let mut out = BytesMut::new();
    if ConnAck::new(code, false).write(&mut out).is_ok() {
        let _ = socket.write_all(&out).await;
    }
    let _ = socket.shutdown().await;
}

async fn relay<S>(
    mut device_socket: S,
    inner: SocketAddr,
    inner_secret: &str,
    store: &Store,
    sessions: &Sessions,
) -> Result<(), Refusal>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut buffer = BytesMut::with_capacity(4096);
    let (_, first) = tokio::time::timeout(
        Duration::from_secs(10),
        next_packet(&mut device_socket, &mut buffer),
    )
    .await
    .map_err(|_| Refusal::Timeout)??;
    let Packet::Connect(mut connect) = first else {
        return Err(Refusal::NotConnect);
    };
    let Some(login) = connect.login.take() else {
        refuse(&mut device_socket, ConnectReturnCode::NotAuthorized).await;
        return Err(Refusal::Login("(anonymous)".into()));
    };
    let Ok(device) = login.username.parse::<Uuid>() else {
        refuse(&mut device_socket, ConnectReturnCode::BadUserNamePassword).await;
        return Err(Refusal::Login(login.username));
    };
    let location = match storage::devices::by_secret(store, &token_hash(&login.password)).await {
        Ok(Some((actor, None))) if actor.id == device => actor.location_id,
        Ok(Some((actor, Some(_)))) if actor.id == device => {
            refuse(&mut device_socket, ConnectReturnCode::NotAuthorized).await;
            return Err(Refusal::Login(format!("{device} (revoked)")));
        }
        Ok(_) => {
            refuse(&mut device_socket, ConnectReturnCode::BadUserNamePassword).await;
            return Err(Refusal::Login(device.to_string()));
        }
        Err(err) => {
            tracing::error!(error = %err, "checking an MQTT login failed");
            refuse(&mut device_socket, ConnectReturnCode::ServiceUnavailable).await;
            return Err(Refusal::Login(device.to_string()));
        }
    };
    // The client id names the device: a device cannot take over another device's session.
    if !client_id_of_device(&connect.client_id, device) {
        refuse(&mut device_socket, ConnectReturnCode::BadClientId).await;
        return Err(Refusal::ClientId {
            device,
            client_id: connect.client_id.clone(),
        });
    }
    if let Some(will) = &connect.last_will {
        if !device_may_publish(&location, device, &will.topic) {
            refuse(&mut device_socket, ConnectReturnCode::NotAuthorized).await;
            return Err(Refusal::Forbidden {
                device,
                store: location,
                action: "set a Last Will on",
                topic: will.topic.clone(),
            });
        }
    }
    connect.login = Some(Login::new(device.to_string(), inner_secret));
    let mut connect_bytes = BytesMut::new();
    connect
        .write(&mut connect_bytes)
        .map_err(|e| Refusal::Protocol(e.to_string()))?;
    let mut broker_socket = match TcpStream::connect(inner).await {
        Ok(socket) => socket,
        Err(err) => {
            refuse(&mut device_socket, ConnectReturnCode::ServiceUnavailable).await;
            return Err(err.into());
        }
    };
    let _ = broker_socket.set_nodelay(true);
    broker_socket.write_all(&connect_bytes).await?;

    let (mut from_broker, mut to_broker) = broker_socket.into_split();
    let (mut from_device, mut to_device) = tokio::io::split(device_socket);
    let downstream = async move {
        let _ = tokio::io::copy(&mut from_broker, &mut to_device).await;
        let _ = to_device.shutdown().await;
        Ok::<(), Refusal>(())
    };
    let upstream = async move {
        loop {
            let (raw, packet) = next_packet(&mut from_device, &mut buffer).await?;
            match &packet {
                Packet::Publish(publish)
                    if !device_may_publish(&location, device, &publish.topic) =>
                {
                    return Err(Refusal::Forbidden {
                        device,
                        store: location.clone(),
                        action: "publish to",
                        topic: publish.topic.clone(),
                    });
                }
                Packet::Subscribe(subscribe) => {
                    if let Some(filter) = subscribe
                        .filters
                        .iter()
                        .find(|f| !device_may_subscribe(&location, device, &f.path))
                    {
                        return Err(Refusal::Forbidden {
                            device,
                            store: location.clone(),
                            action: "subscribe to",
                            topic: filter.path.clone(),
                        });
                    }
                }
                Packet::Connect(_) => return Err(Refusal::Protocol("a second CONNECT".into())),
                _ => {}
            }
            to_broker.write_all(&raw).await?;
            if matches!(packet, Packet::Disconnect) {
                return Ok(());
            }
        }
    };
    // Revocation ends the connection: at once through `Sessions`, or when the periodic check
    // sees it (a revocation through another server instance).
    let (key, revoked) = sessions.register(device);
    let recheck = async {
        let mut tick = tokio::time::interval(RECHECK);
        tick.tick().await;
        loop {
            tick.tick().await;
            match storage::devices::get(store, device).await {
                Ok(record) if record.revoked_at.is_some() => return,
                Ok(_) => {}
                Err(err) => tracing::warn!(%device, error = %err, "re-checking a device failed"),
            }
        }
    };
    // Whichever side ends first ends the connection (dropping the other half closes it).
    let result = tokio::select! {
        result = upstream => result,
        result = downstream => result,
        () = revoked.cancelled() => Err(Refusal::Revoked(device)),
        () = recheck => Err(Refusal::Revoked(device)),
    };
    sessions.unregister(device, key);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disconnect_ends_every_session_of_that_device_only() {
        let sessions = Sessions::default();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let (first_key, first) = sessions.register(a);
        let (_, second) = sessions.register(a);
        let (_, other) = sessions.register(b);
        assert_eq!((sessions.connections(a), sessions.connections(b)), (2, 1));
        assert_eq!(sessions.disconnect(a), 2);
        assert!(first.is_cancelled() && second.is_cancelled());
        assert!(!other.is_cancelled());
        assert_eq!(sessions.connections(a), 0);
        // A connection that ends by itself leaves the registry; a second revocation is a no-op.
        sessions.unregister(a, first_key);
        assert_eq!(sessions.disconnect(a), 0);
        let (key, _) = sessions.register(b);
        sessions.unregister(b, key);
        assert_eq!(sessions.connections(b), 1);
    }
}
