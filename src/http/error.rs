//! The one error type of the API: every error, 500 included, leaves as SPEC
//! §3's `{"code","message","additionalDetails"}` JSON, from the domain's one
//! code table ([`Code`]). What is particular to HTTP is added here: the
//! headers some codes carry (`WWW-Authenticate`, `Retry-After`) and the
//! cause of a 500, kept for the access log and never sent.

use std::sync::Arc;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use crate::auth::AuthError;
use crate::domain::intent::Answer;
use crate::domain::refusal::{Code, Refusal};
use crate::domain::write::BodyProblem;

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

#[derive(Debug)]
pub enum ApiError {
    /// A code of the table, with the details that name each problem.
    Refused(Refusal),
    /// Over the client's rate (4118); `Retry-After` says when to retry.
    TooManyRequests { retry_after: Duration },
    /// The request ran past `--request-timeout` (1124).
    Timeout,
    /// Anything unexpected (1124). The cause is logged (with the request
    /// id) by the access-log middleware; the partner sees only the code.
    Internal(anyhow::Error),
}

impl ApiError {
    /// A refusal with these details.
    pub fn refused(code: Code, details: Vec<String>) -> Self {
        ApiError::Refused(Refusal::new(code, details))
    }

    /// Its row of the code table.
    pub fn code(&self) -> Code {
        match self {
            ApiError::Refused(refusal) => refusal.code,
            ApiError::TooManyRequests { .. } => Code::TooManyRequests,
            ApiError::Timeout | ApiError::Internal(_) => Code::Internal,
        }
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code().status()).expect("the code table's statuses are valid")
    }

    /// The refusal a correlated write remembers, for a 4xx (SPEC §7: 429
    /// and 5xx are not remembered, so that a retry may succeed).
    pub fn remembered(&self) -> Option<&Refusal> {
        match self {
            ApiError::Refused(refusal) if self.status().is_client_error() => Some(refusal),
            _ => None,
        }
    }
}

impl From<Code> for ApiError {
    fn from(code: Code) -> Self {
        ApiError::Refused(code.into())
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        ApiError::Refused(refusal)
    }
}

impl From<BodyProblem> for ApiError {
    fn from(problem: BodyProblem) -> Self {
        ApiError::Refused(problem.into())
    }
}

/// A remembered (or just decided) answer as a response.
pub fn replied(answer: &Answer) -> Response {
    let mut response = Response::new(axum::body::Body::from(answer.body.clone()));
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    for (name, value) in &answer.headers {
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
        let body = match &self {
            ApiError::Refused(refusal) => refusal.body(),
            other => Refusal::from(other.code()).body(),
        };
        let mut response = (self.status(), json_headers(), body).into_response();
        let headers = response.headers_mut();
        match &self {
            ApiError::Refused(refusal) if matches!(refusal.code, Code::TokenMissing | Code::TokenInvalid) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::TooManyRequests { retry_after } => {
                headers.insert(header::RETRY_AFTER, whole_seconds(*retry_after).into());
            }
            _ => {}
        }
        let cause = match self {
            ApiError::Internal(cause) => crate::logs::chain(&*cause),
            ApiError::Timeout => "request timed out".into(),
            _ => return response,
        };
        response.extensions_mut().insert(InternalCause(Arc::new(cause)));
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
            AuthError::TokenMissing => Code::TokenMissing.into(),
            AuthError::TokenInvalid => Code::TokenInvalid.into(),
            AuthError::ApiKeyInvalid => Code::ApiKeyInvalid.into(),
            AuthError::ResellerForbidden(_) => Code::ResellerForbidden.into(),
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

    /// Every row of the code table as the partner receives it: status,
    /// headers and body (a 500's cause stays out of it). Reviewed with
    /// `cargo insta review` when the table changes.
    #[tokio::test]
    async fn every_code_answers_in_spec_3s_shape() {
        let mut answers = Vec::new();
        for &code in Code::ALL {
            let error = match code {
                Code::TooManyRequests => ApiError::TooManyRequests {
                    retry_after: Duration::from_millis(1500),
                },
                Code::Internal => ApiError::Internal(anyhow::anyhow!("the secret cause")),
                Code::InvalidParameters => ApiError::refused(code, vec!["limit: must be between 1 and 50".into()]),
                _ => code.into(),
            };
            let response = error.into_response();
            let status = response.status().as_u16();
            let headers: std::collections::BTreeMap<String, String> = response
                .headers()
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
                .collect();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            answers.push(serde_json::json!({"status": status, "headers": headers, "body": body}));
        }
        insta::assert_snapshot!("error_answers", serde_json::to_string_pretty(&answers).unwrap());
    }

    #[test]
    fn only_refusals_of_the_client_are_remembered() {
        assert!(ApiError::from(Code::UnknownCustomer).remembered().is_some());
        assert!(ApiError::from(Code::Unavailable).remembered().is_none());
        assert!(
            ApiError::TooManyRequests {
                retry_after: Duration::ZERO
            }
            .remembered()
            .is_none()
        );
        assert!(ApiError::Internal(anyhow::anyhow!("x")).remembered().is_none());
    }
}
