//! Hostile input (issue #13): generated inputs, in volume, for every parser
//! a partner's bytes reach (the list query, the wildcard pattern, tokens,
//! header values, import records, write bodies) and for the HTTP surface as
//! a whole. Nothing may panic; bad input is never answered 5xx, and every
//! answer is JSON.
//!
//! `cargo test --test hostile` is a smoke run of 2,000 inputs per target;
//! `scripts/hostile` runs 1,000,000 per target (`ROSTER_HOSTILE_CASES`) in
//! a release build. A failure proptest finds is saved in
//! `tests/proptest-regressions/hostile.txt` and replayed first ever after.

use std::sync::OnceLock;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::BodyExt;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use roster::app::{App, AppConfig};
use roster::auth::TokenSigner;
use roster::auth::authorization_credentials;
use roster::auth::clients::{ClientSettings, create_client, issue_token};
use roster::catalog::index::NameMatcher;
use roster::domain::query::PARAMETERS;
use roster::domain::write::{NewCustomer, Patch};
use roster::domain::{ApiVersion, CustomerRecord, ListQuery, NamePattern, ResellerScope, fold, form};
use roster::store;
use serde_json::{Value, json};
use tower::ServiceExt;

fn config() -> Config {
    let cases = std::env::var("ROSTER_HOSTILE_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(2_000);
    Config {
        cases,
        // Volume runs must not stop for proptest's own limits.
        max_global_rejects: u32::MAX,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/proptest-regressions/hostile.txt",
        ))),
        ..Config::default()
    }
}

/// Text a partner might send, with the characters parsers trip on.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9*\\\\%&=+;,. _\\-:/?#\\[\\]@!$'()~ßİıſΣσς\u{212A}é\u{0}\u{7f}\u{fffd}]{0,40}",
        prop::sample::select(vec![
            "",
            "*",
            "**",
            "\\",
            "\\*",
            "\\\\",
            "*\\",
            "%",
            "%zz",
            "%C3",
            "%C3%A9",
            "%00",
            "%FF%FE",
            "+",
            "1e9",
            "-1",
            "0",
            "50",
            "51",
            "18446744073709551616",
            "9223372036854775807",
            "2025-02-29",
            "2024-02-29",
            "2025-13-01",
            "2025-01-01T00:00:00Z",
            "2025-01-01T24:00:00Z",
            "2025-01-01T00:00:00+14:00",
            "2025-01-01T00:00:00-25:00",
            "99999-01-01",
            "creationDate",
            "companyName",
            "asc",
            "desc",
            "1000",
            "1026",
            "9999",
        ])
        .prop_map(str::to_owned),
    ]
}

/// Keys no parameter has, beside SPEC §2's own.
const JUNK_KEYS: &[&str] = &["unknown", "", "limit[]", "STATUS"];

/// Query strings: arbitrary, or built from the real parameters with
/// hostile values, encoded or not.
fn query_string() -> impl Strategy<Value = String> {
    let keys: Vec<&str> = PARAMETERS.iter().chain(JUNK_KEYS).copied().collect();
    let pair = (prop::sample::select(keys), text(), any::<bool>()).prop_map(|(key, value, encode)| {
        let value = if encode {
            percent_encoding::utf8_percent_encode(&value, percent_encoding::NON_ALPHANUMERIC).to_string()
        } else {
            value
        };
        format!("{key}={value}")
    });
    prop_oneof![
        any::<String>(),
        prop::collection::vec(pair, 0..8).prop_map(|pairs| pairs.join("&")),
    ]
}

/// JSON values of every shape, nested a little.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(text(), inner, 0..6).prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A valid customer as `roster import` takes it, and as `POST` takes it.
fn valid_customer() -> Value {
    json!({
        "customerId": "1000000001",
        "resellerId": "2000000000",
        "status": "1000",
        "externalReferenceId": "ext-1",
        "creationDate": "2024-05-06T07:08:09Z",
        "tags": ["a"],
        "companyProfile": {
            "companyName": "Acme Straße GmbH",
            "preferredLanguage": "de-DE",
            "address": {"country": "DE", "region": "BE", "city": "Berlin", "addressLine1": "Unter den Linden 1",
                        "postalCode": "10117"},
            "contacts": [{"firstName": "Ada", "lastName": "Lovelace", "email": "ada@acme.example"}]
        },
        "discounts": [{"offerType": "CONSUMABLES", "level": "02"}],
        "globalSalesEnabled": false
    })
}

/// Every path of object keys and array indexes in `value`.
fn paths(value: &Value, prefix: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    out.push(prefix.clone());
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                prefix.push(Value::from(key.clone()));
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                prefix.push(Value::from(i));
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

/// `valid` with a few of its parts replaced by hostile values or removed.
fn mutated(valid: Value) -> impl Strategy<Value = Value> {
    let mut all = Vec::new();
    paths(&valid, &mut Vec::new(), &mut all);
    let edits = prop::collection::vec((prop::sample::select(all), prop::option::of(json_value())), 1..4);
    edits.prop_map(move |edits| {
        let mut value = valid.clone();
        for (path, replacement) in edits {
            edit(&mut value, &path, replacement);
        }
        value
    })
}

/// Replaces (or, given `None`, removes) what `path` leads to in `value`.
fn edit(value: &mut Value, path: &[Value], replacement: Option<Value>) {
    let Some((step, rest)) = path.split_first() else {
        *value = replacement.unwrap_or(Value::Null);
        return;
    };
    match (value, step) {
        (Value::Object(map), Value::String(key)) if rest.is_empty() => match replacement {
            Some(new) => {
                map.insert(key.clone(), new);
            }
            None => {
                map.remove(key);
            }
        },
        (Value::Array(items), Value::Number(i)) if rest.is_empty() => {
            let i = i.as_u64().unwrap_or(u64::MAX) as usize;
            match replacement {
                Some(new) if i < items.len() => items[i] = new,
                None if i < items.len() => {
                    items.remove(i);
                }
                _ => {}
            }
        }
        (Value::Object(map), Value::String(key)) => {
            if let Some(next) = map.get_mut(key) {
                edit(next, rest, replacement);
            }
        }
        (Value::Array(items), Value::Number(i)) => {
            if let Some(next) = items.get_mut(i.as_u64().unwrap_or(u64::MAX) as usize) {
                edit(next, rest, replacement);
            }
        }
        _ => {}
    }
}

/// Bodies: arbitrary bytes, arbitrary JSON, or a valid body mutated.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        json_value().prop_map(|value| value.to_string().into_bytes()),
        mutated(valid_customer()).prop_map(|value| value.to_string().into_bytes()),
        mutated(json!({"tags": ["x"], "companyProfile": {"address": {"city": "Paris"}}}))
            .prop_map(|value| value.to_string().into_bytes()),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn list_queries(query in query_string()) {
        if let Ok(parsed) = ListQuery::parse(&query) {
            prop_assert!((1..=50).contains(&parsed.limit.get()));
        }
    }

    #[test]
    fn name_patterns(raw in text(), name in text()) {
        if let Ok(pattern) = NamePattern::parse(&raw) {
            let folded = fold(&name);
            prop_assert_eq!(pattern.matches(&folded), NameMatcher::new(&pattern).matches(folded.as_bytes()));
            let _ = pattern.shape();
            let _ = pattern.parts().count();
        }
    }

    #[test]
    fn tokens(token in text(), flip in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let signer = signer();
        let _ = signer.verify(&token, 1_800_000_000);
        // A real token with one character changed never verifies.
        let valid = signer.issue("c0ffee", 3, 1_900_000_000);
        let mut bytes = valid.clone().into_bytes();
        let at = flip.index(bytes.len());
        if bytes[at] != byte && byte.is_ascii_graphic() {
            bytes[at] = byte;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert!(signer.verify(&changed, 1_800_000_000).is_err(), "{} verified", changed);
        }
    }

    #[test]
    fn header_values(value in prop::collection::vec(any::<u8>(), 0..80), text in text()) {
        let _ = authorization_credentials(Some(&value), "bearer");
        let _ = authorization_credentials(Some(&value), "basic");
        let _ = ApiVersion::parse(&text);
        for (_, decoded) in form::pairs(&text) {
            let _ = decoded;
        }
        let _ = form::decode(&text);
    }

    #[test]
    fn import_records(value in prop_oneof![json_value(), mutated(valid_customer())]) {
        if let Ok(record) = CustomerRecord::from_json(value) {
            // What is accepted is served back as JSON.
            prop_assert!(serde_json::from_str::<Value>(&record.doc).is_ok());
        }
    }

    #[test]
    fn write_bodies(bytes in body()) {
        let current = CustomerRecord::from_json(valid_customer()).unwrap();
        if let Ok(new) = NewCustomer::parse(&bytes) {
            let record = new.record("1000000002", 1_700_000_000);
            prop_assert!(serde_json::from_str::<Value>(&record.doc).is_ok());
        }
        if let Ok(patch) = Patch::parse(&bytes)
            && let Ok(Some(patched)) = patch.apply(&current)
        {
            prop_assert!(serde_json::from_str::<Value>(&patched.doc).is_ok());
        }
    }
}

fn signer() -> &'static TokenSigner {
    static SIGNER: OnceLock<TokenSigner> = OnceLock::new();
    SIGNER.get_or_init(|| TokenSigner::new(vec![7; 32]))
}

/// A server's router on a small SQLite database, with a partner that may
/// read everything: built once, shared by every case.
struct Surface {
    runtime: tokio::runtime::Runtime,
    router: roster::http::Api,
    token: String,
    key: String,
    _dir: tempfile::TempDir,
}

fn surface() -> &'static Surface {
    static SURFACE: OnceLock<Surface> = OnceLock::new();
    SURFACE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("hostile.db").display());
        let (router, token, key) = runtime.block_on(async {
            let store = store::open(&url).await.unwrap();
            let customer = CustomerRecord::from_json(valid_customer()).unwrap();
            store::import_with(store.as_ref(), move |sender| sender.send(customer))
                .await
                .unwrap();
            let settings = ClientSettings {
                scope: ResellerScope::parse("*").unwrap(),
                rate_limit: Some(0),
                api_version: ApiVersion::default(),
            };
            let created = create_client(store.as_ref(), "hostile", settings).await.unwrap();
            let token = issue_token(store.as_ref(), &created.client.client_id, None)
                .await
                .unwrap()
                .access_token;
            let config = AppConfig {
                rate_limit: 0,
                ..AppConfig::default()
            };
            let app = App::new(store, config).await.unwrap();
            (roster::http::router(app), token, created.client.client_id)
        });
        Surface {
            runtime,
            router,
            token,
            key,
            _dir: dir,
        }
    })
}

const PATHS: &[&str] = &[
    "/v3/resellers/2000000000/customers",
    "/v3/resellers/{}/customers",
    "/v3/customers",
    "/v3/customers/1000000001",
    "/v3/customers/{}",
    "/ims/token/v3",
    "/ims/token/v2",
    "/healthz",
    "/{}",
];

const HEADERS: &[&str] = &[
    "authorization",
    "x-api-key",
    "x-request-id",
    "x-api-version",
    "x-correlation-id",
    "content-type",
    "accept",
    "if-match",
    "if-none-match",
];

/// A request as a hostile or confused client sends it: a real route or
/// not, a query, headers real (the partner's token and key) or garbled,
/// and a body.
/// Method, path and query, headers (name, raw value), body.
type RawRequest = (Method, String, Vec<(String, Vec<u8>)>, Vec<u8>);

fn http_request() -> impl Strategy<Value = RawRequest> {
    let method = prop::sample::select(vec![
        Method::GET,
        Method::POST,
        Method::PATCH,
        Method::PUT,
        Method::DELETE,
    ]);
    let segment = "[a-zA-Z0-9%._~\\-]{0,20}";
    let path = (prop::sample::select(PATHS), segment, prop::option::of(query_string())).prop_map(
        |(template, segment, query)| {
            let path = template.replace("{}", &segment);
            match query {
                Some(query) => {
                    let query: String = query.chars().filter(|c| c.is_ascii_graphic()).collect();
                    format!("{path}?{query}")
                }
                None => path,
            }
        },
    );
    let value = prop_oneof![
        Just(b"valid".to_vec()),
        prop::collection::vec(32u8..127, 0..60),
        prop::collection::vec(any::<u8>(), 0..60),
        prop::sample::select(vec![
            "application/json",
            "application/merge-patch+json",
            "application/x-www-form-urlencoded",
            "2025-08",
            "2025-11",
            "\"abc\"",
            "*",
            "Bearer",
            "Basic Og==",
        ])
        .prop_map(|v| v.as_bytes().to_vec()),
    ];
    let headers = prop::collection::vec((prop::sample::select(HEADERS).prop_map(str::to_owned), value), 0..6);
    (method, path, headers, body())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_http_surface(request in http_request()) {
        let surface = surface();
        let (method, path, headers, body) = request;
        let mut builder = Request::builder().method(method).uri(&path);
        for (name, value) in headers {
            let value = match (name.as_str(), value.as_slice()) {
                ("authorization", b"valid") => format!("Bearer {}", surface.token).into_bytes(),
                ("x-api-key", b"valid") => surface.key.clone().into_bytes(),
                _ => value,
            };
            if let Ok(value) = http::HeaderValue::from_bytes(&value) {
                builder = builder.header(name, value);
            }
        }
        let Ok(request) = builder.body(axum::body::Body::from(Bytes::from(body))) else {
            return Ok(());
        };
        let (status, content_type, bytes) = surface.runtime.block_on(async {
            let response = surface.router.clone().oneshot(request).await.unwrap();
            let status = response.status();
            let content_type = response.headers().get("content-type").cloned();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (status, content_type, bytes)
        });
        prop_assert!(status.as_u16() < 500, "{} {}: {}", path, status, String::from_utf8_lossy(&bytes));
        if status.as_u16() != 304 {
            prop_assert_eq!(content_type.as_ref().map(|v| v.as_bytes()), Some(&b"application/json"[..]), "{}", path);
            prop_assert!(serde_json::from_slice::<Value>(&bytes).is_ok(), "{}: {}", path, String::from_utf8_lossy(&bytes));
        }
    }
}

#[test]
fn a_valid_request_through_the_surface_is_answered() {
    // The harness above would pass vacuously if every request were refused
    // before reaching the handlers: this one must be served.
    let surface = surface();
    let request = Request::builder()
        .uri("/v3/customers/1000000001")
        .header("authorization", format!("Bearer {}", surface.token))
        .header("x-api-key", &surface.key)
        .body(axum::body::Body::empty())
        .unwrap();
    let response = surface
        .runtime
        .block_on(surface.router.clone().oneshot(request))
        .unwrap();
    assert_eq!(response.status(), 200);
}
