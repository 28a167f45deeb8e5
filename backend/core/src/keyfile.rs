//! 32-byte secret keys: from configuration (base64), or generated once into a file in the data
//! directory that only its owner can read.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};

/// Why a key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read or create the key file {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the key file {} is not valid: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("cannot get randomness from the operating system: {0}")]
    Randomness(getrandom::Error),
}

/// Decodes base64 of exactly 32 bytes.
///
/// # Errors
/// A sentence saying what is wrong, for configuration errors.
pub fn decode_key(text: &str) -> Result<[u8; 32], String> {
    let bytes = BASE64
        .decode(text.trim())
        .map_err(|err| format!("not base64: {err}"))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| format!("expected 32 bytes, found {}", bytes.len()))
}

/// Base64 of a key, the form configuration takes.
#[must_use]
pub fn encode_key(key: &[u8; 32]) -> String {
    BASE64.encode(key)
}

/// 32 random bytes.
///
/// # Errors
/// When the operating system provides no randomness.
pub fn random_key() -> Result<[u8; 32], KeyFileError> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(KeyFileError::Randomness)?;
    Ok(key)
}

/// The key in `path`, generated and written (owner-only) on first use. `what` names the key in
/// the log line announcing a new one.
///
/// # Errors
/// When the file cannot be read, written or decoded.
pub fn load_or_generate(path: &Path, what: &str) -> Result<[u8; 32], KeyFileError> {
    match std::fs::read_to_string(path) {
        Ok(text) => decode_key(&text).map_err(|message| KeyFileError::Invalid {
            path: path.to_owned(),
            message,
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let key = random_key()?;
            match write_private_file(path, &encode_key(&key)) {
                Ok(()) => {
                    tracing::info!(path = %path.display(), "generated a new {what}");
                    Ok(key)
                }
                // Another process created it first: use theirs.
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                    load_or_generate(path, what)
                }
                Err(source) => Err(KeyFileError::Io {
                    path: path.to_owned(),
                    source,
                }),
            }
        }
        Err(source) => Err(KeyFileError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Creates the file with owner-only permissions; fails if it already exists, so two processes
/// starting at once cannot overwrite each other's key.
fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_is_kept_owner_only_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/test.key");
        let first = load_or_generate(&path, "test key").unwrap();
        assert_eq!(load_or_generate(&path, "test key").unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn keys_decode_only_from_32_bytes_of_base64() {
        let key = random_key().unwrap();
        assert_eq!(decode_key(&encode_key(&key)).unwrap(), key);
        assert!(
            decode_key("c2hvcnQ=")
                .unwrap_err()
                .contains("expected 32 bytes")
        );
        assert!(decode_key("!!").unwrap_err().contains("not base64"));
    }
}
