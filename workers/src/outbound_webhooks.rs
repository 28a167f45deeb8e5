//! Outbound webhook deliveries: one attempt per job, signed per Standard Webhooks (`webhook-id`,
//! `webhook-timestamp`, `webhook-signature`), posted only to the addresses the target's name
//! resolves to when they were checked — so a name that turns private between the check and the
//! request (DNS rebinding) reaches nothing. A failed attempt is tried again on the retry
//! schedule below ([`retry_delay`], [`MAX_ATTEMPTS`]); the scheduler hands it out when due.

use std::time::Duration;

use steward_core::storage::{
    Deployment,
    outbound_webhooks::{self, Attempt, Outgoing},
};
use steward_domain::TenantId;
use steward_integrations::{http::install_tls_provider, standard_webhooks};

use crate::{JobError, Shared, handlers::steward_actor};

/// How long a receiver has to answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Attempts before a delivery is given up (the last about an hour after the first).
pub const MAX_ATTEMPTS: u32 = 8;

/// The wait after the `attempts`-th failed attempt: 30 s, doubling, at most an hour.
#[must_use]
pub fn retry_delay(attempts: u32) -> chrono::Duration {
    let seconds = 30_i64.saturating_mul(1_i64 << attempts.saturating_sub(1).min(20));
    chrono::Duration::seconds(seconds.min(3600))
}

/// When a delivery whose attempt number `attempt` just failed is tried again, if at all.
fn retry_at(
    attempt: u32,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    (attempt < MAX_ATTEMPTS).then(|| now + retry_delay(attempt))
}

/// `Job::DeliverWebhook`: one attempt of a delivery still pending.
///
/// # Errors
/// When the database fails (the job runs again); a failing receiver is an outcome.
pub(crate) async fn deliver(
    shared: &Shared,
    tenant_id: TenantId,
    delivery_id: &str,
) -> Result<(), JobError> {
    let Some(outgoing) =
        outbound_webhooks::outgoing(shared.storage.conn(), &shared.secrets, delivery_id)
            .await
            .map_err(JobError::from)?
    else {
        return Ok(());
    };
    let attempt = attempt(shared, &outgoing).await;
    let txn = shared.storage.begin().await.map_err(JobError::from)?;
    let deployment = Deployment::new(&txn);
    let ctx = deployment.write_context(
        shared.clock.as_ref(),
        &shared.keys,
        steward_actor("deliver_webhook"),
    );
    let recorded = outbound_webhooks::record_attempt(&ctx, delivery_id, &attempt)
        .await
        .map_err(JobError::from)?;
    drop(ctx);
    txn.commit().await.map_err(JobError::from)?;
    if let Some(delivery) = recorded {
        tracing::info!(
            %tenant_id,
            delivery = %delivery.id,
            event = delivery.event.as_str(),
            status = delivery.status.as_str(),
            attempts = delivery.attempts,
            "webhook delivery attempted"
        );
    }
    Ok(())
}

async fn attempt(shared: &Shared, outgoing: &Outgoing) -> Attempt {
    let retry_at = retry_at(outgoing.delivery.attempts + 1, shared.clock.now());
    let failed = |error: String| Attempt::Failed {
        status: None,
        error,
        retry_at,
    };
    let Ok(body) = serde_json::to_vec(&outgoing.delivery.payload) else {
        return failed("the payload does not serialize".to_owned());
    };
    let timestamp = shared.clock.now().timestamp();
    let Some(signature) = standard_webhooks::sign(
        secrecy::ExposeSecret::expose_secret(&outgoing.secret),
        &outgoing.delivery.id,
        timestamp,
        &body,
    ) else {
        return failed("the signing secret is unusable".to_owned());
    };
    let target = match shared.egress.check_url(outgoing.url.clone()).await {
        Ok(target) => target,
        Err(refused) => return failed(refused.to_string()),
    };
    install_tls_provider();
    let mut client = reqwest::Client::builder()
        .user_agent(concat!("Steward-Webhooks/", env!("CARGO_PKG_VERSION")))
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none());
    if let Some(domain) = &target.domain {
        client = client.resolve_to_addrs(domain, &target.addresses);
    }
    let client = match client.build() {
        Ok(client) => client,
        Err(error) => return failed(error.to_string()),
    };
    let sent = client
        .post(target.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("webhook-id", &outgoing.delivery.id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(response) if response.status().is_success() => {
            Attempt::Delivered(response.status().as_u16())
        }
        Ok(response) => Attempt::Failed {
            status: Some(response.status().as_u16()),
            error: format!("the receiver answered HTTP {}", response.status()),
            retry_at,
        },
        Err(error) => failed(format!("the receiver could not be reached: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_an_hour_then_stop() {
        let delays: Vec<i64> = (1..=MAX_ATTEMPTS)
            .map(|n| retry_delay(n).num_seconds())
            .collect();
        assert_eq!(delays, [30, 60, 120, 240, 480, 960, 1920, 3600]);
        let now = chrono::DateTime::UNIX_EPOCH;
        assert_eq!(retry_at(1, now), Some(now + chrono::Duration::seconds(30)));
        assert_eq!(retry_at(MAX_ATTEMPTS - 1, now), Some(now + retry_delay(7)));
        assert_eq!(
            retry_at(MAX_ATTEMPTS, now),
            None,
            "the last attempt gives up"
        );
    }
}
