use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Select, Set,
};
use steward_domain::{
    MspId, Slug, TenantId,
    tenancy::{Tenant, TenantStatus},
};

use super::{Page, PageRequest, StorageError, entities::tenant, new_id};
use crate::clock::Clock;

/// The tenants of one MSP. Every query is filtered on that MSP.
#[derive(Debug, Clone, Copy)]
pub struct TenantRepository<'c, C> {
    conn: &'c C,
    msp_id: MspId,
}

/// What it takes to create a tenant.
#[derive(Debug, Clone)]
pub struct NewTenant {
    pub name: String,
    pub slug: Slug,
}

impl<'c, C: ConnectionTrait> TenantRepository<'c, C> {
    pub(crate) fn new(conn: &'c C, msp_id: MspId) -> Self {
        Self { conn, msp_id }
    }

    /// Every query starts here, so none can leave the MSP.
    fn select(&self) -> Select<tenant::Entity> {
        tenant::Entity::find().filter(tenant::Column::MspId.eq(self.msp_id.as_uuid()))
    }

    /// The tenant with this id, if it belongs to this MSP.
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

    /// One page of the MSP's tenants, oldest first.
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

    /// # Errors
    /// [`StorageError::Conflict`] when the MSP already has a tenant with this slug.
    pub async fn create(&self, clock: &dyn Clock, new: NewTenant) -> Result<Tenant, StorageError> {
        let now = clock.now();
        let row = tenant::ActiveModel {
            id: Set(new_id(clock)),
            msp_id: Set(self.msp_id.as_uuid()),
            name: Set(new.name),
            slug: Set(new.slug.into()),
            status: Set(status_name(TenantStatus::Active).to_owned()),
            created_at: Set(now),
            updated_at: Set(now),
            offboarded_at: Set(None),
        }
        .insert(self.conn)
        .await
        .map_err(|err| StorageError::from_write("a tenant with this slug", err))?;
        Tenant::try_from(row)
    }
}

fn status_name(status: TenantStatus) -> &'static str {
    match status {
        TenantStatus::Active => "active",
        TenantStatus::Offboarded => "offboarded",
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
            created_at: row.created_at,
            updated_at: row.updated_at,
            offboarded_at: row.offboarded_at,
        })
    }
}
