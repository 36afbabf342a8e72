//! The four total orders of SPEC §2, and each status's customers kept
//! sorted in each of them: a page of one status is a slice, `totalCount` a
//! length, a name prefix or a date range a binary search. A change moves
//! one slot in eight lists (out of its old status's four, into its new
//! status's four): a binary search and a `memmove` each.

use std::cmp::Ordering;

use super::slots::Slots;
use crate::domain::{SortKey, SortOrder, Status};

/// The four total orders of SPEC §2; ties always go to `customerId` ascending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    CreatedAsc,
    CreatedDesc,
    NameAsc,
    NameDesc,
}

impl Order {
    pub const ALL: [Order; 4] = [Order::CreatedAsc, Order::CreatedDesc, Order::NameAsc, Order::NameDesc];

    pub fn of(sort: SortKey, order: SortOrder) -> Self {
        match (sort, order) {
            (SortKey::CreationDate, SortOrder::Asc) => Order::CreatedAsc,
            (SortKey::CreationDate, SortOrder::Desc) => Order::CreatedDesc,
            (SortKey::CompanyName, SortOrder::Asc) => Order::NameAsc,
            (SortKey::CompanyName, SortOrder::Desc) => Order::NameDesc,
        }
    }

    pub fn by_name(self) -> bool {
        matches!(self, Order::NameAsc | Order::NameDesc)
    }

    fn index(self) -> usize {
        self as usize
    }

    /// A number that orders slots as [`Order::compare`] does wherever the
    /// numbers differ: the creation date or the name label, flipped for
    /// `desc`. Equal numbers (a shared date, the same name) go by id.
    #[inline]
    pub fn key(self, slots: &Slots, slot: u32) -> u64 {
        match self {
            Order::CreatedAsc => (slots.created(slot) as u64) ^ (1 << 63),
            Order::CreatedDesc => !((slots.created(slot) as u64) ^ (1 << 63)),
            Order::NameAsc => slots.label(slot),
            Order::NameDesc => !slots.label(slot),
        }
    }

    /// How slots `a` and `b` compare in this order. Names compare by their
    /// labels, which order them as their bytes do.
    pub fn compare(self, slots: &Slots, a: u32, b: u32) -> Ordering {
        self.key(slots, a)
            .cmp(&self.key(slots, b))
            .then_with(|| slots.id(a).cmp(slots.id(b)))
    }
}

/// Per status, its live slots in each [`Order`].
#[derive(Debug, Clone, Default)]
pub struct StatusLists {
    lists: [[Vec<u32>; 4]; Status::COUNT],
}

impl StatusLists {
    /// Sorts every live slot into its status's lists (names by their labels,
    /// which must be set).
    pub fn build(slots: &Slots) -> Self {
        let mut lists = StatusLists::default();
        for order in Order::ALL {
            let mut sorted: Vec<u32> = slots.live_slots().collect();
            sorted.sort_unstable_by(|&a, &b| order.compare(slots, a, b));
            for slot in sorted {
                lists.lists[slots.status(slot).index()][order.index()].push(slot);
            }
        }
        for list in lists.lists.iter_mut().flatten() {
            list.shrink_to_fit();
        }
        lists
    }

    /// `status`'s slots in `order`.
    pub fn get(&self, status: Status, order: Order) -> &[u32] {
        &self.lists[status.index()][order.index()]
    }

    /// How many customers have `status`.
    pub fn count(&self, status: Status) -> usize {
        self.lists[status.index()][0].len()
    }

    /// Adds a live slot to its status's lists.
    pub fn insert(&mut self, slots: &Slots, slot: u32) {
        for order in Order::ALL {
            let list = &mut self.lists[slots.status(slot).index()][order.index()];
            let at = list.partition_point(|&other| order.compare(slots, other, slot) == Ordering::Less);
            list.insert(at, slot);
        }
    }

    /// Takes a slot out of its status's lists; call it before the slot's
    /// data changes (its position is found by its current key).
    pub fn remove(&mut self, slots: &Slots, slot: u32) {
        for order in Order::ALL {
            let list = &mut self.lists[slots.status(slot).index()][order.index()];
            let at = list.partition_point(|&other| order.compare(slots, other, slot) == Ordering::Less);
            debug_assert_eq!(list.get(at), Some(&slot), "slot {slot} is in its lists");
            list.remove(at);
        }
    }
}
