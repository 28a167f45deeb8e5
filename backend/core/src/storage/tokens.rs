//! API tokens: random secrets shown once at creation and stored only as SHA-256 hashes.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set,
};
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use steward_domain::{ApiTokenId, MspId, UserId, credentials::ApiToken};

use super::{StorageError, UserAdmin, UserAdminError, WriteContext, entities::api_token, new_id};
use crate::audit::{self, ChainRef, Change};

/// Every token starts with this, so a leaked one is easy to recognize (secret scanners).
pub const TOKEN_PREFIX: &str = "stw_";

/// A token's secret, returned once when the token is created.
#[derive(Debug)]
pub struct IssuedToken {
    pub token: ApiToken,
    pub secret: SecretString,
}

/// The API tokens of one MSP's users. Every query carries the MSP filter.
#[derive(Debug, Clone, Copy)]
pub struct TokenDirectory<'c, C> {
    conn: &'c C,
    msp_id: MspId,
}

impl<'c, C: ConnectionTrait> TokenDirectory<'c, C> {
    pub(crate) fn new(conn: &'c C, msp_id: MspId) -> Self {
        Self { conn, msp_id }
    }

    /// A user's tokens, oldest first (revoked and expired ones included).
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn of_user(&self, user_id: UserId) -> Result<Vec<ApiToken>, StorageError> {
        Ok(api_token::Entity::find()
            .filter(api_token::Column::MspId.eq(self.msp_id.as_uuid()))
            .filter(api_token::Column::UserId.eq(user_id.as_uuid()))
            .order_by_asc(api_token::Column::Id)
            .all(self.conn)
            .await?
            .into_iter()
            .map(ApiToken::from)
            .collect())
    }

    /// # Errors
    /// When the database cannot be read.
    pub async fn lookup(&self, id: ApiTokenId) -> Result<Option<ApiToken>, StorageError> {
        Ok(api_token::Entity::find_by_id(id.as_uuid())
            .filter(api_token::Column::MspId.eq(self.msp_id.as_uuid()))
            .one(self.conn)
            .await?
            .map(ApiToken::from))
    }
}

impl UserAdmin<'_> {
    /// Issues a token for the user; its secret is in the result and nowhere else.
    ///
    /// # Errors
    /// [`UserAdminError::NotFound`] for a user of another MSP or none.
    pub async fn create_token(
        &self,
        user_id: UserId,
        name: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<IssuedToken, UserAdminError> {
        let name = if name.trim().is_empty() {
            "API token".to_owned()
        } else {
            steward_domain::text::name(name, steward_domain::text::MAX_NAME)
                .map_err(UserAdminError::InvalidTokenName)?
        };
        let user = self.existing(user_id).await?;
        let secret = generate_secret(TOKEN_PREFIX)?;
        let row = api_token::Model {
            id: new_id(self.ctx().clock),
            msp_id: user.msp_id.as_uuid(),
            user_id: user.id.as_uuid(),
            name,
            secret_hash: hash_secret(&secret),
            created_at: self.ctx().clock.now(),
            expires_at,
            last_used_at: None,
            revoked_at: None,
        };
        row.clone()
            .into_active_model()
            .insert(self.ctx().txn)
            .await
            .map_err(StorageError::from)?;
        let token = ApiToken::from(row);
        self.record(Change::new("api_token.created", "api_token", &token.id).after(&token))
            .await?;
        Ok(IssuedToken {
            token,
            secret: SecretString::from(secret),
        })
    }

    /// Revokes any token of the MSP.
    ///
    /// # Errors
    /// [`TokenRevokeError::NotFound`] for a token of another MSP or none.
    pub async fn revoke_token(&self, id: ApiTokenId) -> Result<ApiToken, TokenRevokeError> {
        revoke(self.ctx(), self.msp_id(), id, None).await
    }
}

/// A user's own tokens, which they may revoke (but not create: admins issue tokens).
#[derive(Debug)]
pub struct OwnTokens<'a> {
    ctx: &'a WriteContext<'a>,
    msp_id: MspId,
    user_id: UserId,
}

impl<'a> OwnTokens<'a> {
    pub(crate) fn new(ctx: &'a WriteContext<'a>, msp_id: MspId, user_id: UserId) -> Self {
        Self {
            ctx,
            msp_id,
            user_id,
        }
    }

    /// # Errors
    /// [`TokenRevokeError::NotFound`] for a token that is not the user's own.
    pub async fn revoke(&self, id: ApiTokenId) -> Result<ApiToken, TokenRevokeError> {
        revoke(self.ctx, self.msp_id, id, Some(self.user_id)).await
    }
}

/// Why a token could not be revoked.
#[derive(Debug, thiserror::Error)]
pub enum TokenRevokeError {
    #[error("no API token {0}")]
    NotFound(ApiTokenId),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

async fn revoke(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    id: ApiTokenId,
    owner: Option<UserId>,
) -> Result<ApiToken, TokenRevokeError> {
    let mut select = api_token::Entity::find_by_id(id.as_uuid())
        .filter(api_token::Column::MspId.eq(msp_id.as_uuid()));
    if let Some(owner) = owner {
        select = select.filter(api_token::Column::UserId.eq(owner.as_uuid()));
    }
    let row = select
        .one(ctx.txn)
        .await
        .map_err(StorageError::from)?
        .ok_or(TokenRevokeError::NotFound(id))?;
    let before = ApiToken::from(row.clone());
    if before.revoked_at.is_some() {
        // Revoking twice changes nothing and records nothing.
        return Ok(before);
    }
    let mut active = row.into_active_model();
    active.revoked_at = Set(Some(ctx.clock.now()));
    let after = ApiToken::from(active.update(ctx.txn).await.map_err(StorageError::from)?);
    audit::append(
        ctx,
        ChainRef::Msp(msp_id),
        Change::new("api_token.revoked", "api_token", &id)
            .before(&before)
            .after(&after),
    )
    .await?;
    Ok(after)
}

/// The stored form of a secret.
pub(crate) fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A new random secret (32 bytes, base64url) after `prefix`.
pub(crate) fn generate_secret(prefix: &str) -> Result<String, StorageError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|err| StorageError::corrupt("operating-system randomness", &err))?;
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// The token stored under this secret, if any, whatever its state.
pub(crate) async fn find_by_secret<C: ConnectionTrait>(
    conn: &C,
    secret: &str,
) -> Result<Option<api_token::Model>, StorageError> {
    Ok(api_token::Entity::find()
        .filter(api_token::Column::SecretHash.eq(hash_secret(secret)))
        .one(conn)
        .await?)
}

impl From<api_token::Model> for ApiToken {
    fn from(row: api_token::Model) -> Self {
        ApiToken {
            id: row.id.into(),
            user_id: row.user_id.into(),
            name: row.name,
            created_at: row.created_at,
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        }
    }
}
