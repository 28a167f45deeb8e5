//! Integrations: read through an [`IntegrationDirectory`] (confined to one tenant of one MSP),
//! changed through an [`IntegrationAdmin`], every change recorded in the tenant's chain. The
//! credential is sealed with the deployment's [`SecretBox`], bound to the integration's id, and
//! never appears in an audit entry or an answer.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Select, Set,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use steward_domain::{
    IntegrationId, MspId, TenantId,
    integrations::{Integration, IntegrationHealth, MissingTelemetry},
    observations::Vendor,
    tenancy::TenantStatus,
};

use super::{
    StorageError, TenantDirectory, WriteContext, entities::integration, new_id, scoping::InTenant,
};
use crate::{
    audit::{self, ChainRef, Change},
    secrets::{OpenError, SecretBox},
};

/// Every integration of every MSP's active tenants, for the sync scheduler.
///
/// # Errors
/// When the database cannot be read or holds an invalid row.
pub(crate) async fn all_active<C: ConnectionTrait>(
    conn: &C,
) -> Result<Vec<Integration>, StorageError> {
    use super::entities::tenant;
    let active: Vec<uuid::Uuid> = tenant::Entity::find()
        .filter(tenant::Column::Status.eq("active"))
        .all(conn)
        .await?
        .into_iter()
        .map(|t| t.id)
        .collect();
    integration::Entity::find()
        .filter(integration::Column::TenantId.is_in(active))
        .order_by_asc(integration::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(Integration::try_from)
        .collect()
}

/// The integrations of one tenant. Every query carries the MSP and the tenant.
#[derive(Debug, Clone, Copy)]
pub struct IntegrationDirectory<'c, C> {
    conn: &'c C,
    msp_id: MspId,
    tenant_id: TenantId,
}

impl<'c, C: ConnectionTrait> IntegrationDirectory<'c, C> {
    pub(crate) fn new(conn: &'c C, msp_id: MspId, tenant_id: TenantId) -> Self {
        Self {
            conn,
            msp_id,
            tenant_id,
        }
    }

    fn select(&self) -> Select<integration::Entity> {
        integration::Entity::find().in_tenant(self.msp_id, self.tenant_id)
    }

    /// Every integration of the tenant, oldest first.
    ///
    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn list(&self) -> Result<Vec<Integration>, StorageError> {
        self.select()
            .order_by_asc(integration::Column::Id)
            .all(self.conn)
            .await?
            .into_iter()
            .map(Integration::try_from)
            .collect()
    }

    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn lookup(&self, id: IntegrationId) -> Result<Option<Integration>, StorageError> {
        self.row(id).await?.map(Integration::try_from).transpose()
    }

    async fn row(&self, id: IntegrationId) -> Result<Option<integration::Model>, StorageError> {
        Ok(self
            .select()
            .filter(integration::Column::Id.eq(id.as_uuid()))
            .one(self.conn)
            .await?)
    }
}

/// A new integration.
#[derive(Debug)]
pub struct NewIntegration {
    pub vendor: Vendor,
    pub name: String,
    pub settings: serde_json::Value,
    pub secret: SecretString,
}

/// Changes to an integration; absent fields stay as they are.
#[derive(Debug, Default)]
pub struct IntegrationChanges {
    pub name: Option<String>,
    pub settings: Option<serde_json::Value>,
    pub secret: Option<SecretString>,
}

/// Why an integration change was refused.
#[derive(Debug, thiserror::Error)]
pub enum IntegrationAdminError {
    #[error("no integration {0}")]
    NotFound(IntegrationId),
    #[error("the MSP has no tenant {0}")]
    UnknownTenant(TenantId),
    #[error("the tenant is offboarded; it cannot be connected to vendors")]
    TenantOffboarded,
    #[error("the tenant already has an integration named {0:?}")]
    NameTaken(String),
    #[error("the integration's name {0}")]
    InvalidName(#[source] steward_domain::text::TextError),
    #[error(transparent)]
    Secret(#[from] OpenError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The outcome of talking to the vendor, for an integration's health.
#[derive(Debug, Clone)]
pub enum CheckOutcome {
    Succeeded,
    Failed(String),
}

/// Creates, changes and removes one tenant's integrations, and opens their credentials.
#[derive(Debug)]
pub struct IntegrationAdmin<'a> {
    ctx: &'a WriteContext<'a>,
    msp_id: MspId,
    tenant_id: TenantId,
    secrets: &'a SecretBox,
}

impl<'a> IntegrationAdmin<'a> {
    pub(crate) fn new(
        ctx: &'a WriteContext<'a>,
        msp_id: MspId,
        tenant_id: TenantId,
        secrets: &'a SecretBox,
    ) -> Self {
        Self {
            ctx,
            msp_id,
            tenant_id,
            secrets,
        }
    }

    fn directory(&self) -> IntegrationDirectory<'a, sea_orm::DatabaseTransaction> {
        IntegrationDirectory::new(self.ctx.txn, self.msp_id, self.tenant_id)
    }

    /// # Errors
    /// [`IntegrationAdminError::NameTaken`] for a name the tenant already uses;
    /// [`IntegrationAdminError::TenantOffboarded`].
    pub async fn create(&self, new: NewIntegration) -> Result<Integration, IntegrationAdminError> {
        let tenant = TenantDirectory::new(self.ctx.txn, self.msp_id, None)
            .lookup(self.tenant_id)
            .await?
            .ok_or(StorageError::corrupt(
                "tenant of a tenant scope",
                &self.tenant_id,
            ))?;
        if tenant.status == TenantStatus::Offboarded {
            return Err(IntegrationAdminError::TenantOffboarded);
        }
        let name = checked_name(&new.name)?;
        let now = self.ctx.clock.now();
        let id = new_id(self.ctx.clock);
        let row = integration::ActiveModel {
            id: Set(id),
            msp_id: Set(self.msp_id.as_uuid()),
            tenant_id: Set(self.tenant_id.as_uuid()),
            vendor: Set(new.vendor.as_str().to_owned()),
            name: Set(name.clone()),
            settings: Set(new.settings),
            sealed_secret: Set(self.seal(IntegrationId::from_uuid(id), &new.secret)),
            health: Set(IntegrationHealth::Unknown.as_str().to_owned()),
            last_error: Set(None),
            last_checked_at: Set(None),
            last_success_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            sealed_webhook_secret: Set(None),
            sync_state: Set(None),
            ingest_key_sha256: Set(None),
            missing_telemetry: Set(None),
        }
        .insert(self.ctx.txn)
        .await
        .map_err(|err| {
            match StorageError::from_write("an integration with this name", err) {
                StorageError::Conflict { .. } => IntegrationAdminError::NameTaken(name.clone()),
                other => other.into(),
            }
        })?;
        let integration = Integration::try_from(row)?;
        self.record(
            Change::new("integration.created", "integration", &integration.id).after(&integration),
        )
        .await?;
        Ok(integration)
    }

    /// # Errors
    /// [`IntegrationAdminError::NotFound`]; [`IntegrationAdminError::NameTaken`].
    pub async fn update(
        &self,
        id: IntegrationId,
        changes: IntegrationChanges,
    ) -> Result<Integration, IntegrationAdminError> {
        let row = self.existing(id).await?;
        let before = Integration::try_from(row.clone())?;
        let mut active = row.into_active_model();
        if let Some(name) = &changes.name {
            active.name = Set(checked_name(name)?);
        }
        if let Some(settings) = changes.settings {
            active.settings = Set(settings);
            // Incremental reads were of what the old settings named: start over.
            active.sync_state = Set(None);
        }
        let secret_changed = changes.secret.is_some();
        if let Some(secret) = &changes.secret {
            active.sealed_secret = Set(self.seal(id, secret));
        }
        // New settings or credentials have not been tried yet.
        active.health = Set(IntegrationHealth::Unknown.as_str().to_owned());
        active.last_error = Set(None);
        active.updated_at = Set(self.ctx.clock.now());
        let name = changes.name.clone().unwrap_or_default();
        let row =
            active.update(self.ctx.txn).await.map_err(|err| {
                match StorageError::from_write("an integration with this name", err) {
                    StorageError::Conflict { .. } => IntegrationAdminError::NameTaken(name.clone()),
                    other => other.into(),
                }
            })?;
        let after = Integration::try_from(row)?;
        self.record(
            Change::new("integration.updated", "integration", &id)
                .before(&before)
                .after(&serde_json::json!({"integration": &after, "credential_replaced": secret_changed})),
        )
        .await?;
        Ok(after)
    }

    /// Removes the integration; Steward stops talking to the vendor for this tenant.
    ///
    /// # Errors
    /// [`IntegrationAdminError::NotFound`].
    pub async fn remove(&self, id: IntegrationId) -> Result<Integration, IntegrationAdminError> {
        let integration = self
            .directory()
            .lookup(id)
            .await?
            .ok_or(IntegrationAdminError::NotFound(id))?;
        integration::Entity::delete_by_id(id.as_uuid())
            .exec(self.ctx.txn)
            .await
            .map_err(StorageError::from)?;
        self.record(Change::new("integration.removed", "integration", &id).before(&integration))
            .await?;
        Ok(integration)
    }

    /// The integration with its opened credential, for a connector.
    ///
    /// # Errors
    /// [`IntegrationAdminError::NotFound`]; [`IntegrationAdminError::Secret`] when the credential
    /// does not open (another secrets key, or a tampered row).
    pub async fn open(
        &self,
        id: IntegrationId,
    ) -> Result<(Integration, SecretString), IntegrationAdminError> {
        let row = self.existing(id).await?;
        let secret = self.secrets.open(&row.sealed_secret, &context(id))?;
        let secret = String::from_utf8(secret).map_err(|_| OpenError)?;
        Ok((Integration::try_from(row)?, SecretString::from(secret)))
    }

    /// Creates a new signing secret for the integration's inbound webhooks (replacing any
    /// earlier one, which stops working at once) and returns it, once: it is stored sealed and
    /// never shown again. The secret is Standard Webhooks' `whsec_` and 32 random bytes in
    /// base64.
    ///
    /// # Errors
    /// [`IntegrationAdminError::NotFound`].
    pub async fn rotate_webhook_secret(
        &self,
        id: IntegrationId,
    ) -> Result<SecretString, IntegrationAdminError> {
        let row = self.existing(id).await?;
        let secret = super::inbound_webhooks::new_signing_secret()?;
        let replaced = row.sealed_webhook_secret.is_some();
        let mut active = row.into_active_model();
        active.sealed_webhook_secret = Set(Some(
            self.secrets
                .seal(secret.expose_secret().as_bytes(), &webhook_context(id)),
        ));
        active.updated_at = Set(self.ctx.clock.now());
        active
            .update(self.ctx.txn)
            .await
            .map_err(StorageError::from)?;
        self.record(
            Change::new("integration.webhook_secret_created", "integration", &id)
                .after(&serde_json::json!({"replaced_earlier_secret": replaced})),
        )
        .await?;
        Ok(secret)
    }

    /// Creates a new log ingest key for the integration (replacing any earlier one, which stops
    /// working at once) and returns it, once: only its SHA-256 is stored. Log shippers that
    /// cannot sign their requests send it as a bearer token to the log ingest endpoint.
    ///
    /// # Errors
    /// [`IntegrationAdminError::NotFound`].
    pub async fn rotate_ingest_key(
        &self,
        id: IntegrationId,
    ) -> Result<SecretString, IntegrationAdminError> {
        let row = self.existing(id).await?;
        let key = super::inbound_webhooks::new_ingest_key()?;
        let replaced = row.ingest_key_sha256.is_some();
        let mut active = row.into_active_model();
        active.ingest_key_sha256 = Set(Some(super::inbound_webhooks::ingest_key_digest(
            key.expose_secret(),
        )));
        active.updated_at = Set(self.ctx.clock.now());
        active
            .update(self.ctx.txn)
            .await
            .map_err(StorageError::from)?;
        self.record(
            Change::new("integration.ingest_key_created", "integration", &id)
                .after(&serde_json::json!({"replaced_earlier_key": replaced})),
        )
        .await?;
        Ok(key)
    }

    /// Records the outcome of talking to the vendor (a connection test or a synchronization),
    /// with the health before and after, in the audit chain.
    ///
    /// # Errors
    /// [`IntegrationAdminError::NotFound`].
    pub async fn record_check(
        &self,
        id: IntegrationId,
        outcome: CheckOutcome,
    ) -> Result<Integration, IntegrationAdminError> {
        self.record_outcome(id, outcome, true).await
    }

    /// Like [`IntegrationAdmin::record_check`] for scheduled synchronizations: the audit chain
    /// records only changes of health (a failing integration, a recovery), not every run.
    ///
    /// # Errors
    /// [`IntegrationAdminError::NotFound`].
    pub async fn record_scheduled_check(
        &self,
        id: IntegrationId,
        outcome: CheckOutcome,
    ) -> Result<Integration, IntegrationAdminError> {
        self.record_outcome(id, outcome, false).await
    }

    async fn record_outcome(
        &self,
        id: IntegrationId,
        outcome: CheckOutcome,
        always_audit: bool,
    ) -> Result<Integration, IntegrationAdminError> {
        let row = self.existing(id).await?;
        let before = Integration::try_from(row.clone())?;
        let now = self.ctx.clock.now();
        let mut active = row.into_active_model();
        active.last_checked_at = Set(Some(now));
        match &outcome {
            CheckOutcome::Succeeded => {
                active.health = Set(IntegrationHealth::Healthy.as_str().to_owned());
                active.last_error = Set(None);
                active.last_success_at = Set(Some(now));
            }
            CheckOutcome::Failed(error) => {
                active.health = Set(IntegrationHealth::Failing.as_str().to_owned());
                active.last_error = Set(Some(error.clone()));
            }
        }
        let after = self.save(active).await?;
        if always_audit || before.health != after.health || before.last_error != after.last_error {
            self.record(
                Change::new("integration.checked", "integration", &id)
                    .before(&health_of(&before))
                    .after(&health_of(&after)),
            )
            .await?;
        }
        Ok(after)
    }

    /// Records what the vendor withheld at a synchronization that worked (nothing: an empty
    /// list); a change — a gap opening or closing — is in the tenant's audit chain.
    ///
    /// # Errors
    /// [`IntegrationAdminError::NotFound`].
    pub async fn record_missing_telemetry(
        &self,
        id: IntegrationId,
        missing: &[MissingTelemetry],
    ) -> Result<Integration, IntegrationAdminError> {
        let row = self.existing(id).await?;
        let before = Integration::try_from(row.clone())?;
        if before.missing_telemetry == missing {
            return Ok(before);
        }
        let mut active = row.into_active_model();
        active.missing_telemetry = Set((!missing.is_empty()).then(|| json!(missing)));
        let after = self.save(active).await?;
        self.record(
            Change::new("integration.telemetry_changed", "integration", &id)
                .before(&json!({"missing_telemetry": before.missing_telemetry}))
                .after(&json!({"missing_telemetry": after.missing_telemetry})),
        )
        .await?;
        Ok(after)
    }

    /// Writes `active` and reads it back.
    async fn save(
        &self,
        active: integration::ActiveModel,
    ) -> Result<Integration, IntegrationAdminError> {
        Ok(Integration::try_from(
            active
                .update(self.ctx.txn)
                .await
                .map_err(StorageError::from)?,
        )?)
    }

    async fn existing(
        &self,
        id: IntegrationId,
    ) -> Result<integration::Model, IntegrationAdminError> {
        self.directory()
            .row(id)
            .await?
            .ok_or(IntegrationAdminError::NotFound(id))
    }

    fn seal(&self, id: IntegrationId, secret: &SecretString) -> String {
        self.secrets
            .seal(secret.expose_secret().as_bytes(), &context(id))
    }

    async fn record(&self, change: Change) -> Result<(), StorageError> {
        let chain = ChainRef::Tenant {
            msp_id: self.msp_id,
            tenant_id: self.tenant_id,
        };
        audit::append(self.ctx, chain, change).await?;
        Ok(())
    }
}

fn health_of(integration: &Integration) -> serde_json::Value {
    serde_json::json!({
        "health": integration.health,
        "last_error": integration.last_error,
    })
}

/// What a sealed credential is bound to.
fn context(id: IntegrationId) -> Vec<u8> {
    format!("integration:{id}").into_bytes()
}

/// The sealing context of an integration's webhook secret: bound to it, and never opened as
/// its vendor credential.
pub(crate) fn webhook_context(id: IntegrationId) -> Vec<u8> {
    format!("integration-webhook:{id}").into_bytes()
}

fn checked_name(name: &str) -> Result<String, IntegrationAdminError> {
    steward_domain::text::name(name, steward_domain::text::MAX_NAME)
        .map_err(IntegrationAdminError::InvalidName)
}

impl TryFrom<integration::Model> for Integration {
    type Error = StorageError;

    fn try_from(row: integration::Model) -> Result<Self, Self::Error> {
        let vendor = Vendor::parse(&row.vendor)
            .ok_or_else(|| StorageError::corrupt("integration vendor", &row.vendor))?;
        let health = IntegrationHealth::parse(&row.health)
            .ok_or_else(|| StorageError::corrupt("integration health", &row.health))?;
        let missing_telemetry = row
            .missing_telemetry
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| StorageError::corrupt("integration missing telemetry", &e))?
            .unwrap_or_default();
        Ok(Integration {
            id: row.id.into(),
            msp_id: row.msp_id.into(),
            tenant_id: row.tenant_id.into(),
            vendor,
            name: row.name,
            settings: row.settings,
            health,
            last_error: row.last_error,
            last_checked_at: row.last_checked_at,
            last_success_at: row.last_success_at,
            missing_telemetry,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_credentials_are_bound_to_their_integration() {
        let secrets = SecretBox::from_key(&[7; 32]);
        let a = IntegrationId::from_uuid(uuid::Uuid::from_u128(1));
        let b = IntegrationId::from_uuid(uuid::Uuid::from_u128(2));
        let sealed = secrets.seal(b"client-secret", &context(a));
        assert_eq!(
            secrets.open(&sealed, &context(a)).unwrap(),
            b"client-secret"
        );
        assert!(secrets.open(&sealed, &context(b)).is_err());
    }

    #[test]
    fn timestamps_are_optional_until_checked() {
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let row = integration::Model {
            id: uuid::Uuid::from_u128(1),
            msp_id: uuid::Uuid::from_u128(2),
            tenant_id: uuid::Uuid::from_u128(3),
            vendor: "microsoft_graph".into(),
            name: "Entra ID".into(),
            settings: serde_json::json!({}),
            sealed_secret: String::new(),
            health: "unknown".into(),
            last_error: None,
            last_checked_at: None,
            last_success_at: None,
            created_at: now,
            updated_at: now,
            sealed_webhook_secret: None,
            sync_state: None,
            ingest_key_sha256: None,
            missing_telemetry: None,
        };
        let integration = Integration::try_from(row.clone()).unwrap();
        assert_eq!(integration.health, IntegrationHealth::Unknown);
        assert!(
            Integration::try_from(integration::Model {
                vendor: "nope".into(),
                ..row
            })
            .is_err()
        );
    }
}
