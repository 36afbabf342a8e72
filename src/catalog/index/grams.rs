//! Exact slot sets for a large reseller's substring searches: per status,
//! and per byte, per pair of bytes and per byte held twice in the folded
//! names, the slots that have it. A fragment of one or two bytes (`*a*`,
//! `*ab*`, `*ø*`) is then exactly one set, intersected with the statuses
//! asked for: its `totalCount` is a popcount, and its first page a short
//! walk down a sort list testing one bit per customer. Longer fragments
//! and several of them narrow their candidates by every pair of bytes they
//! contain (and several fragments by the bytes they hold twice), before the
//! trigram postings and the full pattern check finish the job.
//!
//! Kept exact under changes: a customer added, renamed, re-statused or
//! removed sets and clears its bits. A common gram is a bitmap; a rare one
//! (in fewer than one slot in 32) a sorted list, which is smaller.

use std::collections::HashMap;

use super::bits::Bits;
use crate::domain::{Status, StatusSet};

/// A gram's slots: a list while rare, a bitmap once common.
#[derive(Debug, Clone)]
enum Postings {
    Rare(Vec<u32>),
    Common { bits: Bits, count: usize },
}

impl Default for Postings {
    fn default() -> Self {
        Postings::Rare(Vec::new())
    }
}

impl Postings {
    fn count(&self) -> usize {
        match self {
            Postings::Rare(slots) => slots.len(),
            Postings::Common { count, .. } => *count,
        }
    }

    /// `room`: the reseller's slot count, which decides rare or common.
    fn insert(&mut self, slot: u32, room: usize) {
        match self {
            Postings::Rare(slots) => {
                if let Err(at) = slots.binary_search(&slot) {
                    slots.insert(at, slot);
                }
                if slots.len() * 32 > room.max(1024) {
                    let mut bits = Bits::with_room(room);
                    for &slot in slots.iter() {
                        bits.insert(slot);
                    }
                    *self = Postings::Common {
                        count: slots.len(),
                        bits,
                    };
                }
            }
            Postings::Common { bits, count } => {
                if !bits.contains(slot) {
                    bits.insert(slot);
                    *count += 1;
                }
            }
        }
    }

    fn remove(&mut self, slot: u32, room: usize) {
        match self {
            Postings::Rare(slots) => {
                if let Ok(at) = slots.binary_search(&slot) {
                    slots.remove(at);
                }
            }
            Postings::Common { bits, count } => {
                if bits.contains(slot) {
                    bits.remove(slot);
                    *count -= 1;
                }
                // Back to a list well below the switch, not at it, so a
                // gram near the line does not flip at every change.
                if *count * 64 < room {
                    *self = Postings::Rare(bits.slots().collect());
                }
            }
        }
    }

    /// Keeps only `candidates` that have this gram.
    fn narrow(&self, candidates: &mut Bits) {
        match self {
            Postings::Rare(slots) => candidates.intersect_list(slots),
            Postings::Common { bits, .. } => candidates.intersect(bits),
        }
    }
}

/// A byte, or a pair of bytes, as one key.
fn gram(bytes: &[u8]) -> u32 {
    match bytes {
        [one] => u32::from(*one),
        [first, second, ..] => 0x1_0000 | u32::from(*first) << 8 | u32::from(*second),
        [] => 0,
    }
}

/// The key of "holds `byte` at least twice": `*s*t*t*` can only match a
/// name with two t's, which halves the candidates of such patterns on
/// generated names (docs/PERFORMANCE.md, "Figures the code refers to", "Name matching").
fn twice(byte: u8) -> u32 {
    0x2_0000 | u32::from(byte)
}

/// The bytes that occur at least twice in `bytes`, each once.
fn repeated(bytes: impl Iterator<Item = u8>) -> Vec<u8> {
    let mut seen = [0u8; 256];
    let mut repeated = Vec::new();
    for byte in bytes {
        let seen = &mut seen[usize::from(byte)];
        *seen = seen.saturating_add(1);
        if *seen == 2 {
            repeated.push(byte);
        }
    }
    repeated
}

#[derive(Debug, Clone, Default)]
pub struct Grams {
    statuses: [Bits; Status::COUNT],
    /// Keyed by [`gram`].
    grams: HashMap<u32, Postings>,
    /// Slots the sets have room for (grows with the reseller).
    room: usize,
}

/// The distinct grams of a name: each byte, and each pair of bytes of the
/// name framed by `NAME_START` and `NAME_END` (so its first and last
/// bytes are pairs too).
fn grams_of(name: &[u8]) -> Vec<u32> {
    let mut framed = Vec::with_capacity(name.len() + 2);
    super::frame(name, &mut framed);
    let mut keys: Vec<u32> = name
        .iter()
        .map(|byte| gram(std::slice::from_ref(byte)))
        .chain(framed.windows(2).map(gram))
        .chain(repeated(name.iter().copied()).into_iter().map(twice))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

impl Grams {
    pub fn with_room(room: usize) -> Self {
        Grams {
            room,
            ..Grams::default()
        }
    }

    /// Gives back the room the lists grew into while being built.
    pub fn shrink_to_fit(&mut self) {
        for postings in self.grams.values_mut() {
            if let Postings::Rare(slots) = postings {
                slots.shrink_to_fit();
            }
        }
        self.grams.shrink_to_fit();
    }

    pub fn insert(&mut self, slot: u32, status: Status, name: &[u8]) {
        self.room = self.room.max(slot as usize + 1);
        self.statuses[status.index()].insert(slot);
        for key in grams_of(name) {
            self.grams.entry(key).or_default().insert(slot, self.room);
        }
    }

    pub fn remove(&mut self, slot: u32, status: Status, name: &[u8]) {
        self.statuses[status.index()].remove(slot);
        for key in grams_of(name) {
            if let Some(postings) = self.grams.get_mut(&key) {
                postings.remove(slot, self.room);
                if postings.count() == 0 {
                    self.grams.remove(&key);
                }
            }
        }
    }

    /// The slots with one of `statuses` whose framed name has every byte
    /// pair (and byte) of every literal of `parts` (framed where anchored):
    /// a superset of the matches. `exact` when it is the match set itself:
    /// `single` (that one literal is the whole pattern) and of one or two
    /// bytes.
    pub fn candidates(&self, statuses: StatusSet, parts: &[&[u8]], single: bool) -> (Bits, bool) {
        let mut candidates = Bits::with_room(self.room);
        for status in statuses.iter() {
            candidates.unite(&self.statuses[status.index()]);
        }
        // Literal runs match at disjoint places, so a name holds each byte
        // at least as often as the runs do together.
        let name_bytes = parts
            .iter()
            .flat_map(|part| part.iter().copied())
            .filter(|&byte| byte != super::NAME_START && byte != super::NAME_END);
        let repeats: Vec<u32> = repeated(name_bytes).into_iter().map(twice).collect();
        for (i, part) in parts.iter().enumerate() {
            let mut keys: Vec<u32> = if part.len() == 1 {
                vec![gram(part)]
            } else {
                let mut keys: Vec<u32> = part.windows(2).map(gram).collect();
                keys.sort_unstable();
                keys.dedup();
                keys
            };
            if i == 0 {
                keys.extend_from_slice(&repeats);
            }
            // Rarest first: each intersection makes the next one cheaper.
            let mut postings: Vec<&Postings> = Vec::with_capacity(keys.len());
            for key in keys {
                match self.grams.get(&key) {
                    Some(found) => postings.push(found),
                    None => return (Bits::default(), true),
                }
            }
            postings.sort_by_key(|p| p.count());
            for postings in postings {
                postings.narrow(&mut candidates);
            }
        }
        let exact = single && matches!(parts, [one] if one.len() <= 2);
        (candidates, exact)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn active() -> StatusSet {
        StatusSet::only(Status::ACTIVE)
    }

    #[test]
    fn candidates_follow_every_change_exactly() {
        let pending = Status::parse("1002").unwrap();
        let mut grams = Grams::with_room(0);
        let names: [&[u8]; 4] = [b"acme", b"beta", b"tec acme", "østed".as_bytes()];
        for (slot, name) in names.iter().enumerate() {
            grams.insert(slot as u32, Status::ACTIVE, name);
        }
        let found = |grams: &Grams, parts: &[&[u8]]| {
            let (bits, exact) = grams.candidates(active(), parts, true);
            (bits.slots().collect::<Vec<_>>(), exact)
        };
        assert_eq!(found(&grams, &[b"a"]), (vec![0, 1, 2], true));
        assert_eq!(found(&grams, &[b"ac"]), (vec![0, 2], true));
        assert_eq!(found(&grams, &["ø".as_bytes()]), (vec![3], true));
        assert_eq!(found(&grams, &[b"acme"]), (vec![0, 2], false));
        assert_eq!(found(&grams, &[b"zz"]), (vec![], true));
        // Several runs need their bytes as often as they hold them together:
        // "acme" and "tec acme" have a c, only "tec acme" two, and no name
        // has two a's.
        assert_eq!(found(&grams, &[b"c", b"e"]), (vec![0, 2], false));
        assert_eq!(found(&grams, &[b"c", b"e", b"c"]), (vec![2], false));
        assert_eq!(found(&grams, &[b"a", b"a"]), (vec![], true));
        // Renamed, re-statused, removed.
        grams.remove(0, Status::ACTIVE, b"acme");
        grams.insert(0, Status::ACTIVE, b"zzz");
        grams.remove(1, Status::ACTIVE, b"beta");
        grams.insert(1, pending, b"beta");
        grams.remove(2, Status::ACTIVE, b"tec acme");
        assert_eq!(found(&grams, &[b"a"]), (vec![], true));
        assert_eq!(found(&grams, &[b"zz"]), (vec![0], true));
        let (pending_bits, _) = grams.candidates(StatusSet::only(pending), &[b"a"], true);
        assert_eq!(pending_bits.slots().collect::<Vec<_>>(), [1]);
        assert_eq!(grams.statuses[Status::ACTIVE.index()].count(), 2);
    }

    #[test]
    fn common_grams_turn_into_bitmaps_and_back() {
        let mut grams = Grams::with_room(4096);
        for slot in 0..4096 {
            grams.insert(slot, Status::ACTIVE, if slot % 4 == 0 { b"xy" } else { b"q" });
        }
        assert!(matches!(grams.grams[&gram(b"x")], Postings::Common { count: 1024, .. }));
        for slot in (0..4096).step_by(4).skip(40) {
            grams.remove(slot, Status::ACTIVE, b"xy");
        }
        assert!(matches!(&grams.grams[&gram(b"x")], Postings::Rare(slots) if slots.len() == 40));
        let (bits, exact) = grams.candidates(active(), &[b"xy"], true);
        assert_eq!((bits.count(), exact), (40, true));
    }
}
