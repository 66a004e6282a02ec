//! Backups (issue 15): `retail-server backup` takes a consistent copy while the server runs,
//! `retail-server restore` puts it into an empty database and checks it (migrations, the stock
//! ledger check); a restore into a database that holds data, or of a file that is no backup, is
//! refused and changes nothing.

use crate::sales::{push, register_lane, sale, sku_ids};
use crate::support::TestApp;

async fn backup_and_restore(app: TestApp) {
    let admin = app.login("admin").await;
    let (_, lane) = register_lane(&app, &admin, "SH001", "Lane 1").await;
    let skus = sku_ids(&app, &admin, 2).await;
    let first = sale("SH001", None, &[(&skus[0], 2, 350)], &[]);
    assert_eq!(push(&app, &lane, &[first]).await[0]["outcome"], "applied");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("retail.backup");
    let at_backup = retail_server::storage::backup::check(&app.state.store)
        .await
        .unwrap();
    let said = retail_server::cli::backup(&app.settings, &file)
        .await
        .unwrap();
    assert!(said.contains("backup written"), "{said}");
    assert!(file.is_file());
    // Never over an existing file.
    assert!(retail_server::cli::backup(&app.settings, &file)
        .await
        .is_err());
    // Written after the backup: not in it.
    let later = sale("SH001", None, &[(&skus[1], 1, 990)], &[]);
    assert_eq!(push(&app, &lane, &[later]).await[0]["outcome"], "applied");

    // Into an empty database of the same kind.
    let mut target = app.settings.clone();
    let fresh_pg = if app.settings.is_sqlite() {
        target.database_url = format!("sqlite://{}", dir.path().join("restored.db").display());
        None
    } else {
        let url = retail_testkit::postgres::fresh_database_or_skip()
            .await
            .expect("PostgreSQL answered for this test already");
        target.database_url = url.clone();
        Some(url)
    };
    let said = retail_server::cli::restore(&target, &file).await.unwrap();
    assert!(said.contains("ledger check passed"), "{said}");
    let restored = retail_server::storage::Store::connect(&target.database_url)
        .await
        .unwrap();
    let report = retail_server::storage::backup::check(&restored)
        .await
        .unwrap();
    restored.close().await;
    assert_eq!(report, at_backup, "exactly what the backup held");
    assert_eq!(report.ledger_mismatches, 0);

    // A second restore over it is refused and changes nothing.
    let again = retail_server::cli::restore(&target, &file).await;
    assert!(again.is_err());
    // A file that is no backup is refused too.
    let junk = dir.path().join("junk.backup");
    std::fs::write(&junk, b"not a backup at all").unwrap();
    let mut empty = app.settings.clone();
    let fresh_pg2 = if app.settings.is_sqlite() {
        empty.database_url = format!("sqlite://{}", dir.path().join("other.db").display());
        None
    } else {
        let url = retail_testkit::postgres::fresh_database_or_skip()
            .await
            .expect("PostgreSQL answered");
        empty.database_url = url.clone();
        Some(url)
    };
    assert!(retail_server::cli::restore(&empty, &junk).await.is_err());
    let restored = retail_server::storage::Store::connect(&target.database_url)
        .await
        .unwrap();
    assert_eq!(
        retail_server::storage::backup::check(&restored)
            .await
            .unwrap(),
        at_backup
    );
    restored.close().await;
    for url in [fresh_pg, fresh_pg2].into_iter().flatten() {
        retail_testkit::postgres::drop_database(&url).await;
    }
}
crate::both_backends!(backup_and_restore, backup_and_restore);
