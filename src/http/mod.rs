//! The HTTP surface: the routes, the layer around them, and [`serve`], which runs it
//! on a listener the caller bound until the caller's shutdown signal.

pub mod caller;
pub mod connection;
pub mod customer;
pub mod docs;
pub mod error;
pub mod headers;
pub mod health;
pub mod middleware;
pub mod openapi;
pub mod request;
pub mod reseller_customers;
pub mod routes;
pub mod token;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::app::App;
pub use error::ApiError;

/// The API: every route ([`routes`]), inside the [`middleware::Context`] of
/// every request.
pub type Api = middleware::Context;

/// The API of `app`.
pub fn router(app: Arc<App>) -> Api {
    let guard = middleware::Guard {
        in_flight: Semaphore::new(app.limits.max_in_flight.max(1)),
        limits: app.limits.clone(),
    };
    middleware::Context::new(app, guard)
}

/// Answers every request on `listener` with 503 ([`health::loading`]) until
/// `loading` completes, and returns what it gave: the server is reachable
/// (and `/readyz` says why it is not ready) while the catalog loads.
pub async fn while_loading<T>(listener: &TcpListener, loading: impl Future<Output = T>) -> T {
    let router: Router = Router::new().fallback(health::loading);
    let mut loading = std::pin::pin!(loading);
    loop {
        tokio::select! {
            done = &mut loading => return done,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let service = TowerToHyperService::new(router.clone());
                tokio::spawn(async move {
                    let _ = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(Duration::from_secs(10))
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
}

/// A connection slot, once one is free: while none is, the idle
/// connections are asked to close, at once and again every
/// [`SHED_EVERY`] while every slot stays taken (by requests under way,
/// which are never cut short).
async fn room(connections: &Arc<Semaphore>, shedding: &connection::Shedding) -> tokio::sync::OwnedSemaphorePermit {
    loop {
        shedding.shed_idle();
        if let Ok(permit) = tokio::time::timeout(SHED_EVERY, connections.clone().acquire_owned()).await {
            return permit.expect("never closed");
        }
    }
}

/// How often a server with every connection slot taken asks its idle
/// connections again to close (those that went idle since the last call).
const SHED_EVERY: Duration = Duration::from_millis(50);

/// Serves the API on `listener` until `shutdown` completes, then stops
/// accepting, lets requests in flight finish (up to the grace period) and
/// returns.
pub async fn serve(app: Arc<App>, listener: TcpListener, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let limits = app.limits.clone();
    let router = router(app);
    let connections = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let waits = connection::Waits {
        header_read: limits.header_read_timeout,
        idle: limits.idle_timeout,
    };
    let mut builder = http1::Builder::new();
    builder
        // Both waits for a request are `connection::Timed`'s, not hyper's.
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        // Room above our own 431 limit, so oversized headers get JSON from
        // `size_limits` rather than a bare 431 from hyper.
        .max_buf_size((limits.max_header_bytes + limits.max_uri_bytes) * 2 + 8192)
        .max_headers(256);
    let mut shutdown = std::pin::pin!(shutdown);

    let shedding = Arc::new(connection::Shedding::default());
    loop {
        let permit = match connections.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => tokio::select! {
                permit = room(&connections, &shedding) => permit,
                () = &mut shutdown => break,
            },
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Typically out of file descriptors: back off, don't spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let requests = Arc::new(connection::Requests::default());
        let service = router.for_connection(request::Peer(peer.ip().to_canonical()), requests.clone());
        let stream = connection::Timed::new(stream, requests, waits, shedding.clone());
        let connection = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
            drop(permit);
        });
    }

    drop(listener);
    tracing::info!("shutting down: finishing requests in flight");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!(grace_secs = limits.shutdown_grace.as_secs(), "grace period over; dropping connections");
        }
    }
    Ok(())
}
