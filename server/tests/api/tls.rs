//! TLS at the server (issue 15, finding 7): with `[tls]` the server serves HTTPS itself, its
//! cookies are `Secure` and HSTS is sent; plain HTTP on the TLS port gets nowhere; a client
//! pinning another CA is refused in the handshake; a certificate or key that cannot be used
//! stops the start with an error naming the file.

use std::time::Duration;

use reqwest::StatusCode;
use retail_testkit::tls::TestPki;

use crate::support::TestApp;

async fn https_with_secure_cookies_and_hsts(app: TestApp) {
    assert!(app.url.starts_with("https://"), "{}", app.url);
    // The kit's client pins the chain's CA (the same trust a lane or an agent has).
    let resp = app
        .client
        .get(format!("{}/", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let cookies: Vec<String> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(!cookies.is_empty(), "the shop sets its session cookie");
    assert!(
        cookies.iter().all(|c| c.contains("; Secure")),
        "{cookies:?}"
    );
    assert_eq!(
        resp.headers()
            .get("strict-transport-security")
            .and_then(|v| v.to_str().ok()),
        Some("max-age=31536000")
    );
    // The API works over it, staff log-in included.
    let token = app.login("admin").await;
    let (status, _) = app.get("/api/v1/locations", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);

    // Plain HTTP to the TLS port: no answer a client could take for the server's.
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
        .get(format!("http://{}/healthz", app.addr()))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP answered: {plain:?}");

    // A client pinning an unrelated CA is refused during the handshake.
    let pki = app.pki();
    let other = pki
        .other
        .trust()
        .http_client(reqwest::Client::builder().timeout(Duration::from_secs(10)))
        .unwrap();
    let err = other
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .expect_err("a certificate from the chain's CA is not trusted under another CA");
    let text = pki.other.trust().explain(&err);
    assert!(text.contains("certificate"), "{text}");
    assert!(
        text.contains(&pki.other.ca_file.display().to_string()),
        "{text}"
    );
}
crate::both_backends!(
    https_with_secure_cookies_and_hsts,
    https_with_secure_cookies_and_hsts,
    retail_testkit::tls::serve_tls
);

/// A device pinning the chain's CA refuses a server presenting a certificate from another CA
/// (a man in the middle with a certificate of its own), before anything is sent.
async fn a_server_with_another_cas_certificate_is_refused(app: TestApp) {
    let pki = app.pki();
    let chain = pki
        .chain
        .trust()
        .http_client(reqwest::Client::builder().timeout(Duration::from_secs(10)))
        .unwrap();
    let err = chain
        .get(format!("{}/api/v1/devices/me", app.url))
        .bearer_auth("dv_credential-that-must-not-leave")
        .send()
        .await
        .expect_err("the other CA's certificate is refused");
    let text = pki.chain.trust().explain(&err);
    assert!(
        text.contains("certificate") && text.contains("nothing was sent"),
        "{text}"
    );
}
crate::both_backends!(
    a_server_with_another_cas_certificate_is_refused,
    a_server_with_another_cas_certificate_is_refused,
    |settings: &mut retail_server::config::Settings| {
        // The server presents the unrelated CA's certificate; the test's trust is the chain's.
        retail_testkit::tls::serve_tls(settings);
        let pki = retail_testkit::tls::TestPki::at(&retail_testkit::tls::pki_dir(settings));
        settings.tls = pki.other.server_tls();
    }
);

/// A certificate or key that cannot be used stops the start, naming the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_certificate_files_are_named_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::write_into(&dir.path().join("tls")).unwrap();
    let garbage = dir.path().join("not-a-cert.pem");
    std::fs::write(&garbage, "-----BEGIN NOTHING-----\n").unwrap();
    let database = retail_testkit::Database::Sqlite;
    for (cert, key, named) in [
        (garbage.clone(), pki.chain.key_file.clone(), garbage.clone()),
        (
            pki.chain.cert_file.clone(),
            dir.path().join("missing.key"),
            dir.path().join("missing.key"),
        ),
        // Another certificate's key.
        (
            pki.chain.cert_file.clone(),
            pki.other.key_file.clone(),
            pki.other.key_file.clone(),
        ),
    ] {
        let mut settings = retail_testkit::server::test_settings(dir.path(), &database);
        settings.tls.cert_file = cert.display().to_string();
        settings.tls.key_file = key.display().to_string();
        let err = retail_server::Application::build(settings)
            .await
            .err()
            .map(|e| format!("{e:#}"))
            .expect("the start is refused");
        assert!(err.contains(&named.display().to_string()), "{err}");
    }
    // Half a configuration is refused too.
    let mut settings = retail_testkit::server::test_settings(dir.path(), &database);
    settings.tls.cert_file = pki.chain.cert_file.display().to_string();
    let err = retail_server::Application::build(settings)
        .await
        .err()
        .map(|e| format!("{e:#}"))
        .expect("the start is refused");
    assert!(err.contains("tls.key_file"), "{err}");
}
