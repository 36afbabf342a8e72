//! The PostgreSQL backend, for several `roster serve` instances behind a load
//! balancer: a pool of connections, migrations serialised by an advisory lock,
//! imports by binary COPY into a temporary table, then one upsert.
//!
//! Consistency mirrors the SQLite backend: the catalog is loaded from one
//! REPEATABLE READ snapshot, and a page (documents plus generation) is read
//! by one statement, so it sees one snapshot too.

use std::collections::HashMap;
use std::str::FromStr;

use anyhow::{Context, Result, anyhow, bail};
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use futures_util::TryStreamExt;
use tokio::sync::mpsc;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;
use tokio_postgres::{IsolationLevel, NoTls};

use super::{ImportItem, ImportOutcome, Store};
use crate::catalog::IndexBuilder;
use crate::domain::{ClientRecord, ResellerScope, Status};

const MIGRATIONS: &[(i64, &str, &str)] = &[(1, "initial", include_str!("migrations/0001_initial.sql"))];

/// Advisory lock keys (arbitrary, fixed): one for migrations, one for imports.
const MIGRATION_LOCK: i64 = 0x526f_7374_6572_0001;
const IMPORT_LOCK: i64 = 0x526f_7374_6572_0002;

const POOL_SIZE: usize = 16;

pub struct PostgresStore {
    pool: Pool,
}

impl PostgresStore {
    /// Connects and migrates. Safe when several instances start at once.
    pub async fn open(url: &str) -> Result<Self> {
        let config = tokio_postgres::Config::from_str(url).map_err(|e| anyhow!("--database {}: {e}", redact(url)))?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .context("building the PostgreSQL pool")?;
        let store = PostgresStore { pool };
        store
            .migrate()
            .await
            .with_context(|| format!("preparing PostgreSQL database {}", redact(url)))?;
        Ok(store)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.context("connecting to PostgreSQL")
    }

    async fn migrate(&self) -> Result<()> {
        let mut client = self.client().await?;
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
        for (version, name, sql) in MIGRATIONS.iter().filter(|(v, ..)| *v > applied) {
            tx.batch_execute(sql)
                .await
                .with_context(|| format!("applying migration {version} ({name})"))?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                &[version, name],
            )
            .await?;
        }
        tx.execute(
            "INSERT INTO roster_state (id, generation, token_key) VALUES (1, 0, $1) ON CONFLICT (id) DO NOTHING",
            &[&super::new_token_key().as_slice()],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

const CLIENT_COLUMNS: &str =
    "client_id, name, secret_hash, all_resellers, rate_limit, enabled, token_epoch, created_at";

async fn read_client(client: &impl tokio_postgres::GenericClient, row: &tokio_postgres::Row) -> Result<ClientRecord> {
    let client_id: String = row.get(0);
    let all_resellers: bool = row.get(3);
    let scope = if all_resellers {
        ResellerScope::All
    } else {
        let rows = client
            .query(
                "SELECT reseller_id FROM client_resellers WHERE client_id = $1",
                &[&client_id],
            )
            .await?;
        ResellerScope::Only(rows.iter().map(|r| r.get(0)).collect())
    };
    let rate_limit: Option<i32> = row.get(4);
    Ok(ClientRecord {
        client_id,
        name: row.get(1),
        secret_hash: row.get(2),
        scope,
        rate_limit: rate_limit.map(|r| r as u32),
        enabled: row.get(5),
        token_epoch: row.get(6),
        created_at: row.get(7),
    })
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn generation(&self) -> Result<i64> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached("SELECT generation FROM roster_state WHERE id = 1")
            .await?;
        Ok(client.query_one(&statement, &[]).await?.get(0))
    }

    async fn load_catalog(&self, mut builder: IndexBuilder) -> Result<(i64, IndexBuilder)> {
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let generation: i64 = tx
            .query_one("SELECT generation FROM roster_state WHERE id = 1", &[])
            .await?
            .get(0);
        let rows = tx
            .query_raw(
                "SELECT id, reseller_id, status, created_at, name_key, customer_id FROM customers",
                std::iter::empty::<i64>(),
            )
            .await?;
        let mut rows = std::pin::pin!(rows);
        while let Some(row) = rows.try_next().await? {
            let row_id: i64 = row.get(0);
            let status = Status::from_number(i64::from(row.get::<_, i16>(2)))
                .ok_or_else(|| anyhow!("customer row {row_id} has an unknown status"))?;
            builder.push(
                row_id,
                row.get::<_, &str>(1),
                status,
                row.get(3),
                row.get::<_, &str>(4),
                row.get::<_, &str>(5),
            );
        }
        tx.commit().await?;
        Ok((generation, builder))
    }

    async fn fetch_page(&self, expected: i64, rows: Vec<i64>, mut body: Vec<u8>) -> Result<Option<Vec<u8>>> {
        let client = self.client().await?;
        // One statement, one snapshot: the generation and the documents agree.
        let statement = client
            .prepare_cached(
                "SELECT s.generation, c.id, c.doc FROM roster_state s
                 LEFT JOIN customers c ON c.id = ANY($1) WHERE s.id = 1",
            )
            .await?;
        let found = client.query(&statement, &[&rows]).await?;
        let generation: i64 = found.first().ok_or_else(|| anyhow!("roster_state is empty"))?.get(0);
        if generation != expected {
            return Ok(None);
        }
        let docs: HashMap<i64, &str> = found
            .iter()
            .filter_map(|row| Some((row.get::<_, Option<i64>>(1)?, row.get::<_, &str>(2))))
            .collect();
        for (i, id) in rows.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            let doc = docs
                .get(id)
                .ok_or_else(|| anyhow!("customer row {id} vanished within generation {generation}"))?;
            body.extend_from_slice(doc.as_bytes());
        }
        Ok(Some(body))
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
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&IMPORT_LOCK]).await?;
        let count = "SELECT count(*) FROM customers";
        let rows_before: i64 = tx.query_one(count, &[]).await?.get(0);
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
        // A file may name a customer twice: the last record wins.
        tx.execute(
            "INSERT INTO customers (customer_id, reseller_id, status, created_at, name_key, doc)
             SELECT DISTINCT ON (customer_id) customer_id, reseller_id, status, created_at, name_key, doc
             FROM import_batch ORDER BY customer_id, seq DESC
             ON CONFLICT (customer_id) DO UPDATE SET
                 reseller_id = excluded.reseller_id, status = excluded.status,
                 created_at = excluded.created_at, name_key = excluded.name_key, doc = excluded.doc",
            &[],
        )
        .await?;
        let rows_after: i64 = tx.query_one(count, &[]).await?.get(0);
        tx.execute("UPDATE roster_state SET generation = generation + 1 WHERE id = 1", &[])
            .await?;
        tx.commit().await?;
        Ok(ImportOutcome::from_counts(
            imported as u64,
            rows_before as u64,
            rows_after as u64,
        ))
    }

    async fn insert_client(&self, record: &ClientRecord) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let rate_limit = record.rate_limit.map(|r| r as i32);
        tx.execute(
            &format!("INSERT INTO clients ({CLIENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"),
            &[
                &record.client_id,
                &record.name,
                &record.secret_hash,
                &(record.scope == ResellerScope::All),
                &rate_limit,
                &record.enabled,
                &record.token_epoch,
                &record.created_at,
            ],
        )
        .await?;
        if let ResellerScope::Only(ids) = &record.scope {
            for id in ids {
                tx.execute(
                    "INSERT INTO client_resellers (client_id, reseller_id) VALUES ($1, $2)",
                    &[&record.client_id, id],
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE client_id = $1"))
            .await?;
        match client.query_opt(&statement, &[&client_id]).await? {
            Some(row) => Ok(Some(read_client(&**client, &row).await?)),
            None => Ok(None),
        }
    }

    async fn clients(&self) -> Result<Vec<ClientRecord>> {
        let client = self.client().await?;
        let rows = client
            .query(&format!("SELECT {CLIENT_COLUMNS} FROM clients ORDER BY seq"), &[])
            .await?;
        let mut clients = Vec::with_capacity(rows.len());
        for row in &rows {
            clients.push(read_client(&**client, row).await?);
        }
        Ok(clients)
    }

    async fn disable_client(&self, client_id: &str) -> Result<bool> {
        let client = self.client().await?;
        Ok(client
            .execute(
                "UPDATE clients SET enabled = false, token_epoch = token_epoch + 1 WHERE client_id = $1",
                &[&client_id],
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

    async fn token_key(&self) -> Result<Vec<u8>> {
        let client = self.client().await?;
        Ok(client
            .query_one("SELECT token_key FROM roster_state WHERE id = 1", &[])
            .await?
            .get(0))
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://roster:s3cret@db.internal:5432/roster"),
            "postgres://roster:***@db.internal:5432/roster"
        );
        assert_eq!(redact("postgres://roster@db/roster"), "postgres://roster@db/roster");
        assert_eq!(redact("postgres://db/roster"), "postgres://db/roster");
    }
}
