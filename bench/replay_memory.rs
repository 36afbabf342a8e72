//! Measures the memory the request-id replay window costs per remembered id
//! (issue #3): fills a window with unique ids and reads the process's
//! resident set before and after.
//!
//! `cargo run --release --example replay-memory -- 1000000`

use std::time::Duration;

use roster::limits::ReplayWindow;

fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line")
}

fn main() {
    let ids: usize = std::env::args()
        .nth(1)
        .map_or(1_000_000, |n| n.parse().expect("a count"));
    let client = "3f9c2a7be41d4c0f9e8a1b2c3d4e5f60";
    let window = ReplayWindow::local(Duration::from_secs(86_400), ids);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let first_use = |request_id: &str| {
        runtime
            .block_on(window.first_use(client, request_id))
            .expect("in memory")
    };
    let before = resident_kib();
    for i in 0..ids {
        let request_id = format!("{:08x}-{:04x}-4000-8000-{:012x}", i, i % 65_536, i);
        assert!(first_use(&request_id));
    }
    let after = resident_kib();
    // A second pass past capacity: memory must not grow any further.
    for i in ids..ids * 2 {
        first_use(&format!("overflow-{i}"));
    }
    let flooded = resident_kib();
    let per_id = (after - before) as f64 * 1024.0 / ids as f64;
    println!(
        "{ids} ids remembered: {:.1} MiB, {per_id:.1} bytes per id; after {ids} more (evicting): {:.1} MiB",
        (after - before) as f64 / 1024.0,
        (flooded - before) as f64 / 1024.0,
    );
}
