//! Logging (`tracing`, human or JSON) and Prometheus metrics.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

/// The log filter without `RUST_LOG`: the server's own events from `info`; its libraries'
/// chatter only from `warn` — the embedded MQTT broker (rumqttd) logs every connection and
/// subscription at `info`, which `RUST_LOG=info` (or `debug`) shows again.
pub const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn,tower_http=info,rumqttd=warn,rumqttc=warn";

/// Installs the global log subscriber (call once, from `main`). `RUST_LOG` replaces
/// [`DEFAULT_LOG_FILTER`] entirely.
pub fn init_logging(json: bool) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// The process-wide Prometheus recorder (installed on first use).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (e.g. by an embedding test); then this
            // handle renders only what was recorded through it, which is nothing.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// The `route` label of a request no route matched (one fixed value, whatever the path).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The `method` label: the standard methods by name, anything else (`M1…`, `PURGE`) as
/// `other`, so a client cannot create label values (and memory) at will.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Middleware counting requests and timing them by route and status. Every label has a bounded
/// set of values: the route is the matched route's template (or [`UNMATCHED_ROUTE`]), never the
/// path asked for; the method is [`method_label`]; the status a three-digit code.
pub async fn track_requests(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| UNMATCHED_ROUTE.to_owned());
    let method = method_label(request.method());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [
        ("method", method.to_owned()),
        ("route", route),
        ("status", status),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_filter_parses_and_quiets_the_broker() {
        let filter = EnvFilter::try_new(DEFAULT_LOG_FILTER);
        assert!(filter.is_ok(), "{filter:?}");
        assert!(DEFAULT_LOG_FILTER.contains("rumqttd=warn"));
    }

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::OPTIONS), "OPTIONS");
        for odd in ["M1", "M2AAAA", "PURGE", "get"] {
            let method = Method::from_bytes(odd.as_bytes()).unwrap_or(Method::CONNECT);
            assert_eq!(method_label(&method), "other", "{odd}");
        }
    }
}
