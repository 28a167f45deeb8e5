//! The keys that sign audit checkpoints, and the `[audit]` configuration section.

use std::{collections::HashMap, fmt, path::Path};

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{
    keyfile::{self, KeyFileError},
    settings::InvalidSetting,
};

/// The file in the data directory holding a generated signing key when none is configured.
pub const GENERATED_KEY_FILE: &str = "audit-signing.key";

/// The `[audit]` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Base64 of a 32-byte Ed25519 secret key that signs checkpoints. When empty, Steward
    /// generates one in the data directory on first start; every process writing to one
    /// database must use the same key, so set it explicitly when several share PostgreSQL.
    #[serde(serialize_with = "crate::settings::redact_secret")]
    pub signing_key: Option<SecretString>,
    /// Base64 public keys of earlier signing keys, so checkpoints they signed still verify after
    /// a key rotation.
    pub trusted_public_keys: Vec<String>,
}

impl AuditConfig {
    /// Checks that configured keys decode.
    #[must_use]
    pub fn validate(&self) -> Vec<InvalidSetting> {
        let mut problems = Vec::new();
        if let Some(key) = &self.signing_key
            && let Err(message) = decode_secret_key(key.expose_secret())
        {
            problems.push(InvalidSetting::new("audit.signing_key", message));
        }
        for (index, key) in self.trusted_public_keys.iter().enumerate() {
            if let Err(message) = decode_public_key(key) {
                problems.push(InvalidSetting::new(
                    format!("audit.trusted_public_keys[{index}]"),
                    message,
                ));
            }
        }
        problems
    }
}

/// Why the audit keys cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum AuditKeyError {
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    #[error("audit.signing_key is not valid: {0}")]
    InvalidConfigured(String),
}

/// The key that signs new checkpoints and every key whose checkpoints are trusted.
#[derive(Clone)]
pub struct AuditKeys {
    signing: SigningKey,
    key_id: String,
    trusted: HashMap<String, VerifyingKey>,
}

impl fmt::Debug for AuditKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditKeys")
            .field("key_id", &self.key_id)
            .field("trusted", &self.trusted.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl AuditKeys {
    /// Loads the configured key, or the generated one from the data directory, creating it
    /// (readable by its owner only) on first use.
    ///
    /// # Errors
    /// When a key does not decode, or the key file cannot be read or written.
    pub fn load(config: &AuditConfig, data_dir: &Path) -> Result<Self, AuditKeyError> {
        let signing = match &config.signing_key {
            Some(key) => {
                decode_secret_key(key.expose_secret()).map_err(AuditKeyError::InvalidConfigured)?
            }
            None => SigningKey::from_bytes(&keyfile::load_or_generate(
                &data_dir.join(GENERATED_KEY_FILE),
                "audit signing key",
            )?),
        };
        let mut keys = Self::from_signing_key(signing);
        for key in &config.trusted_public_keys {
            // Validated with the configuration; a key that fails here is skipped, never trusted.
            if let Ok(key) = decode_public_key(key) {
                keys.trusted.insert(key_id(&key), key);
            }
        }
        Ok(keys)
    }

    /// Keys around one signing key; for tests and tools.
    #[must_use]
    pub fn from_signing_key(signing: SigningKey) -> Self {
        let verifying = signing.verifying_key();
        let key_id = key_id(&verifying);
        let trusted = HashMap::from([(key_id.clone(), verifying)]);
        Self {
            signing,
            key_id,
            trusted,
        }
    }

    /// A fresh random key; for tests and first starts.
    ///
    /// # Errors
    /// When the operating system provides no randomness.
    pub fn generate() -> Result<Self, AuditKeyError> {
        Ok(Self::from_signing_key(generate_signing_key()?))
    }

    /// A new random secret key in the form `audit.signing_key` takes (base64 of 32 bytes).
    ///
    /// # Errors
    /// When the operating system provides no randomness.
    pub fn generate_secret() -> Result<SecretString, AuditKeyError> {
        Ok(SecretString::from(
            BASE64.encode(generate_signing_key()?.to_bytes()),
        ))
    }

    /// Identifies the signing key: the first 16 hex digits of SHA-256 over its public key.
    #[must_use]
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The public half of the signing key, base64, for `audit.trusted_public_keys` after a
    /// rotation and for verifying exported checkpoints elsewhere.
    #[must_use]
    pub fn public_key_base64(&self) -> String {
        BASE64.encode(self.signing.verifying_key().to_bytes())
    }

    /// The signature of a checkpoint "chain `chain_id` had length `seq` with head `head_hash`".
    #[must_use]
    pub fn sign_checkpoint(&self, chain_id: uuid::Uuid, seq: i64, head_hash: &str) -> String {
        self.sign(&super::hashing::checkpoint_message(
            chain_id, seq, head_hash,
        ))
    }

    pub(crate) fn sign(&self, message: &[u8]) -> String {
        BASE64.encode(self.signing.sign(message).to_bytes())
    }

    /// Whether `signature` (base64) is a valid signature of `message` by the trusted key `key_id`.
    pub(crate) fn verify(&self, key_id: &str, message: &[u8], signature: &str) -> Verification {
        let Some(key) = self.trusted.get(key_id) else {
            return Verification::UnknownKey;
        };
        let Ok(bytes) = BASE64.decode(signature) else {
            return Verification::Invalid;
        };
        let Ok(bytes) = <[u8; 64]>::try_from(bytes.as_slice()) else {
            return Verification::Invalid;
        };
        match key.verify_strict(message, &Signature::from_bytes(&bytes)) {
            Ok(()) => Verification::Valid,
            Err(_) => Verification::Invalid,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verification {
    Valid,
    Invalid,
    UnknownKey,
}

fn key_id(key: &VerifyingKey) -> String {
    hex::encode(Sha256::digest(key.to_bytes()))[..16].to_owned()
}

fn decode_secret_key(text: &str) -> Result<SigningKey, String> {
    keyfile::decode_key(text).map(|bytes| SigningKey::from_bytes(&bytes))
}

fn decode_public_key(text: &str) -> Result<VerifyingKey, String> {
    let bytes = keyfile::decode_key(text)?;
    VerifyingKey::from_bytes(&bytes).map_err(|err| format!("not an Ed25519 public key: {err}"))
}

fn generate_signing_key() -> Result<SigningKey, AuditKeyError> {
    Ok(SigningKey::from_bytes(&keyfile::random_key()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_is_kept_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = AuditKeys::load(&AuditConfig::default(), dir.path()).unwrap();
        let second = AuditKeys::load(&AuditConfig::default(), dir.path()).unwrap();
        assert_eq!(first.key_id(), second.key_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(GENERATED_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn signatures_verify_only_with_the_right_key_and_message() {
        let keys = AuditKeys::generate().unwrap();
        let signature = keys.sign(b"chain head");
        assert_eq!(
            keys.verify(keys.key_id(), b"chain head", &signature),
            Verification::Valid
        );
        assert_eq!(
            keys.verify(keys.key_id(), b"chain hea", &signature),
            Verification::Invalid
        );
        assert_eq!(
            keys.verify("0000000000000000", b"chain head", &signature),
            Verification::UnknownKey
        );
        let other = AuditKeys::generate().unwrap();
        assert_eq!(
            keys.verify(keys.key_id(), b"chain head", &other.sign(b"chain head")),
            Verification::Invalid
        );
    }

    #[test]
    fn rotated_keys_stay_trusted_when_configured() {
        let dir = tempfile::tempdir().unwrap();
        let old = AuditKeys::generate().unwrap();
        let signature = old.sign(b"old head");
        let config = AuditConfig {
            signing_key: None,
            trusted_public_keys: vec![old.public_key_base64()],
        };
        let current = AuditKeys::load(&config, dir.path()).unwrap();
        assert_ne!(current.key_id(), old.key_id());
        assert_eq!(
            current.verify(old.key_id(), b"old head", &signature),
            Verification::Valid
        );
    }

    #[test]
    fn bad_keys_are_named() {
        let config = AuditConfig {
            signing_key: Some(SecretString::from("c2hvcnQ=")),
            trusted_public_keys: vec!["!!".to_owned()],
        };
        let problems = config.validate();
        assert_eq!(problems.len(), 2);
        assert_eq!(problems[0].key, "audit.signing_key");
        assert!(problems[0].message.contains("expected 32 bytes"));
        assert_eq!(problems[1].key, "audit.trusted_public_keys[0]");
    }
}
