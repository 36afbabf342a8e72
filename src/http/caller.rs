//! The first checks of every partner API request (SPEC §2, steps 1–5): the
//! bearer token, the API key, the token's binding to that key, optionally
//! the reseller scope, then the client's rate limit. What they learn (the
//! client, the rate decision) travels with the answer, because the
//! response's headers and the access log need it whatever the outcome.
//!
//! Depends on `app`, `limits`, `telemetry`, `domain` and its siblings `error`, `headers` and `request`.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, header};

use super::error::{ApiError, whole_seconds};
use super::headers::X_API_VERSION;
use super::request::ClientId;
use crate::app::App;
use crate::domain::{ApiVersion, ClientRecord};
use crate::limits::{RateDecision, RatePolicy};
use crate::telemetry;

static X_API_KEY: header::HeaderName = header::HeaderName::from_static("x-api-key");
static RATELIMIT_POLICY: header::HeaderName = header::HeaderName::from_static("ratelimit-policy");
static RATELIMIT: header::HeaderName = header::HeaderName::from_static("ratelimit");

/// An authenticated partner client that is within its rate limit.
pub struct Caller {
    pub client: Arc<ClientRecord>,
    pub rate: RateDecision,
}

/// A handler's outcome, with what the checks learnt about the caller.
pub struct Answer {
    client: Option<Arc<ClientRecord>>,
    rate: Option<RateDecision>,
    /// The API version answered in (`X-Api-Version`, SPEC §7).
    version: Option<ApiVersion>,
    result: Result<Response, ApiError>,
}

/// What a handler answers once the caller is admitted: the response (or
/// error) and the API version it was answered in, if the request asked
/// for one (else the client's).
pub type Handled = (Result<Response, ApiError>, Option<ApiVersion>);

impl Answer {
    /// The answer to a request that got past [`admit`].
    pub fn from(caller: Caller, (result, version): Handled) -> Self {
        Answer {
            version: Some(version.unwrap_or(caller.client.api_version)),
            client: Some(caller.client),
            rate: Some(caller.rate),
            result,
        }
    }

    /// The response, with the RateLimit headers, the API version (for an
    /// authenticated caller) and the client for the access log.
    pub fn respond(self) -> Response {
        let mut response = self.result.unwrap_or_else(IntoResponse::into_response);
        if let Some(version) = self.version.or(self.client.as_ref().map(|client| client.api_version)) {
            response
                .headers_mut()
                .insert(X_API_VERSION.clone(), HeaderValue::from_static(version.as_str()));
        }
        if let Some(decision) = self.rate {
            rate_headers(response.headers_mut(), decision);
        }
        if let Some(client) = self.client {
            response.extensions_mut().insert(ClientId(client));
        }
        response
    }
}

/// Checks 1–5: token, API key, binding, the scope when the request names a
/// reseller (`reseller_id`), then the rate limit. `Err` is the answer.
pub async fn admit(app: &App, headers: &HeaderMap, reseller_id: Option<&str>) -> Result<Caller, Answer> {
    let refuse = |client, rate, error: ApiError| Answer {
        client,
        rate,
        version: None,
        result: Err(error),
    };
    let client = app
        .auth
        .authorize(
            headers.get(header::AUTHORIZATION).map(HeaderValue::as_bytes),
            headers.get(&X_API_KEY).map(HeaderValue::as_bytes),
            reseller_id,
        )
        .await
        .map_err(|error| refuse(None, None, error.into()))?;
    let rate = match app.rate.check(&client).await {
        Ok(rate) => rate,
        Err(error) => return Err(refuse(Some(client), None, error.into())),
    };
    if let RateDecision::Denied { retry_after, .. } = rate {
        telemetry::rate_limited();
        return Err(refuse(
            Some(client),
            Some(rate),
            ApiError::TooManyRequests { retry_after },
        ));
    }
    Ok(Caller { client, rate })
}

/// `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers):
/// the bucket holds 2N requests and refills at N/s, i.e. 2N per 2 s.
fn rate_headers(headers: &mut HeaderMap, decision: RateDecision) {
    let (policy, remaining, reset) = match decision {
        RateDecision::Unlimited => return,
        RateDecision::Allowed {
            policy,
            remaining,
            full_in,
        } => (policy, remaining, whole_seconds(full_in)),
        RateDecision::Denied { policy, retry_after } => (policy, 0, whole_seconds(retry_after)),
    };
    let RatePolicy { rate, burst } = policy;
    let window = burst.div_ceil(rate);
    let policy = format!("\"client\";q={burst};w={window}");
    let state = format!("\"client\";r={remaining};t={reset}");
    headers.insert(RATELIMIT_POLICY.clone(), HeaderValue::try_from(policy).expect("ASCII"));
    headers.insert(RATELIMIT.clone(), HeaderValue::try_from(state).expect("ASCII"));
}
