//! Checkpoints of the write-ahead log, run beside the writes rather than
//! inside them.
//!
//! SQLite's automatic checkpoint runs in the connection that commits, after
//! the commit and before the call returns, so one write in thirty paid for
//! copying a thousand pages into the database file and syncing it, and
//! the tail of the write latency was several times its median
//! (docs/PERFORMANCE.md, "SQLite: checkpoints out of the commit"). The
//! pool's connections therefore never
//! checkpoint; a thread of its own does, with its own connection, while
//! the next group commits.
//!
//! A passive checkpoint never blocks a writer, but a log that writers keep
//! appending to without a pause is never fully copied, so SQLite never
//! starts it over and it grows without bound. Once it is past
//! [`RESTART_FRAMES`], the thread closes the [`Gate`] (the next transaction
//! of this process waits), copies the frames written since its last pass,
//! and opens it: the next commit then writes the log from its start. Under
//! the API's group commits the log usually starts over by itself, between
//! groups, and the gate stays open.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::Connection;

/// Frames (pages) in the log past which writers pause for it to start over:
/// 16 MiB of 4 KiB pages, a second or two of 64 busy writers.
const RESTART_FRAMES: i64 = 4096;

/// How often the thread looks at the log without being told of a commit: it
/// catches commits it was not told of (clients, tokens, other processes).
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// Held by every write transaction of this process; the checkpointer
/// closes it briefly to let the log start over.
#[derive(Clone, Default)]
pub(super) struct Gate(Arc<Mutex<()>>);

impl Gate {
    pub(super) fn enter(&self) -> MutexGuard<'_, ()> {
        // A panic while holding it leaves nothing half-done in memory.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Wakes the checkpointing thread; the thread ends when this drops.
pub(super) struct Checkpointer {
    commits: SyncSender<()>,
    gate: Gate,
}

impl Checkpointer {
    /// Starts the thread on the database at `path`.
    pub(super) fn start(path: PathBuf, connect: fn(&std::path::Path) -> Result<Connection>) -> Result<Self> {
        let (commits, told) = sync_channel(1);
        let gate = Gate::default();
        let held = gate.clone();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(|| connect(&path), &told, &held))
            .context("starting the checkpoint thread")?;
        Ok(Checkpointer { commits, gate })
    }

    /// The gate every write transaction of this process enters.
    pub(super) fn gate(&self) -> Gate {
        self.gate.clone()
    }

    /// Tells the thread a transaction committed. Never waits: a wake-up
    /// already pending covers this one too.
    pub(super) fn committed(&self) {
        let _ = self.commits.try_send(());
    }
}

fn run(connect: impl Fn() -> Result<Connection>, told: &Receiver<()>, gate: &Gate) {
    let mut conn = None;
    loop {
        match told.recv_timeout(IDLE_CHECK) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        if conn.is_none() {
            conn = connect()
                .inspect_err(|error| tracing::warn!(error = format!("{error:#}"), "no connection to checkpoint with"))
                .ok();
        }
        let Some(conn) = &conn else { continue };
        // Another process checkpointing, or an I/O error: the log keeps
        // every frame until a later pass copies it.
        if let Err(error) = pass(conn, gate) {
            tracing::debug!(error = format!("{error:#}"), "checkpoint skipped");
        }
    }
}

/// One checkpoint, and if the log is long, a second with writers held off
/// so that the next commit starts it over.
fn pass(conn: &Connection, gate: &Gate) -> Result<()> {
    if checkpoint(conn)? >= RESTART_FRAMES {
        let _closed = gate.enter();
        checkpoint(conn)?;
    }
    Ok(())
}

/// Copies what it can of the log into the database without waiting for
/// anyone; the log's length in frames.
fn checkpoint(conn: &Connection) -> Result<i64> {
    let (busy, frames, _copied): (i64, i64, i64) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?;
    anyhow::ensure!(busy == 0, "another connection holds the checkpoint");
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect(path: &std::path::Path) -> Result<Connection> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 0;")?;
        Ok(conn)
    }

    #[test]
    fn the_log_stays_bounded_under_writes_that_never_pause() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roster.db");
        let writer = connect(&path).unwrap();
        writer
            .execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB)")
            .unwrap();
        let checkpointer = Checkpointer::start(path.clone(), connect).unwrap();
        let gate = checkpointer.gate();

        // 64 pages per commit, back to back, 12 × RESTART_FRAMES pages in all,
        // rewriting the same rows so that the database itself stays small.
        let commits = 12 * RESTART_FRAMES / 64;
        let mut longest = 0;
        for i in 0..commits {
            {
                let _open = gate.enter();
                // A transaction as long as a group commit, so the checkpoints
                // keep up but the log is hardly ever without a writer.
                writer.execute_batch("BEGIN IMMEDIATE").unwrap();
                std::thread::sleep(Duration::from_millis(1));
                writer
                    .execute("INSERT OR REPLACE INTO t VALUES (?1, zeroblob(64 * 4000))", [i % 8])
                    .unwrap();
                writer.execute_batch("COMMIT").unwrap();
            }
            checkpointer.committed();
            let len = std::fs::metadata(dir.path().join("roster.db-wal")).unwrap().len();
            longest = longest.max(len);
        }
        // A log never started over would hold every frame written.
        let bound = 4 * RESTART_FRAMES as u64 * 4096;
        assert!(longest < bound, "the log reached {longest} bytes, more than {bound}");
    }
}
