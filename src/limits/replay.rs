//! The request-id replay window (SPEC §2): an `X-Request-Id` a client has
//! already used within the window is refused (4120). Kept in this process,
//! or in Redis when instances must share it (`--redis`).
//!
//! In this process, memory is bounded: ids are kept as 128-bit keyed hashes in arrival order,
//! forgotten when the window passes or, past `capacity`, oldest first. So a
//! flood of unique ids costs at most `capacity` entries (their size is
//! measured by `bench/replay_memory.rs`, docs/OPERATIONS.md, "Memory and
//! disk") and only shortens how far back a replay is caught; memory never
//! grows past it.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::redis::SharedLimits;

/// An id as remembered: a keyed 128-bit hash of (client id, request id).
/// Random keys, fresh per process, so nobody can aim for collisions.
type IdKey = [u64; 2];

pub struct ReplayWindow {
    window: Duration,
    ids: RememberedIds,
}

enum RememberedIds {
    Local(LocalIds),
    Shared(SharedLimits),
}

impl ReplayWindow {
    /// Ids remembered in this process, at most `capacity` of them.
    pub fn local(window: Duration, capacity: usize) -> Self {
        ReplayWindow {
            window,
            ids: RememberedIds::Local(LocalIds {
                capacity: capacity.max(1),
                hashers: [RandomState::new(), RandomState::new()],
                started: Instant::now(),
                seen: Mutex::new(Seen::default()),
            }),
        }
    }

    /// Ids remembered in Redis, shared by every instance using it (Redis
    /// expires them; its `maxmemory` bounds them).
    pub fn shared(window: Duration, limits: SharedLimits) -> Self {
        ReplayWindow {
            window,
            ids: RememberedIds::Shared(limits),
        }
    }

    /// Records the id; `false` if this client already used it in the window.
    /// A window of zero remembers nothing (`--request-id-window 0` turns the
    /// check off), in memory and in Redis alike.
    pub async fn first_use(&self, client_id: &str, request_id: &str) -> anyhow::Result<bool> {
        if self.window.is_zero() {
            return Ok(true);
        }
        match &self.ids {
            RememberedIds::Local(local) => Ok(local.first_use(self.window, client_id, request_id)),
            RememberedIds::Shared(shared) => shared.first_use(client_id, request_id, self.window).await,
        }
    }

    /// How many ids this process remembers (`None` when Redis keeps them).
    pub fn remembered(&self) -> Option<usize> {
        match &self.ids {
            RememberedIds::Local(local) => Some(local.seen.lock().expect("replay lock").order.len()),
            RememberedIds::Shared(_) => None,
        }
    }
}

struct LocalIds {
    capacity: usize,
    hashers: [RandomState; 2],
    started: Instant,
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    keys: HashSet<IdKey>,
    /// Keys with their first use (milliseconds since `started`), oldest
    /// first. Milliseconds, so an id never expires early; the entry is 24
    /// bytes either way.
    order: VecDeque<(IdKey, u64)>,
}

impl LocalIds {
    fn key(&self, client_id: &str, request_id: &str) -> IdKey {
        self.hashers.each_ref().map(|state| {
            let mut hasher = state.build_hasher();
            hasher.write(client_id.as_bytes());
            hasher.write_u8(0xff);
            hasher.write(request_id.as_bytes());
            hasher.finish()
        })
    }

    fn first_use(&self, window: Duration, client_id: &str, request_id: &str) -> bool {
        let key = self.key(client_id, request_id);
        let now = millis(self.started.elapsed());
        let window = millis(window);
        let mut seen = self.seen.lock().expect("replay lock");
        while let Some(&(oldest, at)) = seen.order.front() {
            if now.saturating_sub(at) < window && seen.order.len() < self.capacity {
                break;
            }
            seen.order.pop_front();
            seen.keys.remove(&oldest);
        }
        if !seen.keys.insert(key) {
            return false;
        }
        seen.order.push_back((key, now));
        true
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn first(window: &ReplayWindow, client_id: &str, request_id: &str) -> bool {
        window.first_use(client_id, request_id).await.unwrap()
    }

    #[tokio::test]
    async fn refuses_a_replay_by_the_same_client_only() {
        let window = ReplayWindow::local(Duration::from_secs(60), 100);
        assert!(first(&window, "c1", "r1").await);
        assert!(!first(&window, "c1", "r1").await);
        assert!(first(&window, "c2", "r1").await, "ids are per client");
        assert!(first(&window, "c1", "r2").await);
    }

    #[tokio::test]
    async fn forgets_the_oldest_past_capacity() {
        let window = ReplayWindow::local(Duration::from_secs(60), 3);
        for id in ["a", "b", "c", "d"] {
            assert!(first(&window, "c1", id).await);
        }
        assert_eq!(window.remembered(), Some(3));
        assert!(first(&window, "c1", "a").await, "the oldest was forgotten");
        assert!(!first(&window, "c1", "d").await);
    }

    #[tokio::test]
    async fn the_window_counts_from_the_first_use_to_the_millisecond() {
        let window = ReplayWindow::local(Duration::from_millis(300), 10);
        assert!(first(&window, "c1", "a").await);
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(
            !first(&window, "c1", "a").await,
            "a refused replay does not extend the window"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            first(&window, "c1", "a").await,
            "300 ms after the first use, not the replay"
        );
    }

    #[tokio::test]
    async fn a_zero_window_remembers_nothing() {
        let window = ReplayWindow::local(Duration::ZERO, 10);
        assert!(first(&window, "c1", "a").await);
        assert!(first(&window, "c1", "a").await);
    }
}
