//! Tenants: read through a [`TenantDirectory`] (what a caller can see), changed through a
//! [`TenantAdmin`] (MSP admins and operators), every change recorded in the tenant's chain.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, Select, Set,
};
use steward_domain::{
    MspId, Slug, TenantId,
    tenancy::{Tenant, TenantStatus},
};

use super::{Page, PageRequest, StorageError, WriteContext, entities::tenant, new_id};
use crate::audit::{self, ChainRef, Change};

/// The tenants a caller can see: every tenant of one MSP, or only one of them (a customer
/// user's own). Every query carries that filter.
#[derive(Debug, Clone, Copy)]
pub struct TenantDirectory<'c, C> {
    conn: &'c C,
    msp_id: MspId,
    only: Option<TenantId>,
}

impl<'c, C: ConnectionTrait> TenantDirectory<'c, C> {
    pub(crate) fn new(conn: &'c C, msp_id: MspId, only: Option<TenantId>) -> Self {
        Self { conn, msp_id, only }
    }

    /// Every query starts here, so none can leave what the caller may see.
    fn select(&self) -> Select<tenant::Entity> {
        let select = tenant::Entity::find().filter(tenant::Column::MspId.eq(self.msp_id.as_uuid()));
        match self.only {
            Some(tenant_id) => select.filter(tenant::Column::Id.eq(tenant_id.as_uuid())),
            None => select,
        }
    }

    /// The tenant with this id, if the caller can see it.
    ///
    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn lookup(&self, id: TenantId) -> Result<Option<Tenant>, StorageError> {
        self.select()
            .filter(tenant::Column::Id.eq(id.as_uuid()))
            .one(self.conn)
            .await?
            .map(Tenant::try_from)
            .transpose()
    }

    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn find_by_slug(&self, slug: &Slug) -> Result<Option<Tenant>, StorageError> {
        self.select()
            .filter(tenant::Column::Slug.eq(slug.as_str()))
            .one(self.conn)
            .await?
            .map(Tenant::try_from)
            .transpose()
    }

    /// One page of the visible tenants, oldest first.
    ///
    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn list(&self, page: PageRequest) -> Result<Page<Tenant>, StorageError> {
        let mut select = self
            .select()
            .order_by_asc(tenant::Column::Id)
            .limit(page.limit.saturating_add(1));
        if let Some(after) = page.after {
            select = select.filter(tenant::Column::Id.gt(after));
        }
        let rows = select
            .all(self.conn)
            .await?
            .into_iter()
            .map(Tenant::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(rows, page.limit, |t| t.id.as_uuid()))
    }
}

/// What it takes to create a tenant.
#[derive(Debug, Clone)]
pub struct NewTenant {
    pub name: String,
    pub slug: Slug,
}

/// Changes to a tenant; empty fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct TenantChanges {
    pub name: Option<String>,
    pub automation_level: Option<u8>,
}

/// The automation level of a new tenant: automatic for low-risk reversible actions.
pub const DEFAULT_AUTOMATION_LEVEL: u8 = 2;

/// Why a tenant change was refused.
#[derive(Debug, thiserror::Error)]
pub enum TenantAdminError {
    #[error("the MSP has no tenant {0}")]
    NotFound(TenantId),
    #[error("the MSP already has a tenant with slug {0}")]
    SlugTaken(Slug),
    #[error("the tenant's name {0}")]
    InvalidName(#[source] steward_domain::text::TextError),
    #[error("the automation level must be 0, 1, 2 or 3, not {0}")]
    InvalidAutomationLevel(u8),
    #[error("tenant {0} is offboarded; its history stays readable but it cannot change")]
    Offboarded(TenantId),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Creates and changes the tenants of one MSP, recording each change in the tenant's chain.
#[derive(Debug)]
pub struct TenantAdmin<'a> {
    ctx: &'a WriteContext<'a>,
    msp_id: MspId,
}

impl<'a> TenantAdmin<'a> {
    pub(crate) fn new(ctx: &'a WriteContext<'a>, msp_id: MspId) -> Self {
        Self { ctx, msp_id }
    }

    fn directory(&self) -> TenantDirectory<'a, sea_orm::DatabaseTransaction> {
        TenantDirectory::new(self.ctx.txn, self.msp_id, None)
    }

    /// # Errors
    /// [`TenantAdminError::SlugTaken`] when the MSP already has the slug.
    pub async fn create(&self, new: NewTenant) -> Result<Tenant, TenantAdminError> {
        let name = checked_name(&new.name)?;
        if self.directory().find_by_slug(&new.slug).await?.is_some() {
            return Err(TenantAdminError::SlugTaken(new.slug));
        }
        let now = self.ctx.clock.now();
        let row = tenant::ActiveModel {
            id: Set(new_id(self.ctx.clock)),
            msp_id: Set(self.msp_id.as_uuid()),
            name: Set(name),
            slug: Set(new.slug.clone().into()),
            status: Set(TenantStatus::Active.as_str().to_owned()),
            automation_level: Set(i16::from(DEFAULT_AUTOMATION_LEVEL)),
            created_at: Set(now),
            updated_at: Set(now),
            offboarded_at: Set(None),
        }
        .insert(self.ctx.txn)
        .await
        .map_err(
            |err| match StorageError::from_write("a tenant with this slug", err) {
                StorageError::Conflict { .. } => TenantAdminError::SlugTaken(new.slug.clone()),
                other => other.into(),
            },
        )?;
        let tenant = Tenant::try_from(row)?;
        self.record(
            &tenant,
            Change::new("tenant.created", "tenant", &tenant.id).after(&tenant),
        )
        .await?;
        Ok(tenant)
    }

    /// # Errors
    /// [`TenantAdminError::NotFound`] for a tenant of another MSP or none;
    /// [`TenantAdminError::Offboarded`] for an offboarded tenant.
    pub(crate) async fn update(
        &self,
        id: TenantId,
        changes: TenantChanges,
    ) -> Result<Tenant, TenantAdminError> {
        let before = self.active_tenant(id).await?;
        let mut after = before.clone();
        if let Some(name) = &changes.name {
            after.name = checked_name(name)?;
        }
        if let Some(level) = changes.automation_level {
            if level > 3 {
                return Err(TenantAdminError::InvalidAutomationLevel(level));
            }
            after.automation_level = level;
        }
        if after == before {
            return Ok(before);
        }
        after.updated_at = self.ctx.clock.now();
        self.save(&after).await?;
        self.record(
            &after,
            Change::new("tenant.updated", "tenant", &id)
                .before(&before)
                .after(&after),
        )
        .await?;
        Ok(after)
    }

    /// Stops managing a tenant. Its data and history stay readable.
    ///
    /// # Errors
    /// As [`TenantAdmin::update`].
    pub(crate) async fn offboard(&self, id: TenantId) -> Result<Tenant, TenantAdminError> {
        let before = self.active_tenant(id).await?;
        let now = self.ctx.clock.now();
        let after = Tenant {
            status: TenantStatus::Offboarded,
            offboarded_at: Some(now),
            updated_at: now,
            ..before.clone()
        };
        self.save(&after).await?;
        self.record(
            &after,
            Change::new("tenant.offboarded", "tenant", &id)
                .before(&before)
                .after(&after),
        )
        .await?;
        Ok(after)
    }

    async fn active_tenant(&self, id: TenantId) -> Result<Tenant, TenantAdminError> {
        let tenant = self
            .directory()
            .lookup(id)
            .await?
            .ok_or(TenantAdminError::NotFound(id))?;
        if tenant.status == TenantStatus::Offboarded {
            return Err(TenantAdminError::Offboarded(id));
        }
        Ok(tenant)
    }

    async fn save(&self, tenant: &Tenant) -> Result<(), StorageError> {
        tenant::Model::from(tenant)
            .into_active_model()
            .reset_all()
            .update(self.ctx.txn)
            .await?;
        Ok(())
    }

    async fn record(&self, tenant: &Tenant, change: Change) -> Result<(), StorageError> {
        let chain = ChainRef::Tenant {
            msp_id: tenant.msp_id,
            tenant_id: tenant.id,
        };
        audit::append(self.ctx, chain, change).await?;
        Ok(())
    }
}

fn checked_name(name: &str) -> Result<String, TenantAdminError> {
    steward_domain::text::name(name, steward_domain::text::MAX_NAME)
        .map_err(TenantAdminError::InvalidName)
}

impl From<&Tenant> for tenant::Model {
    fn from(tenant: &Tenant) -> Self {
        tenant::Model {
            id: tenant.id.as_uuid(),
            msp_id: tenant.msp_id.as_uuid(),
            name: tenant.name.clone(),
            slug: tenant.slug.to_string(),
            status: tenant.status.as_str().to_owned(),
            automation_level: i16::from(tenant.automation_level),
            created_at: tenant.created_at,
            updated_at: tenant.updated_at,
            offboarded_at: tenant.offboarded_at,
        }
    }
}

impl TryFrom<tenant::Model> for Tenant {
    type Error = StorageError;

    fn try_from(row: tenant::Model) -> Result<Self, Self::Error> {
        let status = match row.status.as_str() {
            "active" => TenantStatus::Active,
            "offboarded" => TenantStatus::Offboarded,
            other => return Err(StorageError::corrupt("tenant status", &other)),
        };
        Ok(Tenant {
            id: row.id.into(),
            msp_id: row.msp_id.into(),
            name: row.name,
            slug: row
                .slug
                .parse()
                .map_err(|err| StorageError::corrupt("tenant slug", &err))?,
            status,
            automation_level: u8::try_from(row.automation_level)
                .ok()
                .filter(|level| *level <= 3)
                .ok_or_else(|| {
                    StorageError::corrupt("tenant automation level", &row.automation_level)
                })?,
            created_at: row.created_at,
            updated_at: row.updated_at,
            offboarded_at: row.offboarded_at,
        })
    }
}

/// An MSP admin's changes to one tenant, reached through the tenant's work
/// ([`super::TenantWork::settings`]): its name and automation level, its own authority policy,
/// offboarding it. Each change is recorded in the tenant's chain.
#[derive(Debug)]
pub struct TenantSettings<'a> {
    admin: TenantAdmin<'a>,
    tenant_id: TenantId,
}

impl<'a> TenantSettings<'a> {
    pub(crate) fn new(ctx: &'a WriteContext<'a>, msp_id: MspId, tenant_id: TenantId) -> Self {
        Self {
            admin: TenantAdmin::new(ctx, msp_id),
            tenant_id,
        }
    }

    /// Renames the tenant or sets its automation level.
    ///
    /// # Errors
    /// [`TenantAdminError::InvalidName`], [`TenantAdminError::InvalidAutomationLevel`];
    /// [`TenantAdminError::Offboarded`] for a tenant no longer managed.
    pub async fn update(&self, changes: TenantChanges) -> Result<Tenant, TenantAdminError> {
        self.admin.update(self.tenant_id, changes).await
    }

    /// Stops managing the tenant. Its data and history stay readable.
    ///
    /// # Errors
    /// [`TenantAdminError::Offboarded`] when it already is.
    pub async fn offboard(&self) -> Result<Tenant, TenantAdminError> {
        self.admin.offboard(self.tenant_id).await
    }

    /// Sets the tenant's own authority policy, checked beforehand (outside the transaction:
    /// see `crate::decisions::policy::tenant`).
    ///
    /// # Errors
    /// [`super::PolicyUpdateError`] when the tenant is offboarded.
    pub async fn set_policy(
        &self,
        policy: &super::CheckedPolicy,
    ) -> Result<steward_domain::actions::TenantPolicy, super::PolicyUpdateError> {
        super::policies::set(self.admin.ctx, self.admin.msp_id, self.tenant_id, policy).await
    }

    /// Removes the tenant's own policy; returns whether it had one.
    ///
    /// # Errors
    /// When the database cannot be written.
    pub async fn remove_policy(&self) -> Result<bool, StorageError> {
        super::policies::remove(self.admin.ctx, self.admin.msp_id, self.tenant_id).await
    }
}
