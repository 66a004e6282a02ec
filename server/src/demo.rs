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
    demo_scales(store, &chain)
        .await
        .context("inserting the demo label-scale items")?;
    // A bulk load: the planner's statistics are refreshed so no plan assumes empty tables.
    store.analyze().await?;
    tracing::info!(
        products = chain.products.len(),
        locations = chain.locations.len(),
        "demo chain loaded"
    );
    Ok(())
}

/// The demo chain's label-scale items (issue 21): every weighed fresh SKU under its PLU
/// (`10001`…, scale key = PLU − 10000), and the house brand's counted fresh SKUs (boxed lamb
/// rolls, free-range eggs, …) under PLUs `19001`… (keys 901…), added as their barcodes too;
/// shelf life by category, a 5 g tray tare for meat and seafood.
async fn demo_scales(store: &Store, chain: &crate::demo_data::DemoChain) -> anyhow::Result<()> {
    let mut counted = 0_i64;
    for product in &chain.products {
        let category = product.category.as_str();
        if !category.starts_with("FRESH") {
            continue;
        }
        let shelf_life_days = match category {
            c if c.starts_with("FRESH-FRUIT") => 7,
            c if c.starts_with("FRESH-VEG") => 3,
            "FRESH-MEAT-EGG" => 20,
            c if c.starts_with("FRESH-MEAT") => 2,
            c if c.starts_with("FRESH-SEAFOOD") => 1,
            _ => 3,
        };
        let tray = category.starts_with("FRESH-MEAT-") && category != "FRESH-MEAT-EGG"
            || category.starts_with("FRESH-SEAFOOD");
        for sku in &product.skus {
            let Some(sku_id) = storage::scales::sku_id_by_code(store, &sku.sku_code).await? else {
                continue;
            };
            let (plu, scale_key) = match &sku.plu {
                Some(plu) => (plu.clone(), plu.parse::<i64>()? - 10_000),
                None if product.brand == "鲜邻优选" => {
                    counted += 1;
                    let plu = (19_000 + counted).to_string();
                    storage::scales::add_barcode(store, sku_id, &plu).await?;
                    (plu, 900 + counted)
                }
                None => continue,
            };
            storage::scales::set(
                store,
                &storage::scales::NewScaleItem {
                    sku_id,
                    plu: &plu,
                    scale_key,
                    tare_g: if tray { 5 } else { 0 },
                    shelf_life_days,
                    actor: "demo",
                },
            )
            .await?;
        }
    }
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
