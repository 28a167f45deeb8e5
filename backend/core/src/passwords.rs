//! Password hashes: Argon2id with a random salt, stored as PHC strings.

use argon2::{
    Argon2,
    password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash},
};

/// Shortest password accepted. Length beats composition rules (NIST SP 800-63B).
pub const MIN_PASSWORD_LENGTH: usize = 12;

/// Why a password cannot be used or hashed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("passwords need at least {MIN_PASSWORD_LENGTH} characters")]
    TooShort,
    #[error("passwords may have at most 1024 characters")]
    TooLong,
    #[error("cannot hash the password: {0}")]
    Hashing(String),
}

/// Hashes a new password after checking its length.
///
/// # Errors
/// [`PasswordError::TooShort`] or [`PasswordError::TooLong`]; hashing itself only fails
/// without operating-system randomness.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let length = password.chars().count();
    if length < MIN_PASSWORD_LENGTH {
        return Err(PasswordError::TooShort);
    }
    if length > 1024 {
        return Err(PasswordError::TooLong);
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|err| PasswordError::Hashing(err.to_string()))
}

/// A valid hash of a random password, checked against when an email has no user, so a
/// failed sign-in takes as long whether or not the account exists.
pub fn timing_equalizer() -> &'static str {
    static HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let mut random = [0u8; 24];
        // Without randomness the fixed fallback still costs a full verification.
        let _ = getrandom::fill(&mut random);
        Argon2::default()
            .hash_password(&random)
            .map(|hash| hash.to_string())
            .unwrap_or_default()
    });
    &HASH
}

/// Whether `password` matches the stored hash. A malformed hash matches nothing.
#[must_use]
pub fn verify_password(stored_hash: &str, password: &str) -> bool {
    PasswordHash::new(stored_hash).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_their_password() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(&hash, "correct horse battery"));
        assert!(!verify_password(&hash, "correct horse batterY"));
        assert!(!verify_password("not a hash", "correct horse battery"));
    }

    #[test]
    fn salts_differ() {
        assert_ne!(
            hash_password("correct horse battery").unwrap(),
            hash_password("correct horse battery").unwrap()
        );
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(matches!(
            hash_password("short"),
            Err(PasswordError::TooShort)
        ));
    }
}
