//! The embedded backend: one SQLite file in WAL mode and a small pool of
//! connections.
//!
//! WAL lets readers (servers) and a writer (`roster import`) work at once;
//! each read runs in one transaction, so it sees one snapshot, generation
//! included. Writes take the write lock first (`BEGIN IMMEDIATE`), so they
//! commit one after the other, in generation order, and they commit with
//! `synchronous = FULL`: a write that returned survives a power cut. The
//! log is copied into the database by a thread of its own (`checkpoint`),
//! not by the pool's commits.
//!
//! Every call runs on tokio's blocking pool: SQLite calls block, and a busy
//! database makes them wait up to the busy timeout, which must never stall
//! an async worker. Servers read the database only to start and to follow
//! the change log; pages never touch it (`crate::catalog`).
//!
//! Depends on `domain`, `telemetry` and the store contract (`super`).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Params, Row, Transaction, TransactionBehavior, params};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

mod checkpoint;

use self::checkpoint::Checkpointer;
use super::migrations::{Migration, pending};
use super::{
    CHANGE_LOG_MAX_CUSTOMERS, CHANGE_LOG_RETENTION, Changes, ClientChange, CustomerScan, CustomerWrite, Decision,
    Generation, ImportItem, ImportOutcome, Remembered, Reply, Retention, SCAN_BATCH, Seen, Store, Target, WriteOutcome,
    abandoned_write, new_customer_id, new_token_key, unix_now,
};
use crate::domain::{ApiVersion, ClientRecord, CustomerRecord, ResellerScope, Status};
use crate::telemetry;

/// Versioned migrations, applied in order and recorded in `schema_migrations`.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "change log",
        sql: include_str!("migrations/0002_change_log.sql"),
    },
    Migration {
        version: 3,
        name: "customer writes",
        sql: include_str!("migrations/0003_customer_writes.sql"),
    },
];

/// Connections in use at once; more callers wait their turn. Each keeps
/// its own page cache (`connect`), so this bounds the server's SQLite
/// cache at 16 MiB. Opened as needed and then kept. When callers beyond
/// four opened and closed a connection each (its schema parsed, its
/// pragmas run), an unknown reseller asked by 64 clients at once cost
/// 63–78 µs of CPU per request; now 56–57 (docs/PERFORMANCE.md).
const CONNECTIONS: usize = 4;

/// How long a statement waits for another process's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

pub struct SqliteStore {
    pool: Arc<Pool>,
    /// Copies the log into the database; every write transaction enters
    /// its gate.
    checkpointer: Checkpointer,
}

struct Pool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// One per connection: taken before a blocking thread is asked for.
    permits: Arc<Semaphore>,
}

impl Pool {
    fn take(&self) -> Result<Connection> {
        let idle = self.idle.lock().expect("pool lock").pop();
        match idle {
            Some(conn) => Ok(conn),
            None => {
                let conn = connect(&self.path)?;
                // The checkpoint thread copies the log; a commit never does.
                conn.execute_batch("PRAGMA wal_autocheckpoint = 0;")?;
                Ok(conn)
            }
        }
    }

    fn give(&self, conn: Connection) {
        // A connection still inside a transaction (a COMMIT that failed, a
        // panic half-way) must not serve the next caller: close it.
        if !conn.is_autocommit() {
            return;
        }
        self.idle.lock().expect("pool lock").push(conn);
    }

    /// Runs `work` on a pooled connection, holding `permit` (one of
    /// [`Pool::permits`]) until it is done.
    fn with<R>(&self, _permit: OwnedSemaphorePermit, work: impl FnOnce(&mut Connection) -> Result<R>) -> Result<R> {
        let mut conn = self.take()?;
        let outcome = work(&mut conn);
        self.give(conn);
        outcome
    }

    /// Waits for a connection's turn.
    async fn permit(&self) -> OwnedSemaphorePermit {
        self.permits
            .clone()
            .acquire_owned()
            .await
            .expect("the pool's semaphore is never closed")
    }
}

fn connect(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).with_context(|| format!("opening SQLite database {}", path.display()))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // FULL: a write that returned survives a power cut (WAL mode syncs the
    // log at each commit; only writes commit).
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA cache_size = -4096;",
    )?;
    // Room for every statement of the write path and the follower, and
    // the reads beside them (rusqlite keeps 16 by default).
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and migrates it.
    pub async fn open(path: PathBuf) -> Result<Self> {
        // SQLite's own answer for a missing directory is "unable to open
        // database file", which does not say which part is wrong.
        if let Some(directory) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !directory.is_dir()
        {
            let problem = if directory.exists() {
                "is not a directory"
            } else {
                "does not exist"
            };
            bail!(
                "opening SQLite database {}: {} {problem}",
                path.display(),
                directory.display()
            );
        }
        let store = SqliteStore {
            pool: Arc::new(Pool {
                path: path.clone(),
                idle: Mutex::new(Vec::new()),
                permits: Arc::new(Semaphore::new(CONNECTIONS)),
            }),
            checkpointer: Checkpointer::start(path, connect)?,
        };
        store.run(migrate).await?;
        Ok(store)
    }

    /// Runs `work` on a pooled connection, off the async threads.
    async fn run<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let pool = self.pool.clone();
        let permit = pool.permit().await;
        tokio::task::spawn_blocking(move || pool.with(permit, work))
            .await?
            .inspect_err(|_| telemetry::dependency_error("database"))
    }
}

fn migrate(conn: &mut Connection) -> Result<()> {
    // WAL is a property of the file: set once, kept by every later connection.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // Nearly every start finds the schema current: then the write lock
    // below is not needed (a database without the table is migrated).
    if conn
        .query_row("SELECT coalesce(max(version), 0) FROM schema_migrations", [], |r| {
            r.get(0)
        })
        .is_ok_and(|applied| pending(MIGRATIONS, applied).next().is_none())
    {
        return Ok(());
    }
    // IMMEDIATE takes the write lock first, so two processes starting on a
    // new file at once apply each migration exactly once.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT    NOT NULL,
             applied_at INTEGER NOT NULL
         )",
    )?;
    let applied: i64 = tx.query_row("SELECT coalesce(max(version), 0) FROM schema_migrations", [], |r| {
        r.get(0)
    })?;
    for migration in pending(MIGRATIONS, applied) {
        tx.execute_batch(migration.sql)
            .with_context(|| format!("applying migration {} ({})", migration.version, migration.name))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, unixepoch())",
            params![migration.version, migration.name],
        )?;
    }
    tx.execute(
        "INSERT INTO roster_state (id, generation, token_key) VALUES (1, 0, ?1) ON CONFLICT (id) DO NOTHING",
        [new_token_key().as_slice()],
    )?;
    tx.commit()?;
    Ok(())
}

fn generation(conn: &Connection) -> Result<Generation> {
    Ok(conn
        .prepare_cached("SELECT generation FROM roster_state WHERE id = 1")?
        .query_row([], |r| r.get(0))?)
}

/// `execute` through the connection's statement cache. The write path
/// runs the same statements for every group (and the follower for every
/// catch-up); parsing each afresh was about 6 % of a write's CPU.
fn execute_cached(conn: &Connection, sql: &str, params: impl Params) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(params)
}

/// `query_row` through the connection's statement cache (see [`execute_cached`]).
fn query_row_cached<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.prepare_cached(sql)?.query_row(params, f)
}

/// The columns a [`CustomerRecord`] is read back from, in [`customer_row`]'s order.
const CUSTOMER_COLUMNS: &str = "customer_id, reseller_id, status, created_at, name_key, doc";

fn customer_row(row: &Row<'_>) -> Result<CustomerRecord> {
    customer_row_at(row, 0)
}

/// Streams every customer of one snapshot to `batches`; the snapshot's
/// generation goes to `generation` first.
fn scan_into(
    conn: &mut Connection,
    generation_of_scan: oneshot::Sender<Generation>,
    batches: &mpsc::Sender<Result<Vec<CustomerRecord>>>,
) -> Result<()> {
    let tx = conn.transaction()?;
    let _ = generation_of_scan.send(generation(&tx)?);
    {
        let mut stmt = tx.prepare(&format!("SELECT {CUSTOMER_COLUMNS} FROM customers ORDER BY id"))?;
        let mut rows = stmt.query([])?;
        let mut batch = Vec::with_capacity(SCAN_BATCH);
        while let Some(row) = rows.next()? {
            batch.push(customer_row(row)?);
            if batch.len() == SCAN_BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(SCAN_BATCH));
                if batches.blocking_send(Ok(full)).is_err() {
                    // Nobody is reading any more.
                    return Ok(());
                }
            }
        }
        if !batch.is_empty() {
            let _ = batches.blocking_send(Ok(batch));
        }
    }
    tx.commit()?;
    Ok(())
}

/// [`Store::changes_since`], inside one read transaction.
fn changes_since(tx: &Transaction<'_>, after: Generation, max_customers: u64) -> Result<Changes> {
    let (current, log_start): (Generation, Generation) = query_row_cached(
        tx,
        "SELECT generation, log_start FROM roster_state WHERE id = 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if current == after {
        return Ok(Changes::Since {
            generation: current,
            changed: Vec::new(),
            removed: Vec::new(),
        });
    }
    // Behind the log's start, or ahead of the database (a restored backup).
    if after < log_start || after > current {
        return Ok(Changes::Rebuild);
    }
    let (changed, all_logged): (i64, bool) = query_row_cached(
        tx,
        "SELECT coalesce(sum(changed), 0), coalesce(min(logged), 1) FROM generations WHERE generation > ?1",
        [after],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if !all_logged || changed as u64 > max_customers {
        return Ok(Changes::Rebuild);
    }
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT ch.customer_id, c.id IS NOT NULL, {columns}
         FROM (SELECT DISTINCT customer_id FROM customer_changes WHERE generation > ?1) ch
         LEFT JOIN customers c ON c.customer_id = ch.customer_id",
        columns = CUSTOMER_COLUMNS
            .split(", ")
            .map(|column| format!("c.{column}"))
            .collect::<Vec<_>>()
            .join(", ")
    ))?;
    let mut rows = stmt.query([after])?;
    let (mut changed, mut removed) = (Vec::new(), Vec::new());
    while let Some(row) = rows.next()? {
        if row.get::<_, bool>(1)? {
            // The record's columns start after the id and the flag.
            changed.push(customer_row_at(row, 2)?);
        } else {
            removed.push(row.get(0)?);
        }
    }
    Ok(Changes::Since {
        generation: current,
        changed,
        removed,
    })
}

/// A [`CustomerRecord`] from [`CUSTOMER_COLUMNS`] starting at column `offset`.
fn customer_row_at(row: &Row<'_>, offset: usize) -> Result<CustomerRecord> {
    let customer_id: String = row.get(offset)?;
    let status = Status::from_number(row.get(offset + 2)?)
        .ok_or_else(|| anyhow!("customer {customer_id} has an unknown status"))?;
    Ok(CustomerRecord {
        customer_id,
        reseller_id: row.get(offset + 1)?,
        status,
        created_at: row.get(offset + 3)?,
        name_key: row.get(offset + 4)?,
        doc: row.get(offset + 5)?,
    })
}

/// Records generation `generation` in the change log (inside its write's
/// transaction) and makes it the current one.
fn log_generation(tx: &Transaction<'_>, generation: Generation, changed: &ChangedCustomers) -> Result<()> {
    execute_cached(
        tx,
        "INSERT INTO generations (generation, committed_at, changed, logged) VALUES (?1, ?2, ?3, ?4)",
        params![generation, unix_now(), changed.count as i64, changed.logged()],
    )?;
    if changed.logged() {
        let mut insert =
            tx.prepare_cached("INSERT OR IGNORE INTO customer_changes (generation, customer_id) VALUES (?1, ?2)")?;
        for customer_id in &changed.ids {
            insert.execute(params![generation, customer_id])?;
        }
    }
    execute_cached(tx, "UPDATE roster_state SET generation = ?1 WHERE id = 1", [generation])?;
    trim_change_log(tx)
}

/// Forgets the change log's entries older than the retention, at most a
/// bounded number of generations per write (each write adds one).
fn trim_change_log(tx: &Transaction<'_>) -> Result<()> {
    let cutoff = unix_now() - CHANGE_LOG_RETENTION.as_secs() as i64;
    let oldest: Vec<(Generation, i64)> = tx
        .prepare_cached("SELECT generation, committed_at FROM generations ORDER BY generation LIMIT 256")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let Some(last) = oldest
        .iter()
        .take_while(|(_, committed_at)| *committed_at < cutoff)
        .map(|(generation, _)| *generation)
        .last()
    else {
        return Ok(());
    };
    execute_cached(tx, "DELETE FROM customer_changes WHERE generation <= ?1", [last])?;
    execute_cached(tx, "DELETE FROM generations WHERE generation <= ?1", [last])?;
    execute_cached(
        tx,
        "UPDATE roster_state SET log_start = max(log_start, ?1) WHERE id = 1",
        [last],
    )?;
    Ok(())
}

/// The customers one write changed, as the change log records them.
#[derive(Default)]
struct ChangedCustomers {
    /// Distinct ids, until there are too many to log one by one.
    ids: HashSet<String>,
    /// Records written (an upper bound of the distinct customers).
    count: u64,
    overflowed: bool,
}

impl ChangedCustomers {
    fn add(&mut self, customer_id: &str) {
        self.count += 1;
        if self.overflowed {
            return;
        }
        if !self.ids.contains(customer_id) {
            self.ids.insert(customer_id.to_owned());
        }
        if self.ids.len() as u64 > CHANGE_LOG_MAX_CUSTOMERS {
            self.overflowed = true;
            self.ids = HashSet::new();
        }
    }

    fn logged(&self) -> bool {
        !self.overflowed
    }
}

/// The columns of `clients` a [`ClientRecord`] is read from, in order.
const CLIENT_COLUMNS: &str =
    "client_id, name, secret_hash, all_resellers, rate_limit, enabled, token_epoch, created_at, api_version";

/// Reads clients (`filter` is a WHERE clause on `clients`, or empty) with
/// their scopes, in creation order.
fn read_clients(conn: &Connection, filter: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Vec<ClientRecord>> {
    let mut scopes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT client_id, reseller_id FROM client_resellers
             WHERE client_id IN (SELECT client_id FROM clients {filter})"
        ))?;
        let mut rows = stmt.query(args)?;
        while let Some(row) = rows.next()? {
            scopes.entry(row.get(0)?).or_default().push(row.get(1)?);
        }
    }
    let mut stmt = conn.prepare_cached(&format!("SELECT {CLIENT_COLUMNS} FROM clients {filter} ORDER BY rowid"))?;
    let mut rows = stmt.query(args)?;
    let mut clients = Vec::new();
    while let Some(row) = rows.next()? {
        let client_id: String = row.get(0)?;
        let scope = if row.get(3)? {
            ResellerScope::All
        } else {
            ResellerScope::Only(scopes.remove(&client_id).unwrap_or_default().into_iter().collect())
        };
        clients.push(ClientRecord {
            client_id,
            name: row.get(1)?,
            secret_hash: row.get(2)?,
            scope,
            rate_limit: row.get(4)?,
            enabled: row.get(5)?,
            token_epoch: row.get(6)?,
            created_at: row.get(7)?,
            api_version: api_version(&row.get::<_, String>(8)?)?,
        });
    }
    Ok(clients)
}

/// A stored API version.
pub(super) fn api_version(text: &str) -> Result<ApiVersion> {
    ApiVersion::parse(text).ok_or_else(|| anyhow!("a client has an unknown API version {text:?}"))
}

/// Replaces a client's explicit reseller ids with `scope`'s.
fn write_scope(tx: &Transaction<'_>, client_id: &str, scope: &ResellerScope) -> Result<()> {
    tx.execute("DELETE FROM client_resellers WHERE client_id = ?1", [client_id])?;
    if let ResellerScope::Only(ids) = scope {
        let mut stmt = tx.prepare_cached("INSERT INTO client_resellers (client_id, reseller_id) VALUES (?1, ?2)")?;
        for id in ids {
            stmt.execute(params![client_id, id])?;
        }
    }
    Ok(())
}

/// The customer with this id, as stored.
fn customer(tx: &Transaction<'_>, customer_id: &str) -> Result<Option<CustomerRecord>> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE customer_id = ?1"
    ))?;
    let mut rows = stmt.query([customer_id])?;
    rows.next()?.map(customer_row).transpose()
}

/// One write of a batch, inside its savepoint.
fn write_one(
    tx: &Transaction<'_>,
    write: &CustomerWrite,
    generation: Generation,
    now: i64,
    retention: Retention,
    changed: &mut ChangedCustomers,
) -> Result<WriteOutcome> {
    if let Some(correlation) = &write.correlation {
        // An answer past the window is forgotten, even if not trimmed yet.
        let expired = execute_cached(
            tx,
            "DELETE FROM correlations WHERE client_id = ?1 AND correlation_id = ?2 AND created_at < ?3",
            params![
                correlation.client_id,
                correlation.correlation_id,
                now.saturating_sub(retention.window.as_secs() as i64)
            ],
        )?;
        if expired > 0 {
            execute_cached(
                tx,
                "UPDATE roster_state SET correlations = correlations - 1 WHERE id = 1",
                [],
            )?;
        }
        let known: bool = tx
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM correlations WHERE client_id = ?1 AND correlation_id = ?2)")?
            .query_row(params![correlation.client_id, correlation.correlation_id], |r| r.get(0))?;
        if known {
            return Ok(WriteOutcome::Duplicate);
        }
    }
    let (current, namesakes, new_id) = match &write.target {
        Target::Existing { customer_id } => (customer(tx, customer_id)?, Vec::new(), None),
        Target::New { reseller_id, name_key } => {
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE reseller_id = ?1 AND name_key = ?2"
            ))?;
            let mut rows = stmt.query([reseller_id, name_key])?;
            let mut namesakes = Vec::new();
            while let Some(row) = rows.next()? {
                namesakes.push(customer_row(row)?);
            }
            let new_id = loop {
                let candidate = new_customer_id();
                if customer(tx, &candidate)?.is_none() {
                    break candidate;
                }
            };
            (None, namesakes, Some(new_id))
        }
        Target::Nothing => (None, Vec::new(), None),
    };
    let seen = Seen {
        current: current.as_ref(),
        namesakes: &namesakes,
        new_id: new_id.as_deref(),
        now,
    };
    let (outcome, reply) = match (write.decide)(&seen) {
        Decision::Write { record, reply } => {
            let values = params![
                record.customer_id,
                record.reseller_id,
                record.status.number(),
                record.created_at,
                record.name_key,
                record.doc
            ];
            if current.is_some() {
                tx.prepare_cached(
                    "UPDATE customers SET reseller_id = ?2, status = ?3, created_at = ?4, name_key = ?5, doc = ?6
                     WHERE customer_id = ?1",
                )?
                .execute(values)?;
            } else {
                tx.prepare_cached(
                    "INSERT INTO customers (customer_id, reseller_id, status, created_at, name_key, doc)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(values)?;
            }
            changed.add(&record.customer_id);
            let outcome = WriteOutcome::Written {
                reply: reply.clone(),
                generation,
            };
            (outcome, reply)
        }
        Decision::Answer(reply) => (WriteOutcome::Answered(reply.clone()), reply),
    };
    if let Some(correlation) = &write.correlation {
        let headers = serde_json::to_string(&reply.headers)?;
        tx.prepare_cached(
            "INSERT INTO correlations
                 (client_id, correlation_id, fingerprint, status, headers, body, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            correlation.client_id,
            correlation.correlation_id,
            correlation.fingerprint,
            reply.status,
            headers,
            reply.body,
            now
        ])?;
        execute_cached(
            tx,
            "UPDATE roster_state SET correlations = correlations + 1 WHERE id = 1",
            [],
        )?;
    }
    Ok(outcome)
}

/// Forgets remembered answers past the window, and the oldest past the
/// capacity: a bounded number per batch, so a batch's cost stays small.
fn trim_remembered(tx: &Transaction<'_>, retention: Retention, now: i64) -> Result<()> {
    let cutoff = now.saturating_sub(retention.window.as_secs() as i64);
    let mut forgotten = execute_cached(
        tx,
        "DELETE FROM correlations WHERE (client_id, correlation_id) IN
             (SELECT client_id, correlation_id FROM correlations WHERE created_at < ?1 ORDER BY created_at LIMIT 256)",
        [cutoff],
    )?;
    let kept: i64 = query_row_cached(tx, "SELECT correlations FROM roster_state WHERE id = 1", [], |r| {
        r.get(0)
    })?;
    let over = (kept - forgotten as i64 - retention.capacity as i64).clamp(0, 256);
    if over > 0 {
        forgotten += execute_cached(
            tx,
            "DELETE FROM correlations WHERE (client_id, correlation_id) IN
                 (SELECT client_id, correlation_id FROM correlations ORDER BY created_at LIMIT ?1)",
            [over],
        )?;
    }
    if forgotten > 0 {
        execute_cached(
            tx,
            "UPDATE roster_state SET correlations = correlations - ?1 WHERE id = 1",
            [forgotten as i64],
        )?;
    }
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn local_directory(&self) -> Option<PathBuf> {
        match self.pool.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => Some(dir.to_owned()),
            _ => Some(PathBuf::from(".")),
        }
    }

    async fn generation(&self) -> Result<Generation> {
        self.run(|conn| generation(conn)).await
    }

    async fn scan(&self) -> Result<CustomerScan> {
        let pool = self.pool.clone();
        let (batches, mut customers) = mpsc::channel(4);
        let (generation_tx, generation_rx) = oneshot::channel();
        let permit = pool.permit().await;
        tokio::task::spawn_blocking(move || {
            if let Err(error) = pool.with(permit, |conn| scan_into(conn, generation_tx, &batches)) {
                let _ = batches.blocking_send(Err(error));
            }
        });
        match generation_rx.await {
            Ok(generation) => Ok(CustomerScan { generation, customers }),
            // It failed before reading the generation: the error is queued.
            Err(_) => Err(match customers.recv().await {
                Some(Err(error)) => error,
                _ => anyhow!("the scan of the customers stopped"),
            }),
        }
    }

    async fn changes_since(&self, after: Generation, max_customers: u64) -> Result<Changes> {
        self.run(move |conn| {
            let tx = conn.transaction()?;
            let changes = changes_since(&tx, after, max_customers)?;
            tx.commit()?;
            Ok(changes)
        })
        .await
    }

    async fn reseller_in_any_scope(&self, reseller_id: &str) -> Result<bool> {
        let reseller_id = reseller_id.to_owned();
        self.run(move |conn| {
            Ok(conn
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM client_resellers WHERE reseller_id = ?1)")?
                .query_row([reseller_id], |r| r.get(0))?)
        })
        .await
    }

    async fn import(&self, mut records: mpsc::Receiver<ImportItem>) -> Result<ImportOutcome> {
        let path = self.pool.path.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = connect(&path)?;
            // A bigger page cache keeps a large import's B-tree pages in memory.
            conn.execute_batch("PRAGMA cache_size = -131072;")?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let generation = generation(&tx)? + 1;
            let mut changed = ChangedCustomers::default();
            let mut created = 0u64;
            {
                let mut insert = tx.prepare(
                    "INSERT INTO customers (customer_id, reseller_id, status, created_at, name_key, doc)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (customer_id) DO NOTHING",
                )?;
                let mut update = tx.prepare(
                    "UPDATE customers SET reseller_id = ?2, status = ?3, created_at = ?4, name_key = ?5, doc = ?6
                     WHERE customer_id = ?1",
                )?;
                loop {
                    match records.blocking_recv() {
                        Some(ImportItem::Records(batch)) => {
                            for r in batch {
                                let values = params![
                                    r.customer_id,
                                    r.reseller_id,
                                    r.status.number(),
                                    r.created_at,
                                    r.name_key,
                                    r.doc
                                ];
                                if insert.execute(values)? == 1 {
                                    created += 1;
                                } else {
                                    update.execute(values)?;
                                }
                                changed.add(&r.customer_id);
                            }
                        }
                        Some(ImportItem::End) => break,
                        // Dropping `tx` unfinished rolls everything back.
                        Some(ImportItem::Abort) | None => bail!("import aborted; nothing was written"),
                    }
                }
            }
            log_generation(&tx, generation, &changed)?;
            tx.commit()?;
            Ok(ImportOutcome {
                records: changed.count,
                created,
                updated: changed.count - created,
                generation,
            })
        })
        .await?
    }

    async fn insert_client(&self, client: &ClientRecord) -> Result<()> {
        let client = client.clone();
        self.run(move |conn| {
            let tx = conn.transaction()?;
            tx.execute(
                &format!("INSERT INTO clients ({CLIENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
                params![
                    client.client_id,
                    client.name,
                    client.secret_hash,
                    client.scope == ResellerScope::All,
                    client.rate_limit,
                    client.enabled,
                    client.token_epoch,
                    client.created_at,
                    client.api_version.as_str()
                ],
            )?;
            write_scope(&tx, &client.client_id, &client.scope)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>> {
        let client_id = client_id.to_owned();
        self.run(move |conn| Ok(read_clients(conn, "WHERE client_id = ?1", &[&client_id])?.pop()))
            .await
    }

    async fn clients(&self) -> Result<Vec<ClientRecord>> {
        self.run(|conn| read_clients(conn, "", &[])).await
    }

    async fn set_client_enabled(&self, client_id: &str, enabled: bool) -> Result<bool> {
        let client_id = client_id.to_owned();
        self.run(move |conn| {
            Ok(conn.execute(
                "UPDATE clients SET enabled = ?2, token_epoch = token_epoch + (1 - ?2) WHERE client_id = ?1",
                rusqlite::params![client_id, enabled],
            )? > 0)
        })
        .await
    }

    async fn replace_secret(&self, client_id: &str, secret_hash: &str) -> Result<bool> {
        let (client_id, secret_hash) = (client_id.to_owned(), secret_hash.to_owned());
        self.run(move |conn| {
            Ok(conn.execute(
                "UPDATE clients SET secret_hash = ?2, token_epoch = token_epoch + 1 WHERE client_id = ?1",
                [client_id, secret_hash],
            )? > 0)
        })
        .await
    }

    async fn ping(&self) -> Result<()> {
        self.run(|conn| Ok(conn.query_row("SELECT 1", [], |_| Ok(()))?)).await
    }

    async fn token_key(&self) -> Result<Vec<u8>> {
        self.run(|conn| {
            conn.query_row("SELECT token_key FROM roster_state WHERE id = 1", [], |r| r.get(0))
                .optional()?
                .ok_or_else(|| anyhow!("the database has no token key: migrations did not run"))
        })
        .await
    }

    async fn update_client(&self, client_id: &str, change: &ClientChange) -> Result<Option<ClientRecord>> {
        let (client_id, change) = (client_id.to_owned(), change.clone());
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let exists: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM clients WHERE client_id = ?1)",
                [&client_id],
                |r| r.get(0),
            )?;
            if !exists {
                return Ok(None);
            }
            if let Some(version) = change.api_version {
                tx.execute(
                    "UPDATE clients SET api_version = ?2 WHERE client_id = ?1",
                    params![client_id, version.as_str()],
                )?;
            }
            if let Some(rate_limit) = change.rate_limit {
                tx.execute(
                    "UPDATE clients SET rate_limit = ?2 WHERE client_id = ?1",
                    params![client_id, rate_limit],
                )?;
            }
            if let Some(scope) = &change.scope {
                tx.execute(
                    "UPDATE clients SET all_resellers = ?2 WHERE client_id = ?1",
                    params![client_id, *scope == ResellerScope::All],
                )?;
                write_scope(&tx, &client_id, scope)?;
            }
            let client = read_clients(&tx, "WHERE client_id = ?1", &[&client_id])?.pop();
            tx.commit()?;
            Ok(client)
        })
        .await
    }

    async fn remembered(&self, client_id: &str, correlation_id: &str) -> Result<Option<Remembered>> {
        let (client_id, correlation_id) = (client_id.to_owned(), correlation_id.to_owned());
        self.run(move |conn| {
            let found = conn
                .prepare_cached(
                    "SELECT fingerprint, status, headers, body, created_at FROM correlations
                     WHERE client_id = ?1 AND correlation_id = ?2",
                )?
                .query_row([client_id, correlation_id], |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, u16>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Vec<u8>>(3)?,
                        r.get::<_, i64>(4)?,
                    ))
                })
                .optional()?;
            found
                .map(|(fingerprint, status, headers, body, created_at)| {
                    Ok(Remembered {
                        fingerprint,
                        reply: Reply {
                            status,
                            headers: serde_json::from_str(&headers)?,
                            body,
                        },
                        created_at,
                    })
                })
                .transpose()
        })
        .await
    }

    async fn write(&self, writes: Vec<CustomerWrite>, retention: Retention) -> Result<Vec<Result<WriteOutcome>>> {
        let gate = self.checkpointer.gate();
        let outcomes = self
            .run(move |conn| {
                let _open = gate.enter();
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let generation = generation(&tx)? + 1;
                let now = unix_now();
                let mut changed = ChangedCustomers::default();
                let mut outcomes = Vec::with_capacity(writes.len());
                for write in &writes {
                    if write.abandoned.is_set() {
                        outcomes.push(Err(abandoned_write()));
                        continue;
                    }
                    execute_cached(&tx, "SAVEPOINT write", [])?;
                    let outcome = write_one(&tx, write, generation, now, retention, &mut changed);
                    if outcome.as_ref().is_ok_and(|o| *o != WriteOutcome::Duplicate) {
                        execute_cached(&tx, "RELEASE write", [])?;
                    } else {
                        execute_cached(&tx, "ROLLBACK TO write", [])?;
                        execute_cached(&tx, "RELEASE write", [])?;
                    }
                    outcomes.push(outcome);
                }
                if changed.count > 0 {
                    log_generation(&tx, generation, &changed)?;
                }
                trim_remembered(&tx, retention, now)?;
                tx.commit()?;
                Ok(outcomes)
            })
            .await?;
        self.checkpointer.committed();
        Ok(outcomes)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// However many callers arrive at once, at most [`CONNECTIONS`] work
    /// at a time, on connections opened once and then kept.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn callers_beyond_the_pool_wait_their_turn_on_kept_connections() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(dir.path().join("roster.db")).await.unwrap());
        let (working, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let callers: Vec<_> = (0..32)
            .map(|_| {
                let (store, working, most) = (store.clone(), working.clone(), most.clone());
                tokio::spawn(async move {
                    store
                        .run(move |conn| {
                            let now = working.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(20));
                            let one: i64 = conn.query_row("SELECT 1", [], |row| row.get(0))?;
                            working.fetch_sub(1, Ordering::SeqCst);
                            Ok(one)
                        })
                        .await
                })
            })
            .collect();
        for caller in callers {
            assert_eq!(caller.await.unwrap().unwrap(), 1);
        }
        assert_eq!(most.load(Ordering::SeqCst), CONNECTIONS);
        assert_eq!(store.pool.idle.lock().unwrap().len(), CONNECTIONS);
    }
}
