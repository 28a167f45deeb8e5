use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use steward_domain::{MspId, Slug, tenancy::Msp};

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

impl TryFrom<msp::Model> for Msp {
    type Error = StorageError;

    fn try_from(row: msp::Model) -> Result<Self, Self::Error> {
        Ok(Msp {
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
