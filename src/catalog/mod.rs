//! The catalog answers every read of customer data from this process's
//! memory: an [`index`] per reseller picks a page, the [`documents`] copy
//! supplies the page's stored bytes, the [`locator`] finds one customer.
//!
//! **Live** (SPEC §8): the catalog is built once, from a scan of the store,
//! and then follows the store's change log: every 100 ms, or at once after
//! this server's own write, it reads the customers that later writes
//! changed and applies just those. Applying touches only the resellers
//! involved, each under its own lock, held for about a `memmove` per
//! change (a reseller with many changes is changed on a copy and swapped
//! in). Readers never wait for more than that step, and a page is read
//! under its reseller's lock, so it shows a write entirely or not at all.
//! Only when the log cannot bring the catalog up to date (it was trimmed,
//! or one write changed more customers than are worth applying one by one)
//! is a new catalog built beside the old one, which serves until the swap.
//!
//! Depends on `store`, `logs`, `telemetry`, `memory` and `domain`.

pub mod documents;
pub mod index;
mod locator;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

pub use self::documents::Backing;
use self::documents::{DocRef, DocumentCopy, Record};
use self::index::{Entry, ResellerIndex, Selection, TRIGRAM_MIN_CUSTOMERS};
pub use self::index::{Order, Plan};
use self::locator::{Location, Locator};
use crate::domain::{CustomerRecord, ListQuery, ResellerScope, customer};
use crate::store::{Changes, Generation, Store};
use crate::{memory, telemetry};

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

/// After applying a batch of at least this many customers, the allocator is
/// asked to give freed memory back to the system ([`memory::give_back`]).
const TRIM_AFTER_CUSTOMERS: usize = 1_000;

/// A reseller with at least this many changes in one catch-up is changed on
/// a copy and swapped in, so its readers never wait for the whole batch.
const CHANGE_ON_COPY: usize = 64;

/// How long the store's "some scope names this reseller" is trusted. A
/// client changed to stop naming it reaches every instance within this
/// time, as client changes do (SPEC §5 allows 5 s).
const NAMED_TTL: Duration = Duration::from_secs(2);
/// Bound on those remembered resellers.
const NAMED_MAX: usize = 65_536;

/// How a catalog keeps its documents and indexes names.
#[derive(Debug, Clone)]
pub struct CatalogOptions {
    /// `None`: files beside the database, or in the temporary directory.
    pub documents: Option<Backing>,
    pub trigram_min: usize,
}

impl Default for CatalogOptions {
    fn default() -> Self {
        CatalogOptions {
            documents: None,
            trigram_min: TRIGRAM_MIN_CUSTOMERS,
        }
    }
}

/// The list item shapes of SPEC §7's API versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Items {
    /// `2025-08`: full records under `customers`.
    Records,
    /// `2025-11`: summaries under `accounts`.
    Summaries,
}

#[derive(Clone)]
pub struct Catalog {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    options: CatalogOptions,
    current: RwLock<Arc<State>>,
    /// Held while changes are applied or the catalog rebuilt: one at a
    /// time, in generation order.
    applying: tokio::sync::Mutex<()>,
    /// Resellers without customers that the store last said some scope
    /// names, and when it said so (see [`Catalog::reseller_known`]).
    named: Mutex<HashMap<Box<str>, Instant>>,
}

/// The catalog at one moment: its resellers (a new reseller makes a new
/// `State` sharing the rest), the records, the locator.
struct State {
    resellers: HashMap<Box<str>, u32>,
    cells: Vec<Arc<Cell>>,
    shared: Arc<Shared>,
}

struct Cell {
    reseller_id: Box<str>,
    index: RwLock<ResellerIndex>,
}

struct Shared {
    documents: DocumentCopy,
    locator: RwLock<Locator>,
    /// The last generation applied in full.
    generation: AtomicI64,
}

impl Catalog {
    /// Builds the catalog from the store, with default options.
    pub async fn load(store: Arc<dyn Store>) -> Result<Self> {
        Self::load_with(store, CatalogOptions::default()).await
    }

    pub async fn load_with(store: Arc<dyn Store>, options: CatalogOptions) -> Result<Self> {
        let state = build(store.as_ref(), &options).await?;
        if telemetry::enabled() {
            let generation = state.shared.generation.load(AtomicOrdering::Acquire);
            let customers = state.shared.locator.read().expect("locator lock").len();
            telemetry::catalog(customers, generation);
        }
        Ok(Catalog {
            inner: Arc::new(Inner {
                store,
                options,
                current: RwLock::new(Arc::new(state)),
                applying: tokio::sync::Mutex::new(()),
                named: Mutex::default(),
            }),
        })
    }

    fn state(&self) -> Arc<State> {
        self.inner.state()
    }

    /// The last generation this catalog applied.
    pub fn generation(&self) -> Generation {
        self.state().shared.generation.load(AtomicOrdering::Acquire)
    }

    /// Customers in the catalog.
    pub fn customer_count(&self) -> usize {
        self.state().shared.locator.read().expect("locator lock").len()
    }

    /// Customers of one reseller.
    pub fn reseller_size(&self, reseller_id: &str) -> usize {
        let state = self.state();
        state
            .cell(reseller_id)
            .map_or(0, |cell| cell.index.read().expect("reseller lock").len())
    }

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

    /// Whether the reseller has customers or some client's scope names it
    /// (SPEC §3, 1115), asked by a caller whose scope is `scope`.
    ///
    /// Only a caller whose scope is `*` needs the store for a reseller
    /// without customers (a scoped caller got here because its own scope
    /// names it). A new reseller, named before its first customer arrives,
    /// is then polled by such callers on every request, so the store's
    /// "named" is kept for [`NAMED_TTL`]. "Not named" is asked again each
    /// time: a client created for a new reseller makes it known at once.
    pub async fn reseller_known(&self, reseller_id: &str, scope: &ResellerScope) -> Result<bool> {
        if self.reseller_size(reseller_id) > 0 || scope.names(reseller_id) {
            return Ok(true);
        }
        let fresh = |read_at: &Instant| read_at.elapsed() < NAMED_TTL;
        if self
            .inner
            .named
            .lock()
            .expect("named lock")
            .get(reseller_id)
            .is_some_and(fresh)
        {
            return Ok(true);
        }
        let named = self.inner.store.reseller_in_any_scope(reseller_id).await?;
        if named {
            let mut remembered = self.inner.named.lock().expect("named lock");
            if remembered.len() >= NAMED_MAX {
                remembered.retain(|_, read_at| fresh(read_at));
                if remembered.len() >= NAMED_MAX {
                    remembered.clear();
                }
            }
            remembered.insert(reseller_id.into(), Instant::now());
        }
        Ok(named)
    }

    /// The whole 200 body of SPEC §2 for `query` on `reseller_id`, with
    /// full records under `customers`.
    pub async fn page(&self, reseller_id: &str, query: &ListQuery) -> Result<Vec<u8>> {
        Ok(self.page_of(reseller_id, query, Items::Records))
    }

    /// The whole 200 body of SPEC §2 for `query` on `reseller_id`, its
    /// items in the shape of `items`.
    pub fn page_of(&self, reseller_id: &str, query: &ListQuery, items: Items) -> Vec<u8> {
        let state = self.state();
        let Some((number, cell)) = state.resellers.get(reseller_id).map(|&r| (r, &state.cells[r as usize])) else {
            let mut body = page_head(&Selection::empty(), query, items);
            body.extend_from_slice(b"]}");
            return body;
        };
        let customer_slots: Vec<u32> = if query.customer_ids.is_empty() {
            Vec::new()
        } else {
            let locator = state.shared.locator.read().expect("locator lock");
            query
                .customer_ids
                .iter()
                .filter_map(|id| locator.get(id))
                .filter(|location| location.reseller == number)
                .map(|location| location.slot)
                .collect()
        };
        let index = cell.index.read().expect("reseller lock");
        let (plan, selection) = index.select(query, &customer_slots);
        tracing::debug!(reseller_id, ?plan, total = selection.total, "page");
        let mut body = page_head(&selection, query, items);
        let records = state.shared.documents.reader();
        for (i, &slot) in selection.slots.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            let record = records.record(index.doc(slot));
            body.extend_from_slice(match items {
                Items::Records => record.document,
                Items::Summaries => record.summary,
            });
        }
        body.extend_from_slice(b"]}");
        body
    }
}

/// A customer as the catalog holds it, with its document's hash (the
/// strong ETag, the same on every server).
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub record: CustomerRecord,
    pub tag: u64,
}

/// One customer as a read sees it, borrowed from the catalog for the
/// length of [`Catalog::read_customer`]'s closure.
pub struct CustomerView<'a> {
    pub reseller_id: &'a str,
    pub status: crate::domain::Status,
    /// The document's hash (its ETag).
    pub tag: u64,
    /// The stored document, exactly as served.
    pub document: &'a [u8],
}

impl Catalog {
    /// Runs `read` on one customer, by id, without copying it out first
    /// (`GET /v3/customers/{id}` copies the document once, into its body).
    pub fn read_customer<T>(&self, customer_id: &str, read: impl FnOnce(CustomerView<'_>) -> T) -> Option<T> {
        let state = self.state();
        // A customer moving to another reseller is briefly found at its old
        // place after it left it: look again.
        for _ in 0..3 {
            let location = state.shared.locator.read().expect("locator lock").get(customer_id)?;
            let (reseller_id, cell) = state.reseller_of(location.reseller)?;
            let index = cell.index.read().expect("reseller lock");
            if index.customer_id(location.slot) != Some(customer_id.as_bytes()) {
                drop(index);
                std::thread::yield_now();
                continue;
            }
            let records = state.shared.documents.reader();
            let record = records.record(index.doc(location.slot));
            return Some(read(CustomerView {
                reseller_id,
                status: index.status(location.slot),
                tag: record.tag,
                document: record.document,
            }));
        }
        None
    }

    /// One customer, by id, as a record.
    pub fn customer(&self, customer_id: &str) -> Option<Found> {
        let state = self.state();
        for _ in 0..3 {
            let location = state.shared.locator.read().expect("locator lock").get(customer_id)?;
            let (reseller_id, cell) = state.reseller_of(location.reseller)?;
            let index = cell.index.read().expect("reseller lock");
            if index.customer_id(location.slot) != Some(customer_id.as_bytes()) {
                drop(index);
                std::thread::yield_now();
                continue;
            }
            return Some(found(&state, reseller_id, &index, location.slot));
        }
        None
    }

    /// The customers of a reseller whose folded company name is `name_key`.
    pub fn namesakes(&self, reseller_id: &str, name_key: &str) -> Vec<Found> {
        let state = self.state();
        let Some(cell) = state.cell(reseller_id) else {
            return Vec::new();
        };
        let index = cell.index.read().expect("reseller lock");
        index
            .named(name_key)
            .into_iter()
            .map(|slot| found(&state, reseller_id, &index, slot))
            .collect()
    }
}

/// The customer in `slot` of `index` (read under its lock).
fn found(state: &State, reseller_id: &str, index: &ResellerIndex, slot: u32) -> Found {
    let records = state.shared.documents.reader();
    let record = records.record(index.doc(slot));
    Found {
        record: CustomerRecord {
            customer_id: String::from_utf8_lossy(index.customer_id(slot).unwrap_or_default()).into_owned(),
            reseller_id: reseller_id.to_owned(),
            status: index.status(slot),
            created_at: index.created(slot),
            name_key: String::from_utf8_lossy(index.name_key(slot)).into_owned(),
            doc: String::from_utf8_lossy(record.document).into_owned(),
        },
        tag: record.tag,
    }
}

/// A hash of a stored document: its strong ETag, the same on every server.
pub fn tag_of(document: &[u8]) -> u64 {
    let digest = Sha256::digest(document);
    u64::from_be_bytes(digest[..8].try_into().expect("eight bytes"))
}

/// A record as the document copy stores it.
fn encode(record: &CustomerRecord) -> Vec<u8> {
    Record::encode(
        tag_of(record.doc.as_bytes()),
        record.doc.as_bytes(),
        customer::summary(record).as_bytes(),
    )
}

/// `{"totalCount":…,"count":…,"offset":…,"limit":…,"customers":[` (or
/// `"accounts":[`), with room for the items that follow. (Pieced together:
/// `write!` cost more than everything else in this function.)
fn page_head(selection: &Selection, query: &ListQuery, items: Items) -> Vec<u8> {
    let mut body = Vec::with_capacity(96 + selection.slots.len() * 1024);
    let mut number = itoa::Buffer::new();
    for (name, value) in [
        (&br#"{"totalCount":"#[..], selection.total),
        (br#","count":"#, selection.slots.len() as u64),
        (br#","offset":"#, query.offset),
        (br#","limit":"#, query.limit.get() as u64),
    ] {
        body.extend_from_slice(name);
        body.extend_from_slice(number.format(value).as_bytes());
    }
    body.extend_from_slice(match items {
        Items::Records => br#","customers":["#,
        Items::Summaries => br#","accounts":["#,
    });
    body
}

/// A catalog built from a fresh scan of the store.
async fn build(store: &dyn Store, options: &CatalogOptions) -> Result<State> {
    let started = Instant::now();
    let backing = options
        .documents
        .clone()
        .unwrap_or_else(|| Backing::Files(store.local_directory().unwrap_or_else(std::env::temp_dir)));
    let trigram_min = options.trigram_min;
    let mut scan = store.scan().await?;
    let generation = scan.generation;
    let state = tokio::task::spawn_blocking(move || -> Result<State> {
        let documents = DocumentCopy::new(backing);
        let mut builders: HashMap<Box<str>, index::slots::Slots> = HashMap::new();
        while let Some(batch) = scan.customers.blocking_recv() {
            let batch = batch.context("scanning the customers")?;
            let encoded: Vec<Vec<u8>> = batch.iter().map(encode).collect();
            let places = documents.append(&encoded);
            for (record, place) in batch.iter().zip(places) {
                let slots = match builders.get_mut(record.reseller_id.as_str()) {
                    Some(slots) => slots,
                    None => builders.entry(record.reseller_id.as_str().into()).or_default(),
                };
                slots.allocate(Entry::of(record, place));
            }
        }
        let mut resellers = HashMap::with_capacity(builders.len());
        let mut cells = Vec::with_capacity(builders.len());
        for (reseller_id, slots) in builders {
            resellers.insert(reseller_id.clone(), cells.len() as u32);
            cells.push(Arc::new(Cell {
                reseller_id,
                index: RwLock::new(ResellerIndex::new(slots, trigram_min)),
            }));
        }
        let mut locator = Locator::default();
        for (number, cell) in cells.iter().enumerate() {
            let index = cell.index.read().expect("reseller lock");
            for (slot, customer_id) in index.customers() {
                let customer_id = std::str::from_utf8(customer_id).expect("ids are UTF-8");
                locator.insert_new(
                    customer_id,
                    Location {
                        reseller: number as u32,
                        slot,
                    },
                );
            }
        }
        let state = State {
            resellers,
            cells,
            shared: Arc::new(Shared {
                documents,
                locator: RwLock::new(locator),
                generation: AtomicI64::new(generation),
            }),
        };
        // The scan's batches and encodings, and the builders' growth, are
        // freed by now.
        memory::give_back();
        Ok(state)
    })
    .await??;
    tracing::info!(
        generation,
        customers = state.shared.locator.read().expect("locator lock").len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "catalog loaded"
    );
    Ok(state)
}

impl State {
    fn cell(&self, reseller_id: &str) -> Option<&Arc<Cell>> {
        self.resellers.get(reseller_id).map(|&r| &self.cells[r as usize])
    }

    /// The reseller numbered `number`, and its id.
    fn reseller_of(&self, number: u32) -> Option<(&str, &Arc<Cell>)> {
        let cell = self.cells.get(number as usize)?;
        Some((&cell.reseller_id, cell))
    }

    /// Where `customer_id` is, confirmed against the index.
    fn find(&self, locator: &Locator, customer_id: &str) -> Option<Location> {
        let location = locator.get(customer_id)?;
        let cell = self.cells.get(location.reseller as usize)?;
        let holds =
            cell.index.read().expect("reseller lock").customer_id(location.slot) == Some(customer_id.as_bytes());
        holds.then_some(location)
    }
}

/// One change to one reseller's index, in the order they are applied.
enum Op {
    /// The customer left (or moved to another reseller).
    Remove { slot: u32 },
    /// The customer in `slot` changed; `record` indexes the batch.
    Update { slot: u32, record: usize },
    /// A customer new to this reseller.
    Insert { record: usize },
}

impl Inner {
    fn state(&self) -> Arc<State> {
        self.current.read().expect("catalog lock").clone()
    }

    /// Applies one catch-up's changes, reseller by reseller, then publishes
    /// `generation`. Runs on a blocking thread, with `applying` held.
    fn apply(&self, generation: Generation, changed: Vec<CustomerRecord>, removed: Vec<String>) {
        let state = self.with_resellers(&changed);
        let shared = state.shared.clone();
        // The records go to the copy first: nothing refers to them yet.
        let encoded: Vec<Vec<u8>> = changed.iter().map(encode).collect();
        let places = shared.documents.append(&encoded);

        let mut ops: BTreeMap<u32, Vec<Op>> = BTreeMap::new();
        let mut known = vec![false; changed.len()];
        let mut forgotten = Vec::new();
        {
            let locator = shared.locator.read().expect("locator lock");
            for (i, record) in changed.iter().enumerate() {
                let target = state.resellers[record.reseller_id.as_str()];
                match state.find(&locator, &record.customer_id) {
                    Some(old) if old.reseller == target => {
                        ops.entry(target).or_default().push(Op::Update {
                            slot: old.slot,
                            record: i,
                        });
                    }
                    Some(old) => {
                        known[i] = true;
                        ops.entry(old.reseller).or_default().push(Op::Remove { slot: old.slot });
                        ops.entry(target).or_default().push(Op::Insert { record: i });
                    }
                    None => ops.entry(target).or_default().push(Op::Insert { record: i }),
                }
            }
            for customer_id in &removed {
                if let Some(old) = state.find(&locator, customer_id) {
                    ops.entry(old.reseller).or_default().push(Op::Remove { slot: old.slot });
                    forgotten.push(customer_id.as_str());
                }
            }
        }

        let mut released: Vec<DocRef> = Vec::new();
        let mut located: Vec<(usize, Location)> = Vec::new();
        for (number, mut reseller_ops) in ops {
            // Removals free slots, updates keep theirs, insertions may reuse.
            reseller_ops.sort_by_key(|op| match op {
                Op::Remove { .. } => 0,
                Op::Update { .. } => 1,
                Op::Insert { .. } => 2,
            });
            let change = |index: &mut ResellerIndex, released: &mut Vec<DocRef>, located: &mut Vec<_>| {
                for op in &reseller_ops {
                    match *op {
                        Op::Remove { slot } => released.push(index.remove(slot)),
                        Op::Update { slot, record } => {
                            released.push(index.update(slot, Entry::of(&changed[record], places[record])));
                        }
                        Op::Insert { record } => {
                            let slot = index.insert(Entry::of(&changed[record], places[record]));
                            located.push((record, Location { reseller: number, slot }));
                        }
                    }
                }
            };
            let cell = &state.cells[number as usize];
            // Updates that keep every key cost a store each; only the others
            // move list entries and count towards working on a copy.
            let reordering = {
                let index = cell.index.read().expect("reseller lock");
                reseller_ops
                    .iter()
                    .filter(|op| match **op {
                        Op::Update { slot, record } => {
                            !index.keeps_keys(slot, &Entry::of(&changed[record], places[record]))
                        }
                        _ => true,
                    })
                    .count()
            };
            if reordering >= CHANGE_ON_COPY {
                let mut copy = cell.index.read().expect("reseller lock").clone();
                change(&mut copy, &mut released, &mut located);
                if copy.needs_maintenance() {
                    copy.maintain();
                }
                let old = std::mem::replace(&mut *cell.index.write().expect("reseller lock"), copy);
                drop(old);
            } else {
                change(
                    &mut cell.index.write().expect("reseller lock"),
                    &mut released,
                    &mut located,
                );
                if cell.index.read().expect("reseller lock").needs_maintenance() {
                    let mut copy = cell.index.read().expect("reseller lock").clone();
                    copy.maintain();
                    let old = std::mem::replace(&mut *cell.index.write().expect("reseller lock"), copy);
                    drop(old);
                }
            }
        }

        {
            let mut locator = shared.locator.write().expect("locator lock");
            for (record, location) in located {
                let customer_id = &changed[record].customer_id;
                if known[record] {
                    locator.set(customer_id, location);
                } else {
                    locator.insert_new(customer_id, location);
                }
            }
            for customer_id in forgotten {
                locator.remove(customer_id);
            }
        }
        for place in released {
            shared.documents.release(place);
        }
        self.compact(&state);
        shared.generation.store(generation, AtomicOrdering::Release);
        if changed.len() + removed.len() >= TRIM_AFTER_CUSTOMERS {
            memory::give_back();
        }
    }

    /// The current state, with a cell for every reseller `changed` names
    /// (a new state, swapped in, if some are new).
    fn with_resellers(&self, changed: &[CustomerRecord]) -> Arc<State> {
        let state = self.state();
        let mut new: Vec<&str> = changed
            .iter()
            .map(|record| record.reseller_id.as_str())
            .filter(|id| !state.resellers.contains_key(*id))
            .collect();
        if new.is_empty() {
            return state;
        }
        new.sort_unstable();
        new.dedup();
        let mut resellers = state.resellers.clone();
        let mut cells = state.cells.clone();
        for reseller_id in new {
            resellers.insert(reseller_id.into(), cells.len() as u32);
            cells.push(Arc::new(Cell {
                reseller_id: reseller_id.into(),
                index: RwLock::new(ResellerIndex::new(Default::default(), self.options.trigram_min)),
            }));
        }
        let next = Arc::new(State {
            resellers,
            cells,
            shared: state.shared.clone(),
        });
        *self.current.write().expect("catalog lock") = next.clone();
        next
    }

    /// Moves the live records out of segments that are mostly garbage, a
    /// few hundred at a time per reseller, then drops those segments.
    fn compact(&self, state: &State) {
        let documents = &state.shared.documents;
        while let Some(victim) = documents.compaction_candidate() {
            for cell in &state.cells {
                let slots = cell.index.read().expect("reseller lock").slots_in_segment(victim);
                for chunk in slots.chunks(256) {
                    let copies: Vec<Vec<u8>> = {
                        let index = cell.index.read().expect("reseller lock");
                        let records = documents.reader();
                        chunk
                            .iter()
                            .map(|&slot| {
                                let record = records.record(index.doc(slot));
                                Record::encode(record.tag, record.document, record.summary)
                            })
                            .collect()
                    };
                    let places = documents.append(&copies);
                    let mut index = cell.index.write().expect("reseller lock");
                    for (&slot, place) in chunk.iter().zip(places) {
                        let old = index.doc(slot);
                        index.relocate(slot, place);
                        documents.release(old);
                    }
                }
            }
            if !documents.retire(victim) {
                tracing::error!(
                    segment = victim,
                    "a compacted document segment is still referenced; keeping it"
                );
                break;
            }
        }
    }
}
