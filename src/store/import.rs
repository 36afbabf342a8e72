//! Importing is streaming: a reader (a file, the demo's generator, a test)
//! sends validated records on a blocking thread while the store writes what
//! it has so far in one transaction, which commits only when the reader
//! finished without error. This is the one hand-off between the two.

use tokio::sync::mpsc;

use super::{ImportOutcome, Store};
use crate::domain::CustomerRecord;

/// One step of an import stream.
#[derive(Debug)]
pub enum ImportItem {
    /// Records travel in batches: one channel hand-off (and one wake-up of
    /// the writer) per record cost a sixth of an import's time.
    Records(Vec<CustomerRecord>),
    /// The reader found a bad record: roll back.
    Abort,
    /// Every record was read and valid: commit.
    End,
}

/// Sends records to a store's import in batches, from a blocking thread.
pub struct RecordSender {
    sender: mpsc::Sender<ImportItem>,
    batch: Vec<CustomerRecord>,
    /// The writer went away (it failed): nothing more can be sent.
    stopped: bool,
}

/// The import's writer stopped (it failed, and says why).
#[derive(Debug)]
pub struct WriterStopped;

/// Where a reader of records puts them: an import's [`RecordSender`], or a
/// plain `Vec` (to see what a reader would import).
pub trait RecordSink {
    fn send(&mut self, record: CustomerRecord) -> Result<(), WriterStopped>;
}

impl RecordSink for Vec<CustomerRecord> {
    fn send(&mut self, record: CustomerRecord) -> Result<(), WriterStopped> {
        self.push(record);
        Ok(())
    }
}

impl RecordSink for RecordSender {
    fn send(&mut self, record: CustomerRecord) -> Result<(), WriterStopped> {
        RecordSender::send(self, record)
    }
}

impl RecordSender {
    const BATCH: usize = 512;

    fn new(sender: mpsc::Sender<ImportItem>) -> Self {
        RecordSender {
            sender,
            batch: Vec::with_capacity(Self::BATCH),
            stopped: false,
        }
    }

    pub fn send(&mut self, record: CustomerRecord) -> Result<(), WriterStopped> {
        if self.stopped {
            return Err(WriterStopped);
        }
        self.batch.push(record);
        if self.batch.len() == Self::BATCH {
            let full = std::mem::replace(&mut self.batch, Vec::with_capacity(Self::BATCH));
            if self.sender.blocking_send(ImportItem::Records(full)).is_err() {
                self.stopped = true;
                return Err(WriterStopped);
            }
        }
        Ok(())
    }

    /// Sends what is left and [`ImportItem::End`] (commit) or, when the
    /// reading failed, [`ImportItem::Abort`].
    fn finish(mut self, succeeded: bool) {
        if succeeded {
            let rest = std::mem::take(&mut self.batch);
            if self.sender.blocking_send(ImportItem::Records(rest)).is_ok() {
                let _ = self.sender.blocking_send(ImportItem::End);
            }
        } else {
            let _ = self.sender.blocking_send(ImportItem::Abort);
        }
    }
}

/// Records read ahead of an import's writer, in batches.
const READ_AHEAD: usize = 16;

/// Why [`import_with`] wrote nothing.
#[derive(Debug)]
pub enum ImportError<E> {
    /// The producer of the records failed (a bad record, an unreadable file).
    Records(E),
    /// The database refused the import.
    Store(anyhow::Error),
}

/// Imports the records `produce` sends, all or nothing: `produce` runs on a
/// blocking thread while the store writes what it has sent so far in one
/// transaction, which commits only if `produce` returns `Ok`. So reading a
/// large file and writing it cost about the slower of the two, not their
/// sum. `produce` should stop when [`RecordSender::send`] fails: the writer
/// has failed and says why.
pub async fn import_with<E: Send + 'static>(
    store: &dyn Store,
    produce: impl FnOnce(&mut RecordSender) -> Result<(), E> + Send + 'static,
) -> Result<ImportOutcome, ImportError<E>> {
    let (sender, receiver) = mpsc::channel(READ_AHEAD);
    let producer = tokio::task::spawn_blocking(move || {
        let mut records = RecordSender::new(sender);
        let produced = produce(&mut records);
        let writer_stopped = records.stopped;
        records.finish(produced.is_ok());
        (produced, writer_stopped)
    });
    let written = store.import(receiver).await;
    let (produced, writer_stopped) = producer
        .await
        .map_err(|e| ImportError::Store(anyhow::Error::new(e).context("the record producer failed")))?;
    match produced {
        Err(_) if writer_stopped => Err(ImportError::Store(
            written
                .err()
                .unwrap_or_else(|| anyhow::anyhow!("the import's writer stopped")),
        )),
        Err(error) => Err(ImportError::Records(error)),
        Ok(()) => written.map_err(ImportError::Store),
    }
}
