//! `edge-agent` binary.
//!
//! * `edge-agent <config.toml>` — start the agent (see `edge_agent::config`) until Ctrl-C.
//! * `edge-agent check <firmware-config folder>` — validates every device profile and store
//!   inventory in the folder, prints an OK / ERROR line per file (errors indented under their
//!   file) and exits with status 1 when any file has errors.

use std::path::Path;
use std::process::ExitCode;

const USAGE: &str = "usage:
  edge-agent <config.toml>    start the edge agent
  edge-agent check <folder>   validate a firmware-config folder (profiles/ and stores/)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["check", folder] => check(Path::new(folder)),
        ["help" | "-h" | "--help"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        [config] => match start(Path::new(config)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("Error: {e:?}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Validates a firmware-config folder and prints the per-file report.
fn check(folder: &Path) -> ExitCode {
    let report = retail_domain::profiles::inspect_dir(folder);
    println!("{report}");
    if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Starts the agent and runs until Ctrl-C.
#[tokio::main]
async fn start(config: &Path) -> anyhow::Result<()> {
    tracing_subscriber::fmt().try_init().ok();
    let config = edge_agent::Config::load(config)?;
    edge_agent::run(config, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
