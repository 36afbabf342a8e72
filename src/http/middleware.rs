//! What every request passes through: one outer layer for the request id,
//! the access log and the guard (size limits, the in-flight limit, the
//! timeout → 500, a handler's panic → 500). Each answers in SPEC §3's JSON shape,
//! so no limit leaks a bare body.
//!
//! One layer rather than three, and a service of our own ([`Context`])
//! around the routes rather than tower or axum layers: each `from_fn` layer
//! cloned and boxed the service below it on every request (docs/PERFORMANCE.md, "Figures the code refers to",
//! "Layers"). The route is found here, once, so the access
//! log, the metrics and the in-flight limit know it before the handler
//! runs.

use std::any::Any;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, Ipv6Addr};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{self, Poll};
use std::time::Instant;

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use http::HeaderValue;
use tokio::sync::Semaphore;
use tower::{BoxError, Service};

use super::connection::Requests;
use super::error::{ApiError, InternalCause};
use super::request::{ClientId, Peer, RequestId, X_CORRELATION_ID, X_REQUEST_ID, is_valid_id};
use super::routes::{self, Route};
use crate::app::{App, HttpLimits};
use crate::domain::refusal::Code;
use crate::logs::Access;
use crate::telemetry;

fn generated_id() -> HeaderValue {
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    HeaderValue::from_str(uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text))
        .expect("a UUID is a valid header value")
}

/// The outer layer of every request, around the routes: see
/// [`request_context`]. One per connection, which it knows the peer of.
#[derive(Clone)]
pub struct Context {
    app: Arc<App>,
    guard: Arc<Guard>,
    peer: Peer,
    /// The connection's count of requests, which tells its socket whether
    /// it waits for a request or for a handler (see `connection`); none
    /// when the API is called without [`super::serve`].
    requests: Option<Arc<Requests>>,
}

impl Context {
    pub fn new(app: Arc<App>, guard: Guard) -> Self {
        Context {
            app,
            guard: Arc::new(guard),
            peer: Peer(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
            requests: None,
        }
    }

    /// The same API, for a connection from `peer` that counts its requests
    /// in `requests`.
    pub fn for_connection(&self, peer: Peer, requests: Arc<Requests>) -> Self {
        Context {
            peer,
            requests: Some(requests),
            ..self.clone()
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
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let (app, guard, peer) = (self.app.clone(), self.guard.clone(), self.peer);
        let underway = self.requests.as_ref().map(Requests::begin);
        Box::pin(async move {
            let _underway = underway;
            let dispatch = |request, routed, request_id| routes::answer(app, routed, request_id, peer, request);
            Ok(request_context(&guard, request.map(Body::new), dispatch).await)
        })
    }
}

/// Gives each request its id and its route, guards it, echoes the id (and
/// `X-Correlation-Id`) on the response, and writes one access-log line.
/// `dispatch` answers the request, given its route (with the path's
/// parameter, decoded) and its id.
async fn request_context<F, Answer>(guard: &Guard, request: Request, dispatch: F) -> Response
where
    F: FnOnce(Request, Option<(Route, String)>, RequestId) -> Answer,
    Answer: Future<Output = Response>,
{
    let started = Instant::now();
    let method = request.method().clone();
    let context = match request.headers().get(&X_REQUEST_ID) {
        Some(id) if is_valid_id(id) => RequestId::Supplied(id.clone()),
        Some(_) => RequestId::Invalid(generated_id()),
        None => RequestId::Generated(generated_id()),
    };
    let correlation_id = request.headers().get(&X_CORRELATION_ID).cloned();
    let routed = routes::resolve(request.uri().path());
    let route = routed.as_ref().map(|(route, _)| *route);
    let own_budget = route.is_some_and(Route::has_own_budget);
    let body_limit = route.and_then(|route| route.body_limit(&guard.limits));

    let request_id = context.clone();
    let mut response = guard
        .run(request, own_budget, body_limit, move |request| {
            dispatch(request, routed, request_id)
        })
        .await;

    let headers = response.headers_mut();
    headers.insert(X_REQUEST_ID.clone(), context.value().clone());
    if let Some(correlation_id) = correlation_id {
        headers.insert(X_CORRELATION_ID.clone(), correlation_id);
    }
    let status = response.status().as_u16();
    let route = route.map(Route::template);
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
}

impl Guard {
    /// Refuses over-long URIs (414) and oversized header sections (431) in
    /// JSON, well below hyper's own buffer limit, which could only close the
    /// connection; then waits for an in-flight permit (back-pressure: at
    /// most `--max-in-flight` requests are worked on at once); answers a
    /// handler's panic with 500 1124 (the message only logged); and answers
    /// 500 1124 when all of it runs past the timeout, dropping the work.
    /// A route with its own budget (`own_budget`) takes no permit. A body
    /// the route reads (up to `body_limit` bytes) is received first,
    /// without a permit: one that does not arrive within the timeout is
    /// 408, and a slow sender holds a connection, never a work slot.
    async fn run<F, Answer>(&self, request: Request, own_budget: bool, body_limit: Option<usize>, work: F) -> Response
    where
        F: FnOnce(Request) -> Answer,
        Answer: Future<Output = Response>,
    {
        let limits = &self.limits;
        let uri_bytes = request.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
        if uri_bytes > limits.max_uri_bytes {
            let detail = format!("the URI must be at most {} bytes", limits.max_uri_bytes);
            return ApiError::refused(Code::UriTooLong, vec![detail]).into_response();
        }
        let header_bytes: usize = request
            .headers()
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 4)
            .sum();
        if header_bytes > limits.max_header_bytes {
            let detail = format!(
                "the request headers must be at most {} bytes in all",
                limits.max_header_bytes
            );
            return ApiError::refused(Code::HeadersTooLarge, vec![detail]).into_response();
        }
        // Only a body the route reads is received here: a GET's empty one
        // costs nothing more.
        let body_limit = body_limit.filter(|_| !request.body().is_end_stream());
        // A body is read as sent: one in a content coding would reach the
        // handlers still encoded (RFC 9110 §15.5.16: 415).
        if body_limit.is_some()
            && let Some(coding) = request.headers().get(http::header::CONTENT_ENCODING)
            && !coding.as_bytes().eq_ignore_ascii_case(b"identity")
        {
            let detail = "Content-Encoding: bodies are read as sent; send them without a content coding";
            return ApiError::refused(Code::EncodingUnsupported, vec![detail.into()]).into_response();
        }
        let deadline = tokio::time::Instant::now() + limits.request_timeout;
        let request = match body_limit {
            Some(limit) => match tokio::time::timeout_at(deadline, received(request, limit)).await {
                Ok(Ok(request)) => request,
                // The sender broke off: nothing to answer it with but this.
                Ok(Err(error)) => {
                    return ApiError::refused(Code::InvalidFields, vec![format!("body: {error}")]).into_response();
                }
                Err(_) => {
                    let detail = format!("the body must arrive within {} s", limits.request_timeout.as_secs());
                    return ApiError::refused(Code::BodyTimeout, vec![detail]).into_response();
                }
            },
            None => request,
        };
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
            match AssertUnwindSafe(work(request)).catch_unwind().await {
                Ok(response) => response,
                Err(panic) => panic_response(panic),
            }
        };
        match tokio::time::timeout_at(deadline, work).await {
            Ok(response) => response,
            Err(_) => ApiError::Timeout.into_response(),
        }
    }
}

/// `request` with its body received whole into memory, or as far as one
/// byte past `limit`: the handler's own limit then refuses it, in its own
/// words, from what was received.
async fn received(request: Request, limit: usize) -> Result<Request, axum::Error> {
    use http_body_util::BodyExt;
    let (parts, mut body) = request.into_parts();
    let mut bytes = bytes::BytesMut::new();
    while bytes.len() <= limit {
        match body.frame().await {
            None => break,
            Some(frame) => {
                if let Ok(data) = frame?.into_data() {
                    bytes.extend_from_slice(&data);
                }
            }
        }
    }
    Ok(Request::from_parts(parts, Body::from(bytes.freeze())))
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

    /// A handler's panic is caught inside the context: the partner gets
    /// 500 1124 in JSON with the request's id echoed, and nothing of the
    /// panic's message.
    #[tokio::test]
    async fn a_panicking_handler_is_answered_500_1124_with_the_request_id() {
        let guard = Guard {
            limits: crate::app::HttpLimits::default(),
            in_flight: Semaphore::new(1),
        };
        let request = http::Request::get("/v3/customers/1")
            .header("x-request-id", "trace-7")
            .body(Body::empty())
            .unwrap();
        let handler = |_, _, _| async {
            panic!("secret internals");
            #[allow(unreachable_code)]
            ApiError::from(Code::NotFound).into_response()
        };
        let response = request_context(&guard, request, handler).await;
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
