//! Actions: what Steward proposed or did at a vendor, with the authority policy's decision,
//! approvals, verification and rollback.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
};
use serde::Deserialize;
use steward_core::{
    decisions::proposals::{self, ActionRequest, RequestError},
    storage::ActionRequestError,
};
use steward_domain::{
    ActionId, IncidentId, TenantId,
    actions::{Action, ActionBatch, ActionParameters, ActionStatus, ActionType, ProposerKind},
};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::pagination::{list_body, page_request};
use super::responses::{ReadErrors, WriteErrors};
use crate::http::scoped::InTenant;
use crate::{
    http::{
        ApiError,
        extract::{ApiJson, ApiPath, ApiQuery},
    },
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_actions, propose_action))
        .routes(routes!(get_action))
        .routes(routes!(get_action_batch))
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

/// An action to take on one or more targets.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposalBody {
    #[serde(rename = "type")]
    pub kind: ActionType,
    /// Ids of devices or identities (as the type acts on) of the tenant's inventory, 1 to 100,
    /// in the order to run them: the first the policy does not deny runs first as the canary,
    /// and the others only once it is verified.
    #[schema(value_type = Vec<String>)]
    pub targets: Vec<uuid::Uuid>,
    /// Why, for the approvers and the audit chain.
    pub reason: String,
    /// The incident this responds to.
    pub incident_id: Option<IncidentId>,
    /// What the type needs besides its targets: `{"group_id": "…"}` (a Microsoft Entra ID
    /// group object id) for `remove_from_group` and `add_to_group`, nothing for the others.
    #[serde(default)]
    pub parameters: ActionParameters,
}

impl From<RequestError> for ApiError {
    fn from(err: RequestError) -> Self {
        let message = err.to_string();
        match err {
            RequestError::TargetCount(_) => ApiError::unprocessable("invalid-targets", message),
            RequestError::DuplicateTarget(_) => {
                ApiError::unprocessable("duplicate-target", message)
            }
            RequestError::UnknownTarget { .. } => {
                ApiError::unprocessable("unknown-target", message)
            }
            RequestError::UnknownIncident(_) => {
                ApiError::unprocessable("unknown-incident", message)
            }
            RequestError::Reason => ApiError::unprocessable("invalid-reason", message),
            RequestError::Parameters(_) => ApiError::unprocessable("invalid-parameters", message),
            RequestError::InvalidKey => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid-idempotency-key", message)
            }
            RequestError::KeyReused(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                message,
            ),
            RequestError::Work(work) => work.into(),
        }
    }
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
            ActionRequestError::NeedsCustomer => {
                ApiError::new(StatusCode::FORBIDDEN, "customer-approval-required", message)
            }
            ActionRequestError::NeedsTechnician => ApiError::new(
                StatusCode::FORBIDDEN,
                "technician-approval-required",
                message,
            ),
            ActionRequestError::OwnProposal => {
                ApiError::new(StatusCode::FORBIDDEN, "own-proposal", message)
            }
            ActionRequestError::NeedsRole(_) => {
                ApiError::new(StatusCode::FORBIDDEN, "approver-role-required", message)
            }
            ActionRequestError::AlreadyAnswered => ApiError::conflict("already-answered", message),
            ActionRequestError::Contended => ApiError::conflict("answer-conflict", message),
            ActionRequestError::Expired => ApiError::conflict("request-expired", message),
            ActionRequestError::Irreversible(..) => ApiError::conflict("irreversible", message),
            ActionRequestError::NotRollbackable(_) => {
                ApiError::conflict("not-rollbackable", message)
            }
            ActionRequestError::InvalidComment(_) => {
                ApiError::unprocessable("invalid-comment", message)
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
)]
async fn list_actions(
    ctx: InTenant,
    ApiQuery(query): ApiQuery<ActionQuery>,
) -> Result<Json<ActionList>, ApiError> {
    let request = page_request(query.limit, query.cursor.as_deref())?;
    let scope = ctx.scope();
    Ok(Json(
        scope.actions()?.list(query.status, request).await?.into(),
    ))
}

/// Proposes an action on one or more targets (MSP admins and technicians). Each target becomes
/// an action decided by the tenant's authority policy, which sees the number of targets as the
/// blast radius (and may refuse above a limit per action type); together they form a batch
/// whose first allowed target runs as a canary before the others, which are cancelled if it
/// fails. With an `Idempotency-Key` header, repeating the request returns the batch recorded
/// the first time (200) instead of proposing again.
#[utoipa::path(
    post,
    path = "/api/v1/tenants/{tenant_id}/actions",
    tag = "actions",
    params(
        ("tenant_id" = TenantId, Path, description = "The tenant's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe request key (1 to 200 visible ASCII characters)"),
    ),
    request_body = ProposalBody,
    responses(
        (status = CREATED, body = ActionBatch, description = "Recorded, with each target's decision"),
        (status = OK, body = ActionBatch, description = "The batch an earlier request with this key recorded"),
        WriteErrors
    ),
)]
async fn propose_action(
    State(state): State<AppState>,
    ctx: InTenant,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ProposalBody>,
) -> Result<(StatusCode, Json<ActionBatch>), ApiError> {
    let idempotency_key = match headers.get("idempotency-key") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| RequestError::InvalidKey)?
                .to_owned(),
        ),
    };
    let request = ActionRequest {
        kind: body.kind,
        parameters: body.parameters,
        targets: body.targets,
        reason: body.reason,
        incident_id: body.incident_id,
        idempotency_key,
        proposer: ProposerKind::Technician,
    };
    let (batch, created) = ctx
        .work(async |work| Ok(proposals::request(work, &state.policies, &request).await?))
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(batch)))
}

/// One batch: the actions one request proposed for several targets, with its canary and where
/// it is (`canary`, `running`, `stopped`, `completed`, or `denied` when the policy refused every
/// target).
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant_id}/action-batches/{batch_id}",
    tag = "actions",
    params(
        ("tenant_id" = TenantId, Path, description = "The tenant's id"),
        ("batch_id" = String, Path, description = "The batch's id"),
    ),
    responses((status = OK, body = ActionBatch), ReadErrors),
)]
async fn get_action_batch(
    ctx: InTenant,
    ApiPath((_, batch_id)): ApiPath<(TenantId, uuid::Uuid)>,
) -> Result<Json<ActionBatch>, ApiError> {
    let scope = ctx.scope();
    scope
        .actions()?
        .batch(batch_id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no action batch {batch_id}")))
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
)]
async fn get_action(
    ctx: InTenant,
    ApiPath((_, action_id)): ApiPath<(TenantId, ActionId)>,
) -> Result<Json<Action>, ApiError> {
    let scope = ctx.scope();
    scope
        .actions()?
        .get(action_id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no action {action_id}")))
}

async fn answer(
    ctx: &InTenant,
    action_id: ActionId,
    approve: bool,
    body: ApprovalBody,
) -> Result<Action, ApiError> {
    ctx.work(async |work| {
        Ok(
            steward_core::approvals::answer(work, action_id, approve, body.version, body.comment)
                .await?,
        )
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
)]
async fn approve_action(
    ctx: InTenant,
    ApiPath((_tenant_id, action_id)): ApiPath<(TenantId, ActionId)>,
    ApiJson(body): ApiJson<ApprovalBody>,
) -> Result<Json<Action>, ApiError> {
    // What cannot be undone is approved from a browser only just after proving who one is.
    if ctx.session.is_some() {
        let irreversible = ctx
            .scope()
            .actions()?
            .get(action_id)
            .await?
            .is_some_and(|action| !action.reversible);
        if irreversible {
            ctx.require_confirmed()?;
        }
    }
    answer(&ctx, action_id, true, body).await.map(Json)
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
)]
async fn reject_action(
    ctx: InTenant,
    ApiPath((_, action_id)): ApiPath<(TenantId, ActionId)>,
    ApiJson(body): ApiJson<ApprovalBody>,
) -> Result<Json<Action>, ApiError> {
    answer(&ctx, action_id, false, body).await.map(Json)
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
)]
async fn roll_back_action(
    ctx: InTenant,
    ApiPath((_, action_id)): ApiPath<(TenantId, ActionId)>,
) -> Result<Json<Action>, ApiError> {
    ctx.work(async |work| Ok(steward_core::actions::request_rollback(work, action_id).await?))
        .await
        .map(Json)
}
