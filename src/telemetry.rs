//! Metrics for operators (SPEC §9): what Roster counts and measures, under
//! one set of names, and the Prometheus exposition that `--metrics-listen`
//! serves on its own listener. docs/OPERATIONS.md lists the metrics and
//! what to alert on.
//!
//! Without `--metrics-listen` nothing is recorded: every recording
//! function returns at once, so the API pays nothing for metrics it does
//! not export.

use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

/// Requests answered, by route template, method and status.
pub const REQUESTS: &str = "roster_http_requests_total";
/// Time to answer, by route template (seconds).
pub const REQUEST_SECONDS: &str = "roster_http_request_duration_seconds";
/// Requests refused by a client's rate limit (429 4118).
pub const RATE_LIMITED: &str = "roster_rate_limited_total";
/// Token requests, by outcome: issued, invalid_client, refused (failed-login
/// limits) or busy (the login queue full).
pub const LOGINS: &str = "roster_logins_total";
/// Customers in the catalog.
pub const CATALOG_CUSTOMERS: &str = "roster_catalog_customers";
/// The change-log generation the catalog has applied.
pub const CATALOG_GENERATION: &str = "roster_catalog_generation";
/// When the catalog last confirmed it had every committed write (Unix
/// seconds): `time() - this` is how stale reads may be.
pub const CATALOG_FOLLOWED_AT: &str = "roster_catalog_followed_timestamp_seconds";
/// Time to apply a batch of changes from the change log (seconds).
pub const CATCH_UP_SECONDS: &str = "roster_catalog_catch_up_duration_seconds";
/// Time from an API write's arrival to its commit (seconds), batching
/// included.
pub const WRITE_SECONDS: &str = "roster_write_duration_seconds";
/// Failed calls to a dependency, by dependency: database or redis.
pub const DEPENDENCY_ERRORS: &str = "roster_dependency_errors_total";

const LATENCY_BUCKETS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Whether metrics are recorded (`--metrics-listen` was given).
pub fn enabled() -> bool {
    HANDLE.get().is_some()
}

/// Installs the recorder, once per process; later calls return the same
/// handle.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), LATENCY_BUCKETS)?
        .build_recorder();
    let handle = recorder.handle();
    // A recorder may be installed only once per process; a second server in
    // the same process (tests) shares the first one's.
    if metrics::set_global_recorder(recorder).is_ok() {
        let _ = HANDLE.set(handle.clone());
    }
    Ok(HANDLE.get().cloned().unwrap_or(handle))
}

/// Serves `GET /metrics` (Prometheus text exposition) on `listener` until
/// the process ends.
pub async fn serve(listener: TcpListener, handle: PrometheusHandle) -> anyhow::Result<()> {
    let render = move || {
        let handle = handle.clone();
        async move {
            handle.run_upkeep();
            (
                [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                handle.render(),
            )
        }
    };
    let router = Router::new().route("/metrics", get(render));
    axum::serve(listener, router).await?;
    Ok(())
}

/// One answered request.
///
/// Counted through handles each worker thread keeps per route, method and
/// status, not by building the labelled key every time, which was a
/// good part of a default page's cost (docs/PERFORMANCE.md, "The cost of
/// metrics"). Methods outside HTTP's standard set
/// are counted as `other`, so a client inventing methods cannot grow the
/// exposition without bound (routes and statuses are bounded already).
/// The routes are a handful of templates, so they are found by a scan
/// rather than by hashing the template (docs/PERFORMANCE.md, "The cost of
/// metrics").
pub fn request(route: &'static str, method: &http::Method, status: u16, took: Duration) {
    if !enabled() {
        return;
    }
    let method = method_label(method);
    REQUEST_HANDLES.with_borrow_mut(|routes| {
        let known = routes.iter().position(|(known, _)| *known == route);
        let index = known.unwrap_or_else(|| {
            let seconds = metrics::histogram!(REQUEST_SECONDS, "route" => route);
            routes.push((
                route,
                RouteHandles {
                    seconds,
                    counts: Vec::new(),
                },
            ));
            routes.len() - 1
        });
        let handles = &mut routes[index].1;
        handles.seconds.record(took.as_secs_f64());
        match handles.counts.iter().find(|(m, s, _)| *m == method && *s == status) {
            Some((_, _, counter)) => counter.increment(1),
            None => {
                let mut digits = itoa::Buffer::new();
                let counter = metrics::counter!(
                    REQUESTS,
                    "route" => route,
                    "method" => method,
                    "status" => digits.format(status).to_owned()
                );
                counter.increment(1);
                handles.counts.push((method, status, counter));
            }
        }
    });
}

/// One route's recording handles, on one worker thread.
struct RouteHandles {
    seconds: metrics::Histogram,
    counts: Vec<(&'static str, u16, metrics::Counter)>,
}

thread_local! {
    static REQUEST_HANDLES: std::cell::RefCell<Vec<(&'static str, RouteHandles)>> =
        std::cell::RefCell::default();
}

/// `method`'s label: its name when it is one of HTTP's standard methods.
fn method_label(method: &http::Method) -> &'static str {
    use http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

pub fn rate_limited() {
    if enabled() {
        metrics::counter!(RATE_LIMITED).increment(1);
    }
}

/// A token request's outcome.
pub fn login(outcome: &'static str) {
    if enabled() {
        metrics::counter!(LOGINS, "outcome" => outcome).increment(1);
    }
}

/// The catalog's size and generation after a load or a catch-up.
pub fn catalog(customers: usize, generation: i64) {
    if enabled() {
        metrics::gauge!(CATALOG_CUSTOMERS).set(customers as f64);
        metrics::gauge!(CATALOG_GENERATION).set(generation as f64);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        metrics::gauge!(CATALOG_FOLLOWED_AT).set(now.as_secs_f64());
    }
}

/// A batch of changes applied from the change log.
pub fn catch_up(took: Duration) {
    if enabled() {
        metrics::histogram!(CATCH_UP_SECONDS).record(took.as_secs_f64());
    }
}

/// An API write committed.
pub fn write(took: Duration) {
    if enabled() {
        metrics::histogram!(WRITE_SECONDS).record(took.as_secs_f64());
    }
}

/// A failed call to the database or Redis.
pub fn dependency_error(dependency: &'static str) {
    if enabled() {
        metrics::counter!(DEPENDENCY_ERRORS, "dependency" => dependency).increment(1);
    }
}
