//! The HTTP server of the dashboards, the API and health checks, hardened
//! against slow and greedy clients.
//!
//! A socket that sends a request's headers slowly (or never) is closed
//! after `header_timeout`, which also bounds how long a kept-alive
//! connection may sit idle between requests; a request that takes longer
//! than `request_timeout` (a body trickling in) gets 408. At most
//! `max_connections` connections are open at once — further clients wait
//! in the kernel's accept queue, holding no descriptor of the process — and
//! one client address (an IPv6 client's /64) holds at most
//! `max_per_address` of them: its further connections are closed at once.
//! So a flood of slow sockets from one unauthenticated client can neither
//! exhaust the process's file descriptors (which gRPC ingest needs) nor
//! keep others from the dashboards.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

pub use crate::config::HttpLimits;

/// Open connections per client network; a guard gives its place back.
#[derive(Debug, Default)]
struct PerAddress(Mutex<HashMap<String, usize>>);

struct Place {
    owner: Arc<PerAddress>,
    key: String,
}

impl PerAddress {
    fn take(self: &Arc<Self>, key: String, max: usize) -> Option<Place> {
        let mut open = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(key.clone()).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(Place {
            owner: self.clone(),
            key,
        })
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut open = self.owner.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Serves `app` on `listener` within `limits` until `shutdown` turns true,
/// then lets requests in flight finish; over TLS with `tls` (a handshake
/// must end within the header timeout). Each request carries its
/// connection's [`ConnectInfo`] and [`crate::https::Transport`].
///
/// # Errors
/// Never: accept errors (a descriptor limit reached) are logged and
/// retried after a pause.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    tls: Option<Arc<rustls::ServerConfig>>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let transport = crate::https::Transport {
        tls: acceptor.is_some(),
    };
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let per_address = Arc::new(PerAddress::default());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let app = app.layer(tower_http::timeout::TimeoutLayer::with_status_code(
        axum::http::StatusCode::REQUEST_TIMEOUT,
        limits.request_timeout,
    ));
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = stopped(&mut shutdown) => break,
        };
        let (tcp, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // EMFILE and the like: pause rather than spin.
                    tracing::warn!(%error, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stopped(&mut shutdown) => break,
        };
        let network = crate::limiter::client_network(remote.ip());
        let Some(place) = per_address.take(network, limits.max_per_address) else {
            tracing::debug!(%remote, "HTTP connection closed: too many from this address");
            drop(tcp);
            continue;
        };
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "TCP_NODELAY not set");
        }
        let app = app.clone();
        let service = TowerToHyperService::new(tower::service_fn(
            move |mut request: axum::http::Request<hyper::body::Incoming>| {
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(remote));
                request.extensions_mut().insert(transport);
                let app = app.clone();
                async move {
                    Ok::<_, Infallible>(
                        app.oneshot(request.map(axum::body::Body::new))
                            .await
                            .unwrap_or_else(|never| match never {}),
                    )
                }
            },
        ));
        let mut builder = Builder::new(TokioExecutor::new()).http1_only();
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .keep_alive(true);
        match &acceptor {
            None => {
                let connection = builder
                    .serve_connection_with_upgrades(TokioIo::new(tcp), service)
                    .into_owned();
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(error) = connection.await {
                        tracing::trace!(%error, "HTTP connection ended");
                    }
                    drop(place);
                    drop(slot);
                });
            }
            Some(acceptor) => {
                let handshake = acceptor.accept(tcp);
                let watcher = graceful.watcher();
                let header_timeout = limits.header_timeout;
                tokio::spawn(async move {
                    match tokio::time::timeout(header_timeout, handshake).await {
                        Ok(Ok(tls)) => {
                            let connection = builder
                                .serve_connection_with_upgrades(TokioIo::new(tls), service)
                                .into_owned();
                            if let Err(error) = watcher.watch(connection).await {
                                tracing::trace!(%error, "HTTPS connection ended");
                            }
                        }
                        Ok(Err(error)) => {
                            tracing::debug!(%remote, %error, "TLS handshake failed");
                        }
                        Err(_) => tracing::debug!(%remote, "TLS handshake timed out"),
                    }
                    drop(place);
                    drop(slot);
                });
            }
        }
    }
    drop(listener);
    // Requests in flight finish; idle connections close.
    if tokio::time::timeout(limits.request_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("HTTP connections still open at shutdown were dropped");
    }
    Ok(())
}
