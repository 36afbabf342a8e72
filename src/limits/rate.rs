//! Per-client rate limiting (SPEC §5): N requests/s with bursts of 2N, as
//! GCRA — governor's in this process, or a Lua script in Redis shared by
//! every instance. Checked after authentication, so requests without a
//! valid token and key never spend a client's quota.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter as Gcra};

use super::policy::{RateDecision, RatePolicy};
use super::redis::SharedLimits;
use crate::domain::ClientRecord;

type Bucket = Gcra<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;

pub struct RateLimiter {
    /// `serve --rate-limit`: the limit of clients without their own (0: none).
    default_rate: u32,
    buckets: Buckets,
}

enum Buckets {
    Local(LocalBuckets),
    Shared(SharedLimits),
}

impl RateLimiter {
    /// Buckets in this process's memory (one instance, or limits per instance).
    pub fn local(default_rate: u32) -> Self {
        RateLimiter {
            default_rate,
            buckets: Buckets::Local(LocalBuckets {
                clock: DefaultClock::default(),
                buckets: RwLock::new(HashMap::new()),
            }),
        }
    }

    /// Buckets in Redis, shared by every instance using it.
    pub fn shared(default_rate: u32, limits: SharedLimits) -> Self {
        RateLimiter {
            default_rate,
            buckets: Buckets::Shared(limits),
        }
    }

    /// The limit that applies to `client`: its own, else the server's.
    fn rate_of(&self, client: &ClientRecord) -> Option<NonZeroU32> {
        NonZeroU32::new(client.rate_limit.unwrap_or(self.default_rate))
    }

    /// Spends one request of `client`'s quota, if it has one left.
    pub async fn check(&self, client: &ClientRecord) -> anyhow::Result<RateDecision> {
        let Some(rate) = self.rate_of(client) else {
            return Ok(RateDecision::Unlimited);
        };
        let policy = RatePolicy::new(rate);
        match &self.buckets {
            Buckets::Local(local) => Ok(local.check(&client.client_id, policy)),
            Buckets::Shared(shared) => shared.check_rate(&client.client_id, policy).await,
        }
    }
}

struct LocalBuckets {
    clock: DefaultClock,
    buckets: RwLock<HashMap<String, Arc<(u32, Bucket)>>>,
}

impl LocalBuckets {
    fn check(&self, client_id: &str, policy: RatePolicy) -> RateDecision {
        let bucket = self.bucket(client_id, policy);
        match bucket.1.check() {
            Ok(state) => {
                let remaining = state.remaining_burst_capacity();
                let spent = policy.burst.saturating_sub(remaining);
                RateDecision::Allowed {
                    policy,
                    remaining,
                    full_in: Duration::from_secs_f64(f64::from(spent) / f64::from(policy.rate)),
                }
            }
            Err(not_until) => RateDecision::Denied {
                policy,
                retry_after: not_until.wait_time_from(self.clock.now()),
            },
        }
    }

    /// The client's bucket, (re)made when its rate changed.
    fn bucket(&self, client_id: &str, policy: RatePolicy) -> Arc<(u32, Bucket)> {
        if let Some(bucket) = self.buckets.read().expect("rate lock").get(client_id)
            && bucket.0 == policy.rate
        {
            return bucket.clone();
        }
        let rate = NonZeroU32::new(policy.rate).expect("a limited client has a non-zero rate");
        let burst = NonZeroU32::new(policy.burst).expect("twice a non-zero rate");
        let quota = Quota::per_second(rate).allow_burst(burst);
        let bucket = Arc::new((
            policy.rate,
            Gcra::direct_with_clock(quota, self.clock.clone()).with_middleware::<StateInformationMiddleware>(),
        ));
        let mut buckets = self.buckets.write().expect("rate lock");
        match buckets.get(client_id) {
            Some(existing) if existing.0 == policy.rate => existing.clone(),
            _ => {
                buckets.insert(client_id.to_owned(), bucket.clone());
                bucket
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ResellerScope;

    fn client(rate_limit: Option<u32>) -> ClientRecord {
        ClientRecord {
            client_id: "c1".into(),
            name: "test".into(),
            secret_hash: String::new(),
            scope: ResellerScope::All,
            rate_limit,
            enabled: true,
            api_version: Default::default(),
            token_epoch: 0,
            created_at: 0,
        }
    }

    #[tokio::test]
    async fn allows_a_burst_of_twice_the_rate_then_denies() {
        let limiter = RateLimiter::local(50);
        let client = client(Some(2));
        for left in (0..4).rev() {
            match limiter.check(&client).await.unwrap() {
                RateDecision::Allowed { policy, remaining, .. } => {
                    assert_eq!(policy, RatePolicy { rate: 2, burst: 4 });
                    assert_eq!(remaining, left);
                }
                other => panic!("expected allowed, got {other:?}"),
            }
        }
        match limiter.check(&client).await.unwrap() {
            RateDecision::Denied { retry_after, .. } => {
                assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_millis(500));
            }
            other => panic!("expected denied, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn own_limit_wins_and_zero_is_unlimited() {
        let check = |default: u32, own: Option<u32>| async move {
            RateLimiter::local(default).check(&client(own)).await.unwrap()
        };
        assert_eq!(check(0, None).await, RateDecision::Unlimited);
        assert_eq!(check(50, Some(0)).await, RateDecision::Unlimited);
        assert!(matches!(check(0, Some(1)).await, RateDecision::Allowed { .. }));
    }
}
