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

use std::collections::HashSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use async_trait::async_trait;
use futures_util::FutureExt;
use rusqlite::{Connection, OptionalExtension, Params, Row, TransactionBehavior, params};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

mod checkpoint;

use self::checkpoint::Checkpointer;
use super::migrations::{MIGRATIONS, pending};
use super::write::{self, Transaction};
use super::{
    CHANGE_LOG_MAX_CUSTOMERS, CLIENT_COLUMNS, CUSTOMER_COLUMNS, Changes, ClientChange, ClientRow, Correlation,
    CustomerScan, CustomerWrite, Generation, ImportItem, ImportOutcome, Remembered, Retention, SCAN_BATCH, Store,
    WriteOutcome, customer_record, new_token_key, unix_now, with_scopes,
};
use crate::domain::intent::Answer;
use crate::domain::{ClientRecord, CustomerRecord, ResellerScope};
use crate::telemetry;

/// Connections in use at once; more callers wait their turn. Each keeps
/// its own page cache (`connect`), so this bounds the server's SQLite
/// cache at 16 MiB. Opened as needed and then kept: when callers beyond
/// four opened and closed a connection each (its schema parsed, its
/// pragmas run), a request that reached the database cost more CPU
/// (docs/PERFORMANCE.md, "Requests that reach the database").
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
        tx.execute_batch(migration.sqlite)
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
/// catch-up); parsing each afresh was a measurable part of a write's CPU
/// (docs/PERFORMANCE.md, "Writes through the API").
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

fn customer_row(row: &Row<'_>) -> Result<CustomerRecord> {
    customer_row_at(row, 0)
}

/// A [`CustomerRecord`] from [`CUSTOMER_COLUMNS`] starting at column `offset`.
fn customer_row_at(row: &Row<'_>, offset: usize) -> Result<CustomerRecord> {
    customer_record(
        row.get(offset)?,
        row.get(offset + 1)?,
        row.get(offset + 2)?,
        row.get(offset + 3)?,
        row.get(offset + 4)?,
        row.get(offset + 5)?,
    )
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
        let mut stmt = tx.prepare(&format!("SELECT {CUSTOMER_COLUMNS} FROM customers c ORDER BY c.id"))?;
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

/// Runs one of the shared protocol's steps (`super::write`) to its end on
/// this thread: SQLite's calls block rather than wait, so its futures are
/// ready the first time they are polled.
fn now<T>(step: impl Future<Output = T>) -> T {
    step.now_or_never().expect("a SQLite transaction's steps never wait")
}

/// The customers one import changed, as the change log records them.
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

    /// How many customers the import changed: exact while they are logged,
    /// the records' count once there are too many.
    fn customers(&self) -> u64 {
        if self.overflowed {
            self.count
        } else {
            self.ids.len() as u64
        }
    }
}

/// Reads clients (`filter` is a WHERE clause on `clients`, or empty) with
/// their scopes, in creation order.
fn read_clients(conn: &Connection, filter: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Vec<ClientRecord>> {
    let scopes = conn
        .prepare_cached(&format!(
            "SELECT client_id, reseller_id FROM client_resellers
             WHERE client_id IN (SELECT client_id FROM clients {filter})"
        ))?
        .query_map(args, |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let rows = conn
        .prepare_cached(&format!("SELECT {CLIENT_COLUMNS} FROM clients {filter} ORDER BY rowid"))?
        .query_map(args, |row| {
            Ok(ClientRow {
                client_id: row.get(0)?,
                name: row.get(1)?,
                secret_hash: row.get(2)?,
                all_resellers: row.get(3)?,
                rate_limit: row.get(4)?,
                enabled: row.get(5)?,
                token_epoch: row.get(6)?,
                created_at: row.get(7)?,
                api_version: row.get(8)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    with_scopes(rows, scopes)
}

/// Replaces a client's explicit reseller ids with `scope`'s.
fn write_scope(conn: &Connection, client_id: &str, scope: &ResellerScope) -> Result<()> {
    conn.execute("DELETE FROM client_resellers WHERE client_id = ?1", [client_id])?;
    if let ResellerScope::Only(ids) = scope {
        let mut stmt = conn.prepare_cached("INSERT INTO client_resellers (client_id, reseller_id) VALUES (?1, ?2)")?;
        for id in ids {
            stmt.execute(params![client_id, id])?;
        }
    }
    Ok(())
}

/// The values of a customer's row, in the order the statements below take them.
macro_rules! customer_values {
    ($record:expr) => {
        params![
            $record.customer_id,
            $record.reseller_id,
            $record.status.number(),
            $record.created_at,
            $record.name_key,
            $record.doc
        ]
    };
}

const INSERT_CUSTOMER: &str = "INSERT INTO customers (customer_id, reseller_id, status, created_at, name_key, doc)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
const UPDATE_CUSTOMER: &str = "UPDATE customers SET reseller_id = ?2, status = ?3, created_at = ?4, name_key = ?5, doc = ?6 WHERE customer_id = ?1";

/// The write protocol's queries (`super::write`) on one SQLite transaction.
/// SQLite takes the write lock for the whole transaction (`BEGIN
/// IMMEDIATE`), so reads lock nothing of their own.
struct Sql<'c>(&'c Connection);

impl Transaction for Sql<'_> {
    async fn savepoint(&mut self) -> Result<()> {
        execute_cached(self.0, "SAVEPOINT write", [])?;
        Ok(())
    }

    async fn release_savepoint(&mut self) -> Result<()> {
        execute_cached(self.0, "RELEASE write", [])?;
        Ok(())
    }

    async fn roll_back_to_savepoint(&mut self) -> Result<()> {
        execute_cached(self.0, "ROLLBACK TO write", [])?;
        execute_cached(self.0, "RELEASE write", [])?;
        Ok(())
    }

    async fn customer(&mut self, customer_id: &str) -> Result<Option<CustomerRecord>> {
        let mut stmt = self.0.prepare_cached(&format!(
            "SELECT {CUSTOMER_COLUMNS} FROM customers c WHERE c.customer_id = ?1"
        ))?;
        let mut rows = stmt.query([customer_id])?;
        rows.next()?.map(customer_row).transpose()
    }

    async fn namesakes(&mut self, reseller_id: &str, name_key: &str) -> Result<Vec<CustomerRecord>> {
        let mut stmt = self.0.prepare_cached(&format!(
            "SELECT {CUSTOMER_COLUMNS} FROM customers c WHERE c.reseller_id = ?1 AND c.name_key = ?2"
        ))?;
        let mut rows = stmt.query([reseller_id, name_key])?;
        let mut namesakes = Vec::new();
        while let Some(row) = rows.next()? {
            namesakes.push(customer_row(row)?);
        }
        Ok(namesakes)
    }

    async fn id_taken(&mut self, customer_id: &str) -> Result<bool> {
        Ok(query_row_cached(
            self.0,
            "SELECT EXISTS (SELECT 1 FROM customers WHERE customer_id = ?1)",
            [customer_id],
            |r| r.get(0),
        )?)
    }

    async fn insert_customer(&mut self, record: &CustomerRecord) -> Result<()> {
        execute_cached(self.0, INSERT_CUSTOMER, customer_values!(record))?;
        Ok(())
    }

    async fn update_customer(&mut self, record: &CustomerRecord) -> Result<()> {
        execute_cached(self.0, UPDATE_CUSTOMER, customer_values!(record))?;
        Ok(())
    }

    async fn bump_generation(&mut self) -> Result<Generation> {
        Ok(query_row_cached(
            self.0,
            "UPDATE roster_state SET generation = generation + 1 WHERE id = 1 RETURNING generation",
            [],
            |r| r.get(0),
        )?)
    }

    async fn insert_generation(&mut self, generation: Generation, at: i64, changed: u64, logged: bool) -> Result<()> {
        execute_cached(
            self.0,
            "INSERT INTO generations (generation, committed_at, changed, logged) VALUES (?1, ?2, ?3, ?4)",
            params![generation, at, changed as i64, logged],
        )?;
        Ok(())
    }

    async fn log_changed(&mut self, generation: Generation, customer_ids: &[String]) -> Result<()> {
        let mut insert = self
            .0
            .prepare_cached("INSERT INTO customer_changes (generation, customer_id) VALUES (?1, ?2)")?;
        for customer_id in customer_ids {
            insert.execute(params![generation, customer_id])?;
        }
        Ok(())
    }

    async fn announce(&mut self, _generation: Generation) -> Result<()> {
        // Other processes find SQLite's writes by polling the log.
        Ok(())
    }

    async fn oldest_generations(&mut self, limit: u32) -> Result<Vec<(Generation, i64)>> {
        Ok(self
            .0
            .prepare_cached("SELECT generation, committed_at FROM generations ORDER BY generation LIMIT ?1")?
            .query_map([limit], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?)
    }

    async fn forget_generations_through(&mut self, generation: Generation) -> Result<()> {
        execute_cached(
            self.0,
            "DELETE FROM customer_changes WHERE generation <= ?1",
            [generation],
        )?;
        execute_cached(self.0, "DELETE FROM generations WHERE generation <= ?1", [generation])?;
        execute_cached(
            self.0,
            "UPDATE roster_state SET log_start = max(log_start, ?1) WHERE id = 1",
            [generation],
        )?;
        Ok(())
    }

    async fn log_bounds(&mut self) -> Result<(Generation, Generation)> {
        Ok(query_row_cached(
            self.0,
            "SELECT generation, log_start FROM roster_state WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    }

    async fn log_totals(&mut self, after: Generation) -> Result<(u64, bool)> {
        let (changed, logged): (i64, bool) = query_row_cached(
            self.0,
            "SELECT coalesce(sum(changed), 0), coalesce(min(logged), 1) FROM generations WHERE generation > ?1",
            [after],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((changed as u64, logged))
    }

    async fn logged_since(&mut self, after: Generation) -> Result<Vec<(String, Option<CustomerRecord>)>> {
        let mut stmt = self.0.prepare_cached(&format!(
            "SELECT ch.customer_id, c.id IS NOT NULL, {CUSTOMER_COLUMNS}
             FROM (SELECT DISTINCT customer_id FROM customer_changes WHERE generation > ?1) ch
             LEFT JOIN customers c ON c.customer_id = ch.customer_id"
        ))?;
        let mut rows = stmt.query([after])?;
        let mut logged = Vec::new();
        while let Some(row) = rows.next()? {
            // The record's columns start after the id and the flag.
            let record = match row.get::<_, bool>(1)? {
                true => Some(customer_row_at(row, 2)?),
                false => None,
            };
            logged.push((row.get(0)?, record));
        }
        Ok(logged)
    }

    async fn forget_correlation_before(&mut self, correlation: &Correlation, cutoff: i64) -> Result<bool> {
        Ok(execute_cached(
            self.0,
            "DELETE FROM correlations WHERE client_id = ?1 AND correlation_id = ?2 AND created_at < ?3",
            params![correlation.client_id, correlation.correlation_id, cutoff],
        )? > 0)
    }

    async fn correlation_known(&mut self, correlation: &Correlation) -> Result<bool> {
        Ok(query_row_cached(
            self.0,
            "SELECT EXISTS (SELECT 1 FROM correlations WHERE client_id = ?1 AND correlation_id = ?2)",
            params![correlation.client_id, correlation.correlation_id],
            |r| r.get(0),
        )?)
    }

    async fn remember(&mut self, correlation: &Correlation, answer: &Answer, now: i64) -> Result<bool> {
        let headers = serde_json::to_string(&answer.headers)?;
        Ok(execute_cached(
            self.0,
            "INSERT INTO correlations (client_id, correlation_id, fingerprint, status, headers, body, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
            params![
                correlation.client_id,
                correlation.correlation_id,
                correlation.fingerprint,
                answer.status,
                headers,
                answer.body,
                now
            ],
        )? > 0)
    }

    async fn forget_correlations_before(&mut self, cutoff: i64, limit: u32) -> Result<u64> {
        Ok(execute_cached(
            self.0,
            "DELETE FROM correlations WHERE (client_id, correlation_id) IN
                 (SELECT client_id, correlation_id FROM correlations WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)",
            params![cutoff, limit],
        )? as u64)
    }

    async fn forget_oldest_correlations(&mut self, count: u64) -> Result<u64> {
        Ok(execute_cached(
            self.0,
            "DELETE FROM correlations WHERE (client_id, correlation_id) IN
                 (SELECT client_id, correlation_id FROM correlations ORDER BY created_at LIMIT ?1)",
            [count as i64],
        )? as u64)
    }

    async fn correlations_kept(&mut self) -> Result<i64> {
        Ok(query_row_cached(
            self.0,
            "SELECT correlations FROM roster_state WHERE id = 1",
            [],
            |r| r.get(0),
        )?)
    }

    async fn count_correlations(&mut self, delta: i64) -> Result<()> {
        execute_cached(
            self.0,
            "UPDATE roster_state SET correlations = correlations + ?1 WHERE id = 1",
            [delta],
        )?;
        Ok(())
    }
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
        let (batches, customers) = mpsc::channel(4);
        let (generation_tx, generation_rx) = oneshot::channel();
        let permit = pool.permit().await;
        tokio::task::spawn_blocking(move || {
            if let Err(error) = pool.with(permit, |conn| scan_into(conn, generation_tx, &batches)) {
                let _ = batches.blocking_send(Err(error));
            }
        });
        CustomerScan::started(generation_rx, customers).await
    }

    async fn changes_since(&self, after: Generation, max_customers: u64) -> Result<Changes> {
        self.run(move |conn| {
            let tx = conn.transaction()?;
            let changes = now(write::changes_since(&mut Sql(&tx), after, max_customers))?;
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
            let mut changed = ChangedCustomers::default();
            let mut created = 0u64;
            {
                let mut insert = tx.prepare(&format!("{INSERT_CUSTOMER} ON CONFLICT (customer_id) DO NOTHING"))?;
                let mut update = tx.prepare(UPDATE_CUSTOMER)?;
                loop {
                    match records.blocking_recv() {
                        Some(ImportItem::Records(batch)) => {
                            for r in batch {
                                let values = customer_values!(r);
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
            let mut sql = Sql(&tx);
            let generation = now(sql.bump_generation())?;
            let customers = changed.customers();
            if write::logs_each(customers) {
                now(sql.log_changed(generation, &changed.ids.iter().cloned().collect::<Vec<_>>()))?;
            }
            now(write::close_generation(&mut sql, generation, customers, unix_now()))?;
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
                    Ok((r.get(0)?, r.get(1)?, r.get::<_, String>(2)?, r.get(3)?, r.get(4)?))
                })
                .optional()?;
            found
                .map(|(fingerprint, status, headers, body, created_at)| {
                    Ok(Remembered {
                        fingerprint,
                        answer: Answer {
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
                let outcomes = now(write::write_batch(&mut Sql(&tx), &writes, retention, unix_now()))?;
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
