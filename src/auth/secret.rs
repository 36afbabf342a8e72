//! Client ids and secrets (SPEC §4): random, shown once, and stored only as
//! an argon2id hash.

use anyhow::{Result, anyhow};
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A new client id (= API key): 128 random bits as 32 lowercase hex digits.
pub fn new_client_id() -> String {
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new client secret: 256 random bits, URL-safe base64 (43 characters).
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The secret's argon2id PHC string (default OWASP parameters, random salt).
pub fn hash_secret(secret: &str) -> Result<String> {
    Argon2::default()
        .hash_password(secret.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow!("hashing a client secret: {e}"))
}

/// Whether `secret` matches `phc`. argon2 compares the digests in constant
/// time; a malformed stored hash simply never matches.
pub fn verify_secret(secret: &str, phc: &str) -> bool {
    Argon2::default().verify_password(secret.as_bytes(), phc).is_ok()
}

/// A well-formed hash of a secret nobody has, so that an unknown client id
/// costs the same argon2 work as a wrong secret and timing tells nothing.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_secret(&new_secret()).expect("hashing a random secret"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_verify_only_against_their_hash() {
        let secret = new_secret();
        assert_eq!(secret.len(), 43);
        let hash = hash_secret(&secret).unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(!hash.contains(&secret));
        assert!(verify_secret(&secret, &hash));
        assert!(!verify_secret(&new_secret(), &hash));
        assert!(!verify_secret(&secret, "not a phc string"));
        assert!(!verify_secret(&secret, decoy_hash()));
    }

    #[test]
    fn client_ids_are_hex() {
        let id = new_client_id();
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_ne!(id, new_client_id());
    }
}
