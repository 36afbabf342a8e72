//! SPEC §9, for operators: `/readyz` (ready once the catalog is loaded and
//! the dependencies answer, 503 in the error shape otherwise) and
//! `--metrics-listen` (Prometheus text on its own listener).

use std::net::TcpStream;
use std::time::Duration;

use serde_json::{Value, json};

use crate::cli::{body_of, get_with_token, http, post_token, roster, roster_json, serve_env};
use crate::support::{TestDatabase, TestServer, customer, error_body, test_config};

#[tokio::test]
async fn a_loaded_server_is_ready() {
    let server = TestServer::start_with(
        test_config(),
        &[customer("C1", "R1", "1000", "Acme", "2025-01-01T00:00:00Z")],
    )
    .await;
    let response = server.get("/readyz").send().await;
    assert_eq!((response.status, response.json()), (200, json!({"status": "ready"})));
    assert_eq!(response.header("content-type"), Some("application/json"));
}

/// While the catalog loads the server already listens: every request,
/// `/readyz` and `/healthz` included, is 503 naming the cause, and the
/// connection is closed so that the next request reaches the loaded server.
#[tokio::test]
async fn while_the_catalog_loads_every_request_is_503() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (loaded, loading) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(async move {
        roster::http::while_loading(&listener, async {
            let _ = loading.await;
            "loaded"
        })
        .await
    });
    for path in ["/readyz", "/healthz", "/v3/resellers/R1/customers"] {
        let address = address.clone();
        let response =
            tokio::task::spawn_blocking(move || http(&address, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")))
                .await
                .unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503"), "{path}: {head}");
        assert!(head.contains("content-type: application/json"), "{head}");
        assert!(head.contains("connection: close"), "{head}");
        assert_eq!(
            serde_json::from_str::<Value>(body).unwrap(),
            error_body("503", "Service unavailable", &["the catalog is loading"]),
            "{path}"
        );
    }
    loaded.send(()).unwrap();
    assert_eq!(serving.await.unwrap(), "loaded");
}

/// The value of the exposition line for `series` (name and labels, exactly).
fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn metrics_count_requests_logins_and_the_catalog() {
    let database = TestDatabase::new();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("customers.ndjson");
    std::fs::write(
        &data,
        [
            customer("C1", "R1", "1000", "Acme", "2025-01-01T00:00:00Z"),
            customer("C2", "R1", "1002", "Beta", "2025-01-02T00:00:00Z"),
        ]
        .iter()
        .map(|c| format!("{c}\n"))
        .collect::<String>(),
    )
    .unwrap();
    assert!(roster(&database, &["import", data.to_str().unwrap()]).status.success());
    let client = roster_json(&database, &["clients", "create", "--name", "p", "--resellers", "*"]);
    let (id, secret) = (
        client["clientId"].as_str().unwrap(),
        client["clientSecret"].as_str().unwrap(),
    );
    let mut served = serve_env(
        &database,
        &[("ROSTER_RATE_LIMIT", "0"), ("ROSTER_METRICS_LISTEN", "127.0.0.1:0")],
    );
    let metrics_address = served
        .metrics_address
        .clone()
        .expect("the metrics listener's address is logged");
    let issued = post_token(&served.address, id, secret);
    assert!(issued.starts_with("HTTP/1.1 200"), "{issued}");
    assert!(post_token(&served.address, id, "wrong").starts_with("HTTP/1.1 401"));
    let token = body_of(&issued)["access_token"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let listed = get_with_token(&served.address, "/v3/resellers/R1/customers", &token, id);
        assert!(listed.starts_with("HTTP/1.1 200"), "{listed}");
    }
    assert!(
        http(
            &served.address,
            "GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .starts_with("HTTP/1.1 404")
    );
    // A method HTTP does not define is counted as `other`: clients cannot
    // add series at will.
    assert!(
        http(
            &served.address,
            "FROB /v3/resellers/R1/customers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .starts_with("HTTP/1.1 405")
    );

    let response = http(
        &metrics_address,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let (head, exposition) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("content-type: text/plain; version=0.0.4"), "{head}");
    let expected = [
        (
            r#"roster_http_requests_total{route="/v3/resellers/{reseller_id}/customers",method="GET",status="200"}"#,
            2.0,
        ),
        (
            r#"roster_http_requests_total{route="unmatched",method="GET",status="404"}"#,
            1.0,
        ),
        (
            r#"roster_http_requests_total{route="/ims/token/v3",method="POST",status="401"}"#,
            1.0,
        ),
        (
            r#"roster_http_requests_total{route="/v3/resellers/{reseller_id}/customers",method="other",status="405"}"#,
            1.0,
        ),
        (r#"roster_logins_total{outcome="issued"}"#, 1.0),
        (r#"roster_logins_total{outcome="invalid_client"}"#, 1.0),
        ("roster_catalog_customers", 2.0),
        ("roster_catalog_generation", 1.0),
        (
            // The two pages and the 405.
            r#"roster_http_request_duration_seconds_count{route="/v3/resellers/{reseller_id}/customers"}"#,
            3.0,
        ),
    ];
    for (series, value) in expected {
        assert_eq!(sample(exposition, series), Some(value), "{series} in:\n{exposition}");
    }
    // The metrics listener is not the API's: no API route there, and no
    // metrics route on the API.
    assert!(
        http(
            &served.address,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .starts_with("HTTP/1.1 404")
    );

    served.child.kill().unwrap();
    let _ = served.child.wait();
    // Nothing listens once the server is gone.
    std::thread::sleep(Duration::from_millis(50));
    assert!(TcpStream::connect(&metrics_address).is_err());
}

/// SPEC §9: `/openapi.json` describes exactly the routes the server answers
/// (each documented operation reaches a handler), and `/docs` shows every
/// operation, offline.
#[tokio::test]
async fn the_openapi_document_and_the_docs_page_cover_every_route() {
    let server = TestServer::start().await;
    let response = server.get("/openapi.json").send().await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let document = response.json();
    assert_eq!(document["openapi"], "3.1.0");
    let paths: Vec<&str> = document["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        paths,
        [
            "/v3/resellers/{reseller_id}/customers",
            "/v3/customers/{customer_id}",
            "/v3/customers",
            "/ims/token/v3",
            "/ims/token/v2",
            "/healthz",
            "/readyz",
            "/openapi.json",
            "/docs",
        ]
    );
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let concrete = path.replace("{reseller_id}", "R1").replace("{customer_id}", "C1");
            let method = http::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let answer = server.request(method.clone(), &concrete).send().await;
            let unrouted = answer.status == 405 || (answer.status == 404 && answer.json()["code"] == "404");
            assert!(
                !unrouted,
                "{method} {concrete} is documented but not served: {}",
                answer.status
            );
            operations.push(operation["operationId"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(operations.len(), 10);

    let page = server.get("/docs").send().await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(
        page.header("content-security-policy"),
        Some("default-src 'none'; style-src 'unsafe-inline'; img-src data:")
    );
    for operation in &operations {
        assert!(
            page.text().contains(&format!("id=\"{operation}\"")),
            "{operation} is not on the page"
        );
    }
    assert!(!page.text().contains("<script"), "the page runs no script");
    assert!(
        !page.text().contains("src=\"http"),
        "the page loads nothing from elsewhere"
    );
    // The code table is on the page, whole.
    for (status, code, message) in [
        (400, "1132", "Invalid value for search parameter"),
        (503, "503", "Service unavailable"),
        (500, "1124", "Internal Server Error. Please try again later"),
    ] {
        assert!(
            page.text().contains(&format!(
                "<tr><td>{status}</td><td><code>{code}</code></td><td>{message}</td></tr>"
            )),
            "{code} missing"
        );
    }
}
