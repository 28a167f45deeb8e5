//! An MSP's Slack connection for approvals: where approval requests go (the API, a channel),
//! the bot token and signing secret (sealed with the deployment's secrets key), and which
//! Slack user is which Steward user. Answers from Slack are taken as that user, with their
//! role checked like any other answer.

use std::collections::BTreeMap;

use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use steward_domain::{ActionId, MspId, TenantId, actions::Action, integrations::SlackConnection};

use super::{
    StorageError, TenantDirectory, UserDirectory, WriteContext,
    entities::{notification, slack_connection},
    new_id,
    scoping::InTenant,
};
use crate::{
    audit::{self, ChainRef, Change},
    secrets::SecretBox,
};

/// What an MSP admin sets.
#[derive(Debug, Clone)]
pub struct NewSlackConnection {
    /// `https://slack.com/api/` for Slack itself.
    pub api_base_url: url::Url,
    pub channel: String,
    pub bot_token: SecretString,
    pub signing_secret: SecretString,
    /// Slack user id → the email of the Steward user they are (MSP staff, or a customer's
    /// people for the tenant channels).
    pub users: BTreeMap<String, String>,
    /// Tenant → the channel shared with that customer, for the requests it approves.
    pub tenant_channels: BTreeMap<TenantId, String>,
}

/// Why a Slack connection was refused.
#[derive(Debug, thiserror::Error)]
pub enum SlackSettingsError {
    #[error("the channel must be a Slack channel id such as C0123456789")]
    Channel,
    #[error("the bot token and the signing secret must not be empty")]
    EmptySecret,
    #[error("{0:?} is not a Slack user id (such as U0123456789)")]
    SlackUser(String),
    #[error("no active user of this MSP has the email {0}")]
    UnknownUser(String),
    #[error("the MSP has no active tenant {0}")]
    UnknownTenant(TenantId),
    #[error(
        "channel {0} is shared with a customer, so it can be neither the MSP's channel nor another customer's"
    )]
    SharedChannel(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

fn context(msp_id: MspId, what: &str) -> Vec<u8> {
    format!("slack:{msp_id}:{what}").into_bytes()
}

fn to_connection(row: &slack_connection::Model) -> Result<SlackConnection, StorageError> {
    Ok(SlackConnection {
        api_base_url: row.api_base_url.clone(),
        channel: row.channel.clone(),
        users: serde_json::from_value(row.users.clone())
            .map_err(|e| StorageError::corrupt("slack users", &e))?,
        tenant_channels: row
            .tenant_channels
            .clone()
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| StorageError::corrupt("slack tenant channels", &e))?
            .unwrap_or_default(),
        updated_at: row.updated_at,
    })
}

/// The MSP's Slack connection, without its secrets.
///
/// # Errors
/// When the database cannot be read or holds an invalid row.
pub async fn connection<C: ConnectionTrait>(
    conn: &C,
    msp_id: MspId,
) -> Result<Option<SlackConnection>, StorageError> {
    slack_connection::Entity::find()
        .filter(slack_connection::Column::MspId.eq(msp_id.as_uuid()))
        .one(conn)
        .await?
        .as_ref()
        .map(to_connection)
        .transpose()
}

/// The MSP's Slack connection with its bot token and signing secret.
///
/// # Errors
/// When the database cannot be read, or the secrets do not open with this key.
pub async fn credentials<C: ConnectionTrait>(
    conn: &C,
    secrets: &SecretBox,
    msp_id: MspId,
) -> Result<Option<(SlackConnection, SecretString, SecretString)>, StorageError> {
    let Some(row) = slack_connection::Entity::find()
        .filter(slack_connection::Column::MspId.eq(msp_id.as_uuid()))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    let open = |sealed: &str, what: &str| {
        secrets
            .open(sealed, &context(msp_id, what))
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .map(SecretString::from)
            .ok_or_else(|| StorageError::corrupt("slack secret", &"does not open with this key"))
    };
    Ok(Some((
        to_connection(&row)?,
        open(&row.bot_token_sealed, "bot_token")?,
        open(&row.signing_secret_sealed, "signing_secret")?,
    )))
}

fn looks_like(id: &str, prefixes: &[char]) -> bool {
    id.len() >= 9
        && id.starts_with(prefixes)
        && id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// Stores (or replaces) the MSP's Slack connection; in the MSP's audit chain, without secrets.
pub(crate) async fn set(
    ctx: &WriteContext<'_>,
    secrets: &SecretBox,
    msp_id: MspId,
    new: NewSlackConnection,
) -> Result<SlackConnection, SlackSettingsError> {
    if !looks_like(&new.channel, &['C', 'G', 'D']) {
        return Err(SlackSettingsError::Channel);
    }
    if new.bot_token.expose_secret().trim().is_empty()
        || new.signing_secret.expose_secret().trim().is_empty()
    {
        return Err(SlackSettingsError::EmptySecret);
    }
    let tenants = TenantDirectory::new(ctx.txn, msp_id, None);
    // A shared channel's members are the customer's people: another tenant's requests (or the
    // MSP's) posted there would reach them.
    let mut seen = std::collections::HashSet::from([new.channel.as_str()]);
    for (tenant_id, channel) in &new.tenant_channels {
        if !looks_like(channel, &['C', 'G']) {
            return Err(SlackSettingsError::Channel);
        }
        if !seen.insert(channel.as_str()) {
            return Err(SlackSettingsError::SharedChannel(channel.clone()));
        }
        let active = tenants
            .lookup(*tenant_id)
            .await?
            .is_some_and(|t| t.status == steward_domain::tenancy::TenantStatus::Active);
        if !active {
            return Err(SlackSettingsError::UnknownTenant(*tenant_id));
        }
    }
    let directory = UserDirectory::new(ctx.txn, msp_id);
    let mut users = BTreeMap::new();
    for (slack_user, email) in &new.users {
        if !looks_like(slack_user, &['U', 'W']) {
            return Err(SlackSettingsError::SlackUser(slack_user.clone()));
        }
        let user = directory
            .find_by_email(email)
            .await?
            .filter(steward_domain::tenancy::User::is_active)
            .ok_or_else(|| SlackSettingsError::UnknownUser(email.clone()))?;
        users.insert(slack_user.clone(), user.id);
    }
    slack_connection::Entity::delete_many()
        .filter(slack_connection::Column::MspId.eq(msp_id.as_uuid()))
        .exec(ctx.txn)
        .await
        .map_err(StorageError::from)?;
    let row = slack_connection::ActiveModel {
        msp_id: Set(msp_id.as_uuid()),
        api_base_url: Set(new.api_base_url.to_string()),
        channel: Set(new.channel.clone()),
        bot_token_sealed: Set(secrets.seal(
            new.bot_token.expose_secret().as_bytes(),
            &context(msp_id, "bot_token"),
        )),
        signing_secret_sealed: Set(secrets.seal(
            new.signing_secret.expose_secret().as_bytes(),
            &context(msp_id, "signing_secret"),
        )),
        users: Set(json!(users)),
        updated_at: Set(ctx.clock.now()),
        tenant_channels: Set((!new.tenant_channels.is_empty()).then(|| json!(new.tenant_channels))),
    }
    .insert(ctx.txn)
    .await
    .map_err(StorageError::from)?;
    let connection = to_connection(&row)?;
    audit::append(
        ctx,
        ChainRef::Msp(msp_id),
        Change::new("slack.connected", "msp", &msp_id).after(&connection),
    )
    .await?;
    Ok(connection)
}

/// Removes the MSP's Slack connection; returns whether there was one.
pub(crate) async fn remove(ctx: &WriteContext<'_>, msp_id: MspId) -> Result<bool, StorageError> {
    let removed = slack_connection::Entity::delete_many()
        .filter(slack_connection::Column::MspId.eq(msp_id.as_uuid()))
        .exec(ctx.txn)
        .await?
        .rows_affected
        > 0;
    if removed {
        audit::append(
            ctx,
            ChainRef::Msp(msp_id),
            Change::new("slack.disconnected", "msp", &msp_id),
        )
        .await?;
    }
    Ok(removed)
}

/// Records a message posted to a Slack channel for an action, once per action version:
/// returns `false` when one was already posted.
pub(crate) async fn claim_post(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    action: &Action,
    channel: &str,
) -> Result<bool, StorageError> {
    let dedup_key = format!("{}:{}:slack:{channel}", action.id, action.version);
    let existing = notification::Entity::find()
        .in_tenant(msp_id, action.tenant_id)
        .filter(notification::Column::DedupKey.eq(dedup_key.as_str()))
        .one(ctx.txn)
        .await?;
    if existing.is_some_and(|row| row.sent_at.is_some()) {
        return Ok(false);
    }
    notification::Entity::delete_many()
        .in_tenant(msp_id, action.tenant_id)
        .filter(notification::Column::DedupKey.eq(dedup_key.as_str()))
        .exec(ctx.txn)
        .await?;
    notification::ActiveModel {
        id: Set(new_id(ctx.clock)),
        msp_id: Set(msp_id.as_uuid()),
        tenant_id: Set(action.tenant_id.as_uuid()),
        action_id: Set(action.id.as_uuid()),
        user_id: Set(None),
        channel: Set("slack".to_owned()),
        dedup_key: Set(dedup_key),
        recipient: Set(channel.to_owned()),
        created_at: Set(ctx.clock.now()),
        sent_at: Set(None),
        last_error: Set(None),
        external_ref: Set(None),
    }
    .insert(ctx.txn)
    .await?;
    Ok(true)
}

/// Records where the posted message is (`channel:ts`).
pub(crate) async fn record_post<C: ConnectionTrait>(
    conn: &C,
    msp_id: MspId,
    action: &Action,
    channel: &str,
    ts: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), StorageError> {
    let dedup_key = format!("{}:{}:slack:{channel}", action.id, action.version);
    notification::Entity::update_many()
        .col_expr(
            notification::Column::SentAt,
            sea_orm::sea_query::Expr::value(Some(now)),
        )
        .col_expr(
            notification::Column::ExternalRef,
            sea_orm::sea_query::Expr::value(Some(format!("{channel}:{ts}"))),
        )
        .in_tenant(msp_id, action.tenant_id)
        .filter(notification::Column::DedupKey.eq(dedup_key))
        .exec(conn)
        .await?;
    Ok(())
}

/// The Slack messages (`(channel, ts)`) posted for an action.
///
/// # Errors
/// When the database cannot be read.
pub(crate) async fn posts<C: ConnectionTrait>(
    conn: &C,
    msp_id: MspId,
    tenant_id: TenantId,
    action_id: ActionId,
) -> Result<Vec<(String, String)>, StorageError> {
    Ok(notification::Entity::find()
        .in_tenant(msp_id, tenant_id)
        .filter(notification::Column::ActionId.eq(action_id.as_uuid()))
        .filter(notification::Column::Channel.eq("slack"))
        .all(conn)
        .await?
        .into_iter()
        .filter_map(|row| {
            let reference = row.external_ref?;
            let (channel, ts) = reference.split_once(':')?;
            Some((channel.to_owned(), ts.to_owned()))
        })
        .collect())
}
