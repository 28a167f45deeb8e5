//! What the risk engine and the authority policy need to know about an entity of the
//! inventory: its name, how much the business depends on it, its admin roles and tags, and
//! which integrations report it.

use steward_domain::{IntegrationId, actions::TargetKind, incidents::EntityKey};

use crate::{
    risk,
    storage::{StorageError, TenantWork},
};

/// What the policy and the risk engine need to know about an entity.
pub(crate) struct Profile {
    pub(crate) name: String,
    pub(crate) criticality: steward_domain::actions::Criticality,
    pub(crate) admin_roles: Vec<String>,
    pub(crate) tags: Vec<String>,
    pub(crate) sources: Vec<IntegrationId>,
}

/// The entity's profile; `None` when it is not in the tenant's inventory.
pub(crate) async fn profile(
    work: &TenantWork<'_>,
    entity: EntityKey,
) -> Result<Option<Profile>, StorageError> {
    Ok(match entity.kind {
        TargetKind::Device => work
            .inventory()
            .device(entity.id)
            .await?
            .map(|device| Profile {
                criticality: risk::device_criticality(&device),
                name: device.hostname,
                admin_roles: Vec::new(),
                tags: device.tags,
                sources: device.sources.iter().map(|s| s.integration_id).collect(),
            }),
        TargetKind::Identity => {
            work.inventory()
                .identity(entity.id)
                .await?
                .map(|identity| Profile {
                    criticality: risk::identity_criticality(&identity),
                    name: identity.user_principal_name,
                    tags: identity.department.into_iter().collect(),
                    sources: identity.sources.iter().map(|s| s.integration_id).collect(),
                    admin_roles: identity.admin_roles,
                })
        }
    })
}
