//! Scale-out (#4): several instances on one PostgreSQL and one Redis share
//! data, rate limits and request ids; and both backends give the same bytes
//! for the same queries. These tests need the servers scripts/test starts.

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use roster::app::AppConfig;
use roster::catalog::{Catalog, Items};
use roster::domain::{CustomerRecord, ListQuery};
use roster::generate::{Generator, Plan, reseller_id};
use roster::http::reseller_customers::page_body;
use roster::store::{self, Store};
use serde_json::Value;

use crate::support::{TestDatabase, TestServer, customer, ids, import, service, test_config};

const PATH: &str = "/v3/resellers/R1/customers";

/// Two servers on one fresh PostgreSQL database and one Redis, started at
/// the same moment (so their migrations race, as at a real deploy).
async fn two_instances() -> Option<(TestServer, TestServer)> {
    let database = Arc::new(TestDatabase::postgres()?);
    let config = AppConfig {
        redis: Some(service("ROSTER_TEST_REDIS")?),
        client_cache_ttl: Duration::from_millis(300),
        ..test_config()
    };
    Some(tokio::join!(
        TestServer::start_on(database.clone(), config.clone()),
        TestServer::start_on(database, config),
    ))
}

/// One customer of R1, imported through `a` and applied by both: `import`
/// waits for `a` only, and `b` follows on its own poll.
async fn import_on_both(a: &TestServer, b: &TestServer) {
    let imported = a
        .import(&[customer("C1", "R1", "1000", "Acme", "2025-01-01T00:00:00Z")])
        .await;
    b.wait_for(imported.generation).await;
}

#[tokio::test]
async fn data_imported_through_one_instance_is_listed_by_the_other_within_a_second() {
    let Some((a, b)) = two_instances().await else { return };
    let partner = a.client("*").await;
    let imported = a
        .import(&[
            customer("C1", "R1", "1000", "Acme", "2025-01-01T00:00:00Z"),
            customer("C2", "R1", "1000", "Beta", "2025-02-01T00:00:00Z"),
        ])
        .await;
    b.wait_for(imported.generation).await;
    let response = b.get_as(&partner, PATH).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(ids(&response.json()), ["C2", "C1"]);
    let imported = b
        .import(&[customer("C3", "R1", "1000", "Gamma", "2025-03-01T00:00:00Z")])
        .await;
    a.wait_for(imported.generation).await;
    assert_eq!(ids(&a.get_as(&partner, PATH).await.json()), ["C3", "C2", "C1"]);
}

#[tokio::test]
async fn the_rate_limit_holds_across_instances() {
    let Some((a, b)) = two_instances().await else { return };
    import_on_both(&a, &b).await;
    let partner = a.client_with("*", Some(2)).await;
    // 2 requests/s, bursts of 4, however the requests are spread.
    let mut allowed = 0;
    for i in 0..10 {
        let server = if i % 2 == 0 { &a } else { &b };
        let response = server.get_as(&partner, PATH).await;
        match response.status {
            200 => allowed += 1,
            429 => {
                assert_eq!(response.json()["code"], "4118");
                assert_eq!(response.header("retry-after"), Some("1"));
                break;
            }
            other => panic!("unexpected {other}: {}", response.text()),
        }
    }
    assert_eq!(allowed, 4, "one bucket for both instances");
}

/// SPEC §8 on several instances: a write through one instance reaches
/// the others when it commits, as PostgreSQL announces it, not at their
/// next poll. The poll is an hour here, so only the announcement can
/// bring it within `wait_for`'s second.
#[tokio::test]
async fn a_write_through_one_instance_is_announced_to_the_other() {
    let Some(database) = TestDatabase::postgres().map(Arc::new) else {
        return;
    };
    let config = AppConfig {
        follow_every: Duration::from_secs(3600),
        ..test_config()
    };
    let (a, b) = tokio::join!(
        TestServer::start_on(database.clone(), config.clone()),
        TestServer::start_on(database, config),
    );
    let partner = a.client("*").await;
    let imported = a
        .import(&[customer("C1", "R1", "1000", "Acme", "2025-01-01T00:00:00Z")])
        .await;
    b.wait_for(imported.generation).await;
    assert_eq!(ids(&b.get_as(&partner, PATH).await.json()), ["C1"]);

    let patched = b
        .request(Method::PATCH, "/v3/customers/C1")
        .partner(&partner)
        .json(&serde_json::json!({"tags": ["gold"]}))
        .send()
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text());
    a.wait_for(b.app.catalog.generation()).await;
    let read = a.get_as(&partner, "/v3/customers/C1").await;
    assert_eq!(read.json()["tags"], serde_json::json!(["gold"]));

    // Writes in quick succession are caught up with together, none lost.
    a.import(&[customer("C2", "R1", "1000", "Beta", "2025-02-01T00:00:00Z")])
        .await;
    let last = a
        .import(&[customer("C3", "R1", "1000", "Gamma", "2025-03-01T00:00:00Z")])
        .await;
    b.wait_for(last.generation).await;
    assert_eq!(ids(&b.get_as(&partner, PATH).await.json()), ["C3", "C2", "C1"]);
}

/// Two instances given the same correlation id at the same moment: the
/// second waits for the first's transaction on the generation row, then
/// finds the id taken; its write is refused and writes after it go on.
/// (When the row was locked only by the first write that changed
/// something, the id was found taken after the bump, and a bump kept by
/// mistake broke every later write.) Here a transaction of the test's own
/// plays the first instance.
#[tokio::test]
async fn a_correlation_id_taken_while_waiting_for_the_generation_leaves_writes_working() {
    let Some(database) = TestDatabase::postgres().map(Arc::new) else {
        return;
    };
    let server = TestServer::start_on(database.clone(), test_config()).await;
    let partner = server.client("*").await;
    server
        .import(&[
            customer("C1", "R1", "1000", "Acme", "2025-01-01T00:00:00Z"),
            customer("C2", "R1", "1000", "Beta", "2025-02-01T00:00:00Z"),
        ])
        .await;
    let (mut other, connection) = tokio_postgres::connect(&database.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let first = other.transaction().await.unwrap();
    first
        .execute("SELECT 1 FROM roster_state WHERE id = 1 FOR UPDATE", &[])
        .await
        .unwrap();
    first
        .execute(
            "INSERT INTO correlations (client_id, correlation_id, fingerprint, status, headers, body, created_at)
             VALUES ($1, 'taken', '\\x00', 200, '[]', '\\x00', extract(epoch from now())::BIGINT)",
            &[&partner.key],
        )
        .await
        .unwrap();
    let patch = |id: &'static str, correlation: Option<&'static str>| {
        let mut request = server
            .request(Method::PATCH, &format!("/v3/customers/{id}"))
            .partner(&partner)
            .json(&serde_json::json!({"tags": [id]}));
        if let Some(correlation) = correlation {
            request = request.header("X-Correlation-Id", correlation);
        }
        request.send()
    };
    let (second, ()) = tokio::join!(patch("C1", Some("taken")), async {
        // The PATCH reaches the generation row and waits there.
        tokio::time::sleep(Duration::from_millis(500)).await;
        first.commit().await.unwrap();
    });
    assert_eq!(
        (second.status, second.json()["additionalDetails"].clone()),
        (
            400,
            serde_json::json!(["X-Correlation-Id: already used for a different request"])
        )
    );
    let next = patch("C2", None).await;
    assert_eq!(next.status, 200, "{}", next.text());
    let listed = server.get_as(&partner, PATH).await.json();
    let tags: Vec<Value> = listed["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["tags"].clone())
        .collect();
    assert_eq!(tags, [serde_json::json!(["C2"]), serde_json::json!([])]);
}

/// Writes through two instances at once, to the same few customers, each
/// task in its own order, and imports of those customers meanwhile: every
/// transaction takes its locks in one order (the generation row first),
/// so they wait for each other rather than deadlock, and every write is
/// answered 200.
#[tokio::test]
async fn writes_through_two_instances_at_once_to_the_same_customers_all_succeed() {
    let Some(database) = TestDatabase::postgres().map(Arc::new) else {
        return;
    };
    let (a, b) = tokio::join!(
        TestServer::start_on(database.clone(), test_config()),
        TestServer::start_on(database, test_config()),
    );
    let (a, b) = (Arc::new(a), Arc::new(b));
    let partner = a.client("*").await;
    let hot = ["C1", "C2", "C3", "C4"];
    let records: Vec<Value> = hot
        .iter()
        .map(|id| customer(id, "R1", "1000", &format!("Hot {id}"), "2025-01-01T00:00:00Z"))
        .collect();
    b.wait_for(a.import(&records).await.generation).await;

    let storm = futures::future::join_all((0..32).map(|task: usize| {
        let server = if task.is_multiple_of(2) { a.clone() } else { b.clone() };
        let partner = partner.clone();
        async move {
            let mut answers = Vec::new();
            for round in 0..8 {
                let id = hot[(task + round * (1 + task % 3)) % hot.len()];
                let patched = server
                    .request(Method::PATCH, &format!("/v3/customers/{id}"))
                    .partner(&partner)
                    .json(&serde_json::json!({"tags": [format!("t{task}-{round}")]}))
                    .send()
                    .await;
                answers.push((patched.status, patched.text().to_owned()));
            }
            answers
        }
    }));
    // Imports of the same customers meanwhile, which lock them all at once.
    let imports = async {
        for _ in 0..4 {
            import(a.store.as_ref(), &records).await;
        }
    };
    let (answers, ()) = tokio::join!(storm, imports);
    let failed: Vec<&(u16, String)> = answers.iter().flatten().filter(|(status, _)| *status != 200).collect();
    assert_eq!(
        failed.len(),
        0,
        "PATCHes not answered 200, the first: {:?}",
        failed.first()
    );

    // Both instances end on the same records: the database's last generation.
    let last = a.store.generation().await.unwrap();
    a.wait_for(last).await;
    b.wait_for(last).await;
    let (seen_a, seen_b) = (a.get_as(&partner, PATH).await, b.get_as(&partner, PATH).await);
    assert_eq!(ids(&seen_a.json()), ["C1", "C2", "C3", "C4"]);
    assert_eq!(seen_a.text(), seen_b.text());
}

#[tokio::test]
async fn a_request_id_used_on_one_instance_is_refused_by_the_other() {
    let Some((a, b)) = two_instances().await else { return };
    import_on_both(&a, &b).await;
    let partner = a.client("*").await;
    let first = a
        .get(PATH)
        .partner(&partner)
        .header("X-Request-Id", "shared-1")
        .send()
        .await;
    assert_eq!(first.status, 200);
    let replay = b
        .get(PATH)
        .partner(&partner)
        .header("X-Request-Id", "shared-1")
        .send()
        .await;
    assert_eq!((replay.status, replay.json()["code"].clone()), (400, "4120".into()));
}

#[tokio::test]
async fn disabling_a_client_reaches_every_instance_within_the_cache_time() {
    let Some((a, b)) = two_instances().await else { return };
    import_on_both(&a, &b).await;
    let partner = a.client("*").await;
    assert_eq!(a.get_as(&partner, PATH).await.status, 200);
    assert_eq!(b.get_as(&partner, PATH).await.status, 200);
    assert!(a.store.set_client_enabled(&partner.key, false).await.unwrap());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(a.get_as(&partner, PATH).await.json()["code"], "4115");
    assert_eq!(b.get_as(&partner, PATH).await.json()["code"], "4115");
}

#[tokio::test]
async fn migrations_are_safe_when_instances_start_at_once() {
    let Some(database) = TestDatabase::postgres() else {
        return;
    };
    let opened = futures::future::join_all((0..6).map(|_| store::open(&database.url))).await;
    let stores: Vec<Arc<dyn Store>> = opened.into_iter().map(|s| s.expect("every instance starts")).collect();
    let keys = futures::future::join_all(stores.iter().map(|s| s.token_key())).await;
    let first = keys[0].as_ref().unwrap();
    assert!(
        keys.iter().all(|k| k.as_ref().unwrap() == first),
        "one token key for all"
    );
    assert_eq!(stores[0].generation().await.unwrap(), 0);
}

/// The queries a partner integration makes, in many combinations.
fn query_matrix() -> Vec<String> {
    let statuses = [
        "",
        "status=1000&",
        "status=1002&status=1004&",
        "status=1026&status=1000&",
    ];
    let names = [
        "",
        "name=north*&",
        "name=*tech*&",
        "name=*gmbh&",
        "name=atlas+analytics+inc&",
        "name=%C3%B8resund*&",
        "name=*stra%C3%9Fe*&",
        "name=5%5C**&",
        "company-name=*a*e*&",
    ];
    let dates = [
        "",
        "from-created-date=2020-01-01&",
        "from-created-date=2016-03-01&to-created-date=2019-12-31T23:00:00Z&",
    ];
    let pages = [
        "offset=0&limit=20",
        "offset=7&limit=3",
        "offset=150&limit=50",
        "offset=100000&limit=5",
    ];
    let mut queries = Vec::new();
    for (i, status) in statuses.iter().enumerate() {
        for (j, name) in names.iter().enumerate() {
            for (k, date) in dates.iter().enumerate() {
                let sort = ["creationDate", "companyName"][(i + j + k) % 2];
                let order = ["asc", "desc"][(i + k) % 2];
                let page = pages[(i + j * 3 + k) % pages.len()];
                queries.push(format!("{status}{name}{date}{page}&sort-by={sort}&order-by={order}"));
            }
        }
    }
    queries
}

async fn catalog_with(database: &TestDatabase, customers: &[Value]) -> Catalog {
    let store = store::open(&database.url).await.unwrap();
    import(store.as_ref(), customers).await;
    Catalog::load(store).await.unwrap()
}

#[tokio::test]
async fn sqlite_and_postgresql_give_the_same_bytes() {
    let Some(postgres) = TestDatabase::postgres() else {
        return;
    };
    let sqlite = TestDatabase::sqlite();
    let plan = Plan {
        customers: 3_000,
        resellers: 6,
        seed: 11,
    };
    let customers: Vec<Value> = Generator::new(plan).collect();
    // Every generated record is valid, so both imports hold the same data.
    assert!(customers.iter().all(|c| CustomerRecord::from_json(c.clone()).is_ok()));
    let (on_sqlite, on_postgres) = tokio::join!(catalog_with(&sqlite, &customers), catalog_with(&postgres, &customers));
    let mut compared = 0;
    for query in query_matrix() {
        let parsed = ListQuery::parse(&query).unwrap();
        for rank in [0, 2, 5] {
            let reseller = reseller_id(rank);
            let a = page_body(&on_sqlite, &reseller, &parsed, Items::Records);
            let b = page_body(&on_postgres, &reseller, &parsed, Items::Records);
            assert_eq!(
                String::from_utf8_lossy(&a),
                String::from_utf8_lossy(&b),
                "{query} on {reseller}"
            );
            compared += 1;
        }
    }
    assert_eq!(compared, 4 * 9 * 3 * 3);
}

/// A Redis of this test's own, so it can be stopped.
struct OwnRedis {
    child: std::process::Child,
    port: u16,
}

impl OwnRedis {
    fn start(port: u16) -> Self {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server (scripts/test installs it)");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        OwnRedis { child, port }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn when_redis_goes_away_limited_requests_fail_with_1124_instead_of_skipping_the_checks() {
    if service("ROSTER_TEST_REDIS").is_none() {
        return;
    }
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let mut redis = OwnRedis::start(port);
    let config = AppConfig {
        redis: Some(format!("redis://127.0.0.1:{}", redis.port)),
        ..test_config()
    };
    let server = TestServer::start_with(config, &[customer("C1", "R1", "1000", "Acme", "2025-01-01T00:00:00Z")]).await;
    let limited = server.client_with("*", Some(100)).await;
    let unlimited = server.client_with("*", Some(0)).await;
    assert_eq!(server.get_as(&limited, PATH).await.status, 200);

    let _ = redis.child.kill();
    let _ = redis.child.wait();
    let response = server.get_as(&limited, PATH).await;
    assert_eq!(
        response.error(),
        (
            500,
            crate::support::error_body("1124", "Internal Server Error. Please try again later", &[])
        ),
        "the rate limit is not skipped"
    );
    let replay_checked = server
        .get(PATH)
        .partner(&unlimited)
        .header("X-Request-Id", "needs-redis")
        .send()
        .await;
    assert_eq!(replay_checked.status, 500, "the replay check is not skipped");
    let no_request_id = server.get_as(&unlimited, PATH).await;
    assert_eq!(no_request_id.status, 200, "requests that need neither still work");
    let not_ready = server.get("/readyz").send().await;
    assert_eq!(
        not_ready.error(),
        (
            503,
            crate::support::error_body("503", "Service unavailable", &["redis: not answering"])
        ),
        "SPEC §9: not ready while Redis does not answer"
    );

    // Back again: the connection manager reconnects.
    let _restarted = OwnRedis::start(port);
    let mut recovered = false;
    for _ in 0..50 {
        if server.get_as(&limited, PATH).await.status == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "requests succeed again once Redis is back");
    let ready = server.get("/readyz").send().await;
    assert_eq!(
        (ready.status, ready.json()),
        (200, serde_json::json!({"status": "ready"}))
    );
}
