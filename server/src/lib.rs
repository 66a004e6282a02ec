//! The central retail server: one truth for stock, members, points, prices and orders across the
//! online shop and every store.
//!
//! [`run`] starts it from [`config::Settings`]; tests use [`Application::build`] to start it
//! in-process on an ephemeral port. The HTTP API lives under `/api/v1` (one router per resource
//! in [`routes`]), every SQL statement in [`storage`], and the OpenAPI document is generated from
//! the handlers and served at `/api/v1/openapi.json`.

#![forbid(unsafe_code)]

pub mod actor;
pub mod app;
pub mod auth;
pub mod bus;
pub mod cli;
pub mod config;
pub mod demo;
pub mod demo_data;
pub mod error;
pub mod forwarded;
pub mod http;
pub mod routes;
pub mod secrets;
pub mod storage;
pub mod telemetry;
pub mod tls;
pub mod web;

/// The allocator the server's binaries use (`#[global_allocator] static A: Allocator =
/// Allocator;` in each `main`): mimalloc, which costs the order and page hot paths far less
/// than the system allocator.
pub use mimalloc::MiMalloc as Allocator;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::serve::ListenerExt as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::app::AppState;
use crate::config::Settings;
use crate::secrets::Keys;
use crate::storage::Store;

/// A built server, bound to its port, not yet serving.
pub struct Application {
    listener: TcpListener,
    /// HTTPS: the acceptor of `[tls]` (None: plain HTTP).
    tls: Option<tokio_rustls::TlsAcceptor>,
    state: AppState,
    addr: SocketAddr,
}

impl Application {
    /// Connects the database, applies migrations, loads the demo chain into an empty database
    /// when configured to, and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        settings.validate()?;
        telemetry::metrics_handle();
        // Certificates first: a bad file stops the start before anything else happens.
        let http_tls = tls::acceptor(&settings.tls, tls::HTTP_ALPN)?;
        let mqtt_tls = tls::acceptor(&settings.tls, tls::MQTT_ALPN)?;
        let external_tls = match bus::parse_mqtt_url(&settings.mqtt.url) {
            Ok(address) if settings.mqtt.enabled && address.tls => {
                Some(tls::client_config(&settings.mqtt.ca_file)?)
            }
            _ => None,
        };
        let keys = Keys::load(&settings)?;
        let store = Store::connect_with(
            &settings.database_url,
            std::time::Duration::from_millis(settings.load.db_acquire_timeout_millis),
        )
        .await?;
        if settings.demo {
            tracing::warn!(
                "demo mode: the demo chain (shared password), the sandbox payment provider and \
                 on-screen SMS codes are on; never run a real store like this"
            );
            demo::load_if_empty(&store, &keys)
                .await
                .context("loading the demo chain")?;
        } else if !storage::staff::any_exists(&store).await? {
            tracing::warn!(
                "no staff account exists yet: create the first head-office administrator with \
                 `retail-server admin create --username <name> --display-name <name>` \
                 (the password is read from RETAIL_ADMIN_PASSWORD or standard input)"
            );
        }
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("binding {}", settings.listen))?;
        let addr = listener.local_addr()?;
        let public_url: Arc<str> = if settings.public_url.is_empty() {
            let scheme = if http_tls.is_some() { "https" } else { "http" };
            format!("{scheme}://{addr}").into()
        } else {
            settings.public_url.trim_end_matches('/').into()
        };
        if http_tls.is_none() && !addr.ip().is_loopback() && !public_url.starts_with("https://") {
            tracing::warn!(
                %addr,
                "plain HTTP on a network address: passwords, device credentials and personal \
                 data cross the network in clear; configure [tls] (or a TLS-terminating proxy \
                 with an https:// public_url)"
            );
        }
        if settings.mqtt.enabled
            && settings.mqtt.url.is_empty()
            && !settings.tls.enabled()
            && !settings.mqtt.embedded_listen.ip().is_loopback()
        {
            tracing::warn!(
                listen = %settings.mqtt.embedded_listen,
                "the embedded broker speaks plain MQTT on a network address: device credentials \
                 cross the network in clear; configure [tls]"
            );
        }
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .context("building the HTTP client")?;
        let sms = app::sms::sender_from_settings(&settings, http.clone())?;
        let wechat_subscribe = app::wechat_subscribe::sender_from_settings(
            &settings.notifications.wechat,
            http.clone(),
        );
        let media = storage::media::ImageStore::from_settings(
            &settings.media,
            &settings.data_dir,
            http.clone(),
        )?;
        let payments = app::payment_providers::PaymentProviders::from_settings(&settings)?;
        tracing::info!(providers = ?payments.available(), "payment providers");
        let intake = app::order_intake::OrderIntake::start(
            store.clone(),
            settings.orders.max_batch,
            app::order_intake::UnpaidCaps::from_settings(&settings.orders),
        )
        .await
        .context("starting the order writer")?;
        let settings = Arc::new(settings);
        let payment_intake =
            app::payment_intake::PaymentIntake::start(store.clone(), settings.clone())
                .await
                .context("starting the payment writer")?;
        let event_intake = app::event_intake::EventIntake::start(store.clone())
            .await
            .context("starting the event writer")?;
        let shutdown = CancellationToken::new();
        let mut device_sessions = None;
        let (bus, broker) = if settings.mqtt.enabled {
            let (ready_tx, ready_rx) = tokio::sync::watch::channel(false);
            let (server_login, device_address) = if settings.mqtt.url.is_empty() {
                let embedded = bus::start_embedded_broker(
                    settings.mqtt.embedded_listen,
                    mqtt_tls,
                    store.clone(),
                    ready_rx,
                    shutdown.clone(),
                )
                .await?;
                device_sessions = Some(embedded.sessions);
                (embedded.inner, embedded.public)
            } else {
                let address = bus::parse_mqtt_url(&settings.mqtt.url)?;
                let public = bus::BrokerAddress {
                    username: None,
                    password: None,
                    ..address.clone()
                };
                (address, public)
            };
            // The consumer feeds the client and acknowledges through it: it starts first and is
            // given the client once it exists.
            let acks = app::device_events::AckPublisher::default();
            let consumer = app::device_events::start(store.clone(), acks.clone(), shutdown.clone());
            let client_id = if settings.mqtt.url.is_empty() {
                ""
            } else {
                settings.mqtt.client_id.as_str()
            };
            let publisher = bus::Bus::connect(
                &server_login,
                external_tls,
                client_id,
                Some(consumer),
                shutdown.clone(),
            );
            acks.set(publisher.clone());
            let subscribed = publisher.clone();
            tokio::spawn(async move {
                subscribed.wait_subscribed().await;
                ready_tx.send_replace(true);
            });
            (Some(publisher), Some(device_address))
        } else {
            (None, None)
        };
        let posters = Arc::new(app::posters::PosterMaker::new(
            settings.media.poster_font.clone(),
            settings.media.poster_cache_mib.saturating_mul(1024 * 1024),
        ));
        let service_bot = app::service_bot::ServiceBot::load(&store)
            .await
            .context("building the service bot's FAQ index")?;
        let cluster = Arc::new(app::cluster::Cluster::from_settings(&settings));
        tracing::info!(
            instance = %cluster.instance_id,
            instances = settings.cluster.instances,
            "cluster"
        );
        let limiter = if cluster.shared {
            app::limits::RateLimiter::shared(store.clone())
        } else {
            app::limits::RateLimiter::default()
        };
        let chat = Arc::new(app::chat::ChatHub::default());
        chat.relay_to(cluster.clone());
        let state = AppState::new(app::Shared {
            store,
            settings,
            keys: Arc::new(keys),
            intake,
            payment_intake,
            event_intake,
            catalog_cache: Arc::new(app::catalog_cache::CatalogCache::new(
                std::time::Duration::from_secs(1),
            )),
            pricing: Arc::new(app::pricing::PricingCache::new(
                std::time::Duration::from_secs(1),
            )),
            limiter: Arc::new(limiter),
            bus,
            broker,
            device_sessions,
            shutdown,
            public_url,
            http,
            search: Default::default(),
            search_words: Default::default(),
            pending_events: Default::default(),
            sessions: Default::default(),
            cart_badges: Default::default(),
            sms,
            wechat_subscribe,
            payments,
            media,
            posters,
            chat,
            service_bot,
            recommendations: Default::default(),
            esl: Default::default(),
            cluster,
        });
        Ok(Self {
            listener,
            tls: http_tls,
            state,
            addr,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state (tests use it to reach the store).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then drains in-flight requests and stops the
    /// background work.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            listener,
            tls,
            state,
            addr,
        } = self;
        let cancel = state.shutdown.clone();
        if let Some(bus) = state.bus.clone() {
            tokio::spawn(bus::watch_catalog(state.store.clone(), bus, cancel.clone()));
        }
        let sweeper = tokio::spawn(app::sweeper::run(state.clone(), cancel.clone()));
        let payment_sweeper =
            tokio::spawn(app::sweeper::run_payments(state.clone(), cancel.clone()));
        let notifications = tokio::spawn(app::notifications::run(state.clone(), cancel.clone()));
        let segments = tokio::spawn(app::segments::run(state.clone(), cancel.clone()));
        let recommendations =
            tokio::spawn(app::recommendations::run(state.clone(), cancel.clone()));
        let reconciliation = tokio::spawn(app::reconciliation::run(state.clone(), cancel.clone()));
        let export = tokio::spawn(app::export::run(state.clone(), cancel.clone()));
        let esl = tokio::spawn(app::esl::run(state.clone(), cancel.clone()));
        let webhooks = tokio::spawn(app::webhooks::run(state.clone(), cancel.clone()));
        let checkpoints =
            tokio::spawn(app::sweeper::run_checkpoints(state.clone(), cancel.clone()));
        let cluster = tokio::spawn(app::cluster::run(state.clone(), cancel.clone()));
        {
            // Personal data sealed with a retired data key (or before key ids) is sealed
            // again in the background.
            let state = state.clone();
            tokio::spawn(async move {
                if let Err(e) = app::privacy::reseal(&state).await {
                    tracing::error!(error = %e, "sealing personal data again failed; retried at the next start");
                }
            });
        }
        let app = http::router(state.clone());
        tracing::info!(%addr, url = %state.public_url, "retail server listening");
        let stop = cancel.clone();
        let graceful = async move {
            shutdown.await;
            tracing::info!("shutting down");
            stop.cancel();
        };
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        match tls {
            None => axum::serve(listener, service)
                .with_graceful_shutdown(graceful)
                .await
                .context("serving HTTP")?,
            Some(acceptor) => {
                // `tap_io` only to reach axum's connect-info for any listener (the peer address).
                let listener = tls::TlsListener::new(listener, acceptor)
                    .context("starting the HTTPS listener")?
                    .tap_io(|_| {});
                axum::serve(listener, service)
                    .with_graceful_shutdown(graceful)
                    .await
                    .context("serving HTTPS")?
            }
        }
        cancel.cancel();
        let _ = sweeper.await;
        let _ = payment_sweeper.await;
        let _ = notifications.await;
        let _ = segments.await;
        let _ = recommendations.await;
        let _ = reconciliation.await;
        let _ = export.await;
        let _ = esl.await;
        let _ = webhooks.await;
        let _ = checkpoints.await;
        let _ = cluster.await;
        state.intake.close().await;
        state.payment_intake.close().await;
        state.event_intake.close().await;
        state.store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Builds and runs the server until `shutdown` completes.
pub async fn run(
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let demo = settings.demo;
    let app = Application::build(settings).await?;
    let url = app.state.public_url.clone();
    println!("Retail server running at {url}");
    println!("  API:      {url}/api/v1   (OpenAPI: {url}/api/v1/openapi.json)");
    println!("  Shop:     {url}/        Console: {url}/console");
    println!("  Health:   {url}/healthz   Metrics: {url}/metrics");
    if let Some(broker) = &app.state.broker {
        println!(
            "  MQTT:     {} (devices log in with their device id and credential)",
            broker.url()
        );
    }
    if demo {
        println!("  Demo logins (password demo1234): admin (head office), mgr.sh001 (store manager), cashier1.sh001 (cashier)");
        println!(
            "  Demo lane PIN of every account: {} (sign in at a lane: login cashier1.sh001 {})",
            crate::demo_data::DEMO_PIN,
            crate::demo_data::DEMO_PIN
        );
        println!("  e.g. curl -s -X POST {url}/api/v1/auth/login -H 'content-type: application/json' -d '{{\"username\":\"admin\",\"password\":\"demo1234\"}}'");
    }
    app.run_until(shutdown).await
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
