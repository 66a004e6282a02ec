//! `edge-agent` binary.
//!
//! * `edge-agent <config.toml>` — start the agent (see `edge_agent::config`) until Ctrl-C.
//! * `edge-agent --simulate [--store SH001] [--server URL] [--broker URL] [--ca-file PEM]
//!   [--user U] [--password P] [--data-dir DIR] [--firmware-config DIR]` — the store's agent
//!   with virtual devices (see `edge_agent::simulate`).
//! * `edge-agent check <firmware-config folder>` — validates every device profile and store
//!   inventory in the folder, prints an OK / ERROR line per file (errors indented under their
//!   file) and exits with status 1 when any file has errors.

use std::path::Path;
use std::process::ExitCode;

const USAGE: &str = "usage:
  edge-agent <config.toml>    start the edge agent
  edge-agent --simulate [--store SH001] [--server http://127.0.0.1:8080] [--broker mqtt://127.0.0.1:1884]
             [--ca-file chain-ca.pem (with https:// and mqtts://)] [--user mgr.sh001] [--password demo1234] [--data-dir edge-data] [--firmware-config firmware-config]
                              the store's agent with virtual devices (registers itself the first time)
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
        ["--simulate", rest @ ..] => match simulate_options(rest) {
            Ok(options) => match simulate(options) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("Error: {e:?}");
                    ExitCode::FAILURE
                }
            },
            Err(e) => {
                eprintln!("{e}\n{USAGE}");
                ExitCode::from(2)
            }
        },
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
    let scales_ok = check_label_scales(folder);
    if report.is_ok() && scales_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Validates the label-scale profiles (`label-scales/*.toml`, when the folder has them), one
/// line per file; true when all are valid.
fn check_label_scales(folder: &Path) -> bool {
    let dir = folder.join("label-scales");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return true;
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut ok = true;
    for path in files {
        let id = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        match retail_devices::label_scale::LabelScaleProfile::load(folder, &id) {
            Ok(p) => println!("OK    label-scales/{id}.toml — {} {}", p.vendor, p.model),
            Err(e) => {
                ok = false;
                println!("ERROR label-scales/{id}.toml\n      {e}");
            }
        }
    }
    ok
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

/// Parses the `--simulate` flags.
fn simulate_options(args: &[&str]) -> Result<edge_agent::simulate::SimulateOptions, String> {
    let mut options = edge_agent::simulate::SimulateOptions {
        server_url: "http://127.0.0.1:8080".into(),
        broker_url: "mqtt://127.0.0.1:1884".into(),
        ca_file: None,
        store: "SH001".into(),
        user: String::new(),
        password: "demo1234".into(),
        data_dir: "edge-data".into(),
        firmware_config: "firmware-config".into(),
    };
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?
            .to_string();
        match *flag {
            "--store" => options.store = value,
            "--server" => options.server_url = value,
            "--broker" => options.broker_url = value,
            "--ca-file" => options.ca_file = Some(value.into()),
            "--user" => options.user = value,
            "--password" => options.password = value,
            "--data-dir" => options.data_dir = value.into(),
            "--firmware-config" => options.firmware_config = value.into(),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if options.user.is_empty() {
        options.user = format!("mgr.{}", options.store.to_lowercase());
    }
    Ok(options)
}

/// Runs the simulation until Ctrl-C.
#[tokio::main]
async fn simulate(options: edge_agent::simulate::SimulateOptions) -> anyhow::Result<()> {
    tracing_subscriber::fmt().try_init().ok();
    edge_agent::simulate::simulate(options, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
