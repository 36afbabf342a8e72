//! `roster serve` (SPEC §5): open the database, build the application, bind
//! the listener and serve until SIGINT or SIGTERM. `roster demo` serves
//! through the same [`until_signal`].
//!
//! Depends on `http`, `app` and `store`.

use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::net::TcpListener;

use crate::app::{App, AppConfig};
use crate::{http, store};

/// What `roster serve` needs beyond its flags' defaults.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub database: String,
    pub listen: String,
    pub config: AppConfig,
}

pub async fn run(options: ServeOptions) -> Result<()> {
    let store = store::open(&options.database).await?;
    let backend = store.backend();
    let app = App::new(store, options.config).await?;
    let listener = TcpListener::bind(&options.listen)
        .await
        .with_context(|| format!("listening on {}", options.listen))?;
    tracing::info!(address = %listener.local_addr()?, backend, "serving");
    until_signal(app, listener).await
}

/// Serves `app` on `listener` until SIGINT/SIGTERM, then lets requests in
/// flight finish.
pub async fn until_signal(app: Arc<App>, listener: TcpListener) -> Result<()> {
    http::serve(app, listener, shutdown_signal()).await
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
