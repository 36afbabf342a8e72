//! Storage: the one [`Store`] trait the rest of Roster talks to, in the
//! domain's terms (customers, clients, generations, changes), and one module
//! per backend (embedded SQLite, PostgreSQL), each with its migrations.
//!
//! The database is the system of record. Every committed write bumps the
//! data **generation** and, in the same transaction, records in the
//! **change log** which customers it changed. A server builds its catalog
//! once from a [`Store::scan`] and then follows the log with
//! [`Store::changes_since`]: it never needs to read the whole data again
//! while it runs (SPEC §8).
//!
//! Depends on `domain` only.

mod import;
mod migrations;
pub mod postgres;
pub mod sqlite;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};
use async_trait::async_trait;
use tokio::sync::mpsc;

pub use import::{ImportError, ImportItem, RecordSender, RecordSink, WriterStopped, import_with};

use crate::domain::{ClientRecord, CustomerRecord};

/// The data generation: 0 for an empty database, bumped by one by every
/// committed write. Generations are committed in order, so a server that
/// has applied generation `g` has seen exactly the writes up to `g`.
pub type Generation = i64;

/// How long the change log keeps a write's entries. A server that falls
/// further behind (or was stopped longer) builds its catalog afresh.
pub const CHANGE_LOG_RETENTION: Duration = Duration::from_secs(600);

/// A write that changes more customers than this is logged as one entry
/// saying "too many to follow one by one": every server then builds its
/// catalog afresh, which for so many records costs about the same.
pub const CHANGE_LOG_MAX_CUSTOMERS: u64 = 100_000;

/// Everything Roster keeps, whatever the database.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`, for logs.
    fn backend(&self) -> &'static str;

    /// Where a server may keep files of its own next to the data (the
    /// catalog's document copy), if the database lives on this machine.
    fn local_directory(&self) -> Option<PathBuf>;

    /// The last committed generation.
    async fn generation(&self) -> Result<Generation>;

    /// Every customer, streamed in batches from one consistent snapshot,
    /// with that snapshot's generation.
    async fn scan(&self) -> Result<CustomerScan>;

    /// What changed after `generation`, read from one consistent snapshot:
    /// the current record of every customer a later write changed. When the
    /// log no longer reaches back that far, or holds more than
    /// `max_customers` changed customers, [`Changes::Rebuild`].
    async fn changes_since(&self, generation: Generation, max_customers: u64) -> Result<Changes>;

    /// Upserts every record the channel carries in one transaction, which
    /// commits only on [`ImportItem::End`]; anything else (an
    /// [`ImportItem::Abort`], or the sender going away) rolls it back.
    /// Use [`import_with`] rather than the channel itself.
    async fn import(&self, records: mpsc::Receiver<ImportItem>) -> Result<ImportOutcome>;

    /// Whether some client's scope names this reseller explicitly (SPEC §3,
    /// 1115: a reseller is known if it has customers or a scope names it).
    async fn reseller_in_any_scope(&self, reseller_id: &str) -> Result<bool>;

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

/// Every customer of one snapshot, as [`Store::scan`] streams it. The
/// batches end with the snapshot, or with an `Err` if reading failed.
pub struct CustomerScan {
    pub generation: Generation,
    pub customers: mpsc::Receiver<Result<Vec<CustomerRecord>>>,
}

/// Customers per batch of a [`CustomerScan`].
pub const SCAN_BATCH: usize = 1024;

/// What [`Store::changes_since`] found.
#[derive(Debug)]
pub enum Changes {
    /// The writes after the asked generation, up to `generation`, changed
    /// these customers (as they are now) and removed these customer ids.
    Since {
        generation: Generation,
        changed: Vec<CustomerRecord>,
        removed: Vec<String>,
    },
    /// Following the log one customer at a time is not possible (trimmed)
    /// or not worth it (too many): build from a fresh scan.
    Rebuild,
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
    /// The generation the import committed.
    pub generation: Generation,
}

/// A new random key for signing access tokens: created once per database,
/// by its first migration run, and read by every instance (`token_key`).
fn new_token_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    rand::fill(&mut key);
    key
}

/// Unix seconds now, as the change log records commit times.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
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
}
