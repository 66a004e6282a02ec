//! Image upload benchmark (issue 16): a 12-megapixel JPEG (4000 × 3000, a photo-like pattern,
//! about 3–5 MB) taken in as an upload is: checked from its header, decoded under limits, turned
//! upright, re-encoded without metadata at ≤ 2048 px and thumbnailed to 960/480/160 px, and every
//! variant written to the data folder (the image store). Target: ≤ 1 s per upload.
//!
//! ```sh
//! cargo bench -p retail-server --bench image_upload -- --runs 10
//! ```
//!
//! Reports the JPEG's size, then min/median/max wall time of `app::media::store_image_in` over
//! `runs` uploads (each into a fresh folder, so nothing is skipped as already kept), and
//! separately of the decode step alone, to show where the time goes.

#![allow(missing_docs, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use retail_server::app::media::{self, ImageLimits};
use retail_server::config::MediaSettings;
use retail_server::storage::media::ImageStore;

mod support;

#[global_allocator]
static ALLOCATOR: retail_server::Allocator = retail_server::Allocator;

fn summary(mut times: Vec<Duration>) -> String {
    times.sort();
    format!(
        "min {:.0} ms, median {:.0} ms, max {:.0} ms",
        times[0].as_secs_f64() * 1e3,
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs: usize = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(10);
    let jpeg = Bytes::from(support::photo_jpeg(
        4000,
        3000,
        0,
        support::SENSOR_NOISE_HEAVY,
    ));
    println!("upload: 4000×3000 JPEG, {} bytes", jpeg.len());
    let limits = ImageLimits::from(&MediaSettings::default());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut decode = Vec::new();
    let mut whole = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        image::load_from_memory(&jpeg).unwrap();
        decode.push(started.elapsed());

        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::Folder(dir.path().join("media"));
        let started = Instant::now();
        let kept = runtime
            .block_on(media::store_image_in(&store, limits, jpeg.clone()))
            .unwrap();
        whole.push(started.elapsed());
        assert_eq!(kept.full.width, 2048);
        assert_eq!(kept.thumbs.len(), 4);
    }
    println!("decode only:                 {}", summary(decode));
    println!("upload (check … keep all):   {}", summary(whole));
}
