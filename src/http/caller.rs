//! The first checks of every partner API request, in SPEC §2's order: the
//! bearer token, the API key, the token's binding to that key, the
//! reseller scope (when the path names a reseller), the client's rate
//! limit, then the headers. A handler written with [`with_caller`] starts
//! from a [`Caller`] that passed them; what the checks learnt (the client,
//! the rate decision, the API version) goes on the answer whatever its
//! outcome, because its headers and the access log need it.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, header};

use super::error::{ApiError, Result, whole_seconds};
use super::headers::{self, Body, X_API_VERSION};
use super::request::{ClientId, RequestId};
use crate::app::App;
use crate::auth::AuthError;
use crate::domain::refusal::Code;
use crate::domain::{ApiVersion, ClientRecord};
use crate::limits::{RateDecision, RatePolicy};
use crate::telemetry;

static X_API_KEY: header::HeaderName = header::HeaderName::from_static("x-api-key");
static RATELIMIT_POLICY: header::HeaderName = header::HeaderName::from_static("ratelimit-policy");
static RATELIMIT: header::HeaderName = header::HeaderName::from_static("ratelimit");

/// An authenticated partner client, within its rate limit, whose request's
/// headers are good.
pub struct Caller {
    pub client: Arc<ClientRecord>,
    pub rate: RateDecision,
    /// The API version of the answer: the request's `X-Api-Version`, else
    /// the client's (SPEC §7).
    pub version: ApiVersion,
}

impl Caller {
    /// Spends the request's own `X-Request-Id` for this client: 4120 if it
    /// was used within the replay window (SPEC §2, check 8).
    pub async fn spend(&self, app: &App, request_id: &RequestId) -> Result<()> {
        if let Some(id) = request_id.supplied()
            && !app.replay.first_use(&self.client.client_id, id).await?
        {
            return Err(Code::DuplicateRequestId.into());
        }
        Ok(())
    }
}

/// Answers a partner API request: checks 1–5 (token, API key, binding, the
/// scope of `reseller_id` if the path names one, rate limit), then the
/// headers for a request whose body is `body`, then `handle`.
pub async fn with_caller(
    app: &App,
    request_headers: &HeaderMap,
    request_id: &RequestId,
    reseller_id: Option<&str>,
    body: Body,
    handle: impl AsyncFnOnce(&Caller) -> Result<Response>,
) -> Response {
    let client = match app
        .auth
        .authorize(
            request_headers.get(header::AUTHORIZATION).map(HeaderValue::as_bytes),
            request_headers.get(&X_API_KEY).map(HeaderValue::as_bytes),
            reseller_id,
        )
        .await
    {
        Ok(client) => client,
        // Scope comes before the rate limit (SPEC §2): no rate decision yet,
        // so no RateLimit headers, but the client's version and its log.
        Err(AuthError::ResellerForbidden(client)) => {
            let version = client.api_version;
            let refused = ApiError::from(Code::ResellerForbidden).into_response();
            return answer(refused, client, version, None);
        }
        Err(error) => return ApiError::from(error).into_response(),
    };
    let version = client.api_version;
    let rate = match app.rate.check(&client).await {
        Ok(denied @ RateDecision::Denied { retry_after, .. }) => {
            telemetry::rate_limited();
            let refused = ApiError::TooManyRequests { retry_after };
            return answer(refused.into_response(), client, version, Some(denied));
        }
        Ok(rate) => rate,
        Err(error) => return answer(ApiError::from(error).into_response(), client, version, None),
    };
    match headers::check(request_headers, request_id, body) {
        Err(error) => answer(error.into_response(), client, version, Some(rate)),
        Ok(asked) => {
            let caller = Caller {
                version: asked.unwrap_or(version),
                client,
                rate,
            };
            let response = handle(&caller).await.unwrap_or_else(IntoResponse::into_response);
            answer(response, caller.client, caller.version, Some(rate))
        }
    }
}

/// `response` with what the checks learnt: the API version, the RateLimit
/// headers and the client for the access log.
fn answer(
    mut response: Response,
    client: Arc<ClientRecord>,
    version: ApiVersion,
    rate: Option<RateDecision>,
) -> Response {
    response
        .headers_mut()
        .insert(X_API_VERSION.clone(), HeaderValue::from_static(version.as_str()));
    if let Some(decision) = rate {
        rate_headers(response.headers_mut(), decision);
    }
    response.extensions_mut().insert(ClientId(client));
    response
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
