//! The catalog answers list queries: an in-memory [`Index`] picks the page,
//! the store supplies the page's stored documents.
//!
//! Exactness: each page is fetched from a database snapshot that must carry
//! the generation the index was built from. When an import has committed
//! since, the fetch says so, the index is rebuilt (once, however many
//! requests notice) and the query runs again.

mod index;

use std::sync::{Arc, RwLock};
use std::time::Instant;

use anyhow::{Result, bail};

pub use index::{Index, IndexBuilder, Order, Reseller, Selection};

use crate::domain::ListQuery;
use crate::store::Store;

/// How many times a page is retried against a freshly rebuilt index before
/// giving up (only imports committing faster than a rebuild could cause it).
const ATTEMPTS: usize = 3;

pub struct Catalog {
    store: Arc<dyn Store>,
    current: RwLock<Arc<Index>>,
    /// Held while rebuilding, so concurrent requests wait for one rebuild.
    rebuild: tokio::sync::Mutex<()>,
}

impl Catalog {
    /// Builds the index from the store.
    pub async fn load(store: Arc<dyn Store>) -> Result<Self> {
        let index = build(store.as_ref()).await?;
        Ok(Catalog {
            store,
            current: RwLock::new(Arc::new(index)),
            rebuild: tokio::sync::Mutex::new(()),
        })
    }

    pub fn snapshot(&self) -> Arc<Index> {
        self.current.read().expect("catalog lock").clone()
    }

    /// Rebuilds the index unless someone already replaced `stale`.
    async fn refresh(&self, stale: &Index) -> Result<Arc<Index>> {
        let _rebuilding = self.rebuild.lock().await;
        let current = self.snapshot();
        if current.generation() != stale.generation() {
            return Ok(current);
        }
        let fresh = Arc::new(build(self.store.as_ref()).await?);
        *self.current.write().expect("catalog lock") = fresh.clone();
        Ok(fresh)
    }

    /// Whether the reseller has customers (at the database's current
    /// generation) or some client's scope names it.
    pub async fn reseller_known(&self, reseller_id: &str) -> Result<bool> {
        let mut index = self.snapshot();
        if index.reseller(reseller_id).is_some() {
            return Ok(true);
        }
        if self.store.generation().await? != index.generation() {
            index = self.refresh(&index).await?;
            if index.reseller(reseller_id).is_some() {
                return Ok(true);
            }
        }
        self.store.reseller_in_any_scope(reseller_id).await
    }

    /// The whole 200 body of SPEC §2 for `query` on `reseller_id`.
    pub async fn page(&self, reseller_id: &str, query: &ListQuery) -> Result<Vec<u8>> {
        let mut index = self.snapshot();
        for _ in 0..ATTEMPTS {
            let selection = index.reseller(reseller_id).map_or_else(
                || Selection {
                    total: 0,
                    row_ids: Vec::new(),
                },
                |r| r.select(query),
            );
            let body = page_head(&selection, query);
            match self
                .store
                .fetch_page(index.generation(), selection.row_ids, body)
                .await?
            {
                Some(mut body) => {
                    body.extend_from_slice(b"]}");
                    return Ok(body);
                }
                None => index = self.refresh(&index).await?,
            }
        }
        bail!("the customer data kept changing while a page was read")
    }
}

/// `{"totalCount":…,"count":…,"offset":…,"limit":…,"customers":[`, with
/// room for the documents that follow. (Pieced together: `write!` cost
/// more than everything else in this function.)
fn page_head(selection: &Selection, query: &ListQuery) -> Vec<u8> {
    let mut body = Vec::with_capacity(96 + selection.row_ids.len() * 1024);
    let mut number = itoa::Buffer::new();
    for (name, value) in [
        (&br#"{"totalCount":"#[..], selection.total),
        (br#","count":"#, selection.row_ids.len() as u64),
        (br#","offset":"#, query.offset),
        (br#","limit":"#, query.limit.get() as u64),
    ] {
        body.extend_from_slice(name);
        body.extend_from_slice(number.format(value).as_bytes());
    }
    body.extend_from_slice(br#","customers":["#);
    body
}

async fn build(store: &dyn Store) -> Result<Index> {
    let started = Instant::now();
    let (generation, builder) = store.load_catalog(IndexBuilder::default()).await?;
    let index = tokio::task::spawn_blocking(move || builder.finish(generation)).await?;
    tracing::info!(
        generation,
        customers = index.customer_count(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "catalog loaded"
    );
    Ok(index)
}
