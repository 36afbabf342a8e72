//! Versioned schema migrations, shared by the backends: each backend lists
//! its SQL files, records the versions it applied in `schema_migrations`,
//! and applies the [`pending`] ones in order at start, in one transaction.
//!
//! Depends on nothing else in Roster.

/// One schema change, applied once.
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// The migrations of `all` (in ascending version order) not yet applied to
/// a database whose highest applied version is `applied`.
pub fn pending(all: &'static [Migration], applied: i64) -> impl Iterator<Item = &'static Migration> {
    debug_assert!(all.windows(2).all(|pair| pair[0].version < pair[1].version));
    all.iter().filter(move |migration| migration.version > applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    static ALL: [Migration; 3] = [
        Migration {
            version: 1,
            name: "a",
            sql: "",
        },
        Migration {
            version: 2,
            name: "b",
            sql: "",
        },
        Migration {
            version: 3,
            name: "c",
            sql: "",
        },
    ];

    #[test]
    fn only_versions_above_the_applied_one_are_pending() {
        let names = |applied| pending(&ALL, applied).map(|m| m.name).collect::<Vec<_>>();
        assert_eq!(names(0), ["a", "b", "c"]);
        assert_eq!(names(2), ["c"]);
        assert!(names(3).is_empty());
    }
}
