//! Reads from the catalog: a reseller's page (its items handed to a
//! [`PageWriter`] as they are found, under the reseller's lock, so a page
//! shows a write entirely or not at all), one customer by id, and a
//! reseller's customers of one name.

use super::index::ResellerIndex;
use super::{Catalog, Items, State};
use crate::domain::{CustomerRecord, ListQuery, Status};

/// Where a page goes as it is read: the list's JSON envelope is the HTTP
/// layer's, the items are copied straight from the documents into it.
pub trait PageWriter {
    /// Before the items: how many customers match in all, and how many
    /// items follow.
    fn begin(&mut self, total: u64, count: usize);
    /// One item's stored bytes: a record, or a summary (see [`Items`]).
    fn item(&mut self, bytes: &[u8]);
}

impl Catalog {
    /// The page `query` asks for of `reseller_id`'s customers, its items in
    /// the shape of `items`, written to `page`.
    pub fn page_into(&self, reseller_id: &str, query: &ListQuery, items: Items, page: &mut impl PageWriter) {
        let state = self.state();
        let Some((number, cell)) = state.resellers.get(reseller_id).map(|&r| (r, &state.cells[r as usize])) else {
            page.begin(0, 0);
            return;
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
        page.begin(selection.total, selection.slots.len());
        let records = state.shared.documents.reader();
        for &slot in &selection.slots {
            let record = records.record(index.doc(slot));
            page.item(match items {
                Items::Records => record.document,
                Items::Summaries => record.summary,
            });
        }
    }

    /// Runs `read` on one customer, by id, without copying it out first
    /// (`GET /v3/customers/{id}` copies the document once, into its body).
    pub fn read_customer<T>(&self, customer_id: &str, read: impl FnOnce(CustomerView<'_>) -> T) -> Option<T> {
        self.located(customer_id, |state, reseller_id, index, slot| {
            let records = state.shared.documents.reader();
            let record = records.record(index.doc(slot));
            read(CustomerView {
                reseller_id,
                status: index.status(slot),
                tag: record.tag,
                document: record.document,
            })
        })
    }

    /// One customer, by id, as a record.
    pub fn customer(&self, customer_id: &str) -> Option<Found> {
        self.located(customer_id, |state, reseller_id, index, slot| {
            found(state, reseller_id, index, slot)
        })
    }

    /// Runs `read` on the customer's reseller's index (under its lock) and
    /// slot, if the customer exists.
    fn located<T>(&self, customer_id: &str, read: impl FnOnce(&State, &str, &ResellerIndex, u32) -> T) -> Option<T> {
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
            return Some(read(&state, reseller_id, &index, location.slot));
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
    pub status: Status,
    /// The document's hash (its ETag).
    pub tag: u64,
    /// The stored document, exactly as served.
    pub document: &'a [u8],
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
