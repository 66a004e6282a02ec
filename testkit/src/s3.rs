//! A private S3-compatible server for the image store's bucket adapter: Moto's server mode
//! (`moto_server`, from PyPI: `pip install 'moto[server]'`, which `.ci/run` installs) on a port
//! of its own on 127.0.0.1, in memory, killed when dropped. It checks the request signatures'
//! form and keeps objects as S3 does.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use retail_server::config::S3Settings;

/// The `moto_server` binary: `MOTO_SERVER_BIN`, else the first `moto_server` on `PATH` or in
/// the Python scripts folders pip installs to.
pub fn binary() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("MOTO_SERVER_BIN") {
        return Some(PathBuf::from(path)).filter(|p| p.exists());
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".local/bin"));
    }
    dirs.into_iter()
        .map(|d| d.join("moto_server"))
        .find(|p| p.exists())
}

/// [`binary`] for a test: `None`, with a loud notice, when Moto is not installed outside CI.
///
/// # Panics
/// Under `CI=true` when Moto is not installed.
pub fn binary_or_skip() -> Option<PathBuf> {
    let found = binary();
    if found.is_none() {
        crate::skip_unless_ci(
            "S3 test: moto_server is not installed (python3 -m pip install 'moto[server]', or set MOTO_SERVER_BIN)",
        );
    }
    found
}

/// A running Moto server. Dropping it kills the process.
pub struct S3Server {
    /// Its base URL (`http://127.0.0.1:PORT`).
    pub endpoint: String,
    child: tokio::process::Child,
}

impl S3Server {
    /// Starts Moto on a free port and waits until it answers (`None` when it is not installed,
    /// outside CI).
    pub async fn start() -> anyhow::Result<Option<S3Server>> {
        let Some(binary) = binary_or_skip() else {
            return Ok(None);
        };
        let port = crate::free_port()?;
        let child = tokio::process::Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let probe = format!("{endpoint}/moto-api/");
        crate::eventually("moto_server answering", Duration::from_secs(60), || {
            let client = client.clone();
            let probe = probe.clone();
            async move { client.get(&probe).send().await.ok().map(|_| ()) }
        })
        .await?;
        Ok(Some(S3Server { endpoint, child }))
    }

    /// Settings for a bucket named `bucket` on this server (any credentials are accepted).
    pub fn settings(&self, bucket: &str) -> S3Settings {
        S3Settings {
            endpoint: self.endpoint.clone(),
            bucket: bucket.into(),
            region: "us-east-1".into(),
            access_key_id: "testing".into(),
            secret_access_key: "testing".into(),
            path_style: true,
        }
    }

    /// The process id (diagnostics).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}
