//! The ceiling for load figures: a bare hyper server answering a fixed JSON body, the same
//! size as a cached entitlement answer. `bench/quick.sh` runs it beside the bridge.
//!
//! cargo run --release --example ceiling -- 127.0.0.1:8090

use std::convert::Infallible;

use http_body_util::Full;
use hyper::{Request, Response, body::Bytes, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

const BODY: &str = r#"{"code":"S598742062-US","offerId":"S598742062_US","accessGranted":true,"expiresAt":"2026-12-25T05:14:50Z","checkedAt":"2026-11-25T05:14:53Z"}"#;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".into());
    let listener = TcpListener::bind(&addr).await?;
    eprintln!("ceiling listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let service = service_fn(|_req: Request<hyper::body::Incoming>| async {
                Ok::<_, Infallible>(
                    Response::builder()
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from_static(BODY.as_bytes())))
                        .unwrap(),
                )
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
