//! Shared abuse controls for several instances (`--redis`): the rate limit as
//! GCRA in a Lua script (atomic, on Redis's clock, so instance clocks do not
//! matter) and request ids as `SET NX EX` keys.
//!
//! A Redis failure is an error, answered 500 1124 and logged with its
//! cause: a replay check or a limit is never skipped silently.

use std::time::Duration;

use anyhow::{Context, Result};
use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::policy::{RateDecision, RatePolicy};
use crate::telemetry;

/// GCRA over a "theoretical arrival time" in microseconds. KEYS[1]: the
/// client's bucket; ARGV[1]: microseconds per request; ARGV[2]: the burst.
/// Returns {allowed (0/1), microseconds to wait or until full, requests left}.
const GCRA: &str = r"
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if now < allow_at then
  return {0, allow_at - now, 0}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, new_tat - now, math.floor((now - allow_at) / interval)}
";

#[derive(Clone)]
pub struct SharedLimits {
    connection: ConnectionManager,
    gcra: Script,
}

impl SharedLimits {
    /// Connects (failing fast if Redis is unreachable at start).
    pub async fn connect(url: &str) -> Result<Self> {
        let client = redis::Client::open(url).context("--redis")?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(1)))
            .set_number_of_retries(2);
        let connection = client
            .get_connection_manager_with_config(config)
            .await
            .context("connecting to Redis")?;
        Ok(SharedLimits {
            connection,
            gcra: Script::new(GCRA),
        })
    }

    /// Whether Redis answers (`/readyz`).
    pub async fn ping(&self) -> Result<()> {
        let _: String = redis::cmd("PING")
            .query_async(&mut self.connection.clone())
            .await
            .inspect_err(|_| telemetry::dependency_error("redis"))
            .context("Redis PING")?;
        Ok(())
    }

    /// Spends one request of `client_id`'s bucket.
    pub async fn check_rate(&self, client_id: &str, policy: RatePolicy) -> Result<RateDecision> {
        let interval = 1_000_000 / u64::from(policy.rate.max(1));
        let (allowed, wait_micros, remaining): (u8, u64, u32) = self
            .gcra
            .key(format!("roster:rate:{client_id}"))
            .arg(interval.max(1))
            .arg(policy.burst)
            .invoke_async(&mut self.connection.clone())
            .await
            .inspect_err(|_| telemetry::dependency_error("redis"))
            .context("Redis rate limit")?;
        let wait = Duration::from_micros(wait_micros);
        Ok(if allowed == 1 {
            RateDecision::Allowed {
                policy,
                remaining,
                full_in: wait,
            }
        } else {
            RateDecision::Denied {
                policy,
                retry_after: wait,
            }
        })
    }

    /// Records a request id; `false` if the client used it within `window`.
    pub async fn first_use(&self, client_id: &str, request_id: &str, window: Duration) -> Result<bool> {
        let stored: Option<String> = redis::cmd("SET")
            .arg(format!("roster:request-id:{client_id}:{request_id}"))
            .arg(1)
            .arg("NX")
            // Milliseconds, as the in-memory window counts.
            .arg("PX")
            .arg(u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1))
            .query_async(&mut self.connection.clone())
            .await
            .inspect_err(|_| telemetry::dependency_error("redis"))
            .context("Redis request-id check")?;
        Ok(stored.is_some())
    }
}
