//! SPEC §5: the `roster` binary itself — its commands, their JSON outputs,
//! all-or-nothing imports, and a server that stops cleanly on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use roster::catalog::Items;
use roster::http::reseller_customers::page_body;

use crate::support::{TestDatabase, credentials, service};

pub fn roster(database: &TestDatabase, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(args)
        .env("ROSTER_DATABASE", &database.url)
        .env_remove("ROSTER_LOG")
        .output()
        .expect("running roster")
}

/// Runs a command that must succeed and print JSON.
pub fn roster_json(database: &TestDatabase, args: &[&str]) -> Value {
    let output = roster(database, args);
    assert!(
        output.status.success(),
        "roster {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

pub fn write_file(dir: &tempfile::TempDir, name: &str, content: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    path.display().to_string()
}

fn line(id: &str, name: &str) -> String {
    json!({
        "customerId": id,
        "resellerId": "R1",
        "status": "1000",
        "companyProfile": {"companyName": name},
        "creationDate": "2025-01-01T00:00:00Z",
    })
    .to_string()
}

/// The company names stored for R1, by customer id, read through the catalog.
async fn names(database: &TestDatabase) -> Vec<(String, String)> {
    let store = roster::store::open(&database.url).await.unwrap();
    let catalog = roster::catalog::Catalog::load(store).await.unwrap();
    let query = roster::domain::ListQuery::parse("limit=50&sort-by=companyName&order-by=asc").unwrap();
    let page: Value = serde_json::from_slice(&page_body(&catalog, "R1", &query, Items::Records)).unwrap();
    page["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["customerId"].as_str().unwrap().to_owned(),
                c["companyProfile"]["companyName"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn import_upserts_and_reports_what_it_did() {
    let database = TestDatabase::new();
    let dir = tempfile::tempdir().unwrap();
    let first = write_file(
        &dir,
        "first.ndjson",
        &format!("{}\n{}\n", line("C1", "Old"), line("C2", "Two")),
    );
    assert_eq!(
        roster_json(&database, &["import", &first]),
        json!({"records": 2, "created": 2, "updated": 0})
    );
    let array = write_file(
        &dir,
        "second.json",
        &format!("[{}, {}]", line("C1", "New"), line("C3", "Three")),
    );
    assert_eq!(
        roster_json(&database, &["import", &array]),
        json!({"records": 2, "created": 1, "updated": 1})
    );
    assert_eq!(
        names(&database).await,
        [
            ("C1".into(), "New".into()),
            ("C3".into(), "Three".into()),
            ("C2".into(), "Two".into())
        ]
    );
}

#[tokio::test]
async fn a_bad_record_aborts_the_whole_import() {
    let database = TestDatabase::new();
    let dir = tempfile::tempdir().unwrap();
    let good = write_file(&dir, "good.ndjson", &line("C1", "Old"));
    roster_json(&database, &["import", &good]);

    let mut lines: Vec<String> = (0..500).map(|i| line(&format!("N{i}"), "Many")).collect();
    lines.insert(0, line("C1", "Changed"));
    lines.push(String::new());
    lines.push(line("C9", "")); // line 503: an empty company name
    let bad = write_file(&dir, "bad.ndjson", &lines.join("\n"));
    let output = roster(&database, &["import", &bad]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: nothing was imported: line 503: companyProfile.companyName: must not be empty\n"
    );
    assert!(output.stdout.is_empty());
    assert_eq!(
        names(&database).await,
        [("C1".into(), "Old".into())],
        "nothing was written"
    );

    let bad_array = write_file(
        &dir,
        "bad.json",
        &format!("[{}, {}]", line("C1", "Changed"), line("C2", "x").replace("1000", "42")),
    );
    let output = roster(&database, &["import", &bad_array]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: nothing was imported: record 2: status: must be one of 1000, 1002, 1004, 1010, 1012, 1014, 1026\n"
    );
    assert_eq!(names(&database).await, [("C1".into(), "Old".into())]);

    let output = roster(&database, &["import", "/no/such/file.ndjson"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).starts_with("error: opening /no/such/file.ndjson: "));
}

#[tokio::test]
async fn clients_and_tokens_commands() {
    let database = TestDatabase::new();
    assert_eq!(
        roster_json(&database, &["clients", "list"]),
        json!([]),
        "migrations ran on a new file"
    );

    let created = roster_json(
        &database,
        &[
            "clients",
            "create",
            "--name",
            "Partner A",
            "--resellers",
            "R2,R1",
            "--rate-limit",
            "5",
        ],
    );
    let id = created["clientId"].as_str().unwrap().to_owned();
    let secret = created["clientSecret"].as_str().unwrap().to_owned();
    assert_eq!(
        created,
        json!({"clientId": id, "clientSecret": secret, "resellers": ["R1", "R2"]})
    );
    let all = roster_json(
        &database,
        &["clients", "create", "--name", "Everything", "--resellers", "*"],
    );
    assert_eq!(all["resellers"], json!(["*"]));

    let listed = roster_json(&database, &["clients", "list"]);
    assert_eq!(
        listed,
        json!([
            {"clientId": id, "name": "Partner A", "resellers": ["R1", "R2"], "rateLimit": 5, "enabled": true,
             "apiVersion": "2025-08"},
            {"clientId": all["clientId"], "name": "Everything", "resellers": ["*"], "rateLimit": null, "enabled": true,
             "apiVersion": "2025-08"},
        ])
    );
    assert!(!listed.to_string().contains(&secret), "list never shows a secret");

    let token = roster_json(
        &database,
        &["tokens", "issue", "--client-id", &id, "--expires-in", "60"],
    );
    assert_eq!(
        token,
        json!({"access_token": token["access_token"], "token_type": "bearer", "expires_in": 60})
    );
    assert!(token["access_token"].as_str().unwrap().len() > 40);

    let rotated = roster_json(&database, &["clients", "rotate-secret", &id]);
    assert_eq!(
        rotated,
        json!({"clientId": id, "clientSecret": rotated["clientSecret"]})
    );
    assert_ne!(rotated["clientSecret"], json!(secret));

    assert_eq!(
        roster_json(&database, &["clients", "disable", &id]),
        json!({"clientId": id, "enabled": false})
    );
    let output = roster(&database, &["tokens", "issue", "--client-id", &id]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!("error: client {id} is disabled\n")
    );

    assert_eq!(
        roster_json(&database, &["clients", "enable", &id]),
        json!({"clientId": id, "enabled": true})
    );
    let token = roster_json(
        &database,
        &["tokens", "issue", "--client-id", &id, "--expires-in", "60"],
    );
    assert_eq!(token["expires_in"], json!(60));
    assert_eq!(roster_json(&database, &["clients", "list"])[0]["enabled"], json!(true));

    for command in ["disable", "enable"] {
        let output = roster(&database, &["clients", command, "nobody"]);
        assert_eq!(output.status.code(), Some(1));
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            "error: no client with id nobody\n"
        );
    }
    let output = roster(&database, &["clients", "create", "--name", "x", "--resellers", "R1,*"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: --resellers: '*' must be given alone\n"
    );
}

#[test]
fn clients_are_pinned_to_an_api_version_and_can_be_updated() {
    let database = TestDatabase::new();
    let created = roster_json(
        &database,
        &[
            "clients",
            "create",
            "--name",
            "New",
            "--resellers",
            "R1",
            "--api-version",
            "2025-11",
        ],
    );
    let id = created["clientId"].as_str().unwrap().to_owned();
    assert_eq!(roster_json(&database, &["clients", "list"])[0]["apiVersion"], "2025-11");
    let updated = roster_json(
        &database,
        &[
            "clients",
            "update",
            &id,
            "--api-version",
            "2025-08",
            "--rate-limit",
            "7",
            "--resellers",
            "R3,R2",
        ],
    );
    assert_eq!(
        updated,
        json!({"clientId": id, "name": "New", "resellers": ["R2", "R3"], "rateLimit": 7, "enabled": true,
               "apiVersion": "2025-08"})
    );
    assert_eq!(roster_json(&database, &["clients", "list"]), json!([updated]));
    let everything = roster_json(&database, &["clients", "update", &id, "--resellers", "*"]);
    assert_eq!(everything["resellers"], json!(["*"]));
    assert_eq!(everything["rateLimit"], 7, "what is not given stays");

    let refused = |args: &[&str], code: i32, message: &str| {
        let output = roster(&database, args);
        assert_eq!(output.status.code(), Some(code), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    };
    refused(
        &["clients", "update", "nobody", "--rate-limit", "1"],
        1,
        "error: no client with id nobody\n",
    );
    refused(&["clients", "update", &id], 2, "required arguments were not provided");
    refused(
        &["clients", "update", &id, "--api-version", "2026-01"],
        2,
        "invalid value '2026-01'",
    );
    refused(
        &[
            "clients",
            "create",
            "--name",
            "x",
            "--resellers",
            "*",
            "--rate-limit",
            "2147483648",
        ],
        2,
        "2147483648 is not in 0..=2147483647",
    );
}

#[test]
fn every_command_has_help() {
    let database = TestDatabase::new();
    for command in [
        &[][..],
        &["serve"],
        &["import"],
        &["clients"],
        &["clients", "create"],
        &["clients", "list"],
        &["clients", "disable"],
        &["clients", "enable"],
        &["clients", "rotate-secret"],
        &["clients", "update"],
        &["tokens"],
        &["tokens", "issue"],
        &["demo"],
        &["generate"],
    ] {
        let mut args = command.to_vec();
        args.push("--help");
        let output = roster(&database, &args);
        assert!(output.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("Usage: roster"),
            "{args:?}"
        );
    }
}

/// What a command that must fail (exit 1) writes to stderr, run with no
/// `ROSTER_DATABASE` and no `ROSTER_LOG` from the environment.
fn refusal(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(args)
        .env_remove("ROSTER_DATABASE")
        .env_remove("ROSTER_LOG")
        .output()
        .expect("running roster");
    assert_eq!(output.status.code(), Some(1), "roster {args:?}");
    String::from_utf8(output.stderr).expect("UTF-8 on stderr")
}

#[test]
fn serve_refuses_a_database_url_of_another_kind_before_listening() {
    assert_eq!(
        refusal(&["serve", "--database", "mysql://db/roster", "--listen", "127.0.0.1:0"]),
        "error: --database must be sqlite://PATH or postgres://…\n",
        "one line, and no \"listening\" before it"
    );
}

#[test]
fn generate_is_deterministic_ndjson() {
    let database = TestDatabase::new();
    let run = |seed: &str| {
        roster(
            &database,
            &["generate", "--customers", "50", "--resellers", "4", "--seed", seed],
        )
        .stdout
    };
    let first = run("3");
    assert_eq!(first, run("3"));
    assert_ne!(first, run("4"));
    let lines: Vec<Value> = first
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 50);
    assert!(lines.iter().all(|c| c["creationDate"].as_str().unwrap().ends_with('Z')));
}

/// A `roster serve` child process and what it logs.
pub struct Served {
    pub child: Child,
    pub address: String,
    /// Where `--metrics-listen` serves, when it was given.
    pub metrics_address: Option<String>,
    pub logs: std::sync::mpsc::Receiver<String>,
}

/// `roster serve`, configured only through the environment (SPEC §5: each
/// flag also reads `ROSTER_<FLAG>`), with a rate limit of 1 request/s.
fn serve(database: &TestDatabase) -> Served {
    serve_limited(database, "1")
}

/// `roster serve` with `ROSTER_RATE_LIMIT=rate_limit`.
pub fn serve_limited(database: &TestDatabase, rate_limit: &str) -> Served {
    serve_env(database, &[("ROSTER_RATE_LIMIT", rate_limit)])
}

/// `roster serve` on a random port with these environment variables too.
pub fn serve_env(database: &TestDatabase, env: &[(&str, &str)]) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_roster"))
        .arg("serve")
        .env("ROSTER_DATABASE", &database.url)
        .env("ROSTER_LISTEN", "127.0.0.1:0")
        .env("ROSTER_LOG_FORMAT", "json")
        .envs(env.iter().copied())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("starting roster serve");
    let (sender, logs) = std::sync::mpsc::channel();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let mut metrics_address = None;
    let address = loop {
        let line = logs
            .recv_timeout(Duration::from_secs(30))
            .expect("the server logs its address");
        let entry: Value = serde_json::from_str(&line).unwrap_or_default();
        if entry["message"] == "serving metrics at /metrics" {
            metrics_address = entry["address"].as_str().map(str::to_owned);
        }
        if entry["message"] == "serving" {
            break entry["address"].as_str().unwrap().to_owned();
        }
    };
    assert!(
        !address.ends_with(":8080"),
        "ROSTER_LISTEN=127.0.0.1:0 was read: {address}"
    );
    Served {
        child,
        address,
        metrics_address,
        logs,
    }
}

pub fn http(address: &str, request: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// `POST /ims/token/v3` with a client's id and secret, on a new connection.
pub fn post_token(address: &str, id: &str, secret: &str) -> String {
    let body = credentials(id, secret);
    http(
        address,
        &format!(
            "POST /ims/token/v3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
}

/// `GET path` with a client's token and key, on a new connection.
pub fn get_with_token(address: &str, path: &str, token: &str, id: &str) -> String {
    http(
        address,
        &format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
             Authorization: Bearer {token}\r\nX-Api-Key: {id}\r\n\r\n"
        ),
    )
}

/// The JSON body of a whole HTTP/1.1 response.
pub fn body_of(response: &str) -> Value {
    serde_json::from_str(response.split_once("\r\n\r\n").expect("a response").1).expect("a JSON body")
}

#[test]
fn sigterm_finishes_the_request_in_flight_then_exits_0_and_logs_no_secrets() {
    let database = TestDatabase::new();
    let client = roster_json(&database, &["clients", "create", "--name", "p", "--resellers", "*"]);
    let (id, secret) = (
        client["clientId"].as_str().unwrap(),
        client["clientSecret"].as_str().unwrap(),
    );
    let mut served = serve(&database);

    let token = body_of(&post_token(&served.address, id, secret))["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed = get_with_token(&served.address, "/v3/resellers/R1/customers", &token, id);
    assert!(listed.starts_with("HTTP/1.1 404"), "{listed}");
    assert!(
        listed.contains("ratelimit-policy: \"client\";q=2;w=2\r\n"),
        "ROSTER_RATE_LIMIT=1 gives bursts of 2: {listed}"
    );
    for (request, status) in [("DELETE /v3/resellers/R1/customers", "405"), ("GET /nowhere", "404")] {
        let response = http(
            &served.address,
            &format!("{request} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        );
        assert!(response.starts_with(&format!("HTTP/1.1 {status}")), "{response}");
    }

    // A request whose body is still arriving when SIGTERM comes.
    let body = credentials(id, secret);
    let mut stream = TcpStream::connect(&served.address).unwrap();
    let head = format!(
        "POST /ims/token/v3 HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&body.as_bytes()[..10]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let killed = Command::new("kill")
        .args(["-TERM", &served.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(&body.as_bytes()[10..]).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.contains("\"token_type\":\"bearer\""), "{response}");

    let status = served.child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "exit 0 after SIGTERM");
    // A new connection is refused now.
    assert!(TcpStream::connect(&served.address).is_err());

    // The server exited: read its log to the end (the reader thread stops there).
    let logs: Vec<String> = served.logs.iter().collect();
    // One access line per request, in order, naming the route that answered
    // and, once authenticated, the client.
    let access: Vec<(Value, Value, Value, Value)> = logs
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|entry| entry["target"] == "roster::access")
        .map(|e| {
            (
                e["method"].clone(),
                e["route"].clone(),
                e["status"].clone(),
                e["client_id"].clone(),
            )
        })
        .collect();
    let customers = "/v3/resellers/{reseller_id}/customers";
    assert_eq!(
        access,
        [
            (json!("POST"), json!("/ims/token/v3"), json!(200), Value::Null),
            (json!("GET"), json!(customers), json!(404), json!(id)),
            (json!("DELETE"), json!(customers), json!(405), Value::Null),
            (json!("GET"), Value::Null, json!(404), Value::Null),
            (json!("POST"), json!("/ims/token/v3"), json!(200), Value::Null),
        ]
    );
    let logs = logs.join("\n");
    assert!(!logs.contains(secret), "a secret reached the logs");
    assert!(!logs.contains(&token), "a token reached the logs");
}

#[test]
fn a_sqlite_database_in_a_missing_directory_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    for (parent, problem) in [
        (dir.path().join("missing"), "does not exist"),
        (file, "is not a directory"),
    ] {
        let database = format!("sqlite://{}/roster.db", parent.display());
        assert_eq!(
            refusal(&["clients", "list", "--database", &database]),
            format!(
                "error: opening SQLite database {0}/roster.db: {0} {problem}\n",
                parent.display()
            )
        );
    }
}

#[test]
fn a_missing_postgresql_database_is_named_in_the_servers_words() {
    let Some(base) = service("ROSTER_TEST_POSTGRES") else {
        return;
    };
    let database = format!("{base}/roster_missing_{}", uuid::Uuid::new_v4().simple());
    let name = database.rsplit('/').next().unwrap();
    assert_eq!(
        refusal(&["clients", "list", "--database", &database]),
        format!(
            "error: preparing PostgreSQL database {database}: connecting to PostgreSQL: \
             db error: FATAL: database \"{name}\" does not exist\n"
        )
    );
}

#[test]
fn serve_says_redis_does_not_answer_before_loading_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/roster.db", dir.path().display());
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let redis = format!("redis://{}", unused.local_addr().unwrap());
    drop(unused);
    let stderr = refusal(&[
        "serve",
        "--database",
        &database,
        "--listen",
        "127.0.0.1:0",
        "--redis",
        &redis,
    ]);
    assert!(
        stderr.ends_with("error: connecting to Redis: Connection refused (os error 111)\n"),
        "{stderr}"
    );
    assert!(!stderr.contains("catalog loaded"), "{stderr}");
}

#[test]
fn the_demo_says_at_once_that_its_port_is_taken() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo.db");
    let database = format!("sqlite://{}", path.display());
    assert_eq!(
        refusal(&["demo", "--listen", &address, "--database", &database]),
        format!("error: listening on {address}: Address already in use (os error 98)\n")
    );
    assert!(!path.exists(), "nothing generated, no database created");
}

#[test]
fn the_demo_serves_what_its_curl_lines_promise() {
    let database = TestDatabase::new();
    let mut child = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args([
            "demo",
            "--customers",
            "400",
            "--listen",
            "127.0.0.1:0",
            "--database",
            &database.url,
        ])
        .env_remove("ROSTER_DATABASE")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting roster demo");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    // Each curl command: its first line and its continuation lines.
    let mut commands: Vec<String> = Vec::new();
    let mut continues = false;
    for line in stdout.lines().map_while(Result::ok) {
        let line = line.trim();
        if line.starts_with("curl ") {
            commands.push(String::new());
            continues = true;
        }
        if continues {
            let command = commands.last_mut().unwrap();
            command.push_str(line.trim_end_matches('\\').trim());
            command.push(' ');
            continues = line.ends_with('\\');
        }
        if line.starts_with("Press Ctrl-C") {
            break;
        }
    }
    // A list page in each version, one more page, one read, one update,
    // one create.
    assert_eq!(commands.len(), 6, "{commands:?}");
    let mut statuses = Vec::new();
    for command in &commands {
        let quoted: Vec<&str> = command.split('\'').skip(1).step_by(2).collect();
        let method = command
            .split("-X ")
            .nth(1)
            .map_or("GET", |rest| rest.split(' ').next().unwrap());
        let url = quoted[0];
        let headers: Vec<&str> = quoted[1..].iter().copied().filter(|q| q.contains(": ")).collect();
        let body = if command.contains(" -d ") {
            *quoted.last().unwrap()
        } else {
            ""
        };
        let without_scheme = url.trim_start_matches("http://");
        let (address, path) = without_scheme.split_at(without_scheme.find('/').unwrap());
        let response = http(
            address,
            &format!(
                "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{}\r\nContent-Length: {}\r\n\r\n{body}",
                headers.join("\r\n"),
                body.len()
            ),
        );
        let status: u16 = response[9..12].parse().unwrap();
        let answer: Value = serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        match method {
            "GET" if path.contains("/resellers/") => {
                assert!(answer["totalCount"].as_u64().unwrap() > 0, "{url}: {answer}");
                let items = if headers.contains(&"X-Api-Version: 2025-11") {
                    "accounts"
                } else {
                    "customers"
                };
                assert!(answer[items].is_array(), "{url} {headers:?}: {answer}");
            }
            "GET" => assert!(answer["customerId"].is_string(), "{url}: {answer}"),
            "PATCH" => assert_eq!(answer["tags"], json!(["renewal-q3"]), "{url}"),
            _ => assert_eq!(answer["companyProfile"]["companyName"], "Demo Newcomer Ltd", "{url}"),
        }
        statuses.push(status);
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 201]);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

/// Opening a database whose schema is current takes no lock: a command
/// that only reads runs while a long import holds the write lock (on
/// SQLite it used to wait for it, and fail after 30 s with "database is
/// locked"; so did a server starting).
#[test]
fn a_reading_command_runs_while_an_import_holds_the_write_lock() {
    let database = TestDatabase::new();
    let created = roster_json(
        &database,
        &["clients", "create", "--name", "Reader", "--resellers", "*"],
    );
    let hold = database.hold_writes();
    let listed = roster_json(&database, &["clients", "list"]);
    drop(hold);
    assert_eq!(
        listed,
        json!([{"clientId": created["clientId"], "name": "Reader", "resellers": ["*"], "rateLimit": null,
                "enabled": true, "apiVersion": "2025-08"}])
    );
}
