//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>): `webhook-signature` holds
//! space-separated `v1,{base64 HMAC-SHA256}` values over `{webhook-id}.{webhook-timestamp}.{raw
//! body}`, keyed with the base64 of the secret after its `whsec_` prefix; a message more than
//! five minutes from now is refused, so a captured one cannot be replayed later (the id of a
//! fresh one is remembered by the receiver).
//!
//! Written here rather than taken from the `standardwebhooks` crate: its 1.0 release compares
//! signatures only over the shorter of the two, so an empty `v1,` passes.

use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// How far a message's timestamp may be from now.
pub const TOLERANCE: chrono::Duration = chrono::Duration::minutes(5);

/// The headers of a signed message.
#[derive(Debug, Clone, Copy, Default)]
pub struct SignedHeaders<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// Why a message is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the webhook-id, webhook-timestamp or webhook-signature header is missing")]
    MissingHeader,
    #[error("webhook-timestamp is not a number of seconds")]
    BadTimestamp,
    #[error("the message is more than five minutes old (or from the future)")]
    Stale,
    #[error("no v1 signature in webhook-signature matches the message")]
    BadSignature,
}

impl Rejection {
    /// A stable label for metrics.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Rejection::MissingHeader => "missing_header",
            Rejection::BadTimestamp => "bad_timestamp",
            Rejection::Stale => "stale",
            Rejection::BadSignature => "bad_signature",
        }
    }
}

/// The secret's key: the base64 after `whsec_` (or the whole secret without the prefix).
fn key(secret: &str) -> Option<Vec<u8>> {
    STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .ok()
        .filter(|key| !key.is_empty())
}

fn mac(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `webhook-signature` value a sender with `secret` puts on the message; `None` for a
/// secret that is not base64.
#[must_use]
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = key(secret)?;
    let tag = mac(&key, id, &timestamp.to_string(), body)
        .finalize()
        .into_bytes();
    Some(format!("v1,{}", STANDARD.encode(tag)))
}

/// Checks a message's age and signature at `now`, comparing in constant time.
///
/// # Errors
/// [`Rejection`] saying what is wrong; a secret that is not base64 matches nothing.
pub fn verify(
    secret: &str,
    headers: SignedHeaders<'_>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), Rejection> {
    let (Some(id), Some(timestamp), Some(signatures)) =
        (headers.id, headers.timestamp, headers.signature)
    else {
        return Err(Rejection::MissingHeader);
    };
    let seconds: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| Rejection::BadTimestamp)?;
    let sent = DateTime::<Utc>::from_timestamp(seconds, 0).ok_or(Rejection::BadTimestamp)?;
    if (now - sent).abs() > TOLERANCE {
        return Err(Rejection::Stale);
    }
    let key = key(secret).ok_or(Rejection::BadSignature)?;
    let expected = mac(&key, id, timestamp.trim(), body);
    let matches = signatures
        .split(' ')
        .filter_map(|value| value.strip_prefix("v1,"))
        .filter_map(|tag| STANDARD.decode(tag).ok())
        .any(|tag| expected.clone().verify_slice(&tag).is_ok());
    if matches {
        Ok(())
    } else {
        Err(Rejection::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks reference libraries.
    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const TIMESTAMP: i64 = 1_649_367_553;
    const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    fn at(offset: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(TIMESTAMP + offset, 0).unwrap()
    }

    fn headers(signature: &str) -> SignedHeaders<'_> {
        SignedHeaders {
            id: Some(ID),
            timestamp: Some("1649367553"),
            signature: Some(signature),
        }
    }

    #[test]
    fn the_reference_example_signs_and_verifies() {
        assert_eq!(
            sign(SECRET, ID, TIMESTAMP, BODY).as_deref(),
            Some(SIGNATURE)
        );
        assert_eq!(verify(SECRET, headers(SIGNATURE), BODY, at(60)), Ok(()));
        let rotated = format!("v1,bm90IHRoaXMgb25l {SIGNATURE}");
        assert_eq!(
            verify(SECRET, headers(&rotated), BODY, at(0)),
            Ok(()),
            "any of several signatures may match (secret rotation)"
        );
    }

    #[test]
    fn forged_truncated_empty_and_other_version_signatures_are_refused() {
        let truncated = &SIGNATURE[..10];
        for forged in [
            "v1,",
            "v1",
            truncated,
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkx=",
            "v2,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
            "",
        ] {
            assert_eq!(
                verify(SECRET, headers(forged), BODY, at(0)),
                Err(Rejection::BadSignature),
                "{forged:?} was accepted"
            );
        }
        assert_eq!(
            verify(SECRET, headers(SIGNATURE), b"{}", at(0)),
            Err(Rejection::BadSignature),
            "another body"
        );
        assert_eq!(
            verify("whsec_b3RoZXI=", headers(SIGNATURE), BODY, at(0)),
            Err(Rejection::BadSignature),
            "another secret"
        );
    }

    #[test]
    fn old_future_and_unreadable_timestamps_and_missing_headers_are_refused() {
        assert_eq!(
            verify(SECRET, headers(SIGNATURE), BODY, at(301)),
            Err(Rejection::Stale)
        );
        assert_eq!(
            verify(SECRET, headers(SIGNATURE), BODY, at(-301)),
            Err(Rejection::Stale)
        );
        let mut bad = headers(SIGNATURE);
        bad.timestamp = Some("yesterday");
        assert_eq!(
            verify(SECRET, bad, BODY, at(0)),
            Err(Rejection::BadTimestamp)
        );
        let mut missing = headers(SIGNATURE);
        missing.id = None;
        assert_eq!(
            verify(SECRET, missing, BODY, at(0)),
            Err(Rejection::MissingHeader)
        );
    }
}
