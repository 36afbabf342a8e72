//! Managing partner clients (SPEC §5's `clients` and `tokens` commands, and
//! the demo): create one, rotate its secret, issue it a token.

use anyhow::{Result, bail};

use super::secret::{hash_secret, new_client_id, new_secret};
use super::token::{DEFAULT_TTL_SECS, TokenSigner};
use super::unix_now;
use crate::domain::{ApiVersion, ClientRecord, ResellerScope};
use crate::store::Store;

/// A freshly created client and its secret, which exists nowhere else.
pub struct CreatedClient {
    pub client: ClientRecord,
    pub secret: String,
}

/// What a new client is allowed and pinned to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    pub scope: ResellerScope,
    /// Requests per second; `None` follows the server's `--rate-limit`.
    pub rate_limit: Option<u32>,
    pub api_version: ApiVersion,
}

pub async fn create_client(store: &dyn Store, name: &str, settings: ClientSettings) -> Result<CreatedClient> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        bail!("--name must be 1 to 200 characters");
    }
    let secret = new_secret();
    let client = ClientRecord {
        client_id: new_client_id(),
        name: name.to_owned(),
        secret_hash: hash_secret(&secret)?,
        scope: settings.scope,
        rate_limit: settings.rate_limit,
        enabled: true,
        api_version: settings.api_version,
        token_epoch: 0,
        created_at: unix_now() as i64,
    };
    store.insert_client(&client).await?;
    Ok(CreatedClient { client, secret })
}

/// Gives the client a new secret; its tokens stop working.
pub async fn rotate_secret(store: &dyn Store, client_id: &str) -> Result<String> {
    let secret = new_secret();
    if !store.replace_secret(client_id, &hash_secret(&secret)?).await? {
        bail!("no client with id {client_id}");
    }
    Ok(secret)
}

/// An access token and its lifetime in seconds.
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: u64,
}

/// Issues a token to an enabled client without its secret (an operator's
/// convenience; the API's token endpoint asks for the secret).
pub async fn issue_token(store: &dyn Store, client_id: &str, expires_in: Option<u64>) -> Result<IssuedToken> {
    let Some(client) = store.client(client_id).await? else {
        bail!("no client with id {client_id}");
    };
    if !client.enabled {
        bail!("client {client_id} is disabled");
    }
    let signer = TokenSigner::new(store.token_key().await?);
    Ok(token_for(&signer, &client, expires_in.unwrap_or(DEFAULT_TTL_SECS)))
}

pub fn token_for(signer: &TokenSigner, client: &ClientRecord, expires_in: u64) -> IssuedToken {
    IssuedToken {
        access_token: signer.issue(
            &client.client_id,
            client.token_epoch,
            unix_now().saturating_add(expires_in),
        ),
        expires_in,
    }
}
