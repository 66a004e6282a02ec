//! `retail-server`: starts the central server from configuration (see `config.rs`).
//!
//! * `retail-server` — serve until Ctrl-C or SIGTERM.
//! * `retail-server mosquitto-files <dir>` — write a Mosquitto password file (`<dir>/passwords`)
//!   and ACL file (`<dir>/acl`) for the registered devices (see `bus::mosquitto`); the server's
//!   own login is taken from `MQTT_URL` (`mqtt://user:password@host`).
//! * `retail-server backup <file>` / `retail-server restore <file>` — see `cli.rs`.
//! * `retail-server admin create|reset-password …` — staff accounts from the command line
//!   (the first head-office administrator of a production database; see `cli.rs`).
//! * `retail-server tls init <dir> [--host NAME]…` — a chain CA and a server certificate for a
//!   chain that has none (see `cli.rs`).

use std::path::Path;

use anyhow::Context;
use retail_server::config::Settings;

#[global_allocator]
static ALLOCATOR: retail_server::Allocator = retail_server::Allocator;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Needs no configuration (it makes the certificates the configuration will name).
    if let [cmd, sub, dir, rest @ ..] = args.as_slice() {
        if cmd == "tls" && sub == "init" {
            println!("{}", retail_server::cli::tls_init(Path::new(dir), rest)?);
            return Ok(());
        }
    }
    let settings = Settings::load().context("loading configuration")?;
    retail_server::telemetry::init_logging(settings.log_json);
    match args.as_slice() {
        [] => retail_server::run(settings, retail_server::shutdown_signal()).await,
        [cmd, dir] if cmd == "mosquitto-files" => mosquitto_files(&settings, Path::new(dir)).await,
        [cmd, file] if cmd == "backup" => {
            println!(
                "{}",
                retail_server::cli::backup(&settings, Path::new(file)).await?
            );
            Ok(())
        }
        [cmd, file] if cmd == "restore" => {
            println!(
                "{}",
                retail_server::cli::restore(&settings, Path::new(file)).await?
            );
            Ok(())
        }
        [cmd, rest @ ..] if cmd == "export" => {
            println!("{}", retail_server::cli::export(&settings, rest).await?);
            Ok(())
        }
        [cmd, rest @ ..] if cmd == "admin" => {
            let message = retail_server::cli::admin(
                &settings,
                rest,
                retail_server::cli::password_from_env_or_stdin,
            )
            .await?;
            println!("{message}");
            Ok(())
        }
        _ => {
            eprintln!(
                "usage:\n  retail-server                         serve\n  retail-server mosquitto-files <dir>   write Mosquitto password and ACL files\n  retail-server backup <file>            a consistent copy of the database\n  retail-server restore <file>           into an empty database, then checked\n{}\n{}\n{}",
                retail_server::cli::ADMIN_USAGE,
                retail_server::cli::EXPORT_USAGE,
                retail_server::cli::TLS_USAGE
            );
            std::process::exit(2);
        }
    }
}

/// Writes the Mosquitto password and ACL files for the registered devices.
async fn mosquitto_files(settings: &Settings, dir: &Path) -> anyhow::Result<()> {
    let store = retail_server::storage::Store::connect(&settings.database_url).await?;
    let server = if settings.mqtt.url.is_empty() {
        None
    } else {
        Some(retail_server::bus::parse_mqtt_url(&settings.mqtt.url)?)
    };
    let login = server
        .as_ref()
        .and_then(|a| Some((a.username.as_deref()?, a.password.as_deref()?)));
    let files = retail_server::bus::mosquitto::generate(&store, login).await?;
    let (passwords, acl) = retail_server::bus::mosquitto::write(&files, dir)?;
    println!("password file: {}", passwords.display());
    println!("ACL file:      {}", acl.display());
    if login.is_none() {
        println!("note: no server login in MQTT_URL, so the files hold devices only");
    }
    for device in &files.skipped {
        println!("skipped {device}: registered before the store bus; register it again to get a broker login");
    }
    store.close().await;
    Ok(())
}
