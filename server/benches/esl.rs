//! ESL queue benchmark (issue 21): a price change to every electronic shelf label of a store
//! with 20,000 labels, queued. The requirement: ≤ 2 s.
//!
//! ```sh
//! cargo bench -p retail-server --bench esl -- --backend sqlite
//! cargo bench -p retail-server --bench esl -- --backend postgres --labels 20000
//! ```
//!
//! Set-up: `labels` labels at SH001 over the demo chain's SKUs (round-robin), linked in bulk
//! ([`storage::esl::link_many`]). Measured, each a committed transaction:
//! 1. a store-wide change ([`storage::esl::queue`] with every label of the store), as a
//!    chain price rule or a store's full relabel queues it;
//! 2. a promotion covering the whole store created through the use case
//!    ([`retail_server::app::promotions::create_promotion`]: validation, storage, audit and the
//!    queue in its transaction);
//! 3. the markdown scheduler queuing a store-wide markdown's window opening
//!    ([`retail_server::app::esl::schedule_tick`]);
//! 4. a change listing every SKU of the store (`Touch::StoreSkus`, the SKU-scoped path).
//!
//! Each checks that every label of the store is queued afterwards. The worker is kept out of
//! the way (the server's background work is stopped).

#![allow(missing_docs, clippy::unwrap_used)]

mod support;

use std::time::Instant;

use chrono::{Timelike, Utc};
use retail_domain::pricing::{Promotion, PromotionRule, Scope, Stacking};
use retail_server::app::promotions::{create_promotion, CreatePromotion};
use retail_server::storage;
use retail_server::storage::esl::{NewLabel, Touch};
use uuid::Uuid;

#[global_allocator]
static ALLOCATOR: retail_server::Allocator = retail_server::Allocator;

struct Args {
    backend: String,
    labels: usize,
}

fn args() -> anyhow::Result<Args> {
    let flags = support::Flags::parse();
    Ok(Args {
        backend: flags.text("backend", "sqlite"),
        labels: flags.number("labels", 20_000)?,
    })
}

fn main() -> anyhow::Result<()> {
    support::block_on(run(args()?))
}

async fn queued(state: &retail_server::app::AppState) -> anyhow::Result<i64> {
    Ok(storage::esl::counts(&state.store, "SH001").await?.1)
}

/// Marks every label shown (as after a completed push), so the next change queues them again.
async fn settle(state: &retail_server::app::AppState) -> anyhow::Result<()> {
    let mut tx = state.store.begin().await?;
    sqlx::query(
        "UPDATE esl_labels SET sent_seq = desired_seq, status = 'shown' WHERE store_id = 'SH001'",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

fn report(what: &str, secs: f64, labels: usize, queued: i64) {
    println!(
        "{what}: {labels} labels, {queued} queued in {:.3} s ({})",
        secs,
        if secs <= 2.0 {
            "within 2 s"
        } else {
            "OVER 2 s"
        }
    );
}

async fn run(args: Args) -> anyhow::Result<()> {
    let (_dir, mut settings) = support::bench_settings(&args.backend).await?;
    settings.esl.tick_millis = 60_000;
    settings.esl.lead_secs = 60;
    let server = support::start(settings).await?;
    let state = server.state.clone();
    // Background work (the ESL worker among it) stops: only the queueing is measured.
    state.shutdown.cancel();

    let skus = storage::esl::skus_on_shelf(&state.store, "SH001").await?;
    anyhow::ensure!(!skus.is_empty(), "the demo chain has SKUs");
    let labels: Vec<NewLabel> = (0..args.labels)
        .map(|i| NewLabel {
            label_id: format!("L{i:06}"),
            sku_id: skus[i % skus.len()],
            client_id: Uuid::now_v7(),
        })
        .collect();
    let set_up = Instant::now();
    let mut tx = state.store.begin().await?;
    storage::esl::link_many(&mut tx, "SH001", &labels).await?;
    tx.commit().await?;
    println!(
        "backend {}: {} labels over {} SKUs linked in {:.2} s (debug or release: see the build)",
        args.backend,
        args.labels,
        skus.len(),
        set_up.elapsed().as_secs_f64()
    );

    // 1. A store-wide change.
    settle(&state).await?;
    let t = Instant::now();
    let mut tx = state.store.begin().await?;
    let n = storage::esl::queue(
        &mut tx,
        Touch::Stores(&["SH001".to_owned()]),
        storage::now_ms(),
        "price",
    )
    .await?;
    tx.commit().await?;
    let secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(n as usize == args.labels, "{n} queued");
    report(
        "store-wide change",
        secs,
        args.labels,
        queued(&state).await?,
    );

    // 2. A promotion over the whole store, through the use case.
    settle(&state).await?;
    let t = Instant::now();
    create_promotion(
        &state,
        "bench",
        CreatePromotion {
            promotion: Promotion {
                id: retail_domain::ids::new_id(),
                name_zh: "全场9折".into(),
                name_en: "10% off".into(),
                starts_at: Utc::now() - chrono::Duration::minutes(1),
                ends_at: Utc::now() + chrono::Duration::days(1),
                stores: vec!["SH001".into()],
                audience: Default::default(),
                scope: Scope::default(),
                rule: PromotionRule::PercentOff {
                    price_factor: "0.9".parse()?,
                    min_spend: retail_domain::money::Money::ZERO,
                },
                stacking: Stacking::Stackable,
                priority: 0,
            },
            flash_sale: None,
        },
    )
    .await?;
    let secs = t.elapsed().as_secs_f64();
    let q = queued(&state).await?;
    anyhow::ensure!(q as usize == args.labels, "{q} queued");
    report("promotion created (use case)", secs, args.labels, q);

    // 3. A store-wide markdown opening within the lead, queued by the scheduler.
    settle(&state).await?;
    let m = {
        let now = Utc::now().with_timezone(&retail_domain::pricing::china_offset());
        (now.hour() * 60 + now.minute()) as u16
    };
    let from = (m + 2) % 1440;
    let until = (m + 120) % 1440;
    let markdown = Promotion {
        id: retail_domain::ids::new_id(),
        name_zh: "晚市8折".into(),
        name_en: "Evening markdown".into(),
        starts_at: Utc::now() - chrono::Duration::minutes(1),
        ends_at: Utc::now() + chrono::Duration::days(1),
        stores: vec!["SH001".into()],
        audience: Default::default(),
        scope: Scope::categories([
            "FRESH", "FOOD", "DRINK", "GRAIN", "HOUSE", "CARE", "BABY", "HOME",
        ]),
        rule: PromotionRule::TimeOfDayMarkdown {
            price_factor: "0.8".parse()?,
            days: Vec::new(),
            from_minute: from,
            until_minute: if until == 0 { 1440 } else { until },
        },
        stacking: Stacking::Stackable,
        priority: 1,
    };
    let mut tx = state.store.begin().await?;
    storage::promotions::create(
        &mut tx,
        &markdown,
        None,
        storage::merchants::PLATFORM,
        "bench",
    )
    .await?;
    tx.commit().await?;
    settle(&state).await?;
    let t = Instant::now();
    let n = retail_server::app::esl::schedule_tick(&state, storage::now_ms() + 3 * 60_000).await?;
    let secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(n as usize >= args.labels, "{n} queued");
    report(
        "markdown window opening (scheduler)",
        secs,
        args.labels,
        queued(&state).await?,
    );

    // 4. A change listing every SKU of the store.
    settle(&state).await?;
    let t = Instant::now();
    let mut tx = state.store.begin().await?;
    let n = storage::esl::queue(
        &mut tx,
        Touch::StoreSkus(&["SH001".to_owned()], &skus),
        storage::now_ms(),
        "price",
    )
    .await?;
    tx.commit().await?;
    let secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(n as usize == args.labels, "{n} queued");
    report("every SKU listed", secs, args.labels, queued(&state).await?);

    server.stop().await;
    Ok(())
}
