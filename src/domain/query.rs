//! The list query of SPEC §2 as one typed value, parsed in one place.
//!
//! Every problem is collected (not first-fail) so a partner sees all of them
//! in one 400 1132; each names its parameter, in query-string order.

use std::collections::{BTreeSet, HashMap};

use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime};

use super::form::{self, FormPair};
use super::pattern::{NamePattern, PatternError};
use super::status::{Status, StatusSet};

/// A page size, 1..=50.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(u8);

impl Limit {
    pub const MAX: u8 = 50;
    pub const DEFAULT: Limit = Limit(20);

    pub fn new(value: u64) -> Option<Self> {
        (1..=u64::from(Self::MAX))
            .contains(&value)
            .then_some(Limit(value as u8))
    }

    pub fn get(self) -> usize {
        usize::from(self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    #[default]
    CreationDate,
    CompanyName,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    Asc,
    #[default]
    Desc,
}

/// Inclusive bounds on `creationDate`, in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CreatedRange {
    pub from: Option<i64>,
    pub to: Option<i64>,
}

impl CreatedRange {
    pub fn is_unbounded(&self) -> bool {
        self.from.is_none() && self.to.is_none()
    }

    pub fn contains(&self, created: i64) -> bool {
        self.from.is_none_or(|from| created >= from) && self.to.is_none_or(|to| created <= to)
    }
}

/// `GET /v3/resellers/{reseller_id}/customers`'s query, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub statuses: StatusSet,
    /// `customer-id` values; empty means no filter.
    pub customer_ids: BTreeSet<String>,
    pub name: Option<NamePattern>,
    pub created: CreatedRange,
    pub offset: u64,
    pub limit: Limit,
    pub sort: SortKey,
    pub order: SortOrder,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            statuses: StatusSet::default(),
            customer_ids: BTreeSet::new(),
            name: None,
            created: CreatedRange::default(),
            offset: 0,
            limit: Limit::DEFAULT,
            sort: SortKey::default(),
            order: SortOrder::default(),
        }
    }
}

/// Parameters that may be given more than once.
const REPEATABLE: [&str; 2] = ["status", "customer-id"];
/// Every parameter SPEC §2 knows.
pub const PARAMETERS: [&str; 10] = [
    "status",
    "customer-id",
    "name",
    "company-name",
    "from-created-date",
    "to-created-date",
    "offset",
    "limit",
    "sort-by",
    "order-by",
];

const STATUS_PROBLEM: &str = "must be one of 1000, 1002, 1004, 1010, 1012, 1014, 1026";
const DATE_PROBLEM: &str = "must be a date (YYYY-MM-DD) or an RFC 3339 timestamp";

impl ListQuery {
    /// Parses a raw query string (without `?`); `Err` holds every problem as
    /// an `additionalDetails` line, `"<parameter>: <why>"`.
    pub fn parse(raw_query: &str) -> Result<Self, Vec<String>> {
        Self::from_pairs(form::pairs(raw_query))
    }

    fn from_pairs(pairs: Vec<FormPair>) -> Result<Self, Vec<String>> {
        // Group values by parameter, keeping first-appearance order so the
        // problems come out in the order the partner wrote them. A known
        // parameter finds its group through its own slot, an unknown one
        // through a map (empty, so free, for a partner's usual query): linear
        // in the number of pairs, so that a query of thousands of parameters
        // costs what its length does (docs/DECISIONS.md, "Hostile input").
        let mut groups: Vec<(String, Vec<Result<String, form::NotUtf8>>)> = Vec::new();
        let mut known: [Option<usize>; PARAMETERS.len()] = [None; PARAMETERS.len()];
        let mut unknown: HashMap<String, usize> = HashMap::new();
        for (key, value) in pairs {
            let slot = PARAMETERS.iter().position(|name| *name == key);
            let group = match slot {
                Some(slot) => known[slot],
                None => unknown.get(&key).copied(),
            };
            match group {
                Some(at) => groups[at].1.push(value),
                None => {
                    match slot {
                        Some(slot) => known[slot] = Some(groups.len()),
                        None => _ = unknown.insert(key.clone(), groups.len()),
                    }
                    groups.push((key, vec![value]));
                }
            }
        }

        let mut query = ListQuery::default();
        let mut problems = Vec::new();
        let mut from_instant = None;
        let mut to_instant = None;
        let mut name_given_as = None;
        let mut statuses: Option<StatusSet> = None;

        for (key, values) in &groups {
            let problem = |why: &str| format!("{key}: {why}");
            if !PARAMETERS.contains(&key.as_str()) {
                problems.push(problem("unknown parameter"));
                continue;
            }
            if values.len() > 1 && !REPEATABLE.contains(&key.as_str()) {
                problems.push(problem("must not be repeated"));
                continue;
            }
            let mut reported = false;
            for value in values {
                let value = match value {
                    Err(form::NotUtf8) => Err("must be valid UTF-8"),
                    Ok(v) if v.is_empty() => Err("must not be empty"),
                    Ok(v) => Ok(v.as_str()),
                };
                let outcome = value.and_then(|value| match key.as_str() {
                    "status" => Status::parse(value).ok_or(STATUS_PROBLEM).map(|status| {
                        statuses = Some(match statuses {
                            Some(set) => set.with(status),
                            None => StatusSet::only(status),
                        });
                    }),
                    "customer-id" => {
                        query.customer_ids.insert(value.to_owned());
                        Ok(())
                    }
                    "name" | "company-name" => {
                        name_given_as.get_or_insert(key.as_str());
                        NamePattern::parse(value)
                            .map(|pattern| query.name = Some(pattern))
                            .map_err(|PatternError::TrailingBackslash| {
                                "must not end with a lone backslash (write \\\\ for a backslash)"
                            })
                    }
                    "from-created-date" => parse_instant(value, DayEdge::Start)
                        .map(|nanos| from_instant = Some(nanos))
                        .ok_or(DATE_PROBLEM),
                    "to-created-date" => parse_instant(value, DayEdge::End)
                        .map(|nanos| to_instant = Some(nanos))
                        .ok_or(DATE_PROBLEM),
                    "offset" => parse_digits(value)
                        .map(|offset| query.offset = offset)
                        .ok_or("must be an integer of 0 or more"),
                    "limit" => parse_digits(value)
                        .and_then(Limit::new)
                        .map(|limit| query.limit = limit)
                        .ok_or("must be between 1 and 50"),
                    "sort-by" => match value {
                        "creationDate" => Ok(SortKey::CreationDate),
                        // The family's first published spelling of it.
                        "companyName" | "companyProfile.companyName" => Ok(SortKey::CompanyName),
                        _ => Err("must be creationDate or companyName"),
                    }
                    .map(|sort| query.sort = sort),
                    // In any letter case: the family's own samples write `ASC`.
                    "order-by" => match value.to_ascii_lowercase().as_str() {
                        "asc" => Ok(SortOrder::Asc),
                        "desc" => Ok(SortOrder::Desc),
                        _ => Err("must be asc or desc"),
                    }
                    .map(|order| query.order = order),
                    _ => unreachable!("every known parameter is handled"),
                });
                if let Err(why) = outcome
                    && !reported
                {
                    problems.push(problem(why));
                    reported = true;
                }
            }
        }

        let has = |key: &str| {
            PARAMETERS
                .iter()
                .position(|name| *name == key)
                .is_some_and(|slot| known[slot].is_some())
        };
        if has("name") && has("company-name") {
            problems.push("company-name: must not be combined with name (they are the same filter)".into());
        }
        if let (Some(from), Some(to)) = (from_instant, to_instant)
            && from > to
        {
            problems.push("from-created-date: must not be after to-created-date".into());
        }

        if !problems.is_empty() {
            return Err(problems);
        }
        query.statuses = statuses.unwrap_or_default();
        // Stored creation dates are whole seconds, so `created >= from` is
        // `created >= ceil(from)` and `created <= to` is `created <= floor(to)`.
        // RFC 3339 years stop at 9999: the seconds always fit in an i64.
        query.created = CreatedRange {
            from: from_instant.map(|n| (n.div_euclid(NANOS) + i128::from(n.rem_euclid(NANOS) != 0)) as i64),
            to: to_instant.map(|n| n.div_euclid(NANOS) as i64),
        };
        Ok(query)
    }
}

const NANOS: i128 = 1_000_000_000;

#[derive(Clone, Copy)]
enum DayEdge {
    Start,
    End,
}

/// A non-empty run of ASCII digits (no sign, no spaces), as an integer.
fn parse_digits(value: &str) -> Option<u64> {
    if value.bytes().all(|b| b.is_ascii_digit()) {
        value.parse().ok()
    } else {
        None
    }
}

/// `YYYY-MM-DD` (the start or the last second of that UTC day) or an RFC 3339
/// timestamp, as Unix nanoseconds.
fn parse_instant(value: &str, edge: DayEdge) -> Option<i128> {
    if let Some(date) = parse_date(value) {
        let midnight = date.midnight().assume_utc().unix_timestamp_nanos();
        return Some(match edge {
            DayEdge::Start => midnight,
            DayEdge::End => midnight + (86_399 * NANOS),
        });
    }
    OffsetDateTime::parse(value, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp_nanos)
}

/// Strict `YYYY-MM-DD`, a real calendar day.
pub fn parse_date(value: &str) -> Option<Date> {
    let bytes = value.as_bytes();
    let shape_ok = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shape_ok {
        return None;
    }
    let year: i32 = value[0..4].parse().ok()?;
    let month: u8 = value[5..7].parse().ok()?;
    let day: u8 = value[8..10].parse().ok()?;
    Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(raw: &str) -> Vec<String> {
        ListQuery::parse(raw).unwrap_err()
    }

    #[test]
    fn defaults() {
        assert_eq!(ListQuery::parse("").unwrap(), ListQuery::default());
        let q = ListQuery::default();
        assert_eq!(
            (q.offset, q.limit.get(), q.sort, q.order),
            (0, 20, SortKey::CreationDate, SortOrder::Desc)
        );
        assert_eq!(q.statuses, StatusSet::only(Status::ACTIVE));
    }

    #[test]
    fn every_parameter() {
        let q = ListQuery::parse(
            "status=1002&status=1026&customer-id=C1&customer-id=C2&company-name=Acme*&from-created-date=2024-01-01\
             &to-created-date=2024-12-31T12:00:00%2B02:00&offset=40&limit=50&sort-by=companyName&order-by=asc",
        )
        .unwrap();
        assert_eq!(
            q.statuses.iter().map(Status::code).collect::<Vec<_>>(),
            ["1002", "1026"]
        );
        assert_eq!(q.customer_ids.iter().collect::<Vec<_>>(), ["C1", "C2"]);
        assert_eq!(q.name, Some(NamePattern::parse("acme*").unwrap()));
        assert_eq!(q.created.from, Some(1_704_067_200));
        assert_eq!(q.created.to, Some(1_735_639_200));
        assert_eq!((q.offset, q.limit.get()), (40, 50));
        assert_eq!((q.sort, q.order), (SortKey::CompanyName, SortOrder::Asc));
    }

    /// Unknown parameters, however many, are each named once, in the order
    /// they first appear, among the known parameters' problems.
    #[test]
    fn every_unknown_parameter_is_named_once_in_order() {
        let mut raw: Vec<String> = (0..3000).map(|i| format!("p{i}=x")).collect();
        raw.insert(1, "limit=0".into());
        raw.push("p0=y".into());
        raw.push("limit=2".into());
        let problems = ListQuery::parse(&raw.join("&")).unwrap_err();
        assert_eq!(problems.len(), 3001);
        assert_eq!(
            problems[..3],
            [
                "p0: unknown parameter",
                "limit: must not be repeated",
                "p1: unknown parameter"
            ]
        );
        assert_eq!(problems[3000], "p2999: unknown parameter");
    }

    /// The spellings of the family's own documentation (SPEC §2).
    #[test]
    fn the_familys_spellings_of_sort_and_order() {
        for (raw, sort, order) in [
            (
                "sort-by=companyProfile.companyName&order-by=ASC",
                SortKey::CompanyName,
                SortOrder::Asc,
            ),
            (
                "sort-by=companyName&order-by=Desc",
                SortKey::CompanyName,
                SortOrder::Desc,
            ),
            ("order-by=aSc", SortKey::CreationDate, SortOrder::Asc),
        ] {
            let q = ListQuery::parse(raw).unwrap();
            assert_eq!((q.sort, q.order), (sort, order), "{raw}");
        }
        assert_eq!(
            ListQuery::parse("sort-by=companyprofile.companyname&order-by=ascending"),
            Err(vec![
                "sort-by: must be creationDate or companyName".to_owned(),
                "order-by: must be asc or desc".to_owned()
            ])
        );
    }

    #[test]
    fn date_only_bounds_cover_whole_days() {
        let q = ListQuery::parse("from-created-date=2025-07-29&to-created-date=2025-07-29").unwrap();
        assert_eq!(q.created.from, Some(1_753_747_200));
        assert_eq!(q.created.to, Some(1_753_747_200 + 86_399));
        // Fractions round inwards: the bounds stay inclusive of whole seconds.
        let q = ListQuery::parse("from-created-date=2025-07-29T00:00:00.5Z&to-created-date=2025-07-29T00:00:09.9Z")
            .unwrap();
        assert_eq!(
            (q.created.from, q.created.to),
            (Some(1_753_747_201), Some(1_753_747_209))
        );
    }

    #[test]
    fn collects_every_problem_in_order() {
        assert_eq!(
            problems("limit=0&foo=1&status=9&offset=-1&sort-by=name&order-by=up&name="),
            [
                "limit: must be between 1 and 50",
                "foo: unknown parameter",
                "status: must be one of 1000, 1002, 1004, 1010, 1012, 1014, 1026",
                "offset: must be an integer of 0 or more",
                "sort-by: must be creationDate or companyName",
                "order-by: must be asc or desc",
                "name: must not be empty",
            ]
        );
    }

    #[test]
    fn repeats_empties_and_combinations() {
        assert_eq!(problems("limit=5&limit=6"), ["limit: must not be repeated"]);
        assert_eq!(problems("status=1000&status="), ["status: must not be empty"]);
        assert_eq!(problems("customer-id="), ["customer-id: must not be empty"]);
        assert_eq!(
            problems("name=a&company-name=b"),
            ["company-name: must not be combined with name (they are the same filter)"]
        );
        assert_eq!(
            problems("from-created-date=2025-02-01&to-created-date=2025-01-31"),
            ["from-created-date: must not be after to-created-date"]
        );
        assert_eq!(
            problems(r"name=abc%5C"),
            [r"name: must not end with a lone backslash (write \\ for a backslash)"]
        );
        assert_eq!(problems("name=%FF"), ["name: must be valid UTF-8"]);
        assert_eq!(problems("Limit=5"), ["Limit: unknown parameter"]);
    }

    #[test]
    fn numbers_and_dates_are_strict() {
        for bad in ["limit=51", "limit=+5", "limit=%205", "limit=1.0", "limit=abc"] {
            assert_eq!(problems(bad), ["limit: must be between 1 and 50"], "{bad}");
        }
        assert_eq!(problems("offset=1e3"), ["offset: must be an integer of 0 or more"]);
        assert_eq!(
            problems("offset=99999999999999999999999"),
            ["offset: must be an integer of 0 or more"]
        );
        for bad in ["2025-7-1", "2025-02-30", "20250101", "2025-01-01T00:00:00", "yesterday"] {
            assert_eq!(
                problems(&format!("from-created-date={bad}")),
                ["from-created-date: must be a date (YYYY-MM-DD) or an RFC 3339 timestamp"],
                "{bad}"
            );
        }
        assert_eq!(
            ListQuery::parse("offset=0018446744073709551615").unwrap().offset,
            u64::MAX
        );
        assert_eq!(
            ListQuery::parse("status=1000&status=1000").unwrap().statuses,
            StatusSet::default()
        );
    }
}
