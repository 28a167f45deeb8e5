//! Approval requests sent to a person outside the web UI (email): who is asked, the single-use
//! links they answer through, and which messages went out.
//!
//! A link is bound to one approver and one version of an action, expires, works once, and is
//! stored only as the SHA-256 of its secret. Opening it only shows the action; the decision is
//! a POST, so a mail scanner following links decides nothing.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, sea_query::Expr,
};
use serde_json::json;
use steward_domain::{
    ActionId, MspId, TenantId,
    actions::{Action, ActionStatus, ApproverSide},
    audit::{ActorKind, AuditActor},
    tenancy::{Role, Tenant, User},
};

use super::{
    ActionReader, ActionRequestError, StorageError, TenantDirectory, UserDirectory, WriteContext,
    entities::{approval_link, notification},
    find_user, generate_secret, hash_secret, new_id,
    scoping::InTenant,
};
use crate::audit::{self, ChainRef, Change};

/// The prefix of link secrets, so one found in a log is recognisable.
pub const LINK_PREFIX: &str = "stwa_";

/// The people to ask for an action at an escalation level: the first tier (technicians; the
/// customer's approvers) at level 0, the next (MSP admins; the customer's owner) once escalated
/// — or at once when the first tier has nobody. A decision naming a role asks only that role.
/// Never the proposer, never a disabled user.
pub(crate) async fn approvers<C: ConnectionTrait>(
    conn: &C,
    tenant: &Tenant,
    action: &Action,
    level: u8,
) -> Result<Vec<User>, StorageError> {
    let Some(side) = action.decision.approving_side() else {
        return Ok(Vec::new());
    };
    let tiers: [Role; 2] = match side {
        ApproverSide::Technician => [Role::Technician, Role::MspAdmin],
        ApproverSide::Customer => [Role::CustomerApprover, Role::CustomerOwner],
    };
    let members: Vec<User> = UserDirectory::new(conn, tenant.msp_id)
        .members_of(tenant.id)
        .await?
        .into_iter()
        .filter(|u| u.is_active() && Some(u.id) != action.proposed_by.user_id)
        .collect();
    let of = |role: Role| -> Vec<User> {
        members
            .iter()
            .filter(|u| u.role == role)
            .filter(|u| action.decision.approver_role.is_none_or(|r| r == u.role))
            .cloned()
            .collect()
    };
    let first = of(tiers[0]);
    Ok(match (level, first.is_empty()) {
        (0, false) => first,
        (0, true) => of(tiers[1]),
        // Escalated: the next tier, unless it already had the request at level 0.
        (_, false) => of(tiers[1]),
        (_, true) => Vec::new(),
    })
}

/// A message to send: who, and the secret of the link it carries.
#[derive(Debug, Clone)]
pub struct ApprovalRequest {
    pub user: User,
    /// The link's secret; it exists only in the message.
    pub token: String,
    /// The notification to mark sent once the message is out.
    pub dedup_key: String,
}

/// Creates a link for each approver of the action's current escalation level not yet sent
/// one for this version, each with a notification row to mark sent; returns what to send.
pub(crate) async fn prepare(
    ctx: &WriteContext<'_>,
    tenant: &Tenant,
    action: &Action,
    channel: &str,
    link_ttl: chrono::Duration,
) -> Result<Vec<ApprovalRequest>, StorageError> {
    if action.status != ActionStatus::AwaitingApproval {
        return Ok(Vec::new());
    }
    let level = action.escalation_level;
    let now = ctx.clock.now();
    // A link never outlives the request it answers.
    let expires_at = action
        .expires_at
        .map_or(now + link_ttl, |at| at.min(now + link_ttl));
    let mut requests = Vec::new();
    for user in approvers(ctx.txn, tenant, action, level).await? {
        let dedup_key = format!(
            "{}:{}:{level}:{}:{channel}",
            action.id, action.version, user.id
        );
        let existing = notification::Entity::find()
            .in_tenant(tenant.msp_id, tenant.id)
            .filter(notification::Column::DedupKey.eq(dedup_key.as_str()))
            .one(ctx.txn)
            .await?;
        match &existing {
            Some(sent) if sent.sent_at.is_some() => continue,
            Some(_) => {}
            None => {
                notification::ActiveModel {
                    id: Set(new_id(ctx.clock)),
                    msp_id: Set(tenant.msp_id.as_uuid()),
                    tenant_id: Set(tenant.id.as_uuid()),
                    action_id: Set(action.id.as_uuid()),
                    user_id: Set(Some(user.id.as_uuid())),
                    channel: Set(channel.to_owned()),
                    dedup_key: Set(dedup_key.clone()),
                    recipient: Set(user.email.clone()),
                    created_at: Set(now),
                    sent_at: Set(None),
                    last_error: Set(None),
                    external_ref: Set(None),
                }
                .insert(ctx.txn)
                .await?;
            }
        }
        // A message whose delivery was not recorded goes again with a new link (only hashes
        // are stored, so the earlier one cannot be resent). The earlier link stays valid: its
        // message may well have gone out before the job died, and every link is single-use,
        // bound to this approver and version, and expires.
        let token = generate_secret(LINK_PREFIX)?;
        approval_link::ActiveModel {
            id: Set(new_id(ctx.clock)),
            msp_id: Set(tenant.msp_id.as_uuid()),
            tenant_id: Set(tenant.id.as_uuid()),
            action_id: Set(action.id.as_uuid()),
            user_id: Set(user.id.as_uuid()),
            channel: Set(channel.to_owned()),
            version: Set(action.version.clone()),
            token_hash: Set(hash_secret(&token)),
            escalation_level: Set(i32::from(level)),
            created_at: Set(now),
            expires_at: Set(expires_at),
            viewed_at: Set(None),
            used_at: Set(None),
        }
        .insert(ctx.txn)
        .await?;
        audit::append(
            ctx,
            ChainRef::Tenant {
                msp_id: tenant.msp_id,
                tenant_id: tenant.id,
            },
            Change::new("action.approval_requested", "action", &action.id).after(&json!({
                "approver": user.id,
                "email": user.email,
                "channel": channel,
                "version": action.version,
                "escalation_level": level,
                "link_expires_at": expires_at,
            })),
        )
        .await?;
        requests.push(ApprovalRequest {
            user,
            token,
            dedup_key,
        });
    }
    Ok(requests)
}

/// Records that a message went out, or why it did not.
pub(crate) async fn record_delivery<C: ConnectionTrait>(
    conn: &C,
    msp_id: MspId,
    tenant_id: TenantId,
    dedup_key: &str,
    sent_at: DateTime<Utc>,
    error: Option<&str>,
) -> Result<(), StorageError> {
    let mut update = notification::Entity::update_many()
        .in_tenant(msp_id, tenant_id)
        .filter(notification::Column::DedupKey.eq(dedup_key));
    update = match error {
        None => update.col_expr(notification::Column::SentAt, Expr::value(Some(sent_at))),
        Some(error) => update.col_expr(
            notification::Column::LastError,
            Expr::value(Some(error.to_owned())),
        ),
    };
    update.exec(conn).await?;
    Ok(())
}

/// Why a link cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("this link is not valid")]
    Unknown,
    #[error("this link was already used; each link works once")]
    Used,
    #[error("this link has expired")]
    Expired,
    #[error(
        "the action changed since this message was sent; nothing was decided — look at it again in Steward"
    )]
    Changed,
    #[error("the action is {0} now; nothing is waiting for your answer")]
    Decided(ActionStatus),
    #[error("your account cannot approve any more")]
    NotAllowed,
    #[error(transparent)]
    Action(#[from] ActionRequestError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A link found by its secret, with what it is about.
#[derive(Debug, Clone)]
pub struct ResolvedLink {
    id: uuid::Uuid,
    pub tenant: Tenant,
    pub action: Action,
    pub user: User,
    pub expires_at: DateTime<Utc>,
}

impl ResolvedLink {
    /// How the link's approver appears in the audit chain.
    #[must_use]
    pub fn actor(&self) -> AuditActor {
        AuditActor {
            kind: ActorKind::User,
            user_id: Some(self.user.id),
            label: format!("{} via an approval link", self.user.email),
        }
    }
}

/// Finds the link with this secret and checks it can still be answered: unused, unexpired,
/// for the action's current version, the action still waiting, the approver still active.
///
/// # Errors
/// [`LinkError`] saying why the link cannot be used.
pub async fn resolve<C: ConnectionTrait>(
    conn: &C,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<ResolvedLink, LinkError> {
    if !secret.starts_with(LINK_PREFIX) {
        return Err(LinkError::Unknown);
    }
    let row = approval_link::Entity::find()
        .filter(approval_link::Column::TokenHash.eq(hash_secret(secret)))
        .one(conn)
        .await
        .map_err(StorageError::from)?
        .ok_or(LinkError::Unknown)?;
    if row.used_at.is_some() {
        return Err(LinkError::Used);
    }
    if row.expires_at <= now {
        return Err(LinkError::Expired);
    }
    let msp_id = MspId::from(row.msp_id);
    let tenant_id = TenantId::from(row.tenant_id);
    let tenant = TenantDirectory::new(conn, msp_id, None)
        .lookup(tenant_id)
        .await?
        .ok_or(LinkError::Unknown)?;
    let action = ActionReader::new(conn, msp_id, tenant_id)
        .get(ActionId::from(row.action_id))
        .await?
        .ok_or(LinkError::Unknown)?;
    if action.status != ActionStatus::AwaitingApproval {
        return Err(LinkError::Decided(action.status));
    }
    if action.version != row.version {
        return Err(LinkError::Changed);
    }
    let (user, _) = find_user(conn, super::entities::user::Column::Id.eq(row.user_id))
        .await?
        .ok_or(LinkError::NotAllowed)?;
    if !user.is_active() || user.msp_id != msp_id {
        return Err(LinkError::NotAllowed);
    }
    Ok(ResolvedLink {
        id: row.id,
        tenant,
        action,
        user,
        expires_at: row.expires_at,
    })
}

/// Records the first time a link's page was shown.
///
/// # Errors
/// When the database fails.
pub async fn record_view(ctx: &WriteContext<'_>, link: &ResolvedLink) -> Result<(), StorageError> {
    let first = approval_link::Entity::update_many()
        .col_expr(
            approval_link::Column::ViewedAt,
            Expr::value(Some(ctx.clock.now())),
        )
        .filter(approval_link::Column::Id.eq(link.id))
        .filter(approval_link::Column::ViewedAt.is_null())
        .exec(ctx.txn)
        .await?
        .rows_affected
        == 1;
    if first {
        audit::append(
            ctx,
            ChainRef::Tenant {
                msp_id: link.tenant.msp_id,
                tenant_id: link.tenant.id,
            },
            Change::new("action.approval_viewed", "action", &link.action.id).after(&json!({
                "approver": link.user.id,
                "version": link.action.version,
            })),
        )
        .await?;
    }
    Ok(())
}

/// Uses the link up, in the context's transaction; `false` when another use got there first.
pub(crate) async fn use_up(
    ctx: &WriteContext<'_>,
    link: &ResolvedLink,
) -> Result<bool, StorageError> {
    Ok(approval_link::Entity::update_many()
        .col_expr(
            approval_link::Column::UsedAt,
            Expr::value(Some(ctx.clock.now())),
        )
        .filter(approval_link::Column::Id.eq(link.id))
        .filter(approval_link::Column::UsedAt.is_null())
        .exec(ctx.txn)
        .await?
        .rows_affected
        == 1)
}
