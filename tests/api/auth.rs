//! SPEC §4 and checks 1–4 of §2: tokens, API keys, the token endpoint and
//! reseller scopes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use roster::auth::clients::rotate_secret;
use roster::auth::unix_now;
use serde_json::json;

use crate::support::{Partner, TestServer, credentials, customer, error_body, test_config};

const PATH: &str = "/v3/resellers/R1/customers";

async fn server() -> TestServer {
    TestServer::start_with(
        test_config(),
        &[
            customer("C1", "R1", "1000", "Acme", "2025-01-01T00:00:00Z"),
            customer("C2", "R2", "1000", "Beta", "2025-01-01T00:00:00Z"),
        ],
    )
    .await
}

fn missing() -> serde_json::Value {
    error_body("4117", "Authorization token is missing", &[])
}

fn invalid() -> serde_json::Value {
    error_body("4116", "Authorization token is invalid", &[])
}

fn bad_key() -> serde_json::Value {
    error_body("4115", "API key is invalid or missing", &[])
}

#[tokio::test]
async fn a_missing_token_is_4117_with_a_bearer_challenge() {
    let server = server().await;
    let partner = server.client("*").await;
    for authorization in [
        None,
        Some("Basic dXNlcjpwYXNz"),
        Some("Bearer "),
        Some("Bearer"),
        Some("Token abc"),
    ] {
        let mut request = server.get(PATH).header("X-Api-Key", &partner.key);
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        let response = request.send().await;
        assert_eq!(response.error(), (401, missing()), "{authorization:?}");
        assert_eq!(response.header("www-authenticate"), Some("Bearer"));
    }
}

#[tokio::test]
async fn a_malformed_or_expired_token_is_4116() {
    let server = server().await;
    let partner = server.client("*").await;
    let client = server.store.client(&partner.key).await.unwrap().unwrap();
    let expired = server
        .app
        .auth
        .signer()
        .issue(&partner.key, client.token_epoch, unix_now() - 1);
    let mut tampered = partner.token.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    for token in ["garbage", &expired, std::str::from_utf8(&tampered).unwrap()] {
        let response = server
            .get(PATH)
            .header("Authorization", &format!("Bearer {token}"))
            .header("X-Api-Key", &partner.key)
            .send()
            .await;
        assert_eq!(response.error(), (401, invalid()), "{token}");
        assert_eq!(response.header("www-authenticate"), Some("Bearer"));
    }
    // The scheme is case-insensitive.
    let response = server
        .get(PATH)
        .header("Authorization", &format!("bearer {}", partner.token))
        .header("X-Api-Key", &partner.key)
        .send()
        .await;
    assert_eq!(response.status, 200);
}

#[tokio::test]
async fn the_api_key_must_be_present_known_and_enabled() {
    let server = server().await;
    let partner = server.client("*").await;
    let bearer = format!("Bearer {}", partner.token);
    let response = server.get(PATH).header("Authorization", &bearer).send().await;
    assert_eq!(response.error(), (403, bad_key()));
    let response = server
        .get(PATH)
        .header("Authorization", &bearer)
        .header("X-Api-Key", "0123456789abcdef0123456789abcdef")
        .send()
        .await;
    assert_eq!(response.error(), (403, bad_key()));
    assert!(server.store.set_client_enabled(&partner.key, false).await.unwrap());
    let response = server.get_as(&partner, PATH).await;
    assert_eq!(response.error(), (403, bad_key()));
    assert_eq!(response.header("www-authenticate"), None);
}

#[tokio::test]
async fn a_token_only_works_with_its_own_clients_key() {
    let server = server().await;
    let alice = server.client("*").await;
    let bob = server.client("*").await;
    let response = server
        .get(PATH)
        .header("Authorization", &format!("Bearer {}", alice.token))
        .header("X-Api-Key", &bob.key)
        .send()
        .await;
    assert_eq!(response.error(), (401, invalid()));
}

#[tokio::test]
async fn rotating_a_secret_revokes_the_clients_tokens() {
    let server = server().await;
    let partner = server.client("*").await;
    assert_eq!(server.get_as(&partner, PATH).await.status, 200);
    rotate_secret(server.store.as_ref(), &partner.key).await.unwrap();
    assert_eq!(server.get_as(&partner, PATH).await.error(), (401, invalid()));
}

#[tokio::test]
async fn revocation_reaches_a_server_within_the_cache_time() {
    let config = roster::app::AppConfig {
        client_cache_ttl: std::time::Duration::from_millis(300),
        ..test_config()
    };
    let server = TestServer::start_with(config, &[customer("C1", "R1", "1000", "Acme", "2025-01-01T00:00:00Z")]).await;
    let partner = server.client("*").await;
    assert_eq!(server.get_as(&partner, PATH).await.status, 200);
    server.store.set_client_enabled(&partner.key, false).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(server.get_as(&partner, PATH).await.error(), (403, bad_key()));
}

/// `roster clients enable` (docs/DECISIONS.md, "CLI"): a client disabled
/// and enabled again logs in for new tokens; the token it held when it was
/// disabled stays revoked.
#[tokio::test]
async fn an_enabled_client_logs_in_again_but_its_old_tokens_stay_revoked() {
    let server = server().await;
    let partner = server.client("*").await;
    let before = server.get_as(&partner, PATH).await;
    assert_eq!(before.status, 200);
    assert!(server.store.set_client_enabled(&partner.key, false).await.unwrap());
    assert_eq!(server.get_as(&partner, PATH).await.error(), (403, bad_key()));

    assert!(server.store.set_client_enabled(&partner.key, true).await.unwrap());
    assert_eq!(server.get_as(&partner, PATH).await.error(), (401, invalid()));
    let login = server
        .token_request(&credentials(&partner.key, &partner.secret))
        .send()
        .await;
    assert_eq!(login.status, 200, "{}", login.text());
    let renewed = Partner {
        token: login.json()["access_token"].as_str().unwrap().to_owned(),
        ..partner.clone()
    };
    let after = server.get_as(&renewed, PATH).await;
    assert_eq!((after.status, after.json()), (200, before.json()));
    assert!(!server.store.set_client_enabled("nobody", true).await.unwrap());
}

#[tokio::test]
async fn a_reseller_outside_the_scope_is_4121_and_an_unknown_one_1115() {
    let server = server().await;
    let scoped = server.client("R1,R9").await;
    assert_eq!(server.get_as(&scoped, PATH).await.status, 200);
    let response = server.get_as(&scoped, "/v3/resellers/R2/customers").await;
    assert_eq!(
        response.error(),
        (
            403,
            error_body(
                "4121",
                "You are not allowed to perform that action on this resource",
                &[]
            )
        )
    );
    // The caller is authenticated: its answers carry its API version (SPEC
    // §7). Scope comes before the rate limit, so no RateLimit headers.
    assert_eq!(response.header("x-api-version"), Some("2025-08"));
    assert_eq!(response.header("ratelimit"), None);
    let everything = server.client("*").await;
    let response = server.get_as(&everything, "/v3/resellers/NOPE/customers").await;
    assert_eq!(response.error(), (404, error_body("1115", "Invalid Reseller", &[])));
    // R9 has no customers, but a scope names it: it exists, and is empty.
    let response = server.get_as(&everything, "/v3/resellers/R9/customers").await;
    assert_eq!(response.json()["totalCount"], 0);
}

#[tokio::test]
async fn a_reseller_named_by_a_new_client_is_known_at_once() {
    let server = server().await;
    let everything = server.client("*").await;
    let path = "/v3/resellers/R7/customers";
    let response = server.get_as(&everything, path).await;
    assert_eq!(response.error(), (404, error_body("1115", "Invalid Reseller", &[])));
    // "Not named" is never remembered: the next request sees the new scope.
    let scoped = server.client("R7").await;
    let empty = json!({"totalCount": 0, "count": 0, "offset": 0, "limit": 20, "customers": []});
    for partner in [&everything, &scoped, &everything] {
        let response = server.get_as(partner, path).await;
        assert_eq!((response.status, response.json()), (200, empty.clone()));
    }
}

#[tokio::test]
async fn the_token_endpoint_issues_tokens_for_a_client_secret() {
    let server = server().await;
    let partner = server.client("*").await;
    let response = server
        .token_request(&credentials(&partner.key, &partner.secret))
        .send()
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert_eq!(response.header("content-type"), Some("application/json"));
    let body = response.json();
    let token = body["access_token"].as_str().expect("a token").to_owned();
    assert_eq!(
        body,
        json!({"access_token": token, "token_type": "bearer", "expires_in": 86400})
    );
    let response = server
        .get(PATH)
        .header("Authorization", &format!("Bearer {token}"))
        .header("X-Api-Key", &partner.key)
        .send()
        .await;
    assert_eq!(response.status, 200);

    // HTTP Basic (client_secret_basic) works as well.
    let basic = STANDARD.encode(format!("{}:{}", partner.key, partner.secret));
    let response = server
        .token_request("grant_type=client_credentials")
        .header("Authorization", &format!("Basic {basic}"))
        .send()
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
}

#[tokio::test]
async fn the_token_endpoint_refuses_bad_credentials_and_grants() {
    let server = server().await;
    let partner = server.client("*").await;
    let server = &server;
    let post = |body: String| async move { server.token_request(&body).send().await };

    let response = post(credentials(&partner.key, "wrong")).await;
    assert_eq!(
        (response.status, response.json()),
        (401, json!({"error": "invalid_client"}))
    );
    assert_eq!(response.header("www-authenticate"), None);
    assert_eq!(response.header("cache-control"), Some("no-store"));

    let response = post(credentials("nobody", &partner.secret)).await;
    assert_eq!(
        (response.status, response.json()),
        (401, json!({"error": "invalid_client"}))
    );

    let response = post(format!(
        "grant_type=password&client_id={}&client_secret={}",
        partner.key, partner.secret
    ))
    .await;
    assert_eq!(
        (response.status, response.json()),
        (400, json!({"error": "unsupported_grant_type"}))
    );

    let basic = STANDARD.encode(format!("{}:wrong", partner.key));
    let response = server
        .token_request("grant_type=client_credentials")
        .header("Authorization", &format!("Basic {basic}"))
        .send()
        .await;
    assert_eq!(
        (response.status, response.json()),
        (401, json!({"error": "invalid_client"}))
    );
    assert_eq!(response.header("www-authenticate"), Some("Basic realm=\"roster\""));

    server.store.set_client_enabled(&partner.key, false).await.unwrap();
    let response = post(credentials(&partner.key, &partner.secret)).await;
    assert_eq!(
        (response.status, response.json()),
        (401, json!({"error": "invalid_client"}))
    );
}

/// docs/DECISIONS.md, "Logins under attack": once a client id has failed
/// `pair_failures` times from an address, logins for it from there are
/// refused without a secret check, the right secret too, until the oldest
/// failure leaves the window; other clients from the same address still
/// log in.
#[tokio::test]
async fn repeated_failed_logins_are_refused_without_locking_others_out() {
    let mut config = test_config();
    config.logins.pair_failures = 3;
    let server = TestServer::start_with(config, &[]).await;
    let target = server.client("*").await;
    let neighbour = server.client("*").await;
    let post = |body: String| {
        let server = &server;
        async move { server.token_request(&body).send().await }
    };
    for _ in 0..3 {
        let response = post(credentials(&target.key, "wrong")).await;
        assert_eq!(
            (response.status, response.json()),
            (401, json!({"error": "invalid_client"}))
        );
    }

    let response = post(credentials(&target.key, &target.secret)).await;
    assert_eq!(
        (response.status, response.json()),
        (
            429,
            json!({
                "error": "temporarily_unavailable",
                "error_description": "too many failed logins; retry after the time in Retry-After"
            })
        )
    );
    // A minute from the first of the three failures, whole seconds up.
    let retry_after: u64 = response.header("retry-after").unwrap().parse().unwrap();
    assert!((55..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(response.header("cache-control"), Some("no-store"));

    let response = post(credentials(&neighbour.key, &neighbour.secret)).await;
    assert_eq!(response.status, 200, "{}", response.text());
    // The refusal is not a failure: the neighbour's success is not undone,
    // and the target is still refused (not counted further).
    let response = post(credentials(&target.key, &target.secret)).await;
    assert_eq!(response.status, 429);
}

/// docs/DECISIONS.md, "Logins under attack": with every check slot and
/// the whole queue taken (as a flood of bad logins from many addresses
/// takes them), a partner whose secret passed its check before still gets
/// its token at once, without waiting for a slot; a secret never checked
/// here waits its turn like any other, and is refused while none is free.
#[tokio::test]
async fn a_known_secret_logs_in_while_the_login_queue_is_full() {
    let mut config = test_config();
    config.logins.checks = 1;
    config.logins.queue = 1;
    let server = TestServer::start_with(config, &[]).await;
    let known = server.client("*").await;
    let newcomer = server.client("*").await;
    let login = |partner: &crate::support::Partner| credentials(&partner.key, &partner.secret);
    let first = server.token_request(&login(&known)).send().await;
    assert_eq!(first.status, 200, "{}", first.text());

    // The flood, held still: one login at the slot, one in the queue.
    let flood = std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    let logins = &server.app.logins;
    let at_the_slot = logins.admit("flood-1", flood).await.unwrap();
    let queued = logins.admit("flood-2", flood);
    tokio::pin!(queued);
    assert!(futures_util::poll!(&mut queued).is_pending(), "the queue is full");

    let again = server.token_request(&login(&known)).send().await;
    assert_eq!(
        (again.status, again.json()["token_type"].clone()),
        (200, json!("bearer")),
        "{}",
        again.text()
    );
    let wrong = server
        .token_request(&credentials(&known.key, "not-the-secret"))
        .send()
        .await;
    assert_eq!(
        wrong.json()["error"],
        "temporarily_unavailable",
        "a wrong secret waits its turn"
    );
    let new = server.token_request(&login(&newcomer)).send().await;
    assert_eq!(new.json()["error"], "temporarily_unavailable");
    drop(at_the_slot);
    drop(queued.await.unwrap());
    let new = server.token_request(&login(&newcomer)).send().await;
    assert_eq!(new.status, 200, "{}", new.text());
}

#[tokio::test]
async fn checks_run_in_the_spec_order() {
    let server = server().await;
    let scoped = server.client("R1").await;
    // 1 before 6: no token beats a bad parameter.
    let response = server.get("/v3/resellers/R1/customers?limit=0").send().await;
    assert_eq!(response.status, 401);
    // 4 before 6: out of scope beats a bad parameter.
    let response = server.get_as(&scoped, "/v3/resellers/R2/customers?limit=0").await;
    assert_eq!(response.json()["code"], "4121");
    // 6 before 7: a bad parameter beats an unknown reseller.
    let everything = server.client("*").await;
    let response = server.get_as(&everything, "/v3/resellers/NOPE/customers?limit=0").await;
    assert_eq!(response.json()["code"], "1132");
    // 7 before 8: an unknown reseller does not spend the request id.
    let unknown = server
        .get("/v3/resellers/NOPE/customers")
        .partner(&everything)
        .header("X-Request-Id", "once")
        .send()
        .await;
    assert_eq!(unknown.json()["code"], "1115");
    let known = server
        .get(PATH)
        .partner(&everything)
        .header("X-Request-Id", "once")
        .send()
        .await;
    assert_eq!(known.status, 200);
}
