//! The tenant filter, written once: every query on rows that belong to one tenant of one MSP
//! narrows to both through [`InTenant::in_tenant`], so an id from another tenant (or another
//! MSP's tenant with a colliding id) finds nothing.

use sea_orm::{ColumnTrait, DeleteMany, EntityTrait, QueryFilter, Select, UpdateMany};
use steward_domain::{MspId, TenantId};

use super::entities::{
    action, approval_link, correlation_window, detection_suppression, device, entity_context,
    entity_source, event, finding, identity, incident, incident_ticket, integration,
    maintenance_schedule, notification, outbox, risk_score, sign_in_baseline, tenant_policy,
    webhook_delivery, webhook_receipt,
};

/// An entity whose every row belongs to one tenant of one MSP.
pub(crate) trait TenantRows: EntityTrait {
    /// The column of the MSP that owns the row.
    const MSP: Self::Column;
    /// The column of the tenant the row belongs to.
    const TENANT: Self::Column;
}

macro_rules! tenant_rows {
    ($($entity:ident),* $(,)?) => {$(
        impl TenantRows for $entity::Entity {
            const MSP: $entity::Column = $entity::Column::MspId;
            const TENANT: $entity::Column = $entity::Column::TenantId;
        }
    )*};
}

tenant_rows!(
    action,
    approval_link,
    correlation_window,
    detection_suppression,
    device,
    entity_context,
    entity_source,
    event,
    finding,
    identity,
    incident,
    incident_ticket,
    integration,
    maintenance_schedule,
    notification,
    outbox,
    risk_score,
    sign_in_baseline,
    tenant_policy,
    webhook_delivery,
    webhook_receipt,
);

/// A query (select, update or delete) narrowed to one tenant of one MSP.
pub(crate) trait InTenant {
    #[must_use]
    fn in_tenant(self, msp_id: MspId, tenant_id: TenantId) -> Self;
}

impl<E: TenantRows> InTenant for Select<E> {
    fn in_tenant(self, msp_id: MspId, tenant_id: TenantId) -> Self {
        self.filter(E::MSP.eq(msp_id.as_uuid()))
            .filter(E::TENANT.eq(tenant_id.as_uuid()))
    }
}

impl<E: TenantRows> InTenant for UpdateMany<E> {
    fn in_tenant(self, msp_id: MspId, tenant_id: TenantId) -> Self {
        self.filter(E::MSP.eq(msp_id.as_uuid()))
            .filter(E::TENANT.eq(tenant_id.as_uuid()))
    }
}

impl<E: TenantRows> InTenant for DeleteMany<E> {
    fn in_tenant(self, msp_id: MspId, tenant_id: TenantId) -> Self {
        self.filter(E::MSP.eq(msp_id.as_uuid()))
            .filter(E::TENANT.eq(tenant_id.as_uuid()))
    }
}
