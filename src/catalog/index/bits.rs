//! A set of slots as one bit each: intersections are a word-wide `&`, a
//! count is `popcount`, membership one load. For the reseller's largest
//! sets (a status, a common letter) that is 8 times smaller than a list
//! of slot numbers, and orders of magnitude faster to intersect.

/// Slots as bits; slots past the end are absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bits {
    words: Vec<u64>,
}

impl Bits {
    /// The empty set, with room for `slots` slots.
    pub fn with_room(slots: usize) -> Self {
        Bits {
            words: vec![0; slots.div_ceil(64)],
        }
    }

    pub fn contains(&self, slot: u32) -> bool {
        self.words
            .get(slot as usize / 64)
            .is_some_and(|word| word & (1 << (slot % 64)) != 0)
    }

    pub fn insert(&mut self, slot: u32) {
        let word = slot as usize / 64;
        if word >= self.words.len() {
            self.words.resize(word + 1, 0);
        }
        self.words[word] |= 1 << (slot % 64);
    }

    pub fn remove(&mut self, slot: u32) {
        if let Some(word) = self.words.get_mut(slot as usize / 64) {
            *word &= !(1 << (slot % 64));
        }
    }

    /// How many slots are in the set.
    pub fn count(&self) -> usize {
        self.words.iter().map(|word| word.count_ones() as usize).sum()
    }

    /// Keeps only the slots also in `other`.
    pub fn intersect(&mut self, other: &Bits) {
        for (i, word) in self.words.iter_mut().enumerate() {
            *word &= other.words.get(i).copied().unwrap_or(0);
        }
    }

    /// Adds every slot of `other`.
    pub fn unite(&mut self, other: &Bits) {
        if other.words.len() > self.words.len() {
            self.words.resize(other.words.len(), 0);
        }
        for (word, other) in self.words.iter_mut().zip(&other.words) {
            *word |= other;
        }
    }

    /// Keeps only the slots in `sorted`, a sorted list.
    pub fn intersect_list(&mut self, sorted: &[u32]) {
        let mut kept = vec![0; self.words.len()];
        for &slot in sorted {
            // Sorted: once past the end, every slot after is too.
            let Some(&word) = self.words.get(slot as usize / 64) else {
                break;
            };
            // No branch on membership: a list's slots are in the set about
            // as often as not.
            kept[slot as usize / 64] |= word & (1 << (slot % 64));
        }
        self.words = kept;
    }

    /// Keeps only the slots in `sorted` (a sorted list) for which `keep`
    /// holds: [`Bits::intersect_list`] and [`Bits::retain`] in one pass
    /// over the list, so the survivors of the list are not walked again
    /// bit by bit (a substring's few thousand candidates among a hundred
    /// thousand slots). With `BRANCHLESS`, as [`Bits::retain_unpredictable`].
    pub fn intersect_list_where<const BRANCHLESS: bool>(&mut self, sorted: &[u32], mut keep: impl FnMut(u32) -> bool) {
        let mut kept = vec![0; self.words.len()];
        for &slot in sorted {
            let at = slot as usize / 64;
            let Some(&word) = self.words.get(at) else {
                break;
            };
            let bit = 1 << (slot % 64);
            if word & bit == 0 {
                continue;
            }
            if BRANCHLESS {
                kept[at] |= u64::from(keep(slot)) << (slot % 64);
            } else if keep(slot) {
                kept[at] |= bit;
            }
        }
        self.words = kept;
    }

    /// Keeps only the slots for which `keep` holds.
    pub fn retain(&mut self, keep: impl FnMut(u32) -> bool) {
        self.retain_as::<false>(keep);
    }

    /// [`Bits::retain`] without a branch on `keep`'s answer, for when it is
    /// as good as random (several fragments of common letters keep about
    /// half their candidates): a mispredicted branch per slot cost more
    /// than the check (docs/PERFORMANCE.md, "Figures the code refers to", "Name matching").
    /// When most answers agree, the branch is cheaper, as the processor
    /// runs ahead on the prediction.
    pub fn retain_unpredictable(&mut self, keep: impl FnMut(u32) -> bool) {
        self.retain_as::<true>(keep);
    }

    fn retain_as<const BRANCHLESS: bool>(&mut self, mut keep: impl FnMut(u32) -> bool) {
        for i in 0..self.words.len() {
            let mut word = self.words[i];
            let mut bits = word;
            while bits != 0 {
                let bit = bits.trailing_zeros();
                bits &= bits - 1;
                let slot = (i * 64) as u32 + bit;
                if BRANCHLESS {
                    word &= !(u64::from(!keep(slot)) << bit);
                } else if !keep(slot) {
                    word &= !(1 << bit);
                }
            }
            self.words[i] = word;
        }
    }

    /// The slots in the set, ascending.
    pub fn slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &word)| {
            let mut bits = word;
            std::iter::from_fn(move || {
                (bits != 0).then(|| {
                    let bit = bits.trailing_zeros();
                    bits &= bits - 1;
                    (i * 64) as u32 + bit
                })
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(slots: &[u32]) -> Bits {
        let mut bits = Bits::default();
        for &slot in slots {
            bits.insert(slot);
        }
        bits
    }

    #[test]
    fn sets_of_slots() {
        let mut a = of(&[0, 5, 63, 64, 200]);
        assert_eq!(a.count(), 5);
        assert!(a.contains(63) && a.contains(64) && !a.contains(6) && !a.contains(10_000));
        assert_eq!(a.slots().collect::<Vec<_>>(), [0, 5, 63, 64, 200]);
        a.intersect(&of(&[5, 64, 300]));
        assert_eq!(a.slots().collect::<Vec<_>>(), [5, 64]);
        a.unite(&of(&[1, 500]));
        assert_eq!(a.slots().collect::<Vec<_>>(), [1, 5, 64, 500]);
        a.intersect_list(&[1, 2, 64, 499, 500, 501]);
        assert_eq!(a.slots().collect::<Vec<_>>(), [1, 64, 500]);
        let mut b = a.clone();
        let (mut c, mut d) = (a.clone(), a.clone());
        c.intersect_list_where::<false>(&[0, 1, 64, 499, 500], |slot| slot != 500);
        assert_eq!(c.slots().collect::<Vec<_>>(), [1, 64]);
        d.intersect_list_where::<true>(&[1, 64, 500, 10_000], |slot| slot != 1);
        assert_eq!(d.slots().collect::<Vec<_>>(), [64, 500]);
        a.retain(|slot| slot != 64);
        assert_eq!(a.slots().collect::<Vec<_>>(), [1, 500]);
        b.retain_unpredictable(|slot| slot != 500);
        assert_eq!(b.slots().collect::<Vec<_>>(), [1, 64]);
        a.remove(1);
        a.remove(9_999);
        assert_eq!(a.slots().collect::<Vec<_>>(), [500]);
    }
}
