//! The benchmark's ceiling (issue #5): the least an HTTP server can do for a
//! request — answer it with fixed bytes from memory — on the same runtime
//! and HTTP/1 stack as Roster (tokio, hyper). Each Roster scenario is
//! reported as a ratio to this server answering with that scenario's bytes.
//!
//! `cargo run --release --example ceiling -- 127.0.0.1:18090 body.json`

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let address = args.next().expect("usage: ceiling ADDRESS BODY_FILE");
    let body = Bytes::from(std::fs::read(args.next().expect("usage: ceiling ADDRESS BODY_FILE"))?);
    let listener = TcpListener::bind(&address).await?;
    eprintln!("ceiling: serving {} bytes on {address}", body.len());
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        tokio::spawn(async move {
            let service = service_fn(move |_request: Request<Incoming>| {
                let mut response = Response::new(Full::new(body.clone()));
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                async { Ok::<_, Infallible>(response) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
