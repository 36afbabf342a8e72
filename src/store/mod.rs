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

mod import;
mod migrations;
pub mod postgres;
pub mod sqlite;
mod write;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

pub use import::{ImportError, ImportItem, RecordSender, RecordSink, WriterStopped, import_with};

use crate::domain::intent::{Answer, Intent};
use crate::domain::{ApiVersion, ClientRecord, CustomerRecord, ResellerScope, Status};

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

    /// The newest generation that writes announce as committed, as it
    /// changes, for a follower to apply a write at once rather than at its
    /// next poll: PostgreSQL's writes `NOTIFY` on commit, heard on a
    /// connection of the listener's own (started by the first call).
    /// `None` where writes are not announced (SQLite: another process's
    /// import is found by the poll; this server's own writes are applied
    /// as they commit).
    fn announced_writes(&self) -> Option<tokio::sync::watch::Receiver<Generation>> {
        None
    }

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
    /// Disables a client and revokes its tokens, or enables it again;
    /// `false` if there is no such client. Enabling revokes nothing and
    /// restores nothing: the tokens revoked when it was disabled stay
    /// refused, and it logs in again for new ones.
    async fn set_client_enabled(&self, client_id: &str, enabled: bool) -> Result<bool>;
    /// Replaces a client's secret hash and revokes its tokens; `false` if
    /// there is no such client.
    async fn replace_secret(&self, client_id: &str, secret_hash: &str) -> Result<bool>;

    /// Changes some settings of a client; `None` if there is no such client.
    async fn update_client(&self, client_id: &str, change: &ClientChange) -> Result<Option<ClientRecord>>;

    /// The key that signs access tokens, shared by every instance on this
    /// database; created by the first migration run.
    async fn token_key(&self) -> Result<Vec<u8>>;

    /// Whether the database answers a trivial query (`/readyz`).
    async fn ping(&self) -> Result<()>;

    /// The answer remembered for a client's correlation id, if any (SPEC §7).
    async fn remembered(&self, client_id: &str, correlation_id: &str) -> Result<Option<Remembered>>;

    /// Runs `writes` in one transaction, in order, each deciding from what
    /// it sees of the data inside it: one commit (and one fsync) for all,
    /// one generation for those that changed a customer. A write that fails
    /// is rolled back alone (its own `Err`); the others commit. `retention`
    /// bounds the remembered answers.
    async fn write(&self, writes: Vec<CustomerWrite>, retention: Retention) -> Result<Vec<Result<WriteOutcome>>>;
}

/// A change to a client's settings (`roster clients update`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientChange {
    pub api_version: Option<ApiVersion>,
    pub rate_limit: Option<u32>,
    pub scope: Option<ResellerScope>,
}

/// An answer remembered for a correlation id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remembered {
    /// What identifies the request: a hash of its method, path and body.
    pub fingerprint: Vec<u8>,
    pub answer: Answer,
    /// Unix seconds.
    pub created_at: i64,
}

/// The request a write remembers its answer for (SPEC §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correlation {
    pub client_id: String,
    pub correlation_id: String,
    pub fingerprint: Vec<u8>,
}

/// How long and how many remembered answers are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub window: Duration,
    pub capacity: u64,
}

/// One write of a batch: what it asks for, and the request it answers (if
/// the answer is to be remembered).
#[derive(Debug)]
pub struct CustomerWrite {
    pub intent: Intent,
    pub correlation: Option<Correlation>,
    /// Set once nobody waits for this write any more: a backend that finds
    /// it set when the write's turn comes skips the write.
    pub abandoned: Abandoned,
}

/// Whether the request a write answers stopped waiting for it: its time ran
/// out while the write queued (behind a long import, say), and it was
/// answered 500 1124, which tells the partner to try again. Writing it
/// after all would make that answer false and the retry a second write.
#[derive(Debug, Clone, Default)]
pub struct Abandoned(Arc<std::sync::atomic::AtomicBool>);

impl Abandoned {
    pub fn set(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Release);
    }

    pub fn is_set(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// The outcome of a write skipped because it was [`Abandoned`] (nobody
/// reads it).
pub fn abandoned_write() -> anyhow::Error {
    anyhow::anyhow!("the request stopped waiting for this write; it was not written")
}

/// What became of one write.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOutcome {
    /// The customer was stored in `generation`.
    Written { answer: Answer, generation: Generation },
    /// Nothing changed.
    Answered(Answer),
    /// Another request with the same correlation id got there first: its
    /// answer is remembered ([`Store::remembered`]).
    Duplicate,
}

/// The columns a [`CustomerRecord`] is read from, of `customers` named `c`,
/// in [`customer_record`]'s order.
const CUSTOMER_COLUMNS: &str = "c.customer_id, c.reseller_id, c.status, c.created_at, c.name_key, c.doc";

/// A [`CustomerRecord`] from the values of [`CUSTOMER_COLUMNS`].
fn customer_record(
    customer_id: String,
    reseller_id: String,
    status: i64,
    created_at: i64,
    name_key: String,
    doc: String,
) -> Result<CustomerRecord> {
    let status = Status::from_number(status).ok_or_else(|| anyhow!("customer {customer_id} has an unknown status"))?;
    Ok(CustomerRecord {
        customer_id,
        reseller_id,
        status,
        created_at,
        name_key,
        doc,
    })
}

/// The columns of `clients` a [`ClientRecord`] is read from, in
/// [`ClientRow`]'s order.
const CLIENT_COLUMNS: &str =
    "client_id, name, secret_hash, all_resellers, rate_limit, enabled, token_epoch, created_at, api_version";

/// A client as its row in `clients` reads, before its scope's reseller ids
/// (rows of `client_resellers`) are attached.
struct ClientRow {
    client_id: String,
    name: String,
    secret_hash: String,
    all_resellers: bool,
    rate_limit: Option<u32>,
    enabled: bool,
    token_epoch: i64,
    created_at: i64,
    api_version: String,
}

/// The clients of `rows` (in their order), each with the reseller ids
/// `scopes` (client id, reseller id) gives it.
fn with_scopes(rows: Vec<ClientRow>, scopes: Vec<(String, String)>) -> Result<Vec<ClientRecord>> {
    let mut named: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (client_id, reseller_id) in scopes {
        named.entry(client_id).or_default().insert(reseller_id);
    }
    rows.into_iter()
        .map(|row| {
            let scope = match row.all_resellers {
                true => ResellerScope::All,
                false => ResellerScope::Only(named.remove(&row.client_id).unwrap_or_default()),
            };
            let api_version = ApiVersion::parse(&row.api_version)
                .ok_or_else(|| anyhow!("a client has an unknown API version {:?}", row.api_version))?;
            Ok(ClientRecord {
                client_id: row.client_id,
                name: row.name,
                secret_hash: row.secret_hash,
                scope,
                rate_limit: row.rate_limit,
                enabled: row.enabled,
                token_epoch: row.token_epoch,
                created_at: row.created_at,
                api_version,
            })
        })
        .collect()
}

/// A new customer id: 10 random decimal digits, without a leading zero.
fn new_customer_id() -> String {
    let mut bytes = [0u8; 8];
    rand::fill(&mut bytes);
    (1_000_000_000 + u64::from_le_bytes(bytes) % 9_000_000_000).to_string()
}

/// Every customer of one snapshot, as [`Store::scan`] streams it. The
/// batches end with the snapshot, or with an `Err` if reading failed.
pub struct CustomerScan {
    pub generation: Generation,
    pub customers: mpsc::Receiver<Result<Vec<CustomerRecord>>>,
}

impl CustomerScan {
    /// The scan whose reader sends its snapshot's generation on
    /// `generation`, then the batches on `customers`; or the error it
    /// stopped with before it read the generation.
    async fn started(
        generation: oneshot::Receiver<Generation>,
        mut customers: mpsc::Receiver<Result<Vec<CustomerRecord>>>,
    ) -> Result<Self> {
        match generation.await {
            Ok(generation) => Ok(CustomerScan { generation, customers }),
            Err(_) => Err(match customers.recv().await {
                Some(Err(error)) => error,
                _ => anyhow!("the scan of the customers stopped"),
            }),
        }
    }
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

/// `url` with every password in it replaced by `***`, so that a database
/// URL can be printed or logged: the user info's (`user:secret@host`) and
/// any `password` parameter (`?password=…`, `&password=…`, or `password=…`
/// in a `key=value` connection string, quoted or not).
pub fn redacted(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    if let Some(scheme_end) = url.find("://") {
        let authority_start = scheme_end + 3;
        let authority_end = url[authority_start..]
            .find(['/', '?', '#'])
            .map_or(url.len(), |end| authority_start + end);
        if let Some(at) = url[authority_start..authority_end].rfind('@') {
            let at = authority_start + at;
            if let Some(colon) = url[authority_start..at].find(':') {
                out.push_str(&url[..authority_start + colon + 1]);
                out.push_str("***");
                rest = &url[at..];
            }
        }
    }
    // `password=` parameters: at the start, or after `?`, `&` or a space.
    while let Some(found) = find_password_key(rest) {
        let value_start = found + "password=".len();
        out.push_str(&rest[..value_start]);
        out.push_str("***");
        let value = &rest[value_start..];
        let value_len = match value.strip_prefix('\'') {
            Some(quoted) => quoted.find('\'').map_or(value.len(), |end| end + 2),
            None => value.find(['&', ' ', '#']).unwrap_or(value.len()),
        };
        rest = &value[value_len..];
    }
    out.push_str(rest);
    out
}

/// Where a `password=` key starts in `text`, case-insensitively, if one
/// does at a parameter boundary.
fn find_password_key(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    lower
        .match_indices("password=")
        .map(|(at, _)| at)
        .find(|&at| at == 0 || matches!(lower.as_bytes()[at - 1], b'?' | b'&' | b' ' | b'\t'))
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
    fn passwords_never_reach_messages() {
        let cases = [
            (
                "postgres://roster:s3cret@db.internal:5432/roster",
                "postgres://roster:***@db.internal:5432/roster",
            ),
            ("postgres://roster@db/roster", "postgres://roster@db/roster"),
            ("postgres://db/roster", "postgres://db/roster"),
            (
                "postgres://roster@db/roster?password=s3cret",
                "postgres://roster@db/roster?password=***",
            ),
            (
                "postgres://db/roster?sslmode=require&PASSWORD=s3cret&application_name=x",
                "postgres://db/roster?sslmode=require&PASSWORD=***&application_name=x",
            ),
            (
                "postgres://u:a@b@db/r?password=c&password=d",
                "postgres://u:***@db/r?password=***&password=***",
            ),
            (
                "host=db user=roster password='s3 cret' dbname=roster",
                "host=db user=roster password=*** dbname=roster",
            ),
            ("host=db password=s3cret", "host=db password=***"),
            ("postgres://db/roster?mypassword=x", "postgres://db/roster?mypassword=x"),
            ("sqlite://roster.db", "sqlite://roster.db"),
        ];
        for (url, shown) in cases {
            assert_eq!(redacted(url), shown, "{url}");
            assert!(
                !redacted(url).contains("s3") && !redacted(url).contains("cret"),
                "{url}"
            );
        }
    }

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
