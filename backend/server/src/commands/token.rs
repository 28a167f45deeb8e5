//! `steward token …`: API tokens from the command line, for operators.

use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::Duration;
use secrecy::ExposeSecret;
use steward_core::{Clock, SystemClock, storage::Deployment};
use steward_domain::{
    ApiTokenId,
    audit::{ActorKind, AuditActor},
    credentials::ApiTokenState,
};

use crate::config::Config;

fn operator(command: &str) -> AuditActor {
    let who = std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned());
    AuditActor {
        kind: ActorKind::Cli,
        user_id: None,
        label: format!("steward {command} (operator {who})"),
    }
}

/// Issues a token for the user with this email and prints its secret on standard output.
pub async fn create(
    config: Config,
    email: &str,
    name: &str,
    expires_in_days: Option<u32>,
) -> anyhow::Result<ExitCode> {
    let storage = super::serve::open_storage(&config, super::migrate::Report::WhenApplied).await?;
    let keys = super::serve::audit_keys(&config)?;
    let clock = SystemClock;
    let expires_at = expires_in_days.map(|days| clock.now() + Duration::days(days.into()));

    let txn = storage.begin().await?;
    let deployment = Deployment::new(&txn);
    let Some(user) = deployment.find_user_by_email(email).await? else {
        bail!("no user has the email {email}");
    };
    if !user.is_active() {
        bail!("{email} is disabled; enable the user before issuing tokens");
    }
    let ctx = deployment.write_context(&clock, &keys, operator("token create"));
    let issued = ctx
        .operate_msp(user.msp_id)
        .users()
        .create_token(user.id, name, expires_at)
        .await
        .context("issue the token")?;
    txn.commit().await.context("save the token")?;

    let expiry = issued.token.expires_at.map_or_else(
        || "never expires".to_owned(),
        |at| format!("expires {}", at.to_rfc3339()),
    );
    eprintln!(
        "Issued API token \"{}\" ({}) for {} ({}); it {expiry}. The secret below is shown once:",
        issued.token.name, issued.token.id, user.email, user.role
    );
    println!("{}", issued.secret.expose_secret());
    Ok(ExitCode::SUCCESS)
}

/// Lists a user's tokens.
pub async fn list(config: Config, email: &str) -> anyhow::Result<ExitCode> {
    let storage = super::serve::open_storage(&config, super::migrate::Report::WhenApplied).await?;
    let deployment = storage.deployment();
    let Some(user) = deployment.find_user_by_email(email).await? else {
        bail!("no user has the email {email}");
    };
    let tokens = deployment
        .msp(user.msp_id)
        .tokens()
        .of_user(user.id)
        .await?;
    let now = SystemClock.now();
    if tokens.is_empty() {
        println!("{email} has no API tokens.");
    }
    for token in tokens {
        let state = match token.state(now) {
            ApiTokenState::Active => "active",
            ApiTokenState::Expired => "expired",
            ApiTokenState::Revoked => "revoked",
        };
        let last_used = token.last_used_at.map_or_else(
            || "never used".to_owned(),
            |at| format!("last used {}", at.to_rfc3339()),
        );
        println!("{}  {state:<8} {:<24} {last_used}", token.id, token.name);
    }
    Ok(ExitCode::SUCCESS)
}

/// Revokes a token by id.
pub async fn revoke(config: Config, token_id: ApiTokenId) -> anyhow::Result<ExitCode> {
    let storage = super::serve::open_storage(&config, super::migrate::Report::WhenApplied).await?;
    let keys = super::serve::audit_keys(&config)?;
    let clock = SystemClock;
    let txn = storage.begin().await?;
    let deployment = Deployment::new(&txn);
    let mut found = None;
    for msp in deployment.msps().all().await? {
        if deployment
            .msp(msp.id)
            .tokens()
            .lookup(token_id)
            .await?
            .is_some()
        {
            found = Some(msp.id);
            break;
        }
    }
    let Some(msp_id) = found else {
        bail!("no API token {token_id}");
    };
    let ctx = deployment.write_context(&clock, &keys, operator("token revoke"));
    let token = ctx
        .operate_msp(msp_id)
        .users()
        .revoke_token(token_id)
        .await
        .context("revoke the token")?;
    txn.commit().await.context("save the revocation")?;
    println!("Revoked API token \"{}\" ({}).", token.name, token.id);
    Ok(ExitCode::SUCCESS)
}
