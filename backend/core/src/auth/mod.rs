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

mod password;
mod second_step;
mod single_sign_on;

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

pub use self::{password::*, second_step::*, single_sign_on::*};

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
