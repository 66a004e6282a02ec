//! Authentication, roles, devices, and the operational endpoints.

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::support::TestApp;

async fn staff_login_and_roles(app: TestApp) {
    let (status, body) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": "admin", "password": "wrong"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");
    let (status, _) = app.get("/api/v1/auth/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.get("/api/v1/auth/me", Some("st_forged")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let admin = app.login("admin").await;
    let (status, me) = app.get("/api/v1/auth/me", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["role"], "head_office_admin");
    let cashier = app.login("cashier1.sh001").await;
    let (status, me) = app.get("/api/v1/auth/me", Some(&cashier)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (me["role"].as_str(), me["location_id"].as_str()),
        (Some("cashier"), Some("SH001"))
    );
    // Cashiers cannot read the audit log or register devices.
    let (status, _) = app.get("/api/v1/audit", Some(&cashier)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .post(
            "/api/v1/devices",
            Some(&cashier),
            json!({"id": Uuid::now_v7(), "location_id": "SH001", "kind": "pos", "name": "Lane 9"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Logout ends the session.
    let (status, _) = app
        .post("/api/v1/auth/logout", Some(&cashier), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get("/api/v1/auth/me", Some(&cashier)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
crate::both_backends!(staff_login_and_roles, staff_login_and_roles);

async fn login_is_rate_limited(app: TestApp) {
    let mut last = StatusCode::OK;
    for _ in 0..12 {
        let (status, _) = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({"username": "mgr.sh002", "password": "nope"}),
            )
            .await;
        last = status;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}
crate::both_backends!(login_is_rate_limited, login_is_rate_limited);

async fn devices_are_bound_to_a_store_and_revocable(app: TestApp) {
    let manager = app.login("mgr.sh001").await;
    let id = Uuid::now_v7();
    let request = json!({"id": id, "location_id": "SH001", "kind": "pos", "name": "Lane 1"});
    let (status, body) = app
        .post("/api/v1/devices", Some(&manager), request.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let credential = body["credential"].as_str().unwrap().to_owned();
    assert!(credential.starts_with("dv_"));
    // A retry does not show the credential again.
    let (status, body) = app.post("/api/v1/devices", Some(&manager), request).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["credential"].is_null());
    // Another store's manager cannot register there or revoke it.
    let other = app.login("mgr.sh002").await;
    let (status, _) = app
        .post(
            "/api/v1/devices",
            Some(&other),
            json!({"id": Uuid::now_v7(), "location_id": "SH001", "kind": "pos", "name": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .post(
            &format!("/api/v1/devices/{id}/revoke"),
            Some(&other),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, me) = app.get("/api/v1/devices/me", Some(&credential)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["location_id"], "SH001");
    // Revoked: refused at once, with a clear message; the revocation is audited.
    let (status, _) = app
        .post(
            &format!("/api/v1/devices/{id}/revoke"),
            Some(&manager),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.get("/api/v1/devices/me", Some(&credential)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("revoked"));
    let admin = app.login("admin").await;
    let (_, audit) = app
        .get(&format!("/api/v1/audit?entity_id={id}"), Some(&admin))
        .await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"device.revoke") && actions.contains(&"device.register"),
        "{audit}"
    );
    // Bad input: not a store, bad id.
    let (status, _) = app
        .post(
            "/api/v1/devices",
            Some(&admin),
            json!({"id": Uuid::now_v7(), "location_id": "WH01", "kind": "pos", "name": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .post("/api/v1/devices", Some(&admin), json!({"id": Uuid::from_u128(0x1234_5678_9abc_4def_8123_4567_89ab_cdef), "location_id": "SH001", "kind": "pos", "name": "x"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}
crate::both_backends!(
    devices_are_bound_to_a_store_and_revocable,
    devices_are_bound_to_a_store_and_revocable
);

async fn operational_endpoints(app: TestApp) {
    let (status, body) = app.get("/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    let (status, doc) = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let paths = doc["paths"].as_object().expect("paths");
    for path in [
        "/api/v1/auth/login",
        "/api/v1/orders",
        "/api/v1/payments/notify",
        "/api/v1/devices",
    ] {
        assert!(paths.contains_key(path), "OpenAPI lacks {path}");
    }
    let metrics = app
        .client
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("http_requests_total"), "{metrics}");
    let (status, body) = app.get("/api/v1/no-such-thing", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, locations) = app.get("/api/v1/locations", None).await;
    assert_eq!(status, StatusCode::OK);
    let stores = locations
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["kind"] == "store")
        .count();
    assert!(stores >= 3);
}
crate::both_backends!(operational_endpoints, operational_endpoints);

async fn head_office_manages_locations(app: TestApp) {
    let admin = app.login("admin").await;
    let store = json!({"id": "SZ001", "kind": "store", "name_zh": "深圳南山店", "name_en": "Shenzhen Nanshan", "city": "深圳", "address": "南山区科技园"});
    let (status, body) = app
        .post("/api/v1/locations", Some(&admin), store.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, all) = app.get("/api/v1/locations", None).await;
    assert!(all.as_array().unwrap().iter().any(|l| l["id"] == "SZ001"));
    let manager = app.login("mgr.sh001").await;
    let (status, _) = app
        .post("/api/v1/locations", Some(&manager), store.clone())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.post("/api/v1/locations", Some(&admin), json!({"id": "bad code", "kind": "store", "name_zh": "x", "name_en": "x", "city": "", "address": ""})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app.post("/api/v1/locations", Some(&admin), json!({"id": "SZ001", "kind": "warehouse", "name_zh": "x", "name_en": "x", "city": "", "address": ""})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, audit) = app.get("/api/v1/audit?entity_id=SZ001", Some(&admin)).await;
    assert_eq!(audit.as_array().unwrap().len(), 1, "{audit}");
}
crate::both_backends!(head_office_manages_locations, head_office_manages_locations);
