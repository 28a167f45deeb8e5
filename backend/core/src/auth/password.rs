//! Signing in with a password, throttled per account and per address, and changing one's own
//! password.

use super::*;

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

pub(super) async fn check_throttle<C: ConnectionTrait>(
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

pub(super) async fn record_attempt<C: ConnectionTrait>(
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
