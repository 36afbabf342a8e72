//! A client's reseller scope (SPEC §4): explicit reseller ids, or `*` for
//! every reseller.

use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResellerScope {
    All,
    Only(BTreeSet<String>),
}

impl ResellerScope {
    /// Parses `--resellers`: `*`, or comma-separated ids (each 1–40 chars).
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.trim() == "*" {
            return Ok(ResellerScope::All);
        }
        let mut ids = BTreeSet::new();
        for id in raw.split(',').map(str::trim) {
            if id == "*" {
                return Err("'*' must be given alone".into());
            }
            if id.is_empty() || id.chars().count() > 40 {
                return Err(format!("reseller id {id:?} must be 1 to 40 characters"));
            }
            if id.contains('\0') {
                return Err(format!("reseller id {id:?} must not contain the character U+0000"));
            }
            ids.insert(id.to_owned());
        }
        Ok(ResellerScope::Only(ids))
    }

    pub fn contains(&self, reseller_id: &str) -> bool {
        match self {
            ResellerScope::All => true,
            ResellerScope::Only(ids) => ids.contains(reseller_id),
        }
    }

    /// Whether the scope names `reseller_id` itself (`*` names none).
    pub fn names(&self, reseller_id: &str) -> bool {
        matches!(self, ResellerScope::Only(ids) if ids.contains(reseller_id))
    }

    /// The scope as the CLI prints it: `["*"]` or the ids.
    pub fn to_list(&self) -> Vec<String> {
        match self {
            ResellerScope::All => vec!["*".into()],
            ResellerScope::Only(ids) => ids.iter().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_star_and_lists() {
        assert_eq!(ResellerScope::parse("*"), Ok(ResellerScope::All));
        let scope = ResellerScope::parse("R2, R1,R2").unwrap();
        assert_eq!(scope.to_list(), ["R1", "R2"]);
        assert!(scope.contains("R1") && !scope.contains("R3"));
        assert!(ResellerScope::All.contains("anything"));
        assert!(scope.names("R1") && !scope.names("R3") && !ResellerScope::All.names("R1"));
        assert!(ResellerScope::parse("R1,*").is_err());
        assert!(ResellerScope::parse("R1,,R2").is_err());
        assert!(ResellerScope::parse("").is_err());
    }
}
