//! A tenant's inventory and events, read through an [`InventoryReader`] confined to one tenant
//! of one MSP. Synchronizations write them through the inventory stage
//! (`crate::inventory::InventoryWriter`), which merges each vendor's records.

use std::collections::HashMap;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use steward_domain::{
    IntegrationId, MspId, TenantId,
    actions::TargetKind,
    incidents::EntityKey,
    inventory::{Device, Identity, Source, StoredEvent},
    observations::{EntityRef, EventStream, OcsfClass},
};

use super::{
    Page, PageRequest, StorageError,
    entities::{device, entity_source, event, identity, integration},
    scoping::InTenant,
};

/// The kinds of entity a vendor record (`entity_sources.kind`) is about.
pub(crate) const DEVICE: &str = "device";
pub(crate) const IDENTITY: &str = "identity";

/// The most sign-ins the context graph and coverage look at.
const SIGHTINGS_LIMIT: u64 = 20_000;

/// Reads one tenant's inventory and events.
#[derive(Debug, Clone, Copy)]
pub struct InventoryReader<'c, C> {
    conn: &'c C,
    msp_id: MspId,
    tenant_id: TenantId,
}

impl<'c, C: ConnectionTrait> InventoryReader<'c, C> {
    pub(crate) fn new(conn: &'c C, msp_id: MspId, tenant_id: TenantId) -> Self {
        Self {
            conn,
            msp_id,
            tenant_id,
        }
    }

    async fn sources(&self, kind: &str) -> Result<HashMap<uuid::Uuid, Vec<Source>>, StorageError> {
        let rows = entity_source::Entity::find()
            .in_tenant(self.msp_id, self.tenant_id)
            .filter(entity_source::Column::EntityKind.eq(kind))
            .order_by_asc(entity_source::Column::Id)
            .all(self.conn)
            .await?;
        let mut sources: HashMap<uuid::Uuid, Vec<Source>> = HashMap::new();
        for row in rows {
            sources.entry(row.entity_id).or_default().push(Source {
                integration_id: row.integration_id.into(),
                external_id: row.external_id,
                attributes: row.attributes,
                first_seen_at: row.first_seen_at,
                last_seen_at: row.last_seen_at,
            });
        }
        Ok(sources)
    }

    /// Every device of the tenant with its sources, by hostname.
    ///
    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn devices(&self) -> Result<Vec<Device>, StorageError> {
        let mut sources = self.sources(DEVICE).await?;
        let mut contexts =
            super::contexts::of_kind(self.conn, self.msp_id, self.tenant_id, TargetKind::Device)
                .await?;
        device::Entity::find()
            .in_tenant(self.msp_id, self.tenant_id)
            .order_by_asc(device::Column::Hostname)
            .all(self.conn)
            .await?
            .into_iter()
            .map(|row| {
                let sources = sources.remove(&row.id).unwrap_or_default();
                let context = contexts.remove(&row.id);
                to_device(row, sources).map(|d| Device { context, ..d })
            })
            .collect()
    }

    /// Every identity of the tenant with its sources, by user principal name.
    ///
    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn identities(&self) -> Result<Vec<Identity>, StorageError> {
        let mut sources = self.sources(IDENTITY).await?;
        let mut contexts =
            super::contexts::of_kind(self.conn, self.msp_id, self.tenant_id, TargetKind::Identity)
                .await?;
        identity::Entity::find()
            .in_tenant(self.msp_id, self.tenant_id)
            .order_by_asc(identity::Column::UserPrincipalName)
            .all(self.conn)
            .await?
            .into_iter()
            .map(|row| {
                let sources = sources.remove(&row.id).unwrap_or_default();
                let context = contexts.remove(&row.id);
                to_identity(row, sources).map(|i| Identity { context, ..i })
            })
            .collect()
    }

    /// One page of the tenant's events in the order they were received, optionally of one
    /// class.
    ///
    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn events(
        &self,
        class: Option<OcsfClass>,
        page: PageRequest,
    ) -> Result<Page<StoredEvent>, StorageError> {
        let mut select = event::Entity::find()
            .in_tenant(self.msp_id, self.tenant_id)
            .order_by_asc(event::Column::Id)
            .limit(page.limit.saturating_add(1));
        if let Some(class) = class {
            select = select.filter(event::Column::ClassUid.eq(class_uid(class)));
        }
        if let Some(after) = page.after {
            select = select.filter(event::Column::Id.gt(after));
        }
        let rows = select
            .all(self.conn)
            .await?
            .into_iter()
            .map(to_event)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(rows, page.limit, |e| e.id))
    }

    /// One device with its sources.
    ///
    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn device(&self, id: uuid::Uuid) -> Result<Option<Device>, StorageError> {
        let Some(row) = device::Entity::find_by_id(id)
            .in_tenant(self.msp_id, self.tenant_id)
            .one(self.conn)
            .await?
        else {
            return Ok(None);
        };
        let sources = self.sources_of(DEVICE, id).await?;
        let context = super::contexts::of_entity(
            self.conn,
            self.msp_id,
            self.tenant_id,
            EntityKey {
                kind: TargetKind::Device,
                id,
            },
        )
        .await?;
        to_device(row, sources).map(|d| Some(Device { context, ..d }))
    }

    /// One identity with its sources.
    ///
    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn identity(&self, id: uuid::Uuid) -> Result<Option<Identity>, StorageError> {
        let Some(row) = identity::Entity::find_by_id(id)
            .in_tenant(self.msp_id, self.tenant_id)
            .one(self.conn)
            .await?
        else {
            return Ok(None);
        };
        let sources = self.sources_of(IDENTITY, id).await?;
        let context = super::contexts::of_entity(
            self.conn,
            self.msp_id,
            self.tenant_id,
            EntityKey {
                kind: TargetKind::Identity,
                id,
            },
        )
        .await?;
        to_identity(row, sources).map(|i| Some(Identity { context, ..i }))
    }

    async fn sources_of(&self, kind: &str, id: uuid::Uuid) -> Result<Vec<Source>, StorageError> {
        Ok(entity_source::Entity::find()
            .in_tenant(self.msp_id, self.tenant_id)
            .filter(entity_source::Column::EntityKind.eq(kind))
            .filter(entity_source::Column::EntityId.eq(id))
            .order_by_asc(entity_source::Column::Id)
            .all(self.conn)
            .await?
            .into_iter()
            .map(|row| Source {
                integration_id: row.integration_id.into(),
                external_id: row.external_id,
                attributes: row.attributes,
                first_seen_at: row.first_seen_at,
                last_seen_at: row.last_seen_at,
            })
            .collect())
    }

    /// The inventory entity an integration's vendor id stands for.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn resolve(
        &self,
        integration_id: IntegrationId,
        entity: &EntityRef,
    ) -> Result<Option<EntityKey>, StorageError> {
        let (kind, target, external_id) = match entity {
            EntityRef::Device { external_id } => (DEVICE, TargetKind::Device, external_id),
            EntityRef::Identity { external_id } => (IDENTITY, TargetKind::Identity, external_id),
            EntityRef::Host { hostname } => return self.device_named(hostname).await,
        };
        Ok(entity_source::Entity::find()
            .in_tenant(self.msp_id, self.tenant_id)
            .filter(entity_source::Column::IntegrationId.eq(integration_id.as_uuid()))
            .filter(entity_source::Column::EntityKind.eq(kind))
            .filter(entity_source::Column::ExternalId.eq(external_id.as_str()))
            .one(self.conn)
            .await?
            .map(|row| EntityKey {
                kind: target,
                id: row.entity_id,
            }))
    }

    /// The tenant's one device named `hostname`, ignoring case: the same name, or the same
    /// computer name in another domain (`LAPTOP-7.corp.example` finds `laptop-7` and
    /// `laptop-7.contoso.local`); an exact match wins, and several others find none.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn device_named(&self, hostname: &str) -> Result<Option<EntityKey>, StorageError> {
        use sea_orm::{
            Condition, ExprTrait,
            sea_query::{Expr, Func, LikeExpr},
        };
        let full = hostname.trim().to_lowercase();
        let short = full.split('.').next().unwrap_or_default().to_owned();
        if short.is_empty() {
            return Ok(None);
        }
        let escaped: String = short
            .chars()
            .flat_map(|c| match c {
                '%' | '_' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        let name = || Expr::expr(Func::lower(Expr::col(device::Column::Hostname)));
        let rows = device::Entity::find()
            .in_tenant(self.msp_id, self.tenant_id)
            .filter(
                Condition::any()
                    .add(name().is_in([full.clone(), short]))
                    .add(name().like(LikeExpr::new(format!("{escaped}.%")).escape('\\'))),
            )
            .limit(8)
            .all(self.conn)
            .await?;
        let key = |row: &device::Model| EntityKey {
            kind: TargetKind::Device,
            id: row.id,
        };
        if let Some(exact) = rows.iter().find(|row| row.hostname.to_lowercase() == full) {
            return Ok(Some(key(exact)));
        }
        Ok(match rows.as_slice() {
            [only] => Some(key(only)),
            _ => None,
        })
    }

    /// Successful sign-ins since `since` whose identity provider named the device they were
    /// made from (OCSF Authentication events with a `device`), newest first, at most
    /// `SIGHTINGS_LIMIT`.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn sign_in_sightings(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<steward_domain::graph::SignInSighting>, StorageError> {
        let rows = event::Entity::find()
            .in_tenant(self.msp_id, self.tenant_id)
            .filter(event::Column::ClassUid.eq(class_uid(OcsfClass::Authentication)))
            .filter(event::Column::Time.gte(since))
            .order_by_desc(event::Column::Time)
            .limit(SIGHTINGS_LIMIT)
            .all(self.conn)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let ocsf = &row.ocsf;
                if ocsf.get("status_id").and_then(serde_json::Value::as_u64) != Some(1) {
                    return None;
                }
                let device = ocsf.get("device")?;
                let text = |value: Option<&serde_json::Value>| {
                    value
                        .and_then(serde_json::Value::as_str)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                };
                Some(steward_domain::graph::SignInSighting {
                    user_uid: text(ocsf.get("user").and_then(|u| u.get("uid")))?,
                    user_name: text(ocsf.get("user").and_then(|u| u.get("name")))?,
                    device_uid: text(device.get("uid"))?,
                    device_name: text(device.get("hostname")),
                    managed: device
                        .get("is_managed")
                        .and_then(serde_json::Value::as_bool)
                        .unwrap_or(false),
                    time: row.time,
                })
            })
            .collect())
    }

    /// The events with these ids (ids of other tenants find nothing).
    ///
    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn events_by_id(&self, ids: &[uuid::Uuid]) -> Result<Vec<StoredEvent>, StorageError> {
        event::Entity::find()
            .in_tenant(self.msp_id, self.tenant_id)
            .filter(event::Column::Id.is_in(ids.iter().copied()))
            .order_by_asc(event::Column::Id)
            .all(self.conn)
            .await?
            .into_iter()
            .map(to_event)
            .collect()
    }

    /// Events of one class that happened in `[from, to]`.
    ///
    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn events_between(
        &self,
        class: OcsfClass,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<StoredEvent>, StorageError> {
        event::Entity::find()
            .in_tenant(self.msp_id, self.tenant_id)
            .filter(event::Column::ClassUid.eq(class_uid(class)))
            .filter(event::Column::Time.gte(from))
            .filter(event::Column::Time.lte(to))
            .order_by_asc(event::Column::Time)
            .all(self.conn)
            .await?
            .into_iter()
            .map(to_event)
            .collect()
    }

    /// Where each of the integration's event `streams` stands: the time of its newest stored
    /// event, for the streams with one, to ask the vendor only for newer. Events sent to the log
    /// ingest endpoint are a stream of their own, never one of a vendor's.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn newest_events(
        &self,
        integration_id: IntegrationId,
        streams: &[EventStream],
    ) -> Result<Vec<(EventStream, chrono::DateTime<chrono::Utc>)>, StorageError> {
        let mut newest = Vec::with_capacity(streams.len());
        for &stream in streams {
            // One row per stream through the (integration, stream, time) index.
            let time = event::Entity::find()
                .in_tenant(self.msp_id, self.tenant_id)
                .filter(event::Column::IntegrationId.eq(integration_id.as_uuid()))
                .filter(event::Column::Stream.eq(stream.as_str()))
                .select_only()
                .column(event::Column::Time)
                .order_by_desc(event::Column::Time)
                .into_tuple::<chrono::DateTime<chrono::Utc>>()
                .one(self.conn)
                .await?;
            newest.extend(time.map(|at| (stream, at)));
        }
        Ok(newest)
    }
}

impl<C: ConnectionTrait> InventoryReader<'_, C> {
    /// What the integration's connector kept from its last synchronization to read
    /// incrementally (see `Connector::inventory_from`); `None` before the first, or after its
    /// settings changed.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn sync_state(
        &self,
        integration_id: IntegrationId,
    ) -> Result<Option<serde_json::Value>, StorageError> {
        Ok(integration::Entity::find_by_id(integration_id.as_uuid())
            .in_tenant(self.msp_id, self.tenant_id)
            .one(self.conn)
            .await?
            .and_then(|row| row.sync_state))
    }
}

pub(crate) fn class_uid(class: OcsfClass) -> i32 {
    i32::try_from(class.class_uid()).expect("OCSF class ids fit in i32")
}

fn json_strings(value: serde_json::Value, what: &'static str) -> Result<Vec<String>, StorageError> {
    serde_json::from_value(value).map_err(|e| StorageError::corrupt(what, &e))
}

fn conflicts_of(
    value: Option<serde_json::Value>,
    what: &'static str,
) -> Result<Vec<steward_domain::inventory::AttributeConflict>, StorageError> {
    value
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| StorageError::corrupt(what, &e))
        .map(Option::unwrap_or_default)
}

fn to_device(row: device::Model, sources: Vec<Source>) -> Result<Device, StorageError> {
    Ok(Device {
        id: row.id,
        tenant_id: row.tenant_id.into(),
        hostname: row.hostname,
        os_platform: row.os_platform,
        health: row.health,
        last_seen: row.last_seen,
        entra_device_id: row.entra_device_id,
        serial_number: row.serial_number,
        mac_addresses: row
            .mac_addresses
            .map(|macs| json_strings(macs, "device MAC addresses"))
            .transpose()?
            .unwrap_or_default(),
        tags: json_strings(row.tags, "device tags")?,
        first_seen_at: row.first_seen_at,
        updated_at: row.updated_at,
        sources,
        conflicts: conflicts_of(row.conflicts, "device conflicts")?,
        context: None,
    })
}

fn to_identity(row: identity::Model, sources: Vec<Source>) -> Result<Identity, StorageError> {
    Ok(Identity {
        id: row.id,
        tenant_id: row.tenant_id.into(),
        user_principal_name: row.user_principal_name,
        display_name: row.display_name,
        department: row.department,
        job_title: row.job_title,
        enabled: row.enabled,
        mfa_registered: row.mfa_registered,
        admin_roles: json_strings(row.admin_roles, "identity admin roles")?,
        groups: row
            .groups
            .map(|g| json_strings(g, "identity groups"))
            .transpose()?
            .unwrap_or_default(),
        conflicts: conflicts_of(row.conflicts, "identity conflicts")?,
        first_seen_at: row.first_seen_at,
        updated_at: row.updated_at,
        sources,
        context: None,
    })
}

fn to_event(row: event::Model) -> Result<StoredEvent, StorageError> {
    let class = u32::try_from(row.class_uid)
        .ok()
        .and_then(OcsfClass::from_class_uid)
        .ok_or_else(|| StorageError::corrupt("event class", &row.class_uid))?;
    Ok(StoredEvent {
        id: row.id,
        tenant_id: row.tenant_id.into(),
        integration_id: row.integration_id.into(),
        external_id: row.external_id,
        class,
        time: row.time,
        severity_id: u8::try_from(row.severity_id)
            .map_err(|_| StorageError::corrupt("event severity", &row.severity_id))?,
        entities: serde_json::from_value(row.entities)
            .map_err(|e| StorageError::corrupt("event entities", &e))?,
        ocsf: row.ocsf,
        received_at: row.received_at,
    })
}
