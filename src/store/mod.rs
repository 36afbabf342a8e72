//! Storage: the one [`Store`] trait the rest of Roster talks to, and one
//! module per backend (embedded SQLite, PostgreSQL), each with its migrations.
//!
//! The database is the system of record. List queries are answered by the
//! in-memory catalog (`crate::catalog`), which the store feeds with
//! [`Store::load_catalog`] and serves pages from with [`Store::fetch_page`];
//! the data `generation`, bumped by every import, keeps the two consistent.

pub mod postgres;
pub mod sqlite;

use std::sync::Arc;

use anyhow::{Result, bail};
use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::catalog::IndexBuilder;
use crate::domain::{ClientRecord, CustomerRecord};

/// Everything Roster keeps, whatever the database.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`, for logs.
    fn backend(&self) -> &'static str;

    /// The current data generation (bumped by each committed import).
    async fn generation(&self) -> Result<i64>;

    /// Feeds every customer's index fields to `builder`, from one consistent
    /// snapshot, and returns it with that snapshot's generation.
    async fn load_catalog(&self, builder: IndexBuilder) -> Result<(i64, IndexBuilder)>;

    /// Appends the stored documents of `rows` (in that order, comma
    /// separated) to `body`, from a snapshot at `generation`. `None` when the
    /// data has moved on to another generation: the caller's index is stale.
    async fn fetch_page(&self, generation: i64, rows: Vec<i64>, body: Vec<u8>) -> Result<Option<Vec<u8>>>;

    /// Whether some client's scope names this reseller explicitly (SPEC §3,
    /// 1115: a reseller is known if it has customers or a scope names it).
    async fn reseller_in_any_scope(&self, reseller_id: &str) -> Result<bool>;

    /// Upserts every record the channel carries in one transaction, which
    /// commits only on [`ImportItem::End`]; anything else (an
    /// [`ImportItem::Abort`], or the sender going away) rolls it back.
    async fn import(&self, records: mpsc::Receiver<ImportItem>) -> Result<ImportOutcome>;

    async fn insert_client(&self, client: &ClientRecord) -> Result<()>;
    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>>;
    /// Every client, in the order they were created.
    async fn clients(&self) -> Result<Vec<ClientRecord>>;
    /// Disables a client and revokes its tokens; `false` if there is no such client.
    async fn disable_client(&self, client_id: &str) -> Result<bool>;
    /// Replaces a client's secret hash and revokes its tokens; `false` if
    /// there is no such client.
    async fn replace_secret(&self, client_id: &str, secret_hash: &str) -> Result<bool>;

    /// The key that signs access tokens, shared by every instance on this
    /// database; created by the first migration run.
    async fn token_key(&self) -> Result<Vec<u8>>;
}

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

/// What a committed import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportOutcome {
    pub records: u64,
    /// Customers that did not exist before.
    pub created: u64,
    /// Records that replaced an existing customer (or an earlier record of
    /// the same file).
    pub updated: u64,
}

impl ImportOutcome {
    pub fn from_counts(records: u64, rows_before: u64, rows_after: u64) -> Self {
        let created = rows_after.saturating_sub(rows_before);
        Self {
            records,
            created,
            updated: records - created,
        }
    }
}

/// A new random key for signing access tokens: created once per database,
/// by its first migration run, and read by every instance (`token_key`).
fn new_token_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    rand::fill(&mut key);
    key
}

/// Where the data lives, from `--database`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                bail!("--database: sqlite:// needs a file path, e.g. sqlite://roster.db");
            }
            return Ok(DatabaseUrl::Sqlite(path.into()));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_owned()));
        }
        bail!("--database must be sqlite://PATH or postgres://…")
    }
}

/// Opens the database `url` names and brings its schema up to date.
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    match DatabaseUrl::parse(url)? {
        DatabaseUrl::Sqlite(path) => Ok(Arc::new(sqlite::SqliteStore::open(path).await?)),
        DatabaseUrl::Postgres(url) => Ok(Arc::new(postgres::PostgresStore::open(&url).await?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://roster.db").unwrap(),
            DatabaseUrl::Sqlite("roster.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/roster.db").unwrap(),
            DatabaseUrl::Sqlite("/var/lib/roster.db".into())
        );
        assert!(DatabaseUrl::parse("postgres://u@localhost/db").is_ok());
        assert!(DatabaseUrl::parse("roster.db").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }

    #[test]
    fn import_counts() {
        assert_eq!(
            ImportOutcome::from_counts(5, 10, 13),
            ImportOutcome {
                records: 5,
                created: 3,
                updated: 2
            }
        );
    }
}
