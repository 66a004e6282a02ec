//! Loads the demo chain ([`crate::demo_data`]) into an empty database, so a newcomer's first
//! start has stores, a catalog, stock, members and staff to try everything with.

use anyhow::Context;

use crate::secrets::{hash_password, Keys};
use crate::storage::{self, Store};

/// Loads the demo chain when the database has no location yet; does nothing otherwise.
pub async fn load_if_empty(store: &Store, keys: &Keys) -> anyhow::Result<()> {
    if !storage::locations::is_empty(store).await? {
        return Ok(());
    }
    let chain = crate::demo_data::chain();
    // One hash for the shared demo password (and one for the shared lane PIN) keeps the first
    // start fast.
    let password_hash = hash_password("demo1234")?;
    let pin_hash = hash_password(crate::demo_data::DEMO_PIN)?;
    storage::demo::load(store, keys, &chain, &password_hash, &pin_hash)
        .await
        .context("inserting the demo chain")?;
    demo_delivery(store)
        .await
        .context("inserting the demo delivery regions")?;
    demo_faq(store)
        .await
        .context("inserting the demo FAQ knowledge base")?;
    // A bulk load: the planner's statistics are refreshed so no plan assumes empty tables.
    store.analyze().await?;
    tracing::info!(
        products = chain.products.len(),
        locations = chain.locations.len(),
        "demo chain loaded"
    );
    Ok(())
}

/// The demo chain's FAQ knowledge base for the service bot: the same entries the bot's
/// accuracy test is measured on (`server/tests/data/faq_kb.json`).
const DEMO_FAQ: &str = include_str!("../tests/data/faq_kb.json");

/// Loads [`DEMO_FAQ`] (fixed client ids: loading twice changes nothing).
async fn demo_faq(store: &Store) -> anyhow::Result<()> {
    let entries: Vec<storage::faq::FaqContent> =
        serde_json::from_str(DEMO_FAQ).context("the demo FAQ is not valid JSON")?;
    for (i, content) in entries.iter().enumerate() {
        let client_id =
            uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0f00 + i as u128);
        storage::faq::create(
            store,
            &storage::faq::NewFaq {
                client_id: &client_id.to_string(),
                content,
                source: storage::faq::FaqSource::HeadOffice,
                conversation: None,
                actor: "demo",
            },
        )
        .await?;
    }
    Ok(())
}

/// The demo chain's delivery: Shanghai delivered free from the Jiading warehouse, Zhejiang (and
/// Hangzhou) for ¥8 (free from ¥99), and the stores' positions for same-city delivery.
async fn demo_delivery(store: &Store) -> anyhow::Result<()> {
    use storage::delivery::Region;
    // Hangzhou as a city region too: an address naming only its city (`杭州市西湖区…`) is in it.
    let regions = [
        ("上海", "", 0, None),
        ("浙江", "", 800, Some(9900)),
        ("浙江", "杭州", 800, Some(9900)),
    ];
    for (i, (province, city, fee_fen, free_over_fen)) in regions.into_iter().enumerate() {
        let region = Region {
            id: uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0d00 + i as u128),
            province: province.into(),
            city: city.into(),
            warehouse_id: "WH01".into(),
            fee_fen,
            free_over_fen,
        };
        storage::delivery::save_region(store, &region, "demo").await?;
    }
    for (id, lat, lng) in [
        ("SH001", 31_232_000, 121_471_000),
        ("SH002", 31_194_000, 121_437_000),
        ("SH003", 31_203_000, 121_590_000),
        ("HZ001", 30_279_000, 120_146_000),
    ] {
        storage::delivery::set_store_position(store, id, Some((lat, lng)), "demo").await?;
    }
    Ok(())
}
