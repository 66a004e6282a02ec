//! A private Mosquitto: its own process (`MOSQUITTO_BIN`, else `/usr/sbin/mosquitto`) on its own
//! port on 127.0.0.1, configured in a folder of the test's — anonymous, or checking logins and
//! topics with the password and ACL files the server generates, optionally with a second
//! listener speaking MQTT over TLS ([`Mosquitto::with_tls`]) — so a test can stop it, kill it
//! and start it again without touching the machine's shared broker.
//!
//! Its process id is kept in `mosquitto.pid` in that folder (for a server configured to send it
//! `SIGHUP`), its log in `mosquitto.log`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use retail_server::bus::mosquitto::MosquittoFiles;

/// The Mosquitto binary: `MOSQUITTO_BIN`, else `/usr/sbin/mosquitto`, if it exists.
pub fn binary() -> Option<PathBuf> {
    let path = PathBuf::from(
        std::env::var("MOSQUITTO_BIN").unwrap_or_else(|_| "/usr/sbin/mosquitto".into()),
    );
    path.exists().then_some(path)
}

/// [`binary`] for a test: `None`, with a loud notice, when Mosquitto is not installed outside
/// CI.
///
/// # Panics
/// Under `CI=true` when Mosquitto is not installed.
pub fn binary_or_skip() -> Option<PathBuf> {
    let found = binary();
    if found.is_none() {
        crate::skip_unless_ci(
            "broker test: Mosquitto is not installed (apt-get install mosquitto, or set MOSQUITTO_BIN)",
        );
    }
    found
}

/// A private Mosquitto, running or stopped. Dropping it kills the process.
pub struct Mosquitto {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its MQTT-over-TLS port on 127.0.0.1, if it has one.
    pub tls_port: Option<u16>,
    binary: PathBuf,
    conf: PathBuf,
    log: PathBuf,
    pid_file: PathBuf,
    child: Option<tokio::process::Child>,
    owned_dir: Option<tempfile::TempDir>,
}

impl Mosquitto {
    /// A broker letting anyone in on `port`, configured in `dir`; with `persistent` it keeps
    /// its sessions in `dir` across a [`Mosquitto::stop`]. Not started yet.
    pub fn anonymous(
        binary: &Path,
        dir: &Path,
        port: u16,
        persistent: bool,
    ) -> anyhow::Result<Mosquitto> {
        let persistence = if persistent {
            format!(
                "persistence true\npersistence_location {}/\n",
                dir.display()
            )
        } else {
            "persistence false\n".to_owned()
        };
        Self::configure(
            binary,
            dir,
            port,
            &format!("allow_anonymous true\n{persistence}"),
        )
    }

    /// A broker on `port` checking logins and topics with the `passwords` and `acl` files in
    /// `dir` (as `retail-server mosquitto-files` writes them), without persistence: a restart
    /// forgets every session. Not started yet.
    pub fn with_logins(binary: &Path, dir: &Path, port: u16) -> anyhow::Result<Mosquitto> {
        Self::configure(
            binary,
            dir,
            port,
            &format!(
                "allow_anonymous false\npassword_file {}\nacl_file {}\npersistence false\n",
                dir.join("passwords").display(),
                dir.join("acl").display()
            ),
        )
    }

    /// Writes `files` (from [`crate::TestServer::mosquitto_files`]) into `dir` and starts a
    /// broker [`Mosquitto::with_logins`] on them.
    pub async fn serve_files(
        binary: &Path,
        dir: &Path,
        files: &MosquittoFiles,
        port: u16,
    ) -> anyhow::Result<Mosquitto> {
        retail_server::bus::mosquitto::write(files, dir)
            .with_context(|| format!("writing the Mosquitto files into {}", dir.display()))?;
        let mut broker = Self::with_logins(binary, dir, port)?;
        broker.start().await?;
        Ok(broker)
    }

    /// Adds a listener on `tls_port` (127.0.0.1) speaking MQTT over TLS with `certs`' server
    /// certificate — the devices' listener of a production setup (see the README, "Store bus"):
    /// `cafile`, `certfile` and `keyfile` in Mosquitto's configuration. Logins and topics are
    /// checked there as on the plain listener. Not started yet.
    pub fn with_tls(
        mut self,
        tls_port: u16,
        certs: &crate::tls::CaFiles,
    ) -> anyhow::Result<Mosquitto> {
        let mut conf = std::fs::read_to_string(&self.conf)
            .with_context(|| format!("reading {}", self.conf.display()))?;
        conf.push_str(&format!(
            "listener {tls_port} 127.0.0.1
cafile {}
certfile {}
keyfile {}
",
            certs.ca_file.display(),
            certs.cert_file.display(),
            certs.key_file.display()
        ));
        std::fs::write(&self.conf, conf)
            .with_context(|| format!("writing {}", self.conf.display()))?;
        self.tls_port = Some(tls_port);
        Ok(self)
    }

    /// `mqtts://127.0.0.1:tls_port`, the TLS listener's address.
    ///
    /// # Panics
    /// When the broker has no TLS listener.
    pub fn tls_url(&self) -> String {
        format!(
            "mqtts://127.0.0.1:{}",
            self.tls_port.expect("a TLS listener (Mosquitto::with_tls)")
        )
    }

    /// Keeps `dir` (the broker's folder) until the broker is dropped.
    pub fn owning(mut self, dir: tempfile::TempDir) -> Mosquitto {
        self.owned_dir = Some(dir);
        self
    }

    fn configure(binary: &Path, dir: &Path, port: u16, access: &str) -> anyhow::Result<Mosquitto> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        // Started as root, Mosquitto would switch to its own user, which cannot read the 0600
        // password file: run it as whoever we are.
        let me = std::process::Command::new("id")
            .arg("-un")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!("user {me}\nlistener {port} 127.0.0.1\n{access}log_dest stderr\n"),
        )
        .with_context(|| format!("writing {}", conf.display()))?;
        Ok(Mosquitto {
            port,
            tls_port: None,
            binary: binary.to_path_buf(),
            conf,
            log: dir.join("mosquitto.log"),
            pid_file: dir.join("mosquitto.pid"),
            child: None,
            owned_dir: None,
        })
    }

    /// `mqtt://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// The file holding the running broker's process id.
    pub fn pid_file(&self) -> &Path {
        &self.pid_file
    }

    /// Starts the broker (again, killing a running one first) and waits until it accepts
    /// connections.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        self.kill().await;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let child = tokio::process::Command::new(&self.binary)
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        if let Some(pid) = child.id() {
            std::fs::write(&self.pid_file, pid.to_string())
                .with_context(|| format!("writing {}", self.pid_file.display()))?;
        }
        self.child = Some(child);
        for port in std::iter::once(self.port).chain(self.tls_port) {
            crate::eventually(
                "mosquitto accepts connections",
                Duration::from_secs(20),
                || async move {
                    tokio::net::TcpStream::connect(("127.0.0.1", port))
                        .await
                        .ok()
                        .map(|_| ())
                },
            )
            .await
            .with_context(|| format!("see {}", self.log.display()))?;
        }
        Ok(())
    }

    /// Stops the broker as an operator would (`SIGTERM`: a persistent broker saves its
    /// sessions) and waits for it to exit (killing it after 10 s).
    pub async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Some(pid) = child.id() {
            let _ = tokio::process::Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status()
                .await;
        }
        if tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .is_err()
        {
            let _ = child.kill().await;
        }
    }

    /// Kills the broker (as a crash would: no goodbye to the clients) and waits for it to exit.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.start_kill();
        }
    }
}
