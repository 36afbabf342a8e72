//! The API versions of SPEC §7: every client is pinned to one, a request may
//! ask for another with `X-Api-Version`, and the version decides the shape
//! of the list's items.

/// One of the API family's versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApiVersion {
    /// The seed's shape: full records under `customers`.
    #[default]
    V2025_08,
    /// Summaries under `accounts`, each with its `links`.
    V2025_11,
}

impl ApiVersion {
    pub const ALL: [ApiVersion; 2] = [ApiVersion::V2025_08, ApiVersion::V2025_11];

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|version| version.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V2025_08 => "2025-08",
            ApiVersion::V2025_11 => "2025-11",
        }
    }
}

impl std::fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_round_trip_and_nothing_else_parses() {
        for version in ApiVersion::ALL {
            assert_eq!(ApiVersion::parse(version.as_str()), Some(version));
        }
        assert_eq!(ApiVersion::default(), ApiVersion::V2025_08);
        for bad in ["", "2025-8", "2025-09", "v2025-11", "2025-11 "] {
            assert_eq!(ApiVersion::parse(bad), None, "{bad:?}");
        }
    }
}
