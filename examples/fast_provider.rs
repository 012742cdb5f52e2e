//! A provider that answers at once, for the bridge's added latency on the uncached path: a bare
//! hyper server speaking just enough of Cleeng's API. `bench/run.sh` points every provider URL
//! of a `provider.kind = "cleeng"` bridge at it, and also loads its access URL directly.
//!
//! - `GET /3.1/entitlements/customer_id/{c}/offer_id/{o}` → `{"accessGranted":true,"expiresAt":null}`
//! - `POST /customers` (registration) and `POST /auths` (login) →
//!   `{"responseData":{"customerId":"C1","jwt":"j","refreshToken":"r"}}`
//! - `POST /roku/payment`, `POST /roku/push-notification/...` → `{}`
//!
//! cargo run --release --example fast_provider -- 127.0.0.1:8095

use std::convert::Infallible;

use http_body_util::{BodyExt, Full};
use hyper::{
    Method, Request, Response, StatusCode, body::Bytes, server::conn::http1, service::service_fn,
};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

const ACCESS: &str = r#"{"accessGranted":true,"expiresAt":null}"#;
const CUSTOMER: &str = r#"{"responseData":{"customerId":"C1","jwt":"j","refreshToken":"r"}}"#;

async fn answer(req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    // Read the whole request body, as a real server would, before answering.
    let _ = req.into_body().collect().await;
    let (status, body) = match (method, path.as_str()) {
        (Method::GET, p) if p.starts_with("/3.1/entitlements/customer_id/") => {
            (StatusCode::OK, ACCESS)
        }
        (Method::POST, "/customers" | "/auths") => (StatusCode::OK, CUSTOMER),
        (Method::POST, _) => (StatusCode::OK, "{}"),
        _ => (StatusCode::NOT_FOUND, r#"{"errors":["not found"]}"#),
    };
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8095".into());
    let listener = TcpListener::bind(&addr).await?;
    eprintln!("fast provider listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(answer))
                .await;
        });
    }
}
