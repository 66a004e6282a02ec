//! The export to a big-data platform (issue 19, docs/CONTRACTS.md "Export to a big-data
//! platform"): real orders, a lane sale and events exported for today's China day, every
//! Parquet file read back by an independent reader (pyarrow, from PyPI, in a python3
//! subprocess) whose row counts and sums must match the database, with no phone, name or raw
//! member id in any file; a second run writes byte-identical files; the same export into an
//! S3-compatible bucket (Moto). The member tag import: good and bad rows (report with lines and
//! reasons, exactly the good ones applied), the same file again (nothing changes), a Parquet
//! file of tags, a corrupt Parquet refused whole, staff other than head office refused. The
//! console's export page in a real browser: "run now" and the run listed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use retail_server::app::export::{self as export_app, Origin};
use retail_server::storage::export::ExportRun;

use crate::support::TestApp;

/// The pyarrow version `.ci/run` installs.
const PYARROW_VERSION: &str = "18.1.0";

const DATASETS: [&str; 6] = [
    "events",
    "orders",
    "order_lines",
    "lane_sales",
    "stock_movements",
    "members",
];

/// True when python3 can import pyarrow; outside CI a loud skip notice otherwise.
fn pyarrow_available() -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import pyarrow"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        retail_testkit::skip_unless_ci(&format!(
            "export test: python3 with pyarrow is needed (python3 -m pip install pyarrow=={PYARROW_VERSION})"
        ));
    }
    ok
}

/// Reads every dataset of `day` under `root` with pyarrow: rows, the sum of each integer
/// column, every string value, and the schema version in the file's metadata.
const READER: &str = r#"
import json, os, sys
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
root, day = sys.argv[1], sys.argv[2]
out = {}
for ds in ["events", "orders", "order_lines", "lane_sales", "stock_movements", "members"]:
    t = pq.read_table(os.path.join(root, ds, "dt=" + day, "part-0.parquet"))
    sums, strings, types = {}, [], {}
    for name in t.column_names:
        col = t.column(name)
        types[name] = str(col.type)
        if pa.types.is_integer(col.type):
            sums[name] = pc.sum(col).as_py() or 0
        elif pa.types.is_string(col.type):
            strings.extend(v for v in col.to_pylist() if v is not None)
    meta = t.schema.metadata or {}
    out[ds] = {"rows": t.num_rows, "sums": sums, "strings": strings, "types": types,
               "schema_version": meta.get(b"schema_version", b"").decode()}
print(json.dumps(out))
"#;

fn read_with_pyarrow(root: &Path, day: &str) -> Value {
    let out = std::process::Command::new("python3")
        .args(["-c", READER])
        .arg(root)
        .arg(day)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "pyarrow could not read the export: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the reader's JSON")
}

fn today() -> chrono::NaiveDate {
    chrono::Utc::now()
        .with_timezone(&retail_server::app::china_offset())
        .date_naive()
}

async fn scalar(app: &TestApp, sql: &str, range: (i64, i64)) -> i64 {
    let row = sqlx::query(sql)
        .bind(range.0)
        .bind(range.1)
        .fetch_one(&mut *app.state.store.begin().await.unwrap())
        .await
        .unwrap();
    sqlx::Row::get::<i64, _>(&row, 0)
}

/// A member registered by head office with a phone and a name the export must never show.
async fn named_member(app: &TestApp, admin: &str, phone: &str, name: &str) -> String {
    let id = retail_domain::ids::new_id();
    let (status, body) = app
        .post(
            "/api/v1/members",
            Some(admin),
            json!({ "id": id, "phone": phone, "name": name }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// Places an online pickup order, a lane sale of a named member and client events.
async fn business_of_today(app: &TestApp) -> (String, Vec<String>) {
    use crate::sales::{push, register_lane, sale, sku_ids};
    let admin = app.login("admin").await;
    let member = named_member(app, &admin, "13700137021", "Zed Exportname").await;
    let (_, lane) = register_lane(app, &admin, "SH001", "Lane export").await;
    let skus = sku_ids(app, &admin, 2).await;
    let one = sale(
        "SH001",
        Some(&member),
        &[(&skus[0], 3, 450), (&skus[1], 1, 1299)],
        &[],
    );
    let results = push(app, &lane, std::slice::from_ref(&one)).await;
    assert_eq!(results[0]["outcome"], json!("applied"), "{results:?}");
    let mut shop = crate::web::shopper(app, "13700137022").await;
    let (_, sku) = crate::web::a_sku(app, "纯牛奶").await;
    crate::web::pickup_order(&mut shop, sku).await;
    let events: Vec<Value> = (0..3)
        .map(|i| {
            json!({"id": uuid::Uuid::now_v7(), "name": "page_view", "v": 1,
                "ts": retail_server::storage::now_ms(),
                "device": "0b6f3c1e-9a4d-4f7e-8c2b-5d1a7e9f3b21", "page": format!("/p/{i}"),
                "channel": "online", "props": {"dwell_ms": 1000 + i}})
        })
        .collect();
    let (status, body) = app
        .post("/api/v1/events", None, json!({ "events": events }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    retail_server::app::events::flush(&app.state).await.unwrap();
    (
        member,
        vec![
            "13700137021".into(),
            "13700137022".into(),
            "Zed Exportname".into(),
        ],
    )
}

fn files_of(root: &Path, day: &str) -> BTreeMap<&'static str, Vec<u8>> {
    DATASETS
        .iter()
        .map(|ds| {
            let path = root
                .join(ds)
                .join(format!("dt={day}"))
                .join("part-0.parquet");
            (
                *ds,
                std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
            )
        })
        .collect()
}

fn succeeded(run: &ExportRun) {
    assert_eq!(run.status, "succeeded", "{run:?}");
    assert!(run.manifest_sha256.is_some(), "{run:?}");
}

async fn a_day_exports_to_parquet_that_pyarrow_reads_back(app: TestApp) {
    if !pyarrow_available() {
        return;
    }
    let (member, secrets) = business_of_today(&app).await;
    let day = today();
    let day_s = day.format("%Y-%m-%d").to_string();
    // 2,500 more events in today's first hours: with pages of 1,000 rows the events file is
    // read in several keyset pages and written as several row groups.
    let (from, _) = export_app::day_range(day);
    let mut tx = app.state.store.begin().await.unwrap();
    sqlx::query(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 2499) \
         INSERT INTO events (event_id, name, source, schema_version, occurred_at, received_at, \
         device_id, member_id, store_id, channel, page, props) \
         SELECT 'seeded-' || CAST(i AS TEXT), 'page_view', 'client', 1, {from} + i % 1000, \
         {from} + i, NULL, NULL, NULL, 'online', '/', '{{}}' FROM n"
    ))
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let run = export_app::export_day(&app.state, day, Origin::Cli, "test")
        .await
        .unwrap();
    succeeded(&run);
    let root = PathBuf::from(&run.destination);
    assert_eq!(root, app.state.settings.data_dir.join("export"));

    // The manifest lists every file with its rows, size and SHA-256.
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(root.join(format!("manifests/dt={day_s}/manifest.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["schema_version"], json!(1));
    assert_eq!(manifest["day"], json!(day_s));
    let first = files_of(&root, &day_s);
    let listed = manifest["datasets"].as_array().unwrap();
    assert_eq!(listed.len(), DATASETS.len());
    for entry in listed {
        let name = entry["name"].as_str().unwrap();
        let bytes = &first[name];
        assert_eq!(
            entry["path"],
            json!(format!("{name}/dt={day_s}/part-0.parquet"))
        );
        assert_eq!(entry["bytes"], json!(bytes.len()));
        assert_eq!(entry["sha256"], json!(hex::encode(Sha256::digest(bytes))));
    }

    // pyarrow reads what the database holds.
    let read = read_with_pyarrow(&root, &day_s);
    let range = export_app::day_range(day);
    let rows_of = |ds: &str| read[ds]["rows"].as_i64().unwrap();
    let sum_of = |ds: &str, col: &str| read[ds]["sums"][col].as_i64().unwrap();
    for entry in listed {
        let name = entry["name"].as_str().unwrap();
        assert_eq!(entry["rows"].as_i64().unwrap(), rows_of(name), "{name}");
        assert_eq!(read[name]["schema_version"], json!("1"), "{name}");
    }
    let q = |sql: &'static str| scalar(&app, sql, range);
    assert_eq!(
        rows_of("orders"),
        q("SELECT COUNT(*) FROM orders WHERE created_at >= $1 AND created_at < $2").await
    );
    assert!(rows_of("orders") >= 2, "{read}");
    assert_eq!(
        sum_of("orders", "total_fen"),
        q(
            "SELECT CAST(COALESCE(SUM(total_fen), 0) AS BIGINT) FROM orders \
           WHERE created_at >= $1 AND created_at < $2"
        )
        .await
    );
    assert_eq!(
        rows_of("order_lines"),
        q(
            "SELECT COUNT(*) FROM order_lines l JOIN orders o ON o.id = l.order_id \
           WHERE o.created_at >= $1 AND o.created_at < $2"
        )
        .await
    );
    assert_eq!(
        sum_of("order_lines", "qty"),
        q(
            "SELECT CAST(COALESCE(SUM(l.qty), 0) AS BIGINT) FROM order_lines l \
           JOIN orders o ON o.id = l.order_id WHERE o.created_at >= $1 AND o.created_at < $2"
        )
        .await
    );
    assert!(rows_of("lane_sales") >= 2, "{read}");
    assert_eq!(
        sum_of("lane_sales", "amount_fen"),
        q(
            "SELECT CAST(COALESCE(SUM(l.amount_fen), 0) AS BIGINT) FROM order_lines l \
           JOIN orders o ON o.id = l.order_id \
           WHERE o.channel = 'pos' AND o.created_at >= $1 AND o.created_at < $2"
        )
        .await
    );
    assert_eq!(
        sum_of("lane_sales", "qty"),
        q(
            "SELECT CAST(COALESCE(SUM(l.qty), 0) AS BIGINT) FROM order_lines l \
           JOIN orders o ON o.id = l.order_id \
           WHERE o.channel = 'pos' AND o.created_at >= $1 AND o.created_at < $2"
        )
        .await
    );
    assert_eq!(
        rows_of("events"),
        q("SELECT COUNT(*) FROM events WHERE occurred_at >= $1 AND occurred_at < $2").await
    );
    assert!(rows_of("events") >= 2_503, "{read}");
    let events_entry = listed.iter().find(|d| d["name"] == "events").unwrap();
    assert!(
        events_entry["row_groups"].as_i64().unwrap() >= 3,
        "{events_entry}"
    );
    assert_eq!(
        rows_of("stock_movements"),
        q("SELECT COUNT(*) FROM stock_movements WHERE created_at >= $1 AND created_at < $2").await
    );
    assert_eq!(
        sum_of("stock_movements", "on_hand_delta"),
        q(
            "SELECT CAST(COALESCE(SUM(on_hand_delta), 0) AS BIGINT) FROM stock_movements \
           WHERE created_at >= $1 AND created_at < $2"
        )
        .await
    );
    assert_eq!(
        rows_of("members"),
        q("SELECT COUNT(*) FROM members WHERE created_at >= $1 AND created_at < $2").await
    );
    assert_eq!(
        read["orders"]["types"]["created_at"],
        json!("timestamp[ms, tz=UTC]")
    );

    // No phone, no name, no raw member id: the member is its pseudonym.
    let pseudonym = app
        .state
        .keys
        .pseudonymiser(&app.state.settings.export.pseudonym_key)
        .unwrap()
        .of(&member);
    let mut saw_pseudonym = false;
    for ds in DATASETS {
        for s in read[ds]["strings"].as_array().unwrap() {
            let s = s.as_str().unwrap();
            for secret in &secrets {
                assert!(!s.contains(secret.as_str()), "{ds} shows {secret}: {s}");
            }
            assert!(!s.contains(&member), "{ds} shows the member id: {s}");
            saw_pseudonym |= s == pseudonym;
        }
    }
    assert!(saw_pseudonym, "the lane sale's member is its pseudonym");

    // Again: the same bytes (the manifest alone has a new generated_at).
    let again = export_app::export_day(&app.state, day, Origin::Cli, "test")
        .await
        .unwrap();
    succeeded(&again);
    assert_eq!(
        files_of(&root, &day_s),
        first,
        "the files are byte-identical"
    );
    assert_eq!((again.rows, again.bytes), (run.rows, run.bytes));
    let runs = export_app::recent_runs(&app.state, 10).await.unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].id, again.id);
    assert!(!root
        .join("events")
        .join(format!("dt={day_s}"))
        .read_dir()
        .unwrap()
        .any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".tmp")));
}
crate::both_backends!(
    a_day_exports_to_parquet_that_pyarrow_reads_back,
    a_day_exports_to_parquet_that_pyarrow_reads_back,
    |s: &mut retail_server::config::Settings| s.export.rows_per_group = 1_000
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_bucket_receives_the_same_files() {
    use retail_server::storage::s3::S3Bucket;
    use retail_testkit::s3::S3Server;
    let Some(s3) = S3Server::start().await.unwrap() else {
        return;
    };
    let settings = s3.settings("retail-export-test");
    let app = TestApp::sqlite_with(|s| {
        s.export.destination = "s3".into();
        s.export.s3 = settings.clone();
        s.export.s3_prefix = "/chain/".into();
    })
    .await;
    let bucket = S3Bucket::from_settings(&settings, "export.s3", reqwest::Client::new()).unwrap();
    bucket.create_bucket().await.unwrap();
    business_of_today(&app).await;
    let day = today();
    let day_s = day.format("%Y-%m-%d").to_string();
    let run = export_app::export_day(&app.state, day, Origin::Console, "admin")
        .await
        .unwrap();
    succeeded(&run);
    assert_eq!(run.destination, "s3://retail-export-test/chain/");
    let manifest = bucket
        .get(&format!("chain/manifests/dt={day_s}/manifest.json"))
        .await
        .unwrap()
        .expect("the manifest is in the bucket");
    let manifest: Value = serde_json::from_slice(&manifest).unwrap();
    // Each object is what the manifest says; pyarrow reads them (when it is here).
    let local = tempfile::tempdir().unwrap();
    for entry in manifest["datasets"].as_array().unwrap() {
        let path = entry["path"].as_str().unwrap();
        let bytes = bucket
            .get(&format!("chain/{path}"))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{path} is in the bucket"));
        assert_eq!(entry["sha256"], json!(hex::encode(Sha256::digest(&bytes))));
        let file = local.path().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, &bytes).unwrap();
    }
    assert!(
        !app.state
            .settings
            .data_dir
            .join("tmp/export/orders")
            .join(format!("dt={day_s}"))
            .read_dir()
            .map(|mut d| d.next().is_some())
            .unwrap_or(false),
        "no local copy is left behind"
    );
    if pyarrow_available() {
        let read = read_with_pyarrow(local.path(), &day_s);
        let range = export_app::day_range(day);
        assert_eq!(
            read["orders"]["rows"].as_i64().unwrap(),
            scalar(
                &app,
                "SELECT COUNT(*) FROM orders WHERE created_at >= $1 AND created_at < $2",
                range
            )
            .await
        );
    }
}

/// Sends a tag file as head office (or `user`) to the import API.
async fn import(app: &TestApp, user: &str, name: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
    let token = app.login(user).await;
    let resp = app
        .client
        .post(format!(
            "{}/api/v1/member-tags/import?file_name={name}",
            app.url
        ))
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn tags_of(app: &TestApp, member: &str) -> Vec<(String, String)> {
    retail_server::storage::export::imported_tags_of_member(&app.state.store, member)
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.tag, t.value))
        .collect()
}

fn parquet_of(rows: &[(&str, &str, &str)]) -> Vec<u8> {
    use arrow_array::{ArrayRef, RecordBatch, StringArray};
    use std::sync::Arc;
    let column = |i: usize| -> ArrayRef {
        Arc::new(StringArray::from(
            rows.iter()
                .map(|r| match i {
                    0 => r.0,
                    1 => r.1,
                    _ => r.2,
                })
                .collect::<Vec<_>>(),
        ))
    };
    let batch = RecordBatch::try_from_iter([
        ("member", column(0)),
        ("tag", column(1)),
        ("value", column(2)),
    ])
    .unwrap();
    let mut out = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    out
}

async fn member_tags_import_with_a_report_of_rejected_rows(app: TestApp) {
    let admin = app.login("admin").await;
    let a = named_member(&app, &admin, "13700137031", "A").await;
    let b = named_member(&app, &admin, "13700137032", "B").await;
    let b_key = app
        .state
        .keys
        .pseudonymiser(&app.state.settings.export.pseudonym_key)
        .unwrap()
        .of(&b);
    let unknown = uuid::Uuid::now_v7();
    let long = "x".repeat(201);
    let csv = format!(
        "member,tag,value\n\
         {a},rfm.segment,champion\n\
         {b_key},churn_risk,0.82\n\
         {unknown},rfm.segment,lapsed\n\
         {a},Bad Tag,1\n\
         {a},note,{long}\n\
         {a},rfm.segment,again\n\
         {a},too,many,fields\n\
         ,rfm.segment,x\n\
         {b},rfm.segment,loyal\n"
    );
    let (status, report) = import(&app, "admin", "tags.csv", csv.clone().into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["format"], json!("csv"));
    assert_eq!(report["rows"], json!(9));
    assert_eq!(report["accepted"], json!(3));
    assert_eq!(report["changed"], json!(3));
    let rejected: Vec<(i64, String)> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_i64().unwrap(),
                r["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let lines: Vec<i64> = rejected.iter().map(|r| r.0).collect();
    assert_eq!(lines, vec![4, 5, 6, 7, 8, 9], "{rejected:?}");
    assert!(rejected[0].1.contains("unknown member"), "{rejected:?}");
    assert!(rejected[1].1.contains("bad tag name"), "{rejected:?}");
    assert!(rejected[2].1.contains("too long"), "{rejected:?}");
    assert!(rejected[3].1.contains("duplicate"), "{rejected:?}");
    assert!(rejected[3].1.contains("line 2"), "{rejected:?}");
    assert!(
        rejected[4].1.contains("member, tag and value"),
        "{rejected:?}"
    );
    assert!(rejected[5].1.contains("member is empty"), "{rejected:?}");
    assert_eq!(
        tags_of(&app, &a).await,
        vec![("rfm.segment".to_owned(), "champion".to_owned())]
    );
    assert_eq!(
        tags_of(&app, &b).await,
        vec![
            ("churn_risk".to_owned(), "0.82".to_owned()),
            ("rfm.segment".to_owned(), "loyal".to_owned()),
        ]
    );
    // An imported tag is a tag like the rule tags: segments built on it count its members.
    let churn = retail_server::app::segments::SegmentRules {
        all_of: vec!["churn_risk".into()],
        ..Default::default()
    };
    assert_eq!(
        retail_server::app::segments::count(&app.state, &churn, false)
            .await
            .unwrap(),
        1
    );
    let member_b = uuid::Uuid::parse_str(&b).unwrap();
    assert!(
        retail_server::storage::segments::tags(&app.state.store, Some(member_b))
            .await
            .unwrap()
            .iter()
            .any(|t| t.tag == "churn_risk" && t.source == "import"),
        "an imported tag shows among the member's tags"
    );

    // The same file again: the same report, nothing changed.
    let (status, again) = import(&app, "admin", "tags.csv", csv.into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["accepted"], json!(3));
    assert_eq!(again["changed"], json!(0));
    assert_eq!(again["batch_id"], report["batch_id"]);
    assert_eq!(tags_of(&app, &a).await.len(), 1);

    // A Parquet file of tags: one change, one unknown member.
    let file = parquet_of(&[
        (&a, "rfm.segment", "at_risk"),
        (&unknown.to_string(), "x", "y"),
    ]);
    let (status, report) = import(&app, "admin", "tags.parquet", file).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["format"], json!("parquet"));
    assert_eq!(report["accepted"], json!(1));
    assert_eq!(report["changed"], json!(1));
    assert_eq!(report["rejected"][0]["line"], json!(2));
    assert_eq!(
        tags_of(&app, &a).await,
        vec![("rfm.segment".to_owned(), "at_risk".to_owned())]
    );

    // A corrupt Parquet file is refused whole; nothing changes.
    let mut corrupt = parquet_of(&[(&a, "rfm.segment", "corrupt")]);
    let middle = corrupt.len() / 2;
    corrupt.truncate(middle);
    corrupt.extend_from_slice(b"PAR1");
    let (status, body) = import(&app, "admin", "bad.parquet", corrupt).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], json!("invalid_file"), "{body}");
    let (status, body) = import(&app, "admin", "bad.csv", b"id;tag\n1;2\n".to_vec()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        tags_of(&app, &a).await,
        vec![("rfm.segment".to_owned(), "at_risk".to_owned())]
    );

    // Only head office imports.
    let (status, _) = import(
        &app,
        "mgr.sh001",
        "tags.csv",
        b"member,tag,value\n".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
crate::both_backends!(
    member_tags_import_with_a_report_of_rejected_rows,
    member_tags_import_with_a_report_of_rejected_rows
);

/// The console's pages over HTTP: run now lists a run; a store manager is refused; the tag
/// upload form reports rejected rows.
async fn the_console_runs_an_export_and_imports_tags(app: TestApp) {
    let mut admin = crate::web::console(&app, "admin").await;
    let page = admin.get("/console/analytics/export").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("run-now"), "{}", page.body);
    let day = today().format("%Y-%m-%d").to_string();
    let done = admin
        .post_csrf("/console/analytics/export", &[("day", &day)])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let run = retail_testkit::eventually(
        "the console's export finished",
        std::time::Duration::from_secs(120),
        || async {
            export_app::recent_runs(&app.state, 5)
                .await
                .unwrap()
                .into_iter()
                .find(|r| r.status != "running")
        },
    )
    .await
    .unwrap();
    succeeded(&run);
    assert_eq!(run.trigger, "console");
    assert_eq!(run.requested_by, "admin");
    let page = admin.get("/console/analytics/export").await;
    assert!(
        page.body.contains(&format!("data-run=\"{}\"", run.id)),
        "{}",
        page.body
    );
    let bad = admin
        .post_csrf("/console/analytics/export", &[("day", "yesterday")])
        .await;
    assert!(
        bad.location.as_deref().unwrap_or("").contains("error=day"),
        "{:?}",
        bad.location
    );
    let mut manager = crate::web::console(&app, "mgr.sh001").await;
    assert_eq!(
        manager.get("/console/analytics/export").await.status,
        StatusCode::FORBIDDEN
    );
}
crate::both_backends!(
    the_console_runs_an_export_and_imports_tags,
    the_console_runs_an_export_and_imports_tags
);

/// In a real browser (SQLite): head office opens the export page, runs today's export and sees
/// it listed; uploads a tag file and reads the report of rejected rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_office_exports_and_imports_tags_in_a_browser() {
    use crate::browser::{
        browser, browser_available, click, console_login, start_driver, text_of, wait_for_text,
        Shots,
    };
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn(crate::support::Backend::Sqlite)
        .await
        .expect("app");
    let temp = tempfile::tempdir().unwrap();
    let shots = Shots::new(temp.path());
    let admin = app.login("admin").await;
    let member = named_member(&app, &admin, "13700137041", "C").await;
    let driver = start_driver().await;
    let client = browser(&driver, false).await;
    console_login(&client, &app, "admin").await;
    client
        .goto(&format!("{}/console/analytics/export", app.url))
        .await
        .unwrap();
    let day = today().format("%Y-%m-%d").to_string();
    client
        .execute(
            "document.querySelector('#day').value = arguments[0];",
            vec![json!(day)],
        )
        .await
        .unwrap();
    click(&client, "#run-now-submit").await;
    wait_for_text(&client, "#export-started", &day).await;
    for _ in 0..600 {
        client
            .goto(&format!("{}/console/analytics/export", app.url))
            .await
            .unwrap();
        if client
            .find(fantoccini::Locator::Css("tr[data-status='succeeded']"))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(text_of(&client, "#export-runs").await.contains(&day));
    client
        .find(fantoccini::Locator::Css("tr[data-status='succeeded']"))
        .await
        .expect("the run succeeded");
    shots.take(&client, "console-export-runs").await;

    let file = temp.path().join("tags.csv");
    std::fs::write(
        &file,
        format!("member,tag,value\n{member},rfm.segment,new\n{member},BAD,1\n"),
    )
    .unwrap();
    client
        .goto(&format!("{}/console/analytics/tag-import", app.url))
        .await
        .unwrap();
    let input = client
        .find(fantoccini::Locator::Css("#file"))
        .await
        .unwrap();
    input.send_keys(&file.display().to_string()).await.unwrap();
    click(&client, "#import-submit").await;
    wait_for_text(&client, "#import-report", "1").await;
    assert_eq!(text_of(&client, "#accepted").await, "1");
    assert!(text_of(&client, "#rejected").await.contains("3"));
    shots.take(&client, "console-tag-import-report").await;
    assert_eq!(
        tags_of(&app, &member).await,
        vec![("rfm.segment".to_owned(), "new".to_owned())]
    );
    client.close().await.unwrap();
}

/// The command line's `retail-server export` takes the same `export` job lease as the server's
/// instances: while one of them exports it is refused, saying so, and writes nothing; once the
/// lease is free it exports the day.
async fn the_command_line_export_waits_for_a_running_one(app: TestApp) {
    use retail_server::storage::{self, cluster::set_lease, cluster::take_lease};
    let store = &app.state.store;
    // The server's own schedule takes the lease for a moment now and then: wait for it.
    let mut taken = false;
    for _ in 0..100 {
        let now = storage::now_ms();
        if take_lease(store, "export", "web-2", now, now + 60_000)
            .await
            .unwrap()
        {
            taken = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(taken, "the export lease was never free");
    let args = ["--day".to_owned(), "2026-12-01".to_owned()];
    let err = retail_server::cli::export(&app.settings, &args)
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("export is running"), "{err:#}");
    let runs = storage::export::recent_runs(store, 50).await.unwrap();
    assert!(runs.iter().all(|r| r.day != "2026-12-01"), "nothing run");
    assert!(set_lease(store, "export", "web-2", 0).await.unwrap());
    let said = retail_server::cli::export(&app.settings, &args)
        .await
        .unwrap();
    assert!(said.starts_with("exported 2026-12-01"), "{said}");
}
crate::both_backends!(
    the_command_line_export_waits_for_a_running_one,
    the_command_line_export_waits_for_a_running_one
);
