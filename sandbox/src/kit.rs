//! What the simulated vendors share: reading a request's bearer token, and the OAuth access
//! tokens a vendor issues (each names its customer, the scopes it was granted and when it
//! expires). Each vendor keeps its own wording of refusals, as the real ones do.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use axum::http::{HeaderMap, header};
use tokio::time::Instant;
use uuid::Uuid;

/// The bearer token a request presents (`Authorization: Bearer …`), if any.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// The randomness a token needs is unavailable.
#[derive(Debug)]
pub(crate) struct NoRandomness;

/// A live token's holder: the customer and the scopes granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Holder {
    pub(crate) tenant: Uuid,
    pub(crate) scopes: Vec<String>,
}

impl Holder {
    /// Whether the token was granted `scope` (or one of `covering`, which grant every scope).
    pub(crate) fn may(&self, scope: &str, covering: &[&str]) -> bool {
        self.scopes
            .iter()
            .any(|s| s == scope || covering.contains(&s.as_str()))
    }
}

/// The access tokens one simulated vendor issued.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    issued: Mutex<HashMap<String, (Holder, Instant)>>,
}

impl Tokens {
    /// A new random token for `tenant` with `scopes`, living `lifetime`.
    pub(crate) fn issue(
        &self,
        tenant: Uuid,
        scopes: Vec<String>,
        lifetime: Duration,
    ) -> Result<String, NoRandomness> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|_| NoRandomness)?;
        let token = hex::encode(bytes);
        self.issued.lock().expect("token map poisoned").insert(
            token.clone(),
            (Holder { tenant, scopes }, Instant::now() + lifetime),
        );
        Ok(token)
    }

    /// Who holds the request's bearer token, while it lives.
    pub(crate) fn holder(&self, headers: &HeaderMap) -> Option<Holder> {
        let token = bearer(headers)?;
        let issued = self.issued.lock().expect("token map poisoned");
        issued
            .get(token)
            .filter(|(_, expires)| Instant::now() < *expires)
            .map(|(holder, _)| holder.clone())
    }

    /// Ends every token issued to `tenant`, as a revoked API client's are.
    pub(crate) fn revoke(&self, tenant: Uuid) {
        self.issued
            .lock()
            .expect("token map poisoned")
            .retain(|_, (holder, _)| holder.tenant != tenant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presenting(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        headers
    }

    #[test]
    fn a_token_names_its_customer_and_scopes_until_it_expires_or_is_revoked() {
        let tokens = Tokens::default();
        let (acme, other) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let token = tokens
            .issue(acme, vec!["monitoring".to_owned()], Duration::from_secs(60))
            .unwrap();
        let holder = tokens.holder(&presenting(&token)).unwrap();
        assert_eq!(holder.tenant, acme);
        assert!(holder.may("monitoring", &[]));
        assert!(!holder.may("control", &[]));
        assert!(holder.may("control", &["monitoring"]), "a covering scope");
        assert_eq!(tokens.holder(&presenting("forged")), None);
        assert_eq!(tokens.holder(&HeaderMap::new()), None);
        tokens.revoke(other);
        assert!(
            tokens.holder(&presenting(&token)).is_some(),
            "another's revoked"
        );
        tokens.revoke(acme);
        assert_eq!(tokens.holder(&presenting(&token)), None, "revoked");
        let spent = tokens.issue(acme, Vec::new(), Duration::ZERO).unwrap();
        assert_eq!(tokens.holder(&presenting(&spent)), None, "expired");
    }
}
