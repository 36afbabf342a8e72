//! SPEC §3 (one JSON shape for every error) and §2's header rules:
//! Accept, Content-Type, X-Request-Id and X-Correlation-Id.

use http::Method;

use crate::support::{TestServer, customer, error_body, test_config};

const PATH: &str = "/v3/resellers/R1/customers";

async fn server() -> (TestServer, crate::support::Partner) {
    let server = TestServer::start_with(
        test_config(),
        &[customer("C1", "R1", "1000", "Acme", "2025-01-01T00:00:00Z")],
    )
    .await;
    let partner = server.client("*").await;
    (server, partner)
}

fn bad_fields(details: &[&str]) -> serde_json::Value {
    error_body("1117", "Some Fields are Invalid", details)
}

#[tokio::test]
async fn every_parameter_problem_is_listed_in_one_1132() {
    let (server, partner) = server().await;
    let response = server
        .get_as(
            &partner,
            &format!("{PATH}?limit=51&limit=2&status=1001&name=a\\&sort-by=size&colour=red&offset=x&from-created-date=2025-13-01"),
        )
        .await;
    assert_eq!(
        response.error(),
        (
            400,
            error_body(
                "1132",
                "Invalid value for search parameter",
                &[
                    "limit: must not be repeated",
                    "status: must be one of 1000, 1002, 1004, 1010, 1012, 1014, 1026",
                    r"name: must not end with a lone backslash (write \\ for a backslash)",
                    "sort-by: must be creationDate or companyName",
                    "colour: unknown parameter",
                    "offset: must be an integer of 0 or more",
                    "from-created-date: must be a date (YYYY-MM-DD) or an RFC 3339 timestamp",
                ]
            )
        )
    );
    let response = server.get_as(&partner, &format!("{PATH}?limit=0")).await;
    assert_eq!(
        response.error().1,
        error_body(
            "1132",
            "Invalid value for search parameter",
            &["limit: must be between 1 and 50"]
        )
    );
}

#[tokio::test]
async fn accept_must_admit_json() {
    let (server, partner) = server().await;
    for ok in [
        "application/json",
        "*/*",
        "application/*",
        "text/html, application/json;q=0.2",
    ] {
        let response = server.get(PATH).partner(&partner).header("Accept", ok).send().await;
        assert_eq!(response.status, 200, "{ok}");
    }
    for bad in ["text/html", "application/json;q=0", "application/xml, text/*"] {
        let response = server.get(PATH).partner(&partner).header("Accept", bad).send().await;
        assert_eq!(
            response.error(),
            (400, bad_fields(&["Accept: must allow application/json"])),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn content_type_when_present_must_be_json() {
    let (server, partner) = server().await;
    let response = server
        .get(PATH)
        .partner(&partner)
        .header("Content-Type", "application/json; charset=utf-8")
        .send()
        .await;
    assert_eq!(response.status, 200);
    let response = server
        .get(PATH)
        .partner(&partner)
        .header("Content-Type", "text/plain")
        .send()
        .await;
    assert_eq!(
        response.error(),
        (400, bad_fields(&["Content-Type: must be application/json"]))
    );
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated_and_correlation_ids_echoed() {
    let (server, partner) = server().await;
    let response = server
        .get(PATH)
        .partner(&partner)
        .header("X-Request-Id", "req-42")
        .header("X-Correlation-Id", "corr 7 / anything")
        .send()
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("x-request-id"), Some("req-42"));
    assert_eq!(response.header("x-correlation-id"), Some("corr 7 / anything"));

    // Absent: a UUID is generated, on errors too.
    let response = server.get("/nowhere").send().await;
    let generated = response.header("x-request-id").expect("an id");
    assert!(uuid::Uuid::parse_str(generated).is_ok(), "{generated}");
    assert_eq!(response.header("x-correlation-id"), None);

    // Invalid: refused with 1117, and the response carries a generated id.
    for bad in ["has space", &"x".repeat(129)] {
        let response = server
            .get(PATH)
            .partner(&partner)
            .header("X-Request-Id", bad)
            .send()
            .await;
        assert_eq!(
            response.error(),
            (
                400,
                bad_fields(&["X-Request-Id: must be 1 to 128 visible ASCII characters"])
            )
        );
        let echoed = response.header("x-request-id").unwrap();
        assert!(uuid::Uuid::parse_str(echoed).is_ok(), "{echoed}");
    }
}

#[tokio::test]
async fn header_problems_are_all_named_and_come_before_parameters() {
    let (server, partner) = server().await;
    let response = server
        .get(&format!("{PATH}?limit=0"))
        .partner(&partner)
        .header("X-Request-Id", "bad id")
        .header("Accept", "text/csv")
        .header("Content-Type", "text/csv")
        .send()
        .await;
    assert_eq!(
        response.error(),
        (
            400,
            bad_fields(&[
                "X-Request-Id: must be 1 to 128 visible ASCII characters",
                "Accept: must allow application/json",
                "Content-Type: must be application/json",
            ])
        )
    );
}

#[tokio::test]
async fn a_replayed_request_id_is_4120_and_only_for_the_same_client() {
    let (server, partner) = server().await;
    let other = server.client("*").await;
    let send =
        |who: &crate::support::Partner, id: &str| server.get(PATH).partner(who).header("X-Request-Id", id).send();
    assert_eq!(send(&partner, "abc-1").await.status, 200);
    let replay = send(&partner, "abc-1").await;
    assert_eq!(
        replay.error(),
        (
            400,
            error_body(
                "4120",
                "Duplicate request id, same requestId has already been processed",
                &[]
            )
        )
    );
    assert_eq!(replay.header("x-request-id"), Some("abc-1"));
    assert_eq!(
        send(&other, "abc-1").await.status,
        200,
        "another client's ids are its own"
    );
    // A request refused at check 6 does not spend its id.
    let refused = server
        .get(&format!("{PATH}?limit=0"))
        .partner(&partner)
        .header("X-Request-Id", "abc-2")
        .send()
        .await;
    assert_eq!(refused.status, 400);
    assert_eq!(send(&partner, "abc-2").await.status, 200);
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_are_json() {
    let (server, _) = server().await;
    let response = server.get("/v3/resellers/R1").send().await;
    assert_eq!(response.error(), (404, error_body("404", "Resource not found", &[])));
    let response = server.request(Method::DELETE, PATH).send().await;
    assert_eq!(response.error(), (405, error_body("405", "Method not allowed", &[])));
    assert_eq!(response.header("allow"), Some("GET,HEAD"));
    let response = server.get("/ims/token/v3").send().await;
    assert_eq!(response.error(), (405, error_body("405", "Method not allowed", &[])));
    assert_eq!(response.header("allow"), Some("POST"));
}

#[tokio::test]
async fn oversized_requests_get_json_errors() {
    let (server, partner) = server().await;
    let response = server
        .get(&format!("{PATH}?name={}", "a".repeat(9000)))
        .partner(&partner)
        .send()
        .await;
    assert_eq!(
        response.error(),
        (
            414,
            error_body("414", "Request URI too long", &["the URI must be at most 8192 bytes"])
        )
    );
    let mut request = server.get(PATH).partner(&partner);
    for i in 0..20 {
        request = request.header(&format!("X-Padding-{i}"), &"p".repeat(1000));
    }
    let response = request.send().await;
    assert_eq!(
        response.error(),
        (
            431,
            error_body(
                "431",
                "Request header fields too large",
                &["the request headers must be at most 16384 bytes in all"]
            )
        )
    );
}

#[tokio::test]
async fn health_needs_no_authentication_and_stops_with_the_server() {
    let mut server = TestServer::start().await;
    let response = server.get("/healthz").send().await;
    assert_eq!(
        (response.status, response.json()),
        (200, serde_json::json!({"status": "ok"}))
    );
    server.stop().await;
    let address = server.base.trim_start_matches("http://").to_owned();
    assert!(
        tokio::net::TcpStream::connect(address).await.is_err(),
        "no longer accepting"
    );
}

/// A body in a content coding is refused, not read encoded: 415, on every
/// route that reads a body, before anything else is looked at.
#[tokio::test]
async fn a_body_in_a_content_coding_is_415() {
    let (server, partner) = server().await;
    let refused = error_body(
        "415",
        "Unsupported content encoding",
        &["Content-Encoding: bodies are read as sent; send them without a content coding"],
    );
    let post = server
        .request(Method::POST, "/v3/customers")
        .partner(&partner)
        .header("Content-Encoding", "gzip")
        .json(&serde_json::json!({}))
        .send()
        .await;
    assert_eq!(post.error(), (415, refused.clone()));
    let token = server
        .token_request("grant_type=client_credentials")
        .header("Content-Encoding", "br")
        .send()
        .await;
    assert_eq!(token.error(), (415, refused));
    // `identity` is no coding; a GET's body is not read.
    let identity = server
        .request(Method::POST, "/v3/customers")
        .partner(&partner)
        .header("Content-Encoding", "identity")
        .json(&serde_json::json!({}))
        .send()
        .await;
    assert_eq!(identity.json()["code"], "1122");
    let listed = server
        .get(PATH)
        .partner(&partner)
        .header("Content-Encoding", "gzip")
        .send()
        .await;
    assert_eq!(listed.status, 200);
}
