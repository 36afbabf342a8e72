//! What every request passes through: one outer layer for the request id,
//! the access log and the guard (size limits, the in-flight limit, the
//! timeout → 500, a handler's panic → 500). Each answers in SPEC §3's JSON shape,
//! so no limit leaks a bare body.
//!
//! One layer rather than three, and routes named by their handlers rather
//! than by a route layer: each `from_fn` layer clones and boxes the service
//! below it on every request, ~1.2 µs a layer (docs/PERFORMANCE.md). For
//! the same reason the outer layer is [`Context`], a service of our own
//! around the whole router, rather than a `from_fn` layer the router copies
//! onto every route.
//!
//! Depends on `app` (limits), `logs`, `telemetry`, `domain` and its sibling `error`.

use std::any::Any;
use std::borrow::Cow;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::task::{self, Poll};
use std::time::Instant;

use std::panic::AssertUnwindSafe;

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::{FromRequestParts, MatchedPath, Request};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use http::request::Parts;
use http::{HeaderName, HeaderValue};
use tokio::sync::Semaphore;
use tower::{BoxError, Service, ServiceExt};

use super::error::{ApiError, InternalCause};
use crate::app::HttpLimits;
use crate::domain::ClientRecord;
use crate::logs::Access;
use crate::telemetry;

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub static X_CORRELATION_ID: HeaderName = HeaderName::from_static("x-correlation-id");

/// The request's id (SPEC §2), as every response echoes it.
#[derive(Debug, Clone)]
pub enum RequestId {
    /// The partner sent this valid id: it counts for replay.
    Supplied(HeaderValue),
    /// The partner sent none; this one was generated.
    Generated(HeaderValue),
    /// The partner sent an id that breaks SPEC §2's rule: this generated
    /// one stands in, and the request is refused with 1117 at check 6.
    Invalid(HeaderValue),
}

impl RequestId {
    /// The id every response carries.
    pub fn value(&self) -> &HeaderValue {
        match self {
            RequestId::Supplied(id) | RequestId::Generated(id) | RequestId::Invalid(id) => id,
        }
    }

    /// The partner's own valid id, which replay checks spend.
    pub fn supplied(&self) -> Option<&str> {
        match self {
            RequestId::Supplied(id) => Some(id.to_str().expect("a valid request id is visible ASCII")),
            _ => None,
        }
    }
}

/// Which route answered, for the access log: set by each handler (see
/// [`routed`]).
#[derive(Clone)]
struct RouteTemplate(Cow<'static, str>);

/// `response`, marked as answered by `route` (a template of `super::router`).
pub fn routed(route: &'static str, mut response: Response) -> Response {
    response.extensions_mut().insert(RouteTemplate(Cow::Borrowed(route)));
    response
}

/// The answer to a known path with an unsupported method, marked with the
/// path's route like any handler's.
pub async fn method_not_allowed(route: Option<MatchedPath>) -> Response {
    let mut response = ApiError::MethodNotAllowed.into_response();
    if let Some(route) = route {
        response
            .extensions_mut()
            .insert(RouteTemplate(Cow::Owned(route.as_str().to_owned())));
    }
    response
}

/// The address a request came from (its connection's peer), for the
/// token endpoint's failed-login limits. Unspecified when the router runs
/// without [`super::serve`] (in tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Peer>()
            .copied()
            .unwrap_or(Peer(IpAddr::V6(Ipv6Addr::UNSPECIFIED))))
    }
}

/// The authenticated client, for the access log (the record the request
/// already holds, so logging it costs no allocation).
#[derive(Clone)]
pub struct ClientId(pub Arc<ClientRecord>);

/// 1–128 visible ASCII characters (SPEC §2).
fn valid_request_id(value: &HeaderValue) -> bool {
    (1..=128).contains(&value.len()) && value.as_bytes().iter().all(u8::is_ascii_graphic)
}

fn generated_id() -> HeaderValue {
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    HeaderValue::from_str(uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text))
        .expect("a UUID is a valid header value")
}

/// The outer layer of every request, around the routes: see
/// [`request_context`].
#[derive(Clone)]
pub struct Context {
    routes: Router,
    guard: Arc<Guard>,
}

impl Context {
    pub fn new(routes: Router, guard: Guard) -> Self {
        Context {
            routes,
            guard: Arc::new(guard),
        }
    }
}

impl<B> Service<http::Request<B>> for Context
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut task::Context<'_>) -> Poll<Result<(), Infallible>> {
        // The routes are made ready per request, in `request_context`.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let (routes, guard) = (self.routes.clone(), self.guard.clone());
        Box::pin(async move { Ok(request_context(&guard, request.map(Body::new), routes).await) })
    }
}

/// Gives each request its id, guards it, echoes the id (and
/// `X-Correlation-Id`) on the response, and writes one access-log line.
async fn request_context(guard: &Guard, mut request: Request, routes: Router) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let context = match request.headers().get(&X_REQUEST_ID) {
        Some(id) if valid_request_id(id) => RequestId::Supplied(id.clone()),
        Some(_) => RequestId::Invalid(generated_id()),
        None => RequestId::Generated(generated_id()),
    };
    let correlation_id = request.headers().get(&X_CORRELATION_ID).cloned();
    request.extensions_mut().insert(context.clone());

    let mut response = guard.run(request, routes).await;

    let headers = response.headers_mut();
    headers.insert(X_REQUEST_ID.clone(), context.value().clone());
    if let Some(correlation_id) = correlation_id {
        headers.insert(X_CORRELATION_ID.clone(), correlation_id);
    }
    let status = response.status().as_u16();
    let route = response.extensions().get::<RouteTemplate>().map(|r| r.0.as_ref());
    let latency = started.elapsed();
    telemetry::request(route.unwrap_or("unmatched"), &method, status, latency);
    let client_id = response.extensions().get::<ClientId>().map(|c| c.0.client_id.as_str());
    let request_id = context.value().to_str().unwrap_or_default();
    match response.extensions().get::<InternalCause>() {
        Some(cause) => {
            let latency_ms = latency.as_secs_f64() * 1000.0;
            tracing::error!(
                target: "roster::access",
                %method, route, status, latency_ms, request_id, client_id, cause = %cause.0,
                "request failed"
            )
        }
        None => Access {
            method: method.as_str(),
            route,
            status,
            latency,
            request_id,
            client_id,
        }
        .log(),
    }
    response
}

/// The resource limits of one server: its configuration and the permits of
/// its in-flight limit.
pub struct Guard {
    pub limits: HttpLimits,
    pub in_flight: Semaphore,
    /// Paths that do not wait for an in-flight permit: logins have their
    /// own budget (`auth::logins`) and health checks cost nothing, so a
    /// login flood cannot fill the API's permits, nor a busy API fail a
    /// probe.
    pub outside_in_flight: Vec<&'static str>,
}

impl Guard {
    /// Refuses over-long URIs (414) and oversized header sections (431) in
    /// JSON, well below hyper's own buffer limit, which could only close the
    /// connection; then waits for an in-flight permit (back-pressure: at
    /// most `--max-in-flight` requests are worked on at once); answers a
    /// handler's panic with 500 1124 (the message only logged); and answers
    /// 500 1124 when all of it runs past the timeout, dropping the work.
    async fn run(&self, request: Request, routes: Router) -> Response {
        let limits = &self.limits;
        let uri_bytes = request.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
        if uri_bytes > limits.max_uri_bytes {
            return ApiError::UriTooLong {
                max_bytes: limits.max_uri_bytes,
            }
            .into_response();
        }
        let header_bytes: usize = request
            .headers()
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 4)
            .sum();
        if header_bytes > limits.max_header_bytes {
            return ApiError::HeadersTooLarge {
                max_bytes: limits.max_header_bytes,
            }
            .into_response();
        }
        let own_budget = self.outside_in_flight.contains(&request.uri().path());
        let work = async {
            let _permit = match own_budget {
                true => None,
                false => Some(
                    self.in_flight
                        .acquire()
                        .await
                        .expect("the in-flight semaphore is never closed"),
                ),
            };
            match AssertUnwindSafe(routes.oneshot(request)).catch_unwind().await {
                Ok(Ok(response)) => response,
                Err(panic) => panic_response(panic),
            }
        };
        match tokio::time::timeout(limits.request_timeout, work).await {
            Ok(response) => response,
            Err(_) => ApiError::Timeout.into_response(),
        }
    }
}

/// The response to a panic in a handler: 500 1124, the message only logged.
fn panic_response(payload: Box<dyn Any + Send + 'static>) -> Response {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a handler panicked".into());
    ApiError::Internal(anyhow::anyhow!("panic: {message}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_id_rule() {
        assert!(valid_request_id(&HeaderValue::from_static("abc-123_X:/")));
        assert!(valid_request_id(&HeaderValue::from_str(&"a".repeat(128)).unwrap()));
        assert!(!valid_request_id(&HeaderValue::from_str(&"a".repeat(129)).unwrap()));
        assert!(!valid_request_id(&HeaderValue::from_static("")));
        assert!(!valid_request_id(&HeaderValue::from_static("has space")));
        assert!(!valid_request_id(&HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap()));
    }

    /// A handler's panic is caught inside the context: the partner gets
    /// 500 1124 in JSON with the request's id echoed, and nothing of the
    /// panic's message.
    #[tokio::test]
    async fn a_panicking_handler_is_answered_500_1124_with_the_request_id() {
        let routes = axum::Router::new().route(
            "/boom",
            axum::routing::get(|| async {
                panic!("secret internals");
                #[allow(unreachable_code)]
                ()
            }),
        );
        let api = Context::new(
            routes,
            Guard {
                limits: crate::app::HttpLimits::default(),
                in_flight: Semaphore::new(1),
                outside_in_flight: Vec::new(),
            },
        );
        let request = http::Request::get("/boom")
            .header("x-request-id", "trace-7")
            .body(Body::empty())
            .unwrap();
        let response = api.oneshot(request).await.unwrap();
        assert_eq!(response.status(), http::StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()["x-request-id"], "trace-7");
        assert_eq!(response.headers()["content-type"], "application/json");
        let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
            serde_json::json!({
                "code": "1124",
                "message": "Internal Server Error. Please try again later",
                "additionalDetails": []
            })
        );
    }
}
