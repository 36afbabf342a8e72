//! A catalog built from one consistent scan of the store: every record into
//! the document copy, then an index per reseller and the locator. At start,
//! and when the change log cannot bring a catalog up to date.

use std::collections::HashMap;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use anyhow::{Context, Result};

use super::documents::{Backing, DocumentCopy};
use super::index::{self, Entry, ResellerIndex};
use super::locator::{Location, Locator};
use super::{CatalogOptions, Cell, Shared, State, encode};
use crate::memory;
use crate::store::Store;

/// A catalog built from a fresh scan of the store.
pub(super) async fn build(store: &dyn Store, options: &CatalogOptions) -> Result<State> {
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
