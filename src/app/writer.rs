//! Customer writes through the API (SPEC §6), committed in groups: every
//! write that arrives while a commit is under way waits for the next one,
//! so a burst of concurrent writes costs one transaction and one fsync,
//! not one each (durability is kept: nothing is answered before its
//! commit). After each commit the catalog applies the group before the
//! writes are answered, so a write is visible to the next request.
//!
//! Also the in-flight half of idempotency (SPEC §7): a correlation id
//! being processed on this server answers a repeat with 4122.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::{Result, anyhow};
use tokio::sync::{mpsc, oneshot};

use crate::catalog::Catalog;
use crate::store::{Abandoned, CustomerWrite, Retention, Store, WriteOutcome};
use crate::telemetry;

/// Most writes in one transaction.
const GROUP: usize = 256;

struct Job {
    write: CustomerWrite,
    done: oneshot::Sender<Result<WriteOutcome>>,
}

/// Correlation ids in flight on this server: (client, id) → the fingerprint
/// of the request being processed.
type Registry = Arc<Mutex<HashMap<(String, String), Vec<u8>>>>;

/// Hands writes to the committing task.
pub struct Writer {
    jobs: mpsc::Sender<Job>,
    task: tokio::task::AbortHandle,
    in_flight: Registry,
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Writer {
    pub fn start(store: Arc<dyn Store>, catalog: Catalog, retention: Retention) -> Self {
        let (jobs, queue) = mpsc::channel(4 * GROUP);
        let task = tokio::spawn(commit_groups(queue, store, catalog, retention)).abort_handle();
        Writer {
            jobs,
            task,
            in_flight: Arc::default(),
        }
    }

    /// Commits `write` (with the others waiting) and returns what became of
    /// it once the catalog shows it.
    ///
    /// Dropped before the answer comes (the request ran out of time), the
    /// write is marked [`Abandoned`]: if its turn has not come yet, it is
    /// not written.
    pub async fn submit(&self, write: CustomerWrite) -> Result<WriteOutcome> {
        let submitted = std::time::Instant::now();
        let waiting = Waiting(Some(write.abandoned.clone()));
        let (done, outcome) = oneshot::channel();
        self.jobs
            .send(Job { write, done })
            .await
            .map_err(|_| anyhow!("the writer stopped"))?;
        let outcome = outcome.await.map_err(|_| anyhow!("the writer stopped"))?;
        waiting.answered();
        if outcome.is_ok() {
            telemetry::write(submitted.elapsed());
        }
        outcome
    }

    /// Marks a client's correlation id as in flight on this server, for a
    /// request with `fingerprint`, until the returned guard drops. If it is
    /// in flight already, the fingerprint of that request.
    pub fn begin(&self, client_id: &str, correlation_id: &str, fingerprint: &[u8]) -> Result<InFlight, Vec<u8>> {
        let key = (client_id.to_owned(), correlation_id.to_owned());
        let mut in_flight = self.in_flight.lock().expect("in-flight lock");
        if let Some(running) = in_flight.get(&key) {
            return Err(running.clone());
        }
        in_flight.insert(key.clone(), fingerprint.to_vec());
        Ok(InFlight {
            registry: self.in_flight.clone(),
            key,
        })
    }
}

/// Marks a submitted write [`Abandoned`] when dropped before its answer.
struct Waiting(Option<Abandoned>);

impl Waiting {
    fn answered(mut self) {
        self.0 = None;
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some(abandoned) = self.0.take() {
            abandoned.set();
        }
    }
}

/// A correlation id in flight; forgotten when this drops.
pub struct InFlight {
    registry: Registry,
    key: (String, String),
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.registry.lock().expect("in-flight lock").remove(&self.key);
    }
}

async fn commit_groups(mut queue: mpsc::Receiver<Job>, store: Arc<dyn Store>, catalog: Catalog, retention: Retention) {
    while let Some(first) = queue.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < GROUP
            && let Ok(job) = queue.try_recv()
        {
            jobs.push(job);
        }
        let (writes, done): (Vec<_>, Vec<_>) = jobs.into_iter().map(|job| (job.write, job.done)).unzip();
        match store.write(writes, retention).await {
            Ok(outcomes) => {
                let newest = outcomes
                    .iter()
                    .filter_map(|outcome| match outcome {
                        Ok(WriteOutcome::Written { generation, .. }) => Some(*generation),
                        _ => None,
                    })
                    .max();
                if let Some(generation) = newest
                    && let Err(error) = catalog.catch_up(generation).await
                {
                    // Committed and durable; the follower applies it shortly.
                    tracing::warn!(
                        error = crate::logs::chain(&*error),
                        generation,
                        "a committed write is not applied yet"
                    );
                }
                for (done, outcome) in done.into_iter().zip(outcomes) {
                    let _ = done.send(outcome);
                }
            }
            Err(error) => {
                let cause = crate::logs::chain(&*error);
                for done in done {
                    let _ = done.send(Err(anyhow!("the write's transaction failed: {cause}")));
                }
            }
        }
    }
}
