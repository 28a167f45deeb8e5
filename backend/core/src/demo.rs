//! The demo MSP that `steward demo` runs with.
//!
//! Seeding is idempotent: it creates what is missing and leaves everything else as it is, so
//! running the demo again on the same data directory keeps its data (and whatever was changed
//! in it).

use steward_domain::{
    Slug,
    audit::{ActorKind, AuditActor},
    tenancy::{Msp, Role, Tenant, User},
};

use crate::{
    audit::AuditKeys,
    clock::Clock,
    passwords::{self, PasswordError},
    secrets::SecretBox,
    storage::{
        Deployment, IntegrationAdminError, NewIntegration, NewMsp, NewTenant, NewUser, Storage,
        StorageError, TenantAdminError, UserAdminError,
    },
};

/// The demo MSP's slug.
pub const DEMO_MSP_SLUG: &str = "harbor-it";

/// Every demo user's password. The demo listens on loopback by default; do not expose it.
pub const DEMO_PASSWORD: &str = "steward-demo";

/// The demo MSP's admin, whose sign-in `steward demo` prints.
pub const DEMO_ADMIN_EMAIL: &str = "admin@harbor-it.example";

const DEMO_MSP_NAME: &str = "Harbor IT Services";

/// The demo MSP's customers: a dental practice, an accounting firm and a logistics company.
const DEMO_TENANTS: [(&str, &str); 3] = [
    ("acme-dental", "Acme Dental"),
    ("birch-accounting", "Birch & Co Accounting"),
    ("cobalt-logistics", "Cobalt Logistics"),
];

/// The demo users: one of every MSP role, and customer users of each tenant.
const DEMO_USERS: [(&str, &str, Role, Option<&str>); 7] = [
    (DEMO_ADMIN_EMAIL, "Morgan Reyes", Role::MspAdmin, None),
    (DEMO_TECHNICIAN_EMAIL, "Sam Okafor", Role::Technician, None),
    (
        "auditor@harbor-it.example",
        "Priya Natarajan",
        Role::Auditor,
        None,
    ),
    (
        "owner@acme-dental.example",
        "Lena Ortiz",
        Role::CustomerOwner,
        Some("acme-dental"),
    ),
    (
        DEMO_CUSTOMER_APPROVER_EMAIL,
        "Tom Becker",
        Role::CustomerApprover,
        Some("acme-dental"),
    ),
    (
        "owner@birch-accounting.example",
        "Ada Birch",
        Role::CustomerOwner,
        Some("birch-accounting"),
    ),
    (
        "owner@cobalt-logistics.example",
        "Kofi Mensah",
        Role::CustomerOwner,
        Some("cobalt-logistics"),
    ),
];

/// What the demo holds after seeding.
#[derive(Debug, Clone)]
pub struct DemoSeed {
    pub msp: Msp,
    pub tenants: Vec<Tenant>,
    pub users: Vec<User>,
    /// Whether this run created anything (false when the demo data was already there).
    pub created: bool,
}

/// Why the demo could not be seeded.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Tenant(#[from] TenantAdminError),
    #[error(transparent)]
    User(#[from] UserAdminError),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Integration(#[from] IntegrationAdminError),
    #[error(transparent)]
    Slack(#[from] crate::storage::slack::SlackSettingsError),
    #[error(transparent)]
    Forbidden(#[from] crate::access::Forbidden),
}

fn demo_actor() -> AuditActor {
    AuditActor {
        kind: ActorKind::System,
        user_id: None,
        label: "steward demo".to_owned(),
    }
}

/// What [`connect_integration`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connected {
    /// The tenant had no integration of that name: it has one now.
    Created,
    /// It had one pointed at the sandbox on another address (the demo ran on another port
    /// before): its settings now point at this one.
    Repointed,
    /// It had one as wanted, or one that someone pointed elsewhere, which is left alone.
    Unchanged,
}

/// Whether every URL in an integration's settings is a sandbox path (`…/sandbox/…`).
fn points_at_sandbox(settings: &serde_json::Value) -> bool {
    let urls: Vec<&str> = settings
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(name, _)| name.ends_with("_url"))
        .filter_map(|(_, value)| value.as_str())
        .collect();
    !urls.is_empty()
        && urls
            .iter()
            .all(|url| url::Url::parse(url).is_ok_and(|url| url.path().starts_with("/sandbox/")))
}

/// Connects a demo tenant to a vendor where it has no integration of that name yet, and points
/// an existing one that still talks to the sandbox at the sandbox's current address — so the
/// demo keeps working when it is started on another port.
///
/// # Errors
/// When the database cannot be written.
pub async fn connect_integration(
    storage: &Storage,
    clock: &dyn Clock,
    keys: &AuditKeys,
    secrets: &SecretBox,
    tenant: &Tenant,
    new: NewIntegration,
) -> Result<Connected, DemoError> {
    let txn = storage.begin().await?;
    let deployment = Deployment::new(&txn);
    let ctx = deployment.write_context(clock, keys, demo_actor());
    let existing = crate::storage::IntegrationDirectory::new(&txn, tenant.msp_id, tenant.id)
        .list()
        .await?;
    let work = crate::storage::TenantWork::as_steward(&ctx, tenant.id)
        .await?
        .ok_or_else(|| StorageError::corrupt("demo tenant", &tenant.id))?;
    let integrations = work.integrations(secrets)?;
    let connected = match existing.iter().find(|i| i.name == new.name) {
        None => {
            integrations.create(new).await?;
            Connected::Created
        }
        Some(current)
            if current.vendor == new.vendor
                && current.settings != new.settings
                && points_at_sandbox(&current.settings) =>
        {
            integrations
                .update(
                    current.id,
                    crate::storage::IntegrationChanges {
                        settings: Some(new.settings),
                        ..Default::default()
                    },
                )
                .await?;
            Connected::Repointed
        }
        Some(_) => return Ok(Connected::Unchanged),
    };
    drop(work);
    drop(ctx);
    txn.commit().await.map_err(StorageError::from)?;
    Ok(connected)
}

/// The demo technician, linked to a Slack user of the sandbox's workspace.
pub const DEMO_TECHNICIAN_EMAIL: &str = "tech@harbor-it.example";

/// The demo's first customer's approver.
pub const DEMO_CUSTOMER_APPROVER_EMAIL: &str = "approver@acme-dental.example";

/// Connects the demo MSP to the sandbox's Slack workspace where it is not connected yet, and
/// updates a connection to it whose address or credentials changed (another port; a data
/// directory from before the workspace's credentials were kept per data directory). A
/// connection someone pointed elsewhere is left alone.
///
/// # Errors
/// When the database cannot be written or the connection is refused.
pub async fn connect_slack(
    storage: &Storage,
    clock: &dyn Clock,
    keys: &AuditKeys,
    secrets: &SecretBox,
    msp_id: steward_domain::MspId,
    new: crate::storage::slack::NewSlackConnection,
) -> Result<Connected, DemoError> {
    use secrecy::ExposeSecret;
    let current = crate::storage::slack::credentials(storage.conn(), secrets, msp_id).await;
    let connected = match current {
        Ok(None) => Connected::Created,
        Ok(Some((connection, bot_token, signing_secret))) => {
            let sandbox = url::Url::parse(&connection.api_base_url)
                .is_ok_and(|url| url.path().starts_with("/sandbox/"));
            let same = connection.api_base_url == new.api_base_url.as_str()
                && bot_token.expose_secret() == new.bot_token.expose_secret()
                && signing_secret.expose_secret() == new.signing_secret.expose_secret();
            if same || !sandbox {
                return Ok(Connected::Unchanged);
            }
            Connected::Repointed
        }
        // Sealed under another key: connect again with what works now.
        Err(_) => Connected::Repointed,
    };
    let txn = storage.begin().await?;
    let deployment = Deployment::new(&txn);
    let ctx = deployment.write_context(clock, keys, demo_actor());
    ctx.operate_msp(msp_id).connect_slack(secrets, new).await?;
    txn.commit().await.map_err(StorageError::from)?;
    Ok(connected)
}

/// Creates the demo MSP, its tenants and users where missing, in one transaction; every
/// creation is recorded in the audit chains as done by Steward itself.
///
/// # Errors
/// When the database cannot be written.
pub async fn seed(
    storage: &Storage,
    clock: &dyn Clock,
    keys: &AuditKeys,
) -> Result<DemoSeed, DemoError> {
    let txn = storage.begin().await?;
    let deployment = Deployment::new(&txn);
    let ctx = deployment.write_context(clock, keys, demo_actor());
    let mut created = false;

    let msp_slug = slug(DEMO_MSP_SLUG);
    let msp = match deployment.msps().find_by_slug(&msp_slug).await? {
        Some(msp) => msp,
        None => {
            created = true;
            ctx.create_msp(NewMsp {
                name: DEMO_MSP_NAME.to_owned(),
                slug: msp_slug,
                // The demo's users share a published password; a second factor would only
                // stand between a visitor and the demo. MSPs made with `steward msp create`
                // require one of their admins.
                second_factor_policy: steward_domain::tenancy::SecondFactorPolicy::Off,
            })
            .await?
        }
    };
    let admin = ctx.operate_msp(msp.id);
    let scope = deployment.msp(msp.id);

    let mut tenants = Vec::with_capacity(DEMO_TENANTS.len());
    for (tenant_slug, name) in DEMO_TENANTS {
        let tenant_slug = slug(tenant_slug);
        let tenant = match scope.tenants().find_by_slug(&tenant_slug).await? {
            Some(tenant) => tenant,
            None => {
                created = true;
                admin
                    .tenants()
                    .create(NewTenant {
                        name: name.to_owned(),
                        slug: tenant_slug,
                    })
                    .await?
            }
        };
        tenants.push(tenant);
    }

    let mut users = Vec::with_capacity(DEMO_USERS.len());
    for (email, display_name, role, tenant_slug) in DEMO_USERS {
        let user = match deployment.find_user_by_email(email).await? {
            Some(user) => user,
            None => {
                created = true;
                let tenant_id = tenant_slug.and_then(|wanted| {
                    tenants
                        .iter()
                        .find(|tenant| tenant.slug.as_str() == wanted)
                        .map(|tenant| tenant.id)
                });
                admin
                    .users()
                    .create(NewUser {
                        email: email.to_owned(),
                        display_name: display_name.to_owned(),
                        role,
                        tenant_id,
                        password_hash: Some(passwords::hash_password(DEMO_PASSWORD)?),
                        password_change_required: false,
                    })
                    .await?
            }
        };
        users.push(user);
    }

    txn.commit().await.map_err(StorageError::from)?;
    Ok(DemoSeed {
        msp,
        tenants,
        users,
        created,
    })
}

fn slug(text: &str) -> Slug {
    text.parse().expect("demo slugs are valid")
}
