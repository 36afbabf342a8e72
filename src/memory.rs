//! How Roster asks the allocator (glibc's malloc) to keep its footprint
//! small: few arenas, and freed memory handed back after large frees.
//! Measured at 1M customers, SQLite (docs/PERFORMANCE.md, "Memory").
//!
//! Depends on nothing else in Roster.

/// Caps malloc's arenas at two, once, before any thread starts.
///
/// glibc gives threads arenas of their own, up to eight per core; the
/// blocking threads that apply changes and run writes each fill one and
/// keep its free memory. With two arenas the server's own memory after a
/// 10,000-record import and 60 one-record imports was 233 MiB instead of
/// 256 MiB, at the same CPU per request within noise (S1: 19.5 µs with
/// two arenas, 19.3 µs without). The price is in writes: 64 concurrent
/// PATCH writers ran at 6,660 writes/s against 7,170 (-7 %, four runs
/// each, same p99), which is far above what the writer needs to keep up.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[expect(unsafe_code, reason = "glibc's mallopt takes two integers and only sets a limit")]
pub fn limit_arenas() {
    const M_ARENA_MAX: i32 = -8;
    unsafe extern "C" {
        fn mallopt(param: i32, value: i32) -> i32;
    }
    // MALLOC_ARENA_MAX in the environment still decides, when set.
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        unsafe {
            mallopt(M_ARENA_MAX, 2);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn limit_arenas() {}

/// Memory no longer used, handed back to the system.
///
/// Building the catalog and applying a large batch allocate records, their
/// encodings and the store's answer (a few KB per customer) and free them
/// at the end. glibc keeps freed memory in its arenas; `malloc_trim`
/// returns their free pages. Measured with bench/run.py's freshness
/// benchmark at 1M customers (SQLite): the server's own memory after its
/// writes was 270 MiB without this and 248 MiB with it; right after a
/// build, 228 MiB without and 220 MiB with.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[expect(
    unsafe_code,
    reason = "glibc's malloc_trim takes no pointer and only releases free pages"
)]
pub fn give_back() {
    unsafe extern "C" {
        fn malloc_trim(pad: usize) -> i32;
    }
    unsafe {
        malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn give_back() {}
