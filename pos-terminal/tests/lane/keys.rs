//! The code-verifier key the lane verifies member codes and pickup codes with offline (issue
//! 15, finding 7): it comes with the pricing context, fetched with the lane's credential, and is
//! **pinned** by the rule edge agents follow too (`retail_domain::key_pinning`): a context
//! carrying another key is taken for its promotions and rules, but the key is refused and the
//! pinned one kept; only the lane's configuration (`code_verifier_key`) rotates it.

use pos_terminal::lane::Lane;
use pos_terminal::server_api::ServerApi;
use pos_terminal::sync;
use retail_domain::codes::{MemberCode, SignedCode};
use retail_server::config::Secrets;
use retail_testkit::server::EPHEMERAL;

use crate::support::{lane_settings, synced_lane, LaneServer, TestApp};

fn member_code(app: &TestApp) -> String {
    app.sign(&SignedCode::Member(MemberCode {
        member_id: uuid::Uuid::now_v7(),
        expires_at: chrono::Utc::now() + chrono::Duration::seconds(60),
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_code_verifier_key_is_pinned_and_another_refused() {
    let mut app = TestApp::sqlite().await;
    let (_, credential) = app.register_lane("Lane 1").await;
    let dir = tempfile::tempdir().unwrap();
    let (_, lane) = synced_lane(&app, &credential, dir.path()).await;
    let chain_key = app.state.keys.verifier().public_b64();
    let db = lane.db().clone();
    // The first key fetched with the credential is pinned.
    assert_eq!(
        db.pinned_verifier_key().await.unwrap().as_deref(),
        Some(chain_key.as_str())
    );
    let chain_code = member_code(&app);
    assert!(lane
        .verifier()
        .unwrap()
        .verify(&chain_code, chrono::Utc::now())
        .is_ok());

    // The server now answers another key (a server impersonated, or a key changed without
    // telling the lanes): refused, the pinned key stays.
    app.settings.secrets.code_signing_seed = Secrets::generate().code_signing_seed;
    app.start_again(EPHEMERAL).await;
    let other_key = app.state.keys.verifier().public_b64();
    assert_ne!(other_key, chain_key);
    let api = ServerApi::new(&app.url, &credential);
    sync::refresh_context(&db, &api, "SH001", None)
        .await
        .unwrap();
    assert_eq!(
        db.pinned_verifier_key().await.unwrap().as_deref(),
        Some(chain_key.as_str())
    );
    let stored = db.pricing_context().await.unwrap().unwrap();
    assert_eq!(
        stored.public_key, chain_key,
        "the context keeps the pinned key"
    );
    let lane = Lane::open(db.clone(), lane_settings("epson-tm-t88v"))
        .await
        .unwrap();
    let verifier = lane.verifier().unwrap();
    assert!(verifier.verify(&chain_code, chrono::Utc::now()).is_ok());
    assert!(
        verifier
            .verify(&member_code(&app), chrono::Utc::now())
            .is_err(),
        "a code signed with the other key is not accepted"
    );

    // Rotation is explicit: the new key in the lane's configuration.
    sync::refresh_context(&db, &api, "SH001", Some(&other_key))
        .await
        .unwrap();
    assert_eq!(
        db.pinned_verifier_key().await.unwrap().as_deref(),
        Some(other_key.as_str())
    );
    assert_eq!(
        db.pricing_context().await.unwrap().unwrap().public_key,
        other_key
    );
    // Clearing the setting keeps the rotated key, and the old one is refused from then on.
    sync::refresh_context(&db, &api, "SH001", None)
        .await
        .unwrap();
    assert_eq!(
        db.pinned_verifier_key().await.unwrap().as_deref(),
        Some(other_key.as_str())
    );
}
