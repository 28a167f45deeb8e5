//! `steward msp …`: the first MSP and its admin on a fresh deployment, and the operator's
//! confirmation of an MSP's email domain.

use std::process::ExitCode;

use anyhow::{Context, bail};
use steward_core::{
    SystemClock, auth, passwords,
    storage::{Deployment, NewMsp, NewUser},
};
use steward_domain::{
    Slug,
    audit::{ActorKind, AuditActor},
    tenancy::Role,
};

use crate::config::Config;

/// Creates an MSP with its first admin and prints the admin's one-time password.
pub async fn create(
    config: Config,
    name: &str,
    slug: Option<Slug>,
    admin_email: &str,
    admin_name: &str,
) -> anyhow::Result<ExitCode> {
    let name = steward_domain::text::name(name, steward_domain::text::MAX_NAME)
        .map_err(|problem| anyhow::anyhow!("the MSP's name {problem}"))?;
    let name = name.as_str();
    let storage = super::serve::open_storage(&config, super::migrate::Report::WhenApplied).await?;
    let keys = super::serve::audit_keys(&config)?;
    let slug = match slug {
        Some(slug) => slug,
        None => Slug::from_name(name)
            .context("the name has no letters or digits to make a slug from; pass --slug")?,
    };
    let password = secrecy::ExposeSecret::expose_secret(&auth::new_form_token()?).to_owned();
    let hash = passwords::hash_password(&password)?;

    let txn = storage.begin().await?;
    let deployment = Deployment::new(&txn);
    if deployment.msps().find_by_slug(&slug).await?.is_some() {
        bail!("an MSP with slug {slug} already exists");
    }
    let who = std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned());
    let clock = SystemClock;
    let ctx = deployment.write_context(
        &clock,
        &keys,
        AuditActor {
            kind: ActorKind::Cli,
            user_id: None,
            label: format!("steward msp create (operator {who})"),
        },
    );
    let msp = ctx
        .create_msp(NewMsp {
            name: name.to_owned(),
            slug,
            second_factor_policy: steward_domain::tenancy::SecondFactorPolicy::MspAdmins,
        })
        .await?;
    let admin = ctx
        .operate_msp(msp.id)
        .users()
        .create(NewUser {
            email: admin_email.to_owned(),
            display_name: admin_name.to_owned(),
            role: Role::MspAdmin,
            tenant_id: None,
            password_hash: Some(hash),
            password_change_required: true,
        })
        .await
        .context("create the admin")?;
    txn.commit().await.context("save the MSP")?;

    println!("Created the MSP \"{}\" ({}).", msp.name, msp.slug);
    println!(
        "Its admin {} signs in once with this password, chooses their own, then sets up a second factor:",
        admin.email
    );
    println!("  {password}");
    Ok(ExitCode::SUCCESS)
}

/// Confirms, as the operator, that `domain` is the MSP's.
pub async fn verify_domain(config: Config, msp: &Slug, domain: &str) -> anyhow::Result<ExitCode> {
    let storage = super::serve::open_storage(&config, super::migrate::Report::WhenApplied).await?;
    let keys = super::serve::audit_keys(&config)?;
    let txn = storage.begin().await?;
    let deployment = Deployment::new(&txn);
    let Some(found) = deployment.msps().find_by_slug(msp).await? else {
        bail!("there is no MSP with slug {msp}");
    };
    let who = std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned());
    let clock = SystemClock;
    let ctx = deployment.write_context(
        &clock,
        &keys,
        AuditActor {
            kind: ActorKind::Cli,
            user_id: None,
            label: format!("steward msp verify-domain (operator {who})"),
        },
    );
    ctx.verify_msp_domain(found.id, domain).await?;
    drop(ctx);
    txn.commit().await?;
    println!(
        "{} is now {}'s domain: its admins may have single sign-on create users from it.",
        domain.trim().to_lowercase(),
        found.name
    );
    Ok(ExitCode::SUCCESS)
}
