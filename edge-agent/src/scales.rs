//! Keeps the store's label scales loaded (issue 21; docs/CONTRACTS.md, "Label scales").
//!
//! Every `scale_poll_secs` (default 20) the agent asks the server for the store's PLU list
//! (`GET /api/v1/devices/me/scale-plus` with `If-None-Match`: an unchanged list is a 304), keeps
//! the last one in its database (so it loads scales after a restart without the server), and
//! brings every configured scale ([`crate::config::LabelScale`], its model's profile in
//! `firmware-config/label-scales/`) to it with [`retail_devices::label_scale`]:
//!
//! * the agent **holds a TCP connection** to each scale between rounds and checks it every
//!   round: a scale switched off, restarted or cut off closes it, however briefly it was away;
//! * **changed PLUs only** over a connection that stayed open since the last complete load:
//!   the records whose bytes differ from what the agent loaded (a fingerprint per key, kept in
//!   its database);
//! * **the full list** (`!0IA`, then every record) over every new connection — the scale may
//!   have been off, restarted or replaced meanwhile, or the agent itself restarted: what it
//!   holds is unknown — after any failure (disconnected mid-download, a garbage answer, no
//!   answer), when a PLU was removed (the protocol has no single delete), and when its last full
//!   load is older than `scale_full_reload_hours` (default 24: a list changed at the scale's own
//!   keyboard is put right within a day);
//! * each round tries a scale up to 3 times (a fresh connection each, 0.5 s then 1 s apart).
//!
//! Each scale's state is a health entry `label-scale-<name>` in the agent's status on the bus:
//! `ok` with `PLU list <version> loaded (N PLUs)`, or `fault` with the last error and what the
//! scale holds. A change at head office reaches every scale within `scale_poll_secs` plus the
//! download (a full 4,000-PLU download to the virtual scale takes well under 10 s, BENCHMARKS.md).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use reqwest::StatusCode;
use retail_devices::label_scale::{
    encode_plu, LabelScaleClient, LabelScaleProfile, PluMode, PluRecord, ScaleError,
};
use retail_domain::wire::bus::ComponentHealth;
use retail_domain::wire::scales::ScalePluList;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::store::LocalStore;
use crate::{Config, ServerHttp};

/// Key of the last PLU list in the local database.
const LIST_KEY: &str = "scale_plu_list";
/// Tries per scale and round.
const TRIES: u32 = 3;

/// A configured scale with its model's profile.
#[derive(Clone, Debug)]
pub struct ScaleSetup {
    /// Its name (`scale-1`).
    pub name: String,
    /// `host:port`.
    pub addr: String,
    /// The model.
    pub profile: LabelScaleProfile,
}

/// The health entry name of a scale.
pub fn health_name(name: &str) -> String {
    format!("label-scale-{name}")
}

/// The configured scales with their profiles loaded.
///
/// # Errors
/// A missing or invalid profile.
pub fn setups(config: &Config) -> anyhow::Result<Vec<ScaleSetup>> {
    config
        .label_scales
        .iter()
        .map(|s| {
            let profile = LabelScaleProfile::load(&config.firmware_config, &s.model)
                .with_context(|| format!("label scale {}", s.name))?;
            let addr = if s.addr.contains(':') {
                s.addr.clone()
            } else {
                format!("{}:{}", s.addr, profile.port)
            };
            Ok(ScaleSetup {
                name: s.name.clone(),
                addr,
                profile,
            })
        })
        .collect()
}

/// What the agent knows a scale holds.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
struct Loaded {
    /// The version of the list last loaded completely.
    version: Option<String>,
    /// Fingerprint of each record loaded, by key.
    records: BTreeMap<u16, u64>,
    /// What it holds is unknown: load the full list next.
    needs_full: bool,
    /// When the last full load finished (Unix ms).
    last_full_ms: i64,
}

fn state_key(name: &str) -> String {
    format!("label_scale:{name}")
}

/// FNV-1a, 64 bits: a fingerprint of a record's bytes, stable across builds.
fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The records of a list for a scale of `profile` (names cut to what it prints), by key, with
/// their fingerprints; items that cannot be encoded are left out and named.
fn records(
    list: &ScalePluList,
    profile: &LabelScaleProfile,
) -> (BTreeMap<u16, (PluRecord, u64)>, Vec<String>) {
    let mut out = BTreeMap::new();
    let mut refused = Vec::new();
    for item in &list.items {
        let record = PluRecord {
            key: item.key,
            item_code: item.plu.parse().unwrap_or(u32::MAX),
            unit_price_fen: u32::try_from(item.unit_price.fen()).unwrap_or(u32::MAX),
            mode: if item.weighed {
                PluMode::Weighed
            } else {
                PluMode::Counted
            },
            shelf_life_days: item.shelf_life_days,
            barcode_flag: item.barcode_flag.parse().unwrap_or(u8::MAX),
            tare_g: item.tare_g,
            label_no: 0,
            name: item.name.chars().take(profile.name_chars).collect(),
        };
        match encode_plu(&record) {
            Ok(bytes) => {
                out.insert(record.key, (record, fingerprint(&bytes)));
            }
            Err(err) => refused.push(err.to_string()),
        }
    }
    (out, refused)
}

/// Asks the server for the list; `None` when it is unchanged since `known`.
async fn fetch(
    config: &Config,
    http: &ServerHttp,
    known: Option<&str>,
) -> anyhow::Result<Option<ScalePluList>> {
    let mut request = http
        .client
        .get(format!(
            "{}/api/v1/devices/me/scale-plus",
            config.server_url.trim_end_matches('/')
        ))
        .bearer_auth(&config.credential);
    if let Some(version) = known {
        request = request.header(reqwest::header::IF_NONE_MATCH, format!("\"{version}\""));
    }
    let response = request
        .send()
        .await
        .map_err(|e| anyhow::anyhow!(http.trust.explain(&e)))?;
    if response.status() == StatusCode::NOT_MODIFIED {
        return Ok(None);
    }
    let response = response.error_for_status()?;
    let list: ScalePluList = response.json().await.context("reading the PLU list")?;
    anyhow::ensure!(
        list.is_consistent(),
        "the PLU list's version does not match its content"
    );
    anyhow::ensure!(
        list.store == config.store,
        "the PLU list is for store {}",
        list.store
    );
    Ok(Some(list))
}

/// A scale's connection, held between rounds.
type Connection = Option<LabelScaleClient<tokio::net::TcpStream>>;

/// One scale brought to `list` over its held connection (or a new one): what was done.
async fn load_scale(
    scale: &ScaleSetup,
    list: &ScalePluList,
    loaded: &mut Loaded,
    full_after_ms: i64,
    connection: &mut Connection,
) -> Result<String, ScaleError> {
    let (wanted, refused) = records(list, &scale.profile);
    for reason in &refused {
        tracing::warn!(scale = %scale.name, %reason, "PLU left off the scale");
    }
    let now = chrono::Utc::now().timestamp_millis();
    let held = match connection.take() {
        Some(client) if client.is_open().await => Some(client),
        Some(_) => {
            tracing::warn!(scale = %scale.name, "the label scale closed its connection (off or restarted): it gets the full list");
            None
        }
        None => None,
    };
    if held.is_none() {
        // A new connection: what the scale holds is unknown.
        loaded.needs_full = true;
    }
    let removed = loaded.records.keys().any(|k| !wanted.contains_key(k));
    let full = loaded.needs_full
        || loaded.version.is_none()
        || removed
        || now - loaded.last_full_ms > full_after_ms;
    let changed: Vec<&PluRecord> = wanted
        .iter()
        .filter(|(key, (_, fp))| full || loaded.records.get(key) != Some(fp))
        .map(|(_, (record, _))| record)
        .collect();
    let capacity = usize::from(scale.profile.max_plus);
    if wanted.len() > capacity {
        return Err(ScaleError::Io(std::io::Error::other(format!(
            "{} PLUs, the {} holds {capacity}",
            wanted.len(),
            scale.profile.model
        ))));
    }
    let mut client = match held {
        Some(client) => client,
        None => LabelScaleClient::connect(&scale.addr, scale.profile.timeout()).await?,
    };
    // From here on a failure leaves the scale holding something unknown.
    loaded.needs_full = true;
    if full {
        client.clear_all().await?;
        loaded.records.clear();
    }
    for record in &changed {
        client.write_plu(record).await?;
    }
    loaded.records = wanted.iter().map(|(k, (_, fp))| (*k, *fp)).collect();
    loaded.version = Some(list.version.clone());
    loaded.needs_full = false;
    *connection = Some(client);
    if full {
        loaded.last_full_ms = now;
    }
    let mut done = format!(
        "PLU list {} loaded ({} PLUs; {})",
        list.version,
        wanted.len(),
        if full {
            "full download".to_owned()
        } else {
            format!("{} changed", changed.len())
        }
    );
    if !refused.is_empty() {
        done.push_str(&format!(
            "; {} left off: {}",
            refused.len(),
            refused.join("; ")
        ));
    }
    Ok(done)
}

/// One round for one scale: up to [`TRIES`] attempts; the health entry and the saved state
/// updated.
async fn round(
    store: &LocalStore,
    scale: &ScaleSetup,
    list: Option<&ScalePluList>,
    full_after_ms: i64,
    health: &watch::Sender<Vec<ComponentHealth>>,
    cancel: &CancellationToken,
    connection: &mut Connection,
) {
    let key = state_key(&scale.name);
    let mut loaded: Loaded = match store.get(&key).await {
        Ok(Some(text)) => serde_json::from_str(&text).unwrap_or_default(),
        _ => Loaded::default(),
    };
    let before = loaded.clone();
    let outcome = match list {
        None => Err("no PLU list yet (the server was not reached)".to_owned()),
        Some(list) => {
            let mut last = String::new();
            let mut result = Err(String::new());
            for attempt in 0..TRIES {
                if attempt > 0 {
                    tokio::select! {
                        () = cancel.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_millis(500 << (attempt - 1))) => {}
                    }
                }
                match load_scale(scale, list, &mut loaded, full_after_ms, connection).await {
                    Ok(done) => {
                        result = Ok(done);
                        break;
                    }
                    Err(err) => {
                        // Whatever it holds now, it gets the full list over a new connection.
                        loaded.needs_full = true;
                        last = format!("{err} (try {}/{TRIES})", attempt + 1);
                        tracing::warn!(scale = %scale.name, error = %last, "loading the label scale failed");
                    }
                }
            }
            result.map_err(|_: String| last)
        }
    };
    if loaded != before {
        if let Ok(text) = serde_json::to_string(&loaded) {
            if let Err(err) = store.set(&key, &text).await {
                tracing::error!(error = %err, "saving the label scale's state failed");
            }
        }
    }
    let name = health_name(&scale.name);
    let (state, detail) = match outcome {
        Ok(done) => {
            if before.version.as_ref() != loaded.version.as_ref() || before.needs_full {
                tracing::info!(scale = %scale.name, "{done}");
            }
            ("ok", done)
        }
        Err(err) => {
            let holds = match (&loaded.version, loaded.needs_full) {
                (Some(v), false) => format!("holds PLU list {v}"),
                (Some(v), true) => format!("last loaded PLU list {v}; full download pending"),
                (None, _) => "nothing loaded yet".to_owned(),
            };
            ("fault", format!("{err}; {holds}"))
        }
    };
    health.send_modify(|entries| {
        if let Some(entry) = entries.iter_mut().find(|e| e.name == name) {
            entry.state = state.into();
            entry.detail = Some(detail.clone());
        }
    });
}

/// Keeps every scale loaded until `cancel` (see the module docs).
pub async fn run(
    config: Config,
    http: ServerHttp,
    store: LocalStore,
    scales: Vec<ScaleSetup>,
    health: watch::Sender<Vec<ComponentHealth>>,
    cancel: CancellationToken,
) {
    if scales.is_empty() {
        return;
    }
    let poll = Duration::from_secs(config.scale_poll_secs);
    let full_after_ms = i64::try_from(config.scale_full_reload_hours)
        .unwrap_or(i64::MAX / 3_600_000)
        .saturating_mul(3_600_000);
    let mut list: Option<ScalePluList> = match store.get(LIST_KEY).await {
        Ok(Some(text)) => serde_json::from_str(&text)
            .ok()
            .filter(ScalePluList::is_consistent),
        _ => None,
    };
    let mut connections: Vec<Connection> = scales.iter().map(|_| None).collect();
    loop {
        match fetch(&config, &http, list.as_ref().map(|l| l.version.as_str())).await {
            Ok(Some(fresh)) => {
                tracing::info!(version = %fresh.version, items = fresh.items.len(), "new PLU list for the label scales");
                if let Ok(text) = serde_json::to_string(&fresh) {
                    if let Err(err) = store.set(LIST_KEY, &text).await {
                        tracing::error!(error = %err, "saving the PLU list failed");
                    }
                }
                list = Some(fresh);
            }
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(error = %format!("{err:#}"), "could not fetch the PLU list; the scales keep the last one");
            }
        }
        let rounds = scales
            .iter()
            .zip(connections.iter_mut())
            .map(|(scale, connection)| {
                round(
                    &store,
                    scale,
                    list.as_ref(),
                    full_after_ms,
                    &health,
                    &cancel,
                    connection,
                )
            });
        futures_util::future::join_all(rounds).await;
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(poll) => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use retail_domain::barcode::VariableMeasureLayout;
    use retail_domain::money::Money;
    use retail_domain::wire::scales::ScalePlu;

    #[test]
    fn records_carry_the_list_and_fingerprints_follow_the_bytes() {
        let item = ScalePlu {
            key: 1,
            plu: "10001".into(),
            sku_id: uuid::Uuid::nil(),
            name: "烟台红富士苹果 散装 特级大果".into(),
            unit_price: Money::from_fen(1290),
            list_price: Money::from_fen(1290),
            weighed: true,
            tare_g: 0,
            shelf_life_days: 7,
            barcode_flag: "20".into(),
        };
        let mut bad = item.clone();
        bad.key = 2;
        bad.name = "🍎".into();
        let layout = VariableMeasureLayout::cn_default();
        let items = vec![item, bad];
        let list = ScalePluList {
            store: "SH001".into(),
            version: ScalePluList::digest(&layout, &items),
            generated_at: chrono::Utc::now(),
            layout,
            items,
        };
        let profile = LabelScaleProfile::from_toml_str(
            "x",
            "id = \"x\"\nvendor = \"v\"\nmodel = \"m\"\nprotocol = \"dahua-tm\"\nanswer_timeout_ms = 500\nmax_plus = 10\nname_chars = 8\n",
        )
        .unwrap();
        let (records, refused) = records(&list, &profile);
        assert_eq!(records.len(), 1);
        assert_eq!(refused.len(), 1, "{refused:?}");
        let (record, fp) = &records[&1];
        assert_eq!(record.name.chars().count(), 8);
        assert_eq!(record.unit_price_fen, 1290);
        assert_eq!(*fp, fingerprint(&encode_plu(record).unwrap()));
        assert_ne!(fingerprint(b"a"), fingerprint(b"b"));
    }
}
