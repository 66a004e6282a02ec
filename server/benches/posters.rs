//! Share-poster benchmark (issue 17): how long a product's poster takes uncached (gathering the
//! content — product, prices, running flash sale and group-buys, the sharer, the product picture
//! — and drawing and encoding the 750 × 1334 PNG) and cached (the same gathering, then the kept
//! PNG), through the use case the shop's `/p/{id}/poster.png` calls, on the real server state.
//!
//! ```sh
//! cargo bench -p retail-server --bench posters -- --backend sqlite --posters 40
//! cargo test -p retail-server --bench posters -- --backend sqlite   # dev profile
//! ```
//!
//! Set-up: the demo chain, a photo-like 1600 × 1200 JPEG uploaded as the product's picture,
//! `posters` members with names that differ in their first character (the poster shows it). Uncached: one poster per member (each is a different poster: its sharer
//! differs). Cached: the same posters again, 10 rounds. `--out FILE` writes the first poster.

#![allow(missing_docs, clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use retail_server::app::posters::{self, ProductPosterRequest};
use retail_server::storage;
use retail_server::Application;
use uuid::Uuid;

#[global_allocator]
static ALLOCATOR: retail_server::Allocator = retail_server::Allocator;

struct Args {
    backend: String,
    posters: usize,
    out: Option<String>,
}

fn args() -> anyhow::Result<Args> {
    let flags = support::Flags::parse();
    Ok(Args {
        backend: flags.text("backend", "sqlite"),
        posters: flags.number("posters", 40)?,
        out: flags.given("out").map(str::to_owned),
    })
}

fn main() -> anyhow::Result<()> {
    support::block_on(run(args()?))
}

fn report(what: &str, mut times: Vec<Duration>) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{what}: {} posters, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        times.len(),
        ms(support::percentile(&times, 50.0)),
        ms(support::percentile(&times, 99.0)),
        ms(times.last().copied().unwrap_or_default()),
    );
}

async fn run(args: Args) -> anyhow::Result<()> {
    let (_dir, settings) = support::bench_settings(&args.backend).await?;
    let app = Application::build(settings).await?;
    let state = app.state().clone();

    // A product with a photo-like picture.
    let product = storage::catalog::list_products(
        &state.store,
        &storage::catalog::ProductFilter {
            limit: 1,
            ..Default::default()
        },
    )
    .await?
    .items[0]
        .id;
    let photo = support::photo_jpeg(1600, 1200, 7, support::SENSOR_NOISE_PHOTO);
    retail_server::app::product_images::add(
        &state,
        "bench",
        product,
        Uuid::now_v7(),
        bytes::Bytes::from(photo),
    )
    .await?;
    let mut members = Vec::with_capacity(args.posters);
    for k in 0..args.posters {
        let phone = format!("136{k:08}");
        let member = match storage::members::register(
            &state.store,
            &state.keys,
            &state.settings.points,
            Uuid::now_v7(),
            &phone,
            // A different first character each: the poster shows the masked name (`王**`).
            &format!(
                "{}小明",
                char::from_u32(0x4e00 + 7 * k as u32).unwrap_or('王')
            ),
        )
        .await?
        {
            storage::members::Registration::Created(m)
            | storage::members::Registration::Existing(m) => m.id,
            storage::members::Registration::PhoneTaken(id) => id,
        };
        members.push(member);
    }
    let request = |member| ProductPosterRequest {
        product_id: product,
        sku_id: None,
        location: "SH001".into(),
        sharer: Some(member),
    };

    let mut uncached = Vec::with_capacity(members.len());
    for (i, member) in members.iter().enumerate() {
        let started = Instant::now();
        let png = posters::product_poster(&state, request(*member)).await?;
        uncached.push(started.elapsed());
        if i == 0 {
            println!("poster: {} bytes", png.len());
            if let Some(out) = &args.out {
                std::fs::write(out, &png)?;
            }
        }
    }
    let mut cached = Vec::with_capacity(members.len() * 10);
    for _ in 0..10 {
        for member in &members {
            let started = Instant::now();
            posters::product_poster(&state, request(*member)).await?;
            cached.push(started.elapsed());
        }
    }
    println!("on {}:", args.backend);
    report("uncached (gather + draw + PNG)", uncached);
    report("cached (gather + kept PNG)", cached);
    Ok(())
}
