//! `POST /ims/token/v3` (SPEC §4): the OAuth 2.0 client-credentials grant;
//! and `POST /ims/token/v2` (SPEC §7), the identity service's older form:
//! parameters in the query string or the form body, `expires_in` in
//! milliseconds. Errors follow RFC 6749 §5.2 (`{"error": …}`), as OAuth
//! clients expect.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::json;

use super::request::Peer;
use crate::app::App;
use crate::auth::clients::{IssuedToken, token_for};
use crate::auth::logins::Refusal;
use crate::auth::secret::{decoy_hash, verify_secret};
use crate::auth::token::DEFAULT_TTL_SECS;
use crate::auth::{authorization_credentials, plausible_client_id};
use crate::domain::form;
use crate::telemetry;

/// An RFC 6749 §5.2 error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OAuthError {
    InvalidRequest(&'static str),
    /// Bad or missing client credentials; `basic` when they came as HTTP Basic.
    InvalidClient {
        basic: bool,
    },
    UnsupportedGrantType,
    /// Refused before any secret check (docs/DECISIONS.md, "Logins under
    /// attack"): 429 with `Retry-After`.
    Refused(Refusal),
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let (status, body) = match &self {
            OAuthError::InvalidRequest(why) => (
                StatusCode::BAD_REQUEST,
                json!({"error": "invalid_request", "error_description": why}),
            ),
            OAuthError::InvalidClient { .. } => (StatusCode::UNAUTHORIZED, json!({"error": "invalid_client"})),
            OAuthError::UnsupportedGrantType => (StatusCode::BAD_REQUEST, json!({"error": "unsupported_grant_type"})),
            OAuthError::Refused(refusal) => (
                StatusCode::TOO_MANY_REQUESTS,
                json!({"error": "temporarily_unavailable", "error_description": match refusal {
                    Refusal::Busy => "too many logins at once; retry shortly",
                    Refusal::CoolingDown(_) => "too many failed logins; retry after the time in Retry-After",
                }}),
            ),
        };
        let mut response = (status, no_store_headers(), body.to_string()).into_response();
        if let OAuthError::Refused(refusal) = self {
            let wait = match refusal {
                Refusal::Busy => Duration::from_secs(1),
                Refusal::CoolingDown(wait) => wait,
            };
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, super::error::whole_seconds(wait).into());
        }
        if let OAuthError::InvalidClient { basic: true } = self {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"roster\""),
            );
        }
        response
    }
}

fn no_store_headers() -> [(header::HeaderName, HeaderValue); 3] {
    [
        (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}

pub const ROUTE: &str = "/ims/token/v3";
pub const ROUTE_V2: &str = "/ims/token/v2";

/// Where a refused login waits before it is answered: long enough that a
/// client hammering the endpoint costs the server almost nothing, short
/// enough for a person who mistyped (docs/DECISIONS.md).
const REFUSAL_PAUSE: Duration = Duration::from_secs(1);

pub async fn issue(app: &App, peer: Peer, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    respond(grant(app, peer.0, &parts.headers, None, body).await, |token| {
        token.expires_in
    })
    .await
}

pub async fn issue_v2(app: &App, peer: Peer, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let query = parts.uri.query().unwrap_or_default();
    let granted = grant(app, peer.0, &parts.headers, Some(query), body).await;
    respond(granted, |token| token.expires_in.saturating_mul(1000)).await
}

/// The token response, `expires_in` as `lifetime` gives it; or the error
/// (a refusal for failed logins after [`REFUSAL_PAUSE`]).
async fn respond(granted: Result<IssuedToken, Failure>, lifetime: impl Fn(&IssuedToken) -> u64) -> Response {
    match granted {
        Ok(token) => {
            let body = json!({
                "access_token": token.access_token,
                "token_type": "bearer",
                "expires_in": lifetime(&token),
            });
            (StatusCode::OK, no_store_headers(), body.to_string()).into_response()
        }
        Err(Failure::OAuth(error)) => {
            if let OAuthError::Refused(Refusal::CoolingDown(_)) = error {
                tokio::time::sleep(REFUSAL_PAUSE).await;
            }
            error.into_response()
        }
        Err(Failure::Internal(error)) => super::ApiError::Internal(error).into_response(),
    }
}

enum Failure {
    OAuth(OAuthError),
    Internal(anyhow::Error),
}

impl From<OAuthError> for Failure {
    fn from(error: OAuthError) -> Self {
        Failure::OAuth(error)
    }
}

/// The credentials a request presents, however it presents them.
struct Credentials {
    client_id: String,
    secret: String,
    basic: bool,
}

/// Checks the grant and issues a token. Parameters come from the form body
/// and, for v2, from `query` too; none may be given twice.
async fn grant(
    app: &App,
    address: IpAddr,
    headers: &HeaderMap,
    query: Option<&str>,
    body: Body,
) -> Result<IssuedToken, Failure> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    let body = to_bytes(body, app.limits.max_body_bytes)
        .await
        .map_err(|_| OAuthError::InvalidRequest("the body is too large"))?;
    // v3 takes its parameters from a form body only; v2 from either.
    if !is_form && (query.is_none() || !body.is_empty()) {
        return Err(OAuthError::InvalidRequest("the body must be application/x-www-form-urlencoded").into());
    }
    let body = std::str::from_utf8(&body).map_err(|_| OAuthError::InvalidRequest("the body must be UTF-8"))?;

    let params = parameters(query, body)?;
    let param = |name: &str| params.get(name).map(|(value, _)| value.as_str());

    match param("grant_type") {
        None => return Err(OAuthError::InvalidRequest("grant_type is required").into()),
        Some("client_credentials") => {}
        Some(_) => return Err(OAuthError::UnsupportedGrantType.into()),
    }
    let credentials = credentials(headers, param("client_id"), param("client_secret"))?;
    let invalid = OAuthError::InvalidClient {
        basic: credentials.basic,
    };
    let client_id = credentials.client_id.as_str();
    if !plausible_client_id(client_id) {
        // Not an id Roster could have issued: no secret to check.
        return Err(invalid.into());
    }

    // argon2 is deliberately slow: it runs off the async threads, a bounded
    // number at a time, with a bounded queue, and not at all for an address
    // that keeps failing (docs/DECISIONS.md, "Logins under attack").
    let logins = &app.logins;
    let refused = |refusal| {
        telemetry::login(match refusal {
            Refusal::Busy => "busy",
            Refusal::CoolingDown(_) => "refused",
        });
        OAuthError::Refused(refusal)
    };
    // A secret that passed its check here before is recognised without
    // one, past the queue, once the failure rules let the address try.
    let mut read = None;
    if logins.verified.knows(client_id) {
        logins.may_try(client_id, address).map_err(refused)?;
        let client = app.store.client(client_id).await.map_err(Failure::Internal)?;
        let verified = &logins.verified;
        if let Some(client) = client
            .as_ref()
            .filter(|c| c.enabled && verified.recognises(client_id, &c.secret_hash, &credentials.secret))
        {
            logins.record(client_id, address, true);
            telemetry::login("issued");
            return Ok(token_for(app.auth.signer(), client, DEFAULT_TTL_SECS));
        }
        // Another secret: checked like any login, on the record just read.
        read = Some(client);
    }
    let turn = logins.admit(client_id, address).await.map_err(refused)?;
    let client = match read {
        Some(client) => client,
        None => app.store.client(client_id).await.map_err(Failure::Internal)?,
    };
    let hash = client
        .as_ref()
        .map_or_else(|| decoy_hash().to_owned(), |c| c.secret_hash.clone());
    let secret = credentials.secret.clone();
    let matches = tokio::task::spawn_blocking(move || verify_secret(&secret, &hash))
        .await
        .map_err(|e| Failure::Internal(e.into()))?;
    drop(turn);
    let client = client.filter(|c| matches && c.enabled);
    logins.record(client_id, address, client.is_some());
    telemetry::login(if client.is_some() { "issued" } else { "invalid_client" });
    let client = client.ok_or(invalid)?;
    logins
        .verified
        .remember(client_id, &client.secret_hash, &credentials.secret);

    Ok(token_for(app.auth.signer(), &client, DEFAULT_TTL_SECS))
}

/// Most parameters a token request may carry in all: the grant needs three,
/// and an OAuth client sends a few more (`scope`, say); checking many more
/// would cost CPU before any login limit applies (docs/OPERATIONS.md,
/// "Limits").
const MAX_PARAMETERS: usize = 32;

/// The parameters of the query string (v2 only) and the form body, by name.
/// None may be repeated (RFC 6749 §3.2), nor given in both places.
fn parameters(query: Option<&str>, body: &str) -> Result<HashMap<String, (String, bool)>, OAuthError> {
    let (query, body) = (form::pairs(query.unwrap_or_default()), form::pairs(body));
    if query.len() + body.len() > MAX_PARAMETERS {
        return Err(OAuthError::InvalidRequest("too many parameters"));
    }
    // Each name maps to its value and whether it came in the query string.
    let mut params: HashMap<String, (String, bool)> = HashMap::with_capacity(query.len() + body.len());
    let query = query.into_iter().map(|pair| (true, pair));
    for (in_query, (key, value)) in query.chain(body.into_iter().map(|pair| (false, pair))) {
        let value = value.map_err(|_| OAuthError::InvalidRequest("parameters must be UTF-8"))?;
        if let Some((_, first_in_query)) = params.get(&key) {
            return Err(OAuthError::InvalidRequest(if *first_in_query != in_query {
                "a parameter is given in both the query string and the form body"
            } else {
                "a parameter is repeated"
            }));
        }
        params.insert(key, (value, in_query));
    }
    Ok(params)
}

/// `client_secret_basic` or `client_secret_post`, never both (RFC 6749 §2.3.1).
fn credentials(headers: &HeaderMap, id: Option<&str>, secret: Option<&str>) -> Result<Credentials, OAuthError> {
    let basic = authorization_credentials(headers.get(header::AUTHORIZATION).map(HeaderValue::as_bytes), "basic");
    match (basic, secret) {
        (Some(_), Some(_)) => Err(OAuthError::InvalidRequest(
            "use one client authentication method, not two",
        )),
        (Some(encoded), None) => {
            let invalid = OAuthError::InvalidClient { basic: true };
            let decoded = STANDARD.decode(encoded).map_err(|_| invalid)?;
            let decoded = String::from_utf8(decoded).map_err(|_| invalid)?;
            let (user, password) = decoded.split_once(':').ok_or(invalid)?;
            // Basic credentials are form-encoded before base64 (RFC 6749 §2.3.1).
            let client_id = form::decode(user).map_err(|_| invalid)?;
            let secret = form::decode(password).map_err(|_| invalid)?;
            if id.is_some_and(|id| id != client_id) {
                return Err(OAuthError::InvalidRequest(
                    "client_id differs from the Basic credentials",
                ));
            }
            Ok(Credentials {
                client_id,
                secret,
                basic: true,
            })
        }
        (None, Some(secret)) => Ok(Credentials {
            client_id: id.ok_or(OAuthError::InvalidClient { basic: false })?.to_owned(),
            secret: secret.to_owned(),
            basic: false,
        }),
        (None, None) => Err(OAuthError::InvalidClient { basic: false }),
    }
}
