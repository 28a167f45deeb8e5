//! Actions: what Steward proposed or did at a vendor, with the authority policy's decision,
//! approvals, verification and rollback.

use axum::Json;
use serde::Deserialize;
use steward_core::storage::ActionRequestError;
use steward_domain::{
    ActionId, TenantId,
    actions::{Action, ActionStatus},
};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::pagination::{PageQuery, list_body};
use super::responses::{ReadErrors, WriteErrors};
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
        .routes(routes!(list_actions))
        .routes(routes!(get_action))
        .routes(routes!(approve_action))
        .routes(routes!(reject_action))
        .routes(routes!(roll_back_action))
}

list_body!(
    /// A page of actions, newest first.
    ActionList,
    Action
);

/// Which actions to list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ActionQuery {
    /// Only actions with this status (`awaiting_approval` is the approval queue).
    pub status: Option<ActionStatus>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

/// An approver's answer, bound to the version of the action they were shown.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalBody {
    /// The action's `version` as shown to the approver; if the action changed since, the
    /// answer is refused and the approver must look again.
    pub version: String,
    pub comment: Option<String>,
}

impl From<ActionRequestError> for ApiError {
    fn from(err: ActionRequestError) -> Self {
        let message = err.to_string();
        match err {
            ActionRequestError::NotFound(_) => ApiError::not_found(message),
            ActionRequestError::NotAwaitingApproval(_) => {
                ApiError::conflict("not-awaiting-approval", message)
            }
            ActionRequestError::StaleVersion { .. } => ApiError::conflict("stale-version", message),
            ActionRequestError::NeedsCustomer => ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "customer-approval-required",
                message,
            ),
            ActionRequestError::NeedsTechnician => ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "technician-approval-required",
                message,
            ),
            ActionRequestError::OwnProposal => {
                ApiError::new(axum::http::StatusCode::FORBIDDEN, "own-proposal", message)
            }
            ActionRequestError::NeedsRole(_) => ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "approver-role-required",
                message,
            ),
            ActionRequestError::AlreadyAnswered => ApiError::conflict("already-answered", message),
            ActionRequestError::Contended => ApiError::conflict("answer-conflict", message),
            ActionRequestError::Expired => ApiError::conflict("request-expired", message),
            ActionRequestError::Irreversible(..) => ApiError::conflict("irreversible", message),
            ActionRequestError::NotRollbackable(_) => {
                ApiError::conflict("not-rollbackable", message)
            }
            ActionRequestError::Storage(storage) => storage.into(),
        }
    }
}

/// The tenant's actions, newest first, each with its policy decision and approvals.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant_id}/actions",
    tag = "actions",
    params(("tenant_id" = TenantId, Path, description = "The tenant's id"), ActionQuery),
    responses((status = OK, body = ActionList), ReadErrors),
    security(("api_token" = []))
)]
async fn list_actions(
    ctx: CallerContext,
    ApiPath(tenant_id): ApiPath<TenantId>,
    ApiQuery(query): ApiQuery<ActionQuery>,
) -> Result<Json<ActionList>, ApiError> {
    let request = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    }
    .request()?;
    let scope = ctx.tenant(tenant_id).await?;
    Ok(Json(
        scope.actions()?.list(query.status, request).await?.into(),
    ))
}

/// One action.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant_id}/actions/{action_id}",
    tag = "actions",
    params(
        ("tenant_id" = TenantId, Path, description = "The tenant's id"),
        ("action_id" = ActionId, Path, description = "The action's id"),
    ),
    responses((status = OK, body = Action), ReadErrors),
    security(("api_token" = []))
)]
async fn get_action(
    ctx: CallerContext,
    ApiPath((tenant_id, action_id)): ApiPath<(TenantId, ActionId)>,
) -> Result<Json<Action>, ApiError> {
    let scope = ctx.tenant(tenant_id).await?;
    scope
        .actions()?
        .get(action_id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no action {action_id}")))
}

async fn answer(
    ctx: &CallerContext,
    tenant_id: TenantId,
    action_id: ActionId,
    approve: bool,
    body: ApprovalBody,
) -> Result<Action, ApiError> {
    ctx.in_tenant(tenant_id, async |work| {
        Ok(work
            .answer(action_id, approve, body.version, body.comment)
            .await?)
    })
    .await
}

/// Approves an action awaiting approval: an MSP technician or admin for
/// `technician_approval`, the customer's owner or approver for `customer_approval`. The
/// approval binds to `version`; once approved the action is queued for execution.
#[utoipa::path(
    post,
    path = "/api/v1/tenants/{tenant_id}/actions/{action_id}/approve",
    tag = "actions",
    params(
        ("tenant_id" = TenantId, Path, description = "The tenant's id"),
        ("action_id" = ActionId, Path, description = "The action's id"),
    ),
    request_body = ApprovalBody,
    responses((status = OK, body = Action), WriteErrors),
    security(("api_token" = []))
)]
async fn approve_action(
    ctx: CallerContext,
    ApiPath((tenant_id, action_id)): ApiPath<(TenantId, ActionId)>,
    ApiJson(body): ApiJson<ApprovalBody>,
) -> Result<Json<Action>, ApiError> {
    answer(&ctx, tenant_id, action_id, true, body)
        .await
        .map(Json)
}

/// Rejects an action awaiting approval; it will not run. The MSP may reject any action; the
/// customer only those awaiting the customer's approval.
#[utoipa::path(
    post,
    path = "/api/v1/tenants/{tenant_id}/actions/{action_id}/reject",
    tag = "actions",
    params(
        ("tenant_id" = TenantId, Path, description = "The tenant's id"),
        ("action_id" = ActionId, Path, description = "The action's id"),
    ),
    request_body = ApprovalBody,
    responses((status = OK, body = Action), WriteErrors),
    security(("api_token" = []))
)]
async fn reject_action(
    ctx: CallerContext,
    ApiPath((tenant_id, action_id)): ApiPath<(TenantId, ActionId)>,
    ApiJson(body): ApiJson<ApprovalBody>,
) -> Result<Json<Action>, ApiError> {
    answer(&ctx, tenant_id, action_id, false, body)
        .await
        .map(Json)
}

/// Rolls back a verified action (MSP admins and technicians): the inverse runs at the vendor
/// and is verified too. Irreversible actions (`revoke_sessions`) answer 409 `irreversible`.
#[utoipa::path(
    post,
    path = "/api/v1/tenants/{tenant_id}/actions/{action_id}/rollback",
    tag = "actions",
    params(
        ("tenant_id" = TenantId, Path, description = "The tenant's id"),
        ("action_id" = ActionId, Path, description = "The action's id"),
    ),
    responses((status = OK, body = Action), WriteErrors),
    security(("api_token" = []))
)]
async fn roll_back_action(
    ctx: CallerContext,
    ApiPath((tenant_id, action_id)): ApiPath<(TenantId, ActionId)>,
) -> Result<Json<Action>, ApiError> {
    ctx.in_tenant(tenant_id, async |work| {
        Ok(work.request_rollback(action_id).await?)
    })
    .await
    .map(Json)
}
