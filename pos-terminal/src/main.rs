//! `pos-terminal` binary: `pos-terminal --config lane.toml [--simulate] [--headless]`, then
//! [`pos_terminal::run`] until Ctrl-C or SIGTERM.

use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
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
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    if headless {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(filter)
            .try_init()
            .ok();
    } else {
        // The screen owns the terminal: logs go to a file beside the lane database.
        std::fs::create_dir_all(&config.data_dir).ok();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(config.data_dir.join("lane.log"))
            .with_context(|| {
                format!("cannot open {}", config.data_dir.join("lane.log").display())
            })?;
        tracing_subscriber::fmt()
            .with_writer(std::sync::Mutex::new(log))
            .with_ansi(false)
            .with_env_filter(filter)
            .try_init()
            .ok();
    }
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
