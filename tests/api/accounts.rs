//! SPEC §6 and §7: one customer read, created and updated through the API;
//! idempotent writes; API versions; the v2 token endpoint.

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use serde_json::{Value, json};

use crate::support::{
    Partner, Response, TestDatabase, TestServer, credentials, customer, error_body, served, test_config,
};

const R1: &str = "1000361686";

/// A valid POST body for reseller `reseller`.
fn new_customer(reseller: &str, name: &str, email: &str) -> Value {
    json!({
        "resellerId": reseller,
        "externalReferenceId": "ext-1",
        "companyProfile": {
            "companyName": name,
            "preferredLanguage": "en-US",
            "address": {"country": "US", "region": "CA", "city": "San Jose", "addressLine1": "345 Park Ave",
                        "postalCode": "95110"},
            "contacts": [{"firstName": "Ada", "lastName": "Lovelace", "email": email}]
        },
        "tags": ["new"]
    })
}

/// What a created customer looks like, given its id and creation date.
fn created_record(id: &str, created: &str, name: &str, email: &str) -> Value {
    json!({
        "externalReferenceId": "ext-1",
        "customerId": id,
        "resellerId": R1,
        "status": "1000",
        "companyProfile": {
            "companyName": name,
            "preferredLanguage": "en-US",
            "marketSegment": "COM",
            "marketSubSegments": [],
            "address": {"country": "US", "region": "CA", "city": "San Jose", "addressLine1": "345 Park Ave",
                        "addressLine2": "", "postalCode": "95110", "phoneNumber": ""},
            "contacts": [{"firstName": "Ada", "lastName": "Lovelace", "email": email}]
        },
        "discounts": [],
        "tags": ["new"],
        "cotermDate": "",
        "creationDate": created,
        "benefits": [],
        "globalSalesEnabled": false,
        "links": {"self": {"uri": format!("/v3/customers/{id}"), "method": "GET", "headers": []}}
    })
}

/// A server with two customers of R1 (one pending) and one of R2.
async fn server() -> (TestServer, Partner) {
    let mut pending = customer("P1", R1, "1002", "Pending Co", "2024-01-01T00:00:00Z");
    pending["companyProfile"]["contacts"] = json!([{"firstName": "P", "lastName": "Q", "email": "p@q.example"}]);
    let mut known = customer("C1", R1, "1000", "Known Co", "2025-07-29T10:42:31Z");
    known["companyProfile"]["address"] = json!({"country": "DE", "region": "BE", "city": "Berlin",
        "addressLine1": "Unter den Linden 1", "postalCode": "10117"});
    known["companyProfile"]["contacts"] = json!([{"firstName": "K", "lastName": "C", "email": "k@known.example"}]);
    let server = TestServer::start_with(
        test_config(),
        &[
            known,
            pending,
            customer("X1", "R2", "1000", "Other Co", "2025-05-05T05:05:05Z"),
        ],
    )
    .await;
    let partner = server.client(&format!("{R1},R-EMPTY")).await;
    (server, partner)
}

async fn post(server: &TestServer, partner: &Partner, body: &Value) -> Response {
    server
        .request(Method::POST, "/v3/customers")
        .partner(partner)
        .json(body)
        .send()
        .await
}

async fn patch(server: &TestServer, partner: &Partner, id: &str, body: &Value) -> Response {
    server
        .request(Method::PATCH, &format!("/v3/customers/{id}"))
        .partner(partner)
        .json(body)
        .send()
        .await
}

fn invalid(details: &[&str]) -> Value {
    error_body("1117", "Some Fields are Invalid", details)
}

#[tokio::test]
async fn get_returns_the_record_with_links_and_a_strong_etag() {
    let (server, partner) = server().await;
    let response = server.get_as(&partner, "/v3/customers/C1").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.header("x-api-version"), Some("2025-08"));
    let mut expected = served(&{
        let mut known = customer("C1", R1, "1000", "Known Co", "2025-07-29T10:42:31Z");
        known["companyProfile"]["address"] = json!({"country": "DE", "region": "BE", "city": "Berlin",
            "addressLine1": "Unter den Linden 1", "postalCode": "10117"});
        known["companyProfile"]["contacts"] = json!([{"firstName": "K", "lastName": "C", "email": "k@known.example"}]);
        known
    });
    expected["links"] = json!({"self": {"uri": "/v3/customers/C1", "method": "GET", "headers": []}});
    assert_eq!(response.json(), expected);
    assert!(
        response
            .text()
            .ends_with(r#","links":{"self":{"uri":"/v3/customers/C1","method":"GET","headers":[]}}}"#)
    );
    let etag = response.header("etag").unwrap().to_owned();
    assert!(
        etag.len() == 18 && etag.starts_with('"') && etag.ends_with('"'),
        "{etag}"
    );

    let again = server
        .get("/v3/customers/C1")
        .partner(&partner)
        .header("If-None-Match", &format!("\"nope\", {etag}"))
        .send()
        .await;
    assert_eq!(
        (again.status, again.header("etag"), again.body.len()),
        (304, Some(etag.as_str()), 0)
    );
    let changed = server
        .get("/v3/customers/C1")
        .partner(&partner)
        .header("If-None-Match", "\"0000000000000000\"")
        .send()
        .await;
    assert_eq!(changed.status, 200);
}

#[tokio::test]
async fn get_of_an_unknown_or_out_of_scope_customer_is_the_same_404() {
    let (server, partner) = server().await;
    let unknown = error_body("1116", "Invalid Customer", &[]);
    for id in ["X1", "NOPE", "%FF"] {
        let response = server.get_as(&partner, &format!("/v3/customers/{id}")).await;
        assert_eq!(response.error(), (404, unknown.clone()), "{id}");
    }
    // A request id refused at the existence check is not spent.
    let first = server
        .get("/v3/customers/X1")
        .partner(&partner)
        .header("X-Request-Id", "r-1")
        .send()
        .await;
    assert_eq!(first.status, 404);
    let second = server
        .get("/v3/customers/C1")
        .partner(&partner)
        .header("X-Request-Id", "r-1")
        .send()
        .await;
    assert_eq!(second.status, 200);
    let replayed = server
        .get("/v3/customers/C1")
        .partner(&partner)
        .header("X-Request-Id", "r-1")
        .send()
        .await;
    assert_eq!(replayed.json()["code"], "4120");
}

/// A customer's path is one whole segment, percent-decoded; HEAD answers
/// as GET without the body; another method is 405 naming the allowed ones.
#[tokio::test]
async fn the_customer_path_is_one_decoded_segment_and_head_answers_as_get() {
    let (server, partner) = server().await;
    let got = server.get_as(&partner, "/v3/customers/C1").await;
    let encoded = server.get_as(&partner, "/v3/customers/%43%31").await;
    assert_eq!((encoded.status, encoded.json()), (200, got.json()));
    let no_route = error_body("404", "Resource not found", &[]);
    for path in [
        "/v3/customers/",
        "/v3/customers/C1/",
        "/v3/customers/C1/x",
        "/v3//customers/C1",
        "/V3/customers/C1",
    ] {
        let response = server.get_as(&partner, path).await;
        assert_eq!(response.error(), (404, no_route.clone()), "{path}");
    }
    // An encoded slash stays inside the id: no such customer.
    let response = server.get_as(&partner, "/v3/customers/C1%2Fx").await;
    assert_eq!(response.error(), (404, error_body("1116", "Invalid Customer", &[])));

    let head = server
        .request(Method::HEAD, "/v3/customers/C1")
        .partner(&partner)
        .send()
        .await;
    assert_eq!((head.status, head.body.len()), (200, 0));
    let length = got.body.len().to_string();
    assert_eq!(head.header("content-length"), Some(length.as_str()));
    for name in ["content-type", "etag", "x-api-version"] {
        assert_eq!(head.header(name), got.header(name), "{name}");
    }
    let put = server
        .request(Method::PUT, "/v3/customers/C1")
        .partner(&partner)
        .send()
        .await;
    assert_eq!(put.error(), (405, error_body("405", "Method not allowed", &[])));
    assert_eq!(put.header("allow"), Some("GET,HEAD,PATCH"));
    let get = server.get_as(&partner, "/v3/customers").await;
    assert_eq!(get.error(), (405, error_body("405", "Method not allowed", &[])));
    assert_eq!(get.header("allow"), Some("POST"));
}

#[tokio::test]
async fn get_takes_no_parameters_and_checks_the_correlation_id() {
    let (server, partner) = server().await;
    let response = server.get_as(&partner, "/v3/customers/C1?expand=all&limit=1").await;
    assert_eq!(
        response.error(),
        (
            400,
            error_body(
                "1132",
                "Invalid value for search parameter",
                &["expand: unknown parameter", "limit: unknown parameter"]
            )
        )
    );
    let response = server
        .get("/v3/customers/C1")
        .partner(&partner)
        .header("X-Correlation-Id", &"x".repeat(129))
        .send()
        .await;
    assert_eq!(
        response.error(),
        (
            400,
            error_body(
                "4119",
                "Correlation ID is Invalid or Missing",
                &["X-Correlation-Id: must be 1 to 128 visible ASCII characters"]
            )
        )
    );
}

#[tokio::test]
async fn post_creates_an_active_customer_that_reads_and_lists_at_once() {
    let (server, partner) = server().await;
    let before = server.app.catalog.generation();
    let response = post(
        &server,
        &partner,
        &new_customer(R1, "Brand New GmbH", "ada@new.example"),
    )
    .await;
    assert_eq!(response.status, 201, "{}", response.text());
    let body = response.json();
    let id = body["customerId"].as_str().unwrap().to_owned();
    assert!(id.len() == 10 && id.bytes().all(|b| b.is_ascii_digit()), "{id}");
    let created = body["creationDate"].as_str().unwrap().to_owned();
    let now = roster::auth::unix_now() as i64;
    let at = roster::domain::customer::parse_creation_date(&created).unwrap();
    assert!((now - 5..=now).contains(&at), "{created}");
    assert_eq!(body, created_record(&id, &created, "Brand New GmbH", "ada@new.example"));
    assert_eq!(
        response.header("location"),
        Some(format!("/v3/customers/{id}").as_str())
    );
    let etag = response.header("etag").unwrap().to_owned();
    assert!(server.app.catalog.generation() > before, "committed");

    // Visible to the very next requests.
    let read = server.get_as(&partner, &format!("/v3/customers/{id}")).await;
    assert_eq!((read.json(), read.header("etag")), (body.clone(), Some(etag.as_str())));
    let page = server
        .get_as(&partner, &format!("/v3/resellers/{R1}/customers?customer-id={id}"))
        .await
        .json();
    let mut listed = body.clone();
    listed.as_object_mut().unwrap().remove("links");
    assert_eq!(
        page,
        json!({"totalCount": 1, "count": 1, "offset": 0, "limit": 20, "customers": [listed]})
    );
}

#[tokio::test]
async fn post_refuses_with_one_code_naming_every_field() {
    let (server, partner) = server().await;
    let not_object = post(&server, &partner, &json!(["x"])).await;
    assert_eq!(not_object.error(), (400, invalid(&["body: must be a JSON object"])));

    let mut body = new_customer(R1, "A", "a@b.example");
    body["status"] = json!("1000");
    body["companyProfile"]["fax"] = json!("1");
    body.as_object_mut().unwrap().remove("resellerId");
    assert_eq!(
        post(&server, &partner, &body).await.error(),
        (
            400,
            error_body(
                "1121",
                "Request contains additional unexpected fields",
                &[
                    "status: is read-only",
                    "companyProfile.fax: is not a field of a customer"
                ]
            )
        )
    );
    let mut body = new_customer(R1, "A", "a@b.example");
    body.as_object_mut().unwrap().remove("resellerId");
    body["companyProfile"]["address"]
        .as_object_mut()
        .unwrap()
        .remove("postalCode");
    body["companyProfile"]["contacts"][0]
        .as_object_mut()
        .unwrap()
        .remove("lastName");
    assert_eq!(
        post(&server, &partner, &body).await.error(),
        (
            400,
            error_body(
                "1122",
                "Request is missing required fields",
                &[
                    "companyProfile.address.postalCode: is required",
                    "companyProfile.contacts[0].lastName: is required",
                    "resellerId: is required"
                ]
            )
        )
    );
    let mut body = new_customer(R1, "A", "not-an-email");
    body["companyProfile"]["address"]["country"] = json!("USA");
    body["externalReferenceId"] = json!("x".repeat(36));
    assert_eq!(
        post(&server, &partner, &body).await.error(),
        (
            400,
            invalid(&[
                "externalReferenceId: must be at most 35 characters",
                "companyProfile.address.country: must be an ISO 3166-1 alpha-2 country code",
                "companyProfile.contacts[0].email: must be an email address"
            ])
        )
    );
    assert_eq!(
        post(&server, &partner, &new_customer("R2", "A", "a@b.example"))
            .await
            .error(),
        (
            403,
            error_body(
                "4121",
                "You are not allowed to perform that action on this resource",
                &[]
            )
        )
    );
    let unknown = server.client("R-NEVER-SEEN").await;
    assert_eq!(
        post(&server, &unknown, &new_customer("R-UNNAMED", "A", "a@b.example"))
            .await
            .status,
        403
    );
    let star = server.client("*").await;
    assert_eq!(
        post(&server, &star, &new_customer("R-UNNAMED", "A", "a@b.example"))
            .await
            .error(),
        (404, error_body("1115", "Invalid Reseller", &[]))
    );
    // A reseller a scope names is known, even without customers.
    assert_eq!(
        post(&server, &partner, &new_customer("R-EMPTY", "A", "a@b.example"))
            .await
            .status,
        201
    );

    // Same folded name and first email (any case): a duplicate.
    let duplicate = post(&server, &partner, &new_customer(R1, "KNOWN co", "K@Known.Example")).await;
    assert_eq!(
        duplicate.error(),
        (400, error_body("1127", "Account already exists", &[]))
    );
    let other_email = post(&server, &partner, &new_customer(R1, "KNOWN co", "other@known.example")).await;
    assert_eq!(other_email.status, 201);
}

#[tokio::test]
async fn post_checks_headers_parameters_and_size_first() {
    let (server, partner) = server().await;
    let text = server
        .request(Method::POST, "/v3/customers")
        .partner(&partner)
        .header("Content-Type", "text/plain")
        .body(new_customer(R1, "A", "a@b.example").to_string())
        .send()
        .await;
    assert_eq!(
        text.error(),
        (400, invalid(&["Content-Type: must be application/json"]))
    );
    let with_query = server
        .request(Method::POST, "/v3/customers?dryRun=true")
        .partner(&partner)
        .json(&new_customer(R1, "A", "a@b.example"))
        .send()
        .await;
    assert_eq!(
        with_query.error(),
        (
            400,
            error_body(
                "1132",
                "Invalid value for search parameter",
                &["dryRun: unknown parameter"]
            )
        )
    );
    let mut huge = new_customer(R1, "A", "a@b.example");
    huge["tags"] = json!(vec!["x".repeat(1000); 70]);
    let too_large = post(&server, &partner, &huge).await;
    assert_eq!(
        too_large.error(),
        (
            413,
            error_body("413", "Payload too large", &["the body must be at most 65536 bytes"])
        )
    );
}

#[tokio::test]
async fn patch_merges_editable_fields_and_answers_the_new_record() {
    let (server, partner) = server().await;
    let before = server.get_as(&partner, "/v3/customers/C1").await;
    let etag = before.header("etag").unwrap().to_owned();
    let response = server
        .request(Method::PATCH, "/v3/customers/C1")
        .partner(&partner)
        .header("Content-Type", "application/merge-patch+json")
        .header("If-Match", &etag)
        .body(
            json!({
                "externalReferenceId": "ext-9",
                "companyProfile": {"address": {"city": "Potsdam"}, "companyName": "Known Co"},
                "tags": ["gold"],
                "globalSalesEnabled": true,
                "linkedMembership": {"type": "STANDARD"}
            })
            .to_string(),
        )
        .send()
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let mut expected = before.json();
    expected["externalReferenceId"] = json!("ext-9");
    expected["companyProfile"]["address"]["city"] = json!("Potsdam");
    expected["tags"] = json!(["gold"]);
    expected["globalSalesEnabled"] = json!(true);
    let links = expected.as_object_mut().unwrap().remove("links").unwrap();
    expected["linkedMembership"] = json!({"type": "STANDARD"});
    expected["links"] = links;
    assert_eq!(response.json(), expected);
    let new_etag = response.header("etag").unwrap().to_owned();
    assert_ne!(new_etag, etag);
    assert_eq!(server.get_as(&partner, "/v3/customers/C1").await.json(), expected);

    // The old ETag no longer matches: 412, nothing written.
    let stale = server
        .request(Method::PATCH, "/v3/customers/C1")
        .partner(&partner)
        .header("If-Match", &etag)
        .json(&json!({"tags": []}))
        .send()
        .await;
    assert_eq!(stale.error(), (412, error_body("412", "Precondition failed", &[])));
    assert_eq!(server.get_as(&partner, "/v3/customers/C1").await.json(), expected);

    // An empty patch changes nothing, and writes nothing.
    let generation = server.app.catalog.generation();
    let same = patch(&server, &partner, "C1", &json!({})).await;
    assert_eq!(
        (same.status, same.json(), same.header("etag")),
        (200, expected, Some(new_etag.as_str()))
    );
    assert_eq!(server.app.catalog.generation(), generation);
}

#[tokio::test]
async fn patch_refuses_what_may_not_change() {
    let (server, partner) = server().await;
    assert_eq!(
        patch(
            &server,
            &partner,
            "C1",
            &json!({"resellerId": "R2", "companyProfile": {"address": {"country": "FR"}}})
        )
        .await
        .error(),
        (
            400,
            error_body(
                "1119",
                "Some fields are not editable",
                &[
                    "resellerId: is not editable",
                    "companyProfile.address.country: is not editable"
                ]
            )
        )
    );
    assert_eq!(
        patch(
            &server,
            &partner,
            "C1",
            &json!({"nickname": "x", "companyProfile": {"tags": []}})
        )
        .await
        .error(),
        (
            400,
            error_body(
                "1121",
                "Request contains additional unexpected fields",
                &[
                    "nickname: is not a field of a customer",
                    "companyProfile.tags: is not a field of a customer"
                ]
            )
        )
    );
    assert_eq!(
        patch(
            &server,
            &partner,
            "C1",
            &json!({"tags": "gold", "companyProfile": {"contacts": []}})
        )
        .await
        .error(),
        (400, invalid(&["tags: must be an array of strings"]))
    );
    assert_eq!(
        patch(&server, &partner, "C1", &json!({"companyProfile": {"contacts": null}}))
            .await
            .error(),
        (
            400,
            invalid(&["companyProfile.contacts: at least one contact must remain"])
        )
    );
    assert_eq!(
        patch(&server, &partner, "P1", &json!({"tags": ["x"]})).await.error(),
        (
            400,
            error_body(
                "1125",
                "Account cannot be updated while status is pending or blocked",
                &[]
            )
        )
    );
    for id in ["X1", "NOPE"] {
        assert_eq!(
            patch(&server, &partner, id, &json!({"tags": ["x"]})).await.error(),
            (404, error_body("1116", "Invalid Customer", &[])),
            "{id}"
        );
    }
}

#[tokio::test]
async fn a_three_year_commitment_request_is_recorded() {
    let (server, partner) = server().await;
    let response = patch(
        &server,
        &partner,
        "C1",
        &json!({"benefits": [{"type": "THREE_YEAR_COMMIT",
            "commitmentRequest": {"minimumQuantities": [{"offerType": "LICENSE", "quantity": 10}]}}]}),
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.json()["benefits"],
        json!([{"type": "THREE_YEAR_COMMIT", "commitmentRequest":
            {"status": "REQUESTED", "minimumQuantities": [{"offerType": "LICENSE", "quantity": 10}]}}])
    );
    let recommit = patch(
        &server,
        &partner,
        "C1",
        &json!({"benefits": [{"type": "THREE_YEAR_COMMIT",
            "recommitmentRequest": {"minimumQuantities": [{"offerType": "LICENSE", "quantity": 10}]}}]}),
    )
    .await;
    assert_eq!(
        recommit.error(),
        (
            400,
            invalid(&["benefits[0].recommitmentRequest: allowed only while the commitment's status is COMMITTED"])
        )
    );
    let other = patch(&server, &partner, "C1", &json!({"benefits": [{"type": "PRICE_LOCK"}]})).await;
    assert_eq!(
        other.error(),
        (
            400,
            error_body(
                "1119",
                "Some fields are not editable",
                &["benefits[0].type: only THREE_YEAR_COMMIT requests can be made"]
            )
        )
    );
}

/// SPEC §6 (POST `benefits`): a three-year commitment requested at creation
/// is recorded as a PATCH records it, the one other benefit a new customer
/// may have is kept, and anything else is refused by the same rules.
#[tokio::test]
async fn a_post_records_a_three_year_commitment_request_and_refuses_other_benefits() {
    let (server, partner) = server().await;
    let mut body = new_customer(R1, "Committed Ltd", "ada@committed.example");
    body["benefits"] = json!([
        {"type": "THREE_YEAR_COMMIT", "commitmentRequest": {"minimumQuantities":
            [{"offerType": "LICENSE", "quantity": 10}]}},
        {"type": "LARGE_GOVERNMENT_AGENCY"}
    ]);
    let created = post(&server, &partner, &body).await;
    assert_eq!(created.status, 201, "{}", created.text());
    let expected = json!([
        {"type": "THREE_YEAR_COMMIT", "commitmentRequest": {"status": "REQUESTED", "minimumQuantities":
            [{"offerType": "LICENSE", "quantity": 10}]}},
        {"type": "LARGE_GOVERNMENT_AGENCY"}
    ]);
    assert_eq!(created.json()["benefits"], expected);
    let id = created.json()["customerId"].as_str().unwrap().to_owned();
    let read = server.get_as(&partner, &format!("/v3/customers/{id}")).await;
    assert_eq!(read.json(), created.json(), "stored as answered");

    let refused = |benefits: Value, name: &str| {
        let mut body = new_customer(R1, name, "x@refused.example");
        body["benefits"] = benefits;
        body
    };
    let bogus = refused(
        json!([{"type": "THREE_YEAR_COMMIT", "commitmentRequest":
            {"minimumQuantities": [{"offerType": "BOGUS", "quantity": 0}]}}]),
        "Bogus Ltd",
    );
    assert_eq!(
        post(&server, &partner, &bogus).await.error(),
        (
            400,
            invalid(&[
                "benefits[0].commitmentRequest.minimumQuantities[0].offerType: must be LICENSE or CONSUMABLES",
                "benefits[0].commitmentRequest.minimumQuantities[0].quantity: must be an integer of 1 or more",
            ])
        )
    );
    let anything = refused(json!([{"type": "ANYTHING"}]), "Anything Ltd");
    assert_eq!(
        post(&server, &partner, &anything).await.error(),
        (
            400,
            error_body(
                "1119",
                "Some fields are not editable",
                &["benefits[0].type: only THREE_YEAR_COMMIT requests and LARGE_GOVERNMENT_AGENCY can be given"]
            )
        )
    );
    let claimed = refused(
        json!([{"type": "THREE_YEAR_COMMIT", "commitment": {"status": "COMMITTED"}}]),
        "Claimed Ltd",
    );
    assert_eq!(
        post(&server, &partner, &claimed).await.error(),
        (
            400,
            error_body(
                "1119",
                "Some fields are not editable",
                &["benefits[0].commitment: is not editable"]
            )
        )
    );
    let renewal = refused(
        json!([{"type": "THREE_YEAR_COMMIT", "recommitmentRequest":
            {"minimumQuantities": [{"offerType": "LICENSE", "quantity": 5}]}}]),
        "Renewal Ltd",
    );
    assert_eq!(
        post(&server, &partner, &renewal).await.error(),
        (
            400,
            invalid(&["benefits[0].recommitmentRequest: a new customer has no commitment to renew"])
        )
    );
    assert_eq!(
        named(&server, &partner, "*Ltd").await,
        1,
        "only the valid one was created"
    );
}

/// SPEC §6 (PATCH): a benefit entry's other fields are 1119; `contacts: []`
/// changes nothing (Adobe's own three-year-commit samples send it); a known
/// contact keeps its name.
#[tokio::test]
async fn a_patch_keeps_contacts_and_their_names_and_refuses_benefit_fields() {
    let (server, partner) = server().await;
    let before = server.get_as(&partner, "/v3/customers/C1").await;
    let commitment = patch(
        &server,
        &partner,
        "C1",
        &json!({"benefits": [{"type": "THREE_YEAR_COMMIT", "commitment": {"status": "COMMITTED"}}]}),
    )
    .await;
    assert_eq!(
        commitment.error(),
        (
            400,
            error_body(
                "1119",
                "Some fields are not editable",
                &["benefits[0].commitment: is not editable"]
            )
        )
    );
    let sample = json!({"companyProfile": {"contacts": []}, "benefits": [{"type": "THREE_YEAR_COMMIT",
        "commitmentRequest": {"minimumQuantities": [{"offerType": "LICENSE", "quantity": 10}]}}]});
    let requested = patch(&server, &partner, "C1", &sample).await;
    assert_eq!(requested.status, 200, "{}", requested.text());
    assert_eq!(
        requested.json()["companyProfile"]["contacts"],
        before.json()["companyProfile"]["contacts"]
    );
    let unchanged = patch(&server, &partner, "C1", &json!({"companyProfile": {"contacts": []}})).await;
    assert_eq!((unchanged.status, unchanged.json()), (200, requested.json()));
    assert_eq!(unchanged.header("etag"), requested.header("etag"));
    let renamed = json!({"companyProfile": {"contacts": [
        {"firstName": "Kay", "lastName": "C", "email": "K@known.example"}]}});
    assert_eq!(
        patch(&server, &partner, "C1", &renamed).await.error(),
        (
            400,
            error_body(
                "1119",
                "Some fields are not editable",
                &["companyProfile.contacts[0].firstName: is not editable (a contact's name cannot be changed)"]
            )
        )
    );
    let phone = json!({"companyProfile": {"contacts": [
        {"firstName": "K", "lastName": "C", "email": "k@known.example", "phoneNumber": "+49 30 1"}]}});
    let changed = patch(&server, &partner, "C1", &phone).await;
    assert_eq!(
        changed.json()["companyProfile"]["contacts"],
        json!([{"firstName": "K", "lastName": "C", "email": "k@known.example", "phoneNumber": "+49 30 1"}])
    );
}

async fn post_correlated(server: &TestServer, partner: &Partner, id: &str, body: &Value) -> Response {
    server
        .request(Method::POST, "/v3/customers")
        .partner(partner)
        .header("X-Correlation-Id", id)
        .json(body)
        .send()
        .await
}

/// The customers of R1 named `name`.
async fn named(server: &TestServer, partner: &Partner, name: &str) -> u64 {
    server
        .get_as(
            partner,
            &format!("/v3/resellers/{R1}/customers?name={}", name.replace(' ', "+")),
        )
        .await
        .json()["totalCount"]
        .as_u64()
        .unwrap()
}

#[tokio::test]
async fn a_repeated_correlation_id_replays_the_first_answer_and_writes_nothing() {
    let (server, partner) = server().await;
    let body = new_customer(R1, "Once Only", "once@only.example");
    let first = server
        .request(Method::POST, "/v3/customers")
        .partner(&partner)
        .header("X-Correlation-Id", "corr-1")
        .header("X-Request-Id", "req-1")
        .json(&body)
        .send()
        .await;
    assert_eq!(first.status, 201);
    assert_eq!(first.header("x-correlation-id"), Some("corr-1"));
    // The same request again, even with the same request id: the same answer.
    let again = server
        .request(Method::POST, "/v3/customers")
        .partner(&partner)
        .header("X-Correlation-Id", "corr-1")
        .header("X-Request-Id", "req-1")
        .json(&body)
        .send()
        .await;
    assert_eq!(
        (
            again.status,
            again.text(),
            again.header("location"),
            again.header("etag")
        ),
        (201, first.text(), first.header("location"), first.header("etag"))
    );
    assert_eq!(named(&server, &partner, "Once Only").await, 1);
    // Another request with the same id: 4119.
    let other = post_correlated(&server, &partner, "corr-1", &new_customer(R1, "Twice", "t@w.example")).await;
    assert_eq!(
        other.error(),
        (
            400,
            error_body(
                "4119",
                "Correlation ID is Invalid or Missing",
                &["X-Correlation-Id: already used for a different request"]
            )
        )
    );
    // Refusals are remembered too: the same refused request, the same refusal.
    let refused = post_correlated(&server, &partner, "corr-2", &json!({"resellerId": R1})).await;
    assert_eq!(refused.json()["code"], "1122");
    let refused_again = post_correlated(&server, &partner, "corr-2", &json!({"resellerId": R1})).await;
    assert_eq!(refused_again.text(), refused.text());
    // Each client has its own ids.
    let other_partner = server.client(R1).await;
    let theirs = post_correlated(
        &server,
        &other_partner,
        "corr-1",
        &new_customer(R1, "Theirs", "t@h.example"),
    )
    .await;
    assert_eq!(theirs.status, 201);
}

#[tokio::test]
async fn concurrent_duplicates_write_exactly_once() {
    let (server, partner) = server().await;
    let server = Arc::new(server);
    let body = new_customer(R1, "Raced Co", "race@raced.example");
    let answers = futures::future::join_all((0..24).map(|_| {
        let (server, partner, body) = (server.clone(), partner.clone(), body.clone());
        async move { post_correlated(&server, &partner, "race-1", &body).await }
    }))
    .await;
    let created: Vec<&Response> = answers.iter().filter(|a| a.status == 201).collect();
    let in_flight = answers.iter().filter(|a| a.status == 400).count();
    assert_eq!(created.len() + in_flight, 24, "only 201s and 4122s");
    assert!(!created.is_empty());
    assert!(
        created.iter().all(|a| a.text() == created[0].text()),
        "one answer, replayed"
    );
    for refused in answers.iter().filter(|a| a.status == 400) {
        assert_eq!(
            refused.error(),
            (
                400,
                error_body(
                    "4122",
                    "This request is already being processed. Please wait a moment and try again.",
                    &[]
                )
            )
        );
    }
    assert_eq!(named(&server, &partner, "Raced Co").await, 1, "exactly one write");
}

#[tokio::test]
async fn remembered_answers_survive_a_restart() {
    let database = Arc::new(TestDatabase::new());
    let mut first = TestServer::start_on(database.clone(), test_config()).await;
    first
        .import(&[customer("C1", R1, "1000", "Known Co", "2025-07-29T10:42:31Z")])
        .await;
    let partner = first.client("*").await;
    let body = new_customer(R1, "Durable Co", "d@durable.example");
    let created = post_correlated(&first, &partner, "durable-1", &body).await;
    assert_eq!(created.status, 201);
    first.stop().await;
    drop(first);
    let second = TestServer::start_on(database, test_config()).await;
    let replayed = post_correlated(&second, &partner, "durable-1", &body).await;
    assert_eq!((replayed.status, replayed.text()), (201, created.text()));
    assert_eq!(named(&second, &partner, "Durable Co").await, 1);
}

#[tokio::test]
async fn the_2025_11_version_lists_summaries_under_accounts() {
    let (server, _) = server().await;
    let pinned = server
        .client_pinned(R1, None, roster::domain::ApiVersion::V2025_11)
        .await;
    let summary = |id: &str, name: &str, created: &str| {
        json!({"externalReferenceId": "", "customerId": id, "resellerId": R1, "status": "1000",
               "companyProfile": {"companyName": name}, "creationDate": created,
               "links": {"self": {"uri": format!("/v3/customers/{id}"), "method": "GET", "headers": []}}})
    };
    let response = server.get_as(&pinned, &format!("/v3/resellers/{R1}/customers")).await;
    assert_eq!(response.header("x-api-version"), Some("2025-11"));
    assert_eq!(
        response.json(),
        json!({"totalCount": 1, "count": 1, "offset": 0, "limit": 20,
               "accounts": [summary("C1", "Known Co", "2025-07-29T10:42:31Z")]})
    );
    // A request may ask for the other version, either way.
    let full = server
        .get(&format!("/v3/resellers/{R1}/customers"))
        .partner(&pinned)
        .header("X-Api-Version", "2025-08")
        .send()
        .await;
    assert_eq!(full.header("x-api-version"), Some("2025-08"));
    assert_eq!(full.json()["customers"][0]["customerId"], "C1");
    let bad = server
        .get(&format!("/v3/resellers/{R1}/customers"))
        .partner(&pinned)
        .header("X-Api-Version", "2024-01")
        .send()
        .await;
    assert_eq!(
        bad.error(),
        (400, invalid(&["X-Api-Version: must be 2025-08 or 2025-11"]))
    );
    assert_eq!(
        bad.header("x-api-version"),
        Some("2025-11"),
        "authenticated responses carry it"
    );
}

#[tokio::test]
async fn the_v2_token_endpoint_takes_the_query_string_and_answers_in_milliseconds() {
    let (server, partner) = server().await;
    let query = format!(
        "/ims/token/v2?grant_type=client_credentials&client_id={}&client_secret={}&scope=openid",
        partner.key, partner.secret
    );
    let response = server.request(Method::POST, &query).send().await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let body = response.json();
    assert_eq!(body["expires_in"], 86_400_000);
    assert_eq!(body["token_type"], "bearer");
    let token = body["access_token"].as_str().unwrap();
    let listed = server
        .get(&format!("/v3/resellers/{R1}/customers"))
        .header("Authorization", &format!("Bearer {token}"))
        .header("X-Api-Key", &partner.key)
        .send()
        .await;
    assert_eq!(listed.status, 200);

    let form = server
        .request(Method::POST, "/ims/token/v2")
        .form(&crate::support::credentials(&partner.key, &partner.secret))
        .send()
        .await;
    assert_eq!(form.json()["expires_in"], 86_400_000);
    let wrong = server
        .request(Method::POST, &query.replace(&partner.secret, "wrong"))
        .send()
        .await;
    assert_eq!((wrong.status, wrong.json()), (401, json!({"error": "invalid_client"})));
    let twice = server
        .request(Method::POST, &query)
        .form("grant_type=client_credentials")
        .send()
        .await;
    assert_eq!(twice.json()["error"], "invalid_request");
}

#[tokio::test]
async fn a_write_on_one_instance_shows_on_another_within_a_second() {
    let Some(database) = TestDatabase::postgres() else {
        return;
    };
    let database = Arc::new(database);
    let a = TestServer::start_on(database.clone(), test_config()).await;
    let b = TestServer::start_on(database, test_config()).await;
    a.import(&[customer("C1", R1, "1000", "Known Co", "2025-07-29T10:42:31Z")])
        .await;
    let partner = a.client("*").await;
    let created = post(&a, &partner, &new_customer(R1, "Seen Elsewhere", "s@e.example")).await;
    assert_eq!(created.status, 201);
    let path = format!("/v3/customers/{}", created.json()["customerId"].as_str().unwrap());
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    loop {
        let response = b.get_as(&partner, &path).await;
        if response.status == 200 {
            assert_eq!(response.text(), created.text());
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not on the other instance within a second"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// No id or field holds U+0000, on either backend (PostgreSQL's text
/// cannot): a path naming one is an unknown reseller or customer, a body
/// or an import carrying one is refused naming the field, and a login
/// with one is a wrong client.
#[tokio::test]
async fn no_id_or_field_holds_the_nul_character() {
    let (server, _) = server().await;
    let everyone = server.client("*").await;
    let listed = server.get_as(&everyone, "/v3/resellers/%00/customers").await;
    assert_eq!(listed.error(), (404, error_body("1115", "Invalid Reseller", &[])));
    let read = server.get_as(&everyone, "/v3/customers/C1%00").await;
    assert_eq!(read.error(), (404, error_body("1116", "Invalid Customer", &[])));
    let patched = patch(&server, &everyone, "%00", &json!({"tags": ["x"]})).await;
    assert_eq!(patched.error(), (404, error_body("1116", "Invalid Customer", &[])));

    let mut body = new_customer(R1, "A\u{0}B", "nul@example.com");
    body["companyProfile"]["address"]["city"] = json!("\u{0}");
    assert_eq!(
        post(&server, &everyone, &body).await.error(),
        (
            400,
            invalid(&[
                "companyProfile.companyName: must not contain the character U+0000",
                "companyProfile.address.city: must not contain the character U+0000",
            ])
        )
    );
    let body = new_customer("\u{0}", "Nul Co", "nul@example.com");
    assert_eq!(
        post(&server, &everyone, &body).await.error(),
        (400, invalid(&["resellerId: must not contain the character U+0000"]))
    );
    let renamed = patch(
        &server,
        &everyone,
        "C1",
        &json!({"companyProfile": {"address": {"city": "B\u{0}"}}}),
    )
    .await;
    assert_eq!(
        renamed.error(),
        (
            400,
            invalid(&["companyProfile.address.city: must not contain the character U+0000"])
        )
    );

    // An import normalises each record as this does (and is all or nothing).
    let imported =
        roster::domain::CustomerRecord::from_json(customer("N\u{0}1", R1, "1000", "Nul Co", "2025-01-01T00:00:00Z"));
    assert_eq!(
        imported.err().map(|e| e.0).as_deref(),
        Some("customerId: must not contain the character U+0000")
    );

    let login = server.token_request(&credentials("%00", "secret")).send().await;
    assert_eq!(
        (login.status, login.json()["error"].clone()),
        (401, json!("invalid_client"))
    );
}
