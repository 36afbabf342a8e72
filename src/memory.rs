//! How Roster allocates: jemalloc for Rust's own allocations, with freed
//! memory handed back within about a second; glibc's malloc, still used by
//! SQLite's C code, kept to few arenas and trimmed after large frees.
//! Measured at 1M customers, SQLite (docs/PERFORMANCE.md, "Memory").

/// jemalloc rather than glibc's malloc, for every Rust allocation.
///
/// A request allocates on one worker thread and often frees on the other
/// (hyper's buffers, the task itself, after work stealing). glibc then
/// takes the other arena's lock, and under load the two workers waited
/// on each other: about 0.2 futex calls per request, most of them from
/// `malloc`/`free` (and, likely, part of why two starts of the same binary
/// measured far apart). jemalloc took less CPU per request and more
/// writes per second (docs/PERFORMANCE.md, "Memory").
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read once at its start: one background thread
/// returns freed pages after a second (`dirty_decay_ms`) instead of ten,
/// and at once rather than through a second, "muzzy" stage: without it
/// the server kept more than glibc did, with it less, at the same CPU per
/// request (docs/PERFORMANCE.md, "Figures the code refers to", "Memory").
#[cfg(not(target_env = "msvc"))]
#[expect(
    unsafe_code,
    reason = "jemalloc reads its options from this exported C string (the documented way to set them)"
)]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static JEMALLOC_OPTIONS: &[u8; 85] =
    b"background_thread:true,max_background_threads:1,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

/// Caps glibc malloc's arenas at two, once, before any thread starts.
///
/// glibc gives threads arenas of their own, up to eight per core, and
/// each keeps its free memory, which the cap gave back when every
/// allocation went through glibc (docs/PERFORMANCE.md, "Memory"). Only
/// SQLite's C code allocates there now (its page caches and statements,
/// on the threads that run queries), for which the cap still holds.
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
/// at the end. jemalloc returns what Rust freed by itself within a second
/// ([`JEMALLOC_OPTIONS`]); glibc keeps what SQLite freed in its arenas, and
/// `malloc_trim` returns their free pages (docs/PERFORMANCE.md, "Figures the code refers to", "Memory").
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

#[cfg(all(test, target_os = "linux", not(target_env = "msvc")))]
mod tests {
    /// The options reach jemalloc: only they start its background thread.
    #[test]
    fn jemalloc_reads_roster_s_options() {
        drop(std::hint::black_box(vec![0u8; 1 << 20]));
        let names: Vec<String> = std::fs::read_dir("/proc/self/task")
            .expect("a Linux /proc")
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
            .map(|name| name.trim().to_owned())
            .collect();
        assert_eq!(
            names.iter().filter(|name| *name == "jemalloc_bg_thd").count(),
            1,
            "threads: {names:?}"
        );
    }
}
