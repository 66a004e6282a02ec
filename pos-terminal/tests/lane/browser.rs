//! A real headless Chromium driven over WebDriver (chromedriver on a free port), as the server's
//! browser tests do. Skipped, loudly, when Chromium or chromedriver is missing outside CI.

use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use retail_testkit::chromedriver::{Chromedriver, CHROMIUM};

/// A chromedriver process, killed on drop.
pub type Driver = Chromedriver;

/// Whether Chromium and chromedriver are installed (else the test says so).
pub fn available() -> bool {
    retail_testkit::chromedriver::browser_available()
}

/// Starts chromedriver on a free port.
pub async fn start_driver() -> Driver {
    Chromedriver::start().await
}

/// A desktop browser session (a second monitor).
pub async fn browser(driver: &Driver) -> Client {
    let options = json!({
        "binary": CHROMIUM,
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-extensions", "--window-size=1280,800", "--lang=zh-CN"],
    });
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert("goog:chromeOptions".into(), options);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("WebDriver session")
}

/// Waits (up to 15 s) until the element's text is `text`.
pub async fn wait_text(client: &Client, css: &str, text: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let now = match client.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if now == text {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{css} shows {now:?}, not {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
