//! What the server's bench binaries share: a fresh database for a run, and the demo
//! administrator's log-in.

#![allow(dead_code)]

use serde_json::json;
use uuid::Uuid;

/// A fresh database for one run: a SQLite file in `dir`, or a new PostgreSQL database on the
/// server `TEST_DATABASE_URL` names (default the local one).
pub async fn fresh_database(backend: &str, dir: &std::path::Path) -> anyhow::Result<String> {
    match backend {
        "sqlite" => Ok(format!("sqlite://{}", dir.join("bench.db").display())),
        "postgres" => {
            use sqlx::Connection;
            let admin = std::env::var("TEST_DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
            let mut conn = sqlx::PgConnection::connect(&admin).await?;
            let name = format!("retail_bench_{}", Uuid::now_v7().simple());
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await?;
            Ok(format!(
                "{}/{name}",
                admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin)
            ))
        }
        other => anyhow::bail!("unknown backend {other}"),
    }
}

/// The demo administrator's bearer token.
pub async fn login(client: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    let body: serde_json::Value = client
        .post(format!("{url}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": "demo1234"}))
        .send()
        .await?
        .json()
        .await?;
    Ok(body["token"].as_str().unwrap_or_default().to_owned())
}
