//! Abuse controls and resource limits: per-client rate limits (429 4118 and
//! the RateLimit headers), the bounded request-id window, the request
//! timeout, the in-flight limit and slow clients.

use std::io::{Read, Write};
use std::time::Duration;

use roster::app::{AppConfig, HttpLimits};

use std::sync::Arc;

use crate::support::{Partner, TestDatabase, TestServer, credentials, customer, error_body, test_config};

const PATH: &str = "/v3/resellers/R1/customers";

async fn server(config: AppConfig) -> TestServer {
    TestServer::start_with(config, &[customer("C1", "R1", "1000", "Acme", "2025-01-01T00:00:00Z")]).await
}

/// Sends requests until the first 429 and returns how many got through.
async fn allowed_before_429(server: &TestServer, partner: &Partner) -> usize {
    for sent in 0..1000 {
        if server.get_as(partner, PATH).await.status == 429 {
            return sent;
        }
    }
    panic!("never limited");
}

#[tokio::test]
async fn over_the_limit_is_429_with_retry_after_and_ratelimit_headers() {
    let server = server(test_config()).await;
    let partner = server.client_with("*", Some(2)).await;
    // 2 requests/s allows a burst of 4.
    for left in (0..4).rev() {
        let response = server.get_as(&partner, PATH).await;
        assert_eq!(response.status, 200);
        assert_eq!(response.header("ratelimit-policy"), Some("\"client\";q=4;w=2"));
        let state = response.header("ratelimit").unwrap();
        assert!(state.starts_with(&format!("\"client\";r={left};t=")), "{state}");
    }
    let response = server.get_as(&partner, PATH).await;
    assert_eq!(response.error(), (429, error_body("4118", "Too many requests", &[])));
    assert_eq!(response.header("retry-after"), Some("1"));
    assert_eq!(response.header("ratelimit"), Some("\"client\";r=0;t=1"));
    // The quota comes back with time.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(server.get_as(&partner, PATH).await.status, 200);
}

#[tokio::test]
async fn the_server_default_applies_unless_a_client_has_its_own() {
    let server = server(AppConfig {
        rate_limit: 3,
        ..test_config()
    })
    .await;
    let default = server.client("*").await;
    let own = server.client_with("*", Some(1)).await;
    let unlimited = server.client_with("*", Some(0)).await;
    assert!((6..=7).contains(&allowed_before_429(&server, &default).await));
    assert!((2..=3).contains(&allowed_before_429(&server, &own).await));
    for _ in 0..50 {
        let response = server.get_as(&unlimited, PATH).await;
        assert_eq!(response.status, 200);
        assert_eq!(response.header("ratelimit"), None);
    }
}

#[tokio::test]
async fn a_clients_own_limit_applies_when_the_server_has_none() {
    let server = server(test_config()).await;
    let partner = server.client_with("*", Some(1)).await;
    assert!((2..=3).contains(&allowed_before_429(&server, &partner).await));
}

#[tokio::test]
async fn requests_that_fail_authentication_spend_no_quota() {
    let server = server(test_config()).await;
    let partner = server.client_with("*", Some(2)).await;
    let stranger = server.client("*").await;
    for _ in 0..20 {
        let no_token = server.get(PATH).header("X-Api-Key", &partner.key).send().await;
        assert_eq!(no_token.status, 401);
        let wrong_token = server
            .get(PATH)
            .header("Authorization", &format!("Bearer {}", stranger.token))
            .header("X-Api-Key", &partner.key)
            .send()
            .await;
        assert_eq!(wrong_token.status, 401);
    }
    assert_eq!(
        allowed_before_429(&server, &partner).await,
        4,
        "the whole burst is left"
    );
}

#[tokio::test]
async fn the_rate_limit_comes_before_parameter_checks() {
    let server = server(test_config()).await;
    let partner = server.client_with("*", Some(1)).await;
    allowed_before_429(&server, &partner).await;
    let response = server.get_as(&partner, &format!("{PATH}?limit=0")).await;
    assert_eq!(response.json()["code"], "4118");
}

#[tokio::test]
async fn a_flood_of_request_ids_stays_within_the_configured_memory() {
    if crate::support::on_postgres() {
        return; // With Redis, its maxmemory bounds the ids, not Roster.
    }
    let server = server(AppConfig {
        request_id_capacity: 100,
        ..test_config()
    })
    .await;
    let partner = server.client("*").await;
    let send = |id: String| server.get(PATH).partner(&partner).header("X-Request-Id", &id).send();
    for i in 0..300 {
        assert_eq!(send(format!("flood-{i}")).await.status, 200);
    }
    assert_eq!(
        server.app.replay.remembered(),
        Some(100),
        "only the newest 100 are remembered"
    );
    assert_eq!(
        send("flood-299".into()).await.status,
        400,
        "a recent id is still refused"
    );
    assert_eq!(
        send("flood-0".into()).await.status,
        200,
        "the oldest were forgotten first"
    );
}

#[tokio::test]
async fn the_replay_window_counts_from_the_first_use() {
    let server = server(AppConfig {
        request_id_window: Duration::from_secs(1),
        ..test_config()
    })
    .await;
    let partner = server.client("*").await;
    let send = || {
        server
            .get(PATH)
            .partner(&partner)
            .header("X-Request-Id", "again")
            .send()
    };
    let first_use = std::time::Instant::now();
    assert_eq!(send().await.status, 200);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(send().await.status, 400, "replayed within the window");
    // 1.3 s after the first use but only 0.7 s after the refused replay:
    // a replay does not restart the window.
    tokio::time::sleep(Duration::from_millis(1300).saturating_sub(first_use.elapsed())).await;
    assert_eq!(
        send().await.status,
        200,
        "usable again once the window from the first use is over"
    );
}

/// `--request-id-window 0` remembers no request id, in memory and (on the
/// PostgreSQL run) in Redis alike.
#[tokio::test]
async fn a_zero_replay_window_remembers_nothing() {
    let server = server(AppConfig {
        request_id_window: Duration::ZERO,
        ..test_config()
    })
    .await;
    let partner = server.client("*").await;
    for _ in 0..3 {
        let response = server
            .get(PATH)
            .partner(&partner)
            .header("X-Request-Id", "same-id")
            .send()
            .await;
        assert_eq!(response.status, 200, "{}", response.text());
    }
}

#[tokio::test]
async fn a_request_past_the_timeout_is_500_1124_with_its_request_id() {
    let server = server(AppConfig {
        limits: HttpLimits {
            request_timeout: Duration::from_nanos(1),
            ..HttpLimits::default()
        },
        ..test_config()
    })
    .await;
    let partner = server.client("*").await;
    // A token request always waits for its (slow, by design) secret check.
    let response = server
        .token_request(&credentials(&partner.key, &partner.secret))
        .header("X-Request-Id", "slow-1")
        .send()
        .await;
    assert_eq!(
        response.error(),
        (
            500,
            error_body("1124", "Internal Server Error. Please try again later", &[])
        )
    );
    assert_eq!(response.header("x-request-id"), Some("slow-1"));
}

#[tokio::test]
async fn requests_past_the_in_flight_limit_wait_their_turn() {
    let server = server(AppConfig {
        limits: HttpLimits {
            max_in_flight: 1,
            ..HttpLimits::default()
        },
        ..test_config()
    })
    .await;
    let partner = server.client("*").await;
    let responses = futures::future::join_all((0..16).map(|_| server.get_as(&partner, PATH))).await;
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![200; 16]);
}

/// A server with these two waits, and `talk` run on a plain socket to it
/// (reads time out after 10 s).
async fn on_a_socket<T: Send + 'static>(
    header_read_timeout: Duration,
    idle_timeout: Duration,
    talk: impl FnOnce(std::net::TcpStream) -> T + Send + 'static,
) -> T {
    let server = server(AppConfig {
        limits: HttpLimits {
            header_read_timeout,
            idle_timeout,
            ..HttpLimits::default()
        },
        ..test_config()
    })
    .await;
    let address = server.base.trim_start_matches("http://").to_owned();
    tokio::task::spawn_blocking(move || {
        let stream = std::net::TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        talk(stream)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_client_too_slow_to_send_its_headers_is_disconnected() {
    let (waited, read) = on_a_socket(Duration::from_millis(500), Duration::from_secs(75), |mut stream| {
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
        let started = std::time::Instant::now();
        let mut rest = Vec::new();
        let read = stream.read_to_end(&mut rest);
        (started.elapsed(), read.map(|_| rest.len()))
    })
    .await;
    assert!(read.is_ok(), "the server closed the connection: {read:?}");
    assert!(
        waited < Duration::from_secs(4),
        "closed after the header timeout, not the client's: {waited:?}"
    );
}

/// docs/DECISIONS.md, "Connections": a kept-alive connection waits for its
/// next request for the idle timeout, not the header timeout (pools and
/// load balancers keep theirs for a minute and more), and is closed after
/// it.
#[tokio::test]
async fn a_kept_alive_connection_waits_the_idle_timeout_for_its_next_request() {
    let talk = |mut stream: std::net::TcpStream| {
        let mut ask = || {
            stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut answer = Vec::new();
            let mut chunk = [0u8; 1024];
            while !answer.ends_with(br#"{"status":"ok"}"#) {
                let read = stream.read(&mut chunk).unwrap();
                assert!(
                    read > 0,
                    "closed before answering: {:?}",
                    String::from_utf8_lossy(&answer)
                );
                answer.extend_from_slice(&chunk[..read]);
            }
            String::from_utf8(answer).unwrap()
        };
        let first = ask();
        // Longer than the header timeout, shorter than the idle one.
        std::thread::sleep(Duration::from_millis(800));
        let second = ask();
        let idle = std::time::Instant::now();
        let mut rest = Vec::new();
        let end = stream.read_to_end(&mut rest).map(|_| rest);
        (first, second, idle.elapsed(), end)
    };
    let (first, second, idle, end) = on_a_socket(Duration::from_millis(300), Duration::from_millis(1500), talk).await;
    for answer in [first, second] {
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    }
    assert_eq!(end.ok(), Some(Vec::new()), "the server closed the idle connection");
    assert!(
        idle >= Duration::from_millis(1000),
        "closed after the idle timeout, not the header one: {idle:?}"
    );
}

/// Sockets held open without a request cannot keep a client out: with
/// every connection slot taken by idle ones, a new client is served, and
/// the idle ones are closed to make room. (They used to hold their slots
/// for the whole idle timeout; here the header-read timeout is longer
/// than the test's patience, so only shedding can let the probe in.)
#[tokio::test]
async fn idle_sockets_holding_every_slot_do_not_keep_a_client_out() {
    let server = server(AppConfig {
        limits: HttpLimits {
            max_connections: 8,
            header_read_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(600),
            ..HttpLimits::default()
        },
        ..test_config()
    })
    .await;
    let address = server.base.trim_start_matches("http://").to_owned();
    let (answer, idle_closed) = tokio::task::spawn_blocking(move || {
        let idle: Vec<std::net::TcpStream> = (0..8)
            .map(|_| std::net::TcpStream::connect(&address).unwrap())
            .collect();
        std::thread::sleep(Duration::from_millis(200));
        let mut probe = std::net::TcpStream::connect(&address).unwrap();
        probe.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        probe
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        let _ = probe.read_to_string(&mut answer);
        let closed = idle
            .into_iter()
            .filter(|mut socket| {
                socket.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                matches!(socket.read(&mut [0u8; 1]), Ok(0))
            })
            .count();
        (answer, closed)
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer:?}");
    assert!(answer.ends_with(r#"{"status":"ok"}"#), "{answer:?}");
    assert_eq!(idle_closed, 8, "every idle socket was closed to make room");
}

/// A body that trickles in holds its connection, not a work slot: with
/// one slot, another partner's list is answered while a POST's body is
/// still arriving, and the POST, its body never complete, gets 408 in the
/// JSON shape (it used to hold the slot to the timeout and end as 500).
#[tokio::test]
async fn a_slow_body_holds_no_work_slot_and_ends_as_408() {
    let server = server(AppConfig {
        limits: HttpLimits {
            max_in_flight: 1,
            request_timeout: Duration::from_secs(2),
            ..HttpLimits::default()
        },
        ..test_config()
    })
    .await;
    let partner = server.client("*").await;
    let address = server.base.trim_start_matches("http://").to_owned();
    let head = format!(
        "POST /v3/customers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nX-Api-Key: {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"resellerId\"",
        partner.token, partner.key
    );
    let mut slow = tokio::task::spawn_blocking(move || {
        let mut slow = std::net::TcpStream::connect(address).unwrap();
        slow.write_all(head.as_bytes()).unwrap();
        slow
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let listed = server.get_as(&partner, PATH).await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    let answer = tokio::task::spawn_blocking(move || {
        slow.set_nonblocking(true).unwrap();
        let pending = matches!(slow.read(&mut [0u8; 1]), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
        slow.set_nonblocking(false).unwrap();
        slow.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut answer = String::new();
        let _ = slow.read_to_string(&mut answer);
        (pending, answer)
    })
    .await
    .unwrap();
    assert!(
        answer.0,
        "the list was answered while the POST's body was still arriving"
    );
    let (head, body) = answer.1.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{head}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(body).unwrap(),
        error_body("408", "Request timeout", &["the body must arrive within 2 s"])
    );
}

/// A write that runs out of time waiting for its turn (here behind a
/// transaction of the test's own, as behind a long import) is answered
/// 500 1124, "try again later", and is then not written when its turn
/// comes: the answer stays true, and the partner's retry is the only write.
#[tokio::test]
async fn a_write_that_times_out_waiting_for_its_turn_is_not_written() {
    let database = Arc::new(TestDatabase::new());
    let config = AppConfig {
        limits: HttpLimits {
            request_timeout: Duration::from_secs(1),
            ..HttpLimits::default()
        },
        ..test_config()
    };
    let server = TestServer::start_on(database.clone(), config).await;
    let partner = server.client("*").await;
    server
        .import(&[
            customer("C1", "R1", "1000", "Acme", "2025-01-01T00:00:00Z"),
            customer("C2", "R1", "1000", "Beta", "2025-02-01T00:00:00Z"),
        ])
        .await;
    let before = server.get_as(&partner, "/v3/customers/C1").await;
    assert_eq!(before.status, 200, "{}", before.text());
    let patch = |id: &'static str, tag: &'static str| {
        server
            .request(http::Method::PATCH, &format!("/v3/customers/{id}"))
            .partner(&partner)
            .json(&serde_json::json!({"tags": [tag]}))
            .send()
    };

    let hold = database.hold_writes();
    let (first, second) = tokio::join!(patch("C1", "late"), patch("C2", "late"));
    let timed_out = (
        500,
        error_body("1124", "Internal Server Error. Please try again later", &[]),
    );
    assert_eq!(first.error(), timed_out);
    assert_eq!(second.error(), timed_out);
    drop(hold);

    // Writes are taken in turn: this one's answer comes after the two
    // abandoned ones had theirs.
    let retried = patch("C2", "retried").await;
    assert_eq!(retried.status, 200, "{}", retried.text());
    let after = server.get_as(&partner, "/v3/customers/C1").await;
    assert_eq!(after.json(), before.json());
    assert_eq!(after.header("etag"), before.header("etag"));
    let c2 = server.get_as(&partner, "/v3/customers/C2").await;
    assert_eq!(c2.json()["tags"], serde_json::json!(["retried"]));
}
