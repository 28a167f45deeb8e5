//! Secrets at rest (vendor credentials): XChaCha20-Poly1305 under a key from configuration or
//! generated into the data directory, bound to the record they belong to.

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use chacha20poly1305::{
    XChaCha20Poly1305, XNonce,
    aead::{Aead, Generate, KeyInit, Payload},
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::{
    keyfile::{self, KeyFileError},
    settings::InvalidSetting,
};

/// The file in the data directory holding a generated key when none is configured.
pub const GENERATED_KEY_FILE: &str = "credentials.key";

/// Marks the format of sealed values, so the scheme can change without guessing.
const FORMAT: &str = "v1:";

/// The `[secrets]` configuration section.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// Base64 of 32 bytes encrypting vendor credentials at rest. When empty, Steward generates
    /// one in the data directory on first start; every process sharing a database needs the
    /// same key.
    #[serde(serialize_with = "crate::settings::redact_secret")]
    pub key: Option<SecretString>,
}

impl SecretsConfig {
    #[must_use]
    pub fn validate(&self) -> Vec<InvalidSetting> {
        match &self.key {
            Some(key) => match keyfile::decode_key(key.expose_secret()) {
                Ok(_) => Vec::new(),
                Err(message) => vec![InvalidSetting::new("secrets.key", message)],
            },
            None => Vec::new(),
        }
    }
}

/// Why a sealed value could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the stored secret cannot be decrypted (wrong key, or altered or moved to another record)")]
pub struct OpenError;

/// The key that seals secrets.
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    /// The configured key, or the generated one from the data directory.
    ///
    /// # Errors
    /// When the key file cannot be read or written. (A malformed configured key is caught by
    /// [`SecretsConfig::validate`].)
    pub fn load(config: &SecretsConfig, data_dir: &std::path::Path) -> Result<Self, KeyFileError> {
        let key = match &config.key {
            Some(key) => keyfile::decode_key(key.expose_secret()).map_err(|message| {
                KeyFileError::Invalid {
                    path: "secrets.key".into(),
                    message,
                }
            })?,
            None => {
                keyfile::load_or_generate(&data_dir.join(GENERATED_KEY_FILE), "credentials key")?
            }
        };
        Ok(Self::from_key(&key))
    }

    #[must_use]
    pub fn from_key(key: &[u8; 32]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// Encrypts `plaintext`, bound to `context` (the id of the record it is stored in): a
    /// sealed value copied to another record does not open.
    #[must_use]
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> String {
        let nonce = XNonce::generate();
        let ciphertext = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            .expect("encryption of an in-memory buffer does not fail");
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        format!("{FORMAT}{}", BASE64.encode(sealed))
    }

    /// Decrypts a value sealed for `context`.
    ///
    /// # Errors
    /// [`OpenError`] for the wrong key, another context, or an altered value.
    pub fn open(&self, sealed: &str, context: &[u8]) -> Result<Vec<u8>, OpenError> {
        let bytes = sealed
            .strip_prefix(FORMAT)
            .and_then(|encoded| BASE64.decode(encoded).ok())
            .ok_or(OpenError)?;
        if bytes.len() < 24 {
            return Err(OpenError);
        }
        let (nonce, ciphertext) = bytes.split_at(24);
        let nonce = XNonce::try_from(nonce).map_err(|_| OpenError)?;
        self.cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            )
            .map_err(|_| OpenError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_context() {
        let key = SecretBox::from_key(&[7; 32]);
        let sealed = key.seal(b"client secret", b"integration-1");
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("client secret"));
        assert_eq!(
            key.open(&sealed, b"integration-1").unwrap(),
            b"client secret"
        );
        assert_eq!(key.open(&sealed, b"integration-2"), Err(OpenError));
        assert_eq!(
            SecretBox::from_key(&[8; 32]).open(&sealed, b"integration-1"),
            Err(OpenError)
        );
        let mut altered = sealed.clone();
        altered.replace_range(10..11, if &sealed[10..11] == "A" { "B" } else { "A" });
        assert_eq!(key.open(&altered, b"integration-1"), Err(OpenError));
        assert_ne!(
            key.seal(b"client secret", b"integration-1"),
            sealed,
            "fresh nonce each time"
        );
    }
}
