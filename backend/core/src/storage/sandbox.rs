//! The sandbox's simulated customers, one JSON document per tenant.
//!
//! The sandbox is the operator's simulation of vendor clouds, not tenant data a caller reads;
//! its documents are reached through the [`Deployment`](super::Deployment) handle only.

use sea_orm::{ConnectionTrait, EntityTrait, sea_query::OnConflict};
use steward_domain::TenantId;

use super::{StorageError, entities::sandbox_environment};

/// Reads and replaces sandbox environment documents.
#[derive(Debug, Clone, Copy)]
pub struct SandboxEnvironments<'c, C> {
    conn: &'c C,
}

impl<'c, C: ConnectionTrait> SandboxEnvironments<'c, C> {
    pub(crate) fn new(conn: &'c C) -> Self {
        Self { conn }
    }

    /// Every stored document.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn load_all(&self) -> Result<Vec<serde_json::Value>, StorageError> {
        Ok(sandbox_environment::Entity::find()
            .all(self.conn)
            .await?
            .into_iter()
            .map(|row| row.document)
            .collect())
    }

    /// Stores `document` as `tenant_id`'s environment, replacing any earlier one.
    ///
    /// # Errors
    /// When the database cannot be written (for instance, the tenant does not exist).
    pub async fn save(
        &self,
        tenant_id: TenantId,
        document: serde_json::Value,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StorageError> {
        let row = sandbox_environment::ActiveModel {
            tenant_id: sea_orm::Set(tenant_id.as_uuid()),
            document: sea_orm::Set(document),
            updated_at: sea_orm::Set(at),
        };
        sandbox_environment::Entity::insert(row)
            .on_conflict(
                OnConflict::column(sandbox_environment::Column::TenantId)
                    .update_columns([
                        sandbox_environment::Column::Document,
                        sandbox_environment::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec(self.conn)
            .await?;
        Ok(())
    }
}
