//! How a list query is answered, decided from its shape before any row is
//! read. Each plan is exact; they differ in what they touch. The debug log
//! names the plan of every page (`ROSTER_LOG=roster::catalog=debug`).

use super::lists::Order;
use crate::domain::{ListQuery, PatternShape};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// `customer-id` is given: each id is looked up, the other filters
    /// checked on those customers only.
    CustomerIds,
    /// Each status's list in the requested order, narrowed to exactly the
    /// matches by binary search (a date range in a date order, a name prefix
    /// or exact name in a name order), merged: no row is checked one by one.
    MergeSlices,
    /// Each status's list narrowed by one filter (a name prefix, or a date
    /// range), the other filter checked row by row, then paged.
    FilterSlices,
    /// A substring pattern (`*ab*`, `*abc*d*`, `*inc`) on a large reseller:
    /// the exact sets of the statuses and of every byte and byte pair of
    /// its literals, intersected, narrowed by trigram postings, checked
    /// against the whole pattern only when that is not already exact;
    /// counted by popcount, paged by walking the sort list (or, for a few
    /// matches, by a heap).
    Postings,
    /// A substring pattern on a small reseller: every name checked.
    ScanNames,
}

impl Plan {
    pub fn choose(query: &ListQuery, has_postings: bool) -> Plan {
        if !query.customer_ids.is_empty() {
            return Plan::CustomerIds;
        }
        let order = Order::of(query.sort, query.order);
        let date_filtered = !query.created.is_unbounded();
        match query.name.as_ref().map(|pattern| (pattern, pattern.shape())) {
            Some((_, PatternShape::Contains(_) | PatternShape::General)) => {
                if has_postings {
                    Plan::Postings
                } else {
                    Plan::ScanNames
                }
            }
            Some((_, PatternShape::Exact(_) | PatternShape::Prefix(_))) if !date_filtered && order.by_name() => {
                Plan::MergeSlices
            }
            Some((_, PatternShape::Exact(_) | PatternShape::Prefix(_))) => Plan::FilterSlices,
            None | Some((_, PatternShape::Any)) if !date_filtered || !order.by_name() => Plan::MergeSlices,
            None | Some((_, PatternShape::Any)) => Plan::FilterSlices,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(query: &str, has_trigrams: bool) -> Plan {
        Plan::choose(&ListQuery::parse(query).unwrap(), has_trigrams)
    }

    #[test]
    fn each_query_shape_has_its_plan() {
        assert_eq!(plan("", true), Plan::MergeSlices);
        assert_eq!(plan("status=1000&status=1002&offset=500", true), Plan::MergeSlices);
        assert_eq!(plan("from-created-date=2020-01-01", true), Plan::MergeSlices);
        assert_eq!(plan("name=*", true), Plan::MergeSlices);
        assert_eq!(plan("name=north*&sort-by=companyName", true), Plan::MergeSlices);
        assert_eq!(
            plan("name=Acme&sort-by=companyName&order-by=asc", true),
            Plan::MergeSlices
        );
        assert_eq!(plan("name=north*", true), Plan::FilterSlices);
        assert_eq!(
            plan("name=north*&sort-by=companyName&to-created-date=2020-01-01", true),
            Plan::FilterSlices
        );
        assert_eq!(
            plan("sort-by=companyName&from-created-date=2020-01-01", true),
            Plan::FilterSlices
        );
        assert_eq!(plan("name=*tec*", true), Plan::Postings);
        assert_eq!(plan("name=*a*b*c*tech*", true), Plan::Postings);
        assert_eq!(plan("name=*gmbh", true), Plan::Postings);
        assert_eq!(plan("name=*a*", true), Plan::Postings);
        assert_eq!(plan("name=*tec*", false), Plan::ScanNames);
        assert_eq!(plan("name=*a*", false), Plan::ScanNames);
        assert_eq!(plan("customer-id=C1&name=*tec*", true), Plan::CustomerIds);
    }
}
