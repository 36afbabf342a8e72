//! How the catalog stays live (SPEC §8): it follows the store's change log,
//! every [`FOLLOW_EVERY`] and at once when a write is announced, and
//! applies the customers later writes changed; or builds itself afresh
//! when the log cannot bring it up to date.

use std::sync::Arc;
use std::sync::atomic::Ordering as AtomicOrdering;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::Catalog;
use super::build::build;
use crate::store::{Changes, Generation};
use crate::telemetry;

/// How often a server asks the change log for writes it has not applied.
pub const FOLLOW_EVERY: Duration = Duration::from_millis(100);

/// Catch-ups for announced writes are at least this far apart: under a
/// stream of writes through other instances each one takes a batch (at
/// most 50 a second, rather than a change-log query per commit), and a
/// write is still applied within about this long of its commit.
const ANNOUNCED_GAP: Duration = Duration::from_millis(20);

/// While following fails, how often it is logged again.
const FOLLOW_FAILURE_LOG_EVERY: Duration = Duration::from_secs(10);

/// A catch-up that would fetch more changed customers than this builds the
/// catalog afresh instead.
const FOLLOW_MAX_CUSTOMERS: u64 = 200_000;

impl Catalog {
    /// Follows the change log until the task is dropped: every `every`,
    /// and at once when the store announces a write this catalog has not
    /// applied (another instance's, on PostgreSQL), the writes committed
    /// since are applied. A failure is logged and retried.
    ///
    /// While the database cannot be read the catalog keeps serving what it
    /// has; the failure is logged when it starts and every 10 seconds while
    /// it lasts (not every attempt), and the recovery once.
    pub async fn follow(&self, every: Duration) {
        let mut failing_since: Option<Instant> = None;
        let mut logged = Instant::now();
        let mut announced = self.inner.store.announced_writes();
        let mut poll_at = tokio::time::Instant::now() + every;
        let mut announced_at: Option<tokio::time::Instant> = None;
        loop {
            // The poll keeps its own pace, so announcements (this server's
            // own writes among them) never put it off.
            let heard = match announced.as_mut() {
                Some(announced) => tokio::select! {
                    () = tokio::time::sleep_until(poll_at) => None,
                    changed = announced.changed() => Some(changed.map(|()| *announced.borrow_and_update())),
                },
                None => {
                    tokio::time::sleep_until(poll_at).await;
                    None
                }
            };
            match heard {
                None => poll_at = tokio::time::Instant::now() + every,
                Some(Ok(generation)) if generation <= self.generation() => continue,
                Some(Ok(_)) => {
                    if let Some(at) = announced_at {
                        tokio::time::sleep_until(at + ANNOUNCED_GAP).await;
                    }
                    announced_at = Some(tokio::time::Instant::now());
                }
                // The listener is gone: polling alone from now on.
                Some(Err(_)) => announced = None,
            }
            match self.refresh().await {
                Ok(generation) => {
                    if let Some(since) = failing_since.take() {
                        tracing::info!(
                            generation,
                            failed_for_ms = since.elapsed().as_millis() as u64,
                            "following the change log again"
                        );
                    }
                }
                Err(error) => {
                    if failing_since.is_none() || logged.elapsed() >= FOLLOW_FAILURE_LOG_EVERY {
                        tracing::warn!(
                            error = crate::logs::chain(&*error),
                            failing_for_ms = failing_since.map_or(0, |since| since.elapsed().as_millis() as u64),
                            "following the change log failed; serving what was applied, retrying"
                        );
                        logged = Instant::now();
                    }
                    failing_since.get_or_insert_with(Instant::now);
                }
            }
        }
    }

    /// Applies every write committed so far; returns the generation reached.
    pub async fn refresh(&self) -> Result<Generation> {
        let reached = self.apply_committed().await?;
        if telemetry::enabled() {
            telemetry::catalog(self.customer_count(), reached);
        }
        Ok(reached)
    }

    async fn apply_committed(&self) -> Result<Generation> {
        let _applying = self.inner.applying.lock().await;
        let applied = self.generation();
        let started = Instant::now();
        match self.inner.store.changes_since(applied, FOLLOW_MAX_CUSTOMERS).await? {
            Changes::Since { generation, .. } if generation == applied => Ok(applied),
            Changes::Since {
                generation,
                changed,
                removed,
            } => {
                let inner = self.inner.clone();
                let customers = changed.len() + removed.len();
                let applying = tokio::task::spawn_blocking(move || inner.apply(generation, changed, removed));
                if let Err(failure) = applying.await {
                    // A panic half-way leaves a half-changed catalog: build anew.
                    tracing::error!(error = %failure, "applying changes failed; rebuilding the catalog");
                    return self.rebuild().await;
                }
                tracing::debug!(
                    from = applied,
                    to = generation,
                    customers,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "changes applied"
                );
                telemetry::catch_up(started.elapsed());
                Ok(generation)
            }
            Changes::Rebuild => self.rebuild().await,
        }
    }

    /// Builds a new catalog beside the current one (which serves meanwhile)
    /// and swaps it in. The caller holds `applying`.
    async fn rebuild(&self) -> Result<Generation> {
        let state = build(self.inner.store.as_ref(), &self.inner.options).await?;
        let generation = state.shared.generation.load(AtomicOrdering::Acquire);
        *self.inner.current.write().expect("catalog lock") = Arc::new(state);
        Ok(generation)
    }

    /// Returns once the catalog has applied `generation` (a write of this
    /// server's that just committed), catching up at once if needed.
    pub async fn catch_up(&self, generation: Generation) -> Result<()> {
        if self.generation() < generation {
            self.refresh().await?;
        }
        Ok(())
    }
}
