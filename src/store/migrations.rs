//! Versioned schema migrations: one list for both backends, each step with
//! its SQL for each (`sqlite/migrations/`, `postgres/migrations/`, the same
//! file name in both). A backend records the versions it applied in
//! `schema_migrations` and applies the [`pending`] ones in order at start,
//! in one transaction.

/// One schema change, applied once.
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

/// A [`Migration`] whose SQL is the file of this name in each backend's
/// `migrations/` folder.
macro_rules! migration {
    ($version:literal, $name:literal, $file:literal) => {
        Migration {
            version: $version,
            name: $name,
            sqlite: include_str!(concat!("sqlite/migrations/", $file)),
            postgres: include_str!(concat!("postgres/migrations/", $file)),
        }
    };
}

/// Every migration, in ascending version order.
pub const MIGRATIONS: &[Migration] = &[
    migration!(1, "initial", "0001_initial.sql"),
    migration!(2, "change log", "0002_change_log.sql"),
    migration!(3, "customer writes", "0003_customer_writes.sql"),
];

/// The migrations of `all` (in ascending version order) not yet applied to
/// a database whose highest applied version is `applied`.
pub fn pending(all: &'static [Migration], applied: i64) -> impl Iterator<Item = &'static Migration> {
    debug_assert!(all.windows(2).all(|pair| pair[0].version < pair[1].version));
    all.iter().filter(move |migration| migration.version > applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_versions_above_the_applied_one_are_pending() {
        let names = |applied| pending(MIGRATIONS, applied).map(|m| m.version).collect::<Vec<_>>();
        assert_eq!(names(0), [1, 2, 3]);
        assert_eq!(names(2), [3]);
        assert!(names(3).is_empty());
    }

    /// Both backends make the same changes at each step: the same tables
    /// with the same columns, the same indexes and added columns (their
    /// types are each database's own).
    #[test]
    fn both_backends_make_the_same_schema_changes() {
        // SQLite keeps the creation order of clients in its rowid.
        const POSTGRES_ONLY: &[&str] = &["column clients.seq"];
        for migration in MIGRATIONS {
            let mut postgres = schema_changes(migration.postgres);
            postgres.retain(|change| !POSTGRES_ONLY.contains(&change.as_str()));
            assert_eq!(
                schema_changes(migration.sqlite),
                postgres,
                "migration {} ({})",
                migration.version,
                migration.name
            );
        }
    }

    /// What a migration's SQL creates or adds, named without types: `table
    /// t`, `column t.c`, `index i on t (c, …)`, `add t.c`.
    fn schema_changes(sql: &str) -> Vec<String> {
        let mut changes = Vec::new();
        let mut table: Option<String> = None;
        for line in sql.lines() {
            let line = line.split("--").next().unwrap_or_default().trim();
            let words: Vec<&str> = line.split_whitespace().collect();
            match (words.as_slice(), &table) {
                (["CREATE", "TABLE", name, ..], _) => {
                    changes.push(format!("table {name}"));
                    table = Some((*name).to_owned());
                }
                ([first, ..], Some(_)) if first.starts_with(')') => table = None,
                (["PRIMARY" | "UNIQUE" | "CHECK", ..], Some(t)) => changes.push(format!("{t}: {}", words.join(" "))),
                ([column, ..], Some(t)) => changes.push(format!("column {t}.{column}")),
                (["CREATE", "INDEX" | "UNIQUE", ..], None) => changes.push(
                    line.trim_end_matches(';')
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                (["ALTER", "TABLE", t, "ADD", "COLUMN", column, ..], None) => changes.push(format!("add {t}.{column}")),
                _ => {}
            }
        }
        changes
    }
}
