//! The in-memory index behind every list query: per reseller, each
//! customer's status, creation date, folded name and id, kept in the four
//! orders SPEC §2 can ask for, split by status.
//!
//! Counting and paging are index arithmetic: a default page is a slice,
//! `offset` is O(1) for one status, a name prefix or a date range is a binary
//! search, a substring starts from a trigram posting list (or, for small
//! resellers, one `memmem` pass over their names). Only the page's documents
//! come from the database.
//!
//! The layout is columnar (one array per field) because queries touch one
//! field of many rows: a status filter reads a byte per row, a sort by name
//! reads one rank array, and those stay in the CPU's cache.

use std::cmp::Ordering as CmpOrdering;
use std::collections::HashMap;

use crate::domain::{ListQuery, NamePattern, PatternShape, SortKey, SortOrder, Status};

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

/// Resellers with at least this many customers get a trigram index; below
/// it, scanning their names costs microseconds and the postings would cost
/// more memory than they save time.
const TRIGRAM_MIN_CUSTOMERS: usize = 2_048;

/// Pages ending within this many rows of the start are picked by one pass
/// with a bounded heap rather than by selection.
const TOP_PAGE_ROWS: usize = 1_024;

/// Collects customers (in any order) and builds the [`Index`].
pub struct IndexBuilder {
    resellers: HashMap<Box<str>, Columns>,
    trigram_min: usize,
}

impl Default for IndexBuilder {
    fn default() -> Self {
        IndexBuilder {
            resellers: HashMap::new(),
            trigram_min: TRIGRAM_MIN_CUSTOMERS,
        }
    }
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
        columns.push(row_id, status, created, name_key.as_bytes(), customer_id.as_bytes());
    }

    /// Sorts every reseller's customers into the four orders.
    pub fn finish(self, generation: i64) -> Index {
        let resellers = self
            .resellers
            .into_iter()
            .map(|(id, columns)| (id, Reseller::new(columns, self.trigram_min)))
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

/// One reseller's customers, a column per field. Names and ids live in byte
/// arenas; `*_ends[i]` is where row `i`'s ends (it starts where `i - 1`'s did).
#[derive(Default)]
struct Columns {
    row_ids: Vec<i64>,
    created: Vec<i64>,
    status: Vec<Status>,
    name_ends: Vec<u32>,
    names: Vec<u8>,
    id_ends: Vec<u32>,
    ids: Vec<u8>,
}

impl Columns {
    fn push(&mut self, row_id: i64, status: Status, created: i64, name: &[u8], id: &[u8]) {
        self.names.extend_from_slice(name);
        self.ids.extend_from_slice(id);
        self.row_ids.push(row_id);
        self.created.push(created);
        self.status.push(status);
        self.name_ends.push(arena_offset(&self.names));
        self.id_ends.push(arena_offset(&self.ids));
    }

    fn len(&self) -> usize {
        self.row_ids.len()
    }

    fn name(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.name_ends[i - 1] as usize };
        &self.names[start..self.name_ends[i] as usize]
    }

    fn id(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.id_ends[i - 1] as usize };
        &self.ids[start..self.id_ends[i] as usize]
    }

    fn compare(&self, order: Order, a: usize, b: usize) -> CmpOrdering {
        let key = match order {
            Order::CreatedAsc => self.created[a].cmp(&self.created[b]),
            Order::CreatedDesc => self.created[b].cmp(&self.created[a]),
            Order::NameAsc => self.name(a).cmp(self.name(b)),
            Order::NameDesc => self.name(b).cmp(self.name(a)),
        };
        key.then_with(|| self.id(a).cmp(self.id(b)))
    }

    fn sorted(&self, order: Order) -> Vec<u32> {
        let mut positions: Vec<u32> = (0..self.len() as u32).collect();
        positions.sort_unstable_by(|&a, &b| self.compare(order, a as usize, b as usize));
        positions
    }

    /// The same rows, laid out in `order`.
    fn reordered(&self, order: &[u32]) -> Columns {
        let mut out = Columns {
            row_ids: Vec::with_capacity(self.len()),
            created: Vec::with_capacity(self.len()),
            status: Vec::with_capacity(self.len()),
            name_ends: Vec::with_capacity(self.len()),
            names: Vec::with_capacity(self.names.len()),
            id_ends: Vec::with_capacity(self.len()),
            ids: Vec::with_capacity(self.ids.len()),
        };
        for &i in order {
            let i = i as usize;
            out.push(
                self.row_ids[i],
                self.status[i],
                self.created[i],
                self.name(i),
                self.id(i),
            );
        }
        out
    }

    /// The row whose name holds byte `at` of the name arena, searching
    /// forwards from `from` (galloping: hits of a scan are close together).
    fn row_at(&self, from: usize, at: usize) -> usize {
        let ends = &self.name_ends;
        let mut low = from;
        let mut step = 1;
        while low + step < ends.len() && ends[low + step] as usize <= at {
            low += step;
            step *= 2;
        }
        let high = (low + step + 1).min(ends.len());
        low + ends[low..high].partition_point(|&end| end as usize <= at)
    }
}

fn arena_offset(arena: &[u8]) -> u32 {
    u32::try_from(arena.len()).expect("one reseller's names fit in 4 GiB")
}

/// One status's customers of one reseller, as row indices in each [`Order`].
#[derive(Default)]
struct Partition {
    lists: [Vec<u32>; 4],
}

/// Posting lists: for each 3-byte sequence of the folded names, the rows
/// (ascending) whose name contains it. Compressed-row layout: the rows of
/// `keys[k]` are `rows[starts[k]..starts[k + 1]]`.
struct Trigrams {
    keys: Vec<u32>,
    starts: Vec<u32>,
    rows: Vec<u32>,
}

fn trigram_key(bytes: &[u8]) -> u32 {
    u32::from(bytes[0]) << 16 | u32::from(bytes[1]) << 8 | u32::from(bytes[2])
}

impl Trigrams {
    fn build(columns: &Columns) -> Self {
        let mut pairs: Vec<u64> = Vec::with_capacity(columns.names.len());
        for i in 0..columns.len() {
            pairs.extend(
                columns
                    .name(i)
                    .windows(3)
                    .map(|window| u64::from(trigram_key(window)) << 32 | i as u64),
            );
        }
        pairs.sort_unstable();
        pairs.dedup();
        let mut trigrams = Trigrams {
            keys: Vec::new(),
            starts: Vec::new(),
            rows: Vec::with_capacity(pairs.len()),
        };
        for pair in pairs {
            let key = (pair >> 32) as u32;
            if trigrams.keys.last() != Some(&key) {
                trigrams.keys.push(key);
                trigrams.starts.push(trigrams.rows.len() as u32);
            }
            trigrams.rows.push(pair as u32);
        }
        trigrams.starts.push(trigrams.rows.len() as u32);
        trigrams
    }

    fn postings(&self, trigram: &[u8]) -> &[u32] {
        match self.keys.binary_search(&trigram_key(trigram)) {
            Ok(k) => &self.rows[self.starts[k] as usize..self.starts[k + 1] as usize],
            Err(_) => &[],
        }
    }

    /// The shortest posting list among the needle's trigrams: every row that
    /// contains the needle is in it.
    fn rarest(&self, needle: &[u8]) -> &[u32] {
        needle
            .windows(3)
            .map(|trigram| self.postings(trigram))
            .min_by_key(|rows| rows.len())
            .unwrap_or(&[])
    }
}

/// One reseller's customers.
pub struct Reseller {
    /// Laid out in created-asc order, so a row's index is its rank there.
    columns: Columns,
    /// Each row's rank in the created-desc, name-asc and name-desc orders.
    ranks: [Vec<u32>; 3],
    partitions: [Partition; Status::COUNT],
    trigrams: Option<Trigrams>,
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
    fn new(columns: Columns, trigram_min: usize) -> Self {
        let columns = columns.reordered(&columns.sorted(Order::CreatedAsc));
        let mut ranks: [Vec<u32>; 3] = Default::default();
        let mut partitions: [Partition; Status::COUNT] = Default::default();
        for (i, status) in columns.status.iter().enumerate() {
            partitions[status.index()].lists[Order::CreatedAsc as usize].push(i as u32);
        }
        for order in [Order::CreatedDesc, Order::NameAsc, Order::NameDesc] {
            let rank = &mut ranks[order as usize - 1];
            rank.resize(columns.len(), 0);
            for (position, &i) in columns.sorted(order).iter().enumerate() {
                rank[i as usize] = position as u32;
                partitions[columns.status[i as usize].index()].lists[order as usize].push(i);
            }
        }
        for list in partitions.iter_mut().flat_map(|p| p.lists.iter_mut()) {
            list.shrink_to_fit();
        }
        let trigrams = (columns.len() >= trigram_min).then(|| Trigrams::build(&columns));
        Reseller {
            columns,
            ranks,
            partitions,
            trigrams,
        }
    }

    pub fn len(&self) -> usize {
        self.columns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.columns.len() == 0
    }

    fn rank(&self, order: Order, i: u32) -> u32 {
        match order {
            Order::CreatedAsc => i,
            other => self.ranks[other as usize - 1][i as usize],
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
            let matches = (0..self.len() as u32)
                .filter(|&i| {
                    std::str::from_utf8(self.columns.id(i as usize)).is_ok_and(|id| query.customer_ids.contains(id))
                })
                .filter(|&i| self.matches(query, i))
                .collect();
            return self.page_of(matches, order, query);
        }
        if let (Some(pattern), Some(PatternShape::Contains(_) | PatternShape::General)) = (&query.name, shape) {
            return self.page_of(self.substring_matches(pattern, query), order, query);
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
            .filter(|&i| !date_filtered || query.created.contains(self.columns.created[i as usize]))
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
                let created = |i: u32| columns.created[i as usize];
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
        let i = i as usize;
        query.statuses.contains(self.columns.status[i])
            && query.created.contains(self.columns.created[i])
            && query
                .name
                .as_ref()
                .is_none_or(|p| p.matches_folded(self.columns.name(i)))
    }

    /// Rows (in created-asc order) whose name matches a pattern with a
    /// star in front: from the posting list of the rarest trigram of its
    /// longest literal, or by one `memmem` pass over all names.
    fn substring_matches(&self, pattern: &NamePattern, query: &ListQuery) -> Vec<u32> {
        let needle = pattern.needle().as_bytes();
        if let Some(trigrams) = &self.trigrams
            && needle.len() >= 3
        {
            // A three-byte `*literal*` is exactly its posting list.
            let exact = needle.len() == 3 && pattern.shape() == PatternShape::Contains(pattern.needle());
            let columns = &self.columns;
            return trigrams
                .rarest(needle)
                .iter()
                .copied()
                .filter(|&i| {
                    let row = i as usize;
                    query.statuses.contains(columns.status[row])
                        && query.created.contains(columns.created[row])
                        && (exact || pattern.matches_folded(columns.name(row)))
                })
                .collect();
        }
        self.scan_names(pattern, query)
    }

    /// One `memmem` pass over the name arena for the pattern's longest
    /// literal, then the full match on each row it hits.
    fn scan_names(&self, pattern: &NamePattern, query: &ListQuery) -> Vec<u32> {
        let needle = pattern.needle().as_bytes();
        let finder = memchr::memmem::Finder::new(needle);
        let names = &self.columns.names;
        let mut matches = Vec::new();
        let mut row = 0usize;
        let mut from = 0usize;
        while row < self.len()
            && let Some(found) = finder.find(&names[from..])
        {
            let at = from + found;
            row = self.columns.row_at(row, at);
            let name_end = self.columns.name_ends[row] as usize;
            // A hit that runs into the next name is no hit; either way the
            // next candidate starts no earlier than the next name.
            if at + needle.len() <= name_end && self.matches(query, row as u32) {
                matches.push(row as u32);
            }
            from = name_end;
            row += 1;
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
        let end = offset.saturating_add(query.limit.get()).min(total);
        if end <= TOP_PAGE_ROWS {
            // Early pages: one pass keeping the best `end` rows, one rank
            // lookup per match (a selection looks each up several times,
            // and ranks are scattered reads: S3 spent most of its time so).
            let mut best = std::collections::BinaryHeap::with_capacity(end);
            for i in &matches {
                let (rank, i) = (key(i), *i);
                if best.len() < end {
                    best.push((rank, i));
                } else if let Some(mut worst) = best.peek_mut()
                    && rank < worst.0
                {
                    *worst = (rank, i);
                }
            }
            let best: Vec<u32> = best.into_sorted_vec().into_iter().map(|(_, i)| i).collect();
            return self.selection(total, &best[offset..]);
        }
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
        let (mut lo, mut hi) = (0u32, self.len() as u32);
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
            row_ids: page.iter().map(|&i| self.columns.row_ids[i as usize]).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CustomerRecord;
    use crate::generate::{Generator, Plan, reseller_id};

    /// The same customers with trigram indexes on every reseller, and on none.
    fn both_ways() -> (Index, Index) {
        let plan = Plan {
            customers: 6_000,
            resellers: 3,
            seed: 5,
        };
        let mut with = IndexBuilder {
            trigram_min: 0,
            ..IndexBuilder::default()
        };
        let mut without = IndexBuilder {
            trigram_min: usize::MAX,
            ..IndexBuilder::default()
        };
        for (row, value) in Generator::new(plan).enumerate() {
            let r = CustomerRecord::from_json(value).unwrap();
            for builder in [&mut with, &mut without] {
                builder.push(
                    row as i64,
                    &r.reseller_id,
                    r.status,
                    r.created_at,
                    &r.name_key,
                    &r.customer_id,
                );
            }
        }
        (with.finish(1), without.finish(1))
    }

    #[test]
    fn trigram_postings_answer_exactly_like_a_scan() {
        let (with, without) = both_ways();
        let patterns = [
            "*tec*",
            "*TEC*",
            "*ana*",
            "*analytics*",
            "*gmbh",
            "*a*s*",
            "*straße*",
            "*ø*",
            "*ørb*",
            "*resund b*",
            "*5\\*\\*",
            "*%*",
            "*xyzzy*",
            "*ic*",
            "*c*",
            "*e i*",
            "*ōsaka*",
            "*ch*ca*",
            "*s ltd",
            "n*h*",
        ];
        let mut compared = 0;
        for pattern in patterns {
            for extra in [
                "",
                "&status=1002&status=1000",
                "&from-created-date=2018-01-01&sort-by=companyName",
            ] {
                let query = ListQuery::parse(&format!(
                    "name={}{extra}&limit=50&offset=3",
                    pattern.replace('%', "%25").replace(' ', "+")
                ))
                .unwrap();
                for rank in 0..3 {
                    let id = reseller_id(rank);
                    let (a, b) = (with.reseller(&id).unwrap(), without.reseller(&id).unwrap());
                    assert!(a.trigrams.is_some() && b.trigrams.is_none());
                    assert_eq!(a.select(&query), b.select(&query), "{pattern}{extra} on {id}");
                    compared += 1;
                }
            }
        }
        assert_eq!(compared, 20 * 3 * 3);
    }

    /// Early pages come from a bounded heap, later ones from selection
    /// (TOP_PAGE_ROWS): both must be the slice of a full sort.
    #[test]
    fn pages_of_unsorted_matches_are_slices_of_the_full_sort() {
        let (_, index) = both_ways();
        let reseller = index.reseller(&reseller_id(0)).unwrap();
        for filters in [
            "name=*a*",
            "name=*a*&sort-by=companyName&order-by=desc",
            "name=*e*&status=1000&status=1002",
        ] {
            let all = ListQuery::parse(filters).unwrap();
            let order = Order::of(all.sort, all.order);
            let mut expected: Vec<u32> = (0..reseller.len() as u32)
                .filter(|&i| reseller.matches(&all, i))
                .collect();
            expected.sort_by_key(|&i| reseller.rank(order, i));
            assert!(expected.len() > TOP_PAGE_ROWS + 100, "{filters}: both ways exercised");
            for (offset, limit) in [(0, 20), (3, 50), (TOP_PAGE_ROWS - 10, 20), (TOP_PAGE_ROWS + 50, 50)] {
                let query = ListQuery::parse(&format!("{filters}&offset={offset}&limit={limit}")).unwrap();
                let end = (offset + limit).min(expected.len());
                assert_eq!(
                    reseller.select(&query),
                    reseller.selection(expected.len(), &expected[offset.min(end)..end]),
                    "{filters} offset {offset} limit {limit}"
                );
            }
        }
    }

    #[test]
    fn postings_list_every_row_containing_the_trigram() {
        let (with, _) = both_ways();
        let reseller = with.reseller(&reseller_id(0)).unwrap();
        let trigrams = reseller.trigrams.as_ref().unwrap();
        let columns = &reseller.columns;
        for trigram in [
            &b"tec"[..],
            b"ana",
            b" gm",
            "ø".as_bytes().get(..2).map(|b| [b, b"r"].concat()).as_deref().unwrap(),
        ] {
            let expected: Vec<u32> = (0..columns.len() as u32)
                .filter(|&i| columns.name(i as usize).windows(3).any(|w| w == trigram))
                .collect();
            assert_eq!(trigrams.postings(trigram), expected.as_slice(), "{trigram:?}");
        }
    }
}
