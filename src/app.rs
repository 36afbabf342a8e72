//! The application state a server runs on: the store, the catalog, the
//! authenticator and the abuse controls, built once at start.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use tokio::sync::Semaphore;

use crate::auth::{Authenticator, CLIENT_CACHE_TTL};
use crate::catalog::Catalog;
use crate::http::HttpLimits;
use crate::limits::{RateLimiter, ReplayWindow, SharedLimits};
use crate::store::Store;

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
    /// Secret verifications (argon2) running at once, at most one per core.
    pub secret_checks: Semaphore,
}

impl App {
    pub async fn new(store: Arc<dyn Store>, config: AppConfig) -> Result<Arc<App>> {
        let catalog = Catalog::load(store.clone()).await?;
        let auth = Authenticator::new(store.clone(), config.client_cache_ttl).await?;
        let (rate, replay) = match &config.redis {
            Some(url) => {
                let shared = SharedLimits::connect(url).await?;
                (
                    RateLimiter::shared(config.rate_limit, shared.clone()),
                    ReplayWindow::shared(config.request_id_window, shared),
                )
            }
            None => (
                RateLimiter::local(config.rate_limit),
                ReplayWindow::local(config.request_id_window, config.request_id_capacity),
            ),
        };
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Ok(Arc::new(App {
            store,
            catalog,
            auth,
            rate,
            replay,
            limits: config.limits,
            secret_checks: Semaphore::new(cores),
        }))
    }
}
