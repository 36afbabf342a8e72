//! Applying one catch-up's changed customers to a live catalog, reseller by
//! reseller, each under its own lock for about a `memmove` per change (a
//! reseller with many changes is changed on a copy and swapped in); then
//! compacting the document copy's mostly-dead segments.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering as AtomicOrdering;
use std::sync::{Arc, RwLock};

use super::documents::{DocRef, Record};
use super::index::{Entry, ResellerIndex};
use super::locator::Location;
use super::{Cell, Inner, State, encode};
use crate::domain::CustomerRecord;
use crate::memory;
use crate::store::Generation;

/// After applying a batch of at least this many customers, the allocator is
/// asked to give freed memory back to the system ([`memory::give_back`]).
const TRIM_AFTER_CUSTOMERS: usize = 1_000;

/// A reseller with at least this many changes in one catch-up is changed on
/// a copy and swapped in, so its readers never wait for the whole batch.
const CHANGE_ON_COPY: usize = 64;

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
    /// Applies one catch-up's changes, reseller by reseller, then publishes
    /// `generation`. Runs on a blocking thread, with `applying` held.
    pub(super) fn apply(&self, generation: Generation, changed: Vec<CustomerRecord>, removed: Vec<String>) {
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
