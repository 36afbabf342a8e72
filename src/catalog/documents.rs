//! The catalog's copy of every customer's stored bytes: the SPEC §1
//! document a list page or a `GET` serves, its summary (the `2025-11` list
//! item) and its ETag, so that answering a request never touches the
//! database.
//!
//! Why a copy: reading twenty documents from SQLite cost a read transaction
//! (WAL locks, a file check, a futex under load) plus twenty B-tree
//! lookups, about half of a page's CPU; from PostgreSQL, a network round
//! trip. Copying twenty records out of memory costs far less
//! (docs/PERFORMANCE.md, "The price of the document copy").
//!
//! Where it lives: append-only **segments** of 64 MiB. By default each is a
//! file in the database's directory (or the system's temporary directory),
//! unlinked as soon as it is created so nothing else can see or change it,
//! written with `pwrite` and read through a read-only shared map: the
//! records are page cache, which the kernel can reclaim and re-read, not
//! the server's own memory. With [`Backing::Memory`] (or when a file cannot
//! be created or written, e.g. a full disk) segments are anonymous memory
//! instead: the same code, only the pages are the process's own.
//!
//! A record is written once and never changed: a changed customer's new
//! record is appended, and the old one becomes garbage that
//! [`DocumentCopy::compaction_candidate`] finds and the catalog relocates
//! from, so disk use stays within about twice the live records.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use anyhow::{Context, Result};
use memmap2::{Mmap, MmapOptions, MmapRaw};

/// How large a segment is (a record larger than this gets one of its own).
const SEGMENT_BYTES: u64 = 64 << 20;

/// Files are written this much at a time: the page cache keeps a buffered
/// write in folios as large as the write, and touching one page of a large
/// folio through the map maps all of it: with large writes each document
/// served grew the server's resident set by much more than the kernel's
/// fault-around window (docs/PERFORMANCE.md, "Memory").
const WRITE_CHUNK: usize = 4096;

/// Bytes of a record before its document: the ETag tag and the document's length.
const HEADER: usize = 8 + 4;

/// Where segments live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backing {
    /// Unlinked files in this directory, mapped (the default).
    Files(PathBuf),
    /// Anonymous memory: for tests, bisecting, or a machine without a
    /// writable disk. Costs the records' size in resident memory.
    Memory,
}

/// Where one customer's record is: segment, offset, length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocRef {
    segment: u32,
    offset: u32,
    len: u32,
}

impl DocRef {
    pub fn segment(self) -> u32 {
        self.segment
    }
}

/// One customer's stored bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// A hash of the document, for its strong ETag.
    pub tag: u64,
    /// The SPEC §1 document, exactly as served.
    pub document: &'a [u8],
    /// The `2025-11` list item (SPEC §7).
    pub summary: &'a [u8],
}

impl Record<'_> {
    /// Encodes a record for [`DocumentCopy::append`].
    pub fn encode(tag: u64, document: &[u8], summary: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(HEADER + document.len() + summary.len());
        bytes.extend_from_slice(&tag.to_le_bytes());
        bytes.extend_from_slice(&(document.len() as u32).to_le_bytes());
        bytes.extend_from_slice(document);
        bytes.extend_from_slice(summary);
        bytes
    }

    fn decode(bytes: &[u8]) -> Record<'_> {
        let tag = u64::from_le_bytes(bytes[..8].try_into().expect("eight bytes"));
        let document_len = u32::from_le_bytes(bytes[8..HEADER].try_into().expect("four bytes")) as usize;
        let (document, summary) = bytes[HEADER..].split_at(document_len);
        Record { tag, document, summary }
    }
}

/// Every record of the catalog, in segments.
pub struct DocumentCopy {
    segments: RwLock<Vec<Option<Arc<Segment>>>>,
    writer: Mutex<Writer>,
}

struct Segment {
    backing: SegmentMap,
}

enum SegmentMap {
    File { file: File, map: Mmap },
    Memory(MmapRaw),
}

struct Writer {
    /// Where new segments go while files work.
    directory: Option<PathBuf>,
    /// The segment being appended to, and how far it is written.
    active: Option<(u32, u64)>,
    /// Each segment's capacity, bytes written, and bytes of those still
    /// referenced (by segment id).
    capacity: Vec<u64>,
    written: Vec<u64>,
    live: Vec<u64>,
    /// Segments whose compaction left live records behind: never retired.
    kept: Vec<u32>,
}

impl DocumentCopy {
    pub fn new(backing: Backing) -> Self {
        DocumentCopy {
            segments: RwLock::new(Vec::new()),
            writer: Mutex::new(Writer {
                directory: match backing {
                    Backing::Files(directory) => Some(directory),
                    Backing::Memory => None,
                },
                active: None,
                capacity: Vec::new(),
                written: Vec::new(),
                live: Vec::new(),
                kept: Vec::new(),
            }),
        }
    }

    /// Reads records; holds off the retirement of segments (not appends)
    /// while it lives, so take one per page, not per server.
    pub fn reader(&self) -> DocumentReader<'_> {
        DocumentReader {
            segments: self.segments.read().expect("segment table lock"),
        }
    }

    /// Appends encoded records (see [`Record::encode`]) and returns where
    /// each went. The bytes are readable when this returns. Never fails: if
    /// files cannot be written, it logs why once and keeps them in memory.
    pub fn append(&self, records: &[Vec<u8>]) -> Vec<DocRef> {
        let mut writer = self.writer.lock().expect("document writer lock");
        match self.append_with(&mut writer, records) {
            Ok(places) => places,
            Err((error, unused)) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "the document copy cannot be written to disk; keeping documents in memory from now on"
                );
                for place in unused {
                    writer.live[place.segment as usize] -= u64::from(place.len);
                }
                writer.directory = None;
                writer.active = None;
                self.append_with(&mut writer, records)
                    .unwrap_or_else(|(error, _)| panic!("appending to anonymous memory failed: {error:#}"))
            }
        }
    }

    /// [`DocumentCopy::append`] with the writer locked; on failure, the
    /// error and the places handed out so far (which the caller releases).
    fn append_with(
        &self,
        writer: &mut Writer,
        records: &[Vec<u8>],
    ) -> Result<Vec<DocRef>, (anyhow::Error, Vec<DocRef>)> {
        let mut places = Vec::with_capacity(records.len());
        // Consecutive records going to one segment are written together.
        let mut pending: Vec<u8> = Vec::new();
        let mut pending_at: Option<(u32, u64)> = None;
        for record in records {
            let len = record.len() as u64;
            let (segment, offset) = match writer.active {
                Some((segment, offset)) if offset + len <= writer.capacity[segment as usize] => (segment, offset),
                _ => {
                    if let Some((segment, at)) = pending_at.take()
                        && let Err(error) = self.write(segment, at, &pending)
                    {
                        return Err((error, places));
                    }
                    pending.clear();
                    match self.create_segment(writer, len.max(SEGMENT_BYTES)) {
                        Ok(segment) => (segment, 0),
                        Err(error) => return Err((error, places)),
                    }
                }
            };
            if pending_at.is_none() {
                pending_at = Some((segment, offset));
            }
            pending.extend_from_slice(record);
            writer.active = Some((segment, offset + len));
            writer.written[segment as usize] = offset + len;
            writer.live[segment as usize] += len;
            places.push(DocRef {
                segment,
                offset: offset as u32,
                len: len as u32,
            });
        }
        if let Some((segment, at)) = pending_at
            && let Err(error) = self.write(segment, at, &pending)
        {
            return Err((error, places));
        }
        Ok(places)
    }

    /// A new segment of at least `bytes`, in a free slot of the table.
    fn create_segment(&self, writer: &mut Writer, bytes: u64) -> Result<u32> {
        let capacity = bytes.next_multiple_of(4096);
        anyhow::ensure!(
            capacity <= u64::from(u32::MAX),
            "a record of {bytes} bytes is too large"
        );
        let backing = match &writer.directory {
            Some(directory) => {
                let file = tempfile::tempfile_in(directory)
                    .with_context(|| format!("creating a document file in {}", directory.display()))?;
                // Sparse: disk is used as records are written.
                file.set_len(capacity)?;
                // SAFETY: the file was created unlinked by this process and
                // only this process writes it, never shrinking it, so the
                // mapped bytes stay valid for the map's life.
                #[expect(unsafe_code, reason = "mapping our own unlinked file; see the module docs")]
                let map = unsafe { MmapOptions::new().len(capacity as usize).map(&file) }
                    .context("mapping a document file")?;
                SegmentMap::File { file, map }
            }
            None => SegmentMap::Memory(
                MmapOptions::new()
                    .len(capacity as usize)
                    .map_anon()
                    .map(MmapRaw::from)
                    .context("reserving memory for documents")?,
            ),
        };
        let segment = Arc::new(Segment { backing });
        let mut segments = self.segments.write().expect("segment table lock");
        let id = match segments.iter().position(Option::is_none) {
            Some(free) => {
                segments[free] = Some(segment);
                free
            }
            None => {
                segments.push(Some(segment));
                segments.len() - 1
            }
        };
        if writer.written.len() <= id {
            writer.capacity.resize(id + 1, 0);
            writer.written.resize(id + 1, 0);
            writer.live.resize(id + 1, 0);
        }
        writer.capacity[id] = capacity;
        writer.written[id] = 0;
        writer.live[id] = 0;
        Ok(id as u32)
    }

    /// Writes `bytes` at `offset` of a segment, which no reader looks at yet.
    fn write(&self, segment: u32, offset: u64, bytes: &[u8]) -> Result<()> {
        let segment = self.segments.read().expect("segment table lock")[segment as usize]
            .clone()
            .expect("a segment being written exists");
        match &segment.backing {
            SegmentMap::File { file, .. } => {
                for (i, chunk) in bytes.chunks(WRITE_CHUNK).enumerate() {
                    file.write_all_at(chunk, offset + (i * WRITE_CHUNK) as u64)
                        .context("writing the document file")?;
                }
            }
            SegmentMap::Memory(map) => {
                assert!(offset as usize + bytes.len() <= map.len());
                // SAFETY: the range is inside the map (checked above) and
                // past every published record, so no reader sees it until
                // the caller hands out the places, after this returns.
                #[expect(unsafe_code, reason = "writing unpublished bytes of our own anonymous map")]
                unsafe {
                    std::ptr::copy_nonoverlapping(bytes.as_ptr(), map.as_mut_ptr().add(offset as usize), bytes.len());
                }
            }
        }
        Ok(())
    }

    /// Records that the catalog no longer refers to `place`.
    pub fn release(&self, place: DocRef) {
        let mut writer = self.writer.lock().expect("document writer lock");
        let live = &mut writer.live[place.segment as usize];
        *live = live.saturating_sub(u64::from(place.len));
    }

    /// A full segment mostly made of garbage, worth relocating its live
    /// records from, once garbage is worth the work (a quarter of a
    /// segment or more).
    pub fn compaction_candidate(&self) -> Option<u32> {
        let writer = self.writer.lock().expect("document writer lock");
        let active = writer.active.map(|(segment, _)| segment);
        (0..writer.written.len())
            .filter(|&s| Some(s as u32) != active && writer.written[s] > 0 && !writer.kept.contains(&(s as u32)))
            .map(|s| (s, writer.written[s] - writer.live[s]))
            .filter(|&(s, garbage)| garbage >= SEGMENT_BYTES / 4 && writer.live[s] * 2 <= writer.written[s])
            .max_by_key(|&(_, garbage)| garbage)
            .map(|(s, _)| s as u32)
    }

    /// Drops a segment nothing refers to any more (after relocation).
    /// `false`, and the segment kept and never offered again, if some
    /// record in it is still live: dropping it would break readers.
    pub fn retire(&self, segment: u32) -> bool {
        let mut writer = self.writer.lock().expect("document writer lock");
        if writer.live[segment as usize] != 0 {
            writer.kept.push(segment);
            return false;
        }
        writer.written[segment as usize] = 0;
        drop(writer);
        // Waits for readers of the table; none of them holds a place in
        // this segment any more.
        self.segments.write().expect("segment table lock")[segment as usize] = None;
        true
    }

    /// Bytes in segments, and bytes of live records.
    pub fn usage(&self) -> (u64, u64) {
        let writer = self.writer.lock().expect("document writer lock");
        (writer.written.iter().sum(), writer.live.iter().sum())
    }
}

/// Read access to the records while it lives.
pub struct DocumentReader<'a> {
    segments: RwLockReadGuard<'a, Vec<Option<Arc<Segment>>>>,
}

impl DocumentReader<'_> {
    /// The record at `place`, which the caller got from the catalog and
    /// still holds (so its segment is not retired).
    pub fn record(&self, place: DocRef) -> Record<'_> {
        let segment = self.segments[place.segment as usize]
            .as_ref()
            .expect("a referenced segment exists");
        let (start, end) = (place.offset as usize, place.offset as usize + place.len as usize);
        let bytes = match &segment.backing {
            SegmentMap::File { map, .. } => &map[start..end],
            SegmentMap::Memory(map) => {
                assert!(end <= map.len());
                // SAFETY: the range is inside the map (checked above), and
                // was written before its place was handed out; nothing
                // writes it again while the segment lives.
                #[expect(unsafe_code, reason = "reading published bytes of our own anonymous map")]
                unsafe {
                    std::slice::from_raw_parts(map.as_ptr().add(start), end - start)
                }
            }
        };
        Record::decode(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both() -> [(DocumentCopy, tempfile::TempDir); 2] {
        let dir = tempfile::tempdir().unwrap();
        let files = DocumentCopy::new(Backing::Files(dir.path().to_owned()));
        [
            (files, dir),
            (DocumentCopy::new(Backing::Memory), tempfile::tempdir().unwrap()),
        ]
    }

    #[test]
    fn records_read_back_as_written() {
        for (copy, _dir) in both() {
            let records = [
                Record::encode(7, br#"{"a":1}"#, br#"{"s":1}"#),
                Record::encode(8, b"{}", b""),
            ];
            let places = copy.append(&records);
            let reader = copy.reader();
            assert_eq!(
                reader.record(places[0]),
                Record {
                    tag: 7,
                    document: br#"{"a":1}"#,
                    summary: br#"{"s":1}"#
                }
            );
            assert_eq!(reader.record(places[1]).document, b"{}");
            assert_eq!(reader.record(places[1]).summary, b"");
        }
    }

    #[test]
    fn a_full_segment_moves_on_to_a_new_one_and_garbage_is_found() {
        for (copy, _dir) in both() {
            // Records of a quarter segment each: four fill one.
            let big = vec![b'x'; (SEGMENT_BYTES / 4) as usize - HEADER];
            let records: Vec<Vec<u8>> = (0..5).map(|i| Record::encode(i, &big, b"")).collect();
            let places = copy.append(&records);
            assert_eq!(places.iter().map(|p| p.segment()).collect::<Vec<_>>(), [0, 0, 0, 0, 1]);
            assert_eq!(copy.compaction_candidate(), None, "nothing released yet");
            for place in &places[..3] {
                copy.release(*place);
            }
            assert_eq!(copy.compaction_candidate(), Some(0));
            assert!(!copy.retire(0), "a live record is still in it");
            assert_eq!(copy.compaction_candidate(), None, "a kept segment is not offered again");
            let copy = DocumentCopy::new(Backing::Memory);
            let places = copy.append(&records);
            for place in &places[..4] {
                copy.release(*place);
            }
            assert!(copy.retire(0));
            assert_eq!(copy.reader().record(places[4]).tag, 4);
            // The freed slot of the table is reused.
            let next = copy.append(&[Record::encode(9, &big, b""), Record::encode(10, &big, b"")]);
            assert_eq!(next.iter().map(|p| p.segment()).collect::<Vec<_>>(), [1, 1]);
        }
    }

    #[test]
    fn a_directory_that_cannot_take_files_falls_back_to_memory() {
        let copy = DocumentCopy::new(Backing::Files("/nonexistent/roster".into()));
        let places = copy.append(&[Record::encode(1, b"{}", b"")]);
        assert_eq!(copy.reader().record(places[0]).tag, 1);
    }
}
