//! Abuse controls: the per-client rate limit and the request-id replay
//! window of SPEC §2, kept in this process's memory.

pub mod rate;
pub mod replay;

pub use rate::{RateDecision, RateLimiter, RatePolicy};
pub use replay::ReplayWindow;
