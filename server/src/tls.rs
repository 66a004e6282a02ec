//! TLS at the server (issue 15, finding 7), rustls on the `ring` provider.
//!
//! With `[tls]` configured ([`TlsSettings`]: the certificate chain and its private key, PEM
//! files) the HTTP listener serves HTTPS only ([`TlsListener`], handed to `axum::serve`) and
//! the embedded broker's device listener MQTT over TLS only (the gateway accepts through
//! [`acceptor`]). A certificate or key that cannot be read, or a key that is not the
//! certificate's, stops the start with an error naming the file.
//!
//! Also the client side of the server's own connection to an external broker over `mqtts://`
//! ([`client_config`]: the CA in `mqtt.ca_file` only, or the operating system's roots).

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::config::TlsSettings;

/// Longest a client may take over its TLS handshake before the connection is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The crypto provider of every TLS configuration here: *ring* (aws-lc-rs, rustls's default,
/// needs cmake and a C toolchain to build). rustls 0.23.48 deprecates it only because *ring* has
/// no post-quantum key exchange; classical X25519/P-256 remain.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificates in a PEM file, in file order (a chain: the server's own first).
///
/// # Errors
/// When the file cannot be read or holds no certificate; the message names the file.
pub fn load_certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("cannot read the certificates in {}", path.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "{} holds no certificate (PEM \"BEGIN CERTIFICATE\")",
        path.display()
    );
    Ok(certs)
}

/// The private key in a PEM file (PKCS#8, PKCS#1 or SEC1).
///
/// # Errors
/// When the file cannot be read or holds no key; the message names the file.
pub fn load_private_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| {
            format!(
                "cannot read a private key (PEM: PKCS#8, PKCS#1 or SEC1) in {}",
                path.display()
            )
        })
}

/// The server side of TLS from `[tls]`, offering the given ALPN protocols.
///
/// # Errors
/// When a file cannot be read, or the key is not the certificate's.
pub fn server_config(
    settings: &TlsSettings,
    alpn: &[&[u8]],
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let certs = load_certificates(Path::new(&settings.cert_file)).context("tls.cert_file")?;
    let key = load_private_key(Path::new(&settings.key_file)).context("tls.key_file")?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .with_context(|| {
            format!(
                "tls: the key in {} does not go with the certificate in {}",
                settings.key_file, settings.cert_file
            )
        })?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// The acceptor for the HTTP listener (HTTP/1.1) and the one for the MQTT listener, both from
/// `[tls]`; `None` when TLS is off.
///
/// # Errors
/// As [`server_config`].
pub fn acceptor(settings: &TlsSettings, alpn: &[&[u8]]) -> anyhow::Result<Option<TlsAcceptor>> {
    if !settings.enabled() {
        return Ok(None);
    }
    Ok(Some(TlsAcceptor::from(server_config(settings, alpn)?)))
}

/// ALPN of the HTTP listener (the server speaks HTTP/1.1).
pub const HTTP_ALPN: &[&[u8]] = &[b"http/1.1"];

/// ALPN of the MQTT listener: none (MQTT clients rarely offer one; any offer is then ignored).
pub const MQTT_ALPN: &[&[u8]] = &[];

/// The client side of TLS for the server's own connection to an external broker: only the CA
/// in `ca_file` is trusted when given, else the operating system's roots.
///
/// # Errors
/// When the CA file cannot be read, or no root can be loaded.
pub fn client_config(ca_file: &str) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    if ca_file.is_empty() {
        let found = rustls_native_certs::load_native_certs();
        for cert in found.certs {
            let _ = roots.add(cert);
        }
    } else {
        for cert in load_certificates(Path::new(ca_file)).context("mqtt.ca_file")? {
            roots
                .add(cert)
                .with_context(|| format!("mqtt.ca_file {ca_file}: not a CA certificate"))?;
        }
    }
    anyhow::ensure!(
        !roots.is_empty(),
        "no trusted root for MQTT over TLS: set mqtt.ca_file"
    );
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A new chain CA and a server certificate it issued, as PEM text (`retail-server tls init`, and
/// the test kit's certificates).
#[derive(Clone, Debug)]
pub struct GeneratedChain {
    /// The CA's certificate: what lanes and edge agents pin (`ca_file`).
    pub ca_cert_pem: String,
    /// The CA's private key (keep it offline; it issues the next server certificate).
    pub ca_key_pem: String,
    /// The server's certificate (`tls.cert_file`).
    pub server_cert_pem: String,
    /// The server's private key (`tls.key_file`).
    pub server_key_pem: String,
}

/// How long a generated CA is valid.
pub const GENERATED_CA_DAYS: i64 = 10 * 365;
/// How long a generated server certificate is valid.
pub const GENERATED_SERVER_DAYS: i64 = 825;

/// Generates a chain CA named `ca_name` (ECDSA P-256, valid [`GENERATED_CA_DAYS`], issuing
/// server certificates only: path length 0) and a server certificate for `hosts` (DNS names
/// or IP addresses, the first also its common name; valid [`GENERATED_SERVER_DAYS`]).
///
/// # Errors
/// When `hosts` is empty or holds a name that is not a DNS name or an IP address.
pub fn generate_chain(ca_name: &str, hosts: &[String]) -> anyhow::Result<GeneratedChain> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let first = hosts
        .first()
        .context("a server certificate needs at least one host name or address")?;
    let day = |offset: i64| {
        let at = chrono::Utc::now() + chrono::Duration::days(offset);
        let date = at.date_naive();
        use chrono::Datelike as _;
        rcgen::date_time_ymd(
            date.year(),
            u8::try_from(date.month()).unwrap_or(1),
            u8::try_from(date.day()).unwrap_or(1),
        )
    };
    let ca_key = KeyPair::generate().context("generating the CA key")?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).context("CA parameters")?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name.push(DnType::CommonName, ca_name);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.not_before = day(-1);
    ca.not_after = day(GENERATED_CA_DAYS);
    let ca_cert = ca.self_signed(&ca_key).context("signing the CA")?;
    let server_key = KeyPair::generate().context("generating the server key")?;
    let mut server = CertificateParams::new(hosts.to_vec())
        .with_context(|| format!("server certificate names {hosts:?}"))?;
    server
        .distinguished_name
        .push(DnType::CommonName, first.as_str());
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.use_authority_key_identifier_extension = true;
    server.not_before = day(-1);
    server.not_after = day(GENERATED_SERVER_DAYS);
    let issuer = Issuer::from_params(&ca, &ca_key);
    let server_cert = server
        .signed_by(&server_key, &issuer)
        .context("signing the server certificate")?;
    Ok(GeneratedChain {
        ca_cert_pem: ca_cert.pem(),
        ca_key_pem: ca_key.serialize_pem(),
        server_cert_pem: server_cert.pem(),
        server_key_pem: server_key.serialize_pem(),
    })
}

/// The HTTPS listener for `axum::serve`: connections are accepted here and each TLS handshake
/// runs on a task of its own (within [`HANDSHAKE_TIMEOUT`]), so a slow or silent client holds
/// up nobody; finished streams are handed to axum with the peer's address. A failed handshake
/// (a plain-HTTP client, a client that does not trust the certificate) only closes that
/// connection. Dropping the listener (axum does at shutdown) stops accepting.
pub struct TlsListener {
    incoming: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Starts accepting on `listener` with `acceptor`.
    ///
    /// # Errors
    /// When the listener has no local address.
    pub fn new(listener: TcpListener, acceptor: TlsAcceptor) -> io::Result<Self> {
        let local = listener.local_addr()?;
        let (ready, incoming) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (socket, peer) = tokio::select! {
                    () = ready.closed() => break,
                    accepted = listener.accept() => match accepted {
                        Ok(pair) => pair,
                        Err(err) => {
                            tracing::warn!(error = %err, "HTTPS accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                let _ = socket.set_nodelay(true);
                let acceptor = acceptor.clone();
                let ready = ready.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(socket)).await {
                        Ok(Ok(stream)) => {
                            let _ = ready.send((stream, peer)).await;
                        }
                        Ok(Err(err)) => {
                            tracing::debug!(%peer, error = %err, "TLS handshake failed");
                        }
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Self { incoming, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.incoming.recv().await {
            Some(pair) => pair,
            // The accepting task ended (it never does while the listener lives).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_chain_serves_and_verifies() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let chain = generate_chain("Test CA", &["localhost".into(), "127.0.0.1".into()])
            .unwrap_or_else(|e| panic!("{e:#}"));
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
            path.display().to_string()
        };
        let settings = TlsSettings {
            cert_file: write("server.pem", &chain.server_cert_pem),
            key_file: write("server.key", &chain.server_key_pem),
        };
        assert!(server_config(&settings, HTTP_ALPN).is_ok());
        assert!(client_config(&write("ca.pem", &chain.ca_cert_pem)).is_ok());
        // Another chain's key does not go with this certificate: named as such.
        let other =
            generate_chain("Other CA", &["localhost".into()]).unwrap_or_else(|e| panic!("{e:#}"));
        let mismatched = TlsSettings {
            cert_file: settings.cert_file.clone(),
            key_file: write("other.key", &other.server_key_pem),
        };
        let err = server_config(&mismatched, HTTP_ALPN)
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(
            err.contains("does not go with") && err.contains("other.key"),
            "{err}"
        );
        assert!(generate_chain("CA", &[]).is_err());
    }

    #[test]
    fn missing_and_wrong_files_are_named() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let missing = TlsSettings {
            cert_file: dir.path().join("none.pem").display().to_string(),
            key_file: dir.path().join("none.key").display().to_string(),
        };
        let err = server_config(&missing, HTTP_ALPN)
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(
            err.contains("tls.cert_file") && err.contains("none.pem"),
            "{err}"
        );
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not a certificate").unwrap_or_else(|e| panic!("{e}"));
        let err = load_certificates(&garbage)
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(err.contains("garbage.pem"), "{err}");
        let err = load_private_key(&garbage)
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(err.contains("garbage.pem"), "{err}");
    }
}
