//! `GET /healthz` (SPEC §5): 200 once the server accepts requests; no
//! authentication, so load balancers can probe it.

use axum::response::IntoResponse;

use super::error::json_headers;

pub async fn health() -> impl IntoResponse {
    (json_headers(), r#"{"status":"ok"}"#)
}
