//! `edge-agent` binary.
//!
//! * `edge-agent` — configuration from the environment, then [`edge_agent::run`] until Ctrl-C.
//! * `edge-agent check <firmware-config folder>` — validates every device profile and store
//!   inventory in the folder, prints an OK / ERROR line per file (errors indented under their
//!   file) and exits with status 1 when any file has errors.

use std::path::Path;
use std::process::ExitCode;

const USAGE: &str = "usage:
  edge-agent                  start the edge agent (EDGE_SERVER_URL, EDGE_CREDENTIAL)
  edge-agent check <folder>   validate a firmware-config folder (profiles/ and stores/)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("check") => match &args[1..] {
            [folder] => check(Path::new(folder)),
            _ => {
                eprintln!("{USAGE}");
                ExitCode::from(2)
            }
        },
        Some("help" | "-h" | "--help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => match start() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("Error: {e:?}");
                ExitCode::FAILURE
            }
        },
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

/// The default path: start the agent and run until Ctrl-C.
#[tokio::main]
async fn start() -> anyhow::Result<()> {
    tracing_subscriber::fmt().try_init().ok();
    let config = edge_agent::Config::from_env()?;
    edge_agent::run(config, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
