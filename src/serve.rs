//! `roster serve` (SPEC §5): open the database, build the application, bind
//! the listener and serve until SIGINT or SIGTERM. `roster demo` serves
//! through the same [`until_signal`].

use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::net::TcpListener;

use crate::app::{App, AppConfig};
use crate::{http, logs, store, telemetry};

/// What `roster serve` needs beyond its flags' defaults.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub database: String,
    pub listen: String,
    /// Where to serve Prometheus metrics, if anywhere.
    pub metrics_listen: Option<String>,
    pub config: AppConfig,
}

/// Binds first, then opens the database and loads the catalog, answering
/// 503 meanwhile (`/readyz` included, SPEC §9); then serves.
pub async fn run(options: ServeOptions) -> Result<()> {
    // A mistyped URL is refused before anything listens, not after.
    store::DatabaseUrl::parse(&options.database)?;
    let listener = TcpListener::bind(&options.listen)
        .await
        .with_context(|| format!("listening on {}", options.listen))?;
    let address = listener.local_addr()?;
    if let Some(metrics_listen) = &options.metrics_listen {
        let metrics = TcpListener::bind(metrics_listen)
            .await
            .with_context(|| format!("listening on {metrics_listen} for metrics"))?;
        let handle = telemetry::install()?;
        tracing::info!(address = %metrics.local_addr()?, "serving metrics at /metrics");
        tokio::spawn(async move {
            if let Err(error) = telemetry::serve(metrics, handle).await {
                tracing::error!(error = %logs::chain(&*error), "the metrics listener stopped");
            }
        });
    }
    tracing::info!(%address, "listening; loading the catalog");
    let (app, backend) = http::while_loading(&listener, async {
        let store = store::open(&options.database).await?;
        let backend = store.backend();
        anyhow::Ok((App::new(store, options.config).await?, backend))
    })
    .await?;
    tracing::info!(%address, backend, "serving");
    until_signal(app, listener).await
}

/// Serves `app` on `listener` until SIGINT/SIGTERM, then lets requests in
/// flight finish.
///
/// The accept loop runs as a task of the runtime, not on the thread that
/// blocks on it: there, each new connection was handed from the worker
/// that saw it to that thread and back, two wake-ups of a sleeping thread
/// per connection (docs/PERFORMANCE.md, "Figures the code refers to",
/// "Accepting connections").
pub async fn until_signal(app: Arc<App>, listener: TcpListener) -> Result<()> {
    tokio::spawn(http::serve(app, listener, shutdown_signal()))
        .await
        .context("the accept loop stopped")?
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing SIGTERM handler");
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutdown signal received");
}
