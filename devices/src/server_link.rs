//! How a lane or an edge agent reaches the chain's server (issue 15, finding 7): the server's
//! address (`http://` or `https://`), the store bus's (`mqtt://` or `mqtts://`), and whom the
//! device trusts for TLS (rustls on *ring*, for HTTPS and MQTT over TLS alike).
//!
//! **Pinning.** Given the chain's CA certificate (`ca_file` in the device's configuration),
//! [`ServerTrust`] trusts that CA and nothing else — the operating system's roots are not
//! consulted — so a server or broker presenting a certificate from any other CA is refused
//! during the handshake, before the device's credential or any sale leaves the device. Without
//! `ca_file`, `https://` and `mqtts://` trust the operating system's roots (a server with a
//! publicly trusted certificate). A `ca_file` with a plain `http://` or `mqtt://` address is a
//! configuration error ([`ServerTrust::require_tls`]): a pinned CA is a promise of TLS.
//!
//! Plain `http://` and `mqtt://` stay allowed for the demo and development;
//! [`warn_if_plain`] logs a warning when such an address is not this machine.

use std::error::Error as StdError;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// Why the device's TLS trust or an address could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The CA file could not be read or parsed.
    #[error("ca_file {path}: {reason}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// An address is not one this device understands.
    #[error("{0}")]
    Address(String),
}

/// Whom the device trusts for TLS: the chain's CA only (pinned), or the operating system's
/// roots. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ServerTrust {
    config: Arc<rustls::ClientConfig>,
    ca_file: Option<PathBuf>,
}

/// The crypto provider: *ring* (aws-lc-rs, rustls's default, needs cmake to build). rustls
/// 0.23.48 deprecates it only for lacking post-quantum key exchange.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl ServerTrust {
    /// The chain's CA in `ca_file` only, when given; else the operating system's roots.
    ///
    /// # Errors
    /// When `ca_file` cannot be read, holds no certificate, or holds one that is not a usable
    /// trust anchor.
    pub fn load(ca_file: Option<&Path>) -> Result<Self, LinkError> {
        let mut roots = rustls::RootCertStore::empty();
        match ca_file {
            Some(path) => {
                let failed = |reason: String| LinkError::CaFile {
                    path: path.to_path_buf(),
                    reason,
                };
                let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                    .and_then(|certs| certs.collect())
                    .map_err(|e| failed(e.to_string()))?;
                if certs.is_empty() {
                    return Err(failed(
                        "no certificate in it (PEM \"BEGIN CERTIFICATE\")".into(),
                    ));
                }
                for cert in certs {
                    roots.add(cert).map_err(|e| failed(e.to_string()))?;
                }
            }
            None => {
                // A root the operating system lists but rustls cannot use is skipped, as
                // browsers do; with none at all, `https://` fails with a certificate error.
                for cert in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(cert);
                }
            }
        }
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| LinkError::Address(format!("TLS protocol versions: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            config: Arc::new(config),
            ca_file: ca_file.map(Path::to_path_buf),
        })
    }

    /// The pinned CA file, if any.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// Refuses a plain address (`http://`, `mqtt://`) when a CA is pinned: `what` names the
    /// setting (e.g. `server_url`).
    ///
    /// # Errors
    /// When a CA is pinned and `tls` is false.
    pub fn require_tls(&self, what: &str, url: &str, tls: bool) -> Result<(), LinkError> {
        match &self.ca_file {
            Some(ca) if !tls => Err(LinkError::Address(format!(
                "{what} {url:?} is plain, but ca_file ({}) pins the chain's CA: use https:// or \
                 mqtts:// (or remove ca_file for a plain demo setup)",
                ca.display()
            ))),
            _ => Ok(()),
        }
    }

    /// An HTTP client trusting exactly this (the pinned CA, or the system's roots).
    ///
    /// # Errors
    /// When the client cannot be built.
    pub fn http_client(
        &self,
        builder: reqwest::ClientBuilder,
    ) -> Result<reqwest::Client, reqwest::Error> {
        builder
            .use_preconfigured_tls(rustls::ClientConfig::clone(&self.config))
            .build()
    }

    /// The MQTT transport for a broker address ([`BrokerUrl::tls`]): TLS trusting exactly this
    /// for `mqtts://`, plain TCP for `mqtt://`.
    pub fn mqtt_transport(&self, tls: bool) -> rumqttc::Transport {
        if tls {
            rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(
                self.config.clone(),
            ))
        } else {
            rumqttc::Transport::Tcp
        }
    }

    /// An error of a call to the server or the broker, with its causes (the TLS reason is
    /// usually the innermost), and a hint when the certificate was refused under a pinned CA.
    pub fn explain(&self, err: &(dyn StdError + 'static)) -> String {
        let text = error_chain(err);
        match &self.ca_file {
            Some(ca) if text.contains("certificate") => format!(
                "{text} (the server's certificate is not issued by the pinned CA in {}; \
                 nothing was sent)",
                ca.display()
            ),
            _ => text,
        }
    }
}

/// An error and its causes, `outer: inner: innermost`, without repeats (libraries often repeat
/// their source's text).
pub fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        let part = inner.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = inner.source();
    }
    text
}

/// The server's address: its base URL without a trailing slash, and whether it is `https://`.
///
/// # Errors
/// When the URL is neither `http://` nor `https://`, or has no host.
pub fn parse_server_url(url: &str) -> Result<(String, bool), LinkError> {
    let (rest, tls) = if let Some(rest) = url.strip_prefix("https://") {
        (rest, true)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (rest, false)
    } else {
        return Err(LinkError::Address(format!(
            "server_url must start with http:// or https:// (got {url:?})"
        )));
    };
    if rest.trim_end_matches('/').is_empty() {
        return Err(LinkError::Address(format!("no host in server_url {url:?}")));
    }
    Ok((url.trim_end_matches('/').to_owned(), tls))
}

/// A store-bus address: `mqtt://host[:port]` (1883 by default) or `mqtts://host[:port]` (MQTT
/// over TLS, 8883 by default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerUrl {
    /// Host name or IP address (checked against the broker's certificate over TLS).
    pub host: String,
    /// Port.
    pub port: u16,
    /// MQTT over TLS.
    pub tls: bool,
}

/// Parses a store-bus address (see [`BrokerUrl`]); a login in the URL is refused (devices log
/// in with their credential).
///
/// # Errors
/// When the scheme is not `mqtt://`, `tcp://` or `mqtts://`, the port is not a number, there is
/// no host, or the URL carries a login.
pub fn parse_broker_url(url: &str) -> Result<BrokerUrl, LinkError> {
    let (rest, tls) = retail_domain::wire::bus::broker_scheme(url).ok_or_else(|| {
        LinkError::Address(format!(
            "the broker address must start with mqtt:// or mqtts:// (got {url:?})"
        ))
    })?;
    let rest = rest.trim_end_matches('/');
    if rest.contains('@') {
        return Err(LinkError::Address(
            "put the credential in `credential`, not in the broker address".into(),
        ));
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) => (
            host.to_owned(),
            port.parse()
                .map_err(|_| LinkError::Address(format!("bad port in {url:?}")))?,
        ),
        None => (rest.to_owned(), if tls { 8883 } else { 1883 }),
    };
    if host.is_empty() {
        return Err(LinkError::Address(format!("no host in {url:?}")));
    }
    Ok(BrokerUrl { host, port, tls })
}

/// The host of a URL (`scheme://host[:port][/…]`), brackets of an IPv6 address removed.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

/// True when the URL's host is this machine (`localhost`, 127.0.0.0/8, `::1`).
pub fn is_loopback(url: &str) -> bool {
    let host = host_of(url);
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Logs a warning when `url` is plain (not TLS) and not this machine: the credential, sales
/// and member data then cross the network in clear. `what` names the setting.
pub fn warn_if_plain(what: &str, url: &str, tls: bool) {
    if !tls && !is_loopback(url) {
        tracing::warn!(
            setting = what,
            %url,
            "plain connection to another machine: the device credential and all data cross the \
             network unencrypted; use https:// and mqtts:// with ca_file outside a demo"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls() {
        let url = |u: &str| parse_broker_url(u).ok();
        assert_eq!(
            url("mqtt://127.0.0.1:1884"),
            Some(BrokerUrl {
                host: "127.0.0.1".into(),
                port: 1884,
                tls: false
            })
        );
        assert_eq!(url("mqtt://broker").map(|b| b.port), Some(1883));
        assert_eq!(
            url("mqtts://broker.store.local").map(|b| (b.port, b.tls)),
            Some((8883, true))
        );
        assert!(url("http://x").is_none());
        assert!(url("mqtt://u:p@x").is_none());
        assert!(url("mqtt://x:port").is_none());
        assert!(url("mqtts://").is_none());
    }

    #[test]
    fn server_urls_and_loopback() {
        assert_eq!(
            parse_server_url("https://retail.example.com/").ok(),
            Some(("https://retail.example.com".into(), true))
        );
        assert_eq!(
            parse_server_url("http://127.0.0.1:8080").ok(),
            Some(("http://127.0.0.1:8080".into(), false))
        );
        assert!(parse_server_url("ftp://x").is_err());
        assert!(parse_server_url("https://").is_err());
        assert!(is_loopback("http://127.0.0.1:8080"));
        assert!(is_loopback("http://localhost/api"));
        assert!(is_loopback("mqtt://[::1]:1883"));
        assert!(!is_loopback("http://192.168.1.10:8080"));
        assert!(!is_loopback("mqtt://broker.store.local"));
    }

    #[test]
    fn a_pinned_ca_needs_tls_addresses_and_a_readable_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let missing = dir.path().join("missing-ca.pem");
        let err = ServerTrust::load(Some(&missing))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("missing-ca.pem"), "{err}");
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "no certificate here").unwrap_or_else(|e| panic!("{e}"));
        let err = ServerTrust::load(Some(&garbage))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("garbage.pem") && err.contains("no certificate"),
            "{err}"
        );
        let system = ServerTrust::load(None).unwrap_or_else(|e| panic!("{e}"));
        assert!(system.require_tls("server_url", "http://x", false).is_ok());
    }
}
