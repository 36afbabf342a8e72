//! `GET /v3/resellers/{reseller_id}/customers` (SPEC §2), its checks in the
//! SPEC's order: token, API key, token binding, scope (auth) → rate limit →
//! headers and parameters → reseller known → request-id replay → query.
//!
//! Depends on `app`, `domain` and its siblings `caller`, `error` and `middleware`.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, Uri, header};

use super::caller::{Answer, Caller, admit};
use super::error::{ApiError, Result, json_headers};
use super::middleware::RequestId;
use crate::app::App;
use crate::domain::ListQuery;

pub const ROUTE: &str = "/v3/resellers/{reseller_id}/customers";

pub async fn list(
    State(app): State<Arc<App>>,
    reseller_id: std::result::Result<Path<String>, PathRejection>,
    request: Request,
) -> Response {
    // An id that does not even decode can be no reseller's: it goes through
    // the checks as an unknown one.
    let reseller_id = reseller_id.map_or_else(|_| "\u{FFFD}".to_owned(), |Path(id)| id);
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .expect("the request-context middleware runs first");
    // 1–5: token, API key, token issued to that key's client, scope, rate limit.
    let answer = match admit(&app, request.headers(), Some(&reseller_id)).await {
        Ok(caller) => {
            let page = list_page(
                &app,
                &caller,
                request_id,
                &reseller_id,
                request.headers(),
                request.uri(),
            )
            .await;
            Answer::from(caller, page)
        }
        Err(refused) => refused,
    };
    answer.respond(ROUTE)
}

/// Checks 6–8 and the page itself.
async fn list_page(
    app: &App,
    caller: &Caller,
    request_id: &RequestId,
    reseller_id: &str,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<Response> {
    // 6: headers, then parameters.
    check_headers(headers, request_id)?;
    let query = ListQuery::parse(uri.query().unwrap_or_default()).map_err(ApiError::InvalidParameters)?;

    // 7: the reseller exists.
    if !app.catalog.reseller_known(reseller_id).await? {
        return Err(ApiError::UnknownReseller);
    }

    // 8: the request id is new for this client; only now is it spent.
    if let Some(id) = request_id.supplied()
        && !app.replay.first_use(&caller.client.client_id, id).await?
    {
        return Err(ApiError::DuplicateRequestId);
    }

    let body = app.catalog.page(reseller_id, &query).await?;
    Ok((StatusCode::OK, json_headers(), body).into_response())
}

/// SPEC §2's header rules; every broken one is named.
fn check_headers(headers: &HeaderMap, request_id: &RequestId) -> Result<()> {
    let mut problems = Vec::new();
    if let RequestId::Invalid(_) = request_id {
        problems.push("X-Request-Id: must be 1 to 128 visible ASCII characters".to_owned());
    }
    if headers.contains_key(header::ACCEPT) && !headers.get_all(header::ACCEPT).iter().any(accepts_json) {
        problems.push("Accept: must allow application/json".to_owned());
    }
    if let Some(content_type) = headers.get(header::CONTENT_TYPE)
        && !is_json_media_type(content_type)
    {
        problems.push("Content-Type: must be application/json".to_owned());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::InvalidHeaders(problems))
    }
}

/// Whether some media range with q > 0 admits `application/json`.
fn accepts_json(value: &HeaderValue) -> bool {
    let Ok(value) = value.to_str() else {
        return false;
    };
    value.split(',').any(|range| {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim();
        let admits = ["*/*", "application/*", "application/json"]
            .iter()
            .any(|m| media.eq_ignore_ascii_case(m));
        let weight = parts
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
            .map_or(Some(1.0), |(_, q)| {
                q.trim().parse::<f32>().ok().filter(|q| (0.0..=1.0).contains(q))
            });
        admits && weight.is_some_and(|q| q > 0.0)
    })
}

/// `application/json`, with or without parameters such as a charset.
fn is_json_media_type(value: &HeaderValue) -> bool {
    value.to_str().is_ok_and(|v| {
        v.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .eq_ignore_ascii_case("application/json")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_ranges() {
        let accepts = |v: &'static str| accepts_json(&HeaderValue::from_static(v));
        for ok in [
            "application/json",
            "*/*",
            "application/*",
            "text/html, application/json;q=0.5",
            "APPLICATION/JSON; charset=utf-8",
            "text/plain;q=1, */*;q=0.1",
        ] {
            assert!(accepts(ok), "{ok}");
        }
        for bad in [
            "text/html",
            "application/xml",
            "application/json;q=0",
            "*/*;q=0.0",
            "application/json;q=x",
        ] {
            assert!(!accepts(bad), "{bad}");
        }
    }

    #[test]
    fn content_types() {
        assert!(is_json_media_type(&HeaderValue::from_static("application/json")));
        assert!(is_json_media_type(&HeaderValue::from_static(
            "application/json; charset=utf-8"
        )));
        assert!(!is_json_media_type(&HeaderValue::from_static("text/plain")));
        assert!(!is_json_media_type(&HeaderValue::from_static("application/jsonx")));
    }
}
