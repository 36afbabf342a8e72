//! The one error type of the API and its code table (SPEC §3): every error,
//! 500 included, leaves as `{"code","message","additionalDetails"}` JSON.
//!
//! Depends on `auth` (its error type) only.

use std::sync::Arc;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use crate::auth::AuthError;

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

#[derive(Debug)]
pub enum ApiError {
    /// A bad `Accept`, `Content-Type` or `X-Request-Id` header; details name it.
    InvalidHeaders(Vec<String>),
    /// Query-parameter problems, one detail each.
    InvalidParameters(Vec<String>),
    DuplicateRequestId,
    TokenMissing,
    TokenInvalid,
    ApiKeyInvalid,
    ResellerForbidden,
    UnknownReseller,
    NotFound,
    MethodNotAllowed,
    UriTooLong {
        max_bytes: usize,
    },
    HeadersTooLarge {
        max_bytes: usize,
    },
    TooManyRequests {
        retry_after: Duration,
    },
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
            InvalidHeaders(_) => (StatusCode::BAD_REQUEST, "1117", "Some Fields are Invalid"),
            InvalidParameters(_) => (StatusCode::BAD_REQUEST, "1132", "Invalid value for search parameter"),
            DuplicateRequestId => (
                StatusCode::BAD_REQUEST,
                "4120",
                "Duplicate request id, same requestId has already been processed",
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
            NotFound => (StatusCode::NOT_FOUND, "404", "Resource not found"),
            MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "405", "Method not allowed"),
            UriTooLong { .. } => (StatusCode::URI_TOO_LONG, "414", "Request URI too long"),
            HeadersTooLarge { .. } => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "431",
                "Request header fields too large",
            ),
            TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "4118", "Too many requests"),
            Timeout | Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "1124",
                "Internal Server Error. Please try again later",
            ),
        }
    }

    fn details(&self) -> Vec<String> {
        match self {
            ApiError::InvalidHeaders(details) | ApiError::InvalidParameters(details) => details.clone(),
            ApiError::UriTooLong { max_bytes } => vec![format!("the URI must be at most {max_bytes} bytes")],
            ApiError::HeadersTooLarge { max_bytes } => {
                vec![format!("the request headers must be at most {max_bytes} bytes in all")]
            }
            _ => Vec::new(),
        }
    }
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
                    .insert(InternalCause(Arc::new(format!("{cause:#}"))));
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

    #[test]
    fn retry_after_rounds_up_to_at_least_one_second() {
        assert_eq!(whole_seconds(Duration::ZERO), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(1)), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1001)), 2);
    }
}
