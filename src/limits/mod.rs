//! Abuse controls: the per-client rate limit and the request-id replay
//! window of SPEC §2, in this process's memory or shared through Redis.

pub mod policy;
pub mod rate;
pub mod redis;
pub mod replay;

pub use policy::{RateDecision, RatePolicy};
pub use rate::RateLimiter;
pub use redis::SharedLimits;
pub use replay::ReplayWindow;
