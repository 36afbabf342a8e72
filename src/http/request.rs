//! What the outer layer of every request (`middleware`) hands to the
//! routes, and what a handler hands back to it: the request's id, the
//! connection's peer, and the client a request authenticated as (for the
//! access log).

use std::net::IpAddr;
use std::sync::Arc;

use http::{HeaderName, HeaderValue};

use crate::domain::ClientRecord;

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub static X_CORRELATION_ID: HeaderName = HeaderName::from_static("x-correlation-id");

/// Whether a request or correlation id is 1–128 visible ASCII characters,
/// the one rule SPEC §2 (`X-Request-Id`) and §7 (`X-Correlation-Id`) share.
pub fn is_valid_id(value: &HeaderValue) -> bool {
    (1..=128).contains(&value.len()) && value.as_bytes().iter().all(u8::is_ascii_graphic)
}

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

/// The address a request came from (its connection's peer), for the
/// token endpoint's failed-login limits. Unspecified when the API is called
/// without [`super::serve`] (in tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub IpAddr);

/// The authenticated client, for the access log (the record the request
/// already holds, so logging it costs no allocation).
#[derive(Clone)]
pub struct ClientId(pub Arc<ClientRecord>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_1_to_128_visible_ascii_characters() {
        assert!(is_valid_id(&HeaderValue::from_static("abc-123_X:/")));
        assert!(is_valid_id(&HeaderValue::from_str(&"a".repeat(128)).unwrap()));
        assert!(!is_valid_id(&HeaderValue::from_str(&"a".repeat(129)).unwrap()));
        assert!(!is_valid_id(&HeaderValue::from_static("")));
        assert!(!is_valid_id(&HeaderValue::from_static("has space")));
        assert!(!is_valid_id(&HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap()));
    }
}
