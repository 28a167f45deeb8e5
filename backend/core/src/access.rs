//! Who is calling, and what they may reach.
//!
//! A request's credential (an API token, or a browser session) is resolved once into a
//! [`Caller`]: the user, their MSP, their role and, for customer users, their tenant. Everything
//! a handler reads or writes goes through the handles a `Caller` hands out, which carry the
//! caller's scope in every query and exist only for roles that hold the permission. Handlers
//! therefore never compare tenant ids themselves.

use std::fmt;

use chrono::Duration;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, sea_query::Expr,
};
use steward_domain::{
    ApiTokenId, MspId, SessionId, TenantId,
    access::Permission,
    audit::{ActorKind, AuditActor},
    credentials::ApiTokenState,
    guardrails::AutomationHalt,
    tenancy::{Msp, Role, RoleSide, Tenant, User},
};

use crate::{
    audit::{AuditKeys, AuditLog, ChainRef},
    clock::Clock,
    storage::{
        MspAdmin, MspRepository, OwnTokens, Storage, StorageError, TenantDirectory, TenantScope,
        TenantWork, TokenDirectory, UserDirectory, WorkError, WriteContext, active_halt,
        engage_halt, entities::api_token, find_token_by_secret, find_user, release_halt,
    },
};

/// The caller lacks a permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("your role does not allow you to {}", .0.describe())]
pub struct Forbidden(pub Permission);

/// How the caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    ApiToken { id: ApiTokenId, name: String },
    Session { id: SessionId },
}

/// An authenticated, active user, resolved once per request.
#[derive(Debug, Clone)]
pub struct Caller {
    user: User,
    credential: Credential,
}

impl Caller {
    pub(crate) fn new(user: User, credential: Credential) -> Self {
        Self { user, credential }
    }

    #[must_use]
    pub fn user(&self) -> &User {
        &self.user
    }

    #[must_use]
    pub fn role(&self) -> Role {
        self.user.role
    }

    #[must_use]
    pub fn msp_id(&self) -> MspId {
        self.user.msp_id
    }

    #[must_use]
    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    /// Whether the caller's role holds the permission.
    #[must_use]
    pub fn allows(&self, permission: Permission) -> bool {
        self.user.role.allows(permission)
    }

    /// # Errors
    /// [`Forbidden`] when the caller's role does not hold the permission.
    pub fn require(&self, permission: Permission) -> Result<(), Forbidden> {
        if self.allows(permission) {
            Ok(())
        } else {
            Err(Forbidden(permission))
        }
    }

    /// How this caller appears in audit entries.
    #[must_use]
    pub fn actor(&self) -> AuditActor {
        let via = match &self.credential {
            Credential::ApiToken { name, .. } => format!("API token \"{name}\""),
            Credential::Session { .. } => "web session".to_owned(),
        };
        AuditActor {
            kind: ActorKind::User,
            user_id: Some(self.user.id),
            label: format!("{} via {via}", self.user.email),
        }
    }

    /// A write context acting as this caller.
    #[must_use]
    pub fn write_context<'a>(
        &self,
        txn: &'a DatabaseTransaction,
        clock: &'a dyn Clock,
        keys: &'a AuditKeys,
        request_id: Option<String>,
    ) -> WriteContext<'a> {
        WriteContext::new(txn, clock, keys, self.actor(), request_id)
    }

    /// The caller's MSP.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn msp<C: ConnectionTrait>(&self, conn: &C) -> Result<Option<Msp>, StorageError> {
        MspRepository::new(conn).lookup(self.msp_id()).await
    }

    /// The tenant a customer user is confined to; `None` for MSP staff.
    fn confined_to(&self) -> Option<TenantId> {
        match self.user.role.side() {
            RoleSide::Msp => None,
            RoleSide::Customer => self.user.tenant_id,
        }
    }

    /// The tenants the caller can see: all of the MSP's for staff, their own for customers.
    #[must_use]
    pub fn tenants<'c, C: ConnectionTrait>(&self, conn: &'c C) -> TenantDirectory<'c, C> {
        TenantDirectory::new(conn, self.msp_id(), self.confined_to())
    }

    /// The tenant, if the caller can see it. A tenant the caller cannot see and a tenant that
    /// does not exist are the same answer, so ids of other MSPs' tenants reveal nothing.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn tenant<'c, C: ConnectionTrait>(
        &self,
        conn: &'c C,
        id: TenantId,
    ) -> Result<Option<TenantScope<'c, C>>, StorageError> {
        Ok(self
            .see_tenant(conn, id)
            .await?
            .map(|seen| seen.scope(conn)))
    }

    /// As [`Self::tenant`], kept as a [`SeenTenant`] that opens the tenant's scope again
    /// without looking it up (for the rest of one request).
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn see_tenant<C: ConnectionTrait>(
        &self,
        conn: &C,
        id: TenantId,
    ) -> Result<Option<SeenTenant>, StorageError> {
        Ok(self
            .tenants(conn)
            .lookup(id)
            .await?
            .map(|tenant| SeenTenant {
                tenant,
                role: self.role(),
            }))
    }

    /// The MSP's users.
    ///
    /// # Errors
    /// [`Forbidden`] without [`Permission::ReadUsers`].
    pub fn users<'c, C: ConnectionTrait>(
        &self,
        conn: &'c C,
    ) -> Result<UserDirectory<'c, C>, Forbidden> {
        self.require(Permission::ReadUsers)?;
        Ok(UserDirectory::new(conn, self.msp_id()))
    }

    /// The MSP's users' API tokens.
    ///
    /// # Errors
    /// [`Forbidden`] without [`Permission::ReadUsers`].
    pub fn tokens<'c, C: ConnectionTrait>(
        &self,
        conn: &'c C,
    ) -> Result<TokenDirectory<'c, C>, Forbidden> {
        self.require(Permission::ReadUsers)?;
        Ok(TokenDirectory::new(conn, self.msp_id()))
    }

    /// The caller's own API tokens (any role may list and revoke its own).
    #[must_use]
    pub fn own_token_directory<'c, C: ConnectionTrait>(
        &self,
        conn: &'c C,
    ) -> TokenDirectory<'c, C> {
        TokenDirectory::new(conn, self.msp_id())
    }

    /// Revocation of the caller's own tokens.
    #[must_use]
    pub fn own_tokens<'a>(&self, ctx: &'a WriteContext<'a>) -> OwnTokens<'a> {
        OwnTokens::new(ctx, self.msp_id(), self.user.id)
    }

    /// The MSP's own audit chain.
    ///
    /// # Errors
    /// [`Forbidden`] without [`Permission::ReadMspAudit`].
    pub fn msp_audit<'c, C: ConnectionTrait>(
        &self,
        conn: &'c C,
    ) -> Result<AuditLog<'c, C>, Forbidden> {
        self.require(Permission::ReadMspAudit)?;
        Ok(AuditLog::new(conn, ChainRef::Msp(self.msp_id())))
    }

    /// The caller's writes in a tenant's response work (incidents, actions, approvals), if the
    /// caller can see the tenant. What each write needs is checked against the caller's role.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn work<'a>(
        &self,
        ctx: &'a WriteContext<'a>,
        tenant_id: TenantId,
    ) -> Result<Option<TenantWork<'a>>, StorageError> {
        Ok(self
            .tenants(ctx.txn)
            .lookup(tenant_id)
            .await?
            .map(|tenant| TenantWork::for_user(ctx, tenant, self.user.id, self.role())))
    }

    /// The MSP-wide kill switch, if pulled.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn msp_halt<C: ConnectionTrait>(
        &self,
        conn: &C,
    ) -> Result<Option<AutomationHalt>, StorageError> {
        active_halt(conn, self.msp_id(), None).await
    }

    /// Pulls the MSP-wide kill switch: nothing runs automatically in any of the MSP's tenants
    /// until an MSP admin releases it. Pulling it again changes nothing.
    ///
    /// # Errors
    /// [`WorkError::Forbidden`] without [`Permission::HaltAllAutomation`];
    /// [`WorkError::Guardrail`] for a reason that is too long.
    pub async fn halt_all_automation(
        &self,
        ctx: &WriteContext<'_>,
        reason: &str,
    ) -> Result<AutomationHalt, WorkError> {
        self.require(Permission::HaltAllAutomation)?;
        Ok(engage_halt(ctx, self.msp_id(), None, self.user.id, reason).await?)
    }

    /// Releases the MSP-wide kill switch.
    ///
    /// # Errors
    /// [`WorkError::Forbidden`] without [`Permission::ManageAutomation`];
    /// [`WorkError::Guardrail`] when it is not pulled.
    pub async fn release_all_automation(
        &self,
        ctx: &WriteContext<'_>,
    ) -> Result<AutomationHalt, WorkError> {
        self.require(Permission::ManageAutomation)?;
        Ok(release_halt(ctx, self.msp_id(), None, self.user.id).await?)
    }

    /// Changes to the MSP's detection content: its own rules and MSP-wide rule states.
    ///
    /// # Errors
    /// [`Forbidden`] without [`Permission::ManageDetections`].
    pub fn detection_content<'a>(
        &self,
        ctx: &'a WriteContext<'a>,
    ) -> Result<crate::storage::detection_rules::DetectionContentWriter<'a>, Forbidden> {
        self.require(Permission::ManageDetections)?;
        Ok(crate::storage::detection_rules::DetectionContentWriter::new(ctx, self.msp_id()))
    }

    /// The MSP admin's writes.
    ///
    /// # Errors
    /// [`Forbidden`] unless the caller may manage both tenants and users.
    pub fn admin<'a>(&self, ctx: &'a WriteContext<'a>) -> Result<MspAdmin<'a>, Forbidden> {
        self.require_admin()?;
        Ok(MspAdmin::new(ctx, self.msp_id()))
    }

    /// Whether the caller is an MSP admin, for work that must be refused before it starts
    /// (checking an uploaded policy costs CPU before any write).
    ///
    /// # Errors
    /// [`Forbidden`] unless the caller may manage both tenants and users.
    pub fn require_admin(&self) -> Result<(), Forbidden> {
        self.require(Permission::ManageTenants)?;
        self.require(Permission::ManageUsers)
    }
}

/// A tenant a caller was found to see ([`Caller::see_tenant`]); only that lookup makes one, so
/// holding one is proof of it.
#[derive(Debug, Clone)]
pub struct SeenTenant {
    tenant: Tenant,
    role: Role,
}

impl SeenTenant {
    /// The tenant's id.
    #[must_use]
    pub fn id(&self) -> TenantId {
        self.tenant.id
    }

    /// The tenant's scoped reads through `conn`, for the caller who saw it.
    #[must_use]
    pub fn scope<'c, C: ConnectionTrait>(&self, conn: &'c C) -> TenantScope<'c, C> {
        TenantScope::new(conn, self.tenant.clone(), self.role)
    }
}

/// Why an API token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRejection {
    /// No token is stored under this secret (mistyped, or never issued).
    Unknown,
    Expired,
    Revoked,
    /// The token's user is disabled.
    UserDisabled,
}

impl fmt::Display for TokenRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenRejection::Unknown => "the API token is not valid",
            TokenRejection::Expired => "the API token has expired",
            TokenRejection::Revoked => "the API token has been revoked",
            TokenRejection::UserDisabled => "the API token's user is disabled",
        })
    }
}

/// How often a token's `last_used_at` is written at most: often enough to tell stale tokens
/// from used ones, rarely enough not to turn every read into a write.
const LAST_USED_RESOLUTION: Duration = Duration::minutes(1);

/// Resolves an API token's secret into its caller.
///
/// # Errors
/// When the database cannot be read; a token that does not authenticate is an `Ok(Err(_))`.
pub async fn authenticate_token(
    storage: &Storage,
    clock: &dyn Clock,
    secret: &str,
) -> Result<Result<Caller, TokenRejection>, StorageError> {
    let conn = storage.conn();
    let Some(row) = find_token_by_secret(conn, secret).await? else {
        return Ok(Err(TokenRejection::Unknown));
    };
    let now = clock.now();
    let token = steward_domain::credentials::ApiToken::from(row.clone());
    match token.state(now) {
        ApiTokenState::Active => {}
        ApiTokenState::Expired => return Ok(Err(TokenRejection::Expired)),
        ApiTokenState::Revoked => return Ok(Err(TokenRejection::Revoked)),
    }
    let Some((user, _)) = find_user(
        conn,
        crate::storage::entities::user::Column::Id.eq(row.user_id),
    )
    .await?
    else {
        return Ok(Err(TokenRejection::Unknown));
    };
    if !user.is_active() {
        return Ok(Err(TokenRejection::UserDisabled));
    }
    if row
        .last_used_at
        .is_none_or(|last| now - last >= LAST_USED_RESOLUTION)
    {
        api_token::Entity::update_many()
            .col_expr(api_token::Column::LastUsedAt, Expr::value(Some(now)))
            .filter(api_token::Column::Id.eq(row.id))
            .exec(conn)
            .await?;
    }
    Ok(Ok(Caller {
        user,
        credential: Credential::ApiToken {
            id: token.id,
            name: token.name,
        },
    }))
}
