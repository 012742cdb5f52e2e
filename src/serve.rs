//! The public listener's accept loop: hyper's HTTP/1 connection served directly, so the
//! connection itself is bounded — a header read timeout (which also closes idle keep-alives:
//! hyper starts it as soon as the connection waits for the next request), and a cap on open
//! connections per peer, so one source cannot hold every file descriptor.
//!
//! Handlers still see `ConnectInfo<SocketAddr>`, inserted per request as `axum::serve` would.

use std::{
    collections::HashMap,
    future::Future,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, extract::ConnectInfo};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

/// How connections are bounded.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    /// 0: no cap.
    pub max_per_source: usize,
    /// Peers exempt from the cap (load balancers carry many clients on one address).
    pub trusted: Vec<ipnet::IpNet>,
}

/// Open connections by peer; a connection's guard gives its place back when it ends.
#[derive(Default)]
struct OpenConnections(Mutex<HashMap<IpAddr, usize>>);

struct Guard {
    open: Arc<OpenConnections>,
    ip: IpAddr,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let mut open = self.open.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

impl OpenConnections {
    fn admit(self: &Arc<Self>, ip: IpAddr, cap: usize) -> Option<Guard> {
        let mut open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(ip).or_default();
        if cap > 0 && *n >= cap {
            return None;
        }
        *n += 1;
        Some(Guard {
            open: self.clone(),
            ip,
        })
    }
}

/// Serves `app` on `listener` until `shutdown` completes; then stops accepting, lets each
/// connection finish the request it is on, and returns once all have closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let open = Arc::new(OpenConnections::default());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of descriptors or a connection reset before accept: keep serving.
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // Reap finished connection tasks as we go, so the set holds only live ones.
        while connections.try_join_next().is_some() {}
        let cap = if limits.trusted.iter().any(|net| net.contains(&peer.ip())) {
            0
        } else {
            limits.max_per_source
        };
        let Some(guard) = open.admit(peer.ip(), cap) else {
            metrics::counter!("roku_bridge_connections_refused_total", "reason" => "per_source")
                .increment(1);
            drop(stream);
            continue;
        };
        connections.spawn(serve_connection(
            stream,
            peer,
            app.clone(),
            limits.header_read_timeout,
            stopped.clone(),
            guard,
        ));
    }
    let _ = stop.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    header_read_timeout: Duration,
    mut stopped: tokio::sync::watch::Receiver<bool>,
    _guard: Guard,
) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<_>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        app.clone().oneshot(request.map(axum::body::Body::new))
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            return;
        }
        _ = stopped.wait_for(|stop| *stop) => {}
    }
    connection.as_mut().graceful_shutdown();
    if let Err(e) = connection.await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}
