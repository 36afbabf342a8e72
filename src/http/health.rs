//! `GET /healthz` (SPEC §5): 200 once the server accepts requests; no
//! authentication, so load balancers can probe it.
//!
//! Depends on its siblings `error` and `middleware`.

use axum::response::{IntoResponse, Response};

use super::error::json_headers;
use super::middleware::routed;

pub const ROUTE: &str = "/healthz";

pub async fn health() -> Response {
    routed(ROUTE, (json_headers(), r#"{"status":"ok"}"#).into_response())
}
