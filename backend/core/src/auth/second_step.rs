//! The steps after a password: completing a session with the second factor, and confirming
//! one's identity again before a sensitive change.

use super::*;

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
