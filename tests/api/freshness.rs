//! SPEC §8: writes show within a second on every instance, without a
//! rebuild; a page never mixes data from before and after a write; an
//! instance that follows the change log answers exactly like one built
//! afresh, whatever it missed or skipped.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use roster::catalog::{Catalog, CatalogOptions, Items};
use roster::domain::{CustomerRecord, ListQuery};
use roster::generate::{Generator, Plan, reseller_id};
use roster::http::reseller_customers::page_body;
use roster::store::{self, Changes};
use serde_json::{Value, json};

use crate::cli::{http, roster_json, serve_limited, write_file};
use crate::support::{TestDatabase, TestServer, customer, import, test_config};

/// `count` customers of reseller `R1`, each tagged with `version` in its
/// externalReferenceId: one import of them is one write changing them all.
fn versioned(count: usize, version: usize) -> Vec<Value> {
    (0..count)
        .map(|i| {
            let mut value = customer(
                &format!("C{i:04}"),
                "R1",
                "1000",
                &format!("Name {i:04}"),
                "2025-01-01T00:00:00Z",
            );
            value["externalReferenceId"] = json!(format!("v{version}"));
            value
        })
        .collect()
}

/// Pages through R1 while imports rewrite every customer, checking that each
/// page shows one version only, that the count never changes and that
/// versions never go back.
async fn pages_never_mix_versions(customers: usize) {
    let server = TestServer::start_with(test_config(), &versioned(customers, 0)).await;
    let partner = server.client("*").await;
    let writes = 12;
    let store = server.store.clone();
    let writer = async move {
        for version in 1..=writes {
            import(store.as_ref(), &versioned(customers, version)).await;
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    };
    let reader = async {
        let mut seen_latest = 0;
        let mut pages = 0;
        while seen_latest < writes {
            for offset in (0..customers).step_by(50) {
                let response = server
                    .get_as(
                        &partner,
                        &format!("/v3/resellers/R1/customers?limit=50&offset={offset}"),
                    )
                    .await;
                let page = response.json();
                assert_eq!(page["totalCount"], customers, "{page}");
                let versions: Vec<usize> = page["customers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["externalReferenceId"].as_str().unwrap()[1..].parse().unwrap())
                    .collect();
                assert!(
                    versions.iter().all(|v| *v == versions[0]),
                    "a page mixed versions {versions:?}"
                );
                assert!(
                    versions[0] >= seen_latest,
                    "went back from v{seen_latest} to v{}",
                    versions[0]
                );
                seen_latest = versions[0];
                pages += 1;
            }
        }
        pages
    };
    let ((), pages) = tokio::join!(writer, reader);
    assert!(
        pages > writes,
        "the reader paged while the writes went on ({pages} pages)"
    );
}

#[tokio::test]
async fn a_page_shows_a_write_entirely_or_not_at_all_changed_in_place() {
    // Fewer changes than the copy threshold: the reseller changes in place.
    pages_never_mix_versions(40).await;
}

#[tokio::test]
async fn a_page_shows_a_write_entirely_or_not_at_all_changed_on_a_copy() {
    pages_never_mix_versions(150).await;
}

/// Random-looking but deterministic writes that build on each other
/// (`model` holds every customer as last written): renames, moves between
/// resellers, status changes, new dates, new customers. Picks from a pool
/// of a few hundred, so customers change many times and move back and forth.
fn write_batch(round: usize, model: &mut Vec<Value>) -> Vec<Value> {
    let pool = 400;
    (0..25)
        .map(|k| {
            let i = (round * 37 + k * 101) % (pool + 12);
            let value = if i < pool {
                &mut model[i]
            } else {
                let id = format!("NEW{}", i - pool);
                match model.iter().position(|v| v["customerId"] == id.as_str()) {
                    Some(at) => &mut model[at],
                    None => {
                        model.push(customer(
                            &id,
                            &reseller_id(0),
                            "1000",
                            "Fresh Start",
                            "2026-01-01T00:00:00Z",
                        ));
                        model.last_mut().unwrap()
                    }
                }
            };
            match (round + k) % 4 {
                0 => value["companyProfile"]["companyName"] = json!(format!("Renamed {round} {k} Tech")),
                1 => value["resellerId"] = json!(reseller_id(((round * 3 + k) % 5) as u32)),
                2 => value["status"] = json!(["1000", "1002", "1004", "1012"][(round + k) % 4]),
                _ => value["creationDate"] = json!(format!("20{:02}-03-04T05:06:07Z", 10 + (round + k) % 15)),
            }
            value.clone()
        })
        .collect()
}

/// Queries covering every plan, over a few resellers; `ids` for the
/// `customer-id` filter.
fn probes(ids: &[&str]) -> Vec<(String, String)> {
    let by_id = ids.iter().map(|id| format!("customer-id={id}&")).collect::<String>();
    let queries = [
        "limit=50",
        "status=1000&status=1002&status=1004&status=1012&sort-by=companyName&order-by=asc&limit=50&offset=10",
        "name=renamed*&sort-by=companyName&limit=50",
        "name=*tech*&status=1000&status=1002&limit=50",
        "name=*a*&from-created-date=2015-01-01&limit=50&offset=7",
        "from-created-date=2012-01-01&to-created-date=2020-12-31&order-by=asc&limit=50",
    ];
    let by_id = format!("{by_id}status=1000&status=1002&status=1004&status=1012&sort-by=companyName");
    (0..6u32)
        .flat_map(|rank| {
            queries
                .iter()
                .map(|q| q.to_string())
                .chain([by_id.clone()])
                .map(move |q| (reseller_id(rank), q))
        })
        .collect()
}

/// The customer ids the probes filter on: some of the generated ones, and
/// some that the writes create.
const PROBED_IDS: [&str; 5] = ["1000000001", "1000000017", "1000000100", "NEW3", "NEW9"];

async fn pages(catalog: &Catalog) -> BTreeMap<(String, String), String> {
    let mut pages = BTreeMap::new();
    for (reseller, query) in probes(&PROBED_IDS) {
        let body = page_body(catalog, &reseller, &ListQuery::parse(&query).unwrap(), Items::Records);
        pages.insert((reseller, query), String::from_utf8(body).unwrap());
    }
    pages
}

#[tokio::test]
async fn an_instance_started_during_a_stream_of_writes_answers_like_a_fresh_one() {
    let database = Arc::new(TestDatabase::new());
    let plan = Plan {
        customers: 3_000,
        resellers: 6,
        seed: 3,
    };
    let base: Vec<Value> = Generator::new(plan).collect();
    let store = store::open(&database.url).await.unwrap();
    import(store.as_ref(), &base).await;
    // Postings on every reseller, so their changes are followed too.
    let options = CatalogOptions {
        trigram_min: 0,
        ..CatalogOptions::default()
    };
    let early = TestServer::start_on(
        database.clone(),
        roster::app::AppConfig {
            catalog: options.clone(),
            ..test_config()
        },
    )
    .await;
    let mut late = None;
    let mut last = 0;
    let mut model = base.clone();
    for round in 0..30 {
        last = import(store.as_ref(), &write_batch(round, &mut model)).await.generation;
        if round == 12 {
            late = Some(TestServer::start_on(database.clone(), test_config()).await);
        }
    }
    let late = late.unwrap();
    early.wait_for(last).await;
    late.wait_for(last).await;
    let fresh = Catalog::load_with(store, options).await.unwrap();
    assert_eq!(fresh.generation(), last);
    let expected = pages(&fresh).await;
    assert!(
        expected.values().any(|page| page.contains("Renamed")),
        "the writes changed what is probed"
    );
    assert!(
        expected
            .iter()
            .any(|((_, query), page)| query.starts_with("customer-id") && page.contains("1000000017")),
        "the customer-id probes find customers"
    );
    assert_eq!(pages(&early.app.catalog).await, expected, "followed from the start");
    assert_eq!(pages(&late.app.catalog).await, expected, "started mid-stream");
}

#[tokio::test]
async fn a_trimmed_or_skipped_log_makes_a_follower_rebuild_and_answer_like_a_fresh_one() {
    let database = TestDatabase::new();
    let store = store::open(&database.url).await.unwrap();
    let plan = Plan {
        customers: 800,
        resellers: 6,
        seed: 9,
    };
    let base: Vec<Value> = Generator::new(plan).collect();
    import(store.as_ref(), &base).await;
    let follower = Catalog::load(store.clone()).await.unwrap();
    let mut model = base.clone();
    import(store.as_ref(), &write_batch(1, &mut model)).await;
    // As if the log had been trimmed past the follower's generation.
    database.execute("UPDATE roster_state SET log_start = generation");
    let generation = import(store.as_ref(), &write_batch(2, &mut model)).await.generation;
    assert!(matches!(
        store.changes_since(follower.generation(), 1_000_000).await.unwrap(),
        Changes::Rebuild
    ));
    assert_eq!(follower.refresh().await.unwrap(), generation);
    let fresh = Catalog::load(store.clone()).await.unwrap();
    assert_eq!(pages(&follower).await, pages(&fresh).await);
}

/// The record of `value` as the store gives it back.
fn record(value: &Value) -> CustomerRecord {
    CustomerRecord::from_json(value.clone()).unwrap()
}

#[tokio::test]
async fn the_change_log_gives_the_current_record_of_each_changed_customer() {
    let database = TestDatabase::new();
    let store = store::open(&database.url).await.unwrap();
    let start = store.generation().await.unwrap();
    let a = customer("A", "R1", "1000", "Alpha", "2025-01-01T00:00:00Z");
    let b = customer("B", "R1", "1000", "Beta", "2025-01-01T00:00:00Z");
    let first = import(store.as_ref(), &[a.clone(), b.clone()]).await;
    assert_eq!(first.generation, start + 1);
    let b2 = customer("B", "R2", "1002", "Beta Moved", "2025-01-02T00:00:00Z");
    let second = import(store.as_ref(), &[b2.clone(), b2.clone()]).await;
    assert_eq!((second.created, second.updated), (0, 2));

    let changes = |after| {
        let store = store.clone();
        async move { store.changes_since(after, 100).await.unwrap() }
    };
    let sorted = |mut records: Vec<CustomerRecord>| {
        records.sort_by(|x, y| x.customer_id.cmp(&y.customer_id));
        records
    };
    match changes(start).await {
        Changes::Since {
            generation,
            changed,
            removed,
        } => {
            assert_eq!(generation, second.generation);
            assert_eq!(
                sorted(changed),
                [record(&a), record(&b2)],
                "each customer once, as it is now"
            );
            assert!(removed.is_empty());
        }
        other => panic!("{other:?}"),
    }
    match changes(first.generation).await {
        Changes::Since { changed, .. } => assert_eq!(changed, [record(&b2)]),
        other => panic!("{other:?}"),
    }
    match changes(second.generation).await {
        Changes::Since {
            generation,
            changed,
            removed,
        } => assert_eq!((generation, changed.len(), removed.len()), (second.generation, 0, 0)),
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(store.changes_since(start, 1).await.unwrap(), Changes::Rebuild),
        "more than asked for"
    );
    assert!(
        matches!(changes(second.generation + 5).await, Changes::Rebuild),
        "a generation the database never reached (a restored backup)"
    );
    database.execute("UPDATE roster_state SET log_start = generation");
    assert!(matches!(changes(first.generation).await, Changes::Rebuild), "trimmed");
}

#[tokio::test]
async fn a_write_too_large_to_log_one_by_one_makes_followers_rebuild() {
    let database = TestDatabase::new();
    let store = store::open(&database.url).await.unwrap();
    let before = store.generation().await.unwrap();
    import(
        store.as_ref(),
        &[customer("A", "R1", "1000", "Alpha", "2025-01-01T00:00:00Z")],
    )
    .await;
    // What an import of more than CHANGE_LOG_MAX_CUSTOMERS records writes.
    database.execute("UPDATE generations SET logged = (1 = 0); DELETE FROM customer_changes;");
    assert!(matches!(
        store.changes_since(before, 1_000_000).await.unwrap(),
        Changes::Rebuild
    ));
}

/// A fresh catalog's answer for every probe, as the server answers it.
async fn served_pages(address: &str, headers: &str) -> BTreeMap<(String, String), Value> {
    let mut pages = BTreeMap::new();
    for (reseller, query) in probes(&[]) {
        let response = http(
            address,
            &format!(
                "GET /v3/resellers/{reseller}/customers?{query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n\r\n"
            ),
        );
        let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
        pages.insert((reseller, query), serde_json::from_str(body).unwrap_or(Value::Null));
    }
    pages
}

async fn expected_pages(database: &TestDatabase) -> BTreeMap<(String, String), Value> {
    let catalog = Catalog::load(store::open(&database.url).await.unwrap()).await.unwrap();
    let mut pages = BTreeMap::new();
    for ((reseller, query), body) in pages_of(&catalog, &probes(&[])).await {
        pages.insert((reseller, query), serde_json::from_str(&body).unwrap());
    }
    pages
}

async fn pages_of(catalog: &Catalog, probes: &[(String, String)]) -> Vec<((String, String), String)> {
    let mut out = Vec::new();
    for (reseller, query) in probes {
        let body = page_body(catalog, reseller, &ListQuery::parse(query).unwrap(), Items::Records);
        out.push(((reseller.clone(), query.clone()), String::from_utf8(body).unwrap()));
    }
    out
}

/// Polls until the server's pages equal `expected`, for at most `within`.
async fn converges(address: &str, headers: &str, expected: &BTreeMap<(String, String), Value>, within: Duration) {
    let deadline = std::time::Instant::now() + within;
    loop {
        let served = served_pages(address, headers).await;
        if &served == expected {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "the server did not converge");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A client of the binary's database and its request headers.
fn partner_headers(database: &TestDatabase) -> String {
    let client = roster_json(database, &["clients", "create", "--name", "p", "--resellers", "*"]);
    let id = client["clientId"].as_str().unwrap();
    let token = roster_json(database, &["tokens", "issue", "--client-id", id]);
    format!(
        "Authorization: Bearer {}\r\nX-Api-Key: {id}",
        token["access_token"].as_str().unwrap()
    )
}

fn generated(dir: &tempfile::TempDir, name: &str, customers: u64, seed: u64) -> String {
    let plan = Plan {
        customers,
        resellers: 6,
        seed,
    };
    let lines: Vec<String> = Generator::new(plan).map(|v| v.to_string()).collect();
    write_file(dir, name, &lines.join("\n"))
}

#[tokio::test]
async fn nothing_beside_the_database_can_crash_or_mislead_a_server() {
    if crate::support::on_postgres() {
        return; // The files in question are SQLite's.
    }
    let database = TestDatabase::sqlite();
    let dir = tempfile::tempdir().unwrap();
    roster_json(&database, &["import", &generated(&dir, "a.ndjson", 500, 1)]);
    let headers = partner_headers(&database);
    let mut served = serve_limited(&database, "0");
    let path = database.url.strip_prefix("sqlite://").unwrap().to_owned();
    // Earlier versions kept a marker file beside the database and mapped
    // it: truncating it killed the server with SIGBUS. Whatever happens to
    // such a file (or any other), the server keeps answering exactly.
    let marker = format!("{path}-generation");
    let expected = expected_pages(&database).await;
    for (what, action) in [
        (
            "written",
            &(|m: &str| std::fs::write(m, [0xff; 8]).unwrap()) as &dyn Fn(&str),
        ),
        ("truncated", &|m: &str| {
            std::fs::OpenOptions::new()
                .write(true)
                .open(m)
                .unwrap()
                .set_len(0)
                .unwrap()
        }),
        ("deleted", &|m: &str| std::fs::remove_file(m).unwrap()),
        ("replaced", &|m: &str| {
            std::fs::write(m, b"something else entirely").unwrap()
        }),
    ] {
        action(&marker);
        assert_eq!(served_pages(&served.address, &headers).await, expected, "marker {what}");
        assert!(
            served.child.try_wait().unwrap().is_none(),
            "the server is alive after the marker was {what}"
        );
    }
    // And a later import still shows within a second.
    roster_json(&database, &["import", &generated(&dir, "b.ndjson", 200, 2)]);
    let expected = expected_pages(&database).await;
    converges(&served.address, &headers, &expected, Duration::from_secs(1)).await;
    served.child.kill().unwrap();
    served.child.wait().unwrap();
}

#[tokio::test]
async fn a_server_killed_while_imports_commit_loses_nothing_and_applies_nothing_twice() {
    let database = Arc::new(TestDatabase::new());
    let dir = Arc::new(tempfile::tempdir().unwrap());
    roster_json(&database, &["import", &generated(&dir, "base.ndjson", 600, 4)]);
    let headers = partner_headers(&database);
    let mut served = serve_limited(&database, "0");
    // One-record imports, one after the other, while the server is killed.
    let writer = {
        let (database, dir) = (database.clone(), dir.clone());
        std::thread::spawn(move || {
            for i in 0..16 {
                let mut value = customer(
                    &format!("K{i}"),
                    &reseller_id((i % 6) as u32),
                    "1000",
                    &format!("Killed Co {i}"),
                    "2026-02-02T00:00:00Z",
                );
                value["externalReferenceId"] = json!(i.to_string());
                let file = write_file(&dir, &format!("k{i}.ndjson"), &value.to_string());
                roster_json(&database, &["import", &file]);
            }
        })
    };
    std::thread::sleep(Duration::from_millis(150));
    served.child.kill().unwrap(); // SIGKILL: no shutdown, nothing flushed.
    served.child.wait().unwrap();
    writer.join().unwrap();
    let restarted = serve_limited(&database, "0");
    let expected = expected_pages(&database).await;
    let total: u64 = (0..6)
        .map(|rank| {
            expected[&(reseller_id(rank), probes(&[])[0].1.clone())]["totalCount"]
                .as_u64()
                .unwrap()
        })
        .sum();
    let active_in_base = Generator::new(Plan {
        customers: 600,
        resellers: 6,
        seed: 4,
    })
    .filter(|value| value["status"] == "1000")
    .count() as u64;
    assert_eq!(total, active_in_base + 16, "every customer once");
    converges(&restarted.address, &headers, &expected, Duration::from_secs(1)).await;
    let mut restarted = restarted;
    restarted.child.kill().unwrap();
    restarted.child.wait().unwrap();
}
