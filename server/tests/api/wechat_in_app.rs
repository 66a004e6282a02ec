//! The shop inside WeChat's browser pays WeChat Pay in place (JSAPI) with the openid WeChat's
//! web authorisation (`snsapi_base`) gives, against the fake WeChat (authorisation page, code
//! exchange, payment API), on SQLite and PostgreSQL: the redirects followed as WeChat's browser
//! would, the JSAPI page's parameters checked as WeChat's client checks them, the openid kept
//! for the session's next payment; a forged, foreign, replayed or expired state, a missing,
//! unknown or used code, a snapshot-page visitor and a WeChat that does not answer each give a
//! clear page and start no payment; other browsers keep the QR code and the mobile page.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::StatusCode;
use retail_testkit::wechat_pay::{Mode, APP_ID, APP_SECRET};
use serde_json::Value;
use uuid::Uuid;

use crate::provider_pay::{on_both, start, Providers};
use crate::support::TestApp;
use crate::web::{a_sku, between, pickup_order, shopper_in, Browser};

/// WeChat's browser on Android (what the shop recognises: `MicroMessenger`).
pub(crate) const WECHAT_AGENT: &str =
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 \
    (KHTML, like Gecko) Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 XWEB/1160117 \
    MMWEBSDK/20240404 MicroMessenger/8.0.49.2600(0x28003133) WeChat/arm64 Weixin NetType/WIFI \
    Language/zh_CN ABI/arm64";
const IPHONE_SAFARI: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) \
    AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
const DESKTOP: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";

/// A shopper logged in with this browser, and a pending pickup order of theirs.
async fn shopper_with_order(app: &TestApp, agent: &str, phone: &str) -> (Browser, String) {
    let mut b = shopper_in(Browser::with_user_agent(app, agent), phone).await;
    let (_, sku) = a_sku(app, "纯牛奶").await;
    let order = pickup_order(&mut b, sku).await;
    (b, order)
}

/// The shopper presses "pay with WeChat Pay" on the order page; the answer's `Location`.
async fn press_wechat_pay(b: &mut Browser, order: &str) -> String {
    let page = b
        .post_csrf(
            &format!("/orders/{order}/pay"),
            &[("provider", "wechat_pay")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    page.location.unwrap()
}

/// The query of an address, decoded.
fn query_of(url: &str) -> HashMap<String, String> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// WeChat's authorisation page as WeChat's browser meets it: answers where it sends the browser.
async fn wechat_sends_back(authorize: &str) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = http.get(authorize).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::FOUND);
    answer.headers()["location"].to_str().unwrap().to_owned()
}

/// The path and query of an address on the test server.
fn on_server(app: &TestApp, url: &str) -> String {
    url.strip_prefix(app.url.as_str())
        .unwrap_or_else(|| panic!("{url} is not on {}", app.url))
        .to_owned()
}

/// The payments of an order.
async fn payments_of(app: &TestApp, order: &str) -> usize {
    retail_server::storage::payments::of_order(&app.state.store, order.parse().unwrap())
        .await
        .unwrap()
        .len()
}

/// The `data-params` of the JSAPI page, as the page's script reads them.
fn jsapi_params(body: &str) -> Value {
    let attribute = between(body, "data-params=\"", "\"")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&attribute).unwrap()
}

/// The authorisation a WeChat shopper's "pay" starts: the state it carries.
async fn state_of_a_new_authorisation(p: &Providers, b: &mut Browser, order: &str) -> String {
    let authorize = press_wechat_pay(b, order).await;
    assert!(
        authorize.starts_with(&format!("{}/connect/oauth2/authorize?", p.wechat.base_url)),
        "{authorize}"
    );
    query_of(&authorize)["state"].clone()
}

/// Inside WeChat: "pay" goes through WeChat's authorisation (snsapi_base, an unguessable state,
/// the shop's callback), the callback starts a JSAPI prepay for the fake's openid, the page hands
/// WeixinJSBridge parameters WeChat's client accepts, and once WeChat Pay notifies, the
/// confirmation page goes back to the paid order. The session keeps the openid: the next order
/// pays without a new authorisation.
async fn wechat_browser_pays_in_place_with_its_openid(p: Providers) {
    let app = &p.app;
    let (mut b, order) = shopper_with_order(app, WECHAT_AGENT, "13800138061").await;

    let authorize = press_wechat_pay(&mut b, &order).await;
    let expected_start = format!(
        "{}/connect/oauth2/authorize?appid={APP_ID}&redirect_uri={}&response_type=code&scope=snsapi_base&state=",
        p.wechat.base_url,
        app.url.replace(':', "%3A").replace('/', "%2F") + "%2Fwechat%2Foauth"
    );
    assert!(authorize.starts_with(&expected_start), "{authorize}");
    assert!(authorize.ends_with("#wechat_redirect"), "{authorize}");
    let query = query_of(&authorize);
    assert_eq!(query["redirect_uri"], format!("{}/wechat/oauth", app.url));
    let state = &query["state"];
    assert_eq!(state.len(), 43);
    assert!(state.bytes().all(|b| b.is_ascii_alphanumeric()), "{state}");
    assert_eq!(
        payments_of(app, &order).await,
        0,
        "nothing paid before WeChat answers"
    );

    // WeChat sends the browser back with a code; the shop exchanges it and starts the payment.
    let back = wechat_sends_back(&authorize).await;
    let callback = on_server(app, &back);
    assert!(callback.starts_with("/wechat/oauth?code="), "{callback}");
    let page = b.get(&callback).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let pay_path = page.location.unwrap();
    assert!(pay_path.starts_with("/pay/wechat/"), "{pay_path}");
    let payment: Uuid = pay_path.rsplit('/').next().unwrap().parse().unwrap();
    // The order's payment page sends a WeChat payment to the same JSAPI page.
    let page = b.get(&format!("/orders/{order}/pay/{payment}")).await;
    assert_eq!(page.location.as_deref(), Some(pay_path.as_str()));
    let trade = p.wechat.trade(&payment.simple().to_string()).unwrap();
    assert_eq!(trade.trade_type, "JSAPI");
    assert_eq!(trade.openid, Some(p.wechat.oauth_openid()));
    assert_eq!(p.wechat.oauth_exchanges(), 1);

    // The page hands WeixinJSBridge parameters signed as WeChat's client checks them.
    let page = b.get(&pay_path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("id=\"wechat-pay\""), "{}", page.body);
    let params = jsapi_params(&page.body);
    assert_eq!(
        p.wechat.check_request_payment(&params),
        Ok(payment.simple().to_string())
    );
    assert_eq!(params["signType"], "RSA");
    let mut forged = params.clone();
    forged["nonceStr"] = Value::from("0000000000000000");
    assert!(
        p.wechat.check_request_payment(&forged).is_err(),
        "a changed parameter no longer verifies"
    );
    let done = between(&page.body, "data-done=\"", "\"").to_owned();
    assert_eq!(done, format!("/orders/{order}/pay/{payment}/done"));

    // WeChat says paid in the browser: the confirmation page waits for the notification.
    let waiting = b.get(&done).await;
    assert_eq!(waiting.status, StatusCode::OK);
    assert!(waiting.body.contains("id=\"pay-confirming\""));
    let sent = p.wechat.pay(&payment.simple().to_string()).await.unwrap();
    assert_eq!(sent.answer, Some(204));
    let settled = b.get(&done).await;
    assert_eq!(settled.status, StatusCode::SEE_OTHER);
    assert_eq!(
        settled.location.as_deref(),
        Some(&*format!("/orders/{order}"))
    );
    let view = retail_server::storage::orders::get(&app.state.store, order.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(view.status, retail_domain::order::OrderStatus::Paid);

    // The next order of this session pays at once, for the openid kept.
    let (_, sku) = a_sku(app, "纯牛奶").await;
    let second = pickup_order(&mut b, sku).await;
    let next = press_wechat_pay(&mut b, &second).await;
    assert!(next.starts_with("/pay/wechat/"), "{next}");
    assert_eq!(p.wechat.oauth_exchanges(), 1, "no second exchange");
    let payment: Uuid = next.rsplit('/').next().unwrap().parse().unwrap();
    let trade = p.wechat.trade(&payment.simple().to_string()).unwrap();
    assert_eq!(trade.openid, Some(p.wechat.oauth_openid()));
}
on_both!(wechat_browser_pays_in_place_with_its_openid);

/// Every way a callback can be wrong gives a clear page and starts no payment: a forged or
/// missing state, another session's state, no code, an unknown code (40029), a snapshot-page
/// visitor, a WeChat that does not answer, a replayed callback and a used code (40163).
async fn bad_callbacks_start_no_payment(p: Providers) {
    let app = &p.app;
    let (mut b, order) = shopper_with_order(app, WECHAT_AGENT, "13800138062").await;
    let refused = |page: &crate::web::Page, status: StatusCode, says: &str| {
        assert_eq!(page.status, status, "{}", page.body);
        assert!(page.body.contains(says), "{says} not in {}", page.body);
        assert!(!page.body.contains(APP_SECRET), "the AppSecret never shows");
    };

    // A state the server never made, and none at all.
    let code = p.wechat.issue_oauth_code();
    let page = b
        .get(&format!("/wechat/oauth?code={code}&state=forged0123456789"))
        .await;
    refused(&page, StatusCode::BAD_REQUEST, "微信授权链接无效");
    let page = b.get(&format!("/wechat/oauth?code={code}")).await;
    refused(&page, StatusCode::BAD_REQUEST, "微信授权链接无效");

    // Another session's state: refused here, and used up for its own session too.
    let (mut other, other_order) = shopper_with_order(app, WECHAT_AGENT, "13800138063").await;
    let foreign = state_of_a_new_authorisation(&p, &mut other, &other_order).await;
    let page = b
        .get(&format!("/wechat/oauth?code={code}&state={foreign}"))
        .await;
    refused(&page, StatusCode::BAD_REQUEST, "微信授权链接无效");
    let page = other
        .get(&format!("/wechat/oauth?code={code}&state={foreign}"))
        .await;
    refused(&page, StatusCode::BAD_REQUEST, "微信授权链接无效");
    assert_eq!(p.wechat.oauth_exchanges(), 0, "no code exchanged yet");

    // No code; an unknown code.
    let state = state_of_a_new_authorisation(&p, &mut b, &order).await;
    let page = b.get(&format!("/wechat/oauth?state={state}")).await;
    refused(&page, StatusCode::BAD_REQUEST, "没有返回授权码");
    let state = state_of_a_new_authorisation(&p, &mut b, &order).await;
    let page = b
        .get(&format!("/wechat/oauth?code=0a1bUnknownCode&state={state}"))
        .await;
    refused(&page, StatusCode::BAD_REQUEST, "40029");

    // A snapshot-page visitor cannot pay.
    p.wechat.set_snapshot_user(true);
    let state = state_of_a_new_authorisation(&p, &mut b, &order).await;
    let page = b
        .get(&format!("/wechat/oauth?code={code}&state={state}"))
        .await;
    refused(&page, StatusCode::BAD_REQUEST, "快照");
    p.wechat.set_snapshot_user(false);

    // WeChat does not answer within the provider timeout.
    p.wechat.set_mode(Mode::Slow(Duration::from_millis(3_000)));
    let state = state_of_a_new_authorisation(&p, &mut b, &order).await;
    let code = p.wechat.issue_oauth_code();
    let page = b
        .get(&format!("/wechat/oauth?code={code}&state={state}"))
        .await;
    refused(&page, StatusCode::SERVICE_UNAVAILABLE, "服务暂时不可用");
    p.wechat.set_mode(Mode::Normal);

    assert_eq!(payments_of(app, &order).await, 0, "no payment started");
    assert_eq!(
        payments_of(app, &other_order).await,
        0,
        "no payment started"
    );
    // Nothing was kept either: paying still asks WeChat who this is.
    let state = state_of_a_new_authorisation(&p, &mut b, &order).await;

    // The good callback pays once; replaying it is refused.
    let code = p.wechat.issue_oauth_code();
    let callback = format!("/wechat/oauth?code={code}&state={state}");
    let page = b.get(&callback).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(payments_of(app, &order).await, 1);
    let page = b.get(&callback).await;
    refused(&page, StatusCode::BAD_REQUEST, "微信授权链接无效");

    // The used code with a fresh state of another session: WeChat's 40163.
    let state = state_of_a_new_authorisation(&p, &mut other, &other_order).await;
    let page = other
        .get(&format!("/wechat/oauth?code={code}&state={state}"))
        .await;
    refused(&page, StatusCode::BAD_REQUEST, "40163");
    assert_eq!(payments_of(app, &order).await, 1);
    assert_eq!(payments_of(app, &other_order).await, 0);
}
on_both!(bad_callbacks_start_no_payment);

/// Outside WeChat nothing changes: a desktop gets WeChat Pay's QR code, a phone's browser
/// WeChat Pay's mobile (H5) page; neither goes through WeChat's authorisation.
async fn other_browsers_keep_the_qr_code_and_the_mobile_page(p: Providers) {
    let app = &p.app;
    let (mut desk, order) = shopper_with_order(app, DESKTOP, "13800138064").await;
    let next = press_wechat_pay(&mut desk, &order).await;
    assert!(next.starts_with(&format!("/orders/{order}/pay/")), "{next}");
    let page = desk.get(&next).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        between(&page.body, "data-pay-code=\"", "\"").starts_with("weixin://wxpay/"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("wechat-pay"));

    let (mut phone, order) = shopper_with_order(app, IPHONE_SAFARI, "13800138065").await;
    let next = press_wechat_pay(&mut phone, &order).await;
    assert!(
        next.starts_with("https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb"),
        "{next}"
    );
    assert_eq!(p.wechat.oauth_exchanges(), 0);
}
on_both!(other_browsers_keep_the_qr_code_and_the_mobile_page);

/// The openid goes with the member's account: deleting the account forgets the openid its
/// sessions were given, so the next shopper logging in in that browser is asked of WeChat again.
async fn deleting_the_account_forgets_the_openid(p: Providers) {
    let app = &p.app;
    let phone = "13800138067";
    let (mut b, order) = shopper_with_order(app, WECHAT_AGENT, phone).await;
    let authorize = press_wechat_pay(&mut b, &order).await;
    let back = wechat_sends_back(&authorize).await;
    let page = b.get(&on_server(app, &back)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let page = b.post_csrf(&format!("/orders/{order}/cancel"), &[]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    // Kept until then: the next order pays at once.
    let (_, sku) = a_sku(app, "纯牛奶").await;
    let second = pickup_order(&mut b, sku).await;
    assert!(press_wechat_pay(&mut b, &second)
        .await
        .starts_with("/pay/wechat/"));
    b.post_csrf(&format!("/orders/{second}/cancel"), &[]).await;

    let page = b.post_csrf("/me/delete", &[("confirm", "DELETE")]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let (mut b, order) = {
        // Another shopper logs in in this browser (the same session, a new member).
        let mut b = shopper_in(b, "13800138068").await;
        let order = pickup_order(&mut b, sku).await;
        (b, order)
    };
    let next = press_wechat_pay(&mut b, &order).await;
    assert!(
        next.starts_with(&format!("{}/connect/oauth2/authorize?", p.wechat.base_url)),
        "{next}"
    );
}
on_both!(deleting_the_account_forgets_the_openid);

/// Inside WeChat a recharge is paid in place too: WeChat's authorisation first (the recharge
/// recorded, nothing asked of WeChat Pay yet), then the JSAPI page for the recharge, a
/// confirmation page until WeChat Pay's notification credits principal and bonus; the next
/// recharge of the session goes straight to its JSAPI page.
async fn wechat_browser_recharges_in_place(p: Providers) {
    let app = &p.app;
    let phone = "13800138065";
    let mut b = shopper_in(Browser::with_user_agent(app, WECHAT_AGENT), phone).await;
    let (_, offered) = app.get("/api/v1/recharge-packages", None).await;
    let package = offered[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(offered[0]["pay"], "100.00");
    let recharge = Uuid::now_v7();
    let page = b
        .post_csrf(
            "/me/balance/recharge",
            &[
                ("id", &recharge.to_string()),
                ("package", &package),
                ("provider", "wechat_pay"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let authorize = page.location.unwrap();
    assert!(
        authorize.starts_with(&format!("{}/connect/oauth2/authorize?", p.wechat.base_url)),
        "{authorize}"
    );
    assert!(
        p.wechat.trade(&recharge.simple().to_string()).is_none(),
        "nothing asked of WeChat Pay before the openid"
    );
    let callback = on_server(app, &wechat_sends_back(&authorize).await);
    let page = b.get(&callback).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let pay_path = page.location.unwrap();
    assert_eq!(pay_path, format!("/pay/wechat/{recharge}"));
    let page = b.get(&pay_path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let params = jsapi_params(&page.body);
    assert_eq!(
        p.wechat.check_request_payment(&params),
        Ok(recharge.simple().to_string())
    );
    let trade = p.wechat.trade(&recharge.simple().to_string()).unwrap();
    assert_eq!(trade.trade_type, "JSAPI");
    assert_eq!(trade.openid, Some(p.wechat.oauth_openid()));
    let done = between(&page.body, "data-done=\"", "\"").to_owned();
    assert_eq!(done, format!("/me/balance/recharge/{recharge}"));
    let waiting = b.get(&done).await;
    assert!(
        waiting.body.contains("id=\"recharge-confirming\""),
        "{}",
        waiting.body
    );
    let sent = p.wechat.pay(&recharge.simple().to_string()).await.unwrap();
    assert_eq!(sent.answer, Some(204));
    let settled = b.get(&done).await;
    assert_eq!(settled.location.as_deref(), Some("/me/balance"));
    let member = crate::stored_value::member_id(app, phone).await;
    let split = retail_server::storage::members::balance_split(&app.state.store, member)
        .await
        .unwrap();
    assert_eq!(
        (split.principal.to_string(), split.bonus.to_string()),
        ("100.00".to_owned(), "10.00".to_owned())
    );

    // The next recharge of this session: straight to its JSAPI page.
    let second = Uuid::now_v7();
    let page = b
        .post_csrf(
            "/me/balance/recharge",
            &[
                ("id", &second.to_string()),
                ("package", &package),
                ("provider", "wechat_pay"),
            ],
        )
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some(&*format!("/pay/wechat/{second}")),
        "{} {}",
        page.status,
        page.body
    );
    assert_eq!(p.wechat.oauth_exchanges(), 1, "no second exchange");
    // Another member's browser cannot open it.
    let mut other = shopper_in(Browser::with_user_agent(app, WECHAT_AGENT), "13800138066").await;
    assert_eq!(
        other.get(&format!("/pay/wechat/{second}")).await.status,
        StatusCode::NOT_FOUND
    );
}
on_both!(wechat_browser_recharges_in_place);
