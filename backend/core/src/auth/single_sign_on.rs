//! Identities from single sign-on: resolving a provider's identity to a user (creating one where
//! the MSP allows), and the pending logins between the redirect and the callback.

use super::*;

/// What an identity provider asserted about the person signing in.
#[derive(Debug, Clone)]
pub struct ProviderIdentity {
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
}

/// Why a single sign-on identity was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityRefusal {
    #[error(
        "no Steward user has this identity, and the identity provider did not assert a verified email to link it by"
    )]
    UnverifiedEmail,
    #[error("no Steward user has the email {0}; ask your MSP admin to add you")]
    UnknownUser(String),
    #[error("the Steward user linked to this identity is disabled")]
    Disabled,
}

/// Finds (or links, or creates where an MSP allows it) the Steward user for an identity.
///
/// A known (issuer, subject) signs in as its user. An unknown one is linked to the user with
/// the same email only if the provider asserts the email is verified; failing that, an MSP that
/// turned on auto-provisioning for the email's domain gets a new user with its configured role.
/// Anyone else is refused.
///
/// # Errors
/// When the database cannot be written.
pub async fn resolve_identity(
    storage: &Storage,
    clock: &dyn Clock,
    keys: &AuditKeys,
    identity: &ProviderIdentity,
) -> Result<Result<User, IdentityRefusal>, StorageError> {
    let txn = storage.begin().await?;
    let linked = user_identity::Entity::find()
        .filter(user_identity::Column::Issuer.eq(identity.issuer.as_str()))
        .filter(user_identity::Column::Subject.eq(identity.subject.as_str()))
        .one(&txn)
        .await?;
    if let Some(link) = linked {
        let user = find_user(&txn, user::Column::Id.eq(link.user_id))
            .await?
            .map(|(user, _)| user);
        return Ok(match user {
            Some(user) if user.is_active() => Ok(user),
            _ => Err(IdentityRefusal::Disabled),
        });
    }

    let email = match (&identity.email, identity.email_verified) {
        (Some(email), true) => crate::storage::normalize_email(email),
        _ => return Ok(Err(IdentityRefusal::UnverifiedEmail)),
    };
    let deployment = Deployment::new(&txn);
    let user = match deployment.find_user_by_email(&email).await? {
        Some(user) => user,
        None => match provision(&txn, clock, keys, &email, identity).await? {
            Some(user) => user,
            None => return Ok(Err(IdentityRefusal::UnknownUser(email))),
        },
    };
    if !user.is_active() {
        return Ok(Err(IdentityRefusal::Disabled));
    }
    user_identity::ActiveModel {
        id: Set(new_id(clock)),
        msp_id: Set(user.msp_id.as_uuid()),
        user_id: Set(user.id.as_uuid()),
        issuer: Set(identity.issuer.clone()),
        subject: Set(identity.subject.clone()),
        created_at: Set(clock.now()),
    }
    .insert(&txn)
    .await?;
    let ctx = deployment.write_context(clock, keys, actor_of(&user, "single sign-on"));
    audit::append(
        &ctx,
        ChainRef::Msp(user.msp_id),
        Change::new("user.identity_linked", "user", &user.id).after(&serde_json::json!({
            "issuer": identity.issuer,
            "subject": identity.subject,
        })),
    )
    .await?;
    txn.commit().await?;
    Ok(Ok(user))
}

/// Creates the user if an MSP auto-provisions the email's domain.
pub(super) async fn provision(
    txn: &sea_orm::DatabaseTransaction,
    clock: &dyn Clock,
    keys: &AuditKeys,
    email: &str,
    identity: &ProviderIdentity,
) -> Result<Option<User>, StorageError> {
    let Some((_, domain)) = email.rsplit_once('@') else {
        return Ok(None);
    };
    // Only the MSP that proved it holds the domain provisions from it (one at most).
    let Some(holder) = crate::storage::msp_domain_holder(txn, domain).await? else {
        return Ok(None);
    };
    let Some(msp_row) = msp::Entity::find_by_id(holder.as_uuid())
        .filter(msp::Column::SsoAutoProvisionDomain.eq(domain))
        .one(txn)
        .await?
    else {
        return Ok(None);
    };
    let Some(role) = msp_row
        .sso_auto_provision_role
        .as_deref()
        .and_then(|role| role.parse().ok())
    else {
        return Ok(None);
    };
    let deployment = Deployment::new(txn);
    let ctx = deployment.write_context(
        clock,
        keys,
        AuditActor {
            kind: ActorKind::System,
            user_id: None,
            label: format!("single sign-on auto-provisioning ({})", identity.issuer),
        },
    );
    let created = ctx
        .operate_msp(msp_row.id.into())
        .users()
        .create(NewUser {
            email: email.to_owned(),
            display_name: identity.name.clone().unwrap_or_else(|| email.to_owned()),
            role,
            tenant_id: None,
            password_hash: None,
            password_change_required: false,
        })
        .await;
    match created {
        Ok(user) => Ok(Some(user)),
        Err(UserAdminError::Storage(err)) => Err(err),
        Err(other) => {
            tracing::warn!(error = %other, "single sign-on could not provision a user");
            Ok(None)
        }
    }
}

/// Removes OIDC logins that were never completed; called when a new one starts.
pub(crate) async fn forget_expired_oidc_logins<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    crate::storage::entities::oidc_login::Entity::delete_many()
        .filter(crate::storage::entities::oidc_login::Column::ExpiresAt.lt(now))
        .exec(conn)
        .await?;
    Ok(())
}

/// An OIDC sign-in between the redirect to the provider and its callback.
#[derive(Debug, Clone)]
pub struct PendingOidcLogin {
    pub nonce: String,
    pub pkce_verifier: String,
}

/// How long a user has to complete a sign-in at the provider.
pub(super) const OIDC_LOGIN_TTL: Duration = Duration::minutes(10);

/// Remembers an OIDC sign-in under (a hash of) its state.
///
/// # Errors
/// When the database cannot be written.
pub async fn remember_oidc_login(
    storage: &Storage,
    clock: &dyn Clock,
    state: &str,
    login: &PendingOidcLogin,
) -> Result<(), StorageError> {
    let now = clock.now();
    forget_expired_oidc_logins(storage.conn(), now).await?;
    crate::storage::entities::oidc_login::ActiveModel {
        id: Set(new_id(clock)),
        state_hash: Set(hash_secret(state)),
        nonce: Set(login.nonce.clone()),
        pkce_verifier: Set(login.pkce_verifier.clone()),
        created_at: Set(now),
        expires_at: Set(now + OIDC_LOGIN_TTL),
    }
    .insert(storage.conn())
    .await?;
    Ok(())
}

/// Takes (and forgets: a state works once) the OIDC sign-in with this state, if it has not
/// expired.
///
/// # Errors
/// When the database cannot be written.
pub async fn take_oidc_login(
    storage: &Storage,
    clock: &dyn Clock,
    state: &str,
) -> Result<Option<PendingOidcLogin>, StorageError> {
    use crate::storage::entities::oidc_login;
    let txn = storage.begin().await?;
    let row = oidc_login::Entity::find()
        .filter(oidc_login::Column::StateHash.eq(hash_secret(state)))
        .one(&txn)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    oidc_login::Entity::delete_by_id(row.id).exec(&txn).await?;
    txn.commit().await?;
    if row.expires_at <= clock.now() {
        return Ok(None);
    }
    Ok(Some(PendingOidcLogin {
        nonce: row.nonce,
        pkce_verifier: row.pkce_verifier,
    }))
}
