//! Times list queries inside one process, without HTTP: the catalog is
//! built from a database, then each query's page is computed over and
//! over on one thread. For A/B comparisons of query plans, where a
//! server's figures move by ±30 % with the machine's load; the
//! benchmark of record stays `bench/run.py`.
//!
//! `cargo run --release --example query-cpu -- sqlite:///path/roster.db RESELLER 'name=*cons*' …`

use std::time::{Duration, Instant};

use roster::catalog::{Catalog, Items};
use roster::domain::ListQuery;
use roster::http::reseller_customers::page_body;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(database), Some(reseller)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: query-cpu DATABASE_URL RESELLER_ID QUERY…");
    };
    let store = roster::store::open(&database).await?;
    let catalog = Catalog::load(store).await?;
    for raw in args {
        let query = ListQuery::parse(&raw).map_err(|problems| anyhow::anyhow!("{raw}: {problems:?}"))?;
        let body = page_body(&catalog, &reseller, &query, Items::Records);
        // Rounds of at least 200 ms; the best round is the figure, as
        // the machine's other work only ever adds time.
        let mut best = Duration::MAX;
        let mut per_round = 1;
        let mut rounds = 0;
        while rounds < 7 {
            let started = Instant::now();
            for _ in 0..per_round {
                std::hint::black_box(page_body(&catalog, &reseller, &query, Items::Records));
            }
            let took = started.elapsed();
            if took < Duration::from_millis(200) {
                per_round *= 2;
                continue;
            }
            best = best.min(took / per_round);
            rounds += 1;
        }
        println!("{:>9.1} µs  {raw}  ({} bytes)", best.as_secs_f64() * 1e6, body.len());
    }
    Ok(())
}
