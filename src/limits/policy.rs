//! What a rate-limit check decides, whichever store keeps the buckets: the
//! policy (N requests/s, bursts of 2N) and the decision the RateLimit
//! headers of SPEC §5 describe.

use std::num::NonZeroU32;
use std::time::Duration;

/// A client's limit as the `RateLimit-Policy` header describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RatePolicy {
    /// Requests per second.
    pub rate: u32,
    /// The bucket size: twice the rate.
    pub burst: u32,
}

impl RatePolicy {
    pub fn new(rate: NonZeroU32) -> Self {
        RatePolicy {
            rate: rate.get(),
            burst: rate.get().saturating_mul(2),
        }
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    /// The client has no limit (0).
    Unlimited,
    Allowed {
        policy: RatePolicy,
        /// Requests left in the bucket after this one.
        remaining: u32,
        /// Until the bucket is full again.
        full_in: Duration,
    },
    Denied {
        policy: RatePolicy,
        /// Until the next request would be allowed.
        retry_after: Duration,
    },
}
