//! SPEC §1 and §2: what a page holds, and how filters, sorting and paging
//! choose it.

use serde_json::{Value, json};

use crate::support::{TestServer, customer, ids, served, test_config};

const R1: &str = "1000361686";

/// A small portfolio: R1 has five active customers, one pending, one
/// inactive; R2 has one.
fn portfolio() -> Vec<Value> {
    vec![
        customer("C1", R1, "1000", "Acme GmbH", "2025-07-29T10:42:31Z"),
        customer("C2", R1, "1000", "beta Systems", "2024-01-15T08:00:00Z"),
        customer("C3", R1, "1000", "ACME Labs", "2025-07-29T10:42:31Z"),
        customer("C4", R1, "1002", "Gamma Pending", "2023-03-01T00:00:00Z"),
        customer("C5", R1, "1004", "Delta Inactive", "2022-12-31T23:59:59Z"),
        customer("C6", R1, "1000", "Épicerie Zoë", "2025-01-01T00:00:00Z"),
        customer("C7", R1, "1000", "acme", "2023-06-30T12:00:00Z"),
        customer("X1", "R2", "1000", "Other Reseller Co", "2025-05-05T05:05:05Z"),
    ]
}

async fn server() -> (TestServer, crate::support::Partner) {
    let server = TestServer::start_with(test_config(), &portfolio()).await;
    let partner = server.client("*").await;
    (server, partner)
}

async fn page(server: &TestServer, partner: &crate::support::Partner, query: &str) -> Value {
    let response = server
        .get_as(partner, &format!("/v3/resellers/{R1}/customers{query}"))
        .await;
    assert_eq!(response.status, 200, "{query}: {}", response.text());
    response.json()
}

#[tokio::test]
async fn default_page_is_active_customers_newest_first_with_the_envelope() {
    let (server, partner) = server().await;
    let response = server.get_as(&partner, &format!("/v3/resellers/{R1}/customers")).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let all = portfolio();
    let by_id = |id: &str| served(all.iter().find(|c| c["customerId"] == id).unwrap());
    // Ties on creationDate (C1, C3) go to customerId ascending.
    assert_eq!(
        response.json(),
        json!({
            "totalCount": 5,
            "count": 5,
            "offset": 0,
            "limit": 20,
            "customers": [by_id("C1"), by_id("C3"), by_id("C6"), by_id("C2"), by_id("C7")],
        })
    );
}

#[tokio::test]
async fn a_customer_comes_back_in_the_spec_shape_byte_for_byte() {
    let full = json!({
        "customerId": "1006374020",
        "resellerId": R1,
        "status": "1000",
        "externalReferenceId": "a60924a0-170d-4d21-8736-3f927037371",
        "companyProfile": {
            "companyName": "Test Customer 222",
            "preferredLanguage": "en-US",
            "address": {"country": "US", "region": "CA", "city": "San Jose", "addressLine1": "345 Park Ave",
                        "postalCode": "95110", "floor": 3},
            "contacts": [{"firstName": "first_name", "lastName": "last_name", "email": "abc@xyz.com"},
                         {"email": "x@y.z", "phoneNumber": "+1 408 555 0100"}],
            "marketSubSegments": ["K_12"],
            "marketSegment": "EDU",
        },
        "creationDate": "2025-07-29T10:42:31Z",
        "linkedMembership": {"type": "STANDARD", "name": "Linked"},
        "benefits": [{"type": "THREE_YEAR_COMMIT", "commitment": {"status": "COMMITTED", "quantity": 1.5}}],
        "partnerNote": "kept",
        "discounts": [{"offerType": "LICENSE", "level": "02"}],
    });
    let server = TestServer::start_with(test_config(), &[full]).await;
    let partner = server.client("*").await;
    let response = server.get_as(&partner, &format!("/v3/resellers/{R1}/customers")).await;
    assert_eq!(
        response.text(),
        concat!(
            r#"{"totalCount":1,"count":1,"offset":0,"limit":20,"customers":[{"#,
            r#""externalReferenceId":"a60924a0-170d-4d21-8736-3f927037371","customerId":"1006374020","#,
            r#""resellerId":"1000361686","status":"1000","companyProfile":{"companyName":"Test Customer 222","#,
            r#""preferredLanguage":"en-US","marketSegment":"EDU","marketSubSegments":["K_12"],"address":{"#,
            r#""country":"US","region":"CA","city":"San Jose","addressLine1":"345 Park Ave","addressLine2":"","#,
            r#""postalCode":"95110","phoneNumber":"","floor":3},"contacts":[{"firstName":"first_name","#,
            r#""lastName":"last_name","email":"abc@xyz.com"},{"firstName":"","lastName":"","email":"x@y.z","#,
            r#""phoneNumber":"+1 408 555 0100"}]},"discounts":[{"offerType":"LICENSE","level":"02"}],"tags":[],"#,
            r#""cotermDate":"","creationDate":"2025-07-29T10:42:31Z","benefits":[{"type":"THREE_YEAR_COMMIT","#,
            r#""commitment":{"status":"COMMITTED","quantity":1.5}}],"globalSalesEnabled":false,"#,
            r#""linkedMembership":{"type":"STANDARD","name":"Linked"},"partnerNote":"kept"}]}"#
        )
    );
}

#[tokio::test]
async fn status_filter_is_repeatable() {
    let (server, partner) = server().await;
    let body = page(&server, &partner, "?status=1002&status=1004").await;
    assert_eq!(
        (body["totalCount"].clone(), ids(&body)),
        (json!(2), vec!["C4".into(), "C5".into()])
    );
    let body = page(&server, &partner, "?status=1010").await;
    assert_eq!(
        body,
        json!({"totalCount": 0, "count": 0, "offset": 0, "limit": 20, "customers": []})
    );
}

#[tokio::test]
async fn customer_id_filter() {
    let (server, partner) = server().await;
    let body = page(
        &server,
        &partner,
        "?customer-id=C2&customer-id=C7&customer-id=X1&customer-id=C4",
    )
    .await;
    // X1 is another reseller's and C4 is not active: neither is listed.
    assert_eq!(ids(&body), ["C2", "C7"]);
    assert_eq!(body["totalCount"], 2);
}

#[tokio::test]
async fn name_wildcards_are_case_insensitive_over_the_whole_name() {
    let (server, partner) = server().await;
    let sorted = "&sort-by=companyName&order-by=asc";
    let cases: &[(&str, &[&str])] = &[
        ("?name=acme", &["C7"]),
        ("?name=ACME*", &["C7", "C1", "C3"]),
        ("?name=*acme*", &["C7", "C1", "C3"]),
        ("?name=*SYSTEMS", &["C2"]),
        ("?name=*gmbh", &["C1"]),
        ("?name=a*s", &["C3"]),
        ("?name=%C3%A9picerie*", &["C6"]),
        ("?name=%C3%89PICERIE+ZO%C3%8B", &["C6"]),
        ("?name=*", &["C7", "C1", "C3", "C2", "C6"]),
        ("?name=acm", &[]),
        ("?name=acme%25", &[]),
        ("?company-name=beta*", &["C2"]),
    ];
    for (query, expected) in cases {
        let body = page(&server, &partner, &format!("{query}{sorted}")).await;
        assert_eq!(ids(&body), *expected, "{query}");
        assert_eq!(body["totalCount"], expected.len(), "{query}");
    }
}

#[tokio::test]
async fn escaped_stars_and_backslashes_are_literal() {
    let customers = vec![
        customer("S1", R1, "1000", "5* Hotels", "2025-01-01T00:00:00Z"),
        customer("S2", R1, "1000", "55 Hotels", "2025-01-02T00:00:00Z"),
        customer("S3", R1, "1000", r"Back\slash Ltd", "2025-01-03T00:00:00Z"),
        customer("S4", R1, "1000", "100% Pure_Co", "2025-01-04T00:00:00Z"),
        customer("S5", R1, "1000", "1000 PureXCo", "2025-01-05T00:00:00Z"),
    ];
    let server = TestServer::start_with(test_config(), &customers).await;
    let partner = server.client("*").await;
    let cases: &[(&str, &[&str])] = &[
        (r"?name=5%5C*+hotels", &["S1"]),
        ("?name=5*+hotels", &["S2", "S1"]),
        (r"?name=back%5C%5Cslash*", &["S3"]),
        ("?name=100%25+pure_co", &["S4"]),
        ("?name=*%25*", &["S4"]),
        ("?name=*pure_co", &["S4"]),
    ];
    for (query, expected) in cases {
        let body = page(&server, &partner, query).await;
        assert_eq!(ids(&body), *expected, "{query}");
    }
}

#[tokio::test]
async fn creation_date_range_is_inclusive_for_dates_and_timestamps() {
    let (server, partner) = server().await;
    let cases: &[(&str, &[&str])] = &[
        ("?from-created-date=2025-07-29", &["C1", "C3"]),
        ("?to-created-date=2024-01-15", &["C2", "C7"]),
        (
            "?from-created-date=2024-01-15&to-created-date=2025-01-01",
            &["C6", "C2"],
        ),
        ("?from-created-date=2025-07-29T10:42:31Z", &["C1", "C3"]),
        ("?from-created-date=2025-07-29T10:42:32Z", &[]),
        ("?to-created-date=2025-07-29T12:42:30%2B02:00", &["C6", "C2", "C7"]),
        (
            "?to-created-date=2025-07-29T12:42:31%2B02:00",
            &["C1", "C3", "C6", "C2", "C7"],
        ),
        (
            "?from-created-date=2024-01-01&to-created-date=2024-12-31&sort-by=companyName",
            &["C2"],
        ),
    ];
    for (query, expected) in cases {
        let body = page(&server, &partner, query).await;
        assert_eq!(ids(&body), *expected, "{query}");
    }
}

#[tokio::test]
async fn sorting_is_total_with_the_customer_id_tiebreak_both_ways() {
    let (server, partner) = server().await;
    let cases: &[(&str, &[&str])] = &[
        ("?sort-by=creationDate&order-by=asc", &["C7", "C2", "C6", "C1", "C3"]),
        ("?sort-by=creationDate&order-by=desc", &["C1", "C3", "C6", "C2", "C7"]),
        // Folded names: "acme" < "acme gmbh" < "acme labs" < "beta systems" < "épicerie zoë".
        ("?sort-by=companyName&order-by=asc", &["C7", "C1", "C3", "C2", "C6"]),
        ("?sort-by=companyName&order-by=desc", &["C6", "C2", "C3", "C1", "C7"]),
    ];
    for (query, expected) in cases {
        assert_eq!(ids(&page(&server, &partner, query).await), *expected, "{query}");
    }
    let twins = vec![
        customer("T2", R1, "1000", "Same Name", "2025-01-01T00:00:00Z"),
        customer("T1", R1, "1000", "SAME NAME", "2024-01-01T00:00:00Z"),
        customer("T3", R1, "1000", "same name", "2023-01-01T00:00:00Z"),
    ];
    let server = TestServer::start_with(test_config(), &twins).await;
    let partner = server.client("*").await;
    for order in ["asc", "desc"] {
        let body = page(&server, &partner, &format!("?sort-by=companyName&order-by={order}")).await;
        assert_eq!(
            ids(&body),
            ["T1", "T2", "T3"],
            "ties go to customerId ascending ({order})"
        );
    }
}

/// SPEC §2: the spellings the family's own documentation uses answer
/// exactly as the canonical ones.
#[tokio::test]
async fn the_familys_spellings_of_sort_and_order_are_the_same_query() {
    let (server, partner) = server().await;
    let canonical = page(&server, &partner, "?sort-by=companyName&order-by=asc").await;
    assert_eq!(ids(&canonical), ["C7", "C1", "C3", "C2", "C6"]);
    for spelling in [
        "?sort-by=companyProfile.companyName&order-by=asc",
        "?sort-by=companyName&order-by=ASC",
        "?sort-by=companyProfile.companyName&order-by=Asc",
    ] {
        assert_eq!(page(&server, &partner, spelling).await, canonical, "{spelling}");
    }
    assert_eq!(
        page(&server, &partner, "?order-by=DESC").await,
        page(&server, &partner, "").await
    );
    let wrong = server
        .get_as(
            &partner,
            &format!("/v3/resellers/{R1}/customers?order-by=ASCENDING&sort-by=name"),
        )
        .await;
    assert_eq!(
        wrong.error(),
        (
            400,
            crate::support::error_body(
                "1132",
                "Invalid value for search parameter",
                &[
                    "order-by: must be asc or desc",
                    "sort-by: must be creationDate or companyName"
                ]
            )
        )
    );
}

#[tokio::test]
async fn offset_and_limit_page_without_skipping_or_repeating() {
    let customers: Vec<Value> = (0..23)
        .map(|i| {
            customer(
                &format!("P{i:02}"),
                R1,
                "1000",
                &format!("Company {}", i % 4),
                &format!("2025-01-{:02}T00:00:00Z", 1 + i % 5),
            )
        })
        .collect();
    let server = TestServer::start_with(test_config(), &customers).await;
    let partner = server.client("*").await;
    for sort in ["creationDate", "companyName"] {
        for order in ["asc", "desc"] {
            let whole = page(&server, &partner, &format!("?sort-by={sort}&order-by={order}&limit=50")).await;
            let mut paged = Vec::new();
            for offset in (0..23).step_by(4) {
                let body = page(
                    &server,
                    &partner,
                    &format!("?sort-by={sort}&order-by={order}&offset={offset}&limit=4"),
                )
                .await;
                assert_eq!(body["offset"], offset);
                assert_eq!(body["limit"], 4);
                assert_eq!(body["totalCount"], 23);
                assert_eq!(body["count"], body["customers"].as_array().unwrap().len());
                paged.extend(ids(&body));
            }
            assert_eq!(paged, ids(&whole), "{sort} {order}");
        }
    }
    let past_the_end = page(&server, &partner, "?offset=23&limit=5").await;
    assert_eq!(
        past_the_end,
        json!({"totalCount": 23, "count": 0, "offset": 23, "limit": 5, "customers": []})
    );
    let far = page(&server, &partner, "?offset=18446744073709551615").await;
    assert_eq!(far["customers"], json!([]));
    assert_eq!(far["offset"], json!(18446744073709551615u64));
}

#[tokio::test]
async fn a_reseller_only_a_scope_names_is_known_and_empty() {
    let server = TestServer::start_with(test_config(), &portfolio()).await;
    let scoped = server.client("R-NEW").await;
    let response = server.get_as(&scoped, "/v3/resellers/R-NEW/customers").await;
    assert_eq!(
        (response.status, response.json()),
        (
            200,
            json!({"totalCount": 0, "count": 0, "offset": 0, "limit": 20, "customers": []})
        )
    );
}

#[tokio::test]
async fn an_import_while_serving_shows_within_a_second() {
    let (server, partner) = server().await;
    assert_eq!(page(&server, &partner, "").await["totalCount"], 5);
    server
        .import(&[
            customer("C8", R1, "1000", "Newcomer", "2026-01-01T00:00:00Z"),
            customer("C2", R1, "1004", "beta Systems", "2024-01-15T08:00:00Z"),
        ])
        .await;
    let body = page(&server, &partner, "").await;
    assert_eq!(body["totalCount"], 5);
    assert_eq!(ids(&body), ["C8", "C1", "C3", "C6", "C7"]);
    // A reseller that only now has customers is known now.
    server
        .import(&[customer("N1", "R-LATE", "1000", "Late", "2026-01-01T00:00:00Z")])
        .await;
    let response = server.get_as(&partner, "/v3/resellers/R-LATE/customers").await;
    assert_eq!(ids(&response.json()), ["N1"]);
}
