//! Users' second factors and recovery codes: persistence only (the rules are in
//! [`crate::second_factor`]). Every change is in the user's MSP's audit chain.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, sea_query::Expr,
};
use serde_json::json;
use steward_domain::{UserId, tenancy::User};

use super::{
    StorageError, WriteContext,
    entities::{recovery_code, user_second_factor},
    new_id,
};
use crate::audit::{self, ChainRef, Change};

/// The user's second factor, confirmed or still being set up.
pub(crate) async fn find<C: ConnectionTrait>(
    conn: &C,
    user_id: UserId,
) -> Result<Option<user_second_factor::Model>, StorageError> {
    Ok(user_second_factor::Entity::find_by_id(user_id.as_uuid())
        .one(conn)
        .await?)
}

/// Keeps a new, unconfirmed secret for the user, replacing an unconfirmed one.
pub(crate) async fn start(
    ctx: &WriteContext<'_>,
    user: &User,
    sealed_secret: &str,
) -> Result<(), StorageError> {
    user_second_factor::Entity::delete_by_id(user.id.as_uuid())
        .exec(ctx.txn)
        .await?;
    user_second_factor::ActiveModel {
        user_id: Set(user.id.as_uuid()),
        msp_id: Set(user.msp_id.as_uuid()),
        sealed_secret: Set(sealed_secret.to_owned()),
        created_at: Set(ctx.clock.now()),
        confirmed_at: Set(None),
        last_used_step: Set(None),
    }
    .insert(ctx.txn)
    .await?;
    Ok(())
}

/// Puts the second factor in force, with the step its first code used and fresh recovery
/// codes (any earlier ones are gone).
pub(crate) async fn confirm(
    ctx: &WriteContext<'_>,
    user: &User,
    step: i64,
    recovery_hashes: &[String],
) -> Result<(), StorageError> {
    let now = ctx.clock.now();
    user_second_factor::Entity::update_many()
        .col_expr(user_second_factor::Column::ConfirmedAt, Expr::value(now))
        .col_expr(user_second_factor::Column::LastUsedStep, Expr::value(step))
        .filter(user_second_factor::Column::UserId.eq(user.id.as_uuid()))
        .exec(ctx.txn)
        .await?;
    recovery_code::Entity::delete_many()
        .filter(recovery_code::Column::UserId.eq(user.id.as_uuid()))
        .exec(ctx.txn)
        .await?;
    for hash in recovery_hashes {
        recovery_code::ActiveModel {
            id: Set(new_id(ctx.clock)),
            user_id: Set(user.id.as_uuid()),
            msp_id: Set(user.msp_id.as_uuid()),
            code_hash: Set(hash.clone()),
            used_at: Set(None),
        }
        .insert(ctx.txn)
        .await?;
    }
    record(
        ctx,
        user,
        "user.second_factor_enrolled",
        json!({"recovery_codes": recovery_hashes.len()}),
    )
    .await
}

/// Records that the code of `step` was used, unless one of that step or later was used since
/// `seen` was read: a compare-and-set, so one code signs in once even when sent twice at once.
pub(crate) async fn spend_step(
    ctx: &WriteContext<'_>,
    user: &User,
    seen: Option<i64>,
    step: i64,
) -> Result<bool, StorageError> {
    let mut update = user_second_factor::Entity::update_many()
        .col_expr(user_second_factor::Column::LastUsedStep, Expr::value(step))
        .filter(user_second_factor::Column::UserId.eq(user.id.as_uuid()));
    update = match seen {
        Some(seen) => update.filter(user_second_factor::Column::LastUsedStep.eq(seen)),
        None => update.filter(user_second_factor::Column::LastUsedStep.is_null()),
    };
    Ok(update.exec(ctx.txn).await?.rows_affected == 1)
}

/// Spends the user's unused recovery code with this hash; whether there was one.
pub(crate) async fn spend_recovery_code(
    ctx: &WriteContext<'_>,
    user: &User,
    code_hash: &str,
) -> Result<bool, StorageError> {
    let spent = recovery_code::Entity::update_many()
        .col_expr(recovery_code::Column::UsedAt, Expr::value(ctx.clock.now()))
        .filter(recovery_code::Column::UserId.eq(user.id.as_uuid()))
        .filter(recovery_code::Column::CodeHash.eq(code_hash))
        .filter(recovery_code::Column::UsedAt.is_null())
        .exec(ctx.txn)
        .await?
        .rows_affected
        == 1;
    if spent {
        let left = recovery_code::Entity::find()
            .filter(recovery_code::Column::UserId.eq(user.id.as_uuid()))
            .filter(recovery_code::Column::UsedAt.is_null())
            .all(ctx.txn)
            .await?
            .len();
        record(
            ctx,
            user,
            "user.recovery_code_used",
            json!({"recovery_codes_left": left}),
        )
        .await?;
    }
    Ok(spent)
}

/// Removes the user's second factor and recovery codes; whether there was one in force.
pub(crate) async fn remove(ctx: &WriteContext<'_>, user: &User) -> Result<bool, StorageError> {
    let had = find(ctx.txn, user.id)
        .await?
        .is_some_and(|row| row.confirmed_at.is_some());
    user_second_factor::Entity::delete_by_id(user.id.as_uuid())
        .exec(ctx.txn)
        .await?;
    recovery_code::Entity::delete_many()
        .filter(recovery_code::Column::UserId.eq(user.id.as_uuid()))
        .exec(ctx.txn)
        .await?;
    if had {
        record(ctx, user, "user.second_factor_removed", json!({})).await?;
    }
    Ok(had)
}

async fn record(
    ctx: &WriteContext<'_>,
    user: &User,
    action: &'static str,
    after: serde_json::Value,
) -> Result<(), StorageError> {
    audit::append(
        ctx,
        ChainRef::Msp(user.msp_id),
        Change::new(action, "user", &user.id).after(&after),
    )
    .await
    .map(drop)
}
