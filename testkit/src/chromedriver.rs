//! Chromium and its WebDriver for the browser tests (the shop and console pages, the lane's
//! customer screen): whether they are installed (`.ci/run` installs Debian's `chromium` and
//! `chromium-driver`), and a chromedriver on a free port, killed when dropped.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Debian's Chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's chromedriver.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Whether Chromium and chromedriver are installed; when not, the test is skipped loudly
/// ([`crate::skip_unless_ci`]: under `CI=true` it fails instead).
pub fn browser_available() -> bool {
    let ok = std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists();
    if !ok {
        crate::skip_unless_ci(&format!(
            "browser test: {CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver; .ci/run installs them)"
        ));
    }
    ok
}

/// A chromedriver process, killed on drop.
pub struct Chromedriver {
    child: Child,
    /// Its WebDriver URL, `http://127.0.0.1:<port>`.
    pub url: String,
}

impl Chromedriver {
    /// Starts chromedriver on a free port and waits (up to 10 s) until it listens.
    ///
    /// # Panics
    /// When no port is free or chromedriver cannot be started.
    pub async fn start() -> Chromedriver {
        let port = crate::free_port().expect("a free port");
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Chromedriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
