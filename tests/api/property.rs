//! Listing against a reference: random portfolios and random queries
//! (filters, sorts, offsets, limits, wildcard names with tricky characters)
//! answered by the real store and catalog, and by a plain in-memory
//! implementation of SPEC §2 written here from the text.

use std::cmp::Ordering;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use proptest::prelude::*;
use roster::catalog::{Catalog, CatalogOptions, Items, Plan};
use roster::domain::{ListQuery, fold};
use roster::http::reseller_customers::page_body;
use serde_json::{Value, json};

use crate::support::{TestDatabase, customer, import, served};

/// Name pieces chosen to trip folding and matching: case pairs, simple vs
/// full folding (ß/ẞ/SS, İ, ſ, Kelvin sign, final sigma), wildcard and SQL
/// metacharacters, spaces.
const PIECES: &[&str] = &[
    "acme", "ACME", "Acme", "straße", "STRASSE", "ẞ", "ß", "Σ", "σ", "ς", "ſ", "s", "K", "k", "\u{212A}", "İ", "i",
    "ı", "é", "É", "*", "\\", "%", "_", "?", " ", "a", "b", "Ω",
];
const STATUSES: &[&str] = &["1000", "1002", "1004", "1010", "1012", "1014", "1026"];
/// Few distinct instants, so ties on creationDate are common.
const INSTANTS: &[i64] = &[
    1_600_000_000,
    1_600_000_001,
    1_650_000_000,
    1_700_000_000,
    1_700_086_399,
];

#[derive(Debug, Clone)]
struct Customer {
    id: String,
    reseller: &'static str,
    status: &'static str,
    name: String,
    created: i64,
}

impl Customer {
    fn json(&self) -> Value {
        customer(&self.id, self.reseller, self.status, &self.name, &iso(self.created))
    }
}

fn iso(seconds: i64) -> String {
    roster::domain::customer::format_creation_date(seconds)
}

/// A pattern as a list of tokens: a star, or one literal character.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Star,
    Char(char),
}

#[derive(Debug, Clone)]
struct Query {
    statuses: Vec<&'static str>,
    customer_ids: Vec<String>,
    name: Option<Vec<Token>>,
    /// The raw `name` value, as a partner would write it.
    raw_name: Option<String>,
    from: Option<(i64, String)>,
    to: Option<(i64, String)>,
    offset: u64,
    limit: u64,
    sort: &'static str,
    order: &'static str,
}

fn name_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 1..4).prop_map(|pieces| {
        let name = pieces.concat();
        if name.trim().is_empty() {
            format!("x{name}")
        } else {
            name
        }
    })
}

fn customers_strategy() -> impl Strategy<Value = Vec<Customer>> {
    prop::collection::vec(
        (
            prop::sample::select(&["R1", "R2"][..]),
            prop_oneof![2 => Just("1000"), 1 => prop::sample::select(STATUSES)],
            name_strategy(),
            prop::sample::select(INSTANTS),
        ),
        0..60,
    )
    .prop_map(|rows| {
        rows.into_iter()
            .enumerate()
            .map(|(i, (reseller, status, name, created))| Customer {
                // Ids of different lengths: "C10" sorts before "C9" by bytes.
                id: format!("C{}", (i * 7) % 41),
                reseller,
                status,
                name,
                created,
            })
            .collect::<Vec<_>>()
    })
    .prop_map(|mut rows| {
        rows.sort_by(|a, b| a.id.cmp(&b.id));
        rows.dedup_by(|a, b| a.id == b.id);
        rows
    })
}

/// A pattern built from pieces and stars, written with escapes where a
/// literal `*` or `\` needs one (and sometimes where none is needed).
fn pattern_strategy() -> impl Strategy<Value = (Vec<Token>, String)> {
    prop::collection::vec(
        prop_oneof![
            1 => Just(None),
            3 => prop::sample::select(PIECES).prop_map(Some),
        ],
        1..4,
    )
    .prop_flat_map(|parts| (Just(parts), prop::collection::vec(any::<bool>(), 16)))
    .prop_map(|(parts, escape_anyway)| {
        let mut tokens = Vec::new();
        let mut raw = String::new();
        let mut coin = escape_anyway.into_iter().cycle();
        for part in parts {
            match part {
                None => {
                    tokens.push(Token::Star);
                    raw.push('*');
                }
                Some(piece) => {
                    for c in piece.chars() {
                        tokens.push(Token::Char(c));
                        if c == '*' || c == '\\' || coin.next().unwrap() {
                            raw.push('\\');
                        }
                        raw.push(c);
                    }
                }
            }
        }
        (tokens, raw)
    })
}

/// A pattern cut from a name in the data: its first characters, maybe with
/// stars around them and the case flipped, so exact and prefix matches hit
/// names that extend them.
fn pattern_from(names: Vec<String>) -> impl Strategy<Value = (Vec<Token>, String)> {
    (
        prop::sample::select(names),
        0usize..6,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(name, keep, lead, trail, upper)| {
            let chars: Vec<char> = name.chars().collect();
            let kept: String = chars[..keep.clamp(1, chars.len())].iter().collect();
            let kept = if upper { kept.to_uppercase() } else { kept };
            let mut tokens = Vec::new();
            let mut raw = String::new();
            if lead {
                tokens.push(Token::Star);
                raw.push('*');
            }
            for c in kept.chars() {
                tokens.push(Token::Char(c));
                if c == '*' || c == '\\' {
                    raw.push('\\');
                }
                raw.push(c);
            }
            if trail {
                tokens.push(Token::Star);
                raw.push('*');
            }
            (tokens, raw)
        })
}

/// A bound as an instant and as a partner would write it: a date or an
/// RFC 3339 timestamp (UTC or with an offset).
fn bound_strategy(is_to: bool) -> impl Strategy<Value = (i64, String)> {
    (prop::sample::select(INSTANTS), -2i64..=2, 0u8..3).prop_map(move |(instant, nudge, form)| {
        let at = instant + nudge;
        let date = &iso(at)[..10];
        match form {
            0 => {
                let midnight = at - at.rem_euclid(86_400);
                (if is_to { midnight + 86_399 } else { midnight }, date.to_owned())
            }
            1 => (at, iso(at)),
            _ => {
                let shifted = iso(at + 3_600);
                (at, format!("{}+01:00", &shifted[..19]))
            }
        }
    })
}

fn query_strategy(names: Vec<String>) -> impl Strategy<Value = Query> {
    let pattern = if names.is_empty() {
        pattern_strategy().boxed()
    } else {
        prop_oneof![pattern_strategy(), pattern_from(names)].boxed()
    };
    (
        prop::collection::vec(prop::sample::select(STATUSES), 0..3),
        prop::collection::vec((0usize..41).prop_map(|n| format!("C{n}")), 0..3),
        prop::option::weighted(0.6, pattern),
        prop::option::weighted(0.3, bound_strategy(false)),
        prop::option::weighted(0.3, bound_strategy(true)),
        prop_oneof![3 => 0u64..5, 1 => 0u64..45],
        prop_oneof![1 => 1u64..4, 1 => 1u64..=50],
        prop::sample::select(&["creationDate", "companyName"][..]),
        prop::sample::select(&["asc", "desc"][..]),
    )
        .prop_map(
            |(statuses, customer_ids, name, from, to, offset, limit, sort, order)| Query {
                statuses,
                customer_ids,
                raw_name: name.as_ref().map(|(_, raw)| raw.clone()),
                name: name.map(|(tokens, _)| tokens),
                from,
                to,
                offset,
                limit,
                sort,
                order,
            },
        )
}

impl Query {
    fn query_string(&self) -> String {
        let mut params: Vec<(&str, String)> = Vec::new();
        params.extend(self.statuses.iter().map(|s| ("status", s.to_string())));
        params.extend(self.customer_ids.iter().map(|id| ("customer-id", id.clone())));
        if let Some(raw) = &self.raw_name {
            params.push(("name", raw.clone()));
        }
        if let Some((_, from)) = &self.from {
            params.push(("from-created-date", from.clone()));
        }
        if let Some((_, to)) = &self.to {
            params.push(("to-created-date", to.clone()));
        }
        params.push(("offset", self.offset.to_string()));
        params.push(("limit", self.limit.to_string()));
        params.push(("sort-by", self.sort.to_owned()));
        params.push(("order-by", self.order.to_owned()));
        params
            .iter()
            .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, NON_ALPHANUMERIC)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// SPEC §2, written out plainly: filter, sort, page.
    fn reference(&self, customers: &[Customer], reseller: &str) -> Value {
        let statuses: Vec<&str> = if self.statuses.is_empty() {
            vec!["1000"]
        } else {
            self.statuses.clone()
        };
        let mut rows: Vec<&Customer> = customers
            .iter()
            .filter(|c| c.reseller == reseller && statuses.contains(&c.status))
            .filter(|c| self.customer_ids.is_empty() || self.customer_ids.contains(&c.id))
            .filter(|c| self.name.as_ref().is_none_or(|p| glob(p, &c.name)))
            .filter(|c| self.from.as_ref().is_none_or(|(f, _)| c.created >= *f))
            .filter(|c| self.to.as_ref().is_none_or(|(t, _)| c.created <= *t))
            .collect();
        rows.sort_by(|a, b| {
            let key = match self.sort {
                "creationDate" => a.created.cmp(&b.created),
                _ => code_points(&a.name).cmp(&code_points(&b.name)),
            };
            let key = if self.order == "desc" { key.reverse() } else { key };
            key.then_with(|| a.id.as_bytes().cmp(b.id.as_bytes()))
        });
        let page: Vec<Value> = rows
            .iter()
            .skip(self.offset as usize)
            .take(self.limit as usize)
            .map(|c| served(&c.json()))
            .collect();
        json!({
            "totalCount": rows.len(),
            "count": page.len(),
            "offset": self.offset,
            "limit": self.limit,
            "customers": page,
        })
    }
}

/// The simple-case-folded name as code points.
fn code_points(name: &str) -> Vec<u32> {
    fold(name).chars().map(u32::from).collect()
}

/// Whole-name match of a star pattern, case-insensitively, by dynamic
/// programming over characters.
fn glob(pattern: &[Token], name: &str) -> bool {
    let name: Vec<char> = fold(name).chars().collect();
    let folded = |c: char| fold(&c.to_string()).chars().next().unwrap();
    let mut reachable = vec![false; name.len() + 1];
    reachable[0] = true;
    for token in pattern {
        let mut next = vec![false; name.len() + 1];
        match token {
            Token::Star => {
                let mut any = false;
                for i in 0..=name.len() {
                    any |= reachable[i];
                    next[i] = any;
                }
            }
            Token::Char(c) => {
                for i in 0..name.len() {
                    next[i + 1] = reachable[i] && name[i] == folded(*c);
                }
            }
        }
        reachable = next;
    }
    reachable[name.len()]
}

/// Imports `customers`, loads two catalogs (with trigram postings on every
/// reseller, and on none), then imports `changes` (upserts: renames, moves,
/// new customers) and lets both catalogs apply them live. Every query is
/// then answered by both exactly as the reference answers it on the data
/// after the changes.
fn check(customers: Vec<Customer>, changes: Vec<Customer>, queries: Vec<Query>) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let database = TestDatabase::new();
        let store = roster::store::open(&database.url).await.unwrap();
        if !customers.is_empty() {
            let values: Vec<Value> = customers.iter().map(Customer::json).collect();
            import(store.as_ref(), &values).await;
        }
        let mut catalogs = Vec::new();
        for trigram_min in [0, usize::MAX] {
            let options = CatalogOptions {
                trigram_min,
                ..CatalogOptions::default()
            };
            catalogs.push(Catalog::load_with(store.clone(), options).await.unwrap());
        }
        let mut customers = customers;
        if !changes.is_empty() {
            let values: Vec<Value> = changes.iter().map(Customer::json).collect();
            let generation = import(store.as_ref(), &values).await.generation;
            for catalog in &catalogs {
                prop_assert_eq!(catalog.refresh().await.unwrap(), generation);
            }
            for change in changes {
                customers.retain(|c| c.id != change.id);
                customers.push(change);
            }
        }
        for query in queries {
            let string = query.query_string();
            if let (Some((from, _)), Some((to, _))) = (&query.from, &query.to)
                && from > to
            {
                prop_assert_eq!(
                    ListQuery::parse(&string),
                    Err(vec!["from-created-date: must not be after to-created-date".to_owned()])
                );
                continue;
            }
            let parsed = ListQuery::parse(&string).map_err(|e| TestCaseError::fail(format!("{string}: {e:?}")))?;
            for reseller in ["R1", "R2"] {
                let expected = query.reference(&customers, reseller);
                for catalog in &catalogs {
                    let page: Value =
                        serde_json::from_slice(&page_body(catalog, reseller, &parsed, Items::Records)).unwrap();
                    prop_assert_eq!(&page, &expected, "{} on {}", string, reseller);
                }
            }
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn listing_matches_the_reference(
        (customers, changes, queries) in (customers_strategy(), customers_strategy()).prop_flat_map(|(customers, changes)| {
            let names = customers.iter().chain(&changes).map(|c| c.name.clone()).collect();
            // Half the cases change nothing after the catalogs load.
            let changes = prop_oneof![Just(Vec::new()), Just(changes.into_iter().take(12).collect::<Vec<_>>())];
            (Just(customers), changes, prop::collection::vec(query_strategy(names), 1..12))
        }),
    ) {
        check(customers, changes, queries)?;
    }
}

/// The property above checks answers, not routes: this makes sure the
/// queries it draws take every plan, with postings and without, so a plan
/// no generated query reaches cannot hide a wrong answer.
#[test]
fn the_generated_queries_take_every_plan() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use std::collections::BTreeSet;

    let names = vec!["Acme Straße".to_owned(), "ACME".to_owned(), "b*a\\ Ω".to_owned()];
    let strategy = query_strategy(names);
    let mut runner = TestRunner::deterministic();
    let mut seen = BTreeSet::new();
    for _ in 0..2_000 {
        let query = strategy.new_tree(&mut runner).unwrap().current();
        let Ok(parsed) = ListQuery::parse(&query.query_string()) else {
            continue;
        };
        for has_postings in [true, false] {
            seen.insert(format!("{:?}", Plan::choose(&parsed, has_postings)));
        }
    }
    let every = ["CustomerIds", "FilterSlices", "MergeSlices", "Postings", "ScanNames"];
    assert_eq!(seen, every.iter().map(|plan| plan.to_string()).collect::<BTreeSet<_>>());
}

#[test]
fn the_reference_matcher_agrees_with_the_spec_examples() {
    let tokens = |s: &str| -> Vec<Token> {
        s.chars()
            .map(|c| if c == '*' { Token::Star } else { Token::Char(c) })
            .collect()
    };
    assert!(glob(&tokens("Acme"), "ACME"));
    assert!(!glob(&tokens("Acme"), "Acme Inc"));
    assert!(glob(&tokens("Acme*"), "acme inc"));
    assert!(glob(&tokens("*acme*"), "The ACME Co"));
    assert_eq!(
        code_points("b").cmp(&code_points("A")),
        Ordering::Greater,
        "sorting compares folded names"
    );
}
