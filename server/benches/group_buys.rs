//! Group-buy last-seat benchmark (issue 17): 1,000 members joining 100 teams of size 5 at once,
//! through the real server (in this process, on an ephemeral port, on SQLite or PostgreSQL with
//! durable commits), over HTTP on loopback.
//!
//! ```sh
//! cargo bench -p retail-server --bench group_buys -- --backend sqlite
//! cargo bench -p retail-server --bench group_buys -- --backend postgres --teams 100 --joiners 1000
//! ```
//!
//! Set-up: a group-buy (team size 5) on a stocked SKU, `teams` teams each opened by a member of
//! its own, `joiners` more members. Measured: every joiner posts `POST
//! /api/v1/group-teams/{team}/join` at once (joiner k to team k mod `teams`, so ten contend for
//! each team's four free seats). Reports the wall time, p50/p99/max latency, how many joins were
//! taken and refused (`team_full`), and checks that every team is exactly full — no team
//! over-joined, one order per seat.

#![allow(missing_docs, clippy::unwrap_used)]

mod support;

use std::time::Instant;

use retail_domain::codes::SignedCode;
use retail_server::storage;
use retail_server::storage::stock::{apply_movements, Movement, MovementKind};
use serde_json::json;
use support::login;
use uuid::Uuid;

#[global_allocator]
static ALLOCATOR: retail_server::Allocator = retail_server::Allocator;

const TEAM_SIZE: i64 = 5;

struct Args {
    backend: String,
    teams: usize,
    joiners: usize,
}

fn args() -> anyhow::Result<Args> {
    let flags = support::Flags::parse();
    Ok(Args {
        backend: flags.text("backend", "sqlite"),
        teams: flags.number("teams", 100)?,
        joiners: flags.number("joiners", 1_000)?,
    })
}

fn main() -> anyhow::Result<()> {
    support::block_on(run(args()?))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let (_dir, mut settings) = support::bench_settings(&args.backend).await?;
    settings.orders.without_client_limits();
    let server = support::start(settings).await?;
    let (url, state) = (server.url.clone(), server.state.clone());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()?;
    let token = login(&client, &url).await?;

    // A stocked SKU and the group-buy.
    let sku = support::stocked_sku(&client, &url, &token).await?;
    let units = i64::try_from(args.teams + args.joiners)? * 2;
    let mut tx = state.store.begin().await?;
    apply_movements(
        &mut tx,
        &[Movement {
            location_id: "SH001",
            sku_id: sku,
            kind: MovementKind::Adjustment,
            on_hand_delta: units,
            reserved_delta: 0,
            reason: "bench",
            actor: "bench",
            ref_id: None,
            client_ts: 0,
        }],
    )
    .await?;
    tx.commit().await?;
    let price = storage::catalog::skus(&state.store, &[sku], None).await?[&sku].price;
    let now = chrono::Utc::now();
    let gb: serde_json::Value = client
        .post(format!("{url}/api/v1/group-buys"))
        .bearer_auth(&token)
        .json(&json!({"id": Uuid::now_v7(), "sku_id": sku, "group_price": price,
            "team_size": TEAM_SIZE, "fill_hours": 24, "per_member_limit": 1,
            "starts_at": now - chrono::Duration::hours(1), "ends_at": now + chrono::Duration::days(1),
            "stock_units": units}))
        .send()
        .await?
        .json()
        .await?;
    let gb: Uuid = gb["id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("group-buy not created: {gb}"))?
        .parse()?;

    println!(
        "setting up {} teams and {} joiners on {} …",
        args.teams, args.joiners, args.backend
    );
    let code_of = |member: Uuid| {
        state
            .keys
            .signer
            .sign(&SignedCode::Member(storage::members::member_code(
                member,
                chrono::Utc::now(),
                3_600,
            )))
    };
    let mut member_no = 0_u64;
    let mut new_member = || {
        member_no += 1;
        format!("137{member_no:08}")
    };
    let mut teams = Vec::with_capacity(args.teams);
    for _ in 0..args.teams {
        let member = register(&state, &new_member()).await?;
        let opened: serde_json::Value = client
            .post(format!("{url}/api/v1/group-buys/{gb}/teams"))
            .header("x-member-code", code_of(member))
            .json(&json!({"id": Uuid::now_v7(), "fulfilment": "pickup", "store": "SH001"}))
            .send()
            .await?
            .json()
            .await?;
        let team: Uuid = opened["team_id"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("team not opened: {opened}"))?
            .parse()?;
        teams.push(team);
    }
    let mut joiners = Vec::with_capacity(args.joiners);
    for k in 0..args.joiners {
        let member = register(&state, &new_member()).await?;
        joiners.push((teams[k % teams.len()], code_of(member)));
    }

    // Everyone at once.
    let started = Instant::now();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(joiners.len()));
    let mut tasks = tokio::task::JoinSet::new();
    for (team, code) in joiners {
        let (client, url, barrier) = (client.clone(), url.clone(), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            let sent = Instant::now();
            let resp = client
                .post(format!("{url}/api/v1/group-teams/{team}/join"))
                .header("x-member-code", code)
                .json(&json!({"id": Uuid::now_v7(), "fulfilment": "pickup", "store": "SH001"}))
                .send()
                .await;
            let status = match resp {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let body: serde_json::Value = r.json().await.unwrap_or_default();
                    (
                        status,
                        body["error"]["code"].as_str().unwrap_or("").to_owned(),
                    )
                }
                Err(e) => (0, e.to_string()),
            };
            (sent.elapsed(), status)
        });
    }
    let mut latencies = Vec::new();
    let (mut taken, mut full, mut other) = (0, 0, Vec::new());
    while let Some(done) = tasks.join_next().await {
        let (latency, (status, code)) = done?;
        latencies.push(latency);
        match (status, code.as_str()) {
            (200, _) => taken += 1,
            (409, "team_full") => full += 1,
            (s, c) => other.push(format!("{s} {c}")),
        }
    }
    let wall = started.elapsed();
    latencies.sort();

    // Every team exactly full, one order per seat.
    let mut over = 0;
    let mut short = 0;
    for team in &teams {
        let t = storage::group_buys::team(&state.store, *team)
            .await?
            .ok_or_else(|| anyhow::anyhow!("team {team} vanished"))?;
        let seats = storage::group_buys::seats(&state.store, *team).await?;
        if t.seats_taken > TEAM_SIZE || seats.len() as i64 > TEAM_SIZE {
            over += 1;
        }
        if t.seats_taken < TEAM_SIZE || (seats.len() as i64) != t.seats_taken {
            short += 1;
        }
        for seat in &seats {
            storage::orders::get(&state.store, seat.order_id).await?;
        }
    }
    println!(
        "{} joins for {} teams of {TEAM_SIZE} on {}: {:.2} s wall, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        teams.len(),
        args.backend,
        wall.as_secs_f64(),
        support::percentile(&latencies, 50.0).as_secs_f64() * 1000.0,
        support::percentile(&latencies, 99.0).as_secs_f64() * 1000.0,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
    );
    println!(
        "taken {taken}, refused team_full {full}, other {} {:?}; teams over-joined {over}, not exactly full {short}",
        other.len(),
        other.iter().take(5).collect::<Vec<_>>()
    );
    server.stop().await;
    anyhow::ensure!(over == 0, "{over} teams over-joined");
    anyhow::ensure!(short == 0, "{short} teams not exactly full");
    anyhow::ensure!(other.is_empty(), "unexpected answers: {other:?}");
    Ok(())
}

async fn register(state: &retail_server::app::AppState, phone: &str) -> anyhow::Result<Uuid> {
    Ok(
        match storage::members::register(
            &state.store,
            &state.keys,
            &state.settings.points,
            Uuid::now_v7(),
            phone,
            "",
        )
        .await?
        {
            storage::members::Registration::Created(m)
            | storage::members::Registration::Existing(m) => m.id,
            storage::members::Registration::PhoneTaken(id) => id,
        },
    )
}
