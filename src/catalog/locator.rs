//! Where each customer is in the catalog (reseller and slot), by customer
//! id: for applying a change to the customer it replaces, for
//! `GET /v3/customers/{id}` and for the `customer-id` filter.
//!
//! Keyed by a 64-bit keyed hash of the id rather than the id itself: about
//! 20 bytes an entry instead of about 60, since the ids already live in the
//! index. Every lookup is a *candidate*, which the caller confirms against
//! the id stored at that location. Two ids with the same hash (odds of
//! about 1 in 30 million for a million customers, and the key is random per
//! process, so nobody can aim for it) are still told apart: the second
//! goes to a small map keyed by the id itself.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

/// A customer's place: which reseller (the catalog's number for it) and slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub reseller: u32,
    pub slot: u32,
}

#[derive(Default)]
pub struct Locator {
    hasher: RandomState,
    by_hash: HashMap<u64, Location>,
    colliding: HashMap<Box<str>, Location>,
}

impl Locator {
    fn hash(&self, customer_id: &str) -> u64 {
        self.hasher.hash_one(customer_id)
    }

    /// Where `customer_id` may be; confirm by reading the id there.
    pub fn get(&self, customer_id: &str) -> Option<Location> {
        if !self.colliding.is_empty()
            && let Some(location) = self.colliding.get(customer_id)
        {
            return Some(*location);
        }
        self.by_hash.get(&self.hash(customer_id)).copied()
    }

    /// Records a customer the locator does not know yet.
    pub fn insert_new(&mut self, customer_id: &str, location: Location) {
        let hash = self.hash(customer_id);
        match self.by_hash.entry(hash) {
            // Another customer has this hash.
            std::collections::hash_map::Entry::Occupied(_) => {
                self.colliding.insert(customer_id.into(), location);
            }
            std::collections::hash_map::Entry::Vacant(free) => {
                free.insert(location);
            }
        }
    }

    /// Moves a customer the locator knows.
    pub fn set(&mut self, customer_id: &str, location: Location) {
        match self.colliding.get_mut(customer_id) {
            Some(known) => *known = location,
            None => {
                self.by_hash.insert(self.hash(customer_id), location);
            }
        }
    }

    /// Forgets a customer the locator knows.
    pub fn remove(&mut self, customer_id: &str) {
        if self.colliding.remove(customer_id).is_none() {
            self.by_hash.remove(&self.hash(customer_id));
        }
    }

    pub fn len(&self) -> usize {
        self.by_hash.len() + self.colliding.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_with_the_same_hash_are_kept_apart() {
        let mut locator = Locator::default();
        let hash_of_a = locator.hash("A");
        locator.insert_new("A", Location { reseller: 0, slot: 0 });
        // B collides with A (as if its hash were A's): it went to the exact map.
        locator.colliding.insert("B".into(), Location { reseller: 1, slot: 5 });
        assert_eq!(locator.get("A"), Some(Location { reseller: 0, slot: 0 }));
        assert_eq!(locator.get("B"), Some(Location { reseller: 1, slot: 5 }));
        locator.set("B", Location { reseller: 2, slot: 6 });
        assert_eq!(locator.get("B"), Some(Location { reseller: 2, slot: 6 }));
        assert_eq!(
            locator.by_hash[&hash_of_a],
            Location { reseller: 0, slot: 0 },
            "A untouched"
        );
        locator.remove("A");
        assert_eq!(
            locator.get("B"),
            Some(Location { reseller: 2, slot: 6 }),
            "B outlives A"
        );
        locator.remove("B");
        assert_eq!(locator.len(), 0);
    }

    #[test]
    fn a_second_id_under_a_taken_hash_goes_to_the_exact_map() {
        let mut locator = Locator::default();
        let taken = locator.hash("A");
        locator.by_hash.insert(taken, Location { reseller: 0, slot: 1 });
        // Pretend "Z" hashes to the same value by inserting it as new while
        // its own hash is occupied.
        let z_hash = locator.hash("Z");
        locator.by_hash.insert(z_hash, Location { reseller: 9, slot: 9 });
        locator.insert_new("Z", Location { reseller: 3, slot: 4 });
        assert_eq!(locator.colliding.get("Z"), Some(&Location { reseller: 3, slot: 4 }));
        assert_eq!(locator.get("Z"), Some(Location { reseller: 3, slot: 4 }));
        assert_eq!(locator.len(), 3);
    }
}
