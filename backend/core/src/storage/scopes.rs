use sea_orm::ConnectionTrait;
use steward_domain::MspId;

use super::{msps::MspRepository, tenants::TenantRepository};

/// Deployment-wide operations: creating and finding MSPs, and entering any MSP's scope.
///
/// This is the operator's handle, for start-up, the CLI and authentication. Request handlers
/// never hold one: they get the scoped handles of the authenticated caller.
#[derive(Debug, Clone, Copy)]
pub struct Deployment<'c, C> {
    conn: &'c C,
}

impl<'c, C: ConnectionTrait> Deployment<'c, C> {
    /// Deployment-wide access over a connection or a transaction.
    pub fn new(conn: &'c C) -> Self {
        Self { conn }
    }

    #[must_use]
    pub fn msps(&self) -> MspRepository<'c, C> {
        MspRepository::new(self.conn)
    }

    /// Everything of one MSP, as the operator.
    #[must_use]
    pub fn msp(&self, msp_id: MspId) -> MspScope<'c, C> {
        MspScope::new(self.conn, msp_id)
    }
}

/// Everything of one MSP and nothing of any other: every query filters on the MSP.
#[derive(Debug, Clone, Copy)]
pub struct MspScope<'c, C> {
    conn: &'c C,
    msp_id: MspId,
}

impl<'c, C: ConnectionTrait> MspScope<'c, C> {
    pub(crate) fn new(conn: &'c C, msp_id: MspId) -> Self {
        Self { conn, msp_id }
    }

    #[must_use]
    pub fn msp_id(&self) -> MspId {
        self.msp_id
    }

    /// The MSP's tenants.
    #[must_use]
    pub fn tenants(&self) -> TenantRepository<'c, C> {
        TenantRepository::new(self.conn, self.msp_id)
    }
}
