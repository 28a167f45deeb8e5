//! Users and their roles: read through a [`UserDirectory`], changed through a [`UserAdmin`],
//! every change recorded in the MSP's chain.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, Set,
    sea_query::{Condition, Expr},
};
use steward_domain::{
    MspId, TenantId, UserId,
    tenancy::{Role, RoleSide, TenantStatus, User, UserStatus},
};

use super::{
    Page, PageRequest, StorageError, TenantDirectory, WriteContext,
    entities::{membership, user},
    new_id,
};
use crate::audit::{self, ChainRef, Change};

/// The users of one MSP. Every query carries the MSP filter.
#[derive(Debug, Clone, Copy)]
pub struct UserDirectory<'c, C> {
    conn: &'c C,
    msp_id: MspId,
}

impl<'c, C: ConnectionTrait> UserDirectory<'c, C> {
    pub(crate) fn new(conn: &'c C, msp_id: MspId) -> Self {
        Self { conn, msp_id }
    }

    fn select(&self) -> sea_orm::SelectTwo<user::Entity, membership::Entity> {
        user::Entity::find()
            .filter(user::Column::MspId.eq(self.msp_id.as_uuid()))
            .find_also_related(membership::Entity)
    }

    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn lookup(&self, id: UserId) -> Result<Option<User>, StorageError> {
        self.select()
            .filter(user::Column::Id.eq(id.as_uuid()))
            .one(self.conn)
            .await?
            .map(user_from_rows)
            .transpose()
    }

    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn find_by_email(&self, email: &str) -> Result<Option<User>, StorageError> {
        self.select()
            .filter(user::Column::Email.eq(normalize_email(email)))
            .one(self.conn)
            .await?
            .map(user_from_rows)
            .transpose()
    }

    /// One page of the MSP's users, oldest first.
    ///
    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn list(&self, page: PageRequest) -> Result<Page<User>, StorageError> {
        let mut select = self
            .select()
            .order_by_asc(user::Column::Id)
            .limit(page.limit.saturating_add(1));
        if let Some(after) = page.after {
            select = select.filter(user::Column::Id.gt(after));
        }
        let users = select
            .all(self.conn)
            .await?
            .into_iter()
            .map(user_from_rows)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(users, page.limit, |u| u.id.as_uuid()))
    }

    /// Everyone with access to the tenant: the MSP's staff and the tenant's own customer users.
    ///
    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn members_of(&self, tenant_id: TenantId) -> Result<Vec<User>, StorageError> {
        let staff = Role::ALL
            .into_iter()
            .filter(|role| role.side() == RoleSide::Msp)
            .map(Role::as_str);
        self.select()
            .filter(
                Condition::any()
                    .add(membership::Column::Role.is_in(staff))
                    .add(membership::Column::TenantId.eq(tenant_id.as_uuid())),
            )
            .order_by_asc(user::Column::Id)
            .all(self.conn)
            .await?
            .into_iter()
            .map(user_from_rows)
            .collect()
    }
}

/// What it takes to create a user.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub display_name: String,
    pub role: Role,
    /// Required for customer-side roles, refused for MSP-side ones.
    pub tenant_id: Option<TenantId>,
    /// An Argon2 PHC string, if the user signs in with a password.
    pub password_hash: Option<String>,
    /// The password was chosen by someone else (an admin, the operator): the user must choose
    /// their own when they first sign in with it.
    pub password_change_required: bool,
}

/// Changes to a user; empty fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub display_name: Option<String>,
    pub status: Option<UserStatus>,
    /// A new role, with the tenant it needs (customer-side roles) or none.
    pub role: Option<(Role, Option<TenantId>)>,
}

/// Why a user change was refused.
#[derive(Debug, thiserror::Error)]
pub enum UserAdminError {
    #[error("the MSP has no user {0}")]
    NotFound(UserId),
    #[error("a user with email {0} already exists")]
    EmailTaken(String),
    #[error("{0:?} is not a valid email address")]
    InvalidEmail(String),
    #[error("the display name {0}")]
    InvalidDisplayName(#[source] steward_domain::text::TextError),
    #[error("the token's name {0}")]
    InvalidTokenName(#[source] steward_domain::text::TextError),
    #[error("the role {0} belongs to one tenant: name it with tenant_id")]
    TenantRequired(Role),
    #[error("the role {0} covers every tenant of the MSP: do not name a tenant")]
    TenantNotAllowed(Role),
    #[error("the MSP has no active tenant {0}")]
    UnknownTenant(TenantId),
    #[error("you cannot disable your own account or change your own role")]
    OwnAccount,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Creates and changes the users of one MSP, recording each change in the MSP's chain.
#[derive(Debug)]
pub struct UserAdmin<'a> {
    ctx: &'a WriteContext<'a>,
    msp_id: MspId,
}

impl<'a> UserAdmin<'a> {
    pub(crate) fn new(ctx: &'a WriteContext<'a>, msp_id: MspId) -> Self {
        Self { ctx, msp_id }
    }

    pub(crate) fn ctx(&self) -> &'a WriteContext<'a> {
        self.ctx
    }

    pub(crate) fn msp_id(&self) -> MspId {
        self.msp_id
    }

    fn directory(&self) -> UserDirectory<'a, sea_orm::DatabaseTransaction> {
        UserDirectory::new(self.ctx.txn, self.msp_id)
    }

    /// # Errors
    /// [`UserAdminError::EmailTaken`] when any user of the deployment has the email; role and
    /// tenant errors when they do not fit together.
    pub async fn create(&self, new: NewUser) -> Result<User, UserAdminError> {
        let email = checked_email(&new.email)?;
        let display_name = checked_display_name(&new.display_name)?;
        self.check_role(new.role, new.tenant_id).await?;
        let email_taken = user::Entity::find()
            .filter(user::Column::Email.eq(&email))
            .one(self.ctx.txn)
            .await
            .map_err(StorageError::from)?
            .is_some();
        if email_taken {
            return Err(UserAdminError::EmailTaken(email));
        }

        let now = self.ctx.clock.now();
        let user_id = new_id(self.ctx.clock);
        user::ActiveModel {
            id: Set(user_id),
            msp_id: Set(self.msp_id.as_uuid()),
            email: Set(email.clone()),
            display_name: Set(display_name),
            password_change_required: Set(
                new.password_change_required && new.password_hash.is_some()
            ),
            password_hash: Set(new.password_hash),
            status: Set(UserStatus::Active.as_str().to_owned()),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(self.ctx.txn)
        .await
        .map_err(
            |err| match StorageError::from_write("a user with this email", err) {
                StorageError::Conflict { .. } => UserAdminError::EmailTaken(email.clone()),
                other => other.into(),
            },
        )?;
        membership::ActiveModel {
            id: Set(new_id(self.ctx.clock)),
            msp_id: Set(self.msp_id.as_uuid()),
            tenant_id: Set(new.tenant_id.map(TenantId::as_uuid)),
            user_id: Set(user_id),
            role: Set(new.role.as_str().to_owned()),
            created_at: Set(now),
        }
        .insert(self.ctx.txn)
        .await
        .map_err(StorageError::from)?;

        let user = self.existing(user_id.into()).await?;
        self.record(Change::new("user.created", "user", &user.id).after(&user))
            .await?;
        Ok(user)
    }

    /// # Errors
    /// [`UserAdminError::NotFound`] for a user of another MSP or none;
    /// [`UserAdminError::OwnAccount`] when an admin would disable or demote themselves.
    pub async fn update(&self, id: UserId, changes: UserChanges) -> Result<User, UserAdminError> {
        let before = self.existing(id).await?;
        let own_account = self.ctx.actor.user_id == Some(id);
        let mut after = before.clone();
        if let Some(name) = &changes.display_name {
            after.display_name = checked_display_name(name)?;
        }
        if let Some(status) = changes.status {
            after.status = status;
        }
        if let Some((role, tenant_id)) = changes.role {
            self.check_role(role, tenant_id).await?;
            after.role = role;
            after.tenant_id = tenant_id;
        }
        if after == before {
            return Ok(before);
        }
        if own_account && (after.status != before.status || after.role != before.role) {
            return Err(UserAdminError::OwnAccount);
        }
        after.updated_at = self.ctx.clock.now();

        user::Entity::update_many()
            .col_expr(
                user::Column::DisplayName,
                Expr::value(after.display_name.clone()),
            )
            .col_expr(user::Column::Status, Expr::value(after.status.as_str()))
            .col_expr(user::Column::UpdatedAt, Expr::value(after.updated_at))
            .filter(user::Column::Id.eq(id.as_uuid()))
            .exec(self.ctx.txn)
            .await
            .map_err(StorageError::from)?;
        if after.role != before.role || after.tenant_id != before.tenant_id {
            membership::Entity::update_many()
                .col_expr(membership::Column::Role, Expr::value(after.role.as_str()))
                .col_expr(
                    membership::Column::TenantId,
                    Expr::value(after.tenant_id.map(TenantId::as_uuid)),
                )
                .filter(membership::Column::UserId.eq(id.as_uuid()))
                .exec(self.ctx.txn)
                .await
                .map_err(StorageError::from)?;
        }

        let action = match (before.status, after.status) {
            (UserStatus::Active, UserStatus::Disabled) => "user.disabled",
            (UserStatus::Disabled, UserStatus::Active) => "user.enabled",
            _ => "user.updated",
        };
        self.record(
            Change::new(action, "user", &id)
                .before(&before)
                .after(&after),
        )
        .await?;
        Ok(after)
    }

    /// Replaces the user's password hash (an Argon2 PHC string) or removes it.
    ///
    /// # Errors
    /// [`UserAdminError::NotFound`] for a user of another MSP or none.
    pub async fn set_password_hash(
        &self,
        id: UserId,
        password_hash: Option<String>,
    ) -> Result<(), UserAdminError> {
        self.existing(id).await?;
        let now = self.ctx.clock.now();
        let mut row = user::Entity::find_by_id(id.as_uuid())
            .one(self.ctx.txn)
            .await
            .map_err(StorageError::from)?
            .ok_or(UserAdminError::NotFound(id))?
            .into_active_model();
        let action = if password_hash.is_some() {
            "user.password_set"
        } else {
            "user.password_removed"
        };
        row.password_hash = Set(password_hash);
        row.updated_at = Set(now);
        row.update(self.ctx.txn).await.map_err(StorageError::from)?;
        // The hash itself is a secret: the entry records that it changed, not its value.
        self.record(Change::new(action, "user", &id)).await?;
        Ok(())
    }

    /// Removes a user's second factor and recovery codes, for someone who lost their
    /// authenticator: they set up a new one at their next sign-in where their MSP requires it.
    /// Returns whether one was in force.
    ///
    /// # Errors
    /// [`UserAdminError::NotFound`] for a user of another MSP or none.
    pub async fn reset_second_factor(&self, id: UserId) -> Result<bool, UserAdminError> {
        let user = self.existing(id).await?;
        Ok(super::second_factors::remove(self.ctx(), &user).await?)
    }

    pub(crate) async fn existing(&self, id: UserId) -> Result<User, UserAdminError> {
        self.directory()
            .lookup(id)
            .await?
            .ok_or(UserAdminError::NotFound(id))
    }

    async fn check_role(
        &self,
        role: Role,
        tenant_id: Option<TenantId>,
    ) -> Result<(), UserAdminError> {
        match (role.side(), tenant_id) {
            (RoleSide::Msp, None) => Ok(()),
            (RoleSide::Msp, Some(_)) => Err(UserAdminError::TenantNotAllowed(role)),
            (RoleSide::Customer, None) => Err(UserAdminError::TenantRequired(role)),
            (RoleSide::Customer, Some(tenant_id)) => {
                let tenant = TenantDirectory::new(self.ctx.txn, self.msp_id, None)
                    .lookup(tenant_id)
                    .await?;
                match tenant {
                    Some(tenant) if tenant.status == TenantStatus::Active => Ok(()),
                    _ => Err(UserAdminError::UnknownTenant(tenant_id)),
                }
            }
        }
    }

    pub(crate) async fn record(&self, change: Change) -> Result<(), StorageError> {
        audit::append(self.ctx, ChainRef::Msp(self.msp_id), change).await?;
        Ok(())
    }
}

/// Emails are compared and stored lowercase and trimmed.
#[must_use]
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

fn checked_email(email: &str) -> Result<String, UserAdminError> {
    let email = normalize_email(email);
    let plausible = email.chars().count() <= steward_domain::text::MAX_EMAIL
        && !email.chars().any(|c| {
            c.is_whitespace() || c.is_control() || steward_domain::text::is_bidi_control(c)
        })
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        });
    if plausible {
        Ok(email)
    } else {
        Err(UserAdminError::InvalidEmail(email))
    }
}

fn checked_display_name(name: &str) -> Result<String, UserAdminError> {
    steward_domain::text::name(name, steward_domain::text::MAX_NAME)
        .map_err(UserAdminError::InvalidDisplayName)
}

pub(crate) fn user_from_rows(
    (user, membership): (user::Model, Option<membership::Model>),
) -> Result<User, StorageError> {
    let membership =
        membership.ok_or_else(|| StorageError::corrupt("user role", &"the user has no role"))?;
    let status = match user.status.as_str() {
        "active" => UserStatus::Active,
        "disabled" => UserStatus::Disabled,
        other => return Err(StorageError::corrupt("user status", &other)),
    };
    let role: Role = membership
        .role
        .parse()
        .map_err(|err| StorageError::corrupt("user role", &err))?;
    Ok(User {
        id: user.id.into(),
        msp_id: user.msp_id.into(),
        email: user.email,
        display_name: user.display_name,
        status,
        role,
        tenant_id: membership.tenant_id.map(Into::into),
        password_change_required: user.password_change_required,
        created_at: user.created_at,
        updated_at: user.updated_at,
    })
}

/// A user with their role, found anywhere in the deployment; for authentication.
pub(crate) async fn find_user<C: ConnectionTrait>(
    conn: &C,
    filter: impl sea_orm::sea_query::IntoCondition,
) -> Result<Option<(User, Option<String>)>, StorageError> {
    let row: Option<(user::Model, Option<membership::Model>)> = user::Entity::find()
        .filter(filter)
        .find_also_related(membership::Entity)
        .one(conn)
        .await?;
    row.map(|(user, membership)| {
        let password_hash = user.password_hash.clone();
        user_from_rows((user, membership)).map(|user| (user, password_hash))
    })
    .transpose()
}
