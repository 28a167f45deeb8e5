use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set,
};
use steward_domain::{
    MspId, Slug,
    tenancy::{Msp, Role, SsoAutoProvision},
};

use super::{StorageError, WriteContext, entities::msp, new_id};
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
    #[error(transparent)]
    Storage(#[from] StorageError),
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
            let domain = setting.domain.trim().to_lowercase();
            let plausible = domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && domain
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
            if !plausible {
                return Err(MspSettingsError::InvalidDomain(setting.domain));
            }
            Ok(SsoAutoProvision {
                domain,
                role: setting.role,
            })
        })
        .transpose()?;
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
