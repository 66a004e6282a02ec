//! The server's administrative commands, run by whoever operates the server (they need the
//! configuration, hence the database, not a log-in):
//!
//! * `retail-server backup <file>` — a consistent copy of the database while the server runs
//!   (SQLite `VACUUM INTO`, PostgreSQL `pg_dump`);
//! * `retail-server restore <file>` — into the configured database, which must be empty; the
//!   result is checked (migrations, the stock ledger check) before it is reported;
//! * `retail-server admin create --username <name> --display-name <name> [--role <role>]
//!   [--store <location>]` — creates an account (by default the first head-office
//!   administrator of a production database);
//! * `retail-server admin reset-password --username <name>` — sets a new password for an
//!   account (a locked-out administrator);
//! * `retail-server export --day YYYY-MM-DD` — exports one China day to the big-data platform's
//!   folder or bucket (`[export]`, [`crate::app::export`]), logged as a run like the console's;
//! * `retail-server tls init <dir> [--host <name or address>]…` — a new chain CA and a server
//!   certificate it issued, for a chain with no certificates of its own ([`tls_init`]).
//!
//! The password is read from `RETAIL_ADMIN_PASSWORD` when set, otherwise from the first line of
//! standard input; it must pass the chain's password rules
//! ([`crate::app::staff_admin::check_password`]). Each change is in the audit log as done by
//! `operator:command-line`.

use anyhow::Context;

use crate::actor::Role;
use crate::app::staff_admin::{self, Administrator, NewStaffRequest};
use crate::config::Settings;
use crate::storage::{self, Store};

/// Usage of `tls init`.
pub const TLS_USAGE: &str = "\
  retail-server tls init <dir> [--host <name or address>]...
      (a chain CA and a server certificate for the hosts; default: localhost and 127.0.0.1)";

/// `retail-server tls init <dir> [--host NAME]…`: writes a new chain CA (`ca.pem`, and its key
/// `ca.key`) and a server certificate it issued for the hosts (`server.pem`, `server.key`;
/// default hosts `localhost` and `127.0.0.1`) into `dir`, the keys readable by the owner only.
/// Refuses to overwrite any of them. Returns what to print: the settings that use them.
///
/// # Errors
/// When a file exists already, a host is neither a DNS name nor an IP address, or writing
/// fails.
pub fn tls_init(dir: &std::path::Path, args: &[String]) -> anyhow::Result<String> {
    let mut hosts = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match (arg.as_str(), rest.next()) {
            ("--host", Some(host)) => hosts.push(host.clone()),
            _ => anyhow::bail!("unexpected argument {arg:?}\nusage:\n{TLS_USAGE}"),
        }
    }
    if hosts.is_empty() {
        hosts = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    }
    let files = ["ca.pem", "ca.key", "server.pem", "server.key"].map(|name| dir.join(name));
    if let Some(existing) = files.iter().find(|f| f.exists()) {
        anyhow::bail!(
            "{} exists already: tls init never overwrites certificates or keys",
            existing.display()
        );
    }
    let chain = crate::tls::generate_chain("Retail chain CA", &hosts)?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let [ca, ca_key, server, server_key] = files;
    std::fs::write(&ca, &chain.ca_cert_pem).with_context(|| format!("writing {}", ca.display()))?;
    crate::bus::mosquitto::write_private(&ca_key, chain.ca_key_pem.as_bytes())?;
    std::fs::write(&server, &chain.server_cert_pem)
        .with_context(|| format!("writing {}", server.display()))?;
    crate::bus::mosquitto::write_private(&server_key, chain.server_key_pem.as_bytes())?;
    Ok(format!(
        "chain CA:           {ca} (give it to every lane and edge agent as ca_file)\n\
         chain CA key:       {ca_key} (keep it offline: it issues the next server certificate)\n\
         server certificate: {server} for {hosts} (valid {days} days)\n\
         server key:         {server_key}\n\
         serve with:         RETAIL_TLS__CERT_FILE={server} RETAIL_TLS__KEY_FILE={server_key}",
        ca = ca.display(),
        ca_key = ca_key.display(),
        server = server.display(),
        server_key = server_key.display(),
        hosts = hosts.join(", "),
        days = crate::tls::GENERATED_SERVER_DAYS,
    ))
}

/// Usage of the `admin` commands.
pub const ADMIN_USAGE: &str = "\
  retail-server admin create --username <name> --display-name <name> [--role head_office_admin|store_manager|cashier|merchant_admin] [--store <location>] [--merchant <code>]
  retail-server admin reset-password --username <name>
      (the password comes from RETAIL_ADMIN_PASSWORD or the first line of standard input)";

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

/// Runs `retail-server admin <args>` against the configured database; `read_password` supplies
/// the password. Returns what to print.
pub async fn admin(
    settings: &Settings,
    args: &[String],
    read_password: impl FnOnce() -> anyhow::Result<String>,
) -> anyhow::Result<String> {
    let store = Store::connect(&settings.database_url).await?;
    let result = admin_on(&store, args, read_password).await;
    store.close().await;
    result
}

async fn admin_on(
    store: &Store,
    args: &[String],
    read_password: impl FnOnce() -> anyhow::Result<String>,
) -> anyhow::Result<String> {
    let username = flag(args, "--username").context("--username is required")?;
    match args.first().map(String::as_str) {
        Some("create") => {
            let display_name = flag(args, "--display-name").unwrap_or(username);
            let role: Role = flag(args, "--role")
                .unwrap_or("head_office_admin")
                .parse()
                .map_err(|e: String| anyhow::anyhow!(e))?;
            let password = read_password()?;
            let created = staff_admin::create(
                store,
                Administrator::Operator,
                &NewStaffRequest {
                    id: retail_domain::ids::new_id(),
                    username: username.to_owned(),
                    display_name: display_name.to_owned(),
                    role,
                    location_id: flag(args, "--store").map(str::to_owned),
                    merchant_id: flag(args, "--merchant").map(str::to_owned),
                    password,
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            Ok(format!(
                "created {} ({}) with id {}",
                created.actor.username,
                created.actor.role.as_str(),
                created.actor.id
            ))
        }
        Some("reset-password") => {
            let account = storage::staff::by_username(store, &username.trim().to_lowercase())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .with_context(|| format!("no account {username}"))?;
            let password = read_password()?;
            staff_admin::reset_password(
                store,
                Administrator::Operator,
                account.actor.id,
                &password,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            Ok(format!(
                "new password set for {}; its sessions were ended",
                account.actor.username
            ))
        }
        _ => anyhow::bail!("unknown admin command\n{ADMIN_USAGE}"),
    }
}

/// Runs `retail-server backup <file>`: returns what to print.
pub async fn backup(settings: &Settings, file: &std::path::Path) -> anyhow::Result<String> {
    let store = Store::connect(&settings.database_url).await?;
    let result = storage::backup::backup(&store, file).await;
    store.close().await;
    result?;
    Ok(format!(
        "backup written to {}; keep the keys (data/secrets.toml or RETAIL_SECRETS__*) with it",
        file.display()
    ))
}

/// Runs `retail-server restore <file>`: returns what to print, or fails when the restored
/// database does not pass its check.
pub async fn restore(settings: &Settings, file: &std::path::Path) -> anyhow::Result<String> {
    let report = storage::backup::restore(&settings.database_url, file).await?;
    anyhow::ensure!(
        report.ledger_mismatches == 0,
        "restored, but {} stock snapshots differ from their ledger: do not serve from it",
        report.ledger_mismatches
    );
    Ok(format!(
        "restored {} orders, {} members, {} stock movements; the stock ledger check passed",
        report.orders, report.members, report.movements
    ))
}

/// The export command's usage.
pub const EXPORT_USAGE: &str = "\
  retail-server export --day YYYY-MM-DD
      (one China day to the [export] folder or bucket, whatever export.enabled says)";

/// `retail-server export --day YYYY-MM-DD`: exports that day and says what was written.
pub async fn export(settings: &Settings, args: &[String]) -> anyhow::Result<String> {
    let day = match args {
        [flag, day] if flag == "--day" => crate::app::export::parse_day(day).map_err(|_| {
            anyhow::anyhow!("--day must be a date, YYYY-MM-DD\nusage:\n{EXPORT_USAGE}")
        })?,
        _ => anyhow::bail!("usage:\n{EXPORT_USAGE}"),
    };
    let store = Store::connect(&settings.database_url).await?;
    let result = async {
        let keys = crate::secrets::Keys::load(settings)?;
        let cx = crate::app::export::ExportContext {
            store: &store,
            settings,
            keys: &keys,
            http: reqwest::Client::new(),
        };
        let holder = format!("command-line-{}", std::process::id());
        let run = crate::app::export::export_day_leased(
            &cx,
            &holder,
            day,
            crate::app::export::Origin::Cli,
            "operator:command-line",
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        anyhow::ensure!(
            run.status == "succeeded",
            "the export of {} failed: {}",
            run.day,
            run.error.unwrap_or_default()
        );
        Ok(format!(
            "exported {}: {} rows, {} bytes to {} (manifest sha256 {})",
            run.day,
            run.rows,
            run.bytes,
            run.destination,
            run.manifest_sha256.unwrap_or_default()
        ))
    }
    .await;
    store.close().await;
    result
}

/// The password for an `admin` command: `RETAIL_ADMIN_PASSWORD`, or the first line of
/// standard input.
pub fn password_from_env_or_stdin() -> anyhow::Result<String> {
    if let Ok(password) = std::env::var("RETAIL_ADMIN_PASSWORD") {
        return Ok(password);
    }
    eprint!("password: ");
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_init_writes_a_chain_once_with_private_keys() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let out = tls_init(dir.path(), &["--host".into(), "retail.example.com".into()])
            .unwrap_or_else(|e| panic!("{e:#}"));
        assert!(out.contains("retail.example.com"), "{out}");
        let settings = crate::config::TlsSettings {
            cert_file: dir.path().join("server.pem").display().to_string(),
            key_file: dir.path().join("server.key").display().to_string(),
        };
        assert!(crate::tls::server_config(&settings, crate::tls::HTTP_ALPN).is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            for key in ["ca.key", "server.key"] {
                let mode = std::fs::metadata(dir.path().join(key))
                    .map(|m| m.permissions().mode() & 0o777)
                    .unwrap_or_default();
                assert_eq!(mode, 0o600, "{key}");
            }
        }
        let again = tls_init(dir.path(), &[]).err().map(|e| e.to_string());
        assert!(
            again
                .as_deref()
                .is_some_and(|e| e.contains("never overwrites")),
            "{again:?}"
        );
        assert!(tls_init(dir.path(), &["--bogus".into()]).is_err());
    }
}
