//! `pos-terminal` binary: configuration from the environment, then [`pos_terminal::run`].

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().try_init().ok();
    let config = pos_terminal::Config::from_env()?;
    pos_terminal::run(config, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
