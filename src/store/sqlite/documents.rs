//! The server's read path for documents on SQLite: a private copy of every
//! stored document, written once per catalog load and mapped into memory,
//! and the marker file that tells the server when that copy may be stale.
//!
//! Why: a page read from SQLite costs one read transaction (a WAL read
//! lock, a file check and, under load, a futex on SQLite's per-process
//! shared-memory mutex) plus twenty B-tree lookups. That was about 45 µs of
//! the 95 µs a page cost the server (docs/PERFORMANCE.md). Copying twenty
//! documents out of a mapped file costs about a microsecond.
//!
//! Exactness is kept by two checks, both cheap:
//! - The copy is tagged with the generation of the snapshot it was written
//!   from, and serves only a catalog built from that same snapshot.
//! - Every import, once committed, writes its new generation to the
//!   *marker* (`<database>-generation`, 8 bytes). The server reads the
//!   marker before loading and on every request (one load from a mapped
//!   page); if it holds anything else, an import may have committed since,
//!   and the request takes the transactional path, which finds out. Generations only grow
//!   and each is written by the one import that committed it, so once the
//!   marker has moved on it never reads the old value again.
//!
//!   An import killed between its commit and its marker write is caught
//!   anyway: the copy is re-verified against the database (one short read
//!   transaction) at least every [`VERIFY_EVERY`].

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use memmap2::Mmap;

/// How long the copy is trusted on the marker's word alone.
pub const VERIFY_EVERY: Duration = Duration::from_secs(1);

/// `<database>-generation`: the last committed import's generation.
///
/// Servers read it on every page, so they map it instead of reading it
/// with a system call (which cost ~1.5 µs, 3 % of a page, and a chance for
/// the scheduler to switch threads). Imports write it with `pwrite`, into
/// the same page-cache page the map shows.
pub struct Marker {
    file: File,
    map: Mmap,
}

impl Marker {
    pub fn path(database: &Path) -> PathBuf {
        let mut path = database.as_os_str().to_owned();
        path.push("-generation");
        path.into()
    }

    pub fn open(database: &Path) -> Result<Self> {
        let path = Self::path(database);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        // Only ever grown: a concurrent import's value survives (set_len to
        // the length it already has changes nothing).
        if file.metadata()?.len() < 8 {
            file.set_len(8)?;
        }
        // SAFETY: Roster never shrinks the file (above) and only writes its
        // first 8 bytes, so the mapped bytes stay valid for the map's life.
        #[allow(unsafe_code)]
        let map = unsafe { Mmap::map(&file) }.with_context(|| format!("mapping {}", path.display()))?;
        anyhow::ensure!(map.len() >= 8, "{} is shorter than 8 bytes", path.display());
        Ok(Marker { file, map })
    }

    /// The generation last written; 0 before any import wrote one.
    ///
    /// A read racing an import's write may see a mix of old and new bytes:
    /// that differs from what the server knew, so it only sends the request
    /// down the transactional path, which is always right.
    pub fn read(&self) -> i64 {
        // SAFETY: the map is page-aligned (so aligned for an AtomicI64) and
        // at least 8 bytes long (checked in `open`), and lives as long as
        // `self`. Other processes change it only through the kernel.
        #[allow(unsafe_code)]
        let cell = unsafe { &*self.map.as_ptr().cast::<AtomicI64>() };
        i64::from_le(cell.load(Ordering::Acquire))
    }

    /// Called after an import commits `generation`.
    pub fn write(&self, generation: i64) -> Result<()> {
        self.file.write_all_at(&generation.to_le_bytes(), 0)?;
        Ok(())
    }
}

/// Every document of one snapshot, in a file only this process can see.
pub struct Documents {
    generation: i64,
    map: Mmap,
    /// Row `r`'s document is `map[offsets[r]..offsets[r + 1]]`; rows that
    /// do not exist have an empty range.
    offsets: Vec<u64>,
    /// The marker's value when the copy was last known to be current.
    marker: AtomicI64,
    /// When that was, in milliseconds since `epoch`.
    verified_ms: AtomicU64,
    epoch: Instant,
}

impl Documents {
    pub fn generation(&self) -> i64 {
        self.generation
    }

    /// Whether the copy may serve a request that read `marker`.
    pub fn current(&self, marker: i64) -> bool {
        marker == self.marker.load(Ordering::Acquire)
            && self.epoch.elapsed().as_millis() as u64
                <= self.verified_ms.load(Ordering::Relaxed) + VERIFY_EVERY.as_millis() as u64
    }

    /// Records that the database was at this copy's generation in a
    /// snapshot begun after the marker read `marker`.
    pub fn verified(&self, marker: i64) {
        self.verified_ms
            .store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
        self.marker.store(marker, Ordering::Release);
    }

    /// Appends the documents of `rows`, comma separated; `false` (with
    /// `body` partly written) if a row is not in the copy.
    pub fn append_page(&self, rows: &[i64], body: &mut Vec<u8>) -> bool {
        for (i, &row) in rows.iter().enumerate() {
            let Some(doc) = self.get(row) else {
                return false;
            };
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(doc);
        }
        true
    }

    fn get(&self, row: i64) -> Option<&[u8]> {
        let row = usize::try_from(row).ok()?;
        let (&start, &end) = (self.offsets.get(row)?, self.offsets.get(row + 1)?);
        (end > start).then(|| &self.map[start as usize..end as usize])
    }
}

/// Writes the copy while the catalog loads, fed rows in ascending id order.
pub struct DocumentsWriter {
    file: BufWriter<File>,
    offsets: Vec<u64>,
    written: u64,
    marker: i64,
    started: Instant,
}

impl DocumentsWriter {
    /// A new, already unlinked file in `dir` (the database's directory: the
    /// copy is as large as the documents, so it belongs on the database's
    /// disk rather than in a `/tmp` that may be memory). `marker` is the
    /// marker's value read before the snapshot began.
    pub fn create(dir: &Path, marker: i64) -> Result<Self> {
        let file =
            tempfile::tempfile_in(dir).with_context(|| format!("creating the document file in {}", dir.display()))?;
        Ok(DocumentsWriter {
            // Written 4 KiB at a time on purpose: the page cache keeps a
            // buffered write in folios as large as the write, and touching
            // one page of a large folio through the map maps all of it.
            // With 1 MiB writes each document served added ~290 KiB to the
            // server's resident set; now at most the kernel's 64 KiB
            // fault-around window.
            file: BufWriter::with_capacity(4096, file),
            offsets: Vec::new(),
            written: 0,
            marker,
            started: Instant::now(),
        })
    }

    /// Adds row `row`'s document. Rows must come in ascending order; row
    /// ids far beyond the row count (which SQLite never hands out on its
    /// own) make the copy decline, with an error, rather than grow sparse.
    pub fn push(&mut self, row: i64, doc: &[u8]) -> Result<()> {
        let row = usize::try_from(row).context("negative row id")?;
        anyhow::ensure!(row >= self.offsets.len(), "document rows out of order at {row}");
        anyhow::ensure!(
            row <= 2 * self.offsets.len() + (1 << 20),
            "row ids too sparse for the document file (row {row})"
        );
        self.offsets.resize(row + 1, self.written);
        self.file.write_all(doc)?;
        self.written += doc.len() as u64;
        Ok(())
    }

    pub fn finish(mut self, generation: i64) -> Result<Documents> {
        self.offsets.push(self.written);
        let file = self.file.into_inner().map_err(|e| e.into_error())?;
        // SAFETY: the file was created unlinked by this process and is never
        // written again, so nothing can change or truncate it under the map.
        #[allow(unsafe_code)]
        let map = unsafe { Mmap::map(&file) }.context("mapping the document file")?;
        // Verified when written: the snapshot began after the marker read.
        Ok(Documents {
            generation,
            map,
            offsets: self.offsets,
            marker: AtomicI64::new(self.marker),
            verified_ms: AtomicU64::new(0),
            epoch: self.started,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn documents(rows: &[(i64, &str)]) -> Documents {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = DocumentsWriter::create(dir.path(), 7).unwrap();
        for (row, doc) in rows {
            writer.push(*row, doc.as_bytes()).unwrap();
        }
        writer.finish(3).unwrap()
    }

    #[test]
    fn pages_are_the_documents_comma_separated_in_the_order_asked() {
        let docs = documents(&[(1, r#"{"a":1}"#), (2, r#"{"b":2}"#), (5, r#"{"c":3}"#)]);
        let mut body = b"[".to_vec();
        assert!(docs.append_page(&[5, 1, 2], &mut body));
        assert_eq!(body, br#"[{"c":3},{"a":1},{"b":2}"#);
        assert_eq!(docs.generation(), 3);
    }

    #[test]
    fn a_row_missing_from_the_copy_declines_the_page() {
        let docs = documents(&[(1, "{}"), (5, "{}")]);
        for missing in [0, 3, 4, 6, 1000, -1] {
            assert!(!docs.append_page(&[1, missing], &mut Vec::new()), "row {missing}");
        }
    }

    #[test]
    fn rows_must_ascend_and_stay_dense() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = DocumentsWriter::create(dir.path(), 0).unwrap();
        writer.push(4, b"{}").unwrap();
        assert!(writer.push(4, b"{}").is_err());
        assert!(writer.push(1 << 40, b"{}").is_err());
    }

    #[test]
    fn the_copy_is_current_only_while_the_marker_holds_still() {
        // Written from a snapshot begun after the marker read 7.
        let docs = documents(&[(1, "{}")]);
        assert!(docs.current(7));
        assert!(!docs.current(8), "an import committed since");
        docs.verified(8);
        assert!(docs.current(8));
        assert!(!docs.current(7));
        // However still the marker, the copy is re-verified at least every
        // VERIFY_EVERY.
        docs.verified_ms.store(0, Ordering::Relaxed);
        let docs = Documents {
            epoch: Instant::now() - VERIFY_EVERY - Duration::from_millis(5),
            ..docs
        };
        assert!(!docs.current(8));
    }

    #[test]
    fn the_marker_reads_zero_until_an_import_writes_it() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("roster.db");
        let marker = Marker::open(&database).unwrap();
        assert_eq!(marker.read(), 0);
        Marker::open(&database).unwrap().write(12).unwrap();
        assert_eq!(marker.read(), 12);
        // Opening it again (another server starting) keeps the value.
        assert_eq!(Marker::open(&database).unwrap().read(), 12);
        assert_eq!(Marker::path(&database), dir.path().join("roster.db-generation"));
    }
}
