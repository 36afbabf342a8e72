//! One reseller's customers, indexed for every query SPEC §2 allows, and
//! changed one customer at a time as writes arrive.
//!
//! - [`slots`]: the customers as columns, by slot number;
//! - [`lists`]: each status's slots in the four sort orders;
//! - [`grams`], [`bits`]: exact sets of statuses and of name bytes, byte
//!   pairs and bytes held twice, and [`trigrams`]: substring postings,
//!   for large resellers;
//! - [`plan`]: which of those a query uses;
//! - [`paging`]: offset and limit over the matches, counted exactly.
//!
//! A change costs a binary search and a `memmove` in eight lists (and a few
//! postings), whatever the reseller's size; nothing is rebuilt.

mod bits;
mod grams;
mod lists;
mod matcher;
mod paging;
mod plan;
pub mod slots;
mod trigrams;

pub use lists::Order;
pub use matcher::NameMatcher;
pub use paging::Selection;
pub use plan::Plan;
pub use slots::Entry;

use self::bits::Bits;
use self::grams::Grams;
use self::lists::StatusLists;
use self::paging::Window;
use self::slots::Slots;
use self::trigrams::{Candidates, Trigrams};
use super::documents::DocRef;
use crate::domain::{CreatedRange, ListQuery, PatternShape, Status};

/// Marks the start of a name in the gram sets and trigram postings (never
/// a byte of UTF-8), so that `*inc` and `ab*cd` narrow by where their
/// literals sit, not only by what they contain.
pub const NAME_START: u8 = 0xFE;
/// Marks the end of a name, likewise.
pub const NAME_END: u8 = 0xFF;

/// `name` between [`NAME_START`] and [`NAME_END`], into `framed`.
pub fn frame(name: &[u8], framed: &mut Vec<u8>) {
    framed.clear();
    framed.push(NAME_START);
    framed.extend_from_slice(name);
    framed.push(NAME_END);
}

/// Resellers with at least this many customers get trigram postings; below
/// it, checking every name costs microseconds and the postings would cost
/// more memory than they save time.
pub const TRIGRAM_MIN_CUSTOMERS: usize = 2_048;

#[derive(Clone)]
pub struct ResellerIndex {
    slots: Slots,
    lists: StatusLists,
    trigrams: Option<std::sync::Arc<Trigrams>>,
    grams: Option<std::sync::Arc<Grams>>,
    trigram_min: usize,
}

impl ResellerIndex {
    /// Indexes `slots` (filled by [`Slots::allocate`]), renumbered in
    /// creation order so that neighbouring slots are read together.
    pub fn new(slots: Slots, trigram_min: usize) -> Self {
        let mut by_created: Vec<u32> = slots.live_slots().collect();
        by_created.sort_unstable_by(|&a, &b| Order::CreatedAsc.compare(&slots, a, b));
        let mut slots = slots.reordered(&by_created);
        slots.shrink_to_fit();
        let every: Vec<u32> = slots.live_slots().collect();
        relabel(&mut slots, every);
        let lists = StatusLists::build(&slots);
        let large = slots.live() >= trigram_min;
        let trigrams = large.then(|| std::sync::Arc::new(Trigrams::build(&slots)));
        let grams = large.then(|| std::sync::Arc::new(build_grams(&slots)));
        ResellerIndex {
            slots,
            lists,
            trigrams,
            grams,
            trigram_min,
        }
    }

    /// Customers in the reseller.
    pub fn len(&self) -> usize {
        self.slots.live()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many of its customers have `status`.
    pub fn count(&self, status: Status) -> usize {
        self.lists.count(status)
    }

    /// The customer id a slot holds, if it holds one.
    pub fn customer_id(&self, slot: u32) -> Option<&[u8]> {
        (slot < self.slots.end() && self.slots.is_live(slot)).then(|| self.slots.id(slot))
    }

    /// A live slot's status.
    pub fn status(&self, slot: u32) -> Status {
        self.slots.status(slot)
    }

    /// A live slot's creation date (Unix seconds).
    pub fn created(&self, slot: u32) -> i64 {
        self.slots.created(slot)
    }

    /// A live slot's folded company name.
    pub fn name_key(&self, slot: u32) -> &[u8] {
        self.slots.name(slot)
    }

    /// The slots whose folded company name is exactly `name_key`.
    pub fn named(&self, name_key: &str) -> Vec<u32> {
        let name = name_key.as_bytes();
        Status::ALL
            .iter()
            .flat_map(|&status| {
                let list = self.lists.get(status, Order::NameAsc);
                let start = list.partition_point(|&slot| self.slots.name(slot) < name);
                let end = start + list[start..].partition_point(|&slot| self.slots.name(slot) == name);
                list[start..end].iter().copied()
            })
            .collect()
    }

    /// Where a live slot's record is.
    pub fn doc(&self, slot: u32) -> DocRef {
        self.slots.doc(slot)
    }

    /// Every live slot with its customer id (for the catalog's locator).
    pub fn customers(&self) -> impl Iterator<Item = (u32, &[u8])> + '_ {
        self.slots.live_slots().map(|slot| (slot, self.slots.id(slot)))
    }

    /// Live slots whose record is in `segment` (for compaction).
    pub fn slots_in_segment(&self, segment: u32) -> Vec<u32> {
        self.slots
            .live_slots()
            .filter(|&slot| self.slots.doc(slot).segment() == segment)
            .collect()
    }

    /// Adds a customer; returns its slot.
    pub fn insert(&mut self, entry: Entry<'_>) -> u32 {
        let slot = self.slots.allocate(entry);
        self.label(slot);
        self.lists.insert(&self.slots, slot);
        if let Some(trigrams) = &mut self.trigrams {
            std::sync::Arc::make_mut(trigrams).add(slot, entry.name_key.as_bytes());
        }
        if let Some(grams) = &mut self.grams {
            std::sync::Arc::make_mut(grams).insert(slot, entry.status, entry.name_key.as_bytes());
        }
        slot
    }

    /// Replaces the customer in `slot` with its changed self; returns the
    /// record it referred to.
    /// Whether replacing `slot`'s customer with `entry` keeps everything the
    /// lists, labels and gram sets are keyed by (status, creation date,
    /// name): then [`ResellerIndex::update`] only moves the record.
    pub fn keeps_keys(&self, slot: u32, entry: &Entry<'_>) -> bool {
        self.slots.status(slot) == entry.status
            && self.slots.created(slot) == entry.created
            && self.slots.name(slot) == entry.name_key.as_bytes()
    }

    pub fn update(&mut self, slot: u32, entry: Entry<'_>) -> DocRef {
        if self.keeps_keys(slot, &entry) {
            // Most writes (tags, contacts, an address) change nothing a list,
            // a label or a gram set is keyed by: only the record moves.
            return self.slots.replace(slot, entry);
        }
        self.lists.remove(&self.slots, slot);
        if let Some(grams) = &mut self.grams {
            std::sync::Arc::make_mut(grams).remove(slot, self.slots.status(slot), self.slots.name(slot));
            std::sync::Arc::make_mut(grams).insert(slot, entry.status, entry.name_key.as_bytes());
        }
        let renamed = self.slots.name(slot) != entry.name_key.as_bytes();
        let old = self.slots.replace(slot, entry);
        if renamed {
            self.label(slot);
        }
        self.lists.insert(&self.slots, slot);
        if renamed && let Some(trigrams) = &mut self.trigrams {
            let trigrams = std::sync::Arc::make_mut(trigrams);
            trigrams.note_stale();
            trigrams.add(slot, entry.name_key.as_bytes());
        }
        old
    }

    /// Removes the customer in `slot`; returns the record it referred to.
    pub fn remove(&mut self, slot: u32) -> DocRef {
        self.lists.remove(&self.slots, slot);
        if let Some(grams) = &mut self.grams {
            std::sync::Arc::make_mut(grams).remove(slot, self.slots.status(slot), self.slots.name(slot));
        }
        if let Some(trigrams) = &mut self.trigrams {
            std::sync::Arc::make_mut(trigrams).note_stale();
        }
        self.slots.vacate(slot)
    }

    /// Gives `slot` (not in the lists) the label its name calls for: the
    /// label of an equal name, else one between its neighbours' labels
    /// (the largest smaller name's and the smallest larger name's, over
    /// every status). When two neighbours' labels are adjacent, every name
    /// is labelled afresh, evenly spaced: with 64-bit labels that takes
    /// dozens of insertions at one spot, so it is rare.
    fn label(&mut self, slot: u32) {
        let slots = &self.slots;
        let name = slots.name(slot);
        let (mut below, mut above) = (0u64, u64::MAX);
        for status in Status::ALL {
            let list = self.lists.get(status, Order::NameAsc);
            let at = list.partition_point(|&other| slots.name(other) < name);
            if let Some(&next) = list.get(at) {
                if slots.name(next) == name {
                    let label = slots.label(next);
                    self.slots.set_label(slot, label);
                    return;
                }
                above = above.min(slots.label(next));
            }
            if at > 0 {
                below = below.max(slots.label(list[at - 1]));
            }
        }
        if above - below >= 2 {
            self.slots.set_label(slot, below + (above - below) / 2);
            return;
        }
        let every = self.slots.live_slots().collect();
        relabel(&mut self.slots, every);
    }

    /// Points a slot at a relocated copy of its record.
    pub fn relocate(&mut self, slot: u32, doc: DocRef) {
        self.slots.relocate(slot, doc);
    }

    /// Whether [`ResellerIndex::maintain`] has work: postings to (re)build.
    pub fn needs_maintenance(&self) -> bool {
        match &self.trigrams {
            Some(trigrams) => trigrams.worn(),
            None => self.len() >= self.trigram_min,
        }
    }

    /// Rebuilds the postings from the names as they are now: O(customers),
    /// so the catalog runs it on a copy that readers do not wait for.
    pub fn maintain(&mut self) {
        let large = self.len() >= self.trigram_min;
        self.trigrams = large.then(|| std::sync::Arc::new(Trigrams::build(&self.slots)));
        if large && self.grams.is_none() {
            self.grams = Some(std::sync::Arc::new(build_grams(&self.slots)));
        }
    }

    /// Evaluates `query` exactly: the plan it took, the total and the page.
    /// `customer_slots` are the slots the catalog found for the query's
    /// `customer-id` values (checked again here).
    pub fn select(&self, query: &ListQuery, customer_slots: &[u32]) -> (Plan, Selection) {
        let plan = Plan::choose(query, self.grams.is_some());
        // Built only by the plans that check names one by one.
        let name = || query.name.as_ref().map(NameMatcher::new);
        let order = Order::of(query.sort, query.order);
        let window = Window {
            offset: query.offset,
            limit: query.limit.get(),
        };
        let selection = match plan {
            Plan::CustomerIds => {
                let name = name();
                let matches = customer_slots.iter().copied().filter(|&slot| {
                    self.customer_id(slot)
                        .and_then(|id| std::str::from_utf8(id).ok())
                        .is_some_and(|id| query.customer_ids.contains(id))
                        && self.matches(query, name.as_ref(), slot)
                });
                paging::of_unsorted(&self.slots, matches, customer_slots.len(), order, window)
            }
            Plan::Postings => self.search(query, &name().expect("a postings plan has a pattern"), order, window),
            Plan::ScanNames => {
                let name = name().expect("a scan plan has a pattern");
                let matches = self.slots.live_slots().filter(|&slot| {
                    self.slots.status_in(slot, query.statuses)
                        && query.created.contains(self.slots.created(slot))
                        && self.name_matches(&name, slot)
                });
                paging::of_unsorted(&self.slots, matches, self.slots.live(), order, window)
            }
            Plan::MergeSlices | Plan::FilterSlices => {
                let slices: Vec<(&[u32], Order)> = query
                    .statuses
                    .iter()
                    .filter(|&status| self.lists.count(status) > 0)
                    .map(|status| self.narrow(status, order, query))
                    .collect();
                if plan == Plan::MergeSlices {
                    let lists: Vec<&[u32]> = slices.iter().map(|(slice, _)| *slice).collect();
                    paging::of_merged(&self.slots, &lists, order, window)
                } else if query.name.is_none() && order.by_name() {
                    // A date range in a name order: counted by binary
                    // searches in the date lists, paged by walking the name
                    // lists, checking each customer's date.
                    let total: usize = query
                        .statuses
                        .iter()
                        .map(|status| self.narrow(status, Order::CreatedAsc, query).0.len())
                        .sum();
                    let lists: Vec<&[u32]> = slices.iter().map(|(slice, _)| *slice).collect();
                    let in_range = |slot: u32| query.created.contains(self.slots.created(slot));
                    paging::walk(&self.slots, &lists, in_range, total, order, window, usize::MAX)
                        .expect("an unbounded walk")
                } else if let Some(labels) = self.name_block(&slices).filter(|_| query.created.is_unbounded()) {
                    // A name prefix (or exact name) in a date order: its
                    // matches are the slots whose name label lies in the
                    // block's range, so the count is the blocks' length
                    // and the page a walk down the date lists testing one
                    // label per slot, when that is cheaper than a heap.
                    let total: usize = slices.iter().map(|(slice, _)| slice.len()).sum();
                    self.walk_or_heap(
                        query,
                        order,
                        window,
                        total,
                        |slot| labels.contains(&self.slots.label(slot)),
                        || slices.iter().flat_map(|(slice, _)| slice.iter().copied()),
                    )
                } else {
                    let at_most = slices.iter().map(|(slice, _)| slice.len()).sum();
                    let dated = !query.created.is_unbounded();
                    let matches = slices
                        .iter()
                        .flat_map(|(slice, _)| slice.iter().copied())
                        .filter(|&slot| !dated || query.created.contains(self.slots.created(slot)));
                    match slices.as_slice() {
                        [(_, sorted_by)] if *sorted_by == order => {
                            paging::of_sorted(&matches.collect::<Vec<_>>(), window)
                        }
                        _ => paging::of_unsorted(&self.slots, matches, at_most, order, window),
                    }
                }
            }
        };
        (plan, selection)
    }

    /// [`Plan::Postings`]: the exact match set from the gram sets and
    /// postings, counted, then paged by a walk or a heap.
    fn search(&self, query: &ListQuery, name: &NameMatcher<'_>, order: Order, window: Window) -> Selection {
        let pattern = query.name.as_ref().expect("a postings plan has a pattern");
        let grams = self.grams.as_ref().expect("a postings plan has gram sets");
        // The literals as the sets index them: the first behind NAME_START
        // when nothing may precede it, the last before NAME_END likewise.
        let count = pattern.parts().count();
        let framed: Vec<Vec<u8>> = pattern
            .parts()
            .enumerate()
            .map(|(i, part)| {
                let mut framed = Vec::with_capacity(part.len() + 2);
                if i == 0 && pattern.starts_anchored() {
                    framed.push(NAME_START);
                }
                framed.extend_from_slice(part.as_bytes());
                if i + 1 == count && pattern.ends_anchored() {
                    framed.push(NAME_END);
                }
                framed
            })
            .collect();
        let parts: Vec<&[u8]> = framed.iter().map(Vec::as_slice).collect();
        // One framed literal (`*abc*`, `*abc`) is the whole pattern: a name
        // matches exactly when its framed form contains it.
        let single = parts.len() == 1;
        let (mut matches, mut exact) = grams.candidates(query.statuses, &parts, single);
        // Each literal of 3+ bytes narrows the candidates to its trigram
        // postings; the shortest list is left for last, to be checked in
        // the same pass that intersects it.
        let mut shortest: Option<Candidates> = None;
        if let Some(trigrams) = &self.trigrams {
            for part in parts.iter().filter(|part| part.len() >= 3) {
                let mut list = trigrams.candidates(part);
                if let Some(kept) = &mut shortest
                    && list.len() < kept.len()
                {
                    std::mem::swap(kept, &mut list);
                }
                match shortest {
                    Some(_) => matches.intersect_list(&list),
                    None => shortest = Some(list),
                }
            }
            // A single literal of three bytes (or a suffix of three) is
            // exactly its posting list, while the postings are exact.
            exact |= matches!(parts.as_slice(), [one] if Trigrams::exactly(one)) && trigrams.exact();
        }
        let dated = !query.created.is_unbounded();
        if !exact || dated {
            // The date first, and the name only within the range: slots
            // are numbered in creation order, so the date's branch is
            // well predicted, and a name check skipped is the dear part.
            let in_dates = |slot| !dated || query.created.contains(self.slots.created(slot));
            match name.single_bytes().filter(|_| !exact) {
                // `*a*e*`: checked in this loop, where the general matcher's
                // entry cost a third of the query (docs/PERFORMANCE.md,
                // "One-letter fragments, checked in the catalog's loop").
                Some(singles) => narrow(&mut matches, shortest, true, |slot| {
                    in_dates(slot) && {
                        let (text, len) = self.slots.name_in_text(slot);
                        singles
                            .matches_in(text, len)
                            .unwrap_or_else(|| name.matches_in(text, len))
                    }
                }),
                None => narrow(
                    &mut matches,
                    shortest,
                    !exact && name.has_several_middle_runs(),
                    |slot| in_dates(slot) && (exact || self.name_matches(name, slot)),
                ),
            }
        } else if let Some(last) = shortest {
            matches.intersect_list(&last);
        }
        let total = matches.count();
        self.walk_or_heap(
            query,
            order,
            window,
            total,
            |slot| matches.contains(slot),
            || matches.slots(),
        )
    }

    /// The page of `total` known matches (those `contains` accepts, which
    /// `matches` lists in any order): by walking the query's statuses' lists in
    /// `order` testing each slot, when the page is reached in fewer probes
    /// than the matches number, else by a bounded heap over `matches`.
    ///
    /// In a date order, the walk covers only the part of each list within
    /// the query's dates: a date range's matches are one block of a date list, and
    /// a walk from the list's start would first pass every customer newer
    /// (or older) than the range.
    fn walk_or_heap<I: Iterator<Item = u32>>(
        &self,
        query: &ListQuery,
        order: Order,
        window: Window,
        total: usize,
        contains: impl Fn(u32) -> bool,
        matches: impl FnOnce() -> I,
    ) -> Selection {
        let lists: Vec<&[u32]> = query
            .statuses
            .iter()
            .map(|status| {
                let list = self.lists.get(status, order);
                if order.by_name() {
                    list
                } else {
                    self.within(list, order, query.created)
                }
            })
            .filter(|list| !list.is_empty())
            .collect();
        let listed: usize = lists.iter().map(|list| list.len()).sum();
        // The estimate takes matches as spread evenly down the lists; when
        // they bunch far from the walk's start, the walk gives up after
        // about the heap's cost, so a page costs at most twice the cheaper.
        let walked = paging::walk_is_cheaper(total, listed, window)
            .then(|| {
                paging::walk(
                    &self.slots,
                    &lists,
                    contains,
                    total,
                    order,
                    window,
                    paging::heap_cost(total),
                )
            })
            .flatten();
        walked.unwrap_or_else(|| paging::of_unsorted(&self.slots, matches(), total, order, window))
    }

    /// The range of name labels of a name prefix's (or exact name's)
    /// blocks, one per status, each in name order; `None` when the query's
    /// slices are not such blocks or are all empty.
    fn name_block(&self, slices: &[(&[u32], Order)]) -> Option<std::ops::RangeInclusive<u64>> {
        slices
            .iter()
            .filter(|(slice, order)| !slice.is_empty() && order.by_name())
            .map(|(slice, order)| {
                let (first, last) = (self.slots.label(slice[0]), self.slots.label(slice[slice.len() - 1]));
                if *order == Order::NameAsc {
                    (first, last)
                } else {
                    (last, first)
                }
            })
            .reduce(|(lo, hi), (first, last)| (lo.min(first), hi.max(last)))
            .map(|(lo, hi)| lo..=hi)
    }

    /// The part of `status`'s lists that a name prefix or exact name (else
    /// the date range) allows, from the best list for `order`, and the order
    /// that list is in.
    fn narrow(&self, status: Status, order: Order, query: &ListQuery) -> (&[u32], Order) {
        let slots = &self.slots;
        match query.name.as_ref().map(|pattern| pattern.shape()) {
            Some(shape @ (PatternShape::Exact(literal) | PatternShape::Prefix(literal))) => {
                let prefix = matches!(shape, PatternShape::Prefix(_));
                let literal = literal.as_bytes();
                // Names matching an exact or prefix pattern are contiguous in
                // either name order.
                let in_block = |slot: u32| {
                    let name = slots.name(slot);
                    if prefix {
                        name.starts_with(literal)
                    } else {
                        name == literal
                    }
                };
                let list_order = if order.by_name() { order } else { Order::NameAsc };
                let list = self.lists.get(status, list_order);
                let lo = if list_order == Order::NameAsc {
                    list.partition_point(|&slot| slots.name(slot) < literal)
                } else {
                    list.partition_point(|&slot| slots.name(slot) > literal && !in_block(slot))
                };
                let hi = lo + list[lo..].partition_point(|&slot| in_block(slot));
                (&list[lo..hi], list_order)
            }
            _ if order.by_name() => (self.lists.get(status, order), order),
            _ => (self.within(self.lists.get(status, order), order, query.created), order),
        }
    }

    /// The part of `list`, in date `order`, created within `range`: found
    /// by two binary searches.
    fn within<'a>(&self, list: &'a [u32], order: Order, range: CreatedRange) -> &'a [u32] {
        let created = |slot: u32| self.slots.created(slot);
        let (from, to) = (range.from, range.to);
        let (lo, hi) = if order == Order::CreatedAsc {
            (
                from.map_or(0, |f| list.partition_point(|&slot| created(slot) < f)),
                to.map_or(list.len(), |t| list.partition_point(|&slot| created(slot) <= t)),
            )
        } else {
            (
                to.map_or(0, |t| list.partition_point(|&slot| created(slot) > t)),
                from.map_or(list.len(), |f| list.partition_point(|&slot| created(slot) >= f)),
            )
        };
        &list[lo..hi.max(lo)]
    }

    /// Whether a live slot's name matches.
    fn name_matches(&self, name: &NameMatcher<'_>, slot: u32) -> bool {
        let (text, len) = self.slots.name_in_text(slot);
        name.matches_in(text, len)
    }

    /// Whether a live slot passes every filter of `query` but `customer-id`
    /// (`name` is the query's name pattern, ready to match).
    fn matches(&self, query: &ListQuery, name: Option<&NameMatcher<'_>>, slot: u32) -> bool {
        self.slots.status_in(slot, query.statuses)
            && query.created.contains(self.slots.created(slot))
            && name.is_none_or(|name| self.name_matches(name, slot))
    }
}

/// Keeps the `matches` that `keep` accepts and, when given, are in
/// `last` too: `unpredictable` when about as many fail as pass, in no
/// order the processor could learn (several middle runs), so a branch
/// per slot would be mispredicted.
fn narrow(matches: &mut Bits, last: Option<Candidates>, unpredictable: bool, keep: impl FnMut(u32) -> bool) {
    match (last, unpredictable) {
        (Some(last), false) => matches.intersect_list_where::<false>(&last, keep),
        (Some(last), true) => matches.intersect_list_where::<true>(&last, keep),
        (None, false) => matches.retain(keep),
        (None, true) => matches.retain_unpredictable(keep),
    }
}

/// The gram sets of every live slot.
fn build_grams(slots: &Slots) -> Grams {
    let mut grams = Grams::with_room(slots.end() as usize);
    for slot in slots.live_slots() {
        grams.insert(slot, slots.status(slot), slots.name(slot));
    }
    grams.shrink_to_fit();
    grams
}

/// Labels `every` slot's name afresh: evenly spaced numbers in name order,
/// one per distinct name.
fn relabel(slots: &mut Slots, mut every: Vec<u32>) {
    every.sort_unstable_by(|&a, &b| slots.name(a).cmp(slots.name(b)));
    let distinct = 1 + every
        .windows(2)
        .filter(|pair| slots.name(pair[0]) != slots.name(pair[1]))
        .count();
    let step = u64::MAX / (distinct as u64 + 1);
    let mut label = 0;
    for i in 0..every.len() {
        if i == 0 || slots.name(every[i]) != slots.name(every[i - 1]) {
            label += step;
        }
        slots.set_label(every[i], label);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::documents::{Backing, DocumentCopy};
    use crate::domain::CustomerRecord;
    use crate::generate::{Generator, Plan as DataPlan, reseller_id};

    /// The first reseller of a generated portfolio, indexed with the given
    /// trigram threshold, and the records it was built from.
    fn reseller(trigram_min: usize) -> (ResellerIndex, Vec<CustomerRecord>) {
        let plan = DataPlan {
            customers: 6_000,
            resellers: 3,
            seed: 5,
        };
        let doc = DocumentCopy::new(Backing::Memory).append(&[vec![0; 12]])[0];
        let records: Vec<CustomerRecord> = Generator::new(plan)
            .map(|value| CustomerRecord::from_json(value).unwrap())
            .filter(|record| record.reseller_id == reseller_id(0))
            .collect();
        let mut slots = Slots::default();
        for record in &records {
            slots.allocate(entry(record, doc));
        }
        (ResellerIndex::new(slots, trigram_min), records)
    }

    fn entry(record: &CustomerRecord, doc: DocRef) -> Entry<'_> {
        Entry::of(record, doc)
    }

    /// The page as customer ids, from the index.
    fn page(index: &ResellerIndex, query: &str) -> (Plan, u64, Vec<String>) {
        let query = ListQuery::parse(query).unwrap();
        let (plan, selection) = index.select(&query, &[]);
        let ids = selection
            .slots
            .iter()
            .map(|&slot| String::from_utf8(index.slots.id(slot).to_vec()).unwrap())
            .collect();
        (plan, selection.total, ids)
    }

    /// The same page, by filtering and sorting every record.
    fn reference(records: &[CustomerRecord], query: &str) -> (u64, Vec<String>) {
        let query = ListQuery::parse(query).unwrap();
        let mut matches: Vec<&CustomerRecord> = records
            .iter()
            .filter(|r| {
                query.statuses.contains(r.status)
                    && query.created.contains(r.created_at)
                    && query.name.as_ref().is_none_or(|p| p.matches(&r.name_key))
            })
            .collect();
        let order = Order::of(query.sort, query.order);
        matches.sort_by(|a, b| {
            let key = match order {
                Order::CreatedAsc => a.created_at.cmp(&b.created_at),
                Order::CreatedDesc => b.created_at.cmp(&a.created_at),
                Order::NameAsc => a.name_key.cmp(&b.name_key),
                Order::NameDesc => b.name_key.cmp(&a.name_key),
            };
            key.then_with(|| a.customer_id.cmp(&b.customer_id))
        });
        let start = (query.offset as usize).min(matches.len());
        let end = (start + query.limit.get()).min(matches.len());
        (
            matches.len() as u64,
            matches[start..end].iter().map(|r| r.customer_id.clone()).collect(),
        )
    }

    const QUERIES: [&str; 37] = [
        "",
        "status=1000&status=1002&offset=37&limit=50",
        "sort-by=companyName&order-by=asc&offset=1000",
        "from-created-date=2018-01-01&to-created-date=2020-06-30&order-by=asc",
        "sort-by=companyName&from-created-date=2018-01-01",
        "sort-by=companyName&order-by=asc&from-created-date=2018-01-01&status=1000&status=1004&offset=900",
        "name=north*&sort-by=companyName&order-by=desc",
        "name=north*&status=1004&status=1000",
        "name=s*&order-by=asc&offset=150&limit=50",
        "name=b*&status=1000&status=1002&status=1004&offset=60",
        "name=a*&status=1000&status=1002",
        "name=*tec*&sort-by=companyName&offset=3",
        "name=*a*s*&status=1002&status=1000&offset=5",
        "name=*gmbh&order-by=asc",
        "name=*ana*&from-created-date=2019-01-01&limit=50",
        "name=*a*",
        "name=*e*&sort-by=companyName&order-by=asc&offset=1500",
        "name=*e*&offset=1200&limit=50",
        "name=*r*&status=1000&status=1002&status=1004&sort-by=companyName&offset=40",
        "name=*in*&order-by=asc",
        "name=*st*&from-created-date=2016-01-01&to-created-date=2021-12-31&sort-by=companyName",
        "name=*%C3%B8*",
        "name=*ab*co*",
        "name=*s+l*&status=1002&status=1000",
        "name=*inc",
        "name=*s+ag&status=1000&status=1002",
        "name=*ltd&from-created-date=2019-01-01&sort-by=companyName",
        "name=*h",
        "name=*bh&sort-by=companyName",
        "name=g*h",
        "name=a*e*&status=1000&status=1002",
        "name=s*a*g&order-by=asc",
        "name=*q*",
        "name=*a*e*",
        "name=*e*a*e*&sort-by=companyName&status=1000&status=1002",
        "name=*s*t*t*&from-created-date=2019-01-01&order-by=asc",
        "offset=100000",
    ];

    #[test]
    fn every_plan_answers_like_a_full_sort() {
        for trigram_min in [0, usize::MAX] {
            let (index, records) = reseller(trigram_min);
            for query in QUERIES {
                let (_, total, ids) = page(&index, query);
                assert_eq!(
                    (total, ids),
                    reference(&records, query),
                    "{query} (trigram_min {trigram_min})"
                );
            }
        }
    }

    #[test]
    fn changes_keep_every_plan_exact() {
        let (mut index, mut records) = reseller(0);
        let doc = index.doc(0);
        // Rename, re-date and re-status a third of the customers, remove a
        // tenth, add some: every query still answers like a full sort.
        let slot_of =
            |index: &ResellerIndex, id: &str| index.customers().find(|(_, cid)| *cid == id.as_bytes()).unwrap().0;
        for (i, record) in records.iter_mut().enumerate().filter(|(i, _)| i % 3 == 0) {
            // Names that share little with the old ones (so stale postings
            // would show), dates moved, statuses changed both ways.
            record.name_key = match i % 4 {
                0 => format!("north tec {i}"),
                1 => format!("qq zz {i}"),
                2 => format!("{} gmbh", record.name_key),
                _ => "ø".repeat(1 + i % 3),
            };
            record.created_at += (i as i64 % 5) * 86_400;
            record.status = Status::parse(["1000", "1002", "1004"][(i / 3) % 3]).unwrap();
            let slot = slot_of(&index, &record.customer_id);
            index.update(slot, entry(record, doc));
        }
        let removed: Vec<CustomerRecord> = records.iter().step_by(10).cloned().collect();
        for record in &removed {
            let slot = slot_of(&index, &record.customer_id);
            index.remove(slot);
        }
        records.retain(|r| !removed.iter().any(|gone| gone.customer_id == r.customer_id));
        for i in 0..50 {
            let mut record = records[i].clone();
            record.customer_id = format!("NEW{i}");
            record.name_key = format!("new gmbh {i}");
            index.insert(entry(&record, doc));
            records.push(record);
        }
        for query in QUERIES {
            let (_, total, ids) = page(&index, query);
            assert_eq!((total, ids), reference(&records, query), "{query}");
        }
        // Rebuilt postings answer the same.
        index.maintain();
        assert!(!index.needs_maintenance());
        for query in QUERIES {
            assert_eq!(page(&index, query).1, reference(&records, query).0, "{query}");
        }
    }

    #[test]
    fn names_inserted_at_one_spot_again_and_again_keep_their_order() {
        let doc = DocumentCopy::new(Backing::Memory).append(&[vec![0; 12]])[0];
        let mut slots = Slots::default();
        let mut records = Vec::new();
        for (id, name) in [("A", "a"), ("B", "b")] {
            let record = CustomerRecord {
                customer_id: id.into(),
                reseller_id: "R".into(),
                status: Status::ACTIVE,
                created_at: 0,
                name_key: name.into(),
                doc: String::new(),
            };
            slots.allocate(entry(&record, doc));
            records.push(record);
        }
        let mut index = ResellerIndex::new(slots, usize::MAX);
        // Each new name sorts just above the previous one and below "b":
        // the gap between labels halves each time, until a relabelling.
        for i in 1..100 {
            let record = CustomerRecord {
                customer_id: format!("N{:03}", 999 - i),
                name_key: format!("a{}", "\u{1}".repeat(i)),
                status: if i % 2 == 0 {
                    Status::ACTIVE
                } else {
                    Status::parse("1002").unwrap()
                },
                ..records[0].clone()
            };
            index.insert(entry(&record, doc));
            records.push(record);
        }
        for query in [
            "sort-by=companyName&order-by=asc&limit=50&status=1000&status=1002",
            "sort-by=companyName&order-by=asc&limit=50&offset=50&status=1000&status=1002",
            "sort-by=companyName&limit=50&status=1002&status=1000",
            "sort-by=companyName&limit=50&offset=40&status=1002&status=1000",
        ] {
            let (_, total, ids) = page(&index, query);
            assert_eq!((total, ids), reference(&records, query), "{query}");
        }
    }

    #[test]
    fn the_plans_are_the_ones_named() {
        let (index, _) = reseller(0);
        assert_eq!(page(&index, "").0, Plan::MergeSlices);
        assert_eq!(page(&index, "name=north*").0, Plan::FilterSlices);
        assert_eq!(page(&index, "name=*tec*").0, Plan::Postings);
        assert_eq!(page(&index, "name=*a*").0, Plan::Postings);
        let (small, _) = reseller(usize::MAX);
        assert_eq!(page(&small, "name=*tec*").0, Plan::ScanNames);
    }
}
