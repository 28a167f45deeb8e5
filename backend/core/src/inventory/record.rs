//! Recording a synchronization: each vendor record is kept as a *source* (integration, vendor
//! id, what it said, when) and merged into one device or identity per real thing, its
//! attributes reconciled across every source that reports it ([`super::reconcile`]); twins left
//! from before synchronizations were serialized are folded ([`super::device_twins`]); new
//! events are stored once, and triage and risk are queued for what changed.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
};
use serde_json::json;
use steward_domain::{
    IntegrationId, MspId, TenantId,
    access::Permission,
    actions::{Criticality, TargetKind},
    incidents::EntityKey,
    inventory::SyncCounts,
    observations::{ObservedDevice, ObservedEvent, ObservedIdentity, ObservedInventory},
};

use super::device_index::DeviceIndex;
use crate::{
    access::Forbidden,
    audit::{self, ChainRef, Change},
    jobs::{self, Job},
    storage::{
        IntegrationDirectory, StorageError, TenantWork, WriteContext,
        entities::{device, entity_source, event, identity, integration},
        inventory::{DEVICE, IDENTITY, class_uid},
        locks, new_id,
    },
};

/// Records what a synchronization found, for one tenant.
#[derive(Debug)]
pub struct InventoryWriter<'a> {
    ctx: &'a WriteContext<'a>,
    msp_id: MspId,
    tenant_id: TenantId,
}

impl<'a> InventoryWriter<'a> {
    /// Records synchronizations of `work`'s tenant, by Steward or by a person who manages its
    /// integrations (an integration of another tenant is refused when recording:
    /// [`SyncError::UnknownIntegration`]).
    ///
    /// # Errors
    /// [`Forbidden`] for a person without [`Permission::ManageIntegrations`].
    pub fn new(work: &TenantWork<'a>) -> Result<Self, Forbidden> {
        work.require(Permission::ManageIntegrations)?;
        Ok(Self {
            ctx: work.context(),
            msp_id: work.tenant().msp_id,
            tenant_id: work.tenant().id,
        })
    }

    /// Merges an integration's inventory and events into the tenant's, and records one audit
    /// entry for the synchronization with what it changed.
    ///
    /// # Errors
    /// [`SyncError::UnknownIntegration`] unless the integration is one of this tenant's (of this
    /// MSP); [`SyncError::Storage`] when the database cannot be written.
    pub async fn record_sync(
        &self,
        integration_id: IntegrationId,
        inventory: &ObservedInventory,
        events: &[ObservedEvent],
        state: Option<&serde_json::Value>,
    ) -> Result<SyncCounts, SyncError> {
        self.record(integration_id, inventory, events, state, "inventory.synced")
            .await
    }

    /// Stores events an integration sent (a batch of logs at the ingest endpoint) and queues
    /// their triage, with one audit entry saying how many were new; an event stored before
    /// with the same record is not stored again.
    ///
    /// # Errors
    /// As [`InventoryWriter::record_sync`].
    pub async fn record_events(
        &self,
        integration_id: IntegrationId,
        events: &[ObservedEvent],
    ) -> Result<SyncCounts, SyncError> {
        self.record(
            integration_id,
            &ObservedInventory::default(),
            events,
            None,
            "events.ingested",
        )
        .await
    }

    async fn record(
        &self,
        integration_id: IntegrationId,
        inventory: &ObservedInventory,
        events: &[ObservedEvent],
        state: Option<&serde_json::Value>,
        audit_action: &'static str,
    ) -> Result<SyncCounts, SyncError> {
        locks::take(self.ctx.txn, locks::Lock::Inventory(self.tenant_id)).await?;
        // Vendors' text is stored and shown to approvers as it came, except for control and
        // bidirectional control characters (PostgreSQL cannot store NUL; the others could
        // make a name read as another).
        let inventory = steward_domain::text::neutralized(inventory);
        let inventory = inventory.as_ref();
        let cleaned_events: Option<Vec<ObservedEvent>> =
            serde_json::to_value(events).ok().and_then(|mut json| {
                steward_domain::text::neutralize_json(&mut json)
                    .then(|| serde_json::from_value(json).ok())
                    .flatten()
            });
        let events = cleaned_events.as_deref().unwrap_or(events);
        let state = state.map(|state| {
            let mut state = state.clone();
            steward_domain::text::neutralize_json(&mut state);
            state
        });
        let state = state.as_ref();
        // The tenant's integrations: the reports of removed ones no longer count in a merge.
        let connected: Vec<IntegrationId> =
            IntegrationDirectory::new(self.ctx.txn, self.msp_id, self.tenant_id)
                .list()
                .await?
                .into_iter()
                .map(|i| i.id)
                .collect();
        if !connected.contains(&integration_id) {
            return Err(SyncError::UnknownIntegration(integration_id));
        }
        let mut counts = SyncCounts::default();
        let mut created = Vec::new();
        let mut devices = if inventory.devices.is_empty() {
            DeviceIndex::default()
        } else {
            DeviceIndex::new(
                device::Entity::find()
                    .filter(device::Column::MspId.eq(self.msp_id.as_uuid()))
                    .filter(device::Column::TenantId.eq(self.tenant_id.as_uuid()))
                    .order_by_asc(device::Column::FirstSeenAt)
                    .order_by_asc(device::Column::Id)
                    .all(self.ctx.txn)
                    .await
                    .map_err(StorageError::from)?,
            )
        };
        let mut rescore = Vec::new();
        if !inventory.devices.is_empty() {
            for survivor in self.fold_twins(&connected, &mut devices).await? {
                counts.devices_updated += 1;
                rescore.push(EntityKey {
                    kind: TargetKind::Device,
                    id: survivor,
                });
            }
        }
        for observed in &inventory.devices {
            let merged = self
                .merge_device(integration_id, observed, &connected, &mut devices)
                .await?;
            if let Some(id) = merged.tally(
                TargetKind::Device,
                &mut rescore,
                &mut counts.devices_created,
                &mut counts.devices_updated,
            ) {
                created.push(json!({"kind": DEVICE, "id": id, "hostname": observed.hostname}));
            }
        }
        for observed in &inventory.identities {
            let merged = self
                .merge_identity(integration_id, observed, &connected)
                .await?;
            if let Some(id) = merged.tally(
                TargetKind::Identity,
                &mut rescore,
                &mut counts.identities_created,
                &mut counts.identities_updated,
            ) {
                created.push(json!({"kind": IDENTITY, "id": id, "user_principal_name": observed.user_principal_name}));
            }
        }
        let mut to_triage = Vec::new();
        for observed in events {
            match self.store_event(integration_id, observed).await? {
                Stored::New(id) => {
                    counts.events_new += 1;
                    to_triage.push(id);
                }
                Stored::Updated(id) => {
                    counts.events_updated += 1;
                    to_triage.push(id);
                }
                Stored::Unchanged => {}
            }
        }
        if !to_triage.is_empty() {
            jobs::enqueue(
                self.ctx,
                self.msp_id,
                &Job::Triage {
                    tenant_id: self.tenant_id,
                    event_ids: to_triage,
                },
            )
            .await?;
        }
        // An entity whose tools now say it is more or less critical or privileged is scored
        // again; an unscored entity with neither has no risk to show.
        for entity in rescore {
            jobs::enqueue(
                self.ctx,
                self.msp_id,
                &Job::RefreshRisk {
                    tenant_id: self.tenant_id,
                    entity,
                },
            )
            .await?;
        }
        if let Some(state) = state {
            // Kept with what it describes, in the same transaction: a failed recording leaves
            // the previous state, and the next read covers what this one did not record.
            integration::Entity::update_many()
                .col_expr(
                    integration::Column::SyncState,
                    sea_orm::sea_query::Expr::value(state.clone()),
                )
                .filter(integration::Column::Id.eq(integration_id.as_uuid()))
                .filter(integration::Column::MspId.eq(self.msp_id.as_uuid()))
                .filter(integration::Column::TenantId.eq(self.tenant_id.as_uuid()))
                .exec(self.ctx.txn)
                .await
                .map_err(StorageError::from)?;
        }
        if counts != SyncCounts::default() {
            audit::append(
                self.ctx,
                ChainRef::Tenant {
                    msp_id: self.msp_id,
                    tenant_id: self.tenant_id,
                },
                Change::new(audit_action, "integration", &integration_id)
                    .after(&json!({"counts": counts, "created": created})),
            )
            .await?;
        }
        Ok(counts)
    }

    async fn source(
        &self,
        integration_id: IntegrationId,
        kind: &str,
        external_id: &str,
    ) -> Result<Option<entity_source::Model>, StorageError> {
        Ok(entity_source::Entity::find()
            .filter(entity_source::Column::TenantId.eq(self.tenant_id.as_uuid()))
            .filter(entity_source::Column::IntegrationId.eq(integration_id.as_uuid()))
            .filter(entity_source::Column::EntityKind.eq(kind))
            .filter(entity_source::Column::ExternalId.eq(external_id))
            .one(self.ctx.txn)
            .await?)
    }

    /// Creates or refreshes the source row; links it to `entity_id`.
    async fn save_source(
        &self,
        existing: Option<entity_source::Model>,
        integration_id: IntegrationId,
        kind: &str,
        entity_id: uuid::Uuid,
        external_id: &str,
        attributes: serde_json::Value,
    ) -> Result<(), StorageError> {
        let now = self.ctx.clock.now();
        match existing {
            Some(row) => {
                let mut active = row.into_active_model();
                active.attributes = Set(attributes);
                active.last_seen_at = Set(now);
                active.entity_id = Set(entity_id);
                active.update(self.ctx.txn).await?;
            }
            None => {
                entity_source::ActiveModel {
                    id: Set(new_id(self.ctx.clock)),
                    msp_id: Set(self.msp_id.as_uuid()),
                    tenant_id: Set(self.tenant_id.as_uuid()),
                    entity_kind: Set(kind.to_owned()),
                    entity_id: Set(entity_id),
                    integration_id: Set(integration_id.as_uuid()),
                    external_id: Set(external_id.to_owned()),
                    attributes: Set(attributes),
                    first_seen_at: Set(now),
                    last_seen_at: Set(now),
                }
                .insert(self.ctx.txn)
                .await?;
            }
        }
        Ok(())
    }

    /// Folds every device that duplicates an earlier one (see [`super::device_twins`]) into
    /// it; returns the survivors. Twins only exist where synchronizations ran at once before
    /// they were serialized, so this is almost always a pass over the index that finds none.
    async fn fold_twins(
        &self,
        connected: &[IntegrationId],
        index: &mut DeviceIndex,
    ) -> Result<Vec<uuid::Uuid>, StorageError> {
        let mut survivors = Vec::new();
        for id in index.ids() {
            let Some(survivor) = index.twin_of(id).cloned() else {
                continue;
            };
            let twin = index.get(id).cloned().expect("an indexed device");
            super::device_twins::fold(self.ctx, self.msp_id, self.tenant_id, &survivor, &twin)
                .await?;
            index.remove(twin.id);
            let survivor = device::Entity::find_by_id(survivor.id)
                .one(self.ctx.txn)
                .await?
                .ok_or_else(|| StorageError::corrupt("device", &"a twin's survivor vanished"))?;
            self.reconcile_device(survivor.clone(), false, connected, index)
                .await?;
            if !survivors.contains(&survivor.id) {
                survivors.push(survivor.id);
            }
        }
        Ok(survivors)
    }

    /// Merges one observed device (see [`Merged`]). The device's attributes are reconciled from every
    /// source that reports it, this one's report included (see [`super::reconcile`]); `index`
    /// holds the tenant's devices as they stand, and is kept so.
    async fn merge_device(
        &self,
        integration_id: IntegrationId,
        observed: &ObservedDevice,
        connected: &[IntegrationId],
        index: &mut DeviceIndex,
    ) -> Result<Merged, StorageError> {
        let source = self
            .source(integration_id, DEVICE, &observed.external_id)
            .await?;
        let existing = match &source {
            Some(source) => {
                device::Entity::find_by_id(source.entity_id)
                    .one(self.ctx.txn)
                    .await?
            }
            None => index.matching(observed).cloned(),
        };
        let now = self.ctx.clock.now();
        let (row, created) = match existing {
            Some(row) => (row, false),
            None => {
                let row = device::ActiveModel {
                    id: Set(new_id(self.ctx.clock)),
                    msp_id: Set(self.msp_id.as_uuid()),
                    tenant_id: Set(self.tenant_id.as_uuid()),
                    hostname: Set(observed.hostname.clone()),
                    os_platform: Set(None),
                    health: Set(None),
                    last_seen: Set(None),
                    entra_device_id: Set(None),
                    serial_number: Set(None),
                    mac_addresses: Set(None),
                    tags: Set(json!([])),
                    first_seen_at: Set(now),
                    updated_at: Set(now),
                    conflicts: Set(None),
                }
                .insert(self.ctx.txn)
                .await?;
                (row, true)
            }
        };
        let attributes = serde_json::to_value(observed).unwrap_or_default();
        self.save_source(
            source,
            integration_id,
            DEVICE,
            row.id,
            &observed.external_id,
            attributes,
        )
        .await?;
        self.reconcile_device(row, created, connected, index).await
    }

    /// Sets a device's attributes to what every source reporting it says, together (see
    /// [`super::reconcile`]), and keeps `index` current.
    async fn reconcile_device(
        &self,
        row: device::Model,
        created: bool,
        connected: &[IntegrationId],
        index: &mut DeviceIndex,
    ) -> Result<Merged, StorageError> {
        let id = row.id;
        let now = self.ctx.clock.now();
        let merged = super::reconcile::device(&self.reports_of(DEVICE, id, connected).await?);
        let risk_inputs_changed = Criticality::from_tags(
            &serde_json::from_value::<Vec<String>>(row.tags.clone()).unwrap_or_default(),
        ) != Criticality::from_tags(&merged.tags);
        let tags = json!(merged.tags);
        let conflicts = (!merged.conflicts.is_empty()).then(|| json!(merged.conflicts));
        let macs = (!merged.mac_addresses.is_empty()).then(|| json!(merged.mac_addresses));
        let changed = created
            || row.hostname != merged.hostname
            || row.os_platform != merged.os_platform
            || row.health != merged.health
            || row.last_seen != merged.last_seen
            || row.entra_device_id != merged.entra_device_id
            || row.serial_number != merged.serial_number
            || row.mac_addresses != macs
            || row.tags != tags
            || row.conflicts != conflicts;
        if changed {
            let mut active = row.into_active_model();
            active.hostname = Set(merged.hostname);
            active.os_platform = Set(merged.os_platform);
            active.health = Set(merged.health);
            active.last_seen = Set(merged.last_seen);
            active.entra_device_id = Set(merged.entra_device_id);
            active.serial_number = Set(merged.serial_number);
            active.mac_addresses = Set(macs);
            active.tags = Set(tags);
            active.conflicts = Set(conflicts);
            active.updated_at = Set(now);
            index.put(active.update(self.ctx.txn).await?);
        }
        Ok(Merged {
            id,
            created,
            changed,
            risk_inputs_changed,
        })
    }

    /// Merges one observed identity (see [`Merged`]). The identity's attributes are reconciled from
    /// every source that reports it, this one's report included (see [`super::reconcile`]).
    async fn merge_identity(
        &self,
        integration_id: IntegrationId,
        observed: &ObservedIdentity,
        connected: &[IntegrationId],
    ) -> Result<Merged, StorageError> {
        let upn = observed.user_principal_name.to_lowercase();
        let source = self
            .source(integration_id, IDENTITY, &observed.external_id)
            .await?;
        let existing = match &source {
            Some(source) => {
                identity::Entity::find_by_id(source.entity_id)
                    .one(self.ctx.txn)
                    .await?
            }
            None => {
                identity::Entity::find()
                    .filter(identity::Column::MspId.eq(self.msp_id.as_uuid()))
                    .filter(identity::Column::TenantId.eq(self.tenant_id.as_uuid()))
                    .filter(identity::Column::UserPrincipalName.eq(upn.as_str()))
                    .one(self.ctx.txn)
                    .await?
            }
        };
        let now = self.ctx.clock.now();
        let (row, created) = match existing {
            Some(row) => (row, false),
            None => {
                let row = identity::ActiveModel {
                    id: Set(new_id(self.ctx.clock)),
                    msp_id: Set(self.msp_id.as_uuid()),
                    tenant_id: Set(self.tenant_id.as_uuid()),
                    user_principal_name: Set(upn.clone()),
                    display_name: Set(None),
                    department: Set(None),
                    job_title: Set(None),
                    enabled: Set(None),
                    admin_roles: Set(json!([])),
                    first_seen_at: Set(now),
                    updated_at: Set(now),
                    mfa_registered: Set(None),
                    groups: Set(None),
                    conflicts: Set(None),
                }
                .insert(self.ctx.txn)
                .await?;
                (row, true)
            }
        };
        let id = row.id;
        let attributes = serde_json::to_value(observed).unwrap_or_default();
        self.save_source(
            source,
            integration_id,
            IDENTITY,
            id,
            &observed.external_id,
            attributes,
        )
        .await?;
        let merged = super::reconcile::identity(&self.reports_of(IDENTITY, id, connected).await?);
        let roles = json!(merged.admin_roles);
        let risk_inputs_changed = row.admin_roles != roles;
        let groups = (!merged.groups.is_empty()).then(|| json!(merged.groups));
        let conflicts = (!merged.conflicts.is_empty()).then(|| json!(merged.conflicts));
        let changed = created
            || row.user_principal_name != upn
            || row.display_name != merged.display_name
            || row.department != merged.department
            || row.job_title != merged.job_title
            || row.enabled != merged.enabled
            || row.mfa_registered != merged.mfa_registered
            || row.admin_roles != roles
            || row.groups != groups
            || row.conflicts != conflicts;
        if changed {
            let mut active = row.into_active_model();
            active.user_principal_name = Set(upn);
            active.display_name = Set(merged.display_name);
            active.department = Set(merged.department);
            active.job_title = Set(merged.job_title);
            active.enabled = Set(merged.enabled);
            active.mfa_registered = Set(merged.mfa_registered);
            active.admin_roles = Set(roles);
            active.groups = Set(groups);
            active.conflicts = Set(conflicts);
            active.updated_at = Set(now);
            active.update(self.ctx.txn).await?;
        }
        Ok(Merged {
            id,
            created,
            changed,
            risk_inputs_changed,
        })
    }

    /// What each source of an entity last reported, in the order the sources were first seen;
    /// only the reports of `connected` integrations count.
    async fn reports_of<T: serde::de::DeserializeOwned>(
        &self,
        kind: &str,
        entity_id: uuid::Uuid,
        connected: &[IntegrationId],
    ) -> Result<Vec<(IntegrationId, T)>, StorageError> {
        let rows = entity_source::Entity::find()
            .filter(
                entity_source::Column::IntegrationId.is_in(connected.iter().map(|id| id.as_uuid())),
            )
            .filter(entity_source::Column::TenantId.eq(self.tenant_id.as_uuid()))
            .filter(entity_source::Column::EntityKind.eq(kind))
            .filter(entity_source::Column::EntityId.eq(entity_id))
            .order_by_asc(entity_source::Column::FirstSeenAt)
            .order_by_asc(entity_source::Column::Id)
            .all(self.ctx.txn)
            .await?;
        rows.into_iter()
            .map(|row| {
                serde_json::from_value(row.attributes)
                    .map(|report| (row.integration_id.into(), report))
                    .map_err(|e| StorageError::corrupt("entity source attributes", &e))
            })
            .collect()
    }

    async fn store_event(
        &self,
        integration_id: IntegrationId,
        observed: &ObservedEvent,
    ) -> Result<Stored, StorageError> {
        let uid = class_uid(observed.class);
        let existing = event::Entity::find()
            .filter(event::Column::TenantId.eq(self.tenant_id.as_uuid()))
            .filter(event::Column::IntegrationId.eq(integration_id.as_uuid()))
            .filter(event::Column::ClassUid.eq(uid))
            .filter(event::Column::ExternalId.eq(observed.external_id.as_str()))
            .one(self.ctx.txn)
            .await?;
        let entities = serde_json::to_value(&observed.entities).unwrap_or_default();
        match existing {
            Some(row) if row.raw == observed.raw => Ok(Stored::Unchanged),
            Some(row) => {
                let id = row.id;
                let mut active = row.into_active_model();
                active.time = Set(observed.time);
                active.severity_id = Set(i16::from(observed.severity_id));
                active.entities = Set(entities);
                active.ocsf = Set(observed.ocsf.clone());
                active.raw = Set(observed.raw.clone());
                active.stream = Set(Some(observed.stream.as_str().to_owned()));
                active.update(self.ctx.txn).await?;
                Ok(Stored::Updated(id))
            }
            None => {
                let id = new_id(self.ctx.clock);
                event::ActiveModel {
                    id: Set(id),
                    msp_id: Set(self.msp_id.as_uuid()),
                    tenant_id: Set(self.tenant_id.as_uuid()),
                    integration_id: Set(integration_id.as_uuid()),
                    external_id: Set(observed.external_id.clone()),
                    class_uid: Set(uid),
                    time: Set(observed.time),
                    severity_id: Set(i16::from(observed.severity_id)),
                    entities: Set(entities),
                    ocsf: Set(observed.ocsf.clone()),
                    raw: Set(observed.raw.clone()),
                    received_at: Set(self.ctx.clock.now()),
                    stream: Set(Some(observed.stream.as_str().to_owned())),
                }
                .insert(self.ctx.txn)
                .await?;
                Ok(Stored::New(id))
            }
        }
    }
}

/// Why a synchronization could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("no integration {0} in this tenant")]
    UnknownIntegration(IntegrationId),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What merging one observed entity did.
struct Merged {
    id: uuid::Uuid,
    created: bool,
    changed: bool,
    /// Its tools changed what its risk depends on: a device's criticality tags, an identity's
    /// admin roles.
    risk_inputs_changed: bool,
}

impl Merged {
    /// Counts the entity as created or updated, and asks for its risk to be computed again
    /// when what it depends on changed; the entity's id when it is new.
    fn tally(
        self,
        kind: TargetKind,
        rescore: &mut Vec<EntityKey>,
        created: &mut usize,
        updated: &mut usize,
    ) -> Option<uuid::Uuid> {
        if self.risk_inputs_changed {
            rescore.push(EntityKey { kind, id: self.id });
        }
        if self.created {
            *created += 1;
            Some(self.id)
        } else {
            *updated += usize::from(self.changed);
            None
        }
    }
}

enum Stored {
    New(uuid::Uuid),
    Updated(uuid::Uuid),
    Unchanged,
}
