//! A second factor for Steward's own password accounts: TOTP (RFC 6238: six digits, 30-second
//! steps, HMAC-SHA1, as every authenticator app speaks it) with ten single-use recovery codes.
//!
//! Steward holds admin access to every customer's tools, so a password alone should not be
//! enough to act for an MSP. Accounts that sign in through single sign-on rely on the identity
//! provider's factors instead. Secrets are sealed with the deployment's key; a code is accepted
//! within one step of the server's clock and never twice; recovery codes are stored as hashes
//! and spent on use.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use steward_domain::tenancy::User;
use subtle::ConstantTimeEq;
use totp_rs::{Builder, Secret, Totp};

use crate::{
    secrets::{OpenError, SecretBox},
    storage::{StorageError, WriteContext, second_factors},
};

/// Seconds per TOTP step.
pub const STEP_SECONDS: i64 = 30;

/// Recovery codes issued at enrollment.
pub const RECOVERY_CODES: usize = 10;

/// The issuer name authenticator apps show beside the account.
pub const ISSUER: &str = "Steward";

/// What a user needs to add Steward to their authenticator app.
#[derive(Clone)]
pub struct Enrollment {
    /// The secret in base32, for typing in.
    pub secret: SecretString,
    /// The `otpauth://` URI, for a QR code.
    pub uri: SecretString,
}

impl std::fmt::Debug for Enrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Enrollment(..)")
    }
}

/// Why a second-factor operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum SecondFactorError {
    #[error("a second factor is already set up; remove it first to set up another")]
    AlreadyEnrolled,
    #[error("start setting up the second factor first")]
    NotStarted,
    #[error("that code is not right; check the authenticator app's clock and try the next code")]
    WrongCode,
    #[error("the stored second factor cannot be opened with this deployment's key")]
    Secret(#[from] OpenError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// RFC 6238's defaults, which every authenticator app uses: SHA-1, six digits, 30-second
/// steps, one step of clock drift either way. `None` for a secret shorter than 128 bits.
fn totp(secret: Vec<u8>) -> Option<Totp> {
    Builder::new().with_secret(secret).build().ok()
}

fn context(user: &User) -> Vec<u8> {
    format!("second-factor:{}", user.id).into_bytes()
}

/// Starts (or starts again) setting up a second factor: a new secret, not yet in force.
///
/// # Errors
/// [`SecondFactorError::AlreadyEnrolled`] when one is in force.
pub async fn begin_enrollment(
    ctx: &WriteContext<'_>,
    user: &User,
    secrets: &SecretBox,
) -> Result<Enrollment, SecondFactorError> {
    if second_factors::find(ctx.connection(), user.id)
        .await?
        .is_some_and(|row| row.confirmed_at.is_some())
    {
        return Err(SecondFactorError::AlreadyEnrolled);
    }
    let mut raw = vec![0u8; 20];
    getrandom::fill(&mut raw)
        .map_err(|err| StorageError::corrupt("operating-system randomness", &err))?;
    let encoded = Secret::from(raw.clone()).to_base32();
    second_factors::start(ctx, user, &secrets.seal(&raw, &context(user))).await?;
    let label = format!("{ISSUER}:{}", user.email);
    let uri = format!(
        "otpauth://totp/{}?secret={encoded}&issuer={ISSUER}&algorithm=SHA1&digits=6&period={STEP_SECONDS}",
        url::form_urlencoded::byte_serialize(label.as_bytes()).collect::<String>()
    );
    Ok(Enrollment {
        secret: SecretString::from(encoded),
        uri: SecretString::from(uri),
    })
}

/// Puts the second factor in force once the user shows a code from it; returns the recovery
/// codes, shown only now.
///
/// # Errors
/// [`SecondFactorError::NotStarted`], [`SecondFactorError::AlreadyEnrolled`] or
/// [`SecondFactorError::WrongCode`].
pub async fn confirm_enrollment(
    ctx: &WriteContext<'_>,
    user: &User,
    secrets: &SecretBox,
    code: &str,
) -> Result<Vec<SecretString>, SecondFactorError> {
    let Some(row) = second_factors::find(ctx.connection(), user.id).await? else {
        return Err(SecondFactorError::NotStarted);
    };
    if row.confirmed_at.is_some() {
        return Err(SecondFactorError::AlreadyEnrolled);
    }
    let secret = secrets.open(&row.sealed_secret, &context(user))?;
    let Some(step) = matching_step(secret, code, ctx.now(), None) else {
        return Err(SecondFactorError::WrongCode);
    };
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| recovery_code())
        .collect::<Result<_, _>>()?;
    let hashes: Vec<String> = codes.iter().map(|code| hash_code(code)).collect();
    second_factors::confirm(ctx, user, step, &hashes).await?;
    Ok(codes.into_iter().map(SecretString::from).collect())
}

/// Whether the user has a second factor in force.
///
/// # Errors
/// When the database cannot be read.
pub async fn enrolled<C: sea_orm::ConnectionTrait>(
    conn: &C,
    user: &User,
) -> Result<bool, StorageError> {
    Ok(second_factors::find(conn, user.id)
        .await?
        .is_some_and(|row| row.confirmed_at.is_some()))
}

/// Removes the user's second factor and recovery codes (the user, proving it is them, where
/// their MSP does not require one; or an MSP admin, for someone who lost theirs). Returns
/// whether one was in force.
///
/// # Errors
/// When the database cannot be written.
pub async fn remove(ctx: &WriteContext<'_>, user: &User) -> Result<bool, StorageError> {
    second_factors::remove(ctx, user).await
}

/// Checks a code from the user's authenticator, or one of their recovery codes, and spends
/// it: the same code is never accepted again. `false` for a wrong code, or for a user with no
/// second factor in force.
///
/// # Errors
/// When the database cannot be used or the secret cannot be opened.
pub async fn verify(
    ctx: &WriteContext<'_>,
    user: &User,
    secrets: &SecretBox,
    code: &str,
) -> Result<bool, SecondFactorError> {
    let Some(row) = second_factors::find(ctx.connection(), user.id)
        .await?
        .filter(|row| row.confirmed_at.is_some())
    else {
        return Ok(false);
    };
    let digits: String = code.chars().filter(char::is_ascii_digit).collect();
    if digits.len() == 6 && digits.len() == code.trim().chars().filter(|c| *c != ' ').count() {
        let secret = secrets.open(&row.sealed_secret, &context(user))?;
        return Ok(
            match matching_step(secret, &digits, ctx.now(), row.last_used_step) {
                Some(step) => {
                    second_factors::spend_step(ctx, user, row.last_used_step, step).await?
                }
                None => false,
            },
        );
    }
    Ok(
        second_factors::spend_recovery_code(ctx, user, &hash_code(&normalized_recovery(code)))
            .await?,
    )
}

/// The step whose code `code` is, within one step of `now` and after `after`.
fn matching_step(
    secret: Vec<u8>,
    code: &str,
    now: DateTime<Utc>,
    after: Option<i64>,
) -> Option<i64> {
    let totp = totp(secret)?;
    let current = now.timestamp().div_euclid(STEP_SECONDS);
    [current - 1, current, current + 1]
        .into_iter()
        .filter(|step| *step >= 0 && after.is_none_or(|used| *step > used))
        .find(|step| {
            let at = u64::try_from(step * STEP_SECONDS).unwrap_or_default();
            let expected = totp.generate(at).to_string();
            bool::from(expected.as_bytes().ct_eq(code.trim().as_bytes()))
        })
}

/// A recovery code: ten characters of an unambiguous alphabet, as `xxxxx-xxxxx`.
fn recovery_code() -> Result<String, StorageError> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut bytes = [0u8; 10];
    getrandom::fill(&mut bytes)
        .map_err(|err| StorageError::corrupt("operating-system randomness", &err))?;
    let chars: String = bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect();
    Ok(format!("{}-{}", &chars[..5], &chars[5..]))
}

/// A recovery code as typed, compared without case, spaces or dashes.
fn normalized_recovery(code: &str) -> String {
    let plain: String = code
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if plain.len() == 10 {
        format!("{}-{}", &plain[..5], &plain[5..])
    } else {
        plain
    }
}

fn hash_code(code: &str) -> String {
    crate::storage::hash_secret(code)
}

/// A code for `secret` at `at`, as an authenticator app would show it (for tests and the
/// sandbox's users).
#[must_use]
pub fn code_at(secret_base32: &str, at: DateTime<Utc>) -> Option<String> {
    let secret = Secret::try_from_base32(secret_base32).ok()?;
    let totp = totp(secret.as_bytes().to_vec())?;
    Some(
        totp.generate(u64::try_from(at.timestamp()).ok()?)
            .to_string(),
    )
}

/// The secret of an enrollment, for tests that play the authenticator app.
#[must_use]
pub fn enrollment_secret(enrollment: &Enrollment) -> &str {
    enrollment.secret.expose_secret()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_their_step_and_one_either_side_once() {
        // RFC 6238's SHA-1 test secret, "12345678901234567890".
        let secret = b"12345678901234567890".to_vec();
        let at = |seconds: i64| DateTime::from_timestamp(seconds, 0).unwrap();
        // The RFC's vector at 59 s is 94287082 in eight digits: 287082 in six.
        assert_eq!(
            matching_step(secret.clone(), "287082", at(59), None),
            Some(1)
        );
        assert_eq!(
            matching_step(secret.clone(), "287082", at(59 + 30), None),
            Some(1),
            "one step late is still accepted"
        );
        assert_eq!(
            matching_step(secret.clone(), "287082", at(59 + 90), None),
            None
        );
        assert_eq!(
            matching_step(secret.clone(), "287082", at(59), Some(1)),
            None,
            "a code whose step was used is refused"
        );
        assert_eq!(matching_step(secret, "000000", at(59), None), None);
    }

    #[test]
    fn recovery_codes_read_alike_however_typed() {
        let code = recovery_code().unwrap();
        assert_eq!(code.len(), 11);
        assert_eq!(normalized_recovery(&code.to_uppercase()), code);
        assert_eq!(normalized_recovery(&code.replace('-', " ")), code);
    }

    #[test]
    fn enrollment_secrets_round_trip_through_base32() {
        let raw = b"12345678901234567890".to_vec();
        let encoded = Secret::from(raw).to_base32();
        assert_eq!(
            code_at(&encoded, DateTime::from_timestamp(59, 0).unwrap()).as_deref(),
            Some("287082")
        );
    }
}
