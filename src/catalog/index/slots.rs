//! One reseller's customers as columns indexed by **slot**: creation date,
//! status, id and folded name, and where the customer's record is in the
//! document copy.
//!
//! A slot keeps its number while its customer changes, so the order lists
//! and postings that name it stay valid; a removed customer's slot is
//! reused. Columns rather than rows because queries read one field of many
//! customers (a status filter reads a byte each, a date range one integer),
//! and those stay in the CPU's cache.

use crate::catalog::documents::DocRef;
use crate::domain::{CustomerRecord, Status};

/// A status byte that marks a free slot.
const VACANT: u8 = u8::MAX;

/// Where a slot's id and name are in the text arena: the id, then the name.
#[derive(Debug, Clone, Copy)]
struct Text {
    start: u32,
    id_len: u16,
    name_len: u16,
}

/// What the catalog knows of one customer.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub customer_id: &'a str,
    pub status: Status,
    pub created: i64,
    pub name_key: &'a str,
    pub doc: DocRef,
}

impl<'a> Entry<'a> {
    /// What the catalog keeps of `record`, whose record copy is at `doc`.
    pub fn of(record: &'a CustomerRecord, doc: DocRef) -> Self {
        Entry {
            customer_id: &record.customer_id,
            status: record.status,
            created: record.created_at,
            name_key: &record.name_key,
            doc,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Slots {
    created: Vec<i64>,
    /// Each slot's name label: numbers in the order of the names (equal
    /// names share one), kept by the index (see `ResellerIndex::label`).
    labels: Vec<u64>,
    status: Vec<u8>,
    text: Vec<Text>,
    arena: Vec<u8>,
    docs: Vec<DocRef>,
    free: Vec<u32>,
    /// Arena bytes of texts no slot uses any more.
    garbage: usize,
}

impl Slots {
    /// Slot numbers in use are below this.
    pub fn end(&self) -> u32 {
        self.status.len() as u32
    }

    /// Slots holding a customer.
    pub fn live(&self) -> usize {
        self.status.len() - self.free.len()
    }

    pub fn is_live(&self, slot: u32) -> bool {
        self.status[slot as usize] != VACANT
    }

    /// Every slot holding a customer, ascending.
    pub fn live_slots(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.end()).filter(|&slot| self.is_live(slot))
    }

    pub fn created(&self, slot: u32) -> i64 {
        self.created[slot as usize]
    }

    /// The status of a live slot.
    pub fn status(&self, slot: u32) -> Status {
        Status::from_index(self.status[slot as usize]).expect("a live slot's status")
    }

    /// Whether the slot holds a customer whose status is one of `statuses`.
    pub fn status_in(&self, slot: u32, statuses: crate::domain::StatusSet) -> bool {
        Status::from_index(self.status[slot as usize]).is_some_and(|status| statuses.contains(status))
    }

    pub fn id(&self, slot: u32) -> &[u8] {
        let text = self.text[slot as usize];
        &self.arena[text.start as usize..text.start as usize + usize::from(text.id_len)]
    }

    pub fn label(&self, slot: u32) -> u64 {
        self.labels[slot as usize]
    }

    pub fn set_label(&mut self, slot: u32, label: u64) {
        self.labels[slot as usize] = label;
    }

    /// The simple-case-folded company name.
    pub fn name(&self, slot: u32) -> &[u8] {
        let (text, len) = self.name_in_text(slot);
        &text[..len]
    }

    /// The folded company name as the start of a longer text (the rest of
    /// the arena) and its length, for
    /// [`NameMatcher::matches_in`](super::matcher::NameMatcher::matches_in),
    /// which reads a short name in whole chunks.
    pub fn name_in_text(&self, slot: u32) -> (&[u8], usize) {
        let text = self.text[slot as usize];
        let start = text.start as usize + usize::from(text.id_len);
        (&self.arena[start..], usize::from(text.name_len))
    }

    pub fn doc(&self, slot: u32) -> DocRef {
        self.docs[slot as usize]
    }

    /// Puts `entry` in a free slot (or a new one) and returns it.
    pub fn allocate(&mut self, entry: Entry<'_>) -> u32 {
        let text = self.push_text(entry.customer_id, entry.name_key);
        match self.free.pop() {
            Some(slot) => {
                let i = slot as usize;
                self.created[i] = entry.created;
                self.labels[i] = 0;
                self.status[i] = entry.status.index() as u8;
                self.text[i] = text;
                self.docs[i] = entry.doc;
                slot
            }
            None => {
                self.created.push(entry.created);
                self.labels.push(0);
                self.status.push(entry.status.index() as u8);
                self.text.push(text);
                self.docs.push(entry.doc);
                self.end() - 1
            }
        }
    }

    /// Replaces what a live slot holds (the same customer, changed); returns
    /// the record it referred to.
    pub fn replace(&mut self, slot: u32, entry: Entry<'_>) -> DocRef {
        let i = slot as usize;
        if self.name(slot) != entry.name_key.as_bytes() || self.id(slot) != entry.customer_id.as_bytes() {
            let old = self.text_len(slot);
            self.text[i] = self.push_text(entry.customer_id, entry.name_key);
            self.garbage += old;
        }
        self.created[i] = entry.created;
        self.status[i] = entry.status.index() as u8;
        std::mem::replace(&mut self.docs[i], entry.doc)
    }

    /// Frees a live slot; returns the record it referred to.
    pub fn vacate(&mut self, slot: u32) -> DocRef {
        self.garbage += self.text_len(slot);
        self.status[slot as usize] = VACANT;
        self.text[slot as usize] = Text {
            start: 0,
            id_len: 0,
            name_len: 0,
        };
        self.free.push(slot);
        self.docs[slot as usize]
    }

    /// Points a live slot at a relocated copy of its record.
    pub fn relocate(&mut self, slot: u32, doc: DocRef) {
        self.docs[slot as usize] = doc;
    }

    fn text_len(&self, slot: u32) -> usize {
        let text = self.text[slot as usize];
        usize::from(text.id_len) + usize::from(text.name_len)
    }

    fn push_text(&mut self, id: &str, name: &str) -> Text {
        if self.garbage > 64 * 1024 && self.garbage > self.arena.len() / 2 {
            self.compact_arena();
        }
        let start = u32::try_from(self.arena.len()).expect("one reseller's names fit in 4 GiB");
        self.arena.extend_from_slice(id.as_bytes());
        self.arena.extend_from_slice(name.as_bytes());
        Text {
            start,
            // Imports and writes validate both: at most 40 and 250
            // characters, so at most 160 and 1,000 bytes.
            id_len: u16::try_from(id.len()).expect("a customer id of at most 40 characters"),
            name_len: u16::try_from(name.len()).expect("a company name of at most 250 characters"),
        }
    }

    /// Rewrites the text arena without the texts of replaced or vacated
    /// slots (when they are more than half of it).
    fn compact_arena(&mut self) {
        let mut arena = Vec::with_capacity(self.arena.len() - self.garbage);
        for slot in 0..self.end() {
            if !self.is_live(slot) {
                continue;
            }
            let text = &mut self.text[slot as usize];
            let (start, len) = (
                text.start as usize,
                usize::from(text.id_len) + usize::from(text.name_len),
            );
            text.start = arena.len() as u32;
            arena.extend_from_slice(&self.arena[start..start + len]);
        }
        self.arena = arena;
        self.garbage = 0;
    }

    /// The same customers in the slots `order` lists, in that order (slot
    /// `i` of the result is slot `order[i]` of `self`); no free slots.
    pub fn reordered(&self, order: &[u32]) -> Slots {
        let mut out = Slots {
            created: Vec::with_capacity(order.len()),
            labels: Vec::with_capacity(order.len()),
            status: Vec::with_capacity(order.len()),
            text: Vec::with_capacity(order.len()),
            arena: Vec::with_capacity(self.arena.len() - self.garbage),
            docs: Vec::with_capacity(order.len()),
            free: Vec::new(),
            garbage: 0,
        };
        for &slot in order {
            out.allocate(Entry {
                customer_id: std::str::from_utf8(self.id(slot)).expect("ids are UTF-8"),
                status: self.status(slot),
                created: self.created(slot),
                name_key: std::str::from_utf8(self.name(slot)).expect("names are UTF-8"),
                doc: self.doc(slot),
            });
        }
        out
    }

    pub fn shrink_to_fit(&mut self) {
        self.created.shrink_to_fit();
        self.labels.shrink_to_fit();
        self.status.shrink_to_fit();
        self.text.shrink_to_fit();
        self.arena.shrink_to_fit();
        self.docs.shrink_to_fit();
    }
}
