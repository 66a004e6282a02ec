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
    // A bulk load: the planner's statistics are refreshed so no plan assumes empty tables.
    store.analyze().await?;
    tracing::info!(
        products = chain.products.len(),
        locations = chain.locations.len(),
        "demo chain loaded"
    );
    Ok(())
}
