use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set,
};
use steward_domain::{
    MspId, Slug,
    tenancy::{Msp, Role, SsoAutoProvision},
};

use super::{
    StorageError, WriteContext,
    entities::{msp, msp_domain},
    new_id,
};
use crate::audit::{self, ChainRef, Change};

/// The MSPs of the deployment (read-only; MSPs are created by operators through
/// [`super::Deployment::create_msp`]).
#[derive(Debug, Clone, Copy)]
pub struct MspRepository<'c, C> {
    conn: &'c C,
}

/// What it takes to create an MSP.
#[derive(Debug, Clone)]
pub struct NewMsp {
    pub name: String,
    pub slug: Slug,
    /// Whose password accounts must use a second factor (admins', unless said otherwise).
    pub second_factor_policy: steward_domain::tenancy::SecondFactorPolicy,
}

impl<'c, C: ConnectionTrait> MspRepository<'c, C> {
    pub(crate) fn new(conn: &'c C) -> Self {
        Self { conn }
    }

    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn lookup(&self, id: MspId) -> Result<Option<Msp>, StorageError> {
        msp::Entity::find_by_id(id.as_uuid())
            .one(self.conn)
            .await?
            .map(Msp::try_from)
            .transpose()
    }

    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn find_by_slug(&self, slug: &Slug) -> Result<Option<Msp>, StorageError> {
        msp::Entity::find()
            .filter(msp::Column::Slug.eq(slug.as_str()))
            .one(self.conn)
            .await?
            .map(Msp::try_from)
            .transpose()
    }

    /// Every MSP, oldest first.
    ///
    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn all(&self) -> Result<Vec<Msp>, StorageError> {
        msp::Entity::find()
            .order_by_asc(msp::Column::Id)
            .all(self.conn)
            .await?
            .into_iter()
            .map(Msp::try_from)
            .collect()
    }
}

/// Creates an MSP and opens its chain with the creation.
pub(crate) async fn create(ctx: &WriteContext<'_>, new: NewMsp) -> Result<Msp, StorageError> {
    let now = ctx.clock.now();
    let row = msp::ActiveModel {
        id: Set(new_id(ctx.clock)),
        name: Set(new.name),
        slug: Set(new.slug.into()),
        sso_auto_provision_domain: Set(None),
        sso_auto_provision_role: Set(None),
        second_factor_policy: Set(new.second_factor_policy.as_str().to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(ctx.txn)
    .await
    .map_err(|err| StorageError::from_write("an MSP with this slug", err))?;
    let msp = Msp::try_from(row)?;
    audit::append(
        ctx,
        ChainRef::Msp(msp.id),
        Change::new("msp.created", "msp", &msp.id).after(&msp),
    )
    .await?;
    Ok(msp)
}

/// Why an MSP setting was refused.
#[derive(Debug, thiserror::Error)]
pub enum MspSettingsError {
    #[error("single sign-on may only create technicians or auditors, not {0}")]
    RoleNotAllowed(Role),
    #[error("{0:?} is not an email domain (such as harbor-it.example)")]
    InvalidDomain(String),
    #[error("{0} is a public mail service's domain: anyone can have an address there")]
    PublicMailDomain(String),
    #[error("{0} is another MSP's domain")]
    DomainTaken(String),
    #[error(
        "{0} is not proven to be this MSP's: sign in through single sign-on with your own \
         address in it and try again, or ask the deployment's operator to run `steward msp \
         verify-domain`"
    )]
    DomainNotVerified(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Checks an email domain's form; the domain, lowercase.
fn checked_domain(domain: &str) -> Result<String, MspSettingsError> {
    let lower = domain.trim().to_lowercase();
    let plausible = lower.contains('.')
        && !lower.starts_with('.')
        && !lower.ends_with('.')
        && lower.len() <= 253
        && lower
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if !plausible {
        return Err(MspSettingsError::InvalidDomain(domain.to_owned()));
    }
    if steward_domain::tenancy::is_public_mail_domain(&lower) {
        return Err(MspSettingsError::PublicMailDomain(lower));
    }
    Ok(lower)
}

/// The MSP holding `domain`, if one proved it.
///
/// # Errors
/// When the database cannot be read.
pub async fn domain_holder<C: ConnectionTrait>(
    conn: &C,
    domain: &str,
) -> Result<Option<MspId>, StorageError> {
    Ok(msp_domain::Entity::find()
        .filter(msp_domain::Column::Domain.eq(domain))
        .one(conn)
        .await?
        .map(|row| row.msp_id.into()))
}

async fn record_domain(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    domain: &str,
    verified_by: String,
) -> Result<(), MspSettingsError> {
    msp_domain::ActiveModel {
        id: Set(new_id(ctx.clock)),
        msp_id: Set(msp_id.as_uuid()),
        domain: Set(domain.to_owned()),
        verified_by: Set(verified_by.clone()),
        verified_at: Set(ctx.clock.now()),
    }
    .insert(ctx.txn)
    .await
    // Another MSP proved it at the same moment.
    .map_err(|_| MspSettingsError::DomainTaken(domain.to_owned()))?;
    audit::append(
        ctx,
        ChainRef::Msp(msp_id),
        Change::new("msp.domain_verified", "msp", &msp_id)
            .after(&serde_json::json!({"domain": domain, "verified_by": verified_by})),
    )
    .await?;
    Ok(())
}

/// The operator confirms that `domain` is `msp_id`'s (`steward msp verify-domain`).
///
/// # Errors
/// [`MspSettingsError`] for a malformed or public domain, or one another MSP holds.
pub(crate) async fn verify_domain(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    domain: &str,
) -> Result<(), MspSettingsError> {
    let domain = checked_domain(domain)?;
    match domain_holder(ctx.txn, &domain).await? {
        Some(holder) if holder == msp_id => Ok(()),
        Some(_) => Err(MspSettingsError::DomainTaken(domain)),
        None => {
            let by = format!("the deployment's operator ({})", ctx.actor.label);
            record_domain(ctx, msp_id, &domain, by).await
        }
    }
}

/// Whether the acting user proves `domain` is theirs: their own address is in it, and the
/// deployment's identity provider vouched for it when it linked their account.
async fn actor_proves<C: ConnectionTrait>(
    conn: &C,
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    domain: &str,
) -> Result<Option<String>, StorageError> {
    let Some(user_id) = ctx.actor.user_id else {
        return Ok(None);
    };
    let Some(user) = super::entities::user::Entity::find_by_id(user_id.as_uuid())
        .filter(super::entities::user::Column::MspId.eq(msp_id.as_uuid()))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    let in_domain = user
        .email
        .rsplit_once('@')
        .is_some_and(|(_, theirs)| theirs == domain);
    let vouched = super::entities::user_identity::Entity::find()
        .filter(super::entities::user_identity::Column::UserId.eq(user.id))
        .one(conn)
        .await?
        .is_some();
    Ok((in_domain && vouched).then(|| format!("single sign-on of {}", user.email)))
}

/// Sets (or, with `None`, turns off) creating users on their first single sign-on.
pub(crate) async fn set_sso_auto_provision(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    setting: Option<SsoAutoProvision>,
) -> Result<Msp, MspSettingsError> {
    let setting = setting
        .map(|setting| {
            if !matches!(setting.role, Role::Technician | Role::Auditor) {
                return Err(MspSettingsError::RoleNotAllowed(setting.role));
            }
            Ok(SsoAutoProvision {
                domain: checked_domain(&setting.domain)?,
                role: setting.role,
            })
        })
        .transpose()?;
    // One MSP per domain, and only one that proved it holds it: otherwise any MSP could
    // capture another's (or every Gmail user's) first sign-ins.
    if let Some(setting) = &setting {
        match domain_holder(ctx.txn, &setting.domain).await? {
            Some(holder) if holder == msp_id => {}
            Some(_) => return Err(MspSettingsError::DomainTaken(setting.domain.clone())),
            None => match actor_proves(ctx.txn, ctx, msp_id, &setting.domain).await? {
                Some(by) => record_domain(ctx, msp_id, &setting.domain, by).await?,
                None => {
                    return Err(MspSettingsError::DomainNotVerified(setting.domain.clone()));
                }
            },
        }
    }
    let row = msp::Entity::find_by_id(msp_id.as_uuid())
        .one(ctx.txn)
        .await
        .map_err(StorageError::from)?
        .ok_or_else(|| StorageError::corrupt("MSP", &"the caller's MSP no longer exists"))?;
    let before = Msp::try_from(row.clone())?;
    let mut active = row.into_active_model();
    active.sso_auto_provision_domain = Set(setting.as_ref().map(|s| s.domain.clone()));
    active.sso_auto_provision_role = Set(setting.as_ref().map(|s| s.role.as_str().to_owned()));
    active.updated_at = Set(ctx.clock.now());
    let after = Msp::try_from(active.update(ctx.txn).await.map_err(StorageError::from)?)?;
    audit::append(
        ctx,
        ChainRef::Msp(msp_id),
        Change::new("msp.updated", "msp", &msp_id)
            .before(&before)
            .after(&after),
    )
    .await?;
    Ok(after)
}

/// Sets whose password accounts must use a second factor.
pub(crate) async fn set_second_factor_policy(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    policy: steward_domain::tenancy::SecondFactorPolicy,
) -> Result<Msp, StorageError> {
    let row = msp::Entity::find_by_id(msp_id.as_uuid())
        .one(ctx.txn)
        .await?
        .ok_or_else(|| StorageError::corrupt("MSP", &"the caller's MSP no longer exists"))?;
    let before = Msp::try_from(row.clone())?;
    let mut active = row.into_active_model();
    active.second_factor_policy = Set(policy.as_str().to_owned());
    active.updated_at = Set(ctx.clock.now());
    let after = Msp::try_from(active.update(ctx.txn).await?)?;
    if before != after {
        audit::append(
            ctx,
            ChainRef::Msp(msp_id),
            Change::new("msp.updated", "msp", &msp_id)
                .before(&before)
                .after(&after),
        )
        .await?;
    }
    Ok(after)
}

impl TryFrom<msp::Model> for Msp {
    type Error = StorageError;

    fn try_from(row: msp::Model) -> Result<Self, Self::Error> {
        let sso_auto_provision = match (row.sso_auto_provision_domain, row.sso_auto_provision_role)
        {
            (Some(domain), Some(role)) => Some(SsoAutoProvision {
                domain,
                role: role
                    .parse()
                    .map_err(|err| StorageError::corrupt("SSO auto-provision role", &err))?,
            }),
            _ => None,
        };
        Ok(Msp {
            sso_auto_provision,
            second_factor_policy: steward_domain::tenancy::SecondFactorPolicy::parse(
                &row.second_factor_policy,
            )
            .ok_or_else(|| {
                StorageError::corrupt("second-factor policy", &row.second_factor_policy)
            })?,
            id: row.id.into(),
            name: row.name,
            slug: row
                .slug
                .parse()
                .map_err(|err| StorageError::corrupt("MSP slug", &err))?,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}
