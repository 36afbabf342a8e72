//! Test support: a fresh database per test, the real server on a random
//! port, and a small HTTP client that returns whole responses.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use roster::app::{App, AppConfig};
use roster::auth::clients::{ClientSettings, CreatedClient, create_client, issue_token};
use roster::domain::{ApiVersion, CustomerRecord, ResellerScope};
use roster::store::{self, ImportOutcome, Store};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Which database the suite runs on: SQLite, or PostgreSQL when
/// `ROSTER_TEST_BACKEND=postgres` (scripts/test sets it for its second run).
pub fn on_postgres() -> bool {
    std::env::var("ROSTER_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

/// A service the test script provides (`ROSTER_TEST_POSTGRES`,
/// `ROSTER_TEST_REDIS`). Without it a test that needs it is skipped, unless
/// `ROSTER_TEST_REQUIRE_SERVICES` says the script started it: then it fails.
pub fn service(variable: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(url) => Some(url),
        Err(_) if std::env::var_os("ROSTER_TEST_REQUIRE_SERVICES").is_some() => {
            panic!("{variable} is not set, but ROSTER_TEST_REQUIRE_SERVICES says it must be")
        }
        Err(_) => {
            eprintln!("skipped: {variable} is not set (scripts/test sets it)");
            None
        }
    }
}

/// A database of its own for one test; removed when dropped.
pub struct TestDatabase {
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    /// The directory goes when this does.
    Directory {
        _dir: tempfile::TempDir,
    },
    Postgres {
        admin_url: String,
        name: String,
    },
}

impl TestDatabase {
    /// On the suite's backend.
    pub fn new() -> Self {
        if on_postgres() {
            Self::postgres().expect("ROSTER_TEST_BACKEND=postgres needs ROSTER_TEST_POSTGRES")
        } else {
            Self::sqlite()
        }
    }

    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("roster.db").display());
        TestDatabase {
            url,
            cleanup: Cleanup::Directory { _dir: dir },
        }
    }

    /// A new, empty PostgreSQL database; `None` when there is no server.
    pub fn postgres() -> Option<Self> {
        let base = service("ROSTER_TEST_POSTGRES")?;
        let name = format!("roster_test_{}", uuid::Uuid::new_v4().simple());
        let admin_url = format!("{base}/postgres");
        let statement = format!("CREATE DATABASE {name}");
        admin(&admin_url, statement);
        Some(TestDatabase {
            url: format!("{base}/{name}"),
            cleanup: Cleanup::Postgres { admin_url, name },
        })
    }
}

impl TestDatabase {
    /// Runs SQL statements on the database behind Roster's back (to stage
    /// what a crash, a restore or a trimmed log leaves).
    pub fn execute(&self, statements: &str) {
        match self.url.strip_prefix("sqlite://") {
            Some(path) => {
                let conn = rusqlite::Connection::open(path).expect("opening the test database");
                conn.busy_timeout(Duration::from_secs(5)).unwrap();
                conn.execute_batch(statements).expect(statements);
            }
            None => admin(&self.url, statements.to_owned()),
        }
    }
}

/// The database's write lock, held by the test (as a long import holds
/// it) until this drops. Writes wait for it.
pub struct WriteHold {
    release: Option<std::sync::mpsc::Sender<()>>,
    holder: Option<std::thread::JoinHandle<()>>,
}

impl TestDatabase {
    /// Takes the lock every write takes first (SQLite's write lock, or
    /// PostgreSQL's generation row) and returns once it holds it.
    pub fn hold_writes(&self) -> WriteHold {
        let (held, acquired) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let url = self.url.clone();
        let holder = std::thread::spawn(move || match url.strip_prefix("sqlite://") {
            Some(path) => {
                let conn = rusqlite::Connection::open(path).expect("opening the test database");
                conn.execute_batch("BEGIN IMMEDIATE").unwrap();
                held.send(()).unwrap();
                let _ = released.recv();
                conn.execute_batch("ROLLBACK").unwrap();
            }
            None => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let client = runtime.block_on(async {
                    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
                    tokio::spawn(connection);
                    client
                        .batch_execute("BEGIN; SELECT 1 FROM roster_state WHERE id = 1 FOR UPDATE")
                        .await
                        .unwrap();
                    client
                });
                // The transaction stays open on the server meanwhile.
                held.send(()).unwrap();
                let _ = released.recv();
                runtime.block_on(client.batch_execute("ROLLBACK")).unwrap();
            }
        });
        acquired.recv().expect("the write lock");
        WriteHold {
            release: Some(release),
            holder: Some(holder),
        }
    }
}

impl Drop for WriteHold {
    fn drop(&mut self) {
        drop(self.release.take());
        if let Some(holder) = self.holder.take() {
            holder.join().expect("the lock holder");
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Cleanup::Postgres { admin_url, name } = &self.cleanup {
            admin(admin_url, format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// Runs one statement on the PostgreSQL test server, from any context
/// (a thread of its own with its own runtime).
fn admin(admin_url: &str, statement: String) {
    let admin_url = admin_url.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
                .await
                .expect("connecting to the PostgreSQL test server");
            tokio::spawn(connection);
            client.batch_execute(&statement).await.expect(&statement);
        });
    })
    .join()
    .expect("the admin thread");
}

/// A running server on 127.0.0.1 and a port of its own.
pub struct TestServer {
    pub base: String,
    pub app: Arc<App>,
    pub store: Arc<dyn Store>,
    _database: Arc<TestDatabase>,
    client: Client<HttpConnector, Full<Bytes>>,
    shutdown: Option<oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// The configuration of most tests: no rate limit, revocation seen at once;
/// on PostgreSQL, rate limits and request ids in Redis, as in production.
pub fn test_config() -> AppConfig {
    AppConfig {
        rate_limit: 0,
        client_cache_ttl: Duration::ZERO,
        redis: if on_postgres() {
            service("ROSTER_TEST_REDIS")
        } else {
            None
        },
        ..AppConfig::default()
    }
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(test_config(), &[]).await
    }

    /// Starts a server on a new database that already holds `customers`.
    pub async fn start_with(config: AppConfig, customers: &[Value]) -> Self {
        let database = Arc::new(TestDatabase::new());
        if !customers.is_empty() {
            let store = store::open(&database.url).await.expect("opening the test database");
            import(store.as_ref(), customers).await;
        }
        Self::start_on(database, config).await
    }

    /// Starts a server on `database`, which other servers may share.
    pub async fn start_on(database: Arc<TestDatabase>, config: AppConfig) -> Self {
        let store = store::open(&database.url).await.expect("opening the test database");
        let app = App::new(store.clone(), config).await.expect("building the app");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binding a port");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (shutdown, stop) = oneshot::channel();
        let served = tokio::spawn(roster::http::serve(app.clone(), listener, async {
            let _ = stop.await;
        }));
        TestServer {
            base,
            app,
            store,
            _database: database,
            client: Client::builder(TokioExecutor::new()).build_http(),
            shutdown: Some(shutdown),
            served: Some(served),
        }
    }

    /// Stops the server the way SIGTERM would, and waits for it.
    pub async fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(served) = self.served.take() {
            served
                .await
                .expect("the server task")
                .expect("the server stops cleanly");
        }
    }

    /// Imports `customers` and waits until this server serves them, which
    /// SPEC §8 allows a second (the test fails if it takes longer).
    pub async fn import(&self, customers: &[Value]) -> ImportOutcome {
        let outcome = import(self.store.as_ref(), customers).await;
        self.wait_for(outcome.generation).await;
        outcome
    }

    /// Waits until this server's catalog has applied `generation`: at most
    /// a second after the write committed (SPEC §8).
    pub async fn wait_for(&self, generation: roster::store::Generation) {
        let deadline = std::time::Instant::now() + Duration::from_secs(1);
        while self.app.catalog.generation() < generation {
            assert!(
                std::time::Instant::now() < deadline,
                "generation {generation} not served within a second (at {})",
                self.app.catalog.generation()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// A client with `scope` (`*` or ids), and a token for it.
    pub async fn client(&self, scope: &str) -> Partner {
        self.client_with(scope, None).await
    }

    pub async fn client_with(&self, scope: &str, rate_limit: Option<u32>) -> Partner {
        self.client_pinned(scope, rate_limit, ApiVersion::default()).await
    }

    /// A client pinned to `api_version`, and a token for it.
    pub async fn client_pinned(&self, scope: &str, rate_limit: Option<u32>, api_version: ApiVersion) -> Partner {
        let settings = ClientSettings {
            scope: ResellerScope::parse(scope).unwrap(),
            rate_limit,
            api_version,
        };
        let CreatedClient { client, secret } = create_client(self.store.as_ref(), "test partner", settings)
            .await
            .expect("creating a client");
        let token = issue_token(self.store.as_ref(), &client.client_id, None)
            .await
            .expect("issuing a token")
            .access_token;
        Partner {
            key: client.client_id,
            secret,
            token,
        }
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder<'_> {
        RequestBuilder {
            server: self,
            request: Request::builder().method(method).uri(format!("{}{path}", self.base)),
            body: Bytes::new(),
        }
    }

    /// `POST /ims/token/v3` with a form body.
    pub fn token_request(&self, form: &str) -> RequestBuilder<'_> {
        self.request(Method::POST, "/ims/token/v3").form(form)
    }

    pub fn get(&self, path: &str) -> RequestBuilder<'_> {
        self.request(Method::GET, path)
    }

    /// `GET path` as `partner`, with no other header.
    pub async fn get_as(&self, partner: &Partner, path: &str) -> Response {
        self.get(path).partner(partner).send().await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// A partner integration as its own code would hold it.
#[derive(Debug, Clone)]
pub struct Partner {
    pub key: String,
    pub secret: String,
    pub token: String,
}

pub struct RequestBuilder<'a> {
    server: &'a TestServer,
    request: http::request::Builder,
    body: Bytes,
}

impl RequestBuilder<'_> {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.request = self.request.header(name, value);
        self
    }

    pub fn partner(self, partner: &Partner) -> Self {
        self.header("Authorization", &format!("Bearer {}", partner.token))
            .header("X-Api-Key", &partner.key)
    }

    /// A JSON body (`Content-Type: application/json`).
    pub fn json(mut self, body: &Value) -> Self {
        self.body = Bytes::from(body.to_string());
        self.header("Content-Type", "application/json")
    }

    /// A body as it is, without a content type.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    pub fn form(mut self, body: &str) -> Self {
        self.body = Bytes::from(body.to_owned());
        self.header("Content-Type", "application/x-www-form-urlencoded")
    }

    /// Sends the request; every answer is also checked against the
    /// server's own OpenAPI document (see `documented`).
    pub async fn send(self) -> Response {
        let request = self.request.body(Full::new(self.body)).expect("a valid request");
        let (method, path) = (request.method().clone(), request.uri().path().to_owned());
        let response = self.server.client.request(request).await.expect("the server answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.expect("a whole body").to_bytes();
        let response = Response { status, headers, body };
        documented(&method, &path, &response);
        response
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("a UTF-8 body")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().expect("an ASCII header"))
    }

    /// The SPEC §3 error body and the status.
    pub fn error(&self) -> (u16, Value) {
        assert_eq!(self.header("content-type"), Some("application/json"), "errors are JSON");
        (self.status, self.json())
    }
}

/// The client-credentials grant's form body (SPEC §4).
pub fn credentials(client_id: &str, secret: &str) -> String {
    format!("grant_type=client_credentials&client_id={client_id}&client_secret={secret}")
}

/// The SPEC §3 error body.
pub fn error_body(code: &str, message: &str, details: &[&str]) -> Value {
    serde_json::json!({"code": code, "message": message, "additionalDetails": details})
}

/// Imports `customers` through the store, as `roster import` would.
pub async fn import(store: &dyn Store, customers: &[Value]) -> ImportOutcome {
    let records: Vec<CustomerRecord> = customers
        .iter()
        .map(|value| CustomerRecord::from_json(value.clone()).expect("a valid test customer"))
        .collect();
    store::import_with(store, move |sender| {
        records.into_iter().try_for_each(|r| sender.send(r))
    })
    .await
    .expect("the import commits")
}

/// A minimal valid customer.
pub fn customer(id: &str, reseller: &str, status: &str, name: &str, created: &str) -> Value {
    serde_json::json!({
        "customerId": id,
        "resellerId": reseller,
        "status": status,
        "companyProfile": {"companyName": name},
        "creationDate": created,
    })
}

/// What the API returns for a customer imported as `value`.
pub fn served(value: &Value) -> Value {
    let record = CustomerRecord::from_json(value.clone()).unwrap();
    serde_json::from_str(&record.doc).unwrap()
}

/// The customer ids of a page, in order.
pub fn ids(page: &Value) -> Vec<String> {
    page["customers"]
        .as_array()
        .expect("a customers array")
        .iter()
        .map(|c| c["customerId"].as_str().unwrap().to_owned())
        .collect()
}

/// Fails the test if `/openapi.json` does not document what the server
/// just answered: for the operation the path and method name, the status
/// must be one of its responses, and an error's code (SPEC §3's `code`, or
/// OAuth's `error`) must be named in that response's description. Every
/// answer of the suite passes through here, so a status or code a handler
/// can give but the document leaves out fails whichever test provokes it.
/// Paths no operation serves (the project's own 404 and 405) are skipped.
fn documented(method: &Method, path: &str, response: &Response) {
    let document = roster::http::openapi::document();
    let Some(operation) = document["paths"].as_object().and_then(|paths| {
        paths
            .iter()
            .find(|(template, _)| template_matches(template, path))
            .and_then(|(_, item)| item.get(method.as_str().to_ascii_lowercase()))
    }) else {
        return;
    };
    let id = operation["operationId"].as_str().unwrap_or("?");
    let status = response.status.to_string();
    let Some(documented) = operation["responses"].get(&status) else {
        panic!(
            "{id} answered {status}, which /openapi.json does not list: {:?}",
            response.body
        );
    };
    let body: Option<Value> = serde_json::from_slice(&response.body).ok();
    let code = body
        .as_ref()
        .and_then(|body| body.get("code").or(body.get("error")))
        .and_then(Value::as_str);
    if let Some(code) = code {
        let description = documented["description"].as_str().unwrap_or_default();
        assert!(
            description.contains(&format!("`{code}`")),
            "{id} answered {status} {code}, which /openapi.json does not name for {status}: {description}"
        );
    }
}

/// Whether a concrete path fits an OpenAPI path template (`{name}` stands
/// for one non-empty segment).
fn template_matches(template: &str, path: &str) -> bool {
    let (template, path): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    template.len() == path.len()
        && template.iter().zip(&path).all(|(t, p)| {
            if t.starts_with('{') && t.ends_with('}') {
                !p.is_empty()
            } else {
                t == p
            }
        })
}
