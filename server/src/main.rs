//! `retail-server`: starts the central server from configuration (see `config.rs`).

use anyhow::Context;
use retail_server::config::Settings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load().context("loading configuration")?;
    retail_server::telemetry::init_logging(settings.log_json);
    retail_server::run(settings, retail_server::shutdown_signal()).await
}
