//! Signing in: passwords with throttling, browser sessions, and identities from single sign-on.
//!
//! A session is a random secret kept in an HttpOnly cookie and stored only as a SHA-256 hash,
//! so it can be revoked at once (sign-out, password change, disabled user). Each session carries
//! a CSRF token that every state-changing form must echo.
//!
//! A password account with a second factor gets a session that only the second factor can
//! complete ([`crate::second_factor`]); until then it reaches nothing. A complete session can
//! still be held at a [`Gate`]: a password someone else chose must be replaced, and a second
//! factor the MSP requires must be set up, before anything else. Sensitive changes ask for the
//! password or second factor again ([`confirm_identity`]).

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, sea_query::Expr,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use steward_domain::{
    SessionId, UserId,
    audit::{ActorKind, AuditActor},
    tenancy::User,
};

use crate::{
    access::{Caller, Credential},
    audit::{self, AuditKeys, ChainRef, Change},
    clock::Clock,
    passwords::{self, PasswordError},
    settings::InvalidSetting,
    storage::{
        Deployment, NewUser, Storage, StorageError, UserAdminError, WriteContext,
        entities::{msp, session, sign_in_attempt, user, user_identity},
        find_user, generate_secret, hash_secret, new_id,
    },
};

/// The `[auth]` configuration section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// How long a browser session lasts after signing in.
    pub session_hours: u32,
    /// Failed password attempts for one account within the window before it is throttled.
    pub max_failures_per_account: u32,
    /// Failed password attempts from one address within the window before it is throttled.
    pub max_failures_per_address: u32,
    /// The sliding window the failures are counted over.
    pub throttle_window_minutes: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            session_hours: 12,
            max_failures_per_account: 5,
            max_failures_per_address: 20,
            throttle_window_minutes: 15,
        }
    }
}

impl AuthConfig {
    /// Checks the values that parse but make no sense.
    #[must_use]
    pub fn validate(&self) -> Vec<InvalidSetting> {
        let mut problems = Vec::new();
        for (key, value) in [
            ("auth.session_hours", self.session_hours),
            (
                "auth.max_failures_per_account",
                self.max_failures_per_account,
            ),
            (
                "auth.max_failures_per_address",
                self.max_failures_per_address,
            ),
            ("auth.throttle_window_minutes", self.throttle_window_minutes),
        ] {
            if value == 0 {
                problems.push(InvalidSetting::new(key, "must be at least 1"));
            }
        }
        problems
    }

    fn window(&self) -> Duration {
        Duration::minutes(self.throttle_window_minutes.into())
    }
}

/// Where a sign-in comes from.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip_address: String,
    pub user_agent: Option<String>,
}

/// A session just started: the secret for the cookie (shown nowhere else) and its details.
#[derive(Debug)]
pub struct NewSession {
    pub secret: SecretString,
    pub session: SessionInfo,
    /// The password was right and the account has a second factor: the session is good for
    /// entering it and nothing else.
    pub awaiting_second_factor: bool,
}

/// What a signed-in session must do before anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Gate {
    /// Its password was chosen by someone else: choose one's own.
    ChangePassword,
    /// The MSP requires a second factor of this account: set one up.
    EnrollSecondFactor,
}

impl Gate {
    /// The stable code naming it in answers.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Gate::ChangePassword => "password-change-required",
            Gate::EnrollSecondFactor => "second-factor-required",
        }
    }
}

/// How long a confirmation of identity covers sensitive changes.
pub const STEP_UP_WINDOW: Duration = Duration::minutes(10);

/// What a request learns about its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: SessionId,
    pub user_id: UserId,
    /// Every state-changing form of the session must carry this.
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
    /// `password` or `oidc`.
    pub method: String,
    /// When its user last proved who they are: signing in, or confirming a sensitive change.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// What it must do before anything else, if anything.
    pub gate: Option<Gate>,
}

impl SessionInfo {
    /// Whether its user proved who they are within [`STEP_UP_WINDOW`] of `now`.
    #[must_use]
    pub fn confirmed_recently(&self, now: DateTime<Utc>) -> bool {
        self.confirmed_at
            .is_some_and(|at| now - at <= STEP_UP_WINDOW)
    }
}

/// Why a password sign-in was refused.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Too many recent failures for this account or address; even a correct password is refused
    /// until the window has passed.
    #[error("too many failed sign-ins; try again in {} minute(s)", retry_after.num_minutes().max(1))]
    Throttled { retry_after: Duration },
    #[error("the email or password is wrong")]
    InvalidCredentials,
    #[error("this account is disabled")]
    Disabled,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Prefix of session secrets, so a leaked cookie value is recognizable.
const SESSION_PREFIX: &str = "sts_";

/// How often a session's `last_seen_at` is written at most.
const LAST_SEEN_RESOLUTION: Duration = Duration::minutes(1);

/// Checks an email and password and, if they match an active user and neither the account nor
/// the address is throttled, starts a session.
///
/// # Errors
/// [`SignInError`] saying why the sign-in was refused.
pub async fn password_sign_in(
    storage: &Storage,
    clock: &dyn Clock,
    keys: &AuditKeys,
    config: &AuthConfig,
    email: &str,
    password: &str,
    client: &ClientInfo,
) -> Result<NewSession, SignInError> {
    // Whatever was typed is counted against the throttle and recorded; control characters
    // (which PostgreSQL cannot store) are made harmless first, and no stored email has them.
    let email: String = steward_domain::text::neutralize(&crate::storage::normalize_email(email))
        .chars()
        .take(steward_domain::text::MAX_EMAIL)
        .collect();
    let now = clock.now();
    check_throttle(storage.conn(), config, &email, &client.ip_address, now).await?;

    let found = find_user(storage.conn(), user::Column::Email.eq(email.as_str())).await?;
    let verified = match &found {
        Some((_, Some(hash))) => passwords::verify_password(hash, password),
        // Spend the same time as a real check, so timing does not tell which emails exist.
        _ => {
            let _ = passwords::verify_password(passwords::timing_equalizer(), password);
            false
        }
    };
    record_attempt(storage.conn(), clock, &email, &client.ip_address, verified).await?;
    let Some((user, _)) = found.filter(|_| verified) else {
        return Err(SignInError::InvalidCredentials);
    };
    if !user.is_active() {
        return Err(SignInError::Disabled);
    }
    let stage = if crate::second_factor::enrolled(storage.conn(), &user).await? {
        Stage::SecondFactor
    } else {
        Stage::Complete
    };
    Ok(insert_session(
        storage, clock, keys, config, &user, client, "password", stage,
    )
    .await?)
}

/// Whether a session is in use or waits for its second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Complete,
    SecondFactor,
}

impl Stage {
    const fn as_str(self) -> &'static str {
        match self {
            Stage::Complete => "complete",
            Stage::SecondFactor => "second_factor",
        }
    }
}

async fn check_throttle<C: ConnectionTrait>(
    conn: &C,
    config: &AuthConfig,
    email: &str,
    ip_address: &str,
    now: DateTime<Utc>,
) -> Result<(), SignInError> {
    let since = now - config.window();
    for (column, value, limit) in [
        (
            sign_in_attempt::Column::Email,
            email,
            config.max_failures_per_account,
        ),
        (
            sign_in_attempt::Column::IpAddress,
            ip_address,
            config.max_failures_per_address,
        ),
    ] {
        let failures = sign_in_attempt::Entity::find()
            .filter(column.eq(value))
            .filter(sign_in_attempt::Column::Succeeded.eq(false))
            .filter(sign_in_attempt::Column::AttemptedAt.gt(since))
            .count(conn)
            .await
            .map_err(StorageError::from)?;
        if failures >= u64::from(limit) {
            // The window reopens when enough of the counted failures have aged out of it.
            let oldest_counted = sign_in_attempt::Entity::find()
                .filter(column.eq(value))
                .filter(sign_in_attempt::Column::Succeeded.eq(false))
                .filter(sign_in_attempt::Column::AttemptedAt.gt(since))
                .order_by_desc(sign_in_attempt::Column::AttemptedAt)
                .offset(u64::from(limit) - 1)
                .one(conn)
                .await
                .map_err(StorageError::from)?;
            let retry_after = oldest_counted.map_or_else(
                || config.window(),
                |row| row.attempted_at + config.window() - now,
            );
            return Err(SignInError::Throttled { retry_after });
        }
    }
    Ok(())
}

async fn record_attempt<C: ConnectionTrait>(
    conn: &C,
    clock: &dyn Clock,
    email: &str,
    ip_address: &str,
    succeeded: bool,
) -> Result<(), StorageError> {
    sign_in_attempt::ActiveModel {
        id: Set(new_id(clock)),
        email: Set(email.to_owned()),
        ip_address: Set(ip_address.to_owned()),
        succeeded: Set(succeeded),
        attempted_at: Set(clock.now()),
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// Starts a session for an active user, recording it in the MSP's audit chain.
///
/// # Errors
/// When the database cannot be written.
pub async fn start_session(
    storage: &Storage,
    clock: &dyn Clock,
    keys: &AuditKeys,
    config: &AuthConfig,
    user: &User,
    client: &ClientInfo,
    method: &str,
) -> Result<NewSession, StorageError> {
    insert_session(
        storage,
        clock,
        keys,
        config,
        user,
        client,
        method,
        Stage::Complete,
    )
    .await
}

#[expect(
    clippy::too_many_arguments,
    reason = "a session's every part, each from a different place"
)]
async fn insert_session(
    storage: &Storage,
    clock: &dyn Clock,
    keys: &AuditKeys,
    config: &AuthConfig,
    user: &User,
    client: &ClientInfo,
    method: &str,
    stage: Stage,
) -> Result<NewSession, StorageError> {
    let secret = generate_secret(SESSION_PREFIX)?;
    let csrf_token = generate_secret("")?;
    let now = clock.now();
    let complete = stage == Stage::Complete;
    let row = session::Model {
        id: new_id(clock),
        msp_id: user.msp_id.as_uuid(),
        user_id: user.id.as_uuid(),
        secret_hash: hash_secret(&secret),
        csrf_token,
        created_at: now,
        expires_at: now + Duration::hours(config.session_hours.into()),
        last_seen_at: now,
        revoked_at: None,
        user_agent: client.user_agent.clone(),
        ip_address: Some(client.ip_address.clone()),
        stage: stage.as_str().to_owned(),
        method: method.to_owned(),
        confirmed_at: complete.then_some(now),
    };
    let txn = storage.begin().await?;
    row.clone().into_active_model().insert(&txn).await?;
    let ctx = Deployment::new(&txn).write_context(clock, keys, actor_of(user, "sign-in"));
    audit::append(
        &ctx,
        ChainRef::Msp(user.msp_id),
        Change::new(
            if complete {
                "session.started"
            } else {
                "session.awaiting_second_factor"
            },
            "session",
            &row.id,
        )
        .after(&serde_json::json!({
            "user_id": user.id,
            "method": method,
            "ip_address": client.ip_address,
            "expires_at": row.expires_at,
        })),
    )
    .await?;
    txn.commit().await?;
    Ok(NewSession {
        secret: SecretString::from(secret),
        session: session_info(&row, None),
        awaiting_second_factor: !complete,
    })
}

fn actor_of(user: &User, via: &str) -> AuditActor {
    AuditActor {
        kind: ActorKind::User,
        user_id: Some(user.id),
        label: format!("{} via {via}", user.email),
    }
}

fn session_info(row: &session::Model, gate: Option<Gate>) -> SessionInfo {
    SessionInfo {
        id: row.id.into(),
        user_id: row.user_id.into(),
        csrf_token: row.csrf_token.clone(),
        expires_at: row.expires_at,
        method: row.method.clone(),
        confirmed_at: row.confirmed_at,
        gate,
    }
}

/// What a password session must do first: a password chosen by someone else is replaced, and
/// a second factor the MSP requires is set up. Single sign-on sessions rely on the identity
/// provider for both.
async fn gate_of<C: ConnectionTrait>(
    conn: &C,
    user: &User,
    method: &str,
) -> Result<Option<Gate>, StorageError> {
    if method != "password" {
        return Ok(None);
    }
    if user.password_change_required {
        return Ok(Some(Gate::ChangePassword));
    }
    let policy = msp::Entity::find_by_id(user.msp_id.as_uuid())
        .one(conn)
        .await?
        .and_then(|row| {
            steward_domain::tenancy::SecondFactorPolicy::parse(&row.second_factor_policy)
        })
        .unwrap_or_default();
    if policy.requires(user.role) && !crate::second_factor::enrolled(conn, user).await? {
        return Ok(Some(Gate::EnrollSecondFactor));
    }
    Ok(None)
}

/// Why a session cookie was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRejection {
    /// No session has this secret (never issued, or tampered with).
    Unknown,
    Expired,
    /// Signed out, or ended by a password change.
    Ended,
    /// The session's user is disabled.
    UserDisabled,
    /// The password was right but the second factor has not been entered yet.
    AwaitingSecondFactor,
}

/// Resolves a session cookie into its caller.
///
/// # Errors
/// When the database cannot be read; a cookie that does not authenticate is an `Ok(Err(_))`.
pub async fn authenticate_session(
    storage: &Storage,
    clock: &dyn Clock,
    secret: &str,
) -> Result<Result<(Caller, SessionInfo), SessionRejection>, StorageError> {
    let conn = storage.conn();
    let Some(row) = session::Entity::find()
        .filter(session::Column::SecretHash.eq(hash_secret(secret)))
        .one(conn)
        .await?
    else {
        return Ok(Err(SessionRejection::Unknown));
    };
    let now = clock.now();
    if row.revoked_at.is_some() {
        return Ok(Err(SessionRejection::Ended));
    }
    if row.expires_at <= now {
        return Ok(Err(SessionRejection::Expired));
    }
    let Some((user, _)) = find_user(conn, user::Column::Id.eq(row.user_id)).await? else {
        return Ok(Err(SessionRejection::Unknown));
    };
    if !user.is_active() {
        return Ok(Err(SessionRejection::UserDisabled));
    }
    if row.stage != Stage::Complete.as_str() {
        return Ok(Err(SessionRejection::AwaitingSecondFactor));
    }
    if now - row.last_seen_at >= LAST_SEEN_RESOLUTION {
        session::Entity::update_many()
            .col_expr(session::Column::LastSeenAt, Expr::value(now))
            .filter(session::Column::Id.eq(row.id))
            .exec(conn)
            .await?;
    }
    let info = session_info(&row, gate_of(conn, &user, &row.method).await?);
    let caller = Caller::new(user, Credential::Session { id: info.id });
    Ok(Ok((caller, info)))
}

/// The session waiting for its second factor under this cookie secret, with its user.
///
/// # Errors
/// When the database cannot be read.
pub async fn awaiting_second_factor(
    storage: &Storage,
    clock: &dyn Clock,
    secret: &str,
) -> Result<Option<(User, SessionInfo)>, StorageError> {
    let conn = storage.conn();
    let Some(row) = session::Entity::find()
        .filter(session::Column::SecretHash.eq(hash_secret(secret)))
        .filter(session::Column::Stage.eq(Stage::SecondFactor.as_str()))
        .filter(session::Column::RevokedAt.is_null())
        .filter(session::Column::ExpiresAt.gt(clock.now()))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    let found = find_user(conn, user::Column::Id.eq(row.user_id)).await?;
    Ok(found
        .map(|(user, _)| user)
        .filter(User::is_active)
        .map(|user| (user, session_info(&row, None))))
}

/// Why a second factor did not complete a sign-in.
#[derive(Debug, thiserror::Error)]
pub enum SecondFactorSignInError {
    #[error("that code is not right")]
    WrongCode,
    #[error("this sign-in has ended; sign in again")]
    NoSignIn,
    #[error(transparent)]
    Throttled(#[from] SignInError),
    #[error(transparent)]
    SecondFactor(#[from] crate::second_factor::SecondFactorError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Completes a sign-in waiting for its second factor: a right code (or recovery code) ends
/// the waiting session and starts a complete one under a new secret. Wrong codes count against
/// the same throttle as wrong passwords.
///
/// # Errors
/// [`SecondFactorSignInError`] saying why not.
#[expect(
    clippy::too_many_arguments,
    reason = "the sign-in's every part, each from a different place"
)]
pub async fn complete_second_factor(
    storage: &Storage,
    clock: &dyn Clock,
    keys: &AuditKeys,
    config: &AuthConfig,
    secrets: &crate::secrets::SecretBox,
    secret: &str,
    code: &str,
    client: &ClientInfo,
) -> Result<NewSession, SecondFactorSignInError> {
    let Some((user, waiting)) = awaiting_second_factor(storage, clock, secret).await? else {
        return Err(SecondFactorSignInError::NoSignIn);
    };
    check_throttle(
        storage.conn(),
        config,
        &user.email,
        &client.ip_address,
        clock.now(),
    )
    .await?;
    let txn = storage.begin().await?;
    let ctx = Deployment::new(&txn).write_context(clock, keys, actor_of(&user, "second factor"));
    let right = crate::second_factor::verify(&ctx, &user, secrets, code).await?;
    if right {
        session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(Some(clock.now())))
            .filter(session::Column::Id.eq(waiting.id.as_uuid()))
            .exec(&txn)
            .await
            .map_err(StorageError::from)?;
    }
    drop(ctx);
    txn.commit().await.map_err(StorageError::from)?;
    record_attempt(
        storage.conn(),
        clock,
        &user.email,
        &client.ip_address,
        right,
    )
    .await?;
    if !right {
        return Err(SecondFactorSignInError::WrongCode);
    }
    Ok(start_session(storage, clock, keys, config, &user, client, "password").await?)
}

/// Why a confirmation of identity was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfirmError {
    #[error("that is not your current password or second-factor code")]
    Wrong,
    #[error("this account signs in through single sign-on only: sign in again there to confirm")]
    SignInAgain,
    #[error(transparent)]
    SecondFactor(#[from] crate::second_factor::SecondFactorError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Confirms, for a sensitive change, that the session's user is at the keyboard: their
/// second-factor code if they have one in force, else their password. Confirmed sessions make
/// sensitive changes for [`STEP_UP_WINDOW`] without asking again.
///
/// # Errors
/// [`ConfirmError`] for a wrong proof, or an account with neither (single sign-on only).
pub async fn confirm_identity(
    ctx: &WriteContext<'_>,
    caller: &Caller,
    secrets: &crate::secrets::SecretBox,
    session_id: SessionId,
    proof: &str,
) -> Result<(), ConfirmError> {
    let user = caller.user();
    let right = if crate::second_factor::enrolled(ctx.connection(), user).await? {
        crate::second_factor::verify(ctx, user, secrets, proof).await?
    } else {
        match find_user(ctx.connection(), user::Column::Id.eq(user.id.as_uuid())).await? {
            Some((_, Some(hash))) => passwords::verify_password(&hash, proof),
            _ => return Err(ConfirmError::SignInAgain),
        }
    };
    if !right {
        return Err(ConfirmError::Wrong);
    }
    session::Entity::update_many()
        .col_expr(session::Column::ConfirmedAt, Expr::value(Some(ctx.now())))
        .filter(session::Column::Id.eq(session_id.as_uuid()))
        .filter(session::Column::UserId.eq(user.id.as_uuid()))
        .exec(ctx.connection())
        .await
        .map_err(StorageError::from)?;
    audit::append(
        ctx,
        ChainRef::Msp(user.msp_id),
        Change::new("session.confirmed", "session", &session_id),
    )
    .await?;
    Ok(())
}

/// Ends a session (sign-out), recording it.
///
/// # Errors
/// When the database cannot be written.
pub async fn end_session(
    storage: &Storage,
    clock: &dyn Clock,
    keys: &AuditKeys,
    caller: &Caller,
    session_id: SessionId,
) -> Result<(), StorageError> {
    let txn = storage.begin().await?;
    let ended = session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(Some(clock.now())))
        .filter(session::Column::Id.eq(session_id.as_uuid()))
        .filter(session::Column::UserId.eq(caller.user().id.as_uuid()))
        .filter(session::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    if ended.rows_affected > 0 {
        let ctx = caller.write_context(&txn, clock, keys, None);
        audit::append(
            &ctx,
            ChainRef::Msp(caller.msp_id()),
            Change::new("session.ended", "session", &session_id),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Why a password change was refused.
#[derive(Debug, thiserror::Error)]
pub enum PasswordChangeError {
    #[error("the current password is wrong")]
    WrongCurrentPassword,
    #[error("the new passwords do not match")]
    Mismatch,
    #[error("choose a password other than the current one")]
    Unchanged,
    #[error(transparent)]
    Weak(#[from] PasswordError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Changes the caller's own password and ends their other sessions.
///
/// # Errors
/// [`PasswordChangeError`] saying what is wrong.
pub async fn change_own_password(
    ctx: &WriteContext<'_>,
    caller: &Caller,
    current: &str,
    new: &str,
    confirm: &str,
) -> Result<(), PasswordChangeError> {
    let found = find_user(ctx.txn, user::Column::Id.eq(caller.user().id.as_uuid())).await?;
    let matches = found
        .and_then(|(_, hash)| hash)
        .is_some_and(|hash| passwords::verify_password(&hash, current));
    if !matches {
        return Err(PasswordChangeError::WrongCurrentPassword);
    }
    if new != confirm {
        return Err(PasswordChangeError::Mismatch);
    }
    if new == current {
        return Err(PasswordChangeError::Unchanged);
    }
    let hash = passwords::hash_password(new)?;
    user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(Some(hash)))
        .col_expr(user::Column::PasswordChangeRequired, Expr::value(false))
        .col_expr(user::Column::UpdatedAt, Expr::value(ctx.clock.now()))
        .filter(user::Column::Id.eq(caller.user().id.as_uuid()))
        .exec(ctx.txn)
        .await
        .map_err(StorageError::from)?;
    let mut others = session::Entity::update_many()
        .col_expr(
            session::Column::RevokedAt,
            Expr::value(Some(ctx.clock.now())),
        )
        .filter(session::Column::UserId.eq(caller.user().id.as_uuid()))
        .filter(session::Column::RevokedAt.is_null());
    if let Credential::Session { id } = caller.credential() {
        others = others.filter(session::Column::Id.ne(id.as_uuid()));
    }
    let ended = others.exec(ctx.txn).await.map_err(StorageError::from)?;
    audit::append(
        ctx,
        ChainRef::Msp(caller.msp_id()),
        Change::new("user.password_changed", "user", &caller.user().id)
            .after(&serde_json::json!({ "other_sessions_ended": ended.rows_affected })),
    )
    .await?;
    Ok(())
}

/// Whether the user has a password (users from single sign-on may not).
///
/// # Errors
/// When the database cannot be read.
pub async fn has_password<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
) -> Result<bool, StorageError> {
    Ok(find_user(conn, user::Column::Id.eq(user_id.as_uuid()))
        .await?
        .is_some_and(|(_, hash)| hash.is_some()))
}

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
async fn provision(
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
const OIDC_LOGIN_TTL: Duration = Duration::minutes(10);

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

/// Constant-time comparison of a presented CSRF token with the session's.
#[must_use]
pub fn csrf_matches(expected: &str, presented: &str) -> bool {
    use subtle::ConstantTimeEq;
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
}

/// A new random token for forms shown before signing in (kept in a cookie as well).
///
/// # Errors
/// When the operating system provides no randomness.
pub fn new_form_token() -> Result<SecretString, StorageError> {
    Ok(SecretString::from(generate_secret("")?))
}

impl NewSession {
    /// The cookie value.
    #[must_use]
    pub fn cookie_value(&self) -> &str {
        self.secret.expose_secret()
    }
}
