//! Cashiers sign in at the lane with their user name and PIN, checked offline against the roster
//! the lane pulled; every sale names them; a manager approves voids with their own PIN.

use pos_terminal::lane::{LaneError, PaymentOutcome, MAX_WRONG_PINS};
use pos_terminal::sync;
use retail_domain::wire::sales::PaymentMethod;

use crate::support::{packaged_skus, synced_lane, LaneServer, TestApp, CASHIER, MANAGER, PIN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cashiers_sign_in_offline_and_every_sale_names_them() {
    let app = TestApp::sqlite().await;
    let (_, credential) = app.register_lane("Lane 1").await;
    let dir = tempfile::tempdir().expect("dir");
    let (api, mut lane) = synced_lane(&app, &credential, dir.path()).await;
    let sku = packaged_skus(lane.db(), 1).await.remove(0);
    lane.sign_out().expect("sign out");
    // Offline from here on: the roster is in the lane's database.
    lane.set_online(false);

    // Signed out, nothing can be sold.
    assert!(matches!(
        lane.scan(&sku.barcodes[0]).await,
        Err(LaneError::SignedOut)
    ));
    assert!(lane.cashier().is_none());

    // Wrong PINs, unknown people and people of another store are refused alike.
    for (user, pin) in [
        (CASHIER, "135791"),
        ("nobody", PIN),
        ("cashier1.sh002", PIN),
        (CASHIER, ""),
    ] {
        assert!(
            matches!(lane.sign_in(user, pin), Err(LaneError::WrongPin(_))),
            "{user}"
        );
    }
    // After too many wrong PINs the person waits, even with the right one; others do not.
    for _ in 1..MAX_WRONG_PINS {
        assert!(lane.sign_in(CASHIER, "000001").is_err());
    }
    assert!(matches!(
        lane.sign_in(CASHIER, PIN),
        Err(LaneError::PinLocked { .. })
    ));
    let who = lane
        .sign_in("cashier2.sh001", PIN)
        .expect("another cashier");
    assert_eq!(who.display_name, "何俊");

    // The sale names the person signed in.
    lane.scan(&sku.barcodes[0]).await.expect("scan");
    // Nobody signs out or in over an open sale.
    assert!(lane.sign_out().is_err());
    assert!(lane.sign_in(MANAGER, PIN).is_err());
    let outcome = lane
        .pay(PaymentMethod::Cash, sku.effective_price())
        .await
        .expect("pay");
    let PaymentOutcome::Completed(sale) = outcome else {
        panic!("not completed");
    };
    assert_eq!(sale.sale.cashier, "cashier2.sh001");

    // A void needs a manager's approval: the cashier's own PIN does not do.
    lane.scan(&sku.barcodes[0]).await.expect("scan");
    assert!(matches!(
        lane.void_sale("cashier2.sh001", PIN).await,
        Err(LaneError::WrongPin(_))
    ));
    assert!(lane.void_sale(MANAGER, "975310").await.is_err());
    assert_eq!(lane.basket().lines.len(), 1, "nothing voided");
    assert_eq!(lane.void_sale(MANAGER, PIN).await.expect("void"), MANAGER);
    assert!(lane.basket().lines.is_empty());
    let voids = lane.db().voids().await.expect("voids");
    assert_eq!(voids.len(), 1);
    assert_eq!(voids[0].1, "cashier2.sh001");
    assert_eq!(voids[0].2, MANAGER);

    // Head office clears the PIN of the cashier signed in: at the next sync they are signed
    // out, and cannot sign in again.
    let admin = app.login("admin").await;
    let (_, staff) = app.get("/api/v1/staff", Some(&admin)).await;
    let id = staff
        .as_array()
        .expect("staff")
        .iter()
        .find(|s| s["username"] == "cashier2.sh001")
        .expect("cashier2")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (status, _) = app
        .delete(&format!("/api/v1/staff/{id}/pin"), Some(&admin))
        .await;
    assert!(status.is_success());
    sync::refresh_context(lane.db(), &api, "SH001", None)
        .await
        .expect("sync");
    lane.reload().await.expect("reload");
    assert!(lane.cashier().is_none());
    assert!(matches!(
        lane.sign_in("cashier2.sh001", PIN),
        Err(LaneError::WrongPin(_))
    ));
}
