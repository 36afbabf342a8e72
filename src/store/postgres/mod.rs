//! The PostgreSQL backend, for several `roster serve` instances behind a load
//! balancer: a pool of connections, migrations serialised by an advisory lock,
//! imports by binary COPY into a temporary table, then one upsert.
//!
//! Reads that must agree with a generation (a scan, the change log) run in
//! one REPEATABLE READ transaction. Writers bump the generation with an
//! `UPDATE` of its one row as their last statement before the change log's
//! rows: the row lock makes writes commit one after the other, in
//! generation order, so a snapshot that sees generation `g` sees every
//! write up to `g` and none after.
//!
//! Each write also announces its generation with `NOTIFY` as it commits; a
//! serving instance listens on one connection of its own and applies the
//! write within milliseconds, instead of at its next poll of the change
//! log (which stays, for whatever a lost connection misses).

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use async_trait::async_trait;
use deadpool_postgres::Transaction;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use futures_util::TryStreamExt;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{AsyncMessage, GenericClient, IsolationLevel, NoTls, Row};

use super::migrations::{MIGRATIONS, pending};
use super::write;
use super::{
    CLIENT_COLUMNS, CUSTOMER_COLUMNS, Changes, ClientChange, ClientRow, Correlation, CustomerScan, CustomerWrite,
    Generation, ImportItem, ImportOutcome, Remembered, Retention, SCAN_BATCH, Store, WriteOutcome, customer_record,
    new_token_key, redacted, unix_now, with_scopes,
};
use crate::domain::intent::Answer;
use crate::domain::{ClientRecord, CustomerRecord, ResellerScope};
use crate::telemetry;

/// Advisory lock keys (arbitrary, fixed): one for migrations, one for
/// imports; a new customer's duplicate check locks its name (hashed) in
/// the second keyspace.
const MIGRATION_LOCK: i64 = 0x526f_7374_6572_0001;
const IMPORT_LOCK: i64 = 0x526f_7374_6572_0002;
const NAME_LOCKS: i32 = 0x526f_7374;

const POOL_SIZE: usize = 16;
/// Longest wait for a pooled connection, a new one, or a health check.
const POOL_TIMEOUT: Duration = Duration::from_secs(3);

/// How a write announces its generation: `pg_notify` in the write's
/// transaction, which PostgreSQL delivers when it commits, on the channel
/// serving instances listen to ([`LISTEN_FOR_WRITES`]).
const ANNOUNCE_WRITE: &str = "SELECT pg_notify('roster_writes', $1::BIGINT::TEXT)";
const LISTEN_FOR_WRITES: &str = "LISTEN roster_writes";

/// After the listening connection is lost, how long until it is tried
/// again (the follower's poll covers the gap).
const LISTEN_RETRY: Duration = Duration::from_secs(1);

pub struct PostgresStore {
    pool: Pool,
    config: tokio_postgres::Config,
    /// Started by the first [`Store::announced_writes`].
    announced: std::sync::OnceLock<watch::Receiver<Generation>>,
}

impl PostgresStore {
    /// Connects and migrates. Safe when several instances start at once.
    pub async fn open(url: &str) -> Result<Self> {
        let mut config =
            tokio_postgres::Config::from_str(url).map_err(|e| anyhow!("--database {}: {e}", redacted(url)))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(POOL_TIMEOUT);
        }
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        // Bounded waits: with the database down or unreachable, a request
        // fails within seconds (500 1124, the cause logged) instead of
        // holding its permit until the request timeout.
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(POOL_TIMEOUT))
            .create_timeout(Some(POOL_TIMEOUT))
            .recycle_timeout(Some(POOL_TIMEOUT))
            .build()
            .context("building the PostgreSQL pool")?;
        let store = PostgresStore {
            pool,
            config,
            announced: std::sync::OnceLock::new(),
        };
        store
            .migrate()
            .await
            .with_context(|| format!("preparing PostgreSQL database {}", redacted(url)))?;
        Ok(store)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool
            .get()
            .await
            .inspect_err(|_| telemetry::dependency_error("database"))
            .map_err(|error| match error {
                // The server's or the socket's own words, without deadpool's
                // "Error occurred while creating a new object" before them.
                deadpool_postgres::PoolError::Backend(error) => anyhow::Error::new(error),
                other => anyhow::Error::new(other),
            })
            .context("connecting to PostgreSQL")
    }

    async fn migrate(&self) -> Result<()> {
        let mut client = self.client().await?;
        // Nearly every start finds the schema current (every `roster
        // import` opens the store): one statement says so, without the lock
        // and the statements below. A database without the table answers
        // an error here, and is migrated.
        if let Ok(rows) = client
            .query_typed("SELECT coalesce(max(version), 0) FROM schema_migrations", &[])
            .await
            && let Some(row) = rows.first()
            && pending(MIGRATIONS, row.get(0)).next().is_none()
        {
            return Ok(());
        }
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    BIGINT PRIMARY KEY,
                 name       TEXT   NOT NULL,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )
        .await?;
        let applied: i64 = tx
            .query_one("SELECT coalesce(max(version), 0) FROM schema_migrations", &[])
            .await?
            .get(0);
        for migration in pending(MIGRATIONS, applied) {
            tx.batch_execute(migration.postgres)
                .await
                .with_context(|| format!("applying migration {} ({})", migration.version, migration.name))?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                &[&migration.version, &migration.name],
            )
            .await?;
        }
        tx.execute(
            "INSERT INTO roster_state (id, generation, token_key) VALUES (1, 0, $1) ON CONFLICT (id) DO NOTHING",
            &[&new_token_key().as_slice()],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// A [`CustomerRecord`] from [`CUSTOMER_COLUMNS`] starting at column `offset`.
fn customer_row(row: &Row, offset: usize) -> Result<CustomerRecord> {
    customer_record(
        row.try_get(offset)?,
        row.try_get(offset + 1)?,
        i64::from(row.try_get::<_, i16>(offset + 2)?),
        row.try_get(offset + 3)?,
        row.try_get(offset + 4)?,
        row.try_get(offset + 5)?,
    )
}

/// Starts the REPEATABLE READ, read-only transaction every consistent read uses.
async fn snapshot(client: &mut deadpool_postgres::Object) -> Result<Transaction<'_>> {
    Ok(client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?)
}

/// Streams every customer of one snapshot to `batches`; the snapshot's
/// generation goes to `generation_of_scan` first.
async fn scan_into(
    client: &mut deadpool_postgres::Object,
    generation_of_scan: oneshot::Sender<Generation>,
    batches: &mpsc::Sender<Result<Vec<CustomerRecord>>>,
) -> Result<()> {
    let tx = snapshot(client).await?;
    let generation: Generation = tx
        .query_one("SELECT generation FROM roster_state WHERE id = 1", &[])
        .await?
        .get(0);
    let _ = generation_of_scan.send(generation);
    let rows = tx
        .query_raw(
            &format!("SELECT {CUSTOMER_COLUMNS} FROM customers c ORDER BY c.id"),
            std::iter::empty::<i64>(),
        )
        .await?;
    let mut rows = std::pin::pin!(rows);
    let mut batch = Vec::with_capacity(SCAN_BATCH);
    while let Some(row) = rows.try_next().await? {
        batch.push(customer_row(&row, 0)?);
        if batch.len() == SCAN_BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(SCAN_BATCH));
            if batches.send(Ok(full)).await.is_err() {
                return Ok(());
            }
        }
    }
    if !batch.is_empty() {
        let _ = batches.send(Ok(batch)).await;
    }
    tx.commit().await?;
    Ok(())
}

/// Hears the generations writes announce until no follower is left,
/// listening again after a lost connection. A failure is logged when it
/// starts and the recovery once: meanwhile followers poll as before.
async fn listen_for_writes(config: tokio_postgres::Config, announced: watch::Sender<Generation>) {
    let mut failing = false;
    while !announced.is_closed() {
        if let Err(error) = listen_once(&config, &announced, &mut failing).await
            && !std::mem::replace(&mut failing, true)
        {
            tracing::warn!(
                error = format!("{error:#}"),
                "listening for writes failed; following the change log by polling, retrying"
            );
        }
        tokio::time::sleep(LISTEN_RETRY).await;
    }
}

/// Raises the announced generation to `generation` (followers wake only
/// for a newer one).
fn announce(announced: &watch::Sender<Generation>, generation: Generation) {
    announced.send_if_modified(|newest| std::mem::replace(newest, generation.max(*newest)) < generation);
}

/// One listening connection, until it is lost or no follower is left.
async fn listen_once(
    config: &tokio_postgres::Config,
    announced: &watch::Sender<Generation>,
    failing: &mut bool,
) -> Result<()> {
    let (client, mut connection) = config.connect(NoTls).await?;
    // The connection delivers notifications only while it is polled.
    let mut driver = tokio::spawn({
        let announced = announced.clone();
        async move {
            while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                if let AsyncMessage::Notification(notice) = message?
                    && let Ok(generation) = notice.payload().parse()
                {
                    announce(&announced, generation);
                }
            }
            Ok::<_, tokio_postgres::Error>(())
        }
    });
    client.batch_execute(LISTEN_FOR_WRITES).await?;
    if std::mem::take(failing) {
        tracing::info!("listening for writes again");
    }
    // Writes committed before the LISTEN took effect were announced to no
    // one: the generation read after it covers them.
    let current: Generation = client
        .query_one("SELECT generation FROM roster_state WHERE id = 1", &[])
        .await?
        .get(0);
    announce(announced, current);
    tokio::select! {
        ended = &mut driver => {
            ended??;
            Err(anyhow!("the listening connection closed"))
        }
        () = announced.closed() => {
            driver.abort();
            Ok(())
        }
    }
}

/// Statements prepared once per pooled connection (deadpool's cache)
/// rather than parsed and planned on every call: the write path and the
/// change-log follower run theirs on every write (docs/PERFORMANCE.md,
/// "Writes through the API").
trait Cached {
    async fn execute_cached(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64>;
    async fn query_cached(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>>;
    async fn query_one_cached(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row>;
    async fn query_opt_cached(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>>;
}

impl Cached for Transaction<'_> {
    async fn execute_cached(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        Ok(self.execute(&self.prepare_cached(sql).await?, params).await?)
    }

    async fn query_cached(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        Ok(self.query(&self.prepare_cached(sql).await?, params).await?)
    }

    async fn query_one_cached(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row> {
        Ok(self.query_one(&self.prepare_cached(sql).await?, params).await?)
    }

    async fn query_opt_cached(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>> {
        Ok(self.query_opt(&self.prepare_cached(sql).await?, params).await?)
    }
}

/// Locks the generation row, before any customer's. Every transaction
/// that writes customers takes it, and takes it first: a group of writes
/// that locked a customer before the generation row could meet another
/// instance's group holding that row and waiting for the same customer, a
/// deadlock that PostgreSQL breaks after a second by failing one of them
/// (a 500). Taken first, it makes the other groups wait their turn.
async fn lock_generation(tx: &Transaction<'_>) -> Result<()> {
    tx.execute_cached("SELECT 1 FROM roster_state WHERE id = 1 FOR UPDATE", &[])
        .await?;
    Ok(())
}

/// Reads clients (`filter` is a WHERE clause on `clients`, or empty) with
/// their scopes, in creation order.
async fn read_clients(
    client: &impl GenericClient,
    filter: &str,
    args: &[&(dyn ToSql + Sync)],
) -> Result<Vec<ClientRecord>> {
    let scopes = client
        .query(
            &format!(
                "SELECT client_id, reseller_id FROM client_resellers
                 WHERE client_id IN (SELECT client_id FROM clients {filter})"
            ),
            args,
        )
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let rows = client
        .query(
            &format!("SELECT {CLIENT_COLUMNS} FROM clients {filter} ORDER BY seq"),
            args,
        )
        .await?
        .iter()
        .map(|row| ClientRow {
            client_id: row.get(0),
            name: row.get(1),
            secret_hash: row.get(2),
            all_resellers: row.get(3),
            rate_limit: row.get::<_, Option<i32>>(4).map(|r| r as u32),
            enabled: row.get(5),
            token_epoch: row.get(6),
            created_at: row.get(7),
            api_version: row.get(8),
        })
        .collect();
    with_scopes(rows, scopes)
}

/// A rate limit as the `INTEGER` column holds it.
fn stored_rate(rate: u32) -> Result<i32> {
    i32::try_from(rate).map_err(|_| anyhow!("a rate limit must be at most {}", i32::MAX))
}

/// Replaces a client's explicit reseller ids with `scope`'s.
async fn write_scope(tx: &Transaction<'_>, client_id: &str, scope: &ResellerScope) -> Result<()> {
    tx.execute("DELETE FROM client_resellers WHERE client_id = $1", &[&client_id])
        .await?;
    if let ResellerScope::Only(ids) = scope {
        let ids: Vec<&String> = ids.iter().collect();
        tx.execute(
            "INSERT INTO client_resellers (client_id, reseller_id) SELECT $1, unnest($2::TEXT[])",
            &[&client_id, &ids],
        )
        .await?;
    }
    Ok(())
}

/// The write protocol's queries (`super::write`) on one PostgreSQL
/// transaction. Rows a write reads are locked (`FOR UPDATE`, a name's
/// advisory lock) so that another instance's write waits for this one.
struct Sql<'t, 'c>(&'t Transaction<'c>);

impl write::Transaction for Sql<'_, '_> {
    async fn savepoint(&mut self) -> Result<()> {
        Ok(self.0.batch_execute("SAVEPOINT write").await?)
    }

    async fn release_savepoint(&mut self) -> Result<()> {
        Ok(self.0.batch_execute("RELEASE write").await?)
    }

    async fn roll_back_to_savepoint(&mut self) -> Result<()> {
        Ok(self.0.batch_execute("ROLLBACK TO write; RELEASE write").await?)
    }

    async fn customer(&mut self, customer_id: &str) -> Result<Option<CustomerRecord>> {
        let row = self
            .0
            .query_opt_cached(
                &format!("SELECT {CUSTOMER_COLUMNS} FROM customers c WHERE c.customer_id = $1 FOR UPDATE"),
                &[&customer_id],
            )
            .await?;
        row.map(|row| customer_row(&row, 0)).transpose()
    }

    async fn namesakes(&mut self, reseller_id: &str, name_key: &str) -> Result<Vec<CustomerRecord>> {
        // Two instances creating the same name at once: one waits.
        self.0
            .execute_cached(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                &[&NAME_LOCKS, &format!("{reseller_id}\u{1f}{name_key}")],
            )
            .await?;
        let rows = self
            .0
            .query_cached(
                &format!("SELECT {CUSTOMER_COLUMNS} FROM customers c WHERE c.reseller_id = $1 AND c.name_key = $2"),
                &[&reseller_id, &name_key],
            )
            .await?;
        rows.iter().map(|row| customer_row(row, 0)).collect()
    }

    async fn id_taken(&mut self, customer_id: &str) -> Result<bool> {
        let taken = self
            .0
            .query_opt_cached("SELECT 1 FROM customers WHERE customer_id = $1", &[&customer_id])
            .await?;
        Ok(taken.is_some())
    }

    async fn insert_customer(&mut self, record: &CustomerRecord) -> Result<()> {
        self.0
            .execute_cached(
                "INSERT INTO customers (customer_id, reseller_id, status, created_at, name_key, doc)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &customer_values(record, &(record.status.number() as i16)),
            )
            .await?;
        Ok(())
    }

    async fn update_customer(&mut self, record: &CustomerRecord) -> Result<()> {
        self.0
            .execute_cached(
                "UPDATE customers SET reseller_id = $2, status = $3, created_at = $4, name_key = $5, doc = $6
                 WHERE customer_id = $1",
                &customer_values(record, &(record.status.number() as i16)),
            )
            .await?;
        Ok(())
    }

    async fn bump_generation(&mut self) -> Result<Generation> {
        // The generation row is already locked (`lock_generation`).
        Ok(self
            .0
            .query_one_cached(
                "UPDATE roster_state SET generation = generation + 1 WHERE id = 1 RETURNING generation",
                &[],
            )
            .await?
            .get(0))
    }

    async fn insert_generation(&mut self, generation: Generation, at: i64, changed: u64, logged: bool) -> Result<()> {
        self.0
            .execute_cached(
                "INSERT INTO generations (generation, committed_at, changed, logged) VALUES ($1, $2, $3, $4)",
                &[&generation, &at, &(changed as i64), &logged],
            )
            .await?;
        Ok(())
    }

    async fn log_changed(&mut self, generation: Generation, customer_ids: &[String]) -> Result<()> {
        self.0
            .execute_cached(
                "INSERT INTO customer_changes (generation, customer_id) SELECT $1::BIGINT, unnest($2::TEXT[])",
                &[&generation, &customer_ids],
            )
            .await?;
        Ok(())
    }

    async fn announce(&mut self, generation: Generation) -> Result<()> {
        self.0.execute_cached(ANNOUNCE_WRITE, &[&generation]).await?;
        Ok(())
    }

    async fn oldest_generations(&mut self, limit: u32) -> Result<Vec<(Generation, i64)>> {
        let rows = self
            .0
            .query_cached(
                "SELECT generation, committed_at FROM generations ORDER BY generation LIMIT $1",
                &[&i64::from(limit)],
            )
            .await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    async fn forget_generations_through(&mut self, generation: Generation) -> Result<()> {
        self.0
            .execute_cached("DELETE FROM customer_changes WHERE generation <= $1", &[&generation])
            .await?;
        self.0
            .execute_cached("DELETE FROM generations WHERE generation <= $1", &[&generation])
            .await?;
        self.0
            .execute_cached(
                "UPDATE roster_state SET log_start = greatest(log_start, $1) WHERE id = 1",
                &[&generation],
            )
            .await?;
        Ok(())
    }

    async fn log_bounds(&mut self) -> Result<(Generation, Generation)> {
        let row = self
            .0
            .query_one_cached("SELECT generation, log_start FROM roster_state WHERE id = 1", &[])
            .await?;
        Ok((row.get(0), row.get(1)))
    }

    async fn log_totals(&mut self, after: Generation) -> Result<(u64, bool)> {
        let row = self
            .0
            .query_one_cached(
                "SELECT coalesce(sum(changed), 0)::BIGINT, coalesce(bool_and(logged), true) FROM generations
                 WHERE generation > $1",
                &[&after],
            )
            .await?;
        Ok((row.get::<_, i64>(0) as u64, row.get(1)))
    }

    async fn logged_since(&mut self, after: Generation) -> Result<Vec<(String, Option<CustomerRecord>)>> {
        let rows = self
            .0
            .query_cached(
                &format!(
                    "SELECT ch.customer_id, c.id IS NOT NULL, {CUSTOMER_COLUMNS}
                     FROM (SELECT DISTINCT customer_id FROM customer_changes WHERE generation > $1) ch
                     LEFT JOIN customers c ON c.customer_id = ch.customer_id"
                ),
                &[&after],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let record = match row.get(1) {
                    true => Some(customer_row(row, 2)?),
                    false => None,
                };
                Ok((row.get(0), record))
            })
            .collect()
    }

    async fn forget_correlation_before(&mut self, correlation: &Correlation, cutoff: i64) -> Result<bool> {
        let forgotten = self
            .0
            .execute_cached(
                "DELETE FROM correlations WHERE client_id = $1 AND correlation_id = $2 AND created_at < $3",
                &[&correlation.client_id, &correlation.correlation_id, &cutoff],
            )
            .await?;
        Ok(forgotten > 0)
    }

    async fn correlation_known(&mut self, correlation: &Correlation) -> Result<bool> {
        let known = self
            .0
            .query_opt_cached(
                "SELECT 1 FROM correlations WHERE client_id = $1 AND correlation_id = $2",
                &[&correlation.client_id, &correlation.correlation_id],
            )
            .await?;
        Ok(known.is_some())
    }

    async fn remember(&mut self, correlation: &Correlation, answer: &Answer, now: i64) -> Result<bool> {
        let headers = serde_json::to_string(&answer.headers)?;
        let inserted = self
            .0
            .execute_cached(
                "INSERT INTO correlations (client_id, correlation_id, fingerprint, status, headers, body, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                &[
                    &correlation.client_id,
                    &correlation.correlation_id,
                    &correlation.fingerprint,
                    &i32::from(answer.status),
                    &headers,
                    &answer.body,
                    &now,
                ],
            )
            .await?;
        Ok(inserted > 0)
    }

    async fn forget_correlations_before(&mut self, cutoff: i64, limit: u32) -> Result<u64> {
        self.0
            .execute_cached(
                "DELETE FROM correlations WHERE (client_id, correlation_id) IN
                     (SELECT client_id, correlation_id FROM correlations WHERE created_at < $1
                      ORDER BY created_at LIMIT $2)",
                &[&cutoff, &i64::from(limit)],
            )
            .await
    }

    async fn forget_oldest_correlations(&mut self, count: u64) -> Result<u64> {
        self.0
            .execute_cached(
                "DELETE FROM correlations WHERE (client_id, correlation_id) IN
                     (SELECT client_id, correlation_id FROM correlations ORDER BY created_at LIMIT $1)",
                &[&(count as i64)],
            )
            .await
    }

    async fn correlations_kept(&mut self) -> Result<i64> {
        Ok(self
            .0
            .query_one_cached("SELECT correlations FROM roster_state WHERE id = 1", &[])
            .await?
            .get(0))
    }

    async fn count_correlations(&mut self, delta: i64) -> Result<()> {
        self.0
            .execute_cached(
                "UPDATE roster_state SET correlations = correlations + $1 WHERE id = 1",
                &[&delta],
            )
            .await?;
        Ok(())
    }
}

/// A customer's values in the order of the statements above; `status` is
/// the record's as the `SMALLINT` column holds it.
fn customer_values<'a>(record: &'a CustomerRecord, status: &'a i16) -> [&'a (dyn ToSql + Sync); 6] {
    [
        &record.customer_id,
        &record.reseller_id,
        status,
        &record.created_at,
        &record.name_key,
        &record.doc,
    ]
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn local_directory(&self) -> Option<PathBuf> {
        None
    }

    fn announced_writes(&self) -> Option<watch::Receiver<Generation>> {
        let receiver = self.announced.get_or_init(|| {
            let (announced, receiver) = watch::channel(0);
            tokio::spawn(listen_for_writes(self.config.clone(), announced));
            receiver
        });
        Some(receiver.clone())
    }

    async fn generation(&self) -> Result<Generation> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached("SELECT generation FROM roster_state WHERE id = 1")
            .await?;
        Ok(client.query_one(&statement, &[]).await?.get(0))
    }

    async fn scan(&self) -> Result<CustomerScan> {
        let mut client = self.client().await?;
        let (batches, customers) = mpsc::channel(4);
        let (generation_tx, generation_rx) = oneshot::channel();
        tokio::spawn(async move {
            if let Err(error) = scan_into(&mut client, generation_tx, &batches).await {
                let _ = batches.send(Err(error)).await;
            }
        });
        CustomerScan::started(generation_rx, customers).await
    }

    async fn changes_since(&self, after: Generation, max_customers: u64) -> Result<Changes> {
        let mut client = self.client().await?;
        let tx = snapshot(&mut client).await?;
        let changes = write::changes_since(&mut Sql(&tx), after, max_customers).await?;
        tx.commit().await?;
        Ok(changes)
    }

    async fn reseller_in_any_scope(&self, reseller_id: &str) -> Result<bool> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM client_resellers WHERE reseller_id = $1)")
            .await?;
        Ok(client.query_one(&statement, &[&reseller_id]).await?.get(0))
    }

    async fn import(&self, mut records: mpsc::Receiver<ImportItem>) -> Result<ImportOutcome> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // One import at a time, so the created/updated counts are its own.
        // Statements here run unprepared (`query_typed`, `batch_execute`):
        // the import's connection is new, and preparing each first would
        // double its round trips (docs/PERFORMANCE.md, "What one `roster
        // import` costs").
        tx.query_typed("SELECT pg_advisory_xact_lock($1)", &[(&IMPORT_LOCK, Type::INT8)])
            .await?;
        tx.batch_execute(
            "CREATE TEMPORARY TABLE import_batch (
                 seq BIGINT, customer_id TEXT, reseller_id TEXT, status SMALLINT,
                 created_at BIGINT, name_key TEXT, doc TEXT
             ) ON COMMIT DROP",
        )
        .await?;
        let sink = tx.copy_in("COPY import_batch FROM STDIN (FORMAT binary)").await?;
        let types = [
            Type::INT8,
            Type::TEXT,
            Type::TEXT,
            Type::INT2,
            Type::INT8,
            Type::TEXT,
            Type::TEXT,
        ];
        let mut writer = std::pin::pin!(BinaryCopyInWriter::new(sink, &types));
        let mut imported: i64 = 0;
        loop {
            match records.recv().await {
                Some(ImportItem::Records(batch)) => {
                    for r in batch {
                        imported += 1;
                        let status = r.status.number() as i16;
                        writer
                            .as_mut()
                            .write(&[
                                &imported,
                                &r.customer_id,
                                &r.reseller_id,
                                &status,
                                &r.created_at,
                                &r.name_key,
                                &r.doc,
                            ])
                            .await?;
                    }
                }
                Some(ImportItem::End) => break,
                // Dropping the transaction unfinished rolls everything back.
                Some(ImportItem::Abort) | None => bail!("import aborted; nothing was written"),
            }
        }
        writer.as_mut().finish().await?;
        let counts = tx
            .query_typed(
                "SELECT count(*), count(*) FILTER (WHERE NOT EXISTS
                     (SELECT 1 FROM customers c WHERE c.customer_id = b.customer_id))
                 FROM (SELECT DISTINCT customer_id FROM import_batch) b",
                &[],
            )
            .await?;
        let counts = counts.first().context("the import's counts")?;
        let (distinct, created): (i64, i64) = (counts.get(0), counts.get(1));
        // The file is staged; from here to the commit, writes through the
        // API wait (see `lock_generation`).
        lock_generation(&tx).await?;
        // A file may name a customer twice: the last record wins.
        tx.batch_execute(
            "INSERT INTO customers (customer_id, reseller_id, status, created_at, name_key, doc)
             SELECT DISTINCT ON (customer_id) customer_id, reseller_id, status, created_at, name_key, doc
             FROM import_batch ORDER BY customer_id, seq DESC
             ON CONFLICT (customer_id) DO UPDATE SET
                 reseller_id = excluded.reseller_id, status = excluded.status,
                 created_at = excluded.created_at, name_key = excluded.name_key, doc = excluded.doc",
        )
        .await?;
        let generation: Generation = tx
            .query_typed(
                "UPDATE roster_state SET generation = generation + 1 WHERE id = 1 RETURNING generation",
                &[],
            )
            .await?
            .first()
            .context("the generation row")?
            .get(0);
        if write::logs_each(distinct as u64) {
            tx.batch_execute(&format!(
                "INSERT INTO customer_changes (generation, customer_id)
                 SELECT DISTINCT {generation}::BIGINT, customer_id FROM import_batch"
            ))
            .await?;
        }
        write::close_generation(&mut Sql(&tx), generation, distinct as u64, unix_now()).await?;
        tx.commit().await?;
        Ok(ImportOutcome {
            records: imported as u64,
            created: created as u64,
            updated: (imported - created) as u64,
            generation,
        })
    }

    async fn insert_client(&self, record: &ClientRecord) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let rate_limit = record.rate_limit.map(stored_rate).transpose()?;
        tx.execute(
            &format!("INSERT INTO clients ({CLIENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"),
            &[
                &record.client_id,
                &record.name,
                &record.secret_hash,
                &(record.scope == ResellerScope::All),
                &rate_limit,
                &record.enabled,
                &record.token_epoch,
                &record.created_at,
                &record.api_version.as_str(),
            ],
        )
        .await?;
        write_scope(&tx, &record.client_id, &record.scope).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>> {
        let client = self.client().await?;
        Ok(read_clients(&**client, "WHERE client_id = $1", &[&client_id])
            .await?
            .pop())
    }

    async fn clients(&self) -> Result<Vec<ClientRecord>> {
        let client = self.client().await?;
        read_clients(&**client, "", &[]).await
    }

    async fn set_client_enabled(&self, client_id: &str, enabled: bool) -> Result<bool> {
        let client = self.client().await?;
        Ok(client
            .execute(
                "UPDATE clients SET enabled = $2, token_epoch = token_epoch + CASE WHEN $2 THEN 0 ELSE 1 END \
                 WHERE client_id = $1",
                &[&client_id, &enabled],
            )
            .await?
            > 0)
    }

    async fn replace_secret(&self, client_id: &str, secret_hash: &str) -> Result<bool> {
        let client = self.client().await?;
        Ok(client
            .execute(
                "UPDATE clients SET secret_hash = $2, token_epoch = token_epoch + 1 WHERE client_id = $1",
                &[&client_id, &secret_hash],
            )
            .await?
            > 0)
    }

    async fn ping(&self) -> Result<()> {
        self.client().await?.simple_query("SELECT 1").await?;
        Ok(())
    }

    async fn token_key(&self) -> Result<Vec<u8>> {
        let client = self.client().await?;
        Ok(client
            .query_one("SELECT token_key FROM roster_state WHERE id = 1", &[])
            .await?
            .get(0))
    }

    async fn update_client(&self, client_id: &str, change: &ClientChange) -> Result<Option<ClientRecord>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let exists = tx
            .query_opt("SELECT 1 FROM clients WHERE client_id = $1 FOR UPDATE", &[&client_id])
            .await?;
        if exists.is_none() {
            return Ok(None);
        }
        if let Some(version) = change.api_version {
            tx.execute(
                "UPDATE clients SET api_version = $2 WHERE client_id = $1",
                &[&client_id, &version.as_str()],
            )
            .await?;
        }
        if let Some(rate_limit) = change.rate_limit {
            tx.execute(
                "UPDATE clients SET rate_limit = $2 WHERE client_id = $1",
                &[&client_id, &stored_rate(rate_limit)?],
            )
            .await?;
        }
        if let Some(scope) = &change.scope {
            tx.execute(
                "UPDATE clients SET all_resellers = $2 WHERE client_id = $1",
                &[&client_id, &(*scope == ResellerScope::All)],
            )
            .await?;
            write_scope(&tx, client_id, scope).await?;
        }
        let updated = read_clients(&*tx, "WHERE client_id = $1", &[&client_id]).await?.pop();
        tx.commit().await?;
        Ok(updated)
    }

    async fn remembered(&self, client_id: &str, correlation_id: &str) -> Result<Option<Remembered>> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT fingerprint, status, headers, body, created_at FROM correlations
                 WHERE client_id = $1 AND correlation_id = $2",
            )
            .await?;
        let Some(row) = client.query_opt(&statement, &[&client_id, &correlation_id]).await? else {
            return Ok(None);
        };
        Ok(Some(Remembered {
            fingerprint: row.get(0),
            answer: Answer {
                status: u16::try_from(row.get::<_, i32>(1))?,
                headers: serde_json::from_str(row.get(2))?,
                body: row.get(3),
            },
            created_at: row.get(4),
        }))
    }

    async fn write(&self, writes: Vec<CustomerWrite>, retention: Retention) -> Result<Vec<Result<WriteOutcome>>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_generation(&tx).await?;
        let outcomes = write::write_batch(&mut Sql(&tx), &writes, retention, unix_now()).await?;
        tx.commit().await?;
        Ok(outcomes)
    }
}
