//! [`both_backends!`](crate::both_backends): one test body, run against SQLite and PostgreSQL.

/// Runs a test body against SQLite and PostgreSQL: `both_backends!(name, body)` makes the
/// tests `name::sqlite` and `name::postgres`, each calling `body(server)` with a
/// [`TestServer`](crate::TestServer) on a database of its own (the demo chain loaded, the store
/// bus off). `both_backends!(name, body, adjust)` first applies `adjust: impl
/// FnOnce(&mut Settings)` to the [`test_settings`](crate::server::test_settings).
///
/// The PostgreSQL half is skipped with a loud notice when no PostgreSQL server answers, except
/// under `CI=true` ([`fresh_database_or_skip`](crate::postgres::fresh_database_or_skip)). The
/// calling crate needs `tokio` (the tests are `#[tokio::test]`, multi-threaded, two workers).
///
/// ```ignore
/// async fn locations_are_listed(app: TestServer) {
///     let (status, _) = app.get("/api/v1/locations", None).await;
///     assert_eq!(status, 200);
/// }
/// retail_testkit::both_backends!(locations_are_listed, locations_are_listed);
/// ```
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:ident, $adjust:expr) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::TestServer::spawn_with($crate::Backend::Sqlite, $adjust)
                    .await
                    .expect("sqlite app");
                super::$body(app).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) =
                    $crate::TestServer::spawn_with($crate::Backend::Postgres, $adjust).await
                {
                    super::$body(app).await;
                }
            }
        }
    };
    ($name:ident, $body:ident) => {
        $crate::both_backends!($name, super::$body);
    };
    ($name:ident, $($body:ident)::+) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::TestServer::spawn($crate::Backend::Sqlite)
                    .await
                    .expect("sqlite app");
                $($body)::+(app).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) = $crate::TestServer::spawn($crate::Backend::Postgres).await {
                    $($body)::+(app).await;
                }
            }
        }
    };
}
