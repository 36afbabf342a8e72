//! The request-id replay window (SPEC §2): an `X-Request-Id` a client has
//! already used within the window is refused (4120).
//!
//! Memory is bounded: ids are kept as 128-bit keyed hashes in arrival order,
//! forgotten when the window passes or, past `capacity`, oldest first. So a
//! flood of unique ids costs at most `capacity` entries (about 60 bytes
//! each: 57 MiB for a million, measured by `bench/replay_memory.rs`) and only
//! shortens how far back a replay is caught; memory never grows past it.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// An id as remembered: a keyed 128-bit hash of (client id, request id).
/// Random keys, fresh per process, so nobody can aim for collisions.
type IdKey = [u64; 2];

pub struct ReplayWindow {
    window: Duration,
    capacity: usize,
    hashers: [RandomState; 2],
    started: Instant,
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    keys: HashSet<IdKey>,
    /// Keys with their first use (seconds since `started`), oldest first.
    order: VecDeque<(IdKey, u32)>,
}

impl ReplayWindow {
    pub fn new(window: Duration, capacity: usize) -> Self {
        ReplayWindow {
            window,
            capacity: capacity.max(1),
            hashers: [RandomState::new(), RandomState::new()],
            started: Instant::now(),
            seen: Mutex::new(Seen::default()),
        }
    }

    fn key(&self, client_id: &str, request_id: &str) -> IdKey {
        self.hashers.each_ref().map(|state| {
            let mut hasher = state.build_hasher();
            hasher.write(client_id.as_bytes());
            hasher.write_u8(0xff);
            hasher.write(request_id.as_bytes());
            hasher.finish()
        })
    }

    /// Records the id; `false` if this client already used it in the window.
    pub fn first_use(&self, client_id: &str, request_id: &str) -> bool {
        let key = self.key(client_id, request_id);
        let now = self.started.elapsed().as_secs() as u32;
        let window = self.window.as_secs().min(u64::from(u32::MAX)) as u32;
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

    pub fn len(&self) -> usize {
        self.seen.lock().expect("replay lock").order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_replay_by_the_same_client_only() {
        let window = ReplayWindow::new(Duration::from_secs(60), 100);
        assert!(window.first_use("c1", "r1"));
        assert!(!window.first_use("c1", "r1"));
        assert!(window.first_use("c2", "r1"), "ids are per client");
        assert!(window.first_use("c1", "r2"));
    }

    #[test]
    fn forgets_the_oldest_past_capacity() {
        let window = ReplayWindow::new(Duration::from_secs(60), 3);
        for id in ["a", "b", "c", "d"] {
            assert!(window.first_use("c1", id));
        }
        assert_eq!(window.len(), 3);
        assert!(window.first_use("c1", "a"), "the oldest was forgotten");
        assert!(!window.first_use("c1", "d"));
    }

    #[test]
    fn a_zero_window_remembers_nothing() {
        let window = ReplayWindow::new(Duration::ZERO, 10);
        assert!(window.first_use("c1", "a"));
        assert!(window.first_use("c1", "a"));
    }
}
