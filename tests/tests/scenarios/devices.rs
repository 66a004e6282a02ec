//! A POS lane and an edge agent identify themselves to a real server with their own
//! credentials; revoking a credential locks the device out at once.

use retail_testkit::TestServer;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_identify_and_are_revocable() {
    // The store bus is not needed here: the kit's server leaves it off (and would never use the
    // embedded broker's default port).
    let mut app = TestServer::sqlite().await;
    let url = app.url.clone();
    let token = app.login("mgr.sh001").await;
    let mut credentials = Vec::new();
    for kind in ["pos", "edge"] {
        credentials.push(
            app.register_device("mgr.sh001", "SH001", kind, &format!("{kind} 1"))
                .await,
        );
    }
    let lane = pos_terminal::server_api::ServerApi::new(&url, &credentials[0].1);
    let http =
        edge_agent::http_client(&retail_devices::server_link::ServerTrust::load(None).unwrap())
            .unwrap();
    assert_eq!(lane.identify().await.unwrap().location_id, "SH001");
    assert_eq!(
        edge_agent::identify(&http, &url, &credentials[1].1)
            .await
            .unwrap()
            .location_id,
        "SH001"
    );
    // A lane credential does not work as an edge agent's.
    assert!(edge_agent::identify(&http, &url, &credentials[0].1)
        .await
        .is_err());
    // Revoked: the lane is refused, with the server's reason.
    app.post(
        &format!("/api/v1/devices/{}/revoke", credentials[0].0),
        Some(&token),
        json!({}),
    )
    .await;
    let err = lane.identify().await.unwrap_err().to_string();
    assert!(err.contains("revoked"), "{err}");
    app.stop().await.unwrap();
}
