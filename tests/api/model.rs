//! A random sequence of API creates, API patches and imports (renames,
//! moves between resellers, status changes) leaves every list page and
//! every single read equal to a plain in-memory model of the customers, and
//! each write gets the answer the model predicts (201, 200, 1125, 1127).

use std::collections::BTreeMap;

use http::Method;
use proptest::prelude::*;
use roster::domain::fold;
use serde_json::{Value, json};

use crate::support::{TestServer, customer, served, test_config};

const RESELLERS: [&str; 2] = ["R1", "R2"];
const NAMES: [&str; 5] = ["Acme", "acme", "Beta Systems", "Zoë", "Ørsted"];
const EMAILS: [&str; 3] = ["a@x.example", "A@X.example", "b@y.example"];

#[derive(Debug, Clone)]
enum Op {
    /// POST a customer.
    Create { reseller: usize, name: usize, email: usize },
    /// PATCH the `pick`-th customer's tags and city.
    Patch { pick: usize, tag: u8, city: u8 },
    /// Import the `pick`-th customer changed (or a new one).
    Import {
        pick: usize,
        reseller: usize,
        status: &'static str,
        name: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..2usize, 0..NAMES.len(), 0..EMAILS.len()).prop_map(|(reseller, name, email)| Op::Create {
            reseller,
            name,
            email
        }),
        (any::<usize>(), 0..3u8, 0..3u8).prop_map(|(pick, tag, city)| Op::Patch { pick, tag, city }),
        (
            any::<usize>(),
            0..2usize,
            prop::sample::select(&["1000", "1000", "1002", "1004"][..]),
            0..NAMES.len()
        )
            .prop_map(|(pick, reseller, status, name)| Op::Import {
                pick,
                reseller,
                status,
                name
            }),
    ]
}

/// The customers as the model knows them: id → the stored document.
type Model = BTreeMap<String, Value>;

fn email_of(doc: &Value) -> String {
    doc["companyProfile"]["contacts"][0]["email"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

fn check(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let seed = customer("S0", "R1", "1000", "Seed Co", "2024-01-01T00:00:00Z");
        let server = TestServer::start_with(test_config(), std::slice::from_ref(&seed)).await;
        let partner = server.client("R1,R2").await;
        let mut model: Model = BTreeMap::from([("S0".to_owned(), served(&seed))]);
        let mut imported = 0;
        for op in ops {
            match op {
                Op::Create { reseller, name, email } => {
                    let (reseller, name, email) = (RESELLERS[reseller], NAMES[name], EMAILS[email]);
                    let body = json!({
                        "resellerId": reseller,
                        "companyProfile": {
                            "companyName": name,
                            "address": {"country": "NO", "region": "03", "city": "Oslo", "addressLine1": "Gate 1",
                                        "postalCode": "0150"},
                            "contacts": [{"firstName": "F", "lastName": "L", "email": email}]
                        }
                    });
                    let response = server
                        .request(Method::POST, "/v3/customers")
                        .partner(&partner)
                        .json(&body)
                        .send()
                        .await;
                    let duplicate = model.values().any(|doc| {
                        doc["resellerId"] == reseller
                            && fold(doc["companyProfile"]["companyName"].as_str().unwrap()) == fold(name)
                            && email_of(doc) == email.to_ascii_lowercase()
                    });
                    if duplicate {
                        prop_assert_eq!(response.status, 400);
                        prop_assert_eq!(&response.json()["code"], "1127");
                        continue;
                    }
                    prop_assert_eq!(response.status, 201, "{}", response.text());
                    let mut doc = response.json();
                    doc.as_object_mut().unwrap().remove("links");
                    let id = doc["customerId"].as_str().unwrap().to_owned();
                    // What the model expects, from the body and what the server chose.
                    let mut expected = body.clone();
                    expected["customerId"] = json!(id);
                    expected["status"] = json!("1000");
                    expected["creationDate"] = doc["creationDate"].clone();
                    expected["companyProfile"]["marketSegment"] = json!("COM");
                    prop_assert_eq!(&doc, &served(&expected));
                    model.insert(id, doc);
                }
                Op::Patch { pick, tag, city } => {
                    let id = model.keys().nth(pick % model.len()).unwrap().clone();
                    let patch = json!({"tags": [format!("t{tag}")], "companyProfile": {"address": {"city": format!("City {city}")}}});
                    let response = server
                        .request(Method::PATCH, &format!("/v3/customers/{id}"))
                        .partner(&partner)
                        .json(&patch)
                        .send()
                        .await;
                    let doc = model.get_mut(&id).unwrap();
                    if ["1002", "1012"].contains(&doc["status"].as_str().unwrap()) {
                        prop_assert_eq!(&response.json()["code"], "1125");
                        continue;
                    }
                    prop_assert_eq!(response.status, 200, "{}", response.text());
                    doc["tags"] = patch["tags"].clone();
                    doc["companyProfile"]["address"]["city"] = patch["companyProfile"]["address"]["city"].clone();
                    let mut answered = response.json();
                    answered.as_object_mut().unwrap().remove("links");
                    prop_assert_eq!(&answered, &*doc);
                }
                Op::Import { pick, reseller, status, name } => {
                    let id = if pick % 4 == 0 {
                        imported += 1;
                        format!("I{imported}")
                    } else {
                        model.keys().nth(pick % model.len()).unwrap().clone()
                    };
                    let mut value = model.get(&id).cloned().unwrap_or_else(|| {
                        customer(&id, "R1", "1000", "x", "2023-03-03T03:03:03Z")
                    });
                    value["resellerId"] = json!(RESELLERS[reseller]);
                    value["status"] = json!(status);
                    value["companyProfile"]["companyName"] = json!(NAMES[name]);
                    let generation = server.import(&[value.clone()]).await.generation;
                    prop_assert!(server.app.catalog.generation() >= generation);
                    model.insert(id, served(&value));
                }
            }
        }
        // Every list page and every single read, against the model.
        for reseller in RESELLERS {
            let all_statuses = "status=1000&status=1002&status=1004";
            for (query, by_name) in [
                (format!("{all_statuses}&sort-by=companyName&order-by=asc&limit=50"), true),
                ("limit=50".to_owned(), false),
            ] {
                let page = server
                    .get_as(&partner, &format!("/v3/resellers/{reseller}/customers?{query}"))
                    .await
                    .json();
                let mut expected: Vec<&Value> = model
                    .values()
                    .filter(|doc| doc["resellerId"] == reseller)
                    .filter(|doc| by_name || doc["status"] == "1000")
                    .collect();
                expected.sort_by(|a, b| {
                    let key = |doc: &Value| -> (String, i64) {
                        let name = fold(doc["companyProfile"]["companyName"].as_str().unwrap());
                        let created = roster::domain::customer::parse_creation_date(doc["creationDate"].as_str().unwrap()).unwrap();
                        (name, created)
                    };
                    let (ka, kb) = (key(a), key(b));
                    let order = if by_name { ka.0.cmp(&kb.0) } else { kb.1.cmp(&ka.1) };
                    order.then_with(|| a["customerId"].as_str().unwrap().cmp(b["customerId"].as_str().unwrap()))
                });
                prop_assert_eq!(&page["totalCount"], &json!(expected.len()), "{} {}", reseller, query);
                prop_assert_eq!(&page["customers"], &json!(expected), "{} {}", reseller, query);
            }
        }
        for (id, doc) in &model {
            let response = server.get_as(&partner, &format!("/v3/customers/{id}")).await;
            let mut read = response.json();
            read.as_object_mut().unwrap().remove("links");
            prop_assert_eq!(&read, doc, "{}", id);
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn writes_of_every_kind_leave_the_api_equal_to_the_model(ops in prop::collection::vec(op(), 1..25)) {
        check(ops)?;
    }
}
