//! Slack's request signing: `X-Slack-Signature: v0=hex(HMAC-SHA256(signing secret,
//! "v0:{X-Slack-Request-Timestamp}:{raw body}"))`, with requests older than five minutes
//! refused so a captured request cannot be replayed later.

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// How old a signed request may be.
pub const MAX_AGE: chrono::Duration = chrono::Duration::minutes(5);

/// Why a request is not accepted as coming from Slack.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Slack-Request-Timestamp or X-Slack-Signature header is missing")]
    Missing,
    #[error("the request timestamp is not a number of seconds")]
    BadTimestamp,
    #[error("the request is older than five minutes (or from the future)")]
    Stale,
    #[error("the signature does not match the request")]
    Mismatch,
}

fn mac(secret: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac
}

/// The `X-Slack-Signature` Slack would send for this request.
#[must_use]
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    format!(
        "v0={}",
        hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
    )
}

/// Checks a request's signature and age, comparing in constant time.
///
/// # Errors
/// [`SignatureError`] saying what is wrong.
pub fn verify(
    secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), SignatureError> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(SignatureError::Missing);
    };
    let seconds: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    let sent = DateTime::<Utc>::from_timestamp(seconds, 0).ok_or(SignatureError::BadTimestamp)?;
    if (now - sent).abs() > MAX_AGE {
        return Err(SignatureError::Stale);
    }
    let given = signature
        .strip_prefix("v0=")
        .and_then(|hex| hex::decode(hex).ok())
        .ok_or(SignatureError::Mismatch)?;
    mac(secret, timestamp.trim(), body)
        .verify_slice(&given)
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example in Slack's "Verifying requests from Slack" documentation.
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn sent_at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_531_420_618, 0).unwrap()
    }

    #[test]
    fn slacks_documented_example_verifies() {
        assert_eq!(sign(SECRET, TIMESTAMP, BODY.as_bytes()), SIGNATURE);
        assert_eq!(
            verify(
                SECRET,
                Some(TIMESTAMP),
                Some(SIGNATURE),
                BODY.as_bytes(),
                sent_at() + chrono::Duration::seconds(30)
            ),
            Ok(())
        );
    }

    #[test]
    fn a_changed_body_secret_or_signature_is_refused() {
        let now = sent_at();
        let tampered = BODY.replace("roadrunner", "coyote");
        for (secret, body, signature) in [
            (SECRET, tampered.as_str(), SIGNATURE),
            ("another-secret", BODY, SIGNATURE),
            (SECRET, BODY, "v0=00"),
            (
                SECRET,
                BODY,
                "a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
            ),
        ] {
            assert_eq!(
                verify(
                    secret,
                    Some(TIMESTAMP),
                    Some(signature),
                    body.as_bytes(),
                    now
                ),
                Err(SignatureError::Mismatch)
            );
        }
    }

    #[test]
    fn old_or_missing_headers_are_refused() {
        let later = sent_at() + chrono::Duration::minutes(5) + chrono::Duration::seconds(1);
        assert_eq!(
            verify(
                SECRET,
                Some(TIMESTAMP),
                Some(SIGNATURE),
                BODY.as_bytes(),
                later
            ),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(SECRET, None, Some(SIGNATURE), BODY.as_bytes(), sent_at()),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(
                SECRET,
                Some("yesterday"),
                Some(SIGNATURE),
                BODY.as_bytes(),
                sent_at()
            ),
            Err(SignatureError::BadTimestamp)
        );
    }
}
