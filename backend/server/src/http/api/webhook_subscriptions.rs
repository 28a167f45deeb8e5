//! Outbound webhooks: the URLs the MSP subscribes to Steward's events, and their delivery logs
//! (MSP admins subscribe; MSP staff see them). See `docs/webhooks.md`.

use axum::{Json, extract::State, http::StatusCode};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use steward_core::storage::outbound_webhooks::{
    NewSubscription, SubscriptionChanges, SubscriptionError, WebhookReader,
};
use steward_domain::{
    TenantId,
    outbound_webhooks::{WebhookDelivery, WebhookEvent, WebhookSubscription},
};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::responses::{ReadErrors, WriteErrors};
use crate::http::scoped::{AsMsp, needs};
use crate::{
    http::{
        ApiError,
        auth::CallerContext,
        extract::{ApiJson, ApiPath, ApiQuery},
    },
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_subscriptions, create_subscription))
        .routes(routes!(
            get_subscription,
            update_subscription,
            remove_subscription
        ))
        .routes(routes!(list_deliveries))
        .routes(routes!(redeliver))
}

impl From<SubscriptionError> for ApiError {
    fn from(err: SubscriptionError) -> Self {
        let message = err.to_string();
        match err {
            SubscriptionError::NotFound(_) | SubscriptionError::DeliveryNotFound(_) => {
                ApiError::not_found(message)
            }
            SubscriptionError::UnknownTenant(_) => {
                ApiError::unprocessable("unknown-tenant", message)
            }
            SubscriptionError::NoEvents | SubscriptionError::InvalidDescription(_) => {
                ApiError::unprocessable("invalid-subscription", message)
            }
            SubscriptionError::Storage(storage) => storage.into(),
        }
    }
}

/// A URL to subscribe.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSubscription {
    /// `https` on the public internet; a private address (a bridge inside the MSP's own
    /// network) only when the deployment's operator put it on the egress allow-list.
    pub url: String,
    #[serde(default)]
    pub description: String,
    /// `incident.created`, `incident.resolved`, `action.proposed`, `action.executed`,
    /// `action.rolled_back`, `approval.requested`, `policy.failed`.
    pub events: Vec<WebhookEvent>,
    /// Only this tenant's events; every tenant's when absent.
    #[serde(default)]
    pub tenant_id: Option<TenantId>,
}

/// A subscription as created, with its signing secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedSubscription {
    pub subscription: WebhookSubscription,
    /// The Standard Webhooks secret (`whsec_…`) to verify messages with; shown only now.
    pub secret: String,
}

/// Changes to a subscription; absent fields stay as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSubscription {
    pub url: Option<String>,
    pub description: Option<String>,
    pub events: Option<Vec<WebhookEvent>>,
    /// `false` pauses the subscription: no new deliveries.
    pub enabled: Option<bool>,
}

/// Checks a target URL against the deployment's egress rule (resolving its host now; every
/// delivery checks again): 422 `invalid-webhook-target` saying why it is refused.
async fn target(state: &AppState, url: &str) -> Result<url::Url, ApiError> {
    state
        .egress
        .check_for_saving(url)
        .await
        .map_err(|refused| ApiError::unprocessable("invalid-webhook-target", refused.to_string()))
}

/// The MSP's subscriptions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionList {
    pub items: Vec<WebhookSubscription>,
}

/// A subscription's latest deliveries, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    pub items: Vec<WebhookDelivery>,
}

/// How many deliveries to list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    /// 1–200, default 50.
    pub limit: Option<u64>,
}

/// The MSP's webhook subscriptions (MSP staff).
#[utoipa::path(
    get,
    path = "/api/v1/msp/webhooks",
    tag = "webhooks",
    responses((status = OK, body = SubscriptionList), ReadErrors),
)]
async fn list_subscriptions(
    ctx: AsMsp<needs::ReadIntegrations>,
) -> Result<Json<SubscriptionList>, ApiError> {
    let items = WebhookReader::new(ctx.conn(), ctx.caller.msp_id())
        .list()
        .await?;
    Ok(Json(SubscriptionList { items }))
}

/// Subscribes a URL to events (MSP admins). Messages are signed per Standard Webhooks with the
/// secret answered here, which is never shown again.
#[utoipa::path(
    post,
    path = "/api/v1/msp/webhooks",
    tag = "webhooks",
    request_body = CreateSubscription,
    responses((status = CREATED, body = CreatedSubscription), WriteErrors),
)]
async fn create_subscription(
    State(state): State<AppState>,
    ctx: AsMsp<needs::Admin>,
    ApiJson(body): ApiJson<CreateSubscription>,
) -> Result<(StatusCode, Json<CreatedSubscription>), ApiError> {
    let url = target(&state, &body.url).await?;
    let txn = ctx.storage.begin().await?;
    let write = ctx.write(&txn);
    let (subscription, secret) = ctx
        .caller
        .admin(&write)?
        .webhooks(&state.secrets)
        .create(NewSubscription {
            url,
            description: body.description,
            events: body.events,
            tenant_id: body.tenant_id,
        })
        .await?;
    txn.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedSubscription {
            subscription,
            secret: secret.expose_secret().to_owned(),
        }),
    ))
}

/// One of the MSP's webhook subscriptions (MSP staff).
#[utoipa::path(
    get,
    path = "/api/v1/msp/webhooks/{subscription_id}",
    tag = "webhooks",
    params(("subscription_id" = uuid::Uuid, Path, description = "The subscription's id")),
    responses((status = OK, body = WebhookSubscription), ReadErrors),
)]
async fn get_subscription(
    ctx: AsMsp<needs::ReadIntegrations>,
    ApiPath(id): ApiPath<uuid::Uuid>,
) -> Result<Json<WebhookSubscription>, ApiError> {
    WebhookReader::new(ctx.conn(), ctx.caller.msp_id())
        .get(id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no webhook subscription {id}")))
}

/// Changes a subscription (MSP admins): its URL, description, events, and whether it is
/// enabled.
#[utoipa::path(
    patch,
    path = "/api/v1/msp/webhooks/{subscription_id}",
    tag = "webhooks",
    params(("subscription_id" = uuid::Uuid, Path, description = "The subscription's id")),
    request_body = UpdateSubscription,
    responses((status = OK, body = WebhookSubscription), WriteErrors),
)]
async fn update_subscription(
    State(state): State<AppState>,
    ctx: AsMsp<needs::Admin>,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiJson(body): ApiJson<UpdateSubscription>,
) -> Result<Json<WebhookSubscription>, ApiError> {
    let url = match &body.url {
        Some(url) => Some(target(&state, url).await?),
        None => None,
    };
    let subscription = ctx
        .as_admin(async |admin| {
            Ok(admin
                .webhooks(&state.secrets)
                .update(
                    id,
                    SubscriptionChanges {
                        url,
                        description: body.description,
                        events: body.events,
                        enabled: body.enabled,
                    },
                )
                .await?)
        })
        .await?;
    Ok(Json(subscription))
}

/// Removes a subscription and its delivery log (MSP admins).
#[utoipa::path(
    delete,
    path = "/api/v1/msp/webhooks/{subscription_id}",
    tag = "webhooks",
    params(("subscription_id" = uuid::Uuid, Path, description = "The subscription's id")),
    responses((status = NO_CONTENT, description = "Removed"), WriteErrors),
)]
async fn remove_subscription(
    State(state): State<AppState>,
    ctx: CallerContext,
    ApiPath(id): ApiPath<uuid::Uuid>,
) -> Result<StatusCode, ApiError> {
    ctx.as_admin(async |admin| Ok(admin.webhooks(&state.secrets).remove(id).await?))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A subscription's delivery log, newest first (MSP staff): each event's status, attempts,
/// the receiver's last answer and the next attempt.
#[utoipa::path(
    get,
    path = "/api/v1/msp/webhooks/{subscription_id}/deliveries",
    tag = "webhooks",
    params(
        ("subscription_id" = uuid::Uuid, Path, description = "The subscription's id"),
        DeliveryQuery,
    ),
    responses((status = OK, body = DeliveryList), ReadErrors),
)]
async fn list_deliveries(
    ctx: AsMsp<needs::ReadIntegrations>,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiQuery(query): ApiQuery<DeliveryQuery>,
) -> Result<Json<DeliveryList>, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid-limit",
            "limit must be between 1 and 200",
        ));
    }
    let items = WebhookReader::new(ctx.conn(), ctx.caller.msp_id())
        .deliveries(id, limit)
        .await?;
    Ok(Json(DeliveryList { items }))
}

/// Sends a delivery again now, with the same message id, whatever became of it (MSP admins).
#[utoipa::path(
    post,
    path = "/api/v1/msp/webhooks/{subscription_id}/deliveries/{delivery_id}/redeliver",
    tag = "webhooks",
    params(
        ("subscription_id" = uuid::Uuid, Path, description = "The subscription's id"),
        ("delivery_id" = String, Path, description = "The delivery's message id (msg_…)"),
    ),
    responses((status = ACCEPTED, body = WebhookDelivery), WriteErrors),
)]
async fn redeliver(
    State(state): State<AppState>,
    ctx: CallerContext,
    ApiPath((id, delivery_id)): ApiPath<(uuid::Uuid, String)>,
) -> Result<(StatusCode, Json<WebhookDelivery>), ApiError> {
    let delivery = ctx
        .as_admin(async |admin| {
            Ok(admin
                .webhooks(&state.secrets)
                .redeliver(id, &delivery_id)
                .await?)
        })
        .await?;
    Ok((StatusCode::ACCEPTED, Json(delivery)))
}
