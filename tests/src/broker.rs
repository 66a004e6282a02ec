//! A private Mosquitto broker: its own process on its own port, configured with the password
//! and ACL files the server generates (`retail_server::bus::mosquitto`), so a scenario can kill
//! it and start it again mid-day without touching a shared broker.

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

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A running (or stopped) private Mosquitto.
pub struct Mosquitto {
    /// Its port on 127.0.0.1.
    pub port: u16,
    binary: PathBuf,
    conf: PathBuf,
    log: PathBuf,
    child: Option<tokio::process::Child>,
}

impl Mosquitto {
    /// Writes the files and a configuration into `dir` and starts the broker on `port`.
    pub async fn start(
        binary: &Path,
        dir: &Path,
        files: &MosquittoFiles,
        port: u16,
    ) -> anyhow::Result<Mosquitto> {
        let (passwords, acl) = retail_server::bus::mosquitto::write(files, dir)?;
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
            format!(
                "user {me}\nlistener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\nacl_file {}\npersistence false\nlog_dest stderr\n",
                passwords.display(),
                acl.display()
            ),
        )
        .with_context(|| format!("writing {}", conf.display()))?;
        let mut broker = Mosquitto {
            port,
            binary: binary.to_path_buf(),
            conf,
            log: dir.join("mosquitto.log"),
            child: None,
        };
        broker.restart().await?;
        Ok(broker)
    }

    /// Starts the broker (again) with the same configuration and waits until it accepts
    /// connections.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
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
        self.child = Some(child);
        crate::eventually(
            "mosquitto accepts connections",
            Duration::from_secs(20),
            || async {
                tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                    .await
                    .ok()
                    .map(|_| ())
            },
        )
        .await
    }

    /// Kills the broker (as a crash would: no goodbye to the clients) and waits for it to exit.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }
}
