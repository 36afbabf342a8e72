//! The one error type of the API and its code table (SPEC §3): every error,
//! 500 included, leaves as `{"code","message","additionalDetails"}` JSON.
//!
//! Depends on `auth` (its error type), `store` (a remembered reply), `logs`
//! (how a cause reads) and `domain` (a body's problems).

use std::sync::Arc;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use crate::auth::AuthError;
use crate::domain::write::BodyProblem;
use crate::store::Reply;

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

#[derive(Debug)]
pub enum ApiError {
    /// Bad headers or body fields (1117); details name each.
    InvalidFields(Vec<String>),
    /// Query-parameter problems, one detail each.
    InvalidParameters(Vec<String>),
    DuplicateRequestId,
    /// A PATCH gives a non-editable field another value (1119).
    NotEditable(Vec<String>),
    /// Unknown or read-only body fields (1121).
    UnexpectedFields(Vec<String>),
    /// Required body fields absent (1122).
    MissingFields(Vec<String>),
    /// A PATCH of a pending or blocked customer (1125).
    UpdateBlocked,
    /// A POST duplicating a customer (1127).
    AlreadyExists,
    /// A bad X-Correlation-Id, or one reused for another request (4119).
    CorrelationInvalid(&'static str),
    /// The same X-Correlation-Id is still being processed (4122).
    CorrelationInFlight,
    TokenMissing,
    TokenInvalid,
    ApiKeyInvalid,
    ResellerForbidden,
    UnknownReseller,
    /// A customer unknown or outside the client's scope (1116).
    UnknownCustomer,
    NotFound,
    MethodNotAllowed,
    /// `If-Match` no longer matches (412).
    PreconditionFailed,
    /// A body over the limit (413).
    PayloadTooLarge {
        max_bytes: usize,
    },
    UriTooLong {
        max_bytes: usize,
    },
    HeadersTooLarge {
        max_bytes: usize,
    },
    TooManyRequests {
        retry_after: Duration,
    },
    /// Not ready (SPEC §9): the catalog is loading, or a dependency does
    /// not answer; details name which (503, a project-defined code like
    /// 404 and 405).
    Unavailable(Vec<&'static str>),
    /// The request ran past `--request-timeout`.
    Timeout,
    /// Anything unexpected. The cause is logged (with the request id) by the
    /// access-log middleware; the partner sees only code 1124.
    Internal(anyhow::Error),
}

impl ApiError {
    /// The code table: HTTP status, code and message of each error.
    pub fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        use ApiError::*;
        match self {
            InvalidFields(_) => (StatusCode::BAD_REQUEST, "1117", "Some Fields are Invalid"),
            InvalidParameters(_) => (StatusCode::BAD_REQUEST, "1132", "Invalid value for search parameter"),
            DuplicateRequestId => (
                StatusCode::BAD_REQUEST,
                "4120",
                "Duplicate request id, same requestId has already been processed",
            ),
            NotEditable(_) => (StatusCode::BAD_REQUEST, "1119", "Some fields are not editable"),
            UnexpectedFields(_) => (
                StatusCode::BAD_REQUEST,
                "1121",
                "Request contains additional unexpected fields",
            ),
            MissingFields(_) => (StatusCode::BAD_REQUEST, "1122", "Request is missing required fields"),
            UpdateBlocked => (
                StatusCode::BAD_REQUEST,
                "1125",
                "Account cannot be updated while status is pending or blocked",
            ),
            AlreadyExists => (StatusCode::BAD_REQUEST, "1127", "Account already exists"),
            CorrelationInvalid(_) => (StatusCode::BAD_REQUEST, "4119", "Correlation ID is Invalid or Missing"),
            CorrelationInFlight => (
                StatusCode::BAD_REQUEST,
                "4122",
                "This request is already being processed. Please wait a moment and try again.",
            ),
            TokenMissing => (StatusCode::UNAUTHORIZED, "4117", "Authorization token is missing"),
            TokenInvalid => (StatusCode::UNAUTHORIZED, "4116", "Authorization token is invalid"),
            ApiKeyInvalid => (StatusCode::FORBIDDEN, "4115", "API key is invalid or missing"),
            ResellerForbidden => (
                StatusCode::FORBIDDEN,
                "4121",
                "You are not allowed to perform that action on this resource",
            ),
            UnknownReseller => (StatusCode::NOT_FOUND, "1115", "Invalid Reseller"),
            UnknownCustomer => (StatusCode::NOT_FOUND, "1116", "Invalid Customer"),
            NotFound => (StatusCode::NOT_FOUND, "404", "Resource not found"),
            MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "405", "Method not allowed"),
            PreconditionFailed => (StatusCode::PRECONDITION_FAILED, "412", "Precondition failed"),
            PayloadTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "413", "Payload too large"),
            UriTooLong { .. } => (StatusCode::URI_TOO_LONG, "414", "Request URI too long"),
            HeadersTooLarge { .. } => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "431",
                "Request header fields too large",
            ),
            TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "4118", "Too many requests"),
            Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "503", "Service unavailable"),
            Timeout | Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "1124",
                "Internal Server Error. Please try again later",
            ),
        }
    }

    /// One error of each kind, for the code table's readers (the OpenAPI
    /// document and the docs page). The match in `every_kind_is_listed`
    /// below stops compiling when a kind is added, as a reminder to list
    /// it here.
    pub fn one_of_each() -> Vec<ApiError> {
        use ApiError::*;
        vec![
            InvalidFields(Vec::new()),
            InvalidParameters(Vec::new()),
            DuplicateRequestId,
            NotEditable(Vec::new()),
            UnexpectedFields(Vec::new()),
            MissingFields(Vec::new()),
            UpdateBlocked,
            AlreadyExists,
            CorrelationInvalid(""),
            CorrelationInFlight,
            TokenMissing,
            TokenInvalid,
            ApiKeyInvalid,
            ResellerForbidden,
            UnknownReseller,
            UnknownCustomer,
            NotFound,
            MethodNotAllowed,
            PreconditionFailed,
            PayloadTooLarge { max_bytes: 0 },
            UriTooLong { max_bytes: 0 },
            HeadersTooLarge { max_bytes: 0 },
            TooManyRequests {
                retry_after: Duration::ZERO,
            },
            Unavailable(Vec::new()),
            Internal(anyhow::anyhow!("an example")),
        ]
    }

    fn details(&self) -> Vec<String> {
        match self {
            ApiError::InvalidFields(details)
            | ApiError::InvalidParameters(details)
            | ApiError::NotEditable(details)
            | ApiError::UnexpectedFields(details)
            | ApiError::MissingFields(details) => details.clone(),
            ApiError::CorrelationInvalid(detail) => vec![(*detail).to_owned()],
            ApiError::Unavailable(details) => details.iter().map(|detail| (*detail).to_owned()).collect(),
            ApiError::PayloadTooLarge { max_bytes } => vec![format!("the body must be at most {max_bytes} bytes")],
            ApiError::UriTooLong { max_bytes } => vec![format!("the URI must be at most {max_bytes} bytes")],
            ApiError::HeadersTooLarge { max_bytes } => {
                vec![format!("the request headers must be at most {max_bytes} bytes in all")]
            }
            _ => Vec::new(),
        }
    }

    /// The error as a write remembers it (SPEC §7): status and JSON body.
    pub fn reply(&self) -> Reply {
        let (status, code, message) = self.parts();
        Reply {
            status: status.as_u16(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: json!({"code": code, "message": message, "additionalDetails": self.details()})
                .to_string()
                .into_bytes(),
        }
    }
}

impl From<BodyProblem> for ApiError {
    fn from(problem: BodyProblem) -> Self {
        let details = problem.details();
        match problem {
            BodyProblem::NotObject | BodyProblem::Invalid(_) => ApiError::InvalidFields(details),
            BodyProblem::Unexpected(_) => ApiError::UnexpectedFields(details),
            BodyProblem::Missing(_) => ApiError::MissingFields(details),
            BodyProblem::NotEditable(_) => ApiError::NotEditable(details),
        }
    }
}

/// A remembered (or just decided) answer as a response.
pub fn replied(reply: &Reply) -> Response {
    let mut response = Response::new(axum::body::Body::from(reply.body.clone()));
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    for (name, value) in &reply.headers {
        if let (Ok(name), Ok(value)) = (
            header::HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            headers.insert(name, value);
        }
    }
    response
}

/// The cause of a 500, handed to the access log (never to the client).
#[derive(Clone)]
pub struct InternalCause(pub Arc<String>);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        let body = json!({"code": code, "message": message, "additionalDetails": self.details()});
        let mut response = (status, json_headers(), body.to_string()).into_response();
        let headers = response.headers_mut();
        match &self {
            ApiError::TokenMissing | ApiError::TokenInvalid => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::TooManyRequests { retry_after } => {
                headers.insert(header::RETRY_AFTER, whole_seconds(*retry_after).into());
            }
            _ => {}
        }
        match self {
            ApiError::Internal(cause) => {
                response
                    .extensions_mut()
                    .insert(InternalCause(Arc::new(crate::logs::chain(&*cause))));
            }
            ApiError::Timeout => {
                response
                    .extensions_mut()
                    .insert(InternalCause(Arc::new("request timed out".into())));
            }
            _ => {}
        }
        response
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(cause: anyhow::Error) -> Self {
        ApiError::Internal(cause)
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::TokenMissing => ApiError::TokenMissing,
            AuthError::TokenInvalid => ApiError::TokenInvalid,
            AuthError::ApiKeyInvalid => ApiError::ApiKeyInvalid,
            AuthError::ResellerForbidden => ApiError::ResellerForbidden,
            AuthError::Internal(cause) => ApiError::Internal(cause),
        }
    }
}

/// `Content-Type: application/json`, for every JSON response.
pub fn json_headers() -> [(header::HeaderName, HeaderValue); 1] {
    [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))]
}

/// A wait as whole seconds, rounded up, at least 1 (`Retry-After`).
pub fn whole_seconds(wait: Duration) -> u64 {
    u64::try_from(wait.as_nanos().div_ceil(1_000_000_000))
        .unwrap_or(u64::MAX)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `one_of_each` lists every kind but `Timeout`, which answers as
    /// `Internal` does (500 1124). No wildcard: a new kind stops this test
    /// compiling, and its count below fails until the list has it.
    #[test]
    fn every_kind_is_listed() {
        use ApiError::*;
        let listed = ApiError::one_of_each();
        for error in &listed {
            match error {
                InvalidFields(_)
                | InvalidParameters(_)
                | DuplicateRequestId
                | NotEditable(_)
                | UnexpectedFields(_)
                | MissingFields(_)
                | UpdateBlocked
                | AlreadyExists
                | CorrelationInvalid(_)
                | CorrelationInFlight
                | TokenMissing
                | TokenInvalid
                | ApiKeyInvalid
                | ResellerForbidden
                | UnknownReseller
                | UnknownCustomer
                | NotFound
                | MethodNotAllowed
                | PreconditionFailed
                | PayloadTooLarge { .. }
                | UriTooLong { .. }
                | HeadersTooLarge { .. }
                | TooManyRequests { .. }
                | Unavailable(_)
                | Internal(_) => {}
                Timeout => panic!("Timeout is answered as Internal; list Internal instead"),
            }
        }
        // Each kind once, and all 25 (26 kinds less `Timeout`): adding a
        // kind to the match above means counting it here too.
        let kinds: std::collections::HashSet<_> = listed.iter().map(std::mem::discriminant).collect();
        assert_eq!((kinds.len(), listed.len()), (25, 25));
        assert_eq!(Timeout.parts(), Internal(anyhow::anyhow!("x")).parts());
    }

    #[test]
    fn retry_after_rounds_up_to_at_least_one_second() {
        assert_eq!(whole_seconds(Duration::ZERO), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(1)), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1001)), 2);
    }
}
