//! Bearer access tokens (SPEC §4): self-contained and signed, so checking
//! one needs no database round trip (#4).
//!
//! A token is URL-safe base64 of `version | expires_at | epoch | nonce |
//! client_id | HMAC-SHA256`, under a key every instance reads from the
//! database. The client's `token_epoch` revokes: disabling a client or
//! rotating its secret bumps it, and a token from an older epoch is refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

const VERSION: u8 = 1;
const HEADER: usize = 1 + 8 + 8 + 8;
const MAC_LEN: usize = 32;
/// The default lifetime, 24 h.
pub const DEFAULT_TTL_SECS: u64 = 86_400;

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    pub client_id: String,
    pub epoch: i64,
    pub expires_at: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not a token of ours: bad encoding, bad length or bad signature.
    Malformed,
    Expired,
}

#[derive(Clone)]
pub struct TokenSigner {
    /// HMAC with the key already absorbed: cloning it skips hashing the
    /// key's inner and outer pads again, half of a token check's hashing.
    keyed: Hmac<Sha256>,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSigner { key: <redacted> }")
    }
}

impl TokenSigner {
    pub fn new(key: Vec<u8>) -> Self {
        TokenSigner {
            keyed: Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes keys of any length"),
        }
    }

    fn mac(&self, payload: &[u8]) -> [u8; MAC_LEN] {
        let mut mac = self.keyed.clone();
        mac.update(payload);
        mac.finalize().into_bytes().into()
    }

    /// Issues a token for `client_id` at `epoch`, valid until `expires_at`
    /// (Unix seconds).
    pub fn issue(&self, client_id: &str, epoch: i64, expires_at: u64) -> String {
        let mut nonce = [0u8; 8];
        rand::fill(&mut nonce);
        let mut token = Vec::with_capacity(HEADER + client_id.len() + MAC_LEN);
        token.push(VERSION);
        token.extend_from_slice(&expires_at.to_be_bytes());
        token.extend_from_slice(&epoch.to_be_bytes());
        token.extend_from_slice(&nonce);
        token.extend_from_slice(client_id.as_bytes());
        let mac = self.mac(&token);
        token.extend_from_slice(&mac);
        URL_SAFE_NO_PAD.encode(token)
    }

    /// Checks the signature (in constant time) and the expiry at `now`.
    pub fn verify(&self, token: &str, now: u64) -> Result<TokenClaims, TokenError> {
        if token.len() > 512 {
            return Err(TokenError::Malformed);
        }
        let mut decoded = [0u8; 512];
        let length = URL_SAFE_NO_PAD
            .decode_slice(token, &mut decoded)
            .map_err(|_| TokenError::Malformed)?;
        let bytes = &decoded[..length];
        if bytes.len() <= HEADER + MAC_LEN || bytes[0] != VERSION {
            return Err(TokenError::Malformed);
        }
        let (payload, mac) = bytes.split_at(bytes.len() - MAC_LEN);
        if !bool::from(self.mac(payload).ct_eq(mac)) {
            return Err(TokenError::Malformed);
        }
        let number = |at: usize| <[u8; 8]>::try_from(&payload[at..at + 8]).expect("eight bytes");
        let expires_at = u64::from_be_bytes(number(1));
        let epoch = i64::from_be_bytes(number(9));
        let client_id = std::str::from_utf8(&payload[HEADER..]).map_err(|_| TokenError::Malformed)?;
        if expires_at <= now {
            return Err(TokenError::Expired);
        }
        Ok(TokenClaims {
            client_id: client_id.to_owned(),
            epoch,
            expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_token_key() -> [u8; 32] {
        let mut key = [0u8; 32];
        rand::fill(&mut key);
        key
    }

    #[test]
    fn round_trip_and_expiry() {
        let signer = TokenSigner::new(new_token_key().to_vec());
        let token = signer.issue("abc123", 7, 1_000);
        assert_eq!(
            signer.verify(&token, 999),
            Ok(TokenClaims {
                client_id: "abc123".into(),
                epoch: 7,
                expires_at: 1_000
            })
        );
        assert_eq!(signer.verify(&token, 1_000), Err(TokenError::Expired));
        assert_ne!(
            token,
            signer.issue("abc123", 7, 1_000),
            "a nonce makes each token unique"
        );
    }

    #[test]
    fn refuses_forgeries() {
        let signer = TokenSigner::new(new_token_key().to_vec());
        let other = TokenSigner::new(new_token_key().to_vec());
        let token = signer.issue("abc123", 0, u64::MAX);
        assert_eq!(other.verify(&token, 0), Err(TokenError::Malformed));
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        bytes[HEADER] ^= 1;
        assert_eq!(
            signer.verify(&URL_SAFE_NO_PAD.encode(&bytes), 0),
            Err(TokenError::Malformed)
        );
        for junk in ["", "x", "not base64!", &"A".repeat(600)] {
            assert_eq!(signer.verify(junk, 0), Err(TokenError::Malformed), "{junk:?}");
        }
    }
}
