//! A full PLU download to the virtual label scale on loopback: `!0IA`, then N `!0V` records
//! (Chinese names, weighed and counted), each answered before the next is sent, as the Dahua
//! TM protocol is driven by `retail_devices::label_scale::LabelScaleClient`. Target (issue 21):
//! 4,000 PLUs in ≤ 10 s.
//!
//! `cargo bench -p retail-devices --bench label_scale [--profile dev] -- [--plus N] [--runs R]`

use std::time::{Duration, Instant};

use retail_devices::label_scale::{LabelScaleClient, PluMode, PluRecord};
use retail_devices::virtual_label_scale::VirtualLabelScale;

const NAMES: [&str; 6] = [
    "烟台红富士苹果",
    "海南香蕉",
    "鲜猪里脊肉",
    "散养土鸡蛋 10枚",
    "基围虾",
    "有机菠菜",
];

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let plus = arg(&args, "--plus", 4000).clamp(1, 9999);
    let runs = arg(&args, "--runs", 3).max(1);
    let records: Vec<PluRecord> = (1..=plus)
        .map(|i| {
            let key = u16::try_from(i).unwrap_or(u16::MAX);
            PluRecord {
                key,
                item_code: 10_000 + u32::from(key),
                unit_price_fen: 500 + u32::from(key) % 5000,
                mode: if i % 5 == 0 {
                    PluMode::Counted
                } else {
                    PluMode::Weighed
                },
                shelf_life_days: 3,
                barcode_flag: 20,
                tare_g: 5,
                label_no: 0,
                name: NAMES[i % NAMES.len()].to_owned(),
            }
        })
        .collect();
    let scale = VirtualLabelScale::start().await?;
    let mut times = Vec::new();
    for run in 1..=runs {
        let started = Instant::now();
        let mut client =
            LabelScaleClient::connect(&scale.addr().to_string(), Duration::from_secs(2)).await?;
        client.download_all(&records).await?;
        let took = started.elapsed();
        assert_eq!(scale.table().len(), plus, "every PLU on the scale");
        println!(
            "run {run}: {plus} PLUs in {:.3} s ({:.0} PLUs/s)",
            took.as_secs_f64(),
            plus as f64 / took.as_secs_f64()
        );
        times.push(took);
    }
    times.sort();
    let worst = times[times.len() - 1];
    println!(
        "full download of {plus} PLUs: best {:.3} s, worst {:.3} s (target ≤ 10 s: {})",
        times[0].as_secs_f64(),
        worst.as_secs_f64(),
        if worst <= Duration::from_secs(10) {
            "met"
        } else {
            "NOT met"
        }
    );
    Ok(())
}
