//! The application state a server runs on: the store, the catalog (and
//! the task that keeps it following the change log), the authenticator and
//! the abuse controls, built once at start; and the configuration types
//! the layers above share.

pub mod writer;

use std::sync::Arc;
use std::time::Duration;

use crate::auth::logins::{LoginGuard, LoginPolicy};
use crate::auth::{Authenticator, CLIENT_CACHE_TTL};
use crate::catalog::{Catalog, CatalogOptions, FOLLOW_EVERY};
use crate::limits::{RateLimiter, ReplayWindow, SharedLimits};
use crate::store::{Retention, Store};
use anyhow::Result;

use self::writer::Writer;

/// How a server is configured beyond its database (`roster serve` flags).
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Requests per second of clients without their own limit; 0: unlimited.
    pub rate_limit: u32,
    pub request_id_window: Duration,
    /// Most request ids remembered at once (oldest forgotten first).
    pub request_id_capacity: usize,
    /// How long a client record (enabled, token epoch) is cached.
    pub client_cache_ttl: Duration,
    /// Redis URL: share rate limits and request ids between instances.
    pub redis: Option<String>,
    pub limits: HttpLimits,
    pub catalog: CatalogOptions,
    /// How often the catalog asks the change log for new writes.
    pub follow_every: Duration,
    /// How long and how many answers to X-Correlation-Id writes are kept.
    pub correlations: Retention,
    /// The token endpoint's budget and failed-login limits.
    pub logins: LoginPolicy,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            rate_limit: 50,
            request_id_window: Duration::from_secs(86_400),
            request_id_capacity: 1_000_000,
            client_cache_ttl: CLIENT_CACHE_TTL,
            redis: None,
            limits: HttpLimits::default(),
            catalog: CatalogOptions::default(),
            follow_every: FOLLOW_EVERY,
            correlations: Retention {
                window: Duration::from_secs(864_000),
                capacity: 1_000_000,
            },
            logins: LoginPolicy::default(),
        }
    }
}

/// Resource limits of the server (`roster serve --help` lists the flags).
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// A request running longer is answered 500 1124.
    pub request_timeout: Duration,
    /// Longest accepted path and query, in bytes (else 414).
    pub max_uri_bytes: usize,
    /// Largest accepted header section, in bytes (else 431).
    pub max_header_bytes: usize,
    /// Requests worked on at once; more wait for a turn.
    pub max_in_flight: usize,
    /// Open connections at once; past it, new connections wait to be accepted.
    pub max_connections: usize,
    /// A client must send a request's headers within this time of their
    /// first byte, or the connection is closed (slow-client protection).
    pub header_read_timeout: Duration,
    /// A keep-alive connection with no request under way is closed after
    /// this long; above load balancers' own idle timeouts (60 s for AWS and
    /// nginx), so that they close first.
    pub idle_timeout: Duration,
    /// Largest token-request body, in bytes.
    pub max_body_bytes: usize,
    /// On shutdown, how long requests in flight may take to finish.
    pub shutdown_grace: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            request_timeout: Duration::from_secs(10),
            max_uri_bytes: 8 * 1024,
            max_header_bytes: 16 * 1024,
            max_in_flight: 512,
            max_connections: 4096,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            max_body_bytes: 16 * 1024,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

pub struct App {
    pub store: Arc<dyn Store>,
    pub catalog: Catalog,
    pub auth: Authenticator,
    pub rate: RateLimiter,
    pub replay: ReplayWindow,
    pub limits: HttpLimits,
    /// The token endpoint's own budget of secret checks, and its limits on
    /// failed logins.
    pub logins: LoginGuard,
    /// Commits customer writes in groups.
    pub writer: Writer,
    /// How long answers to X-Correlation-Id writes are replayed.
    pub correlation_window: Duration,
    /// Redis, when limits are shared through it (probed by `/readyz`).
    shared: Option<SharedLimits>,
    /// The task applying the change log to the catalog; stopped with the app.
    follower: tokio::task::AbortHandle,
}

impl Drop for App {
    fn drop(&mut self) {
        self.follower.abort();
    }
}

impl App {
    pub async fn new(store: Arc<dyn Store>, config: AppConfig) -> Result<Arc<App>> {
        // Redis first: an unreachable one is said before the catalog loads
        // (about ten seconds at a million customers), not after.
        let shared = match &config.redis {
            Some(url) => Some(SharedLimits::connect(url).await?),
            None => None,
        };
        let catalog = Catalog::load_with(store.clone(), config.catalog.clone()).await?;
        let auth = Authenticator::new(store.clone(), config.client_cache_ttl).await?;
        let (rate, replay) = match &shared {
            Some(shared) => (
                RateLimiter::shared(config.rate_limit, shared.clone()),
                ReplayWindow::shared(config.request_id_window, shared.clone()),
            ),
            None => (
                RateLimiter::local(config.rate_limit),
                ReplayWindow::local(config.request_id_window, config.request_id_capacity),
            ),
        };
        let follower = tokio::spawn({
            let catalog = catalog.clone();
            async move { catalog.follow(config.follow_every).await }
        })
        .abort_handle();
        Ok(Arc::new(App {
            writer: Writer::start(store.clone(), catalog.clone(), config.correlations),
            correlation_window: config.correlations.window,
            store,
            catalog,
            auth,
            rate,
            replay,
            limits: config.limits,
            logins: LoginGuard::new(config.logins),
            shared,
            follower,
        }))
    }
}

/// How long `/readyz` waits for the database or Redis to answer.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

impl App {
    /// What keeps this server from being ready to serve (SPEC §9): the
    /// database or Redis not answering. The catalog is loaded by the time an
    /// `App` exists. Empty when ready; the causes are logged, the answer
    /// names only the dependency.
    pub async fn unready(&self) -> Vec<&'static str> {
        let database = probe("database: not answering", self.store.ping());
        let redis = async {
            match &self.shared {
                Some(shared) => probe("redis: not answering", shared.ping()).await,
                None => None,
            }
        };
        let (database, redis) = tokio::join!(database, redis);
        database.into_iter().chain(redis).collect()
    }
}

/// `problem` unless `check` succeeds within [`READINESS_TIMEOUT`]; the
/// cause is logged.
async fn probe(problem: &'static str, check: impl Future<Output = Result<()>>) -> Option<&'static str> {
    let cause = match tokio::time::timeout(READINESS_TIMEOUT, check).await {
        Ok(Ok(())) => return None,
        Ok(Err(error)) => crate::logs::chain(&*error),
        Err(_) => format!("no answer within {} s", READINESS_TIMEOUT.as_secs()),
    };
    tracing::warn!(%cause, "not ready: {problem}");
    Some(problem)
}
