//! Secrets: argon2id password hashes (computed on the bounded
//! [`HashPool`], which refuses the excess with `503 overloaded`) and random
//! one-time tokens, stored only as sha256.

use std::sync::LazyLock;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use hex::encode as hex;
use mercato_tenants::Password;
use sha2::{Digest, Sha256};

use crate::error::PodError;
use crate::state::HashPool;

/// Hash verified when a login names an unknown account, so that an unknown
/// email costs the same time as a wrong password.
static DUMMY_HASH: LazyLock<Option<String>> = LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(b"mercato dummy password, never valid", &salt)
        .map(|h| h.to_string())
        .ok()
});

/// An argon2id hash (PHC string) of `password`.
pub async fn hash_password(pool: &HashPool, password: Password) -> Result<String, PodError> {
    pool.run(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|h| h.to_string())
    })
    .await?
    .map_err(PodError::internal)
}

/// Whether `password` matches `stored`. With no stored hash (unknown
/// account) a dummy hash is verified anyway and the answer is `false`.
pub async fn verify_password(
    pool: &HashPool,
    password: String,
    stored: Option<String>,
) -> Result<bool, PodError> {
    pool.run(move || {
        let known = stored.is_some();
        let hash = match stored {
            Some(h) => h,
            None => DUMMY_HASH.clone().unwrap_or_default(),
        };
        let matches = PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false);
        known && matches
    })
    .await
}

/// 32 random bytes, hex-encoded (64 characters).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex(bytes)
}

/// The sha256 of a secret, hex-encoded: what the database keeps.
pub fn sha256_hex(secret: &str) -> String {
    hex(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_hex_and_hashes_are_stable() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[tokio::test]
    async fn passwords_verify_only_against_their_hash() {
        let pool = HashPool::new(&prometheus::Registry::new(), 1, 1).expect("pool");
        let pw = Password::parse("correct horse battery").expect("policy");
        let hash = hash_password(&pool, pw).await.expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            verify_password(&pool, "correct horse battery".into(), Some(hash.clone()))
                .await
                .expect("verify")
        );
        assert!(
            !verify_password(&pool, "wrong horse battery".into(), Some(hash))
                .await
                .expect("verify")
        );
        assert!(
            !verify_password(&pool, "correct horse battery".into(), None)
                .await
                .expect("verify")
        );
    }
}
