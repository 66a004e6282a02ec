//! `edge-agent` binary: configuration from the environment, then [`edge_agent::run`].

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().try_init().ok();
    let config = edge_agent::Config::from_env()?;
    edge_agent::run(config, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
