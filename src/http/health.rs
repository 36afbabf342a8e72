//! `GET /healthz` (SPEC §5): 200 once the server accepts requests, a
//! liveness check; and `GET /readyz` (SPEC §9): 200 while the database
//! (and Redis, when configured) answer, 503 otherwise. No authentication,
//! so load balancers and orchestrators can probe them.

use axum::response::{IntoResponse, Response};

use super::error::{ApiError, json_headers};
use crate::app::App;
use crate::domain::refusal::Code;

pub const ROUTE: &str = "/healthz";
pub const READY_ROUTE: &str = "/readyz";

pub fn health() -> Response {
    (json_headers(), r#"{"status":"ok"}"#).into_response()
}

pub async fn ready(app: &App) -> Response {
    let unready = app.unready().await;
    match unready.is_empty() {
        true => (json_headers(), r#"{"status":"ready"}"#).into_response(),
        false => ApiError::refused(Code::Unavailable, unready.into_iter().map(String::from).collect()).into_response(),
    }
}

/// The answer to every request while the catalog loads (before the server
/// can answer anything else): 503, naming the cause, and the connection
/// closed so that the client's next request reaches the loaded server.
pub async fn loading() -> Response {
    let mut response = ApiError::refused(Code::Unavailable, vec!["the catalog is loading".into()]).into_response();
    response
        .headers_mut()
        .insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
    response
}
