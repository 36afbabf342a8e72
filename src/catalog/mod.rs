//! The catalog answers every read of customer data from this process's
//! memory: an [`index`] per reseller picks a page, the [`documents`] copy
//! supplies the page's stored bytes, the [`locator`] finds one customer.
//! The files say the rest: [`read`] (pages and customers), [`known`]
//! (resellers that exist), [`follow`] (staying live), [`apply`] (one
//! catch-up), [`build`] (a catalog from a scan).
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

mod apply;
mod build;
pub mod documents;
mod follow;
pub mod index;
mod known;
mod locator;
mod read;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use anyhow::Result;

use self::build::build;
pub use self::documents::Backing;
use self::documents::{DocumentCopy, Record};
pub use self::follow::FOLLOW_EVERY;
pub use self::index::{Order, Plan};
use self::index::{ResellerIndex, TRIGRAM_MIN_CUSTOMERS};
use self::locator::{Location, Locator};
pub use self::read::{CustomerView, Found, PageWriter};
use crate::domain::CustomerRecord;
use crate::domain::customer::{self, tag_of};
use crate::store::{Generation, Store};
use crate::telemetry;

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

impl Inner {
    fn state(&self) -> Arc<State> {
        self.current.read().expect("catalog lock").clone()
    }
}

/// A record as the document copy stores it.
fn encode(record: &CustomerRecord) -> Vec<u8> {
    Record::encode(
        tag_of(record.doc.as_bytes()),
        record.doc.as_bytes(),
        customer::summary(record).as_bytes(),
    )
}
