//! Certificates for TLS tests (issue 15, finding 7), made the way `retail-server tls init`
//! makes them (`retail_server::tls::generate_chain`, rcgen): the **chain** CA with a server
//! certificate for `localhost` and `127.0.0.1`, and an unrelated **other** CA with a
//! certificate for the same names — the server a device pinning the chain's CA must refuse.
//!
//! [`TestPki::write_into`] writes them as PEM files, one folder per CA:
//!
//! ```text
//! <dir>/chain/ca.pem  ca.key  server.pem  server.key
//! <dir>/other/ca.pem  ca.key  server.pem  server.key
//! ```
//!
//! A kit server with TLS ([`serve_tls`], or [`TestPki::server_tls`] in its settings) finds the
//! CA to trust for its own HTTP client as `ca.pem` beside its certificate file.

use std::path::{Path, PathBuf};

use anyhow::Context;
use retail_devices::server_link::ServerTrust;
use retail_server::config::{Settings, TlsSettings};

/// One CA's files.
#[derive(Clone, Debug)]
pub struct CaFiles {
    /// The CA certificate (what a device pins: `ca_file`).
    pub ca_file: PathBuf,
    /// A server certificate it issued for `localhost` and `127.0.0.1`.
    pub cert_file: PathBuf,
    /// That certificate's private key.
    pub key_file: PathBuf,
}

impl CaFiles {
    fn at(dir: &Path) -> CaFiles {
        CaFiles {
            ca_file: dir.join("ca.pem"),
            cert_file: dir.join("server.pem"),
            key_file: dir.join("server.key"),
        }
    }

    fn write(dir: &Path, name: &str) -> anyhow::Result<CaFiles> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let chain = retail_server::tls::generate_chain(
            name,
            &["localhost".to_owned(), "127.0.0.1".to_owned()],
        )?;
        let files = CaFiles::at(dir);
        for (path, text) in [
            (&files.ca_file, &chain.ca_cert_pem),
            (&dir.join("ca.key"), &chain.ca_key_pem),
            (&files.cert_file, &chain.server_cert_pem),
            (&files.key_file, &chain.server_key_pem),
        ] {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(files)
    }

    /// The server's `[tls]` settings for this certificate.
    pub fn server_tls(&self) -> TlsSettings {
        TlsSettings {
            cert_file: self.cert_file.display().to_string(),
            key_file: self.key_file.display().to_string(),
        }
    }

    /// A device's trust pinned to this CA.
    ///
    /// # Panics
    /// When the CA file cannot be read.
    pub fn trust(&self) -> ServerTrust {
        ServerTrust::load(Some(&self.ca_file)).expect("the test CA loads")
    }
}

/// The chain CA and an unrelated one, with a server certificate each.
#[derive(Clone, Debug)]
pub struct TestPki {
    /// The folder holding both.
    pub dir: PathBuf,
    /// The chain's CA and the server certificate it issued.
    pub chain: CaFiles,
    /// An unrelated CA and a certificate it issued for the same names.
    pub other: CaFiles,
}

impl TestPki {
    /// Generates both CAs and their server certificates into `dir`.
    ///
    /// # Errors
    /// When generating or writing fails.
    pub fn write_into(dir: &Path) -> anyhow::Result<TestPki> {
        Ok(TestPki {
            dir: dir.to_path_buf(),
            chain: CaFiles::write(&dir.join("chain"), "Retail test chain CA")?,
            other: CaFiles::write(&dir.join("other"), "Unrelated test CA")?,
        })
    }

    /// The files [`TestPki::write_into`] wrote into `dir` before.
    pub fn at(dir: &Path) -> TestPki {
        TestPki {
            dir: dir.to_path_buf(),
            chain: CaFiles::at(&dir.join("chain")),
            other: CaFiles::at(&dir.join("other")),
        }
    }

    /// The server's `[tls]` with the chain CA's certificate.
    pub fn server_tls(&self) -> TlsSettings {
        self.chain.server_tls()
    }
}

/// The folder of a kit server's certificates (in its data folder).
pub fn pki_dir(settings: &Settings) -> PathBuf {
    settings.data_dir.join("tls")
}

/// A settings adjustment (e.g. for [`crate::both_backends!`]): fresh certificates in the
/// server's data folder ([`pki_dir`]), and the server on them — HTTPS, and the embedded broker
/// (when the bus is on) over TLS. The test reaches them with [`crate::TestServer::pki`].
///
/// # Panics
/// When the certificates cannot be generated or written.
pub fn serve_tls(settings: &mut Settings) {
    let pki = TestPki::write_into(&pki_dir(settings)).expect("test certificates");
    settings.tls = pki.server_tls();
}

/// The CA a kit server with TLS trusts for its own client: `ca.pem` beside its certificate.
pub(crate) fn own_ca(tls: &TlsSettings) -> Option<PathBuf> {
    Path::new(&tls.cert_file)
        .parent()
        .map(|dir| dir.join("ca.pem"))
        .filter(|ca| ca.exists())
}
