//! The benchmark's ceiling (issue #5): the least an HTTP server can do for a
//! request — answer it with fixed bytes from memory — on the same runtime
//! and HTTP/1 stack as Roster (tokio, hyper). Each Roster scenario is
//! reported as a ratio to this server answering with that scenario's bytes.
//!
//! `cargo run --release --example ceiling -- 127.0.0.1:18090 body.json [WORK_NS]`
//!
//! With `WORK_NS`, each request first spends about that many nanoseconds of
//! CPU on arithmetic: a server that does a known amount of its own work,
//! against which Roster's cost per request can be read off in wall time
//! (`bench/equivalent.py`). The work is a loop count calibrated at start,
//! not a wait on the clock, so a request that is preempted mid-way still
//! does the same work.

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

const USAGE: &str = "usage: ceiling ADDRESS BODY_FILE [WORK_NS]";

/// `rounds` steps of a xorshift generator: work the optimiser cannot drop.
fn work(rounds: u64) {
    let mut x = black_box(0x9e37_79b9_7f4a_7c15_u64);
    for _ in 0..rounds {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    black_box(x);
}

/// How many rounds of [`work`] take `nanos` on this machine: the best of
/// several timings, so a preempted one does not count.
fn rounds_for(nanos: u64) -> u64 {
    const SAMPLE: u64 = 2_000_000;
    let best = (0..5)
        .map(|_| {
            let start = Instant::now();
            work(SAMPLE);
            start.elapsed()
        })
        .min()
        .expect("five timings");
    (nanos as f64 * SAMPLE as f64 / best.as_nanos() as f64).round() as u64
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let address = args.next().expect(USAGE);
    let body = Bytes::from(std::fs::read(args.next().expect(USAGE))?);
    let work_ns: u64 = args.next().map_or(0, |n| n.parse().expect(USAGE));
    let rounds = if work_ns == 0 { 0 } else { rounds_for(work_ns) };
    let listener = TcpListener::bind(&address).await?;
    eprintln!(
        "ceiling: serving {} bytes on {address}, {work_ns} ns of work ({rounds} rounds) per request",
        body.len()
    );
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        tokio::spawn(async move {
            let service = service_fn(move |_request: Request<Incoming>| {
                work(rounds);
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
