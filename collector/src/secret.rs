//! Secrets and their digests: random tokens, SHA-256, argon2id password
//! hashes, hex. Pure functions over the system's random generator; every
//! layer uses them.

use std::sync::LazyLock;

use ring::rand::{SecureRandom, SystemRandom};

/// SHA-256 of `secret`: how tokens are stored and looked up.
#[must_use]
pub fn sha256(secret: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
    let mut out = [0_u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// 256 random bits, hex.
///
/// # Panics
/// When the system's random generator fails (it does not on a running
/// system).
#[must_use]
pub fn random_secret() -> String {
    let mut bytes = [0_u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random generator works");
    hex::encode(bytes)
}

/// Whether two secrets (or their digests) are the same, compared in
/// constant time (their length aside).
#[must_use]
pub fn same_secret(a: impl AsRef<[u8]>, b: impl AsRef<[u8]>) -> bool {
    subtle::ConstantTimeEq::ct_eq(a.as_ref(), b.as_ref()).into()
}

/// Lowercase hex of `bytes`.
#[must_use]
pub fn to_hex(bytes: impl AsRef<[u8]>) -> String {
    hex::encode(bytes)
}

/// The bytes of lowercase or uppercase hex; `None` for anything else.
#[must_use]
pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    hex::decode(text).ok()
}

/// An argon2id hash (PHC string) of `password` with a random salt.
///
/// # Errors
/// When the system's random generator or the hasher fails.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    use argon2::PasswordHasher;
    let mut salt = [0_u8; 16];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
    let salt = argon2::password_hash::SaltString::encode_b64(&salt)
        .map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Ok(argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))?
        .to_string())
}

/// Whether `password` matches the argon2id `hash`; a malformed hash
/// matches nothing.
#[must_use]
pub fn verify_password(hash: &str, password: &str) -> bool {
    use argon2::PasswordVerifier;
    argon2::password_hash::PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// An argon2id hash that no password matches, verified for unknown
/// accounts so that they take as long as known ones.
pub static UNKNOWN_ACCOUNT_HASH: LazyLock<String> = LazyLock::new(|| {
    use argon2::PasswordHasher;
    let salt = argon2::password_hash::SaltString::encode_b64(b"sobrio-no-account")
        .expect("a 17-byte salt encodes");
    argon2::Argon2::default()
        .hash_password(random_secret().as_bytes(), &salt)
        .expect("argon2id hashes")
        .to_string()
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_hash_only() {
        let hash = hash_password("correct horse").unwrap();
        assert!(verify_password(&hash, "correct horse"));
        assert!(!verify_password(&hash, "wrong horse"));
        assert!(!verify_password("not a hash", "correct horse"));
        assert!(!verify_password(&UNKNOWN_ACCOUNT_HASH, ""));
    }

    #[test]
    fn hex_goes_both_ways_and_refuses_garbage() {
        let secret = random_secret();
        assert_eq!(secret.len(), 64);
        assert_eq!(to_hex(from_hex(&secret).unwrap()), secret);
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex("zz"), None);
        assert!(same_secret(&secret, secret.clone()));
        assert!(!same_secret(&secret, random_secret()));
        assert!(!same_secret(&secret, &secret[1..]));
    }
}
