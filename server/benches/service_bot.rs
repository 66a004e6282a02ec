//! Service-bot benchmark (issue 18): the latency of `app::service_bot::reply` — the use case
//! the chat and `POST /api/v1/faq/ask` call — with a knowledge base of 5,000 generated entries
//! plus the 34 real ones of `server/tests/data/faq_kb.json`, on the real server state.
//!
//! ```sh
//! cargo bench -p retail-server --bench service_bot -- --backend sqlite --entries 5000 --rounds 10
//! cargo test -p retail-server --bench service_bot -- --backend sqlite   # dev profile
//! ```
//!
//! Set-up: the demo chain (its own 34 FAQ entries), then `entries` generated entries (product ×
//! aspect × city: "上海门店的苹果保质期怎么样？" with keywords and three example phrasings each),
//! written through the storage layer, and the index rebuilt once. Measured: `rounds` passes over
//! the 150 labelled questions and 150 generated ones, one `reply` at a time (the index is
//! already built; the timing includes the segmentation, the ranking and the rule checks).
//! Target: p99 ≤ 20 ms.

#![allow(missing_docs, clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use retail_server::app::service_bot::{self, BotQuestion, Lang};
use retail_server::storage;
use retail_server::Application;
use uuid::Uuid;

#[global_allocator]
static ALLOCATOR: retail_server::Allocator = retail_server::Allocator;

const QUESTIONS: &str = include_str!("../tests/data/faq_questions.tsv");

const PRODUCTS: &[&str] = &[
    "苹果",
    "香蕉",
    "橙子",
    "草莓",
    "葡萄",
    "西瓜",
    "猕猴桃",
    "车厘子",
    "芒果",
    "榴莲",
    "牛奶",
    "酸奶",
    "鸡蛋",
    "面包",
    "大米",
    "面粉",
    "食用油",
    "酱油",
    "醋",
    "食盐",
    "白糖",
    "猪肉",
    "牛肉",
    "羊肉",
    "鸡翅",
    "三文鱼",
    "虾仁",
    "螃蟹",
    "豆腐",
    "青菜",
    "西红柿",
    "黄瓜",
    "土豆",
    "洋葱",
    "胡萝卜",
    "蘑菇",
    "矿泉水",
    "可乐",
    "啤酒",
    "红酒",
    "咖啡",
    "茶叶",
    "饼干",
    "薯片",
    "巧克力",
    "方便面",
    "速冻饺子",
    "冰淇淋",
    "洗衣液",
    "纸巾",
];
const ASPECTS: &[&str] = &[
    "保质期",
    "产地",
    "储存方法",
    "价格",
    "规格",
    "会员价",
    "促销",
    "库存",
    "退换",
    "配送",
    "新鲜度",
    "检测报告",
    "营养成分",
    "做法",
    "包装",
    "批发",
    "预订",
    "发票",
    "积分",
    "评价",
];
const CITIES: &[&str] = &["上海", "杭州", "苏州", "南京", "宁波"];

fn args() -> anyhow::Result<(String, usize, usize)> {
    let flags = support::Flags::parse();
    Ok((
        flags.text("backend", "sqlite"),
        flags.number("entries", 5_000)?,
        flags.number("rounds", 10)?,
    ))
}

fn generated(i: usize) -> storage::faq::FaqContent {
    let product = PRODUCTS[i % PRODUCTS.len()];
    let aspect = ASPECTS[(i / PRODUCTS.len()) % ASPECTS.len()];
    let city = CITIES[(i / (PRODUCTS.len() * ASPECTS.len())) % CITIES.len()];
    storage::faq::FaqContent {
        question_zh: format!("{city}门店的{product}{aspect}怎么样？"),
        question_en: String::new(),
        answer_zh: format!("{city}门店{product}的{aspect}请以商品详情页为准，如有疑问可咨询门店。"),
        answer_en: String::new(),
        keywords: vec![product.to_owned(), aspect.to_owned()],
        examples: vec![
            format!("{product}的{aspect}"),
            format!("{city}{product}{aspect}是多少"),
            format!("想问下{product}{aspect}"),
        ],
    }
}

fn main() -> anyhow::Result<()> {
    let (backend, entries, rounds) = args()?;
    support::block_on(run(backend, entries, rounds))
}

async fn run(backend: String, entries: usize, rounds: usize) -> anyhow::Result<()> {
    let (_dir, settings) = support::bench_settings(&backend).await?;
    let app = Application::build(settings).await?;
    let state = app.state().clone();

    let started = Instant::now();
    for i in 0..entries {
        let content = generated(i);
        storage::faq::create(
            &state.store,
            &storage::faq::NewFaq {
                client_id: &Uuid::now_v7().to_string(),
                content: &content,
                source: storage::faq::FaqSource::HeadOffice,
                conversation: None,
                actor: "bench",
            },
        )
        .await?;
    }
    let loaded = started.elapsed();
    let started = Instant::now();
    state.service_bot.rebuild(&state.store).await?;
    let built = started.elapsed();
    println!(
        "{entries} generated entries written in {:.1} s; index built in {:.0} ms",
        loaded.as_secs_f64(),
        built.as_secs_f64() * 1000.0
    );

    let mut questions: Vec<String> = QUESTIONS
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once('\t').map(|(_, q)| q.to_owned()))
        .collect();
    let labelled = questions.len();
    for i in 0..labelled {
        let c = generated(i * 37 % entries.max(1));
        questions.push(format!("请问{}", c.examples[1]));
    }
    let mut times = Vec::with_capacity(questions.len() * rounds);
    let mut answered = 0usize;
    for _ in 0..rounds {
        for q in &questions {
            let lang = if q.is_ascii() { Lang::En } else { Lang::Zh };
            let t = Instant::now();
            let reply = service_bot::reply(
                &state,
                BotQuestion {
                    text: q,
                    member: None,
                    order_id: None,
                    lang,
                },
            )
            .await?;
            times.push(t.elapsed());
            if matches!(reply, service_bot::BotReply::Answer { .. }) {
                answered += 1;
            }
        }
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "reply with {} entries: {} questions ({labelled} labelled + {labelled} generated, {rounds} rounds), \
         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; answered {:.0}%",
        entries + 34,
        times.len(),
        ms(support::percentile(&times, 50.0)),
        ms(support::percentile(&times, 99.0)),
        ms(times.last().copied().unwrap_or_default()),
        100.0 * answered as f64 / times.len().max(1) as f64,
    );
    Ok(())
}
