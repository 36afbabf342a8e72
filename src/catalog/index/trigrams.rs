//! Trigram postings for a large reseller: for each 3-byte sequence of the
//! folded names, framed by `NAME_START` and `NAME_END` (so `*inc` looks up
//! `"nc" + end`), the slots whose name contains it. A substring search
//! starts from the shortest posting list of its needle's trigrams instead
//! of every name.
//!
//! Each name's last three bytes are also a key of their own, a **suffix**
//! (one per name, so it costs a slot number per customer): a suffix of
//! three bytes (`*inc`, `*llc`) is then exactly one posting list, and a
//! longer one starts from the names that end in its last three bytes
//! rather than from all that hold them anywhere.
//!
//! The postings are a **superset**: built in one compact layout, then
//! changes only add (a changed name's trigrams, in small sorted lists on
//! the side). A slot whose name lost a trigram, or that was vacated, stays
//! listed; every candidate is checked against the pattern anyway, so a
//! stale posting costs a check, never a wrong answer. When additions and
//! stale entries grow past a share of the whole, the catalog rebuilds the
//! postings ([`Trigrams::worn`]).

use std::collections::HashMap;

use super::slots::Slots;

#[derive(Clone)]
pub struct Trigrams {
    /// Compressed rows: the slots of `keys[k]` are `slots[starts[k]..starts[k + 1]]`.
    keys: Vec<u32>,
    starts: Vec<u32>,
    slots: Vec<u32>,
    /// Postings added since the build, each list sorted.
    added: HashMap<u32, Vec<u32>>,
    added_count: usize,
    /// Names changed or removed since the build (each may leave stale postings).
    stale: usize,
}

fn key(bytes: &[u8]) -> u32 {
    u32::from(bytes[0]) << 16 | u32::from(bytes[1]) << 8 | u32::from(bytes[2])
}

/// The key of "ends with these three bytes" (above every trigram's key).
fn suffix_key(last_three: &[u8]) -> u32 {
    1 << 24 | key(last_three)
}

/// The keys a name is listed under: its framed trigrams, and its suffix
/// when it has three bytes.
fn keys_of(name: &[u8], framed: &mut Vec<u8>) -> impl Iterator<Item = u32> {
    super::frame(name, framed);
    let suffix = name.len().checked_sub(3).map(|at| suffix_key(&name[at..]));
    framed.windows(3).map(key).chain(suffix)
}

/// The suffix key a framed needle can be looked up by: it ends the name
/// (`NAME_END` last) and has three bytes of name before that.
fn needle_suffix(needle: &[u8]) -> Option<u32> {
    let body = needle.strip_suffix(&[super::NAME_END])?;
    let last_three = body.get(body.len().checked_sub(3)?..)?;
    (!last_three.contains(&super::NAME_START)).then(|| suffix_key(last_three))
}

impl Trigrams {
    pub fn build(slots: &Slots) -> Self {
        let mut pairs: Vec<u64> = Vec::with_capacity(slots.live() * 24);
        let mut framed = Vec::new();
        for slot in slots.live_slots() {
            pairs.extend(keys_of(slots.name(slot), &mut framed).map(|key| u64::from(key) << 32 | u64::from(slot)));
        }
        pairs.sort_unstable();
        pairs.dedup();
        let mut trigrams = Trigrams {
            keys: Vec::new(),
            starts: Vec::new(),
            slots: Vec::with_capacity(pairs.len()),
            added: HashMap::new(),
            added_count: 0,
            stale: 0,
        };
        for pair in pairs {
            let trigram = (pair >> 32) as u32;
            if trigrams.keys.last() != Some(&trigram) {
                trigrams.keys.push(trigram);
                trigrams.starts.push(trigrams.slots.len() as u32);
            }
            trigrams.slots.push(pair as u32);
        }
        trigrams.starts.push(trigrams.slots.len() as u32);
        trigrams
    }

    fn built(&self, key: u32) -> &[u32] {
        match self.keys.binary_search(&key) {
            Ok(k) => &self.slots[self.starts[k] as usize..self.starts[k + 1] as usize],
            Err(_) => &[],
        }
    }

    fn added(&self, key: u32) -> &[u32] {
        self.added.get(&key).map_or(&[], Vec::as_slice)
    }

    /// Records that `slot` now holds `name` (a new slot, or a changed name).
    pub fn add(&mut self, slot: u32, name: &[u8]) {
        let mut framed = Vec::with_capacity(name.len() + 2);
        for key in keys_of(name, &mut framed) {
            if self.built(key).binary_search(&slot).is_ok() {
                continue;
            }
            let list = self.added.entry(key).or_default();
            if let Err(at) = list.binary_search(&slot) {
                list.insert(at, slot);
                self.added_count += 1;
            }
        }
    }

    /// Records that a slot's name changed or went away.
    pub fn note_stale(&mut self) {
        self.stale += 1;
    }

    /// Whether every posting is exact (nothing added or stale since the build).
    pub fn exact(&self) -> bool {
        self.added_count == 0 && self.stale == 0
    }

    /// Whether changes have worn the postings enough that rebuilding them
    /// pays: more than a quarter of the built size.
    pub fn worn(&self) -> bool {
        (self.added_count + self.stale) * 4 > self.slots.len().max(4096)
    }

    /// Whether [`Trigrams::candidates`] of the framed `needle` are exactly
    /// the names that hold it, while the postings are [exact](Trigrams::exact):
    /// three bytes (one trigram), or three bytes that end the name.
    pub fn exactly(needle: &[u8]) -> bool {
        needle.len() == 3 || (needle.len() == 4 && needle_suffix(needle).is_some())
    }

    /// The slots (ascending, each once) that may hold the framed `needle`:
    /// the postings of its rarest trigram, or of its suffix, which is
    /// never more common than the trigrams it ends with (and is taken
    /// over them on a tie). `needle` has at least 3 bytes.
    pub fn candidates(&self, needle: &[u8]) -> Candidates<'_> {
        let Some(rarest) = needle_suffix(needle)
            .into_iter()
            .chain(needle.windows(3).map(key))
            .min_by_key(|&key| self.built(key).len() + self.added(key).len())
        else {
            return Candidates::Built(&[]);
        };
        let (built, added) = (self.built(rarest), self.added(rarest));
        if added.is_empty() {
            return Candidates::Built(built);
        }
        // Two sorted lists without common elements (`add` skips built ones).
        let mut merged = Vec::with_capacity(built.len() + added.len());
        let (mut i, mut j) = (0, 0);
        while i < built.len() && j < added.len() {
            if built[i] < added[j] {
                merged.push(built[i]);
                i += 1;
            } else {
                merged.push(added[j]);
                j += 1;
            }
        }
        merged.extend_from_slice(&built[i..]);
        merged.extend_from_slice(&added[j..]);
        Candidates::Merged(merged)
    }
}

/// Candidate slots, borrowed from the postings when nothing was added to
/// them (copying a long posting list cost more than checking it).
pub enum Candidates<'a> {
    Built(&'a [u32]),
    Merged(Vec<u32>),
}

impl std::ops::Deref for Candidates<'_> {
    type Target = [u32];

    fn deref(&self) -> &[u32] {
        match self {
            Candidates::Built(slots) => slots,
            Candidates::Merged(slots) => slots,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::documents::{Backing, DocumentCopy};
    use crate::catalog::index::slots::Entry;
    use crate::domain::Status;

    fn slots(names: &[&str]) -> Slots {
        let doc = DocumentCopy::new(Backing::Memory).append(&[vec![0; 12]])[0];
        let mut slots = Slots::default();
        for (i, name) in names.iter().enumerate() {
            slots.allocate(Entry {
                customer_id: &format!("C{i}"),
                status: Status::ACTIVE,
                created: 0,
                name_key: name,
                doc,
            });
        }
        slots
    }

    #[test]
    fn candidates_are_every_slot_holding_the_rarest_trigram_once() {
        let names = ["acme tech", "tecton", "beta", "technology", "zztec"];
        let mut trigrams = Trigrams::build(&slots(&names));
        assert!(trigrams.exact());
        assert_eq!(*trigrams.candidates(b"tec"), [0, 1, 3, 4]);
        assert_eq!(*trigrams.candidates(b"tech"), [0, 3], "ech is rarer than tec");
        assert!(trigrams.candidates(b"xyz").is_empty());
        // Slot 2 renamed to hold "tec", slot 5 new: added, each once.
        trigrams.add(2, b"tecbeta");
        trigrams.add(5, b"a tec");
        trigrams.add(0, b"acme tech");
        trigrams.note_stale();
        assert!(!trigrams.exact());
        assert_eq!(*trigrams.candidates(b"tec"), [0, 1, 2, 3, 4, 5]);
    }

    /// A framed needle, as the catalog looks it up.
    fn ending(needle: &str) -> Vec<u8> {
        let mut framed = needle.as_bytes().to_vec();
        framed.push(super::super::NAME_END);
        framed
    }

    #[test]
    fn a_suffix_of_three_bytes_is_exactly_the_names_ending_in_it() {
        let names = ["zinc banc", "acme inc", "inc", "incubator inc", "in", "zinc", "tinc x"];
        let mut trigrams = Trigrams::build(&slots(&names));
        // "nc" + end alone would also give "zinc banc"; "inc" anywhere "tinc x".
        assert_eq!(*trigrams.candidates(&ending("inc")), [1, 2, 3, 5]);
        assert!(Trigrams::exactly(&ending("inc")) && Trigrams::exactly(b"inc"));
        assert!(Trigrams::exactly(&ending("nc")), "one trigram, with the end");
        assert!(!Trigrams::exactly(&ending("zinc")));
        // Longer suffixes start from their last three bytes' names.
        assert_eq!(*trigrams.candidates(&ending("acme inc")), [1]);
        assert_eq!(*trigrams.candidates(&ending(" inc")), [1, 3]);
        // A name's start is no suffix: `^in` + end is a trigram lookup.
        let mut exact_name = vec![super::super::NAME_START];
        exact_name.extend_from_slice(&ending("in"));
        assert_eq!(*trigrams.candidates(&exact_name), [4]);
        // A renamed slot is listed under its new suffix too.
        trigrams.add(4, b"tin inc");
        assert_eq!(*trigrams.candidates(&ending("inc")), [1, 2, 3, 4, 5]);
    }
}
