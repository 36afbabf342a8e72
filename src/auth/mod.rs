//! Who is calling: partner clients, their secrets and tokens, and checks 1–4
//! of SPEC §2's order (token, API key, token-to-key binding, reseller scope).

pub mod clients;
pub mod logins;
pub mod secret;
pub mod token;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;

pub use token::{TokenClaims, TokenError, TokenSigner};

use crate::domain::ClientRecord;
use crate::store::Store;

/// How long a client record is trusted before it is read again, by default.
/// Disabling a client or rotating its secret reaches every instance within
/// this time (SPEC §4 allows 5 s).
pub const CLIENT_CACHE_TTL: Duration = Duration::from_secs(2);
/// Bound on cached client records (unknown API keys are cached too, briefly).
const CLIENT_CACHE_MAX: usize = 65_536;

/// Why a request is not authorised, in SPEC §2's order of checks.
#[derive(Debug)]
pub enum AuthError {
    /// No `Authorization: Bearer <token>` (4117).
    TokenMissing,
    /// Malformed, expired, revoked, or another client's token (4116).
    TokenInvalid,
    /// `X-Api-Key` absent, unknown or disabled (4115).
    ApiKeyInvalid,
    /// The reseller is outside the scope of this client, which is
    /// otherwise authenticated (4121; its answer carries the client's API
    /// version, SPEC §7).
    ResellerForbidden(Arc<ClientRecord>),
    Internal(anyhow::Error),
}

pub struct Authenticator {
    store: Arc<dyn Store>,
    signer: TokenSigner,
    client_ttl: Duration,
    clients: RwLock<HashMap<String, CachedClient>>,
}

#[derive(Clone)]
struct CachedClient {
    read_at: Instant,
    client: Option<Arc<ClientRecord>>,
}

impl Authenticator {
    pub async fn new(store: Arc<dyn Store>, client_ttl: Duration) -> Result<Self> {
        let signer = TokenSigner::new(store.token_key().await?);
        Ok(Authenticator {
            store,
            signer,
            client_ttl,
            clients: RwLock::new(HashMap::new()),
        })
    }

    pub fn signer(&self) -> &TokenSigner {
        &self.signer
    }

    /// Checks 1–3 of SPEC §2 and, for a request that names one, check 4:
    /// `reseller_id` is within the client's scope.
    pub async fn authorize(
        &self,
        authorization: Option<&[u8]>,
        api_key: Option<&[u8]>,
        reseller_id: Option<&str>,
    ) -> Result<Arc<ClientRecord>, AuthError> {
        let token = bearer_token(authorization).ok_or(AuthError::TokenMissing)?;
        let token = std::str::from_utf8(token).map_err(|_| AuthError::TokenInvalid)?;
        let claims = self
            .signer
            .verify(token, unix_now())
            .map_err(|_| AuthError::TokenInvalid)?;

        let api_key = api_key
            .and_then(|key| std::str::from_utf8(key).ok())
            .filter(|key| plausible_client_id(key))
            .ok_or(AuthError::ApiKeyInvalid)?;
        let client = self
            .client(api_key)
            .await
            .map_err(AuthError::Internal)?
            .filter(|client| client.enabled)
            .ok_or(AuthError::ApiKeyInvalid)?;

        if claims.client_id != client.client_id || claims.epoch != client.token_epoch {
            return Err(AuthError::TokenInvalid);
        }
        if reseller_id.is_some_and(|reseller_id| !client.scope.contains(reseller_id)) {
            return Err(AuthError::ResellerForbidden(client));
        }
        Ok(client)
    }

    /// The client record, from the cache while it is fresh. When the
    /// database cannot be read, the last record read stands in (whatever
    /// its age), so that reads served from the catalog go on through a
    /// database outage; a client never read before gets the error.
    pub async fn client(&self, client_id: &str) -> Result<Option<Arc<ClientRecord>>> {
        let cached = self.clients.read().expect("client cache lock").get(client_id).cloned();
        if let Some(cached) = &cached
            && cached.read_at.elapsed() < self.client_ttl
        {
            return Ok(cached.client.clone());
        }
        let client = match self.store.client(client_id).await {
            Ok(client) => client.map(Arc::new),
            Err(error) => match cached {
                Some(cached) => {
                    // Trusted for another cache period: one database attempt
                    // (and one warning) per client per period, not per request.
                    tracing::warn!(error = %crate::logs::chain(&*error), "reading a client failed; using its last record");
                    self.clients.write().expect("client cache lock").insert(
                        client_id.to_owned(),
                        CachedClient {
                            read_at: Instant::now(),
                            client: cached.client.clone(),
                        },
                    );
                    return Ok(cached.client);
                }
                None => return Err(error),
            },
        };
        let mut clients = self.clients.write().expect("client cache lock");
        if clients.len() >= CLIENT_CACHE_MAX {
            clients.retain(|_, cached| cached.read_at.elapsed() < self.client_ttl);
            if clients.len() >= CLIENT_CACHE_MAX {
                clients.clear();
            }
        }
        clients.insert(
            client_id.to_owned(),
            CachedClient {
                read_at: Instant::now(),
                client: client.clone(),
            },
        );
        Ok(client)
    }
}

/// The credentials of an `Authorization: <scheme> <credentials>` header
/// (RFC 9110 §11.4), when it uses `scheme` (case-insensitive) and carries
/// some; the API's bearer token and the token endpoint's Basic login both
/// read it here.
pub fn authorization_credentials<'h>(header: Option<&'h [u8]>, scheme: &str) -> Option<&'h [u8]> {
    let header = header?;
    let (given, credentials) = header.split_at_checked(scheme.len())?;
    if !given.eq_ignore_ascii_case(scheme.as_bytes()) || credentials.first() != Some(&b' ') {
        return None;
    }
    Some(credentials.trim_ascii()).filter(|credentials| !credentials.is_empty())
}

/// The token of `Authorization: Bearer <token>`; another scheme or an empty
/// token counts as no token (SPEC §3).
fn bearer_token(header: Option<&[u8]>) -> Option<&[u8]> {
    authorization_credentials(header, "bearer")
}

/// API keys are the client ids Roster generates; anything far from that
/// shape is refused without a database lookup.
pub fn plausible_client_id(key: &str) -> bool {
    !key.is_empty() && key.len() <= 64 && key.bytes().all(|b| b.is_ascii_graphic())
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme() {
        assert_eq!(bearer_token(Some(b"Bearer abc")), Some(&b"abc"[..]));
        assert_eq!(bearer_token(Some(b"bearer  abc ")), Some(&b"abc"[..]));
        assert_eq!(bearer_token(Some(b"Bearer ")), None);
        assert_eq!(bearer_token(Some(b"Bearer")), None);
        assert_eq!(bearer_token(Some(b"Basic abc")), None);
        assert_eq!(bearer_token(None), None);
        assert_eq!(bearer_token(Some(b"Bearerabc")), None);
        assert_eq!(
            authorization_credentials(Some(b"BASIC dXNlcjpwdw=="), "basic"),
            Some(&b"dXNlcjpwdw=="[..])
        );
        assert_eq!(authorization_credentials(Some(b"Basic "), "basic"), None);
    }
}
