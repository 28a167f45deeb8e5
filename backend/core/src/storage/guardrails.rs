//! Guardrails on automatic execution: kill switches, maintenance windows, and the last hour's
//! activity that the rate limits and the circuit breaker count.
//!
//! A tenant's kill switch and its maintenance windows are in the tenant's audit chain; the
//! MSP-wide switch is in the MSP's.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set, sea_query::Expr,
};
use serde_json::json;
use steward_domain::{
    MspId, TenantId, UserId,
    actions::ActionType,
    guardrails::{
        AutomationActivity, AutomationHalt, AutomationLimits, HaltScope, MaintenanceSchedule,
        MaintenanceWindow, ScheduleError, TenantGuardrails,
    },
};

use super::{
    StorageError, WriteContext,
    entities::{action, automation_halt, maintenance_schedule},
    new_id,
    scoping::InTenant,
};
use steward_domain::authority::{GuardrailsInput, MaintenanceInput};

use crate::audit::{self, ChainRef, Change};

/// The window the rate limits and the circuit breaker count over.
pub const ACTIVITY_WINDOW: Duration = Duration::hours(1);

/// The longest reason a kill switch may carry.
pub const MAX_HALT_REASON: usize = 500;

/// Why a guardrail change was refused.
#[derive(Debug, thiserror::Error)]
pub enum GuardrailError {
    #[error("the kill switch is not pulled")]
    NotEngaged,
    #[error("the reason {0}")]
    InvalidReason(#[source] steward_domain::text::TextError),
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Reads one tenant's guardrails.
#[derive(Debug, Clone, Copy)]
pub struct GuardrailReader<'c, C> {
    conn: &'c C,
    msp_id: MspId,
    tenant_id: TenantId,
}

impl<'c, C: ConnectionTrait> GuardrailReader<'c, C> {
    pub(crate) fn new(conn: &'c C, msp_id: MspId, tenant_id: TenantId) -> Self {
        Self {
            conn,
            msp_id,
            tenant_id,
        }
    }

    /// The tenant's maintenance windows, if it has any.
    ///
    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn maintenance(&self) -> Result<Option<MaintenanceSchedule>, StorageError> {
        maintenance_schedule::Entity::find()
            .in_tenant(self.msp_id, self.tenant_id)
            .one(self.conn)
            .await?
            .map(|row| {
                Ok(MaintenanceSchedule {
                    timezone: row.timezone,
                    windows: serde_json::from_value::<Vec<MaintenanceWindow>>(row.windows)
                        .map_err(|e| StorageError::corrupt("maintenance windows", &e))?,
                })
            })
            .transpose()
    }

    /// The tenant's kill switch and the MSP's, where pulled.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn halts(
        &self,
    ) -> Result<(Option<AutomationHalt>, Option<AutomationHalt>), StorageError> {
        Ok((
            active_halt(self.conn, self.msp_id, Some(self.tenant_id)).await?,
            active_halt(self.conn, self.msp_id, None).await?,
        ))
    }

    /// The last hour's automatic actions and failures, in the tenant and across the MSP.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn activity(&self, now: DateTime<Utc>) -> Result<AutomationActivity, StorageError> {
        let since = now - ACTIVITY_WINDOW;
        let automatic = |tenant: Option<TenantId>| {
            let mut select = action::Entity::find()
                .filter(action::Column::MspId.eq(self.msp_id.as_uuid()))
                .filter(action::Column::Automatic.eq(true))
                .filter(action::Column::CreatedAt.gte(since));
            if let Some(tenant) = tenant {
                select = select.in_tenant(self.msp_id, tenant);
            }
            select.count(self.conn)
        };
        let failures = |tenant: Option<TenantId>| {
            let mut select = action::Entity::find()
                .filter(action::Column::MspId.eq(self.msp_id.as_uuid()))
                .filter(action::Column::FailedAt.gte(since));
            if let Some(tenant) = tenant {
                select = select.in_tenant(self.msp_id, tenant);
            }
            select.count(self.conn)
        };
        Ok(AutomationActivity {
            tenant_automatic: saturate(automatic(Some(self.tenant_id)).await?),
            tenant_failures: saturate(failures(Some(self.tenant_id)).await?),
            msp_automatic: saturate(automatic(None).await?),
            msp_failures: saturate(failures(None).await?),
        })
    }

    async fn automatic_of_type(
        &self,
        kind: ActionType,
        now: DateTime<Utc>,
    ) -> Result<u32, StorageError> {
        Ok(saturate(
            action::Entity::find()
                .in_tenant(self.msp_id, self.tenant_id)
                .filter(action::Column::Automatic.eq(true))
                .filter(action::Column::ActionType.eq(kind.as_str()))
                .filter(action::Column::CreatedAt.gte(now - ACTIVITY_WINDOW))
                .count(self.conn)
                .await?,
        ))
    }

    /// The tenant's guardrails as they stand at `now`.
    ///
    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn status(
        &self,
        now: DateTime<Utc>,
        automation_level: u8,
        limits: AutomationLimits,
    ) -> Result<TenantGuardrails, StorageError> {
        let maintenance = self.maintenance().await?;
        let (tenant_halt, msp_halt) = self.halts().await?;
        let activity = self.activity(now).await?;
        let paused = limits.pauses(tenant_halt.is_some() || msp_halt.is_some(), &activity);
        Ok(TenantGuardrails {
            tenant_id: self.tenant_id,
            automation_level,
            maintenance_open: maintenance.as_ref().is_some_and(|m| m.is_open(now)),
            maintenance,
            tenant_halt,
            msp_halt,
            activity,
            limits,
            paused,
        })
    }

    /// What the authority policy sees of the guardrails for an action of `kind` at `now`.
    ///
    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn policy_input(
        &self,
        now: DateTime<Utc>,
        limits: AutomationLimits,
        kind: ActionType,
    ) -> Result<(MaintenanceInput, GuardrailsInput), StorageError> {
        let maintenance = self.maintenance().await?;
        let (tenant_halt, msp_halt) = self.halts().await?;
        let activity = self.activity(now).await?;
        let paused = limits.pauses(tenant_halt.is_some() || msp_halt.is_some(), &activity);
        let has = |pause| paused.contains(&pause);
        use steward_domain::guardrails::Pause;
        Ok((
            MaintenanceInput {
                configured: maintenance.is_some(),
                open: maintenance.as_ref().is_some_and(|m| m.is_open(now)),
            },
            GuardrailsInput {
                kill_switch: has(Pause::KillSwitch),
                circuit_open: has(Pause::CircuitOpen),
                rate_limited: has(Pause::RateLimited),
                automatic_last_hour: activity.tenant_automatic,
                automatic_of_type_last_hour: self.automatic_of_type(kind, now).await?,
                failures_last_hour: activity.tenant_failures,
            },
        ))
    }
}

fn saturate(count: u64) -> u32 {
    u32::try_from(count).unwrap_or(u32::MAX)
}

/// The pulled kill switch of a tenant (`Some`) or of the whole MSP (`None`), if any.
pub(crate) async fn active_halt<C: ConnectionTrait>(
    conn: &C,
    msp_id: MspId,
    tenant_id: Option<TenantId>,
) -> Result<Option<AutomationHalt>, StorageError> {
    let mut select = automation_halt::Entity::find()
        .filter(automation_halt::Column::MspId.eq(msp_id.as_uuid()))
        .filter(automation_halt::Column::ReleasedAt.is_null())
        .order_by_asc(automation_halt::Column::EngagedAt);
    select = match tenant_id {
        Some(tenant) => select.filter(automation_halt::Column::TenantId.eq(tenant.as_uuid())),
        None => select.filter(automation_halt::Column::TenantId.is_null()),
    };
    Ok(select.one(conn).await?.map(to_halt))
}

fn to_halt(row: automation_halt::Model) -> AutomationHalt {
    AutomationHalt {
        scope: if row.tenant_id.is_some() {
            HaltScope::Tenant
        } else {
            HaltScope::Msp
        },
        tenant_id: row.tenant_id.map(Into::into),
        reason: row.reason,
        engaged_by: row.engaged_by.into(),
        engaged_by_label: row.engaged_by_label,
        engaged_at: row.engaged_at,
    }
}

fn chain(msp_id: MspId, tenant_id: Option<TenantId>) -> ChainRef {
    match tenant_id {
        Some(tenant_id) => ChainRef::Tenant { msp_id, tenant_id },
        None => ChainRef::Msp(msp_id),
    }
}

/// Pulls a kill switch; pulling one already pulled changes nothing and returns it.
pub(crate) async fn engage(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    tenant_id: Option<TenantId>,
    user_id: UserId,
    reason: &str,
) -> Result<AutomationHalt, GuardrailError> {
    let reason = steward_domain::text::free_text(reason, MAX_HALT_REASON)
        .map_err(GuardrailError::InvalidReason)?;
    let reason = reason.as_str();
    if let Some(halt) = active_halt(ctx.txn, msp_id, tenant_id).await? {
        return Ok(halt);
    }
    let row = automation_halt::ActiveModel {
        id: Set(new_id(ctx.clock)),
        msp_id: Set(msp_id.as_uuid()),
        tenant_id: Set(tenant_id.map(TenantId::as_uuid)),
        reason: Set(reason.to_owned()),
        engaged_by: Set(user_id.as_uuid()),
        engaged_by_label: Set(ctx.actor.label.clone()),
        engaged_at: Set(ctx.clock.now()),
        released_at: Set(None),
        released_by: Set(None),
    }
    .insert(ctx.txn)
    .await
    .map_err(StorageError::from)?;
    let halt = to_halt(row);
    let subject = tenant_id.map_or_else(|| msp_id.to_string(), |t| t.to_string());
    audit::append(
        ctx,
        chain(msp_id, tenant_id),
        Change::new("automation.halted", "kill_switch", &subject).after(&halt),
    )
    .await?;
    Ok(halt)
}

/// Releases a pulled kill switch.
pub(crate) async fn release(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    tenant_id: Option<TenantId>,
    user_id: UserId,
) -> Result<AutomationHalt, GuardrailError> {
    let halt = active_halt(ctx.txn, msp_id, tenant_id)
        .await?
        .ok_or(GuardrailError::NotEngaged)?;
    let mut update = automation_halt::Entity::update_many()
        .col_expr(
            automation_halt::Column::ReleasedAt,
            Expr::value(Some(ctx.clock.now())),
        )
        .col_expr(
            automation_halt::Column::ReleasedBy,
            Expr::value(Some(user_id.as_uuid())),
        )
        .filter(automation_halt::Column::MspId.eq(msp_id.as_uuid()))
        .filter(automation_halt::Column::ReleasedAt.is_null());
    update = match tenant_id {
        Some(tenant) => update.filter(automation_halt::Column::TenantId.eq(tenant.as_uuid())),
        None => update.filter(automation_halt::Column::TenantId.is_null()),
    };
    update.exec(ctx.txn).await.map_err(StorageError::from)?;
    let subject = tenant_id.map_or_else(|| msp_id.to_string(), |t| t.to_string());
    audit::append(
        ctx,
        chain(msp_id, tenant_id),
        Change::new("automation.released", "kill_switch", &subject).before(&halt),
    )
    .await?;
    Ok(halt)
}

/// Replaces (or, with `None`, removes) a tenant's maintenance windows; returns whether
/// anything changed.
pub(crate) async fn set_maintenance(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    tenant_id: TenantId,
    schedule: Option<&MaintenanceSchedule>,
) -> Result<bool, GuardrailError> {
    if let Some(schedule) = schedule {
        schedule.validate()?;
    }
    let before = GuardrailReader::new(ctx.txn, msp_id, tenant_id)
        .maintenance()
        .await?;
    if before.as_ref() == schedule {
        return Ok(false);
    }
    maintenance_schedule::Entity::delete_many()
        .in_tenant(msp_id, tenant_id)
        .exec(ctx.txn)
        .await
        .map_err(StorageError::from)?;
    if let Some(schedule) = schedule {
        maintenance_schedule::ActiveModel {
            tenant_id: Set(tenant_id.as_uuid()),
            msp_id: Set(msp_id.as_uuid()),
            timezone: Set(schedule.timezone.trim().to_owned()),
            windows: Set(json!(schedule.windows)),
            updated_at: Set(ctx.clock.now()),
        }
        .insert(ctx.txn)
        .await
        .map_err(StorageError::from)?;
    }
    audit::append(
        ctx,
        ChainRef::Tenant { msp_id, tenant_id },
        Change::new("tenant.maintenance_changed", "tenant", &tenant_id)
            .before(&before)
            .after(&schedule),
    )
    .await?;
    Ok(true)
}
