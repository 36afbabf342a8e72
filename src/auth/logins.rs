//! What keeps logins from taking the API down (docs/DECISIONS.md, "Logins
//! under attack"): the token endpoint's own budget of secret checks, apart
//! from the API's in-flight limit, refused fast when full; and limits on
//! repeated failures, by client id and source address, that refuse without
//! an argon2 check while they cool down.
//!
//! The policy, all counted over a rolling window (a minute by default):
//!
//! 1. a client id and address pair with `pair_failures` failures is
//!    refused until the oldest of them leaves the window;
//! 2. an address that failed for `address_clients` different client ids
//!    (guessing ids, or spraying secrets) is refused the same way;
//! 3. a client id with `client_failures` failures from anywhere is *under
//!    attack*: an address that failed for it in the window is refused at
//!    once, while an address that did not is still checked.
//!
//! So one address can never lock a client out: its own legitimate callers,
//! from their own addresses, keep logging in (rule 3 spares clean
//! addresses), and a caller that got its secret wrong from the same
//! address waits at most one window after its last failure. Refusals do
//! not count as failures, so an attacker who keeps hammering gets
//! `pair_failures` guesses per window per address, no more.
//!
//! Two more keep a flood from many addresses (an IPv6 /64 holds plenty)
//! from locking every partner out of new tokens:
//!
//! - **one client id holds at most a quarter of the queue**, so a flood
//!   aimed at one id (or spread over addresses that each stay under the
//!   rules) leaves room for every other client's logins;
//! - **a secret that passed its check is recognised again without one**
//!   ([`Verified`]): a partner that logged in before the flood logs in
//!   during it without waiting for a slot. The failure rules still apply
//!   first, so a refused address cannot use this to test guesses.
//!
//! Counts are per server: with N instances an attacker gets N times the
//! guesses. Each table is bounded; when one is full of live entries it is
//! emptied, which an attacker needs thousands of addresses to force.

use std::collections::HashMap;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tokio::sync::{Semaphore, SemaphorePermit};

/// How logins are limited (`roster serve` flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginPolicy {
    /// Secret checks (argon2) running at once.
    pub checks: usize,
    /// Token requests waiting for a check; past it they are refused (429).
    pub queue: usize,
    /// The window failures are counted over.
    pub window: Duration,
    /// Rule 1: failures of one client id from one address.
    pub pair_failures: usize,
    /// Rule 2: client ids one address failed for.
    pub address_clients: usize,
    /// Rule 3: failures of one client id from every address.
    pub client_failures: usize,
}

impl Default for LoginPolicy {
    fn default() -> Self {
        LoginPolicy {
            checks: std::thread::available_parallelism().map_or(1, usize::from),
            queue: 64,
            window: Duration::from_secs(60),
            pair_failures: 10,
            address_clients: 20,
            client_failures: 100,
        }
    }
}

/// Why a login is refused before its secret is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Every check slot is taken and the queue is full: retry in a moment.
    Busy,
    /// Too many recent failures (the policy's rules): retry after this long.
    CoolingDown(Duration),
}

/// Most entries per table (pairs, addresses, clients).
const TABLE_MAX: usize = 100_000;

/// The login budget and failure counts of one server.
pub struct LoginGuard {
    policy: LoginPolicy,
    checks: Semaphore,
    /// Logins holding or waiting for a check slot.
    admitted: AtomicUsize,
    /// The same, per client id.
    admitted_by_client: Mutex<HashMap<String, usize>>,
    failures: Mutex<Failures>,
    pub verified: Verified,
}

/// A login's turn at a secret check: its slot, given back on drop.
pub struct Turn<'a> {
    _slot: SemaphorePermit<'a>,
    _admission: Admission<'a>,
}

/// A login counted among those admitted, overall and for its client id,
/// until dropped.
struct Admission<'a> {
    guard: &'a LoginGuard,
    client_id: String,
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        self.guard.admitted.fetch_sub(1, Ordering::Relaxed);
        let mut by_client = self.guard.admitted_by_client.lock().expect("login admissions lock");
        if let Some(count) = by_client.get_mut(&self.client_id) {
            *count -= 1;
            if *count == 0 {
                by_client.remove(&self.client_id);
            }
        }
    }
}

/// Secrets that passed their argon2 check on this server, recognised again
/// without one: per client id, a keyed hash (HMAC-SHA256 under a key drawn
/// at start and never kept anywhere else) of the secret and of the stored
/// hash it matched, so a changed secret or a rotated hash matches no more.
/// It never leaves memory, and it holds nothing a secret can be read from.
pub struct Verified {
    keyed: Hmac<Sha256>,
    tags: Mutex<HashMap<String, [u8; 32]>>,
}

impl Verified {
    fn new() -> Self {
        let mut key = [0u8; 32];
        rand::fill(&mut key);
        Verified {
            keyed: Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes keys of any length"),
            tags: Mutex::new(HashMap::new()),
        }
    }

    fn tag(&self, client_id: &str, stored_hash: &str, secret: &str) -> [u8; 32] {
        let mut mac = self.keyed.clone();
        for part in [client_id, stored_hash, secret] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac.finalize().into_bytes().into()
    }

    /// Whether some secret of `client_id` passed a check here.
    pub fn knows(&self, client_id: &str) -> bool {
        self.tags.lock().expect("verified logins lock").contains_key(client_id)
    }

    /// Whether `secret` passed a check against `stored_hash`, the client's
    /// hash now, here before (compared in constant time).
    pub fn recognises(&self, client_id: &str, stored_hash: &str, secret: &str) -> bool {
        let Some(known) = self.tags.lock().expect("verified logins lock").get(client_id).copied() else {
            return false;
        };
        bool::from(known.ct_eq(&self.tag(client_id, stored_hash, secret)))
    }

    /// Remembers a secret that has just passed its check.
    pub fn remember(&self, client_id: &str, stored_hash: &str, secret: &str) {
        let tag = self.tag(client_id, stored_hash, secret);
        let mut tags = self.tags.lock().expect("verified logins lock");
        if tags.len() >= TABLE_MAX && !tags.contains_key(client_id) {
            tags.clear();
        }
        tags.insert(client_id.to_owned(), tag);
    }
}

/// Recent failures: instants, newest last, at most as many as a rule needs.
#[derive(Default)]
struct Failures {
    pairs: HashMap<(String, IpAddr), VecDeque<Instant>>,
    /// Per address, each client id it failed for and when it last did.
    addresses: HashMap<IpAddr, HashMap<String, Instant>>,
    clients: HashMap<String, VecDeque<Instant>>,
}

impl LoginGuard {
    pub fn new(policy: LoginPolicy) -> Self {
        LoginGuard {
            checks: Semaphore::new(policy.checks.max(1)),
            admitted: AtomicUsize::new(0),
            admitted_by_client: Mutex::new(HashMap::new()),
            failures: Mutex::new(Failures::default()),
            verified: Verified::new(),
            policy,
        }
    }

    /// The failure rules alone, without a turn: whether `client_id` may try
    /// its secret from `address` now.
    pub fn may_try(&self, client_id: &str, address: IpAddr) -> Result<(), Refusal> {
        self.cooling(client_id, address, Instant::now())
            .map_or(Ok(()), |wait| Err(Refusal::CoolingDown(wait)))
    }

    pub fn policy(&self) -> &LoginPolicy {
        &self.policy
    }

    /// Whether `client_id` may try its secret from `address` now, and its
    /// turn at a check slot when it may (waiting for one in the queue).
    pub async fn admit(&self, client_id: &str, address: IpAddr) -> Result<Turn<'_>, Refusal> {
        self.may_try(client_id, address)?;
        let bound = self.policy.checks.max(1) + self.policy.queue;
        if self.admitted.fetch_add(1, Ordering::Relaxed) >= bound {
            self.admitted.fetch_sub(1, Ordering::Relaxed);
            return Err(Refusal::Busy);
        }
        let admission = {
            let mut by_client = self.admitted_by_client.lock().expect("login admissions lock");
            let count = by_client.entry(client_id.to_owned()).or_default();
            if *count >= self.client_share() {
                drop(by_client);
                self.admitted.fetch_sub(1, Ordering::Relaxed);
                return Err(Refusal::Busy);
            }
            *count += 1;
            Admission {
                guard: self,
                client_id: client_id.to_owned(),
            }
        };
        let turn = match self.checks.acquire().await {
            Ok(slot) => Turn {
                _slot: slot,
                _admission: admission,
            },
            Err(_) => unreachable!("the check semaphore is never closed"),
        };
        // Failures counted while this login waited may refuse it now, so a
        // queue filled by one attacker is not worked through.
        match self.cooling(client_id, address, Instant::now()) {
            Some(wait) => Err(Refusal::CoolingDown(wait)),
            None => Ok(turn),
        }
    }

    /// How many logins of one client id may hold or wait for a check slot
    /// at once: a quarter of the queue, beside the slots themselves.
    fn client_share(&self) -> usize {
        self.policy.checks.max(1) + (self.policy.queue / 4).max(1)
    }

    /// Counts the outcome of a secret check.
    pub fn record(&self, client_id: &str, address: IpAddr, succeeded: bool) {
        self.record_at(client_id, address, succeeded, Instant::now());
    }

    fn record_at(&self, client_id: &str, address: IpAddr, succeeded: bool, now: Instant) {
        let policy = &self.policy;
        let mut failures = self.failures.lock().expect("login failures lock");
        let key = (client_id.to_owned(), address);
        if succeeded {
            failures.pairs.remove(&key);
            return;
        }
        let window = policy.window;
        bounded(&mut failures.pairs, now, window, |times| times.back().copied());
        push(failures.pairs.entry(key).or_default(), now, policy.pair_failures);
        bounded(&mut failures.clients, now, window, |times| times.back().copied());
        push(
            failures.clients.entry(client_id.to_owned()).or_default(),
            now,
            policy.client_failures,
        );
        bounded(&mut failures.addresses, now, window, |ids| ids.values().max().copied());
        let ids = failures.addresses.entry(address).or_default();
        if ids.len() >= policy.address_clients.max(1) * 2 {
            ids.retain(|_, at| now.duration_since(*at) < window);
        }
        ids.insert(client_id.to_owned(), now);
    }

    /// How long `client_id` must wait before trying from `address`, if the
    /// policy refuses it now.
    fn cooling(&self, client_id: &str, address: IpAddr, now: Instant) -> Option<Duration> {
        let policy = &self.policy;
        let failures = self.failures.lock().expect("login failures lock");
        let window = policy.window;
        let until = |since: Instant| (since + window).saturating_duration_since(now);
        let recent = |times: &VecDeque<Instant>| times.iter().filter(|&&at| until(at) > Duration::ZERO).count();

        let pair = failures.pairs.get(&(client_id.to_owned(), address));
        // Rule 1: this pair's `pair_failures`th most recent failure leaves
        // the window last of those that count.
        if let Some(times) = pair
            && recent(times) >= policy.pair_failures.max(1)
        {
            return Some(until(times[times.len() - policy.pair_failures.max(1)]));
        }
        // Rule 2: the address failed for too many client ids.
        if let Some(ids) = failures.addresses.get(&address) {
            let mut live: Vec<Instant> = ids.values().copied().filter(|&at| until(at) > Duration::ZERO).collect();
            if live.len() >= policy.address_clients.max(1) {
                live.sort_unstable();
                return Some(until(live[live.len() - policy.address_clients.max(1)]));
            }
        }
        // Rule 3: the client is under attack, and this address took part.
        if let (Some(times), Some(own)) = (failures.clients.get(client_id), pair)
            && recent(times) >= policy.client_failures.max(1)
            && let Some(&last) = own.back()
            && until(last) > Duration::ZERO
        {
            return Some(until(last));
        }
        None
    }
}

/// Appends `now`, keeping the newest `keep` instants.
fn push(times: &mut VecDeque<Instant>, now: Instant, keep: usize) {
    times.push_back(now);
    while times.len() > keep.max(1) {
        times.pop_front();
    }
}

/// Keeps `table` under [`TABLE_MAX`] entries: drops entries whose newest
/// failure left the window, and empties it if that is not enough.
fn bounded<K, V>(table: &mut HashMap<K, V>, now: Instant, window: Duration, newest: impl Fn(&V) -> Option<Instant>) {
    if table.len() < TABLE_MAX {
        return;
    }
    table.retain(|_, value| newest(value).is_some_and(|at| now.duration_since(at) < window));
    if table.len() >= TABLE_MAX {
        table.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ATTACKER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const PARTNER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 7));

    fn guard() -> LoginGuard {
        LoginGuard::new(LoginPolicy {
            checks: 1,
            queue: 1,
            window: Duration::from_secs(60),
            pair_failures: 3,
            address_clients: 4,
            client_failures: 5,
        })
    }

    fn fail(guard: &LoginGuard, client: &str, address: IpAddr, at: Instant, times: usize) {
        for _ in 0..times {
            guard.record_at(client, address, false, at);
        }
    }

    #[test]
    fn a_pair_cools_down_one_window_after_its_failures() {
        let guard = guard();
        let start = Instant::now();
        fail(&guard, "c1", ATTACKER, start, 2);
        assert_eq!(guard.cooling("c1", ATTACKER, start), None, "two of three failures");
        fail(&guard, "c1", ATTACKER, start + Duration::from_secs(10), 1);
        let now = start + Duration::from_secs(15);
        assert_eq!(guard.cooling("c1", ATTACKER, now), Some(Duration::from_secs(45)));
        assert_eq!(guard.cooling("c1", PARTNER, now), None, "another address");
        assert_eq!(guard.cooling("c2", ATTACKER, now), None, "another client");
        assert_eq!(guard.cooling("c1", ATTACKER, start + Duration::from_secs(60)), None);
    }

    #[test]
    fn a_success_clears_its_pair() {
        let guard = guard();
        let now = Instant::now();
        fail(&guard, "c1", PARTNER, now, 2);
        guard.record_at("c1", PARTNER, true, now);
        fail(&guard, "c1", PARTNER, now, 2);
        assert_eq!(guard.cooling("c1", PARTNER, now), None);
    }

    #[test]
    fn an_address_guessing_client_ids_is_refused_for_every_id() {
        let guard = guard();
        let now = Instant::now();
        for client in ["a", "b", "c"] {
            fail(&guard, client, ATTACKER, now, 1);
        }
        assert_eq!(guard.cooling("z", ATTACKER, now), None, "three of four ids");
        fail(&guard, "d", ATTACKER, now, 1);
        assert_eq!(guard.cooling("z", ATTACKER, now), Some(Duration::from_secs(60)));
        assert_eq!(guard.cooling("z", PARTNER, now), None);
    }

    #[test]
    fn a_client_under_attack_refuses_only_addresses_that_failed_for_it() {
        let guard = guard();
        let now = Instant::now();
        for last in 1..=5u8 {
            let address = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, last));
            fail(&guard, "target", address, now, 1);
        }
        let one_of_them = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 1));
        assert_eq!(guard.cooling("target", one_of_them, now), Some(Duration::from_secs(60)));
        assert_eq!(
            guard.cooling("target", PARTNER, now),
            None,
            "a clean address is still checked"
        );
        assert_eq!(guard.cooling("other", one_of_them, now), None);
    }

    /// A flood aimed at one client id fills its quarter of the queue and
    /// no more: other clients' logins still find room.
    #[tokio::test]
    async fn one_client_id_holds_at_most_a_quarter_of_the_queue() {
        let guard = LoginGuard::new(LoginPolicy {
            checks: 1,
            queue: 8,
            ..guard().policy
        });
        let at_the_slot = guard.admit("target", ATTACKER).await.unwrap();
        let mut waiting = Vec::new();
        for _ in 0..2 {
            let mut queued = Box::pin(guard.admit("target", ATTACKER));
            assert!(futures_util::poll!(&mut queued).is_pending());
            waiting.push(queued);
        }
        assert_eq!(
            guard.admit("target", ATTACKER).await.err(),
            Some(Refusal::Busy),
            "its share is taken"
        );
        let mut other = Box::pin(guard.admit("other", PARTNER));
        assert!(
            futures_util::poll!(&mut other).is_pending(),
            "another client still queues"
        );
        drop(at_the_slot);
        drop(waiting);
        drop(other.await.unwrap());
        assert!(guard.admit("target", ATTACKER).await.is_ok(), "the share is given back");
    }

    #[test]
    fn a_verified_secret_is_recognised_for_its_client_and_hash_only() {
        let verified = Verified::new();
        assert!(!verified.knows("c1"));
        verified.remember("c1", "$argon2id$hash-1", "secret");
        assert!(verified.knows("c1"));
        assert!(verified.recognises("c1", "$argon2id$hash-1", "secret"));
        assert!(!verified.recognises("c1", "$argon2id$hash-1", "secreT"));
        assert!(
            !verified.recognises("c1", "$argon2id$hash-2", "secret"),
            "a rotated secret"
        );
        assert!(!verified.recognises("c2", "$argon2id$hash-1", "secret"));
        // The parts are length-prefixed: no shifting of bytes between them.
        verified.remember("ab", "c", "d");
        assert!(!verified.recognises("ab", "cd", ""));
    }

    #[tokio::test]
    async fn past_the_slots_and_the_queue_logins_are_refused_at_once() {
        let guard = guard();
        let first = guard.admit("a", PARTNER).await.unwrap();
        let second = guard.admit("b", PARTNER);
        tokio::pin!(second);
        assert!(
            futures_util::poll!(&mut second).is_pending(),
            "the second waits in the queue"
        );
        assert_eq!(guard.admit("c", PARTNER).await.err(), Some(Refusal::Busy));
        drop(first);
        let second = second.await.unwrap();
        drop(second);
        assert!(guard.admit("d", PARTNER).await.is_ok(), "slots are given back");
    }
}
