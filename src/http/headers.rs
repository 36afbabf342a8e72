//! The request headers of SPEC §2 and §7, checked the same way by every
//! endpoint: `X-Request-Id`, `Accept`, `Content-Type` and `X-Api-Version`
//! (400 1117, every broken one named), and `X-Correlation-Id` (400 4119).

use http::{HeaderMap, HeaderName, HeaderValue, header};

use super::error::{ApiError, Result};
use super::request::{RequestId, X_CORRELATION_ID, is_valid_id};
use crate::domain::ApiVersion;
use crate::domain::refusal::Code;

pub static X_API_VERSION: HeaderName = HeaderName::from_static("x-api-version");

/// What a request's body must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// None expected: `Content-Type`, if given, must still be JSON.
    None,
    /// A JSON document (`application/json`).
    Json,
    /// A JSON merge patch (`application/json` or `application/merge-patch+json`).
    MergePatch,
}

/// SPEC §2's header rules and §7's `X-Api-Version`; every broken one is
/// named, in that order. The version the request asks for, if it asks.
pub fn check(headers: &HeaderMap, request_id: &RequestId, body: Body) -> Result<Option<ApiVersion>> {
    let mut problems = Vec::new();
    if let RequestId::Invalid(_) = request_id {
        problems.push("X-Request-Id: must be 1 to 128 visible ASCII characters".to_owned());
    }
    if headers.contains_key(header::ACCEPT) && !headers.get_all(header::ACCEPT).iter().any(accepts_json) {
        problems.push("Accept: must allow application/json".to_owned());
    }
    let content_type = headers.get(header::CONTENT_TYPE);
    let content_type_ok = match body {
        Body::None => content_type.is_none_or(|value| is_media_type(value, "application/json")),
        Body::Json => content_type.is_some_and(|value| is_media_type(value, "application/json")),
        Body::MergePatch => content_type.is_some_and(|value| {
            is_media_type(value, "application/json") || is_media_type(value, "application/merge-patch+json")
        }),
    };
    if !content_type_ok {
        problems.push(
            match body {
                Body::MergePatch => "Content-Type: must be application/json or application/merge-patch+json",
                Body::None | Body::Json => "Content-Type: must be application/json",
            }
            .to_owned(),
        );
    }
    let version = match headers.get(&X_API_VERSION) {
        None => None,
        Some(value) => match value.to_str().ok().and_then(ApiVersion::parse) {
            Some(version) => Some(version),
            None => {
                problems.push("X-Api-Version: must be 2025-08 or 2025-11".to_owned());
                None
            }
        },
    };
    if problems.is_empty() {
        Ok(version)
    } else {
        Err(ApiError::refused(Code::InvalidFields, problems))
    }
}

/// SPEC §7's `X-Correlation-Id`: absent, or 1–128 visible ASCII (else 4119).
pub fn correlation_id(headers: &HeaderMap) -> Result<Option<&str>> {
    match headers.get(&X_CORRELATION_ID) {
        None => Ok(None),
        Some(value) if is_valid_id(value) => Ok(Some(value.to_str().expect("visible ASCII"))),
        Some(_) => Err(ApiError::refused(
            Code::CorrelationInvalid,
            vec!["X-Correlation-Id: must be 1 to 128 visible ASCII characters".into()],
        )),
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

/// `media`, with or without parameters such as a charset.
fn is_media_type(value: &HeaderValue, media: &str) -> bool {
    value.to_str().is_ok_and(|v| {
        v.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .eq_ignore_ascii_case(media)
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
        let json = |v: &'static str| is_media_type(&HeaderValue::from_static(v), "application/json");
        assert!(json("application/json"));
        assert!(json("application/json; charset=utf-8"));
        assert!(!json("text/plain"));
        assert!(!json("application/jsonx"));
    }
}
