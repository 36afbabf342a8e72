//! The in-memory index behind every list query: per reseller, each
//! customer's status, creation date, folded name and id, kept in the four
//! orders SPEC §2 can ask for, split by status.
//!
//! About 90 bytes a customer. Counting and paging are then index arithmetic:
//! a default page is a slice, `offset` is O(1) for one status, a name prefix
//! or date range is a binary search, a substring is one `memmem` pass over
//! the reseller's names. Only the page's documents come from the database.

use std::cmp::Ordering as CmpOrdering;
use std::collections::HashMap;

use crate::domain::{ListQuery, PatternShape, SortKey, SortOrder, Status};

/// The four total orders of SPEC §2; ties always go to `customerId` ascending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    CreatedAsc = 0,
    CreatedDesc = 1,
    NameAsc = 2,
    NameDesc = 3,
}

impl Order {
    pub fn of(sort: SortKey, order: SortOrder) -> Self {
        match (sort, order) {
            (SortKey::CreationDate, SortOrder::Asc) => Order::CreatedAsc,
            (SortKey::CreationDate, SortOrder::Desc) => Order::CreatedDesc,
            (SortKey::CompanyName, SortOrder::Asc) => Order::NameAsc,
            (SortKey::CompanyName, SortOrder::Desc) => Order::NameDesc,
        }
    }

    fn by_name(self) -> bool {
        matches!(self, Order::NameAsc | Order::NameDesc)
    }
}

/// Collects customers (in any order) and builds the [`Index`].
#[derive(Default)]
pub struct IndexBuilder {
    resellers: HashMap<Box<str>, Columns>,
}

impl IndexBuilder {
    pub fn push(
        &mut self,
        row_id: i64,
        reseller_id: &str,
        status: Status,
        created: i64,
        name_key: &str,
        customer_id: &str,
    ) {
        let columns = match self.resellers.get_mut(reseller_id) {
            Some(columns) => columns,
            None => self.resellers.entry(reseller_id.into()).or_default(),
        };
        columns.push(row_id, status, created, name_key, customer_id);
    }

    /// Sorts every reseller's customers into the four orders.
    pub fn finish(self, generation: i64) -> Index {
        let resellers = self
            .resellers
            .into_iter()
            .map(|(id, columns)| (id, columns.into_reseller()))
            .collect();
        Index { generation, resellers }
    }
}

/// A snapshot of the catalog at one data generation.
pub struct Index {
    generation: i64,
    resellers: HashMap<Box<str>, Reseller>,
}

impl Index {
    pub fn empty(generation: i64) -> Self {
        IndexBuilder::default().finish(generation)
    }

    pub fn generation(&self) -> i64 {
        self.generation
    }

    pub fn reseller(&self, reseller_id: &str) -> Option<&Reseller> {
        self.resellers.get(reseller_id)
    }

    pub fn customer_count(&self) -> usize {
        self.resellers.values().map(Reseller::len).sum()
    }
}

/// Column-wise storage: one row's fields, its folded name and its id live in
/// parallel vectors and two byte arenas (`*_end` marks where each one stops).
#[derive(Default)]
struct Columns {
    rows: Vec<Row>,
    names: Vec<u8>,
    ids: Vec<u8>,
}

#[derive(Clone, Copy)]
struct Row {
    row_id: i64,
    created: i64,
    name_end: u32,
    id_end: u32,
    /// Positions in the created-desc, name-asc and name-desc orders
    /// (the created-asc position is the row's own index).
    ranks: [u32; 3],
    status: Status,
}

impl Columns {
    fn push(&mut self, row_id: i64, status: Status, created: i64, name_key: &str, customer_id: &str) {
        self.names.extend_from_slice(name_key.as_bytes());
        self.ids.extend_from_slice(customer_id.as_bytes());
        self.rows.push(Row {
            row_id,
            created,
            name_end: arena_offset(&self.names),
            id_end: arena_offset(&self.ids),
            ranks: [0; 3],
            status,
        });
    }

    fn name(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.rows[i - 1].name_end as usize };
        &self.names[start..self.rows[i].name_end as usize]
    }

    fn id(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.rows[i - 1].id_end as usize };
        &self.ids[start..self.rows[i].id_end as usize]
    }

    fn compare(&self, order: Order, a: usize, b: usize) -> CmpOrdering {
        let (ra, rb) = (&self.rows[a], &self.rows[b]);
        let key = match order {
            Order::CreatedAsc => ra.created.cmp(&rb.created),
            Order::CreatedDesc => rb.created.cmp(&ra.created),
            Order::NameAsc => self.name(a).cmp(self.name(b)),
            Order::NameDesc => self.name(b).cmp(self.name(a)),
        };
        key.then_with(|| self.id(a).cmp(self.id(b)))
    }

    fn sorted(&self, order: Order) -> Vec<u32> {
        let mut positions: Vec<u32> = (0..self.rows.len() as u32).collect();
        positions.sort_unstable_by(|&a, &b| self.compare(order, a as usize, b as usize));
        positions
    }

    fn into_reseller(self) -> Reseller {
        // Lay the rows out in created-asc order, so that order needs no list
        // of its own and a row's index is its rank in it.
        let mut laid_out = Columns {
            rows: Vec::with_capacity(self.rows.len()),
            names: Vec::with_capacity(self.names.len()),
            ids: Vec::with_capacity(self.ids.len()),
        };
        for &i in &self.sorted(Order::CreatedAsc) {
            let i = i as usize;
            let row = self.rows[i];
            laid_out.push(
                row.row_id,
                row.status,
                row.created,
                as_str(self.name(i)),
                as_str(self.id(i)),
            );
        }
        drop(self);

        let mut partitions: [Partition; Status::COUNT] = Default::default();
        for (i, row) in laid_out.rows.iter().enumerate() {
            partitions[row.status.index()].lists[Order::CreatedAsc as usize].push(i as u32);
        }
        for order in [Order::CreatedDesc, Order::NameAsc, Order::NameDesc] {
            for (rank, &i) in laid_out.sorted(order).iter().enumerate() {
                let row = &mut laid_out.rows[i as usize];
                row.ranks[order as usize - 1] = rank as u32;
                partitions[row.status.index()].lists[order as usize].push(i);
            }
        }
        for partition in &mut partitions {
            for list in &mut partition.lists {
                list.shrink_to_fit();
            }
        }
        Reseller {
            columns: laid_out,
            partitions,
        }
    }
}

fn arena_offset(arena: &[u8]) -> u32 {
    u32::try_from(arena.len()).expect("one reseller's names fit in 4 GiB")
}

fn as_str(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("arenas hold whole UTF-8 strings")
}

/// One status's customers of one reseller, as row indices in each [`Order`].
#[derive(Default)]
struct Partition {
    lists: [Vec<u32>; 4],
}

/// One reseller's customers.
pub struct Reseller {
    columns: Columns,
    partitions: [Partition; Status::COUNT],
}

/// The answer to a list query: the exact total and the page's database rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub total: u64,
    pub row_ids: Vec<i64>,
}

/// Candidate rows for one status: a slice of one of its order lists.
struct Candidates<'a> {
    rows: &'a [u32],
    /// The order `rows` is sorted in.
    order: Order,
}

impl Reseller {
    pub fn len(&self) -> usize {
        self.columns.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.columns.rows.is_empty()
    }

    fn rank(&self, order: Order, i: u32) -> u32 {
        match order {
            Order::CreatedAsc => i,
            other => self.columns.rows[i as usize].ranks[other as usize - 1],
        }
    }

    /// Evaluates `query` exactly: the total count and the requested page.
    pub fn select(&self, query: &ListQuery) -> Selection {
        let order = Order::of(query.sort, query.order);
        let shape = query
            .name
            .as_ref()
            .map(|p| p.shape())
            .filter(|s| *s != PatternShape::Any);
        let date_filtered = !query.created.is_unbounded();

        if !query.customer_ids.is_empty() {
            let matches = (0..self.columns.rows.len() as u32)
                .filter(|&i| query.customer_ids.contains(as_str(self.columns.id(i as usize))))
                .filter(|&i| self.matches(query, i))
                .collect();
            return self.page_of(matches, order, query);
        }
        if shape == Some(PatternShape::General) {
            return self.page_of(self.scan_names(query), order, query);
        }

        // Narrow each status to one contiguous, sorted slice.
        let candidates: Vec<Candidates<'_>> = query
            .statuses
            .iter()
            .map(|status| &self.partitions[status.index()])
            .filter(|partition| !partition.lists[0].is_empty())
            .map(|partition| self.narrow(partition, order, shape, query))
            .collect();
        let exact_slices = match shape {
            None => !date_filtered || !order.by_name(),
            Some(_) => !date_filtered && order.by_name(),
        };
        if exact_slices {
            return self.merge(&candidates, order, query);
        }
        let matches: Vec<u32> = candidates
            .iter()
            .flat_map(|c| c.rows.iter().copied())
            .filter(|&i| query.created.contains(self.columns.rows[i as usize].created))
            .collect();
        if let [only] = candidates.as_slice()
            && only.order == order
        {
            return self.page_of_sorted(&matches, query);
        }
        self.page_of(matches, order, query)
    }

    /// The slice of `partition` that the name prefix (or, failing that, the
    /// date range) allows, in the best order available for `order`.
    fn narrow<'a>(
        &self,
        partition: &'a Partition,
        order: Order,
        shape: Option<PatternShape<'_>>,
        query: &ListQuery,
    ) -> Candidates<'a> {
        let columns = &self.columns;
        match shape {
            Some(PatternShape::Exact(literal) | PatternShape::Prefix(literal)) => {
                let prefix = matches!(shape, Some(PatternShape::Prefix(_)));
                let literal = literal.as_bytes();
                // Names matching an exact or prefix pattern are contiguous in
                // either name order.
                let in_block = |i: u32| {
                    let name = columns.name(i as usize);
                    if prefix {
                        name.starts_with(literal)
                    } else {
                        name == literal
                    }
                };
                let list_order = if order.by_name() { order } else { Order::NameAsc };
                let list = &partition.lists[list_order as usize];
                let (lo, hi) = if list_order == Order::NameAsc {
                    let lo = list.partition_point(|&i| columns.name(i as usize) < literal);
                    (lo, lo + list[lo..].partition_point(|&i| in_block(i)))
                } else {
                    let lo = list.partition_point(|&i| columns.name(i as usize) > literal && !in_block(i));
                    (lo, lo + list[lo..].partition_point(|&i| in_block(i)))
                };
                Candidates {
                    rows: &list[lo..hi],
                    order: list_order,
                }
            }
            _ if order.by_name() => Candidates {
                rows: &partition.lists[order as usize],
                order,
            },
            _ => {
                let list = &partition.lists[order as usize];
                let created = |i: u32| columns.rows[i as usize].created;
                let (from, to) = (query.created.from, query.created.to);
                let (lo, hi) = if order == Order::CreatedAsc {
                    (
                        from.map_or(0, |f| list.partition_point(|&i| created(i) < f)),
                        to.map_or(list.len(), |t| list.partition_point(|&i| created(i) <= t)),
                    )
                } else {
                    (
                        to.map_or(0, |t| list.partition_point(|&i| created(i) > t)),
                        from.map_or(list.len(), |f| list.partition_point(|&i| created(i) >= f)),
                    )
                };
                Candidates {
                    rows: &list[lo..hi.max(lo)],
                    order,
                }
            }
        }
    }

    /// Whether row `i` passes every filter of `query` except `customer-id`.
    fn matches(&self, query: &ListQuery, i: u32) -> bool {
        let row = &self.columns.rows[i as usize];
        query.statuses.contains(row.status)
            && query.created.contains(row.created)
            && query
                .name
                .as_ref()
                .is_none_or(|p| p.matches(as_str(self.columns.name(i as usize))))
    }

    /// Rows whose name matches a general pattern: one `memmem` pass over the
    /// reseller's name arena for the pattern's longest literal, then the
    /// full match on each row it hits. Rows come out in created-asc order.
    fn scan_names(&self, query: &ListQuery) -> Vec<u32> {
        let pattern = query.name.as_ref().expect("a general pattern");
        let needle = pattern.needle().as_bytes();
        let finder = memchr::memmem::Finder::new(needle);
        let rows = &self.columns.rows;
        let names = &self.columns.names;
        let mut matches = Vec::new();
        let mut row = 0usize;
        let mut from = 0usize;
        while let Some(found) = finder.find(&names[from..]) {
            let at = from + found;
            row += rows[row..].partition_point(|r| r.name_end as usize <= at);
            let name_end = rows[row].name_end as usize;
            // A hit that runs into the next name is no hit; either way the
            // next candidate starts no earlier than the next name.
            if at + needle.len() <= name_end && self.matches(query, row as u32) {
                matches.push(row as u32);
            }
            from = name_end;
            row += 1;
            if row == rows.len() {
                break;
            }
        }
        matches
    }

    /// The page of `matches` (any order) in `order`: selects instead of
    /// sorting everything, so a page costs O(matches), not O(matches log matches).
    fn page_of(&self, mut matches: Vec<u32>, order: Order, query: &ListQuery) -> Selection {
        let total = matches.len();
        let Some(offset) = usize::try_from(query.offset).ok().filter(|&o| o < total) else {
            return self.selection(total, &[]);
        };
        let key = |&i: &u32| self.rank(order, i);
        let mut page = if offset > 0 {
            matches.select_nth_unstable_by_key(offset, key);
            matches.split_off(offset)
        } else {
            matches
        };
        let limit = query.limit.get().min(page.len());
        if limit < page.len() {
            page.select_nth_unstable_by_key(limit - 1, key);
            page.truncate(limit);
        }
        page.sort_unstable_by_key(key);
        self.selection(total, &page)
    }

    /// The page of `matches`, already in the requested order.
    fn page_of_sorted(&self, matches: &[u32], query: &ListQuery) -> Selection {
        let start = usize::try_from(query.offset).unwrap_or(usize::MAX).min(matches.len());
        let end = start.saturating_add(query.limit.get()).min(matches.len());
        self.selection(matches.len(), &matches[start..end])
    }

    /// The page of the union of sorted slices (one per status), in `order`.
    fn merge(&self, candidates: &[Candidates<'_>], order: Order, query: &ListQuery) -> Selection {
        let total: usize = candidates.iter().map(|c| c.rows.len()).sum();
        if let [only] = candidates {
            return self.page_of_sorted(only.rows, query);
        }
        let Some(offset) = usize::try_from(query.offset).ok().filter(|&o| o < total) else {
            return self.selection(total, &[]);
        };
        // Ranks are unique, so the page starts at the smallest rank with more
        // than `offset` candidates at or below it: a binary search on ranks.
        let below = |rank: u32| -> usize {
            candidates
                .iter()
                .map(|c| c.rows.partition_point(|&i| self.rank(order, i) < rank))
                .sum()
        };
        let (mut lo, mut hi) = (0u32, self.columns.rows.len() as u32);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if below(mid + 1) > offset {
                hi = mid
            } else {
                lo = mid + 1
            }
        }
        let mut cursors: Vec<usize> = candidates
            .iter()
            .map(|c| c.rows.partition_point(|&i| self.rank(order, i) < lo))
            .collect();
        let mut page = Vec::with_capacity(query.limit.get());
        while page.len() < query.limit.get() {
            let next = candidates
                .iter()
                .zip(&cursors)
                .enumerate()
                .filter_map(|(k, (c, &at))| c.rows.get(at).map(|&i| (self.rank(order, i), k, i)))
                .min();
            let Some((_, k, i)) = next else { break };
            cursors[k] += 1;
            page.push(i);
        }
        self.selection(total, &page)
    }

    fn selection(&self, total: usize, page: &[u32]) -> Selection {
        Selection {
            total: total as u64,
            row_ids: page.iter().map(|&i| self.columns.rows[i as usize].row_id).collect(),
        }
    }
}
