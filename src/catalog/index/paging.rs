//! Turning matches into a page: `offset` and `limit` over matches that are
//! already sorted (a slice), over several sorted lists at once (a k-way
//! merge that finds the page's start by binary search, not by walking), or
//! over unsorted matches (a bounded heap for early pages, selection for
//! later ones). Every one counts exactly.

use std::cmp::Ordering;

use super::lists::Order;
use super::slots::Slots;
use crate::domain::Status;

/// The answer to a list query: the exact total and the page's slots, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub total: u64,
    pub slots: Vec<u32>,
}

impl Selection {
    pub fn empty() -> Self {
        Selection {
            total: 0,
            slots: Vec::new(),
        }
    }
}

/// A requested window of the matches.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub offset: u64,
    pub limit: usize,
}

impl Window {
    /// `[start, end)` of a list of `total` matches.
    pub fn bounds(self, total: usize) -> (usize, usize) {
        let start = usize::try_from(self.offset).unwrap_or(usize::MAX).min(total);
        (start, start.saturating_add(self.limit).min(total))
    }
}

/// Pages ending within this many matches of the start are picked by one
/// pass with a bounded heap rather than by selection: one comparison per
/// match against the worst kept, where selection compares each several times.
const TOP_PAGE_ROWS: usize = 1_024;

/// The page of matches already in the requested order.
pub fn of_sorted(matches: &[u32], window: Window) -> Selection {
    let (start, end) = window.bounds(matches.len());
    Selection {
        total: matches.len() as u64,
        slots: matches[start..end].to_vec(),
    }
}

/// The page of `matches` (in any order) in `order`.
///
/// Each match is first given an integer key that agrees with `order` (its
/// creation date, or the first eight bytes of its name), so that most
/// comparisons are one integer compare on data already at hand; only equal
/// keys fall back to the full comparison. Comparing names in the arena for
/// every step of a heap or a selection cost a fifth of a substring page.
pub fn of_unsorted(
    slots: &Slots,
    matches: impl Iterator<Item = u32>,
    at_most: usize,
    order: Order,
    window: Window,
) -> Selection {
    let keyed = matches.map(|slot| (order.key(slots, slot), slot));
    let tie = |a: u32, b: u32| order.compare(slots, a, b);
    let wanted_end = usize::try_from(window.offset)
        .unwrap_or(usize::MAX)
        .saturating_add(window.limit);
    if wanted_end <= TOP_PAGE_ROWS {
        // Early pages: one pass, keeping the best `wanted_end` matches, no
        // list of every match.
        let (total, best) = top(keyed, wanted_end, tie);
        let (start, end) = window.bounds(total);
        return Selection {
            total: total as u64,
            slots: best[start..end].iter().map(|&(_, slot)| slot).collect(),
        };
    }
    let mut keyed: Vec<(u64, u32)> = {
        let mut all = Vec::with_capacity(at_most);
        all.extend(keyed);
        all
    };
    let total = keyed.len();
    let (start, end) = window.bounds(total);
    if start == end {
        return Selection {
            total: total as u64,
            slots: Vec::new(),
        };
    }
    let compare = |a: &(u64, u32), b: &(u64, u32)| a.0.cmp(&b.0).then_with(|| tie(a.1, b.1));
    keyed.select_nth_unstable_by(start, compare);
    let mut page = keyed.split_off(start);
    let limit = end - start;
    if limit < page.len() {
        page.select_nth_unstable_by(limit - 1, compare);
        page.truncate(limit);
    }
    page.sort_unstable_by(compare);
    Selection {
        total: total as u64,
        slots: page.into_iter().map(|(_, slot)| slot).collect(),
    }
}

/// How many `items` there are, and the `k` smallest of them, sorted: a
/// max-heap of `k`, ordered by key and, for equal keys only, by `tie`.
fn top(
    items: impl Iterator<Item = (u64, u32)>,
    k: usize,
    tie: impl Fn(u32, u32) -> Ordering,
) -> (usize, Vec<(u64, u32)>) {
    let greater = |a: (u64, u32), b: (u64, u32)| a.0 > b.0 || (a.0 == b.0 && tie(a.1, b.1) == Ordering::Greater);
    let mut heap: Vec<(u64, u32)> = Vec::with_capacity(k);
    let mut count = 0;
    for item in items {
        count += 1;
        if heap.len() < k {
            heap.push(item);
            let mut i = heap.len() - 1;
            while i > 0 && greater(heap[i], heap[(i - 1) / 2]) {
                heap.swap(i, (i - 1) / 2);
                i = (i - 1) / 2;
            }
        } else if item.0 < heap[0].0 || (item.0 == heap[0].0 && tie(item.1, heap[0].1) == Ordering::Less) {
            heap[0] = item;
            let mut i = 0;
            loop {
                let (left, right) = (2 * i + 1, 2 * i + 2);
                let mut largest = i;
                if left < heap.len() && greater(heap[left], heap[largest]) {
                    largest = left;
                }
                if right < heap.len() && greater(heap[right], heap[largest]) {
                    largest = right;
                }
                if largest == i {
                    break;
                }
                heap.swap(i, largest);
                i = largest;
            }
        }
    }
    heap.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| tie(a.1, b.1)));
    (count, heap)
}

/// Whether [`walk`] finds `window`'s page of `total` matches among
/// `listed` slots in fewer steps than a heap over the matches: a walk
/// probes about (page depth) / (share of matches) slots, a heap looks at
/// every match (and costs more per match, hence the factor).
pub fn walk_is_cheaper(total: usize, listed: usize, window: Window) -> bool {
    let (start, end) = window.bounds(total);
    let depth = start.min(total - end) + (end - start);
    total > 0 && depth.saturating_mul(listed) / total < heap_cost(total)
}

/// What a heap over `total` matches costs, in walk probes.
pub fn heap_cost(total: usize) -> usize {
    total.saturating_mul(3)
}

/// The page of the slots that pass `test` (`total` of them) among `lists`,
/// each sorted in `order` and with no slot in two of them: found by walking
/// the lists in step, from the start, or from the end when the page is
/// nearer the end. Costs about the page's depth divided by the share of
/// slots that pass, so it suits common matches; `None` when it would walk
/// more than `max_probes` slots of one list, as matches bunched far from
/// the walk's start take (`*eve*rgr*` in descending name order: every
/// "Evergreen").
pub fn walk(
    slots: &Slots,
    lists: &[&[u32]],
    test: impl Fn(u32) -> bool,
    total: usize,
    order: Order,
    window: Window,
    max_probes: usize,
) -> Option<Selection> {
    let (start, end) = window.bounds(total);
    if start == end {
        return Some(Selection {
            total: total as u64,
            slots: Vec::new(),
        });
    }
    let backwards = start > total - end;
    let (skip, take) = if backwards {
        (total - end, end - start)
    } else {
        (start, end - start)
    };
    // How far a list may be walked: `max_probes` from where it starts.
    let stop_of = |list: &[u32]| {
        if backwards {
            list.len().saturating_sub(max_probes)
        } else {
            max_probes.min(list.len())
        }
    };
    if let [list] = lists {
        // One list (one status asked for, the usual case): no merging, and
        // the loop is a plain filter.
        let stop = stop_of(list);
        let walked = if backwards { &list[stop..] } else { &list[..stop] };
        let passing = |slot: &u32| test(*slot);
        let mut page: Vec<u32> = if backwards {
            walked
                .iter()
                .rev()
                .copied()
                .filter(passing)
                .skip(skip)
                .take(take)
                .collect()
        } else {
            walked.iter().copied().filter(passing).skip(skip).take(take).collect()
        };
        if page.len() < take && walked.len() < list.len() {
            return None;
        }
        if backwards {
            page.reverse();
        }
        return Some(Selection {
            total: total as u64,
            slots: page,
        });
    }
    // Forwards, cursors point at the next slot; backwards, just past it.
    let mut cursors: Vec<usize> = lists
        .iter()
        .map(|list| if backwards { list.len() } else { 0 })
        .collect();
    assert!(lists.len() <= Status::COUNT, "one list per status at most");
    let stops: Vec<usize> = lists.iter().map(|list| stop_of(list)).collect();
    // List k's next passing slot from its cursor, the cursor moved onto
    // it: `Some(None)` at the list's end, `None` at its stop short of the
    // end (the walk gives up).
    let advance = |k: usize, cursor: &mut usize| next_passing(lists[k], stops[k], cursor, backwards, &test);
    let walk = Walk {
        slots,
        lists,
        stops: &stops,
        order,
        backwards,
    };
    let mut skipped = walk.skip_in_bulk(&mut cursors, &test, skip, total);
    // The lists that still have a head (one per status asked for, so at
    // most seven), each head with its key, flipped when walking backwards
    // so that the next slot always has the least: a step picks the least
    // key without a branch and reads the slot table only for the list it
    // took from, where comparing the heads' slots read two keys per list
    // and took a branch either way at random (docs/PERFORMANCE.md, "Deep
    // pages over several statuses").
    let flip = |key: u64| if backwards { !key } else { key };
    let mut live = [0usize; Status::COUNT];
    let mut keys = [0u64; Status::COUNT];
    let mut heads = [0u32; Status::COUNT];
    let mut n = 0;
    for (k, cursor) in cursors.iter_mut().enumerate() {
        if let Some(slot) = advance(k, cursor)? {
            (live[n], keys[n], heads[n]) = (k, flip(order.key(slots, slot)), slot);
            n += 1;
        }
    }
    let mut page = Vec::with_capacity(take);
    while n > 0 {
        let mut best = 0;
        for i in 1..n {
            best = if keys[i] < keys[best] { i } else { best };
        }
        // Equal keys (one date, one name in two statuses) go by id.
        for i in 0..n {
            if i != best && keys[i] == keys[best] {
                let ordering = order.compare(slots, heads[i], heads[best]);
                if ordering == if backwards { Ordering::Greater } else { Ordering::Less } {
                    best = i;
                }
            }
        }
        let (k, slot) = (live[best], heads[best]);
        if backwards {
            cursors[k] -= 1;
        } else {
            cursors[k] += 1;
        }
        match advance(k, &mut cursors[k])? {
            Some(next) => (keys[best], heads[best]) = (flip(order.key(slots, next)), next),
            None => {
                n -= 1;
                (live[best], keys[best], heads[best]) = (live[n], keys[n], heads[n]);
            }
        }
        if skipped < skip {
            skipped += 1;
            continue;
        }
        page.push(slot);
        if page.len() == take {
            break;
        }
    }
    if backwards {
        page.reverse();
    }
    Some(Selection {
        total: total as u64,
        slots: page,
    })
}

/// A multi-list [`walk`]'s fixed parts, for [`Walk::skip_in_bulk`].
struct Walk<'a> {
    slots: &'a Slots,
    lists: &'a [&'a [u32]],
    /// How far each list may be walked (see [`walk`]).
    stops: &'a [usize],
    order: Order,
    backwards: bool,
}

/// Skips shorter than this are merged step by step: a bulk round costs a
/// binary search per list, about what this many merge steps cost.
const BULK_SKIP_MIN: usize = 256;

impl Walk<'_> {
    /// Moves the cursors past up to `skip` passing slots in a few rounds
    /// rather than one merge step each, and returns how many. A round cuts
    /// every list where one pivot slot would go (a binary search each) and
    /// counts the passing slots before the cuts by scanning, without
    /// merging; it is kept if it does not go past `skip`, and tried again
    /// shorter if it does. The pivot is taken far enough ahead, in the list
    /// with the most slots left, to pass about four fifths of what is left
    /// to skip if matches are spread evenly (`total` of the lists' slots).
    fn skip_in_bulk(&self, cursors: &mut [usize], test: &impl Fn(u32) -> bool, skip: usize, total: usize) -> usize {
        let listed: usize = self.lists.iter().map(|list| list.len()).sum();
        let mut skipped = 0;
        let mut reach = 0.8;
        let mut cuts = [0usize; Status::COUNT];
        while skip - skipped >= BULK_SKIP_MIN && reach > 0.05 {
            let left = |k: usize| cursors[k].abs_diff(self.stops[k]);
            let all_left: usize = (0..self.lists.len()).map(left).sum();
            let Some(longest) = (0..self.lists.len()).max_by_key(|&k| left(k)) else {
                break;
            };
            let want = (skip - skipped) as f64 * reach * listed as f64 / total.max(1) as f64;
            let ahead = ((want * left(longest) as f64 / all_left.max(1) as f64) as usize).min(left(longest));
            if ahead == 0 {
                break;
            }
            let list = self.lists[longest];
            let pivot = if self.backwards {
                list[cursors[longest] - ahead]
            } else {
                list[cursors[longest] + ahead - 1]
            };
            let mut passed = 0;
            for (k, list) in self.lists.iter().enumerate() {
                let (cursor, stop) = (cursors[k], self.stops[k]);
                cuts[k] = if self.backwards {
                    // Walked downwards: the pivot and what lies after it come first.
                    let before = list[stop..cursor]
                        .partition_point(|&slot| self.order.compare(self.slots, slot, pivot) == Ordering::Less);
                    passed += list[stop + before..cursor].iter().filter(|&&slot| test(slot)).count();
                    stop + before
                } else {
                    let before = list[cursor..stop]
                        .partition_point(|&slot| self.order.compare(self.slots, slot, pivot) != Ordering::Greater);
                    passed += list[cursor..cursor + before].iter().filter(|&&slot| test(slot)).count();
                    cursor + before
                };
            }
            if skipped + passed <= skip {
                skipped += passed;
                cursors.copy_from_slice(&cuts[..cursors.len()]);
            } else {
                reach /= 2.0;
            }
        }
        skipped
    }
}

/// `list`'s next slot that passes `test` from `cursor` (forwards, the
/// slot at it; backwards, the one before it), the cursor moved onto it:
/// `Some(None)` at the list's end, `None` at `stop` short of the end.
#[inline(always)]
fn next_passing(
    list: &[u32],
    stop: usize,
    cursor: &mut usize,
    backwards: bool,
    test: &impl Fn(u32) -> bool,
) -> Option<Option<u32>> {
    let mut at = *cursor;
    let head = if backwards {
        while at > stop && !test(list[at - 1]) {
            at -= 1;
        }
        (at > stop).then(|| list[at - 1])
    } else {
        while at < stop && !test(list[at]) {
            at += 1;
        }
        (at < stop).then(|| list[at])
    };
    *cursor = at;
    let at_end = at == if backwards { 0 } else { list.len() };
    (head.is_some() || at_end).then_some(head)
}

/// The page of the union of `lists`, each sorted in `order` and with no
/// slot in two of them.
pub fn of_merged(slots: &Slots, lists: &[&[u32]], order: Order, window: Window) -> Selection {
    let total: usize = lists.iter().map(|list| list.len()).sum();
    if let [only] = lists {
        return of_sorted(only, window);
    }
    let (start, end) = window.bounds(total);
    if start == end {
        return Selection {
            total: total as u64,
            slots: Vec::new(),
        };
    }
    let mut cursors = cuts(slots, lists, order, start);
    let mut page = Vec::with_capacity(end - start);
    while page.len() < end - start {
        let next = lists
            .iter()
            .zip(&cursors)
            .enumerate()
            .filter_map(|(k, (list, &at))| list.get(at).map(|&slot| (k, slot)))
            .min_by(|(_, a), (_, b)| order.compare(slots, *a, *b));
        let Some((k, slot)) = next else { break };
        cursors[k] += 1;
        page.push(slot);
    }
    Selection {
        total: total as u64,
        slots: page,
    }
}

/// Where each list is cut so that exactly `start` slots of the union come
/// before the cuts: the slot of global rank `start` is found by a binary
/// search in the list that holds it, ranks counted by binary searches in
/// all the lists. O(k² log² n) comparisons for k lists, however deep the page.
fn cuts(slots: &Slots, lists: &[&[u32]], order: Order, start: usize) -> Vec<usize> {
    let below = |slot: u32| -> Vec<usize> {
        lists
            .iter()
            .map(|list| list.partition_point(|&other| order.compare(slots, other, slot) == Ordering::Less))
            .collect()
    };
    for list in lists {
        // Ranks grow along a list: find the element whose rank is `start`.
        let (mut lo, mut hi) = (0, list.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let rank: usize = below(list[mid]).iter().sum();
            match rank.cmp(&start) {
                Ordering::Equal => return below(list[mid]),
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
            }
        }
    }
    unreachable!("a start below the total has a slot of that rank")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::documents::{Backing, DocumentCopy};
    use crate::catalog::index::slots::Entry;
    use crate::domain::Status;

    /// Slots 0..n with creation dates from `created` (ids "C000".. keep ties stable).
    fn slots(created: &[i64]) -> Slots {
        let doc = DocumentCopy::new(Backing::Memory).append(&[vec![0; 12]])[0];
        let mut slots = Slots::default();
        for (i, &at) in created.iter().enumerate() {
            slots.allocate(Entry {
                customer_id: &format!("C{i:03}"),
                status: Status::ACTIVE,
                created: at,
                name_key: "n",
                doc,
            });
        }
        slots
    }

    fn sorted(slots: &Slots, items: &[u32], order: Order) -> Vec<u32> {
        let mut items = items.to_vec();
        items.sort_by(|a, b| order.compare(slots, *a, *b));
        items
    }

    /// Slots `0..n` dealt into three lists by `slot % 3`, each in `order`
    /// (as a reseller's statuses hold disjoint sort lists).
    fn in_three(slots: &Slots, n: u32, order: Order) -> Vec<Vec<u32>> {
        (0..3)
            .map(|k| sorted(slots, &(0..n).filter(|s| s % 3 == k).collect::<Vec<_>>(), order))
            .collect()
    }

    #[test]
    fn unsorted_pages_are_slices_of_the_full_sort_early_and_late() {
        let created: Vec<i64> = (0..3000).map(|i| (i * 7919) % 1000).collect();
        let slots = slots(&created);
        let all: Vec<u32> = (0..3000).rev().collect();
        let expected = sorted(&slots, &all, Order::CreatedDesc);
        for (offset, limit) in [
            (0, 20),
            (3, 50),
            (1000, 24),
            (1010, 50),
            (2990, 50),
            (3000, 5),
            (u64::MAX, 5),
        ] {
            let page = of_unsorted(
                &slots,
                all.iter().copied(),
                all.len(),
                Order::CreatedDesc,
                Window { offset, limit },
            );
            let start = (offset as usize).min(3000);
            assert_eq!(page.total, 3000);
            assert_eq!(
                page.slots,
                expected[start..(start + limit).min(3000)],
                "offset {offset}"
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        /// Any page of a walk over several lists (statuses) is the slice
        /// of their filtered union in order: deep pages skipped in bulk,
        /// many equal keys, matches bunched or spread, either end, and a
        /// walk that gives up only where it may.
        #[test]
        fn walks_over_several_lists_page_like_a_full_sort(
            created in proptest::collection::vec(0i64..40, 200..1500),
            deal in proptest::collection::vec(0usize..7, 1500),
            lists in 2usize..=7,
            modulus in 1u32..6,
            bunched in proptest::bool::ANY,
            offset in 0u64..1600,
            limit in 1usize..60,
            descending in proptest::bool::ANY,
        ) {
            let n = created.len() as u32;
            let slots = slots(&created);
            let order = if descending { Order::CreatedDesc } else { Order::CreatedAsc };
            let test = |slot: u32| if bunched { slot < n / 3 } else { slot.is_multiple_of(modulus) };
            let dealt: Vec<Vec<u32>> = (0..lists)
                .map(|k| sorted(&slots, &(0..n).filter(|&s| deal[s as usize] % lists == k).collect::<Vec<_>>(), order))
                .collect();
            let lists: Vec<&[u32]> = dealt.iter().map(Vec::as_slice).collect();
            let all = sorted(&slots, &(0..n).filter(|&s| test(s)).collect::<Vec<_>>(), order);
            let window = Window { offset, limit };
            let page = walk(&slots, &lists, test, all.len(), order, window, usize::MAX).expect("an unbounded walk");
            let (start, end) = window.bounds(all.len());
            proptest::prop_assert_eq!(page.slots, all[start..end].to_vec());
            // With a bound on probes, a walk either gives the same page or gives up.
            if let Some(page) = walk(&slots, &lists, test, all.len(), order, window, 150) {
                proptest::prop_assert_eq!(page.slots, all[start..end].to_vec());
            }
        }
    }

    /// A status whose customers all come first (or last) runs out while
    /// the page is still being walked; the others carry on in order.
    #[test]
    fn a_list_that_runs_out_mid_walk_leaves_the_others_in_step() {
        let created: Vec<i64> = (0..120).collect();
        let slots = slots(&created);
        let early: Vec<u32> = (0..10).collect();
        let even: Vec<u32> = (10..120).step_by(2).collect();
        let odd: Vec<u32> = (11..120).step_by(2).collect();
        let lists: Vec<&[u32]> = vec![&early, &even, &odd];
        for order in [Order::CreatedAsc, Order::CreatedDesc] {
            let lists: Vec<Vec<u32>> = lists.iter().map(|list| sorted(&slots, list, order)).collect();
            let lists: Vec<&[u32]> = lists.iter().map(Vec::as_slice).collect();
            let all = sorted(&slots, &(0..120).collect::<Vec<_>>(), order);
            for offset in [0, 5, 15, 50, 90] {
                let page = walk(
                    &slots,
                    &lists,
                    |_| true,
                    120,
                    order,
                    Window { offset, limit: 20 },
                    usize::MAX,
                )
                .expect("an unbounded walk");
                let start = offset as usize;
                assert_eq!(
                    page.slots,
                    all[start..(start + 20).min(120)],
                    "{order:?} offset {offset}"
                );
            }
        }
    }

    #[test]
    fn walked_pages_are_slices_of_the_filtered_union_from_either_end() {
        let created: Vec<i64> = (0..900).map(|i| (i * 31) % 97).collect();
        let slots = slots(&created);
        let parts = in_three(&slots, 900, Order::CreatedDesc);
        let whole = sorted(&slots, &(0..900).collect::<Vec<_>>(), Order::CreatedDesc);
        let test = |slot: u32| !slot.is_multiple_of(5);
        let all = sorted(
            &slots,
            &(0..900).filter(|&s| test(s)).collect::<Vec<_>>(),
            Order::CreatedDesc,
        );
        // Three lists merged, and one list alone.
        let three: Vec<&[u32]> = parts.iter().map(Vec::as_slice).collect();
        for lists in [three, vec![whole.as_slice()]] {
            for offset in [0, 1, 300, 359, 360, 700, 715, 719, 720, 5000] {
                let page = walk(
                    &slots,
                    &lists,
                    test,
                    all.len(),
                    Order::CreatedDesc,
                    Window { offset, limit: 20 },
                    usize::MAX,
                )
                .expect("an unbounded walk");
                let start = (offset as usize).min(all.len());
                assert_eq!(page.total, 720);
                assert_eq!(page.slots, all[start..(start + 20).min(all.len())], "offset {offset}");
            }
        }
    }

    #[test]
    fn a_walk_gives_up_on_matches_bunched_at_the_far_end() {
        let created: Vec<i64> = (0..900).collect();
        let slots = slots(&created);
        let parts = in_three(&slots, 900, Order::CreatedAsc);
        let whole: Vec<u32> = (0..900).collect();
        let late = |slot: u32| slot >= 880;
        let three: Vec<&[u32]> = parts.iter().map(Vec::as_slice).collect();
        for lists in [three, vec![whole.as_slice()]] {
            let walk_with = |offset, max_probes| {
                let window = Window { offset, limit: 5 };
                walk(&slots, &lists, late, 20, Order::CreatedAsc, window, max_probes)
            };
            assert_eq!(walk_with(0, 100), None);
            let page = walk_with(0, heap_cost(900)).expect("within its probes");
            assert_eq!(page.slots, [880, 881, 882, 883, 884]);
            // From the end, the matches are near.
            let page = walk_with(15, 100).expect("near the end");
            assert_eq!(page.slots, [895, 896, 897, 898, 899]);
        }
    }

    #[test]
    fn merged_pages_are_slices_of_the_union() {
        let created: Vec<i64> = (0..600).map(|i| (i * 31) % 97).collect();
        let slots = slots(&created);
        let parts = in_three(&slots, 600, Order::CreatedAsc);
        let lists: Vec<&[u32]> = parts.iter().map(Vec::as_slice).collect();
        let all = sorted(&slots, &(0..600).collect::<Vec<_>>(), Order::CreatedAsc);
        for offset in [0, 1, 2, 199, 200, 201, 580, 599, 600, 1000] {
            let page = of_merged(&slots, &lists, Order::CreatedAsc, Window { offset, limit: 20 });
            let start = (offset as usize).min(600);
            assert_eq!(page.total, 600);
            assert_eq!(page.slots, all[start..(start + 20).min(600)], "offset {offset}");
        }
    }
}
