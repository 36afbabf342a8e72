//! `GET /v3/resellers/{reseller_id}/customers` (SPEC §2), its checks in the
//! SPEC's order: token, API key, token binding, scope (auth) → rate limit →
//! headers and parameters → reseller known → request-id replay → query.
//!
//! Depends on `app`, `domain` and its siblings `caller`, `error`, `headers` and `request`.

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, Uri};

use super::caller::{Answer, Caller, Handled, admit};
use super::error::{ApiError, json_headers};
use super::headers::{self, Body};
use super::request::RequestId;
use crate::app::App;
use crate::catalog::Items;
use crate::domain::{ApiVersion, ListQuery};

pub const ROUTE: &str = "/v3/resellers/{reseller_id}/customers";

pub async fn list(app: &App, reseller_id: String, request_id: &RequestId, request: Request) -> Response {
    // 1–5: token, API key, token issued to that key's client, scope, rate limit.
    let answer = match admit(app, request.headers(), Some(&reseller_id)).await {
        Ok(caller) => {
            let page = list_page(app, &caller, request_id, &reseller_id, request.headers(), request.uri()).await;
            Answer::from(caller, page)
        }
        Err(refused) => refused,
    };
    answer.respond()
}

/// Checks 6–8 and the page itself, in the API version asked for.
async fn list_page(
    app: &App,
    caller: &Caller,
    request_id: &RequestId,
    reseller_id: &str,
    headers: &HeaderMap,
    uri: &Uri,
) -> Handled {
    let mut version = None;
    let result = async {
        // 6: headers, then parameters.
        version = headers::check(headers, request_id, Body::None)?;
        let query = ListQuery::parse(uri.query().unwrap_or_default()).map_err(ApiError::InvalidParameters)?;

        // 7: the reseller exists.
        if !app.catalog.reseller_known(reseller_id, &caller.client.scope).await? {
            return Err(ApiError::UnknownReseller);
        }

        // 8: the request id is new for this client; only now is it spent.
        if let Some(id) = request_id.supplied()
            && !app.replay.first_use(&caller.client.client_id, id).await?
        {
            return Err(ApiError::DuplicateRequestId);
        }

        let items = match version.unwrap_or(caller.client.api_version) {
            ApiVersion::V2025_08 => Items::Records,
            ApiVersion::V2025_11 => Items::Summaries,
        };
        let body = app.catalog.page_of(reseller_id, &query, items);
        Ok((StatusCode::OK, json_headers(), body).into_response())
    }
    .await;
    (result, version)
}
