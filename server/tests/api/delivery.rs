//! Delivery that can be fulfilled (issue 16): saved addresses sealed at rest and masked,
//! delivery regions with their fees in the order's total, an address outside every region
//! refused, fulfilment from the nearest same-city store, shipping with a waybill (refused
//! before payment), tracking from staff and from the carrier's signed webhook, batch shipping
//! by CSV (all or nothing).

use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use retail_server::storage::delivery::Address;
use serde_json::{json, Value};
use sha2::Sha256;
use uuid::Uuid;

use crate::support::TestApp;

const SECRET: &str = "carrier-webhook-secret";

/// A SKU with more than `min` available at `location`, and how many.
async fn stocked(app: &TestApp, location: &str, min: i64) -> (Uuid, i64) {
    let admin = app.login("admin").await;
    let (status, body) = app
        .get(
            &format!("/api/v1/stock?location_id={location}&limit=50"),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rows = body
        .get("items")
        .unwrap_or(&body)
        .as_array()
        .unwrap()
        .clone();
    let row = rows
        .iter()
        .find(|r| r["available"].as_i64().unwrap_or(0) > min)
        .expect("a stocked SKU");
    (
        row["sku_id"].as_str().unwrap().parse().unwrap(),
        row["available"].as_i64().unwrap(),
    )
}

async fn available(app: &TestApp, location: &str, sku: Uuid) -> i64 {
    let admin = app.login("admin").await;
    let (_, body) = app
        .get(
            &format!("/api/v1/stock?location_id={location}&limit=500"),
            Some(&admin),
        )
        .await;
    body.get("items")
        .unwrap_or(&body)
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["sku_id"] == sku.to_string())
        .and_then(|r| r["available"].as_i64())
        .unwrap_or(0)
}

fn address(province: &str, city: &str, street: &str) -> Value {
    json!({"name": "王五", "phone": "13900001111", "province": province, "city": city, "address": street})
}

fn delivery_order(sku: Uuid, qty: i64, address: Value) -> Value {
    json!({"id": Uuid::now_v7(), "fulfilment": "delivery", "address": address,
        "lines": [{"sku_id": sku, "qty": qty}]})
}

/// Pays an order through the sandbox provider, as a shopper would.
async fn pay(app: &TestApp, order_id: &str) {
    let (status, intent) = app
        .post(
            &format!("/api/v1/orders/{order_id}/payments"),
            None,
            json!({"id": Uuid::now_v7()}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{intent}");
    let page = app
        .client
        .post(intent["pay_url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("支付成功"), "{page}");
}

/// Shipping fees by region, part of the total, quoted as placed; an address in no region is
/// refused with a clear error and nothing reserved.
async fn fees_by_region_and_outside_the_area(app: TestApp) {
    let admin = app.login("admin").await;
    let (sku, _) = stocked(&app, "WH01", 5).await;
    let region = Uuid::now_v7();
    let (status, body) = app
        .post(
            "/api/v1/delivery/regions",
            Some(&admin),
            json!({"id": region, "province": "广东省", "city": "深圳市", "warehouse_id": "WH01",
                "fee_fen": 1200, "free_over_fen": 100_000_000}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let saved = body
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == region.to_string())
        .expect("region saved")
        .clone();
    assert_eq!(
        (saved["province"].as_str(), saved["city"].as_str()),
        (Some("广东"), Some("深圳"))
    );
    // A store manager may not, and bad regions are refused.
    let mgr = app.login("mgr.sh001").await;
    let (status, _) = app
        .post(
            "/api/v1/delivery/regions",
            Some(&mgr),
            json!({"id": Uuid::now_v7(), "province": "福建", "warehouse_id": "WH01", "fee_fen": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for bad in [
        json!({"id": Uuid::now_v7(), "province": "", "warehouse_id": "WH01", "fee_fen": 1}),
        json!({"id": Uuid::now_v7(), "province": "福建", "warehouse_id": "NOPE", "fee_fen": 1}),
        json!({"id": Uuid::now_v7(), "province": "福建", "warehouse_id": "WH01", "fee_fen": -1}),
    ] {
        let (status, body) = app
            .post("/api/v1/delivery/regions", Some(&admin), bad)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }

    // The quote names the fee; the order's total is the quote's.
    let to = address("广东", "深圳", "南山区科技园路 1 号");
    let (status, quote) = app
        .post(
            "/api/v1/delivery/quote",
            None,
            json!({"address": to, "lines": [{"sku_id": sku, "qty": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{quote}");
    assert_eq!(quote["shipping_fen"], 1200);
    assert_eq!(quote["location_id"], "WH01");
    assert_eq!(quote["same_city"], false);
    let due = quote["basket"]["amount_due"]
        .as_str()
        .unwrap()
        .replace('.', "");
    let due: i64 = due.parse().unwrap();
    assert_eq!(quote["total_fen"].as_i64().unwrap(), due + 1200);
    let slot = quote["slots"][0].as_str().unwrap().to_owned();
    let mut order = delivery_order(sku, 1, to.clone());
    order["slot"] = json!(slot);
    let (status, placed) = app.post("/api/v1/orders", None, order).await;
    assert_eq!(status, StatusCode::OK, "{placed}");
    let total = placed["total"].as_str().unwrap().replace('.', "");
    assert_eq!(total.parse::<i64>().unwrap(), due + 1200);
    let id: Uuid = placed["id"].as_str().unwrap().parse().unwrap();
    let delivery = retail_server::storage::delivery::order_delivery(&app.state.store, id)
        .await
        .unwrap()
        .expect("delivery kept");
    assert_eq!(
        (delivery.shipping_fen, delivery.slot.as_str()),
        (1200, slot.as_str())
    );

    // Free from the threshold: the same region with a threshold of ¥0.01.
    let (status, _) = app
        .post(
            "/api/v1/delivery/regions",
            Some(&admin),
            json!({"id": region, "province": "广东", "city": "深圳", "warehouse_id": "WH01",
                "fee_fen": 1200, "free_over_fen": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, quote) = app
        .post(
            "/api/v1/delivery/quote",
            None,
            json!({"address": to, "lines": [{"sku_id": sku, "qty": 1}]}),
        )
        .await;
    assert_eq!(quote["shipping_fen"], 0, "{quote}");

    // Outside every region: 422 outside_delivery_area, nothing reserved.
    let before = available(&app, "WH01", sku).await;
    let beijing = address("北京", "北京", "朝阳区建国路 1 号");
    let (status, body) = app
        .post(
            "/api/v1/delivery/quote",
            None,
            json!({"address": beijing, "lines": [{"sku_id": sku, "qty": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "outside_delivery_area");
    let (status, body) = app
        .post("/api/v1/orders", None, delivery_order(sku, 1, beijing))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "outside_delivery_area");
    assert!(body["error"]["fields"]["address"].is_string(), "{body}");
    // A bad slot is refused too.
    let mut order = delivery_order(sku, 1, to);
    order["slot"] = json!("2000-01-01 09:00-12:00");
    let (status, body) = app.post("/api/v1/orders", None, order).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(available(&app, "WH01", sku).await, before);
}
crate::both_backends!(
    fees_by_region_and_outside_the_area,
    fees_by_region_and_outside_the_area
);

/// An address with coordinates near a store of its city that has the items ships from that
/// store, the same day; one far away ships from the region's warehouse.
async fn same_city_delivery_from_the_nearest_store(app: TestApp) {
    let (sku, _) = stocked(&app, "SH002", 2).await;
    let near_sh002 = {
        let mut a = address("上海", "上海", "徐汇区漕溪北路 400 号");
        a["lat_e6"] = json!(31_195_000);
        a["lng_e6"] = json!(121_438_000);
        a
    };
    let (status, quote) = app
        .post(
            "/api/v1/delivery/quote",
            None,
            json!({"address": near_sh002, "lines": [{"sku_id": sku, "qty": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{quote}");
    assert_eq!(quote["location_id"], "SH002", "{quote}");
    assert_eq!(quote["same_city"], true);
    let (status, placed) = app
        .post("/api/v1/orders", None, delivery_order(sku, 1, near_sh002))
        .await;
    assert_eq!(status, StatusCode::OK, "{placed}");
    let (_, order) = app
        .get(
            &format!("/api/v1/orders/{}", placed["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(order["location_id"], "SH002", "{order}");
    // Far from every store (Chongming island, ~50 km): the warehouse.
    let mut far = address("上海", "上海", "崇明区城桥镇 1 号");
    far["lat_e6"] = json!(31_623_000);
    far["lng_e6"] = json!(121_397_000);
    let (_, quote) = app
        .post(
            "/api/v1/delivery/quote",
            None,
            json!({"address": far, "lines": [{"sku_id": sku, "qty": 1}]}),
        )
        .await;
    assert_eq!(quote["location_id"], "WH01", "{quote}");
    assert_eq!(quote["same_city"], false);
}
crate::both_backends!(
    same_city_delivery_from_the_nearest_store,
    same_city_delivery_from_the_nearest_store
);

fn signed(body: &str, secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

async fn webhook(app: &TestApp, body: &str, signature: &str) -> (StatusCode, Value) {
    let resp = app
        .client
        .post(format!("{}/api/v1/carriers/tracking", app.url))
        .header("content-type", "application/json")
        .header("x-carrier-signature", signature)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A waybill before payment is refused; after it the order ships with its waybill (once); the
/// full address is shown to the staff allowed to ship it only, and the reading is audited;
/// tracking from staff and the carrier's webhook (a bad signature: 401, nothing recorded).
async fn waybill_tracking_and_the_carrier_webhook(app: TestApp) {
    let admin = app.login("admin").await;
    let (sku, _) = stocked(&app, "WH01", 5).await;
    let to = address("上海", "", "浦东新区世纪大道 100 号");
    let (_, placed) = app
        .post("/api/v1/orders", None, delivery_order(sku, 2, to.clone()))
        .await;
    let id = placed["id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .post(
            &format!("/api/v1/orders/{id}/waybill"),
            Some(&admin),
            json!({"carrier": "SF", "waybill": "SF100000001"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "not_paid");
    let (_, order) = app.get(&format!("/api/v1/orders/{id}"), None).await;
    assert_eq!(order["status"], "pending_payment");
    pay(&app, &id).await;

    // The full address for head office, audited; a store manager elsewhere may not see it.
    let (status, view) = app
        .get(&format!("/api/v1/orders/{id}/delivery"), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["address"]["name"], "王五");
    assert_eq!(view["address"]["phone"], "13900001111");
    let (_, audit) = app
        .get(&format!("/api/v1/audit?entity_id={id}"), Some(&admin))
        .await;
    let audit = audit.get("items").unwrap_or(&audit).to_string();
    assert!(audit.contains("delivery.address_read"), "{audit}");
    let mgr = app.login("mgr.sh001").await;
    let (status, _) = app
        .get(&format!("/api/v1/orders/{id}/delivery"), Some(&mgr))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Tracking before shipping: refused.
    let event = json!({"event_id": Uuid::now_v7().to_string(), "status": "in_transit"});
    let (status, _) = app
        .post(
            &format!("/api/v1/orders/{id}/tracking"),
            Some(&admin),
            event,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Ship with the waybill; again is the same answer.
    let waybill = json!({"carrier": "SF", "waybill": "SF100000001"});
    let (status, shipped) = app
        .post(
            &format!("/api/v1/orders/{id}/waybill"),
            Some(&admin),
            waybill.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{shipped}");
    assert_eq!(shipped["status"], "shipped");
    let (status, again) = app
        .post(
            &format!("/api/v1/orders/{id}/waybill"),
            Some(&admin),
            waybill.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    // Another paid order cannot take the same waybill.
    let (_, other) = app
        .post("/api/v1/orders", None, delivery_order(sku, 1, to))
        .await;
    let other_id = other["id"].as_str().unwrap().to_owned();
    pay(&app, &other_id).await;
    let (status, body) = app
        .post(
            &format!("/api/v1/orders/{other_id}/waybill"),
            Some(&admin),
            waybill,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "waybill_in_use");
    let (_, other) = app.get(&format!("/api/v1/orders/{other_id}"), None).await;
    assert_eq!(other["status"], "paid", "nothing changed");

    // Staff tracking, once by its id.
    let event = json!({"event_id": Uuid::now_v7().to_string(), "status": "picked_up",
        "description": "快递员已揽收", "location": "上海嘉定"});
    for recorded in [true, false] {
        let (status, body) = app
            .post(
                &format!("/api/v1/orders/{id}/tracking"),
                Some(&admin),
                event.clone(),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["recorded"], recorded);
    }
    let (status, _) = app
        .post(
            &format!("/api/v1/orders/{id}/tracking"),
            Some(&admin),
            json!({"event_id": "x", "status": "teleported"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // The carrier's webhook: a bad or missing signature is 401 and records nothing.
    let body = json!({"carrier": "SF", "waybill": "SF100000001",
        "event": {"event_id": "sf-evt-1", "status": "out_for_delivery", "description": "派送中", "location": "浦东"}})
    .to_string();
    for bad in [
        "",
        "00",
        &signed(&body, "wrong-secret"),
        &signed("{}", SECRET),
    ] {
        let (status, answer) = webhook(&app, &body, bad).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    }
    let (_, view) = app
        .get(&format!("/api/v1/orders/{id}/delivery"), Some(&admin))
        .await;
    assert_eq!(view["tracking"].as_array().unwrap().len(), 1, "{view}");
    let (status, answer) = webhook(&app, &body, &signed(&body, SECRET)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["recorded"], true);
    let (_, answer) = webhook(&app, &body, &signed(&body, SECRET)).await;
    assert_eq!(answer["recorded"], false, "a resend is kept once");
    let unknown = body.replace("SF100000001", "SF999");
    let (status, _) = webhook(&app, &unknown, &signed(&unknown, SECRET)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, view) = app
        .get(&format!("/api/v1/orders/{id}/delivery"), Some(&admin))
        .await;
    let statuses: Vec<&str> = view["tracking"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["picked_up", "out_for_delivery"]);
    assert_eq!(view["delivery"]["waybill"], "SF100000001");
}
crate::both_backends!(
    waybill_tracking_and_the_carrier_webhook,
    waybill_tracking_and_the_carrier_webhook,
    |s: &mut retail_server::config::Settings| s.delivery.carrier_webhook_secret =
        super::SECRET.into()
);

async fn ship_csv(app: &TestApp, token: &str, csv: String) -> (StatusCode, Value) {
    let resp = app
        .client
        .post(format!("{}/api/v1/delivery/shipments", app.url))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap())
}

/// Batch shipping by CSV: a file with a bad line (an unpaid order) ships nothing; the good
/// file ships every order.
async fn batch_shipping_is_all_or_nothing(app: TestApp) {
    let admin = app.login("admin").await;
    let (sku, _) = stocked(&app, "WH01", 5).await;
    let to = address("浙江", "杭州", "西湖区文三路 100 号");
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (_, placed) = app
            .post("/api/v1/orders", None, delivery_order(sku, 1, to.clone()))
            .await;
        ids.push(placed["id"].as_str().unwrap().to_owned());
    }
    pay(&app, &ids[0]).await;
    pay(&app, &ids[1]).await;
    let bad = format!(
        "order_id,carrier,waybill\n{},YTO,YT001\n{},YTO,YT002\n{},YTO,YT003\n",
        ids[0], ids[1], ids[2]
    );
    let (status, body) = ship_csv(&app, &admin, bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["line"], 4, "{body}");
    assert!(body["shipped"].as_array().unwrap().is_empty());
    for id in &ids[..2] {
        let (_, o) = app.get(&format!("/api/v1/orders/{id}"), None).await;
        assert_eq!(o["status"], "paid", "nothing shipped");
    }
    let good = format!(
        "\u{feff}order_id,carrier,waybill\n{},YTO,YT001\n{},YTO,YT002\n",
        ids[0], ids[1]
    );
    let (status, body) = ship_csv(&app, &admin, good.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["shipped"].as_array().unwrap().len(), 2);
    for id in &ids[..2] {
        let (_, o) = app.get(&format!("/api/v1/orders/{id}"), None).await;
        assert_eq!(o["status"], "shipped");
    }
    // The same file again: nothing more to do.
    let (status, body) = ship_csv(&app, &admin, good).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["shipped"].as_array().unwrap().is_empty());
}
crate::both_backends!(
    batch_shipping_is_all_or_nothing,
    batch_shipping_is_all_or_nothing
);

/// Saved addresses are sealed at rest (nothing of them in clear), listed back opened for the
/// member, masked for lists; the first is the default, deleting it makes the next the default;
/// another member cannot touch them.
async fn saved_addresses_are_sealed(app: TestApp) {
    let state = &app.state;
    let member = Uuid::now_v7();
    retail_server::storage::members::register(
        &state.store,
        &state.keys,
        &state.settings.points,
        member,
        "13700007777",
        "",
    )
    .await
    .unwrap();
    let home = Address {
        name: "赵六".into(),
        phone: "13700007777".into(),
        province: "上海".into(),
        city: "上海".into(),
        address: "静安区南京西路 1000 号 12 楼".into(),
        ..Address::default()
    };
    let office = Address {
        address: "黄浦区中山东一路 1 号".into(),
        ..home.clone()
    };
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    use retail_server::app::delivery::{delete_address, save_address};
    save_address(state, member, a, &home, false).await.unwrap();
    save_address(state, member, b, &office, false)
        .await
        .unwrap();
    save_address(state, member, b, &office, false)
        .await
        .unwrap();
    let bad = Address {
        phone: "123".into(),
        ..home.clone()
    };
    assert!(save_address(state, member, Uuid::now_v7(), &bad, false)
        .await
        .is_err());
    let list = retail_server::storage::delivery::addresses(&state.store, &state.keys, member)
        .await
        .unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!((list[0].id, list[0].is_default), (a, true));
    assert_eq!(list[1].address, office);
    assert!(list[0].address.masked().contains("137****7777"));
    // At rest: sealed, no trace of the street or phone.
    let mut tx = state.store.begin().await.unwrap();
    let row = sqlx::query("SELECT address_enc FROM member_addresses WHERE id = $1")
        .bind(a.to_string())
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    let sealed: String = sqlx::Row::get(&row, 0);
    drop(tx);
    assert!(sealed.starts_with("v2."), "{sealed}");
    assert!(!sealed.contains("南京西路") && !sealed.contains("13700007777"));
    // Another member can neither overwrite nor delete it.
    let other = Uuid::now_v7();
    assert!(save_address(state, other, a, &office, false).await.is_err());
    delete_address(state, other, a).await.unwrap();
    let list = retail_server::storage::delivery::addresses(&state.store, &state.keys, member)
        .await
        .unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].address, home, "unchanged");
    // Deleting the default makes the other one the default.
    delete_address(state, member, a).await.unwrap();
    let list = retail_server::storage::delivery::addresses(&state.store, &state.keys, member)
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!((list[0].id, list[0].is_default), (b, true));
}
crate::both_backends!(saved_addresses_are_sealed, saved_addresses_are_sealed);

/// A member registered with `phone`, and a fresh member code (MC1) of theirs.
async fn member_with_code(app: &TestApp, phone: &str) -> (Uuid, String) {
    let state = &app.state;
    let member = Uuid::now_v7();
    retail_server::storage::members::register(
        &state.store,
        &state.keys,
        &state.settings.points,
        member,
        phone,
        "",
    )
    .await
    .unwrap();
    let code = app.sign(&retail_domain::codes::SignedCode::Member(
        retail_server::storage::members::member_code(member, chrono::Utc::now(), 300),
    ));
    (member, code)
}

/// `GET /api/v1/members/me/addresses` with `X-Member-Code: code` (none when `None`).
async fn my_addresses(app: &TestApp, code: Option<&str>) -> (StatusCode, Value) {
    let mut request = app
        .client
        .get(format!("{}/api/v1/members/me/addresses", app.url));
    if let Some(code) = code {
        request = request.header("X-Member-Code", code);
    }
    let resp = request.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// An API client lists the member's saved addresses, masked exactly as the shop shows them
/// (default first; a bad or missing member code is 401), and places a delivery order with one
/// by `address_id`: the region's fee is charged, the staff's full-address reading shows the
/// saved address, a retry answers the first order. Another member's address id, both `address`
/// and `address_id`, or `address_id` without a member code: 422 on `address_id`, no order, no
/// stock taken.
async fn orders_go_to_a_saved_address(app: TestApp) {
    let admin = app.login("admin").await;
    let (sku, _) = stocked(&app, "WH01", 5).await;
    let (status, body) = app
        .post(
            "/api/v1/delivery/regions",
            Some(&admin),
            json!({"id": Uuid::now_v7(), "province": "福建", "city": "厦门", "warehouse_id": "WH01",
                "fee_fen": 1500, "free_over_fen": 100_000_000}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (member, code) = member_with_code(&app, "13700160041").await;
    let (other, other_code) = member_with_code(&app, "13700160042").await;
    let home = Address {
        name: "林七".into(),
        phone: "13700160041".into(),
        province: "福建".into(),
        city: "厦门".into(),
        address: "思明区鹭江道 8 号 2 楼".into(),
        ..Address::default()
    };
    let office = Address {
        address: "湖里区海天路 100 号".into(),
        ..home.clone()
    };
    let (home_id, office_id, others_id) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    use retail_server::app::delivery::save_address;
    save_address(&app.state, member, home_id, &home, false)
        .await
        .unwrap();
    save_address(&app.state, member, office_id, &office, true)
        .await
        .unwrap();
    save_address(&app.state, other, others_id, &office, false)
        .await
        .unwrap();

    // Listed masked, as the shop lists them, the default first.
    let (status, listed) = my_addresses(&app, Some(&code)).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(
        listed,
        json!([
            {"id": office_id, "masked": office.masked(), "is_default": true},
            {"id": home_id, "masked": home.masked(), "is_default": false},
        ])
    );
    let text = listed.to_string();
    assert!(text.contains("137****0041"), "{text}");
    assert!(
        !text.contains("13700160041") && !text.contains("鹭江道 8 号"),
        "nothing in full: {text}"
    );
    // The shop's page lists the very same text.
    let mut shop = crate::web::shopper(&app, "13700160041").await;
    let page = shop.get("/me/addresses").await;
    assert!(page.body.contains(&home.masked()), "{}", page.body);
    let expired = app.sign(&retail_domain::codes::SignedCode::Member(
        retail_domain::codes::MemberCode {
            member_id: member,
            expires_at: chrono::Utc::now() - chrono::Duration::seconds(5),
        },
    ));
    for bad in [None, Some("MC1.forged"), Some(expired.as_str())] {
        let (status, body) = my_addresses(&app, bad).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad:?}: {body}");
    }
    let (_, theirs) = my_addresses(&app, Some(&other_code)).await;
    assert_eq!(theirs.as_array().map(Vec::len), Some(1), "{theirs}");

    // Refused on address_id, nothing placed or reserved.
    let orders_before = order_count(&app).await;
    let stock_before = available(&app, "WH01", sku).await;
    let order = |fields: Value| {
        let mut order = json!({"id": Uuid::now_v7(), "fulfilment": "delivery",
            "lines": [{"sku_id": sku, "qty": 1}]});
        for (k, v) in fields.as_object().unwrap() {
            order[k] = v.clone();
        }
        order
    };
    for (bad, code_expected) in [
        // Another member's address.
        (
            order(json!({"address_id": others_id, "member_code": code})),
            "unknown_address",
        ),
        // Their own address, with another member's code.
        (
            order(json!({"address_id": home_id, "member_code": other_code})),
            "unknown_address",
        ),
        // No such address.
        (
            order(json!({"address_id": Uuid::now_v7(), "member_code": code})),
            "unknown_address",
        ),
        // Both.
        (
            order(json!({"address_id": home_id, "member_code": code,
                "address": address("福建", "厦门", "思明区鹭江道 8 号")})),
            "validation_failed",
        ),
        // No member code.
        (order(json!({"address_id": home_id})), "validation_failed"),
    ] {
        let (status, body) = app.post("/api/v1/orders", None, bad.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert_eq!(body["error"]["code"], code_expected, "{bad}: {body}");
        assert!(
            body["error"]["fields"]["address_id"].is_string(),
            "{bad}: {body}"
        );
    }
    assert_eq!(order_count(&app).await, orders_before);
    assert_eq!(available(&app, "WH01", sku).await, stock_before);

    // Placed to the saved address: the region's fee, as quoted for that address.
    let (status, quote) = app
        .post(
            "/api/v1/delivery/quote",
            None,
            json!({"address": home, "member_code": code, "lines": [{"sku_id": sku, "qty": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{quote}");
    assert_eq!(quote["shipping_fen"], 1500, "{quote}");
    let placing = order(json!({"address_id": home_id, "member_code": code}));
    let (status, placed) = app.post("/api/v1/orders", None, placing.clone()).await;
    assert_eq!(status, StatusCode::OK, "{placed}");
    let total: i64 = placed["total"]
        .as_str()
        .unwrap()
        .replace('.', "")
        .parse()
        .unwrap();
    assert_eq!(total, quote["total_fen"].as_i64().unwrap(), "{placed}");
    let id = placed["id"].as_str().unwrap().to_owned();
    let delivery =
        retail_server::storage::delivery::order_delivery(&app.state.store, id.parse().unwrap())
            .await
            .unwrap()
            .expect("delivery kept");
    assert_eq!(delivery.shipping_fen, 1500);
    // A retry answers the first order.
    let (status, again) = app.post("/api/v1/orders", None, placing).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(
        (again["id"].as_str(), &again["created"]),
        (Some(id.as_str()), &json!(false))
    );
    assert_eq!(order_count(&app).await, orders_before + 1);
    // The staff who ship it read the saved address in full; it belongs to the member.
    let (status, view) = app
        .get(&format!("/api/v1/orders/{id}/delivery"), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["address"], json!(home), "{view}");
    assert_eq!(view["order"]["member_id"], json!(member), "{view}");
    assert_eq!(view["order"]["location_id"], "WH01");
}
crate::both_backends!(orders_go_to_a_saved_address, orders_go_to_a_saved_address);

/// The shopper of `phone`, logged in to the shop with one unit of `sku` in the cart.
async fn shopper_with(app: &TestApp, phone: &str, sku: Uuid) -> crate::web::Browser {
    let mut b = crate::web::shopper(app, phone).await;
    let sku = sku.to_string();
    b.post_csrf(
        "/cart/add",
        &[("sku", &sku), ("qty", "1"), ("back", "/cart")],
    )
    .await;
    b
}

/// How many orders the test's database holds.
async fn order_count(app: &TestApp) -> i64 {
    let mut tx = app.state.store.begin().await.unwrap();
    let row = sqlx::query("SELECT COUNT(*) FROM orders")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    sqlx::Row::get::<i64, _>(&row, 0)
}

/// The shop's delivery checkout takes the phone's position (hidden fields the page's location
/// button fills): near a store that has the items, the order ships from that store the same
/// day; a position that is not a number is refused next to the field and places nothing. Head
/// office sets a store's position in the console, in degrees; a half-given or unreadable
/// position changes nothing; a store manager may not set one.
async fn the_shop_takes_the_phones_position_and_head_office_places_stores(app: TestApp) {
    let (sku, _) = stocked(&app, "SH002", 2).await;
    let mut b = shopper_with(&app, "13900160021", sku).await;
    let page = b.get("/checkout?mode=delivery").await;
    assert!(page.body.contains("id=\"locate\""), "{}", page.body);
    assert!(page.body.contains("name=\"lat_e6\""));
    let near_sh002 = [
        ("mode", "delivery"),
        ("address_id", "new"),
        ("name", "王五"),
        ("phone", "13900160021"),
        ("province", "上海"),
        ("city", "上海"),
        ("address", "徐汇区漕溪北路 400 号"),
        ("lat_e6", "31195000"),
        ("lng_e6", "121438000"),
    ];
    let page = b.post_csrf("/checkout/total", &near_sh002).await;
    assert!(page.body.contains("id=\"same-city\""), "{}", page.body);
    // Not a number: refused next to the field, nothing placed.
    let orders_before = order_count(&app).await;
    let id = Uuid::now_v7().to_string();
    let mut bad: Vec<(&str, &str)> = near_sh002.to_vec();
    bad.retain(|(k, _)| *k != "lat_e6");
    bad.push(("lat_e6", "north"));
    bad.push(("id", &id));
    let page = b.post_csrf("/checkout", &bad).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("data-field=\"lat_e6\""), "{}", page.body);
    assert_eq!(order_count(&app).await, orders_before);
    // Placed: it ships from SH002.
    let mut good: Vec<(&str, &str)> = near_sh002.to_vec();
    good.push(("id", &id));
    let page = b.post_csrf("/checkout", &good).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let order = page
        .location
        .unwrap()
        .trim_start_matches("/orders/")
        .to_owned();
    let view = retail_server::storage::orders::get(&app.state.store, order.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(view.location_id, "SH002");

    // Head office places SH003 on the map; bad input changes nothing.
    let mut admin = crate::web::console(&app, "admin").await;
    let page = admin
        .post_csrf(
            "/console/delivery/positions",
            &[
                ("store", "SH003"),
                ("lat", "31.230416"),
                ("lng", "121.473701"),
            ],
        )
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/console/delivery/regions?done=position")
    );
    let positions = retail_server::storage::delivery::stores_on_map(&app.state.store)
        .await
        .unwrap();
    let sh003 = positions.iter().find(|s| s.id == "SH003").unwrap();
    assert_eq!(
        (sh003.lat_e6, sh003.lng_e6),
        (Some(31_230_416), Some(121_473_701))
    );
    for (lat, lng) in [("31.2", ""), ("north", "121.4"), ("95", "121.4")] {
        let page = admin
            .post_csrf(
                "/console/delivery/positions",
                &[("store", "SH003"), ("lat", lat), ("lng", lng)],
            )
            .await;
        assert_eq!(
            page.location.as_deref(),
            Some("/console/delivery/regions?error=position"),
            "{lat},{lng}"
        );
    }
    let page = admin.get("/console/delivery/regions").await;
    assert!(page.body.contains("value=\"31.230416\""), "{}", page.body);
    let mut manager = crate::web::console(&app, "mgr.sh001").await;
    let page = manager
        .post_csrf(
            "/console/delivery/positions",
            &[("store", "SH001"), ("lat", "1"), ("lng", "1")],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let after = retail_server::storage::delivery::stores_on_map(&app.state.store)
        .await
        .unwrap();
    assert_eq!(after, positions);
}
crate::both_backends!(
    the_shop_takes_the_phones_position_and_head_office_places_stores,
    the_shop_takes_the_phones_position_and_head_office_places_stores
);

/// The member is told when the carrier is bringing the parcel and when the carrier reports a
/// problem, once each, in the message centre; the other tracking steps are on the order's page
/// only.
async fn the_shopper_is_told_when_the_parcel_is_out_for_delivery(app: TestApp) {
    let admin = app.login("admin").await;
    let (sku, _) = stocked(&app, "WH01", 5).await;
    let mut b = shopper_with(&app, "13900160031", sku).await;
    let id = Uuid::now_v7().to_string();
    let page = b
        .post_csrf(
            "/checkout",
            &[
                ("id", &id),
                ("mode", "delivery"),
                ("address_id", "new"),
                ("name", "王五"),
                ("phone", "13900160031"),
                ("province", "上海"),
                ("city", "上海"),
                ("address", "浦东新区世纪大道 100 号"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let order = page
        .location
        .unwrap()
        .trim_start_matches("/orders/")
        .to_owned();
    pay(&app, &order).await;
    let (status, body) = app
        .post(
            &format!("/api/v1/orders/{order}/waybill"),
            Some(&admin),
            json!({"carrier": "SF", "waybill": "SF300000001"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for status in [
        "picked_up",
        "in_transit",
        "out_for_delivery",
        "out_for_delivery",
        "exception",
    ] {
        let event = json!({"event_id": Uuid::now_v7().to_string(), "status": status,
            "description": "快件动态", "location": "上海"});
        let (answer, body) = app
            .post(
                &format!("/api/v1/orders/{order}/tracking"),
                Some(&admin),
                event,
            )
            .await;
        assert_eq!(answer, StatusCode::OK, "{status}: {body}");
    }
    let page = b.get("/me/messages").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.body.matches("派送中").count(), 1, "{}", page.body);
    assert_eq!(page.body.matches("配送异常").count(), 1, "{}", page.body);
    assert!(page.body.contains("已发货"), "the shipped notice as before");
    assert!(
        !page.body.contains("运输中"),
        "no notice for the other steps"
    );
}
crate::both_backends!(
    the_shopper_is_told_when_the_parcel_is_out_for_delivery,
    the_shopper_is_told_when_the_parcel_is_out_for_delivery
);
