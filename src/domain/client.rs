//! A partner integration as Roster keeps it (SPEC §4): its id (the API key),
//! the hash of its secret, its reseller scope, rate limit and API version.

use super::scope::ResellerScope;
use super::version::ApiVersion;

/// A partner integration (SPEC §4), as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientRecord {
    /// The client id, which is also its API key.
    pub client_id: String,
    pub name: String,
    /// The secret's argon2 PHC string; the secret itself is never stored.
    pub secret_hash: String,
    pub scope: ResellerScope,
    /// Requests per second; `None` follows the server's `--rate-limit`, 0 is unlimited.
    pub rate_limit: Option<u32>,
    pub enabled: bool,
    /// The API version its requests get unless they ask for another.
    pub api_version: ApiVersion,
    /// Bumped when the client is disabled or its secret rotated: tokens
    /// carry the epoch they were issued at, so older ones stop working.
    pub token_epoch: i64,
    /// Unix seconds.
    pub created_at: i64,
}

/// Never prints the secret's hash: records end up in logs and panics.
impl std::fmt::Debug for ClientRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRecord")
            .field("client_id", &self.client_id)
            .field("name", &self.name)
            .field("secret_hash", &"<redacted>")
            .field("scope", &self.scope)
            .field("rate_limit", &self.rate_limit)
            .field("enabled", &self.enabled)
            .field("api_version", &self.api_version)
            .field("token_epoch", &self.token_epoch)
            .field("created_at", &self.created_at)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_secret_hash() {
        let client = ClientRecord {
            client_id: "c1".into(),
            name: "n".into(),
            secret_hash: "$argon2id$v=19$secret-material".into(),
            scope: ResellerScope::All,
            rate_limit: None,
            enabled: true,
            api_version: ApiVersion::default(),
            token_epoch: 0,
            created_at: 0,
        };
        let shown = format!("{client:?}");
        assert!(!shown.contains("argon2") && shown.contains("<redacted>"), "{shown}");
    }
}
