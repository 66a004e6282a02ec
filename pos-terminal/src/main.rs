//! `pos-terminal` binary: `pos-terminal --config lane.toml [--simulate] [--headless]`, then
//! [`pos_terminal::run`] until Ctrl-C or SIGTERM.

use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .try_init()
        .ok();
    let mut config_path = None;
    let (mut simulate, mut headless) = (false, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" => config_path = args.next(),
            "--simulate" => simulate = true,
            "--headless" => headless = true,
            "-h" | "--help" => {
                println!("usage: pos-terminal --config lane.toml [--simulate] [--headless]");
                return Ok(());
            }
            other => anyhow::bail!("unknown argument {other:?} (see --help)"),
        }
    }
    let path = config_path.context("--config lane.toml is required (see --help)")?;
    let mut config = pos_terminal::Config::load(std::path::Path::new(&path))?;
    config.simulate = simulate;
    config.headless = headless;
    pos_terminal::run(config, async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            match signal(SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = term.recv() => {}
                    }
                }
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    })
    .await
}
