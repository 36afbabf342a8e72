//! The embedded backend: one SQLite file in WAL mode, a small pool of
//! connections, and the server's mapped copy of the documents
//! ([`documents`]).
//!
//! WAL lets readers (the server) and the writer (`roster import` in another
//! process) work at once; each read runs in one transaction, so it sees one
//! snapshot, generation included.
//!
//! Pages come from the document copy while the marker file says no import
//! has committed since it was written. Otherwise (and at least once a
//! second) a page is read in one transaction, inline on the async thread:
//! about 20 µs of work on cached pages, well under what tokio tolerates
//! between awaits. Moving it to the blocking pool cost two thread switches
//! per request, a third of the server's CPU under load (see
//! docs/PERFORMANCE.md). Everything longer (catalog loads, imports, client
//! management) runs on the blocking pool.

mod documents;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tokio::sync::mpsc;

use self::documents::{Documents, DocumentsWriter, Marker};
use super::{ImportItem, ImportOutcome, Store};
use crate::catalog::IndexBuilder;
use crate::domain::{ClientRecord, ResellerScope, Status};

/// Versioned migrations, applied in order and recorded in `schema_migrations`.
const MIGRATIONS: &[(i64, &str, &str)] = &[(1, "initial", include_str!("migrations/0001_initial.sql"))];

/// Idle connections kept for reuse; more are opened under load and closed after.
const MAX_IDLE: usize = 8;

pub struct SqliteStore {
    pool: Arc<Pool>,
    marker: Arc<Marker>,
    /// The copy written by the last catalog load, if writing it succeeded.
    documents: Arc<RwLock<Option<Documents>>>,
}

struct Pool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Pool {
    fn take(&self) -> Result<Connection> {
        let idle = self.idle.lock().expect("pool lock").pop();
        match idle {
            Some(conn) => Ok(conn),
            None => connect(&self.path),
        }
    }

    /// Where the database file lives (and so its document copies).
    fn directory(&self) -> PathBuf {
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        }
    }

    fn give(&self, conn: Connection) {
        let mut idle = self.idle.lock().expect("pool lock");
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }
}

fn connect(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).with_context(|| format!("opening SQLite database {}", path.display()))?;
    conn.busy_timeout(Duration::from_secs(30))?;
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         PRAGMA cache_size = -8192;",
    )?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and migrates it.
    pub async fn open(path: PathBuf) -> Result<Self> {
        let marker = Arc::new(Marker::open(&path)?);
        let store = SqliteStore {
            pool: Arc::new(Pool {
                path,
                idle: Mutex::new(Vec::new()),
            }),
            marker,
            documents: Arc::new(RwLock::new(None)),
        };
        store.run(migrate).await?;
        Ok(store)
    }

    /// Runs a short read on a pooled connection, on the calling thread.
    fn run_inline<R>(&self, work: impl FnOnce(&mut Connection) -> Result<R>) -> Result<R> {
        let mut conn = self.pool.take()?;
        let outcome = work(&mut conn);
        self.pool.give(conn);
        outcome
    }

    /// Runs `work` on a pooled connection, off the async threads.
    async fn run<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.take()?;
            let outcome = work(&mut conn);
            pool.give(conn);
            outcome
        })
        .await?
    }
}

fn migrate(conn: &mut Connection) -> Result<()> {
    // WAL is a property of the file: set once, kept by every later connection.
    conn.pragma_update(None, "journal_mode", "WAL")?;
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
    for (version, name, sql) in MIGRATIONS.iter().filter(|(v, ..)| *v > applied) {
        tx.execute_batch(sql)
            .with_context(|| format!("applying migration {version} ({name})"))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, unixepoch())",
            params![version, name],
        )?;
    }
    tx.execute(
        "INSERT INTO roster_state (id, generation, token_key) VALUES (1, 0, ?1) ON CONFLICT (id) DO NOTHING",
        [super::new_token_key().as_slice()],
    )?;
    tx.commit()?;
    Ok(())
}

fn generation(conn: &Connection) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT generation FROM roster_state WHERE id = 1")?
        .query_row([], |r| r.get(0))?)
}

/// Appends the documents of `rows` to `body`; `false` if the data is not at
/// generation `expected` any more. Runs inside the caller's transaction.
fn read_page(conn: &Connection, expected: i64, rows: &[i64], body: &mut Vec<u8>) -> Result<bool> {
    if generation(conn)? != expected {
        return Ok(false);
    }
    let mut stmt = conn.prepare_cached("SELECT doc FROM customers WHERE id = ?1")?;
    for (i, id) in rows.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        stmt.query_row([id], |r| {
            body.extend_from_slice(r.get_ref(0)?.as_bytes()?);
            Ok(())
        })?;
    }
    Ok(true)
}

const CLIENT_COLUMNS: &str =
    "client_id, name, secret_hash, all_resellers, rate_limit, enabled, token_epoch, created_at";

fn read_client(conn: &Connection, row: &rusqlite::Row<'_>) -> Result<ClientRecord> {
    let client_id: String = row.get(0)?;
    let all_resellers: bool = row.get(3)?;
    let scope = if all_resellers {
        ResellerScope::All
    } else {
        let mut stmt = conn.prepare_cached("SELECT reseller_id FROM client_resellers WHERE client_id = ?1")?;
        let ids = stmt.query_map([&client_id], |r| r.get(0))?.collect::<Result<_, _>>()?;
        ResellerScope::Only(ids)
    };
    Ok(ClientRecord {
        client_id,
        name: row.get(1)?,
        secret_hash: row.get(2)?,
        scope,
        rate_limit: row.get(4)?,
        enabled: row.get(5)?,
        token_epoch: row.get(6)?,
        created_at: row.get(7)?,
    })
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn generation(&self) -> Result<i64> {
        self.run_inline(|conn| generation(conn))
    }

    async fn load_catalog(&self, mut builder: IndexBuilder) -> Result<(i64, IndexBuilder)> {
        let (marker, documents) = (self.marker.clone(), self.documents.clone());
        let dir = self.pool.directory();
        self.run(move |conn| {
            // Read before the snapshot begins: see `documents` for why.
            let marked = marker.read();
            let mut copy = DocumentsWriter::create(&dir, marked)
                .map_err(|error| tracing::warn!(error = format!("{error:#}"), "serving pages from SQLite only"))
                .ok();
            let tx = conn.transaction()?;
            let generation = generation(&tx)?;
            {
                let mut stmt = tx.prepare(
                    "SELECT id, reseller_id, status, created_at, name_key, customer_id, doc
                     FROM customers ORDER BY id",
                )?;
                let mut rows = stmt.query([])?;
                while let Some(row) = rows.next()? {
                    let row_id: i64 = row.get(0)?;
                    let status = Status::from_number(row.get(2)?)
                        .ok_or_else(|| anyhow!("customer row {row_id} has an unknown status"))?;
                    builder.push(
                        row_id,
                        row.get_ref(1)?.as_str()?,
                        status,
                        row.get(3)?,
                        row.get_ref(4)?.as_str()?,
                        row.get_ref(5)?.as_str()?,
                    );
                    if let Some(writer) = copy.as_mut()
                        && let Err(error) = writer.push(row_id, row.get_ref(6)?.as_bytes()?)
                    {
                        tracing::warn!(error = format!("{error:#}"), "serving pages from SQLite only");
                        copy = None;
                    }
                }
            }
            tx.commit()?;
            let copy = copy.and_then(|writer| {
                writer
                    .finish(generation)
                    .map_err(|error| tracing::warn!(error = format!("{error:#}"), "serving pages from SQLite only"))
                    .ok()
            });
            *documents.write().expect("documents lock") = copy;
            Ok((generation, builder))
        })
        .await
    }

    async fn fetch_page(&self, expected: i64, rows: Vec<i64>, mut body: Vec<u8>) -> Result<Option<Vec<u8>>> {
        // Read before any snapshot this request may begin.
        let marked = self.marker.read();
        {
            let documents = self.documents.read().expect("documents lock");
            if let Some(copy) = documents.as_ref()
                && copy.generation() == expected
                && copy.current(marked)
            {
                let head = body.len();
                if copy.append_page(&rows, &mut body) {
                    return Ok(Some(body));
                }
                body.truncate(head);
            }
        }
        self.run_inline(move |conn| {
            // One read transaction: one snapshot for the generation and the
            // documents. BEGIN and COMMIT are cached statements too, so a page
            // costs no SQL parsing at all.
            conn.prepare_cached("BEGIN")?.execute([])?;
            let outcome = read_page(conn, expected, &rows, &mut body);
            conn.prepare_cached("COMMIT")?.execute([])?;
            if !outcome? {
                return Ok(None);
            }
            // The database is still at `expected`: a copy of that generation
            // may serve again until the marker moves.
            if let Some(copy) = self.documents.read().expect("documents lock").as_ref()
                && copy.generation() == expected
            {
                copy.verified(marked);
            }
            Ok(Some(body))
        })
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
        let marker = self.marker.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = connect(&path)?;
            // A bigger page cache keeps a large import's B-tree pages in memory.
            conn.execute_batch("PRAGMA cache_size = -131072;")?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let count = |tx: &rusqlite::Transaction<'_>| -> Result<u64> {
                let count: i64 = tx.query_row("SELECT count(*) FROM customers", [], |r| r.get(0))?;
                Ok(count as u64)
            };
            let rows_before = count(&tx)?;
            let mut imported = 0u64;
            {
                let mut upsert = tx.prepare(
                    "INSERT INTO customers (customer_id, reseller_id, status, created_at, name_key, doc)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (customer_id) DO UPDATE SET
                         reseller_id = excluded.reseller_id, status = excluded.status,
                         created_at = excluded.created_at, name_key = excluded.name_key, doc = excluded.doc",
                )?;
                loop {
                    match records.blocking_recv() {
                        Some(ImportItem::Records(batch)) => {
                            for r in batch {
                                upsert.execute(params![
                                    r.customer_id,
                                    r.reseller_id,
                                    r.status.number(),
                                    r.created_at,
                                    r.name_key,
                                    r.doc
                                ])?;
                                imported += 1;
                            }
                        }
                        Some(ImportItem::End) => break,
                        // Dropping `tx` unfinished rolls everything back.
                        Some(ImportItem::Abort) | None => bail!("import aborted; nothing was written"),
                    }
                }
            }
            let rows_after = count(&tx)?;
            let generation: i64 = tx.query_row(
                "UPDATE roster_state SET generation = generation + 1 WHERE id = 1 RETURNING generation",
                [],
                |r| r.get(0),
            )?;
            tx.commit()?;
            // Servers serve their document copies until this moves. If it
            // fails, they still find the import within VERIFY_EVERY.
            if let Err(error) = marker.write(generation) {
                tracing::warn!(error = %error, "the import committed, but its marker could not be written");
            }
            Ok(ImportOutcome::from_counts(imported, rows_before, rows_after))
        })
        .await?
    }

    async fn insert_client(&self, client: &ClientRecord) -> Result<()> {
        let client = client.clone();
        self.run(move |conn| {
            let tx = conn.transaction()?;
            tx.execute(
                &format!("INSERT INTO clients ({CLIENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                params![
                    client.client_id,
                    client.name,
                    client.secret_hash,
                    client.scope == ResellerScope::All,
                    client.rate_limit,
                    client.enabled,
                    client.token_epoch,
                    client.created_at
                ],
            )?;
            if let ResellerScope::Only(ids) = &client.scope {
                let mut stmt = tx.prepare("INSERT INTO client_resellers (client_id, reseller_id) VALUES (?1, ?2)")?;
                for id in ids {
                    stmt.execute(params![client.client_id, id])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>> {
        let client_id = client_id.to_owned();
        self.run(move |conn| {
            let mut stmt =
                conn.prepare_cached(&format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE client_id = ?1"))?;
            let mut rows = stmt.query([client_id])?;
            rows.next()?.map(|row| read_client(conn, row)).transpose()
        })
        .await
    }

    async fn clients(&self) -> Result<Vec<ClientRecord>> {
        self.run(|conn| {
            let mut stmt = conn.prepare(&format!("SELECT {CLIENT_COLUMNS} FROM clients ORDER BY rowid"))?;
            let mut rows = stmt.query([])?;
            let mut clients = Vec::new();
            while let Some(row) = rows.next()? {
                clients.push(read_client(conn, row)?);
            }
            Ok(clients)
        })
        .await
    }

    async fn disable_client(&self, client_id: &str) -> Result<bool> {
        let client_id = client_id.to_owned();
        self.run(move |conn| {
            Ok(conn.execute(
                "UPDATE clients SET enabled = 0, token_epoch = token_epoch + 1 WHERE client_id = ?1",
                [client_id],
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

    async fn token_key(&self) -> Result<Vec<u8>> {
        self.run(|conn| {
            conn.query_row("SELECT token_key FROM roster_state WHERE id = 1", [], |r| r.get(0))
                .optional()?
                .ok_or_else(|| anyhow!("the database has no token key: migrations did not run"))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::domain::{CustomerRecord, ListQuery};

    async fn import(store: &SqliteStore, customers: &[(&str, &str)]) {
        let (sender, receiver) = mpsc::channel(2);
        let records = customers
            .iter()
            .map(|(id, name)| {
                CustomerRecord::from_json(serde_json::json!({
                    "customerId": id, "resellerId": "R1", "status": "1000",
                    "companyProfile": {"companyName": name}, "creationDate": "2026-01-01T00:00:00Z"
                }))
                .unwrap()
            })
            .collect();
        sender.send(ImportItem::Records(records)).await.unwrap();
        sender.send(ImportItem::End).await.unwrap();
        store.import(receiver).await.unwrap();
    }

    async fn names(catalog: &Catalog) -> Vec<String> {
        let body = catalog.page("R1", &ListQuery::default()).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        body["customers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["companyProfile"]["companyName"].as_str().unwrap().to_owned())
            .collect()
    }

    #[tokio::test]
    async fn a_commit_that_skipped_the_marker_is_served_within_a_second() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roster.db");
        let store = Arc::new(SqliteStore::open(path.clone()).await.unwrap());
        import(&store, &[("C1", "Before")]).await;
        let catalog = Catalog::load(store.clone()).await.unwrap();
        assert_eq!(names(&catalog).await, ["Before"]);

        // What an import killed between its commit and its marker write
        // leaves behind: new data, a new generation, the marker unmoved.
        let writer = connect(&path).unwrap();
        writer
            .execute_batch(
                "UPDATE customers SET doc = replace(doc, 'Before', 'After');
                 UPDATE roster_state SET generation = generation + 1;",
            )
            .unwrap();
        tokio::time::sleep(documents::VERIFY_EVERY + Duration::from_millis(50)).await;
        assert_eq!(names(&catalog).await, ["After"]);
    }

    #[tokio::test]
    async fn pages_come_from_the_copy_only_while_it_matches_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(dir.path().join("roster.db")).await.unwrap());
        import(&store, &[("C1", "One")]).await;
        let catalog = Catalog::load(store.clone()).await.unwrap();
        assert_eq!(names(&catalog).await, ["One"]);
        // The copy holds what the database held when the catalog loaded...
        let generation = store.generation().await.unwrap();
        {
            let documents = store.documents.read().unwrap();
            let copy = documents.as_ref().expect("a document copy");
            assert_eq!(copy.generation(), generation);
            assert!(copy.current(store.marker.read()));
        }
        // ...and an import moves the marker, so the next page is read again.
        import(&store, &[("C1", "Two")]).await;
        assert!(
            !store
                .documents
                .read()
                .unwrap()
                .as_ref()
                .unwrap()
                .current(store.marker.read())
        );
        assert_eq!(names(&catalog).await, ["Two"]);
        assert_eq!(
            store.documents.read().unwrap().as_ref().unwrap().generation(),
            generation + 1
        );
    }
}
