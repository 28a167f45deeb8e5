//! A tenant's own authority policy: MSP admins replace the deployment's policy for one tenant
//! with their Rego; MSP staff read which policy governs it.

use axum::{Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use steward_core::{
    decisions::policy::{PolicyRejection, tenant::check_off_executor},
    storage::PolicyUpdateError,
};
use steward_domain::{
    TenantId,
    actions::{ActionParameters, ActionType, PolicyDecision, ProposerKind, TenantPolicy},
    incidents::EntityKey,
};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::responses::{ReadErrors, WriteErrors};
use crate::http::scoped::{InTenant, needs};
use crate::{
    http::{
        ApiError,
        extract::{ApiJson, ApiPath},
    },
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            get_tenant_policy,
            set_tenant_policy,
            remove_tenant_policy
        ))
        .routes(routes!(simulate_policy))
}

/// A hypothetical action to ask the policy about.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulationRequest {
    #[serde(rename = "type")]
    pub kind: ActionType,
    /// A device or identity of the tenant's inventory.
    pub target: EntityKey,
    /// Who would propose it; a technician unless said.
    #[serde(default = "technician")]
    pub proposer: ProposerKind,
    /// What the type needs besides its target (`group_id` for the group actions).
    #[serde(default)]
    pub parameters: ActionParameters,
    /// How many targets the request would have (its blast radius), 1 to 100; 1 when not said.
    #[serde(default = "one")]
    pub target_count: u32,
}

fn one() -> u32 {
    1
}

fn technician() -> ProposerKind {
    ProposerKind::Technician
}

/// What the policy would decide, and on what.
#[derive(Debug, Serialize, ToSchema)]
pub struct SimulationResult {
    pub decision: PolicyDecision,
    /// The input the policy decided on, as it would be recorded with the action.
    #[schema(value_type = Object)]
    pub input: serde_json::Value,
    /// `tenant` when the tenant's own policy decided, `deployment` otherwise.
    pub governed_by: String,
    /// Why the policy could not decide, when the decision is the fail-safe deny.
    pub policy_failure: Option<String>,
}

/// Which authority policy governs a tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyStatus {
    /// `tenant` when the tenant has its own policy, `deployment` otherwise.
    pub governed_by: String,
    /// The tenant's own policy.
    pub policy: Option<TenantPolicy>,
}

/// A tenant's own policy: one Rego module in package `steward.authority` defining `decision`
/// (see `policies/authority/authority.rego` and the input schema in `policies/schema/`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyBody {
    pub source: String,
}

impl From<PolicyRejection> for ApiError {
    fn from(err: PolicyRejection) -> Self {
        let code = match err {
            PolicyRejection::TooDeep { .. } | PolicyRejection::TooCostly { .. } => {
                "policy-too-complex"
            }
            PolicyRejection::Empty | PolicyRejection::TooLarge | PolicyRejection::Invalid(_) => {
                "invalid-policy"
            }
        };
        ApiError::unprocessable(code, err.to_string())
    }
}

impl From<PolicyUpdateError> for ApiError {
    fn from(err: PolicyUpdateError) -> Self {
        let message = err.to_string();
        match err {
            PolicyUpdateError::UnknownTenant(_) => ApiError::not_found(message),
            PolicyUpdateError::Storage(storage) => storage.into(),
        }
    }
}

/// Which authority policy governs the tenant (MSP staff).
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant_id}/policy",
    tag = "policies",
    params(("tenant_id" = TenantId, Path, description = "The tenant's id")),
    responses((status = OK, body = PolicyStatus), ReadErrors),
)]
async fn get_tenant_policy(ctx: InTenant) -> Result<Json<PolicyStatus>, ApiError> {
    let scope = ctx.scope();
    let policy = scope.policy().await?;
    Ok(Json(PolicyStatus {
        governed_by: if policy.is_some() {
            "tenant"
        } else {
            "deployment"
        }
        .to_owned(),
        policy,
    }))
}

/// Replaces the deployment's authority policy for this tenant (MSP admins). The policy must
/// be at most 64 KiB, nest brackets at most 12 deep and not too many of them deeply (422
/// `policy-too-complex`: their parse time grows exponentially with depth), compile and decide
/// a sample action; one that does not is refused (422 `invalid-policy`) and changes nothing.
/// Every later decision for the tenant uses it.
#[utoipa::path(
    put,
    path = "/api/v1/tenants/{tenant_id}/policy",
    tag = "policies",
    params(("tenant_id" = TenantId, Path, description = "The tenant's id")),
    request_body = PolicyBody,
    responses((status = OK, body = TenantPolicy), WriteErrors),
)]
async fn set_tenant_policy(
    ctx: InTenant<needs::Admin>,
    ApiPath(_): ApiPath<TenantId>,
    ApiJson(body): ApiJson<PolicyBody>,
) -> Result<Json<TenantPolicy>, ApiError> {
    ctx.require_confirmed()?;
    // Compiling is CPU work: off the executor, and before the write transaction is opened so
    // no writer waits on it.
    let checked = check_off_executor(body.source).await?;
    let policy = ctx
        .work(async |work| Ok(work.settings()?.set_policy(&checked).await?))
        .await?;
    Ok(Json(policy))
}

/// Removes the tenant's own policy: the deployment's governs it again (MSP admins).
#[utoipa::path(
    delete,
    path = "/api/v1/tenants/{tenant_id}/policy",
    tag = "policies",
    params(("tenant_id" = TenantId, Path, description = "The tenant's id")),
    responses((status = NO_CONTENT, description = "Removed"), WriteErrors),
)]
async fn remove_tenant_policy(
    ctx: InTenant<needs::Admin>,
    ApiPath(_): ApiPath<TenantId>,
) -> Result<StatusCode, ApiError> {
    ctx.require_confirmed()?;
    ctx.work(async |work| {
        if work.settings()?.remove_policy().await? {
            Ok(())
        } else {
            Err(ApiError::not_found(
                "the tenant has no policy of its own; the deployment's governs it",
            ))
        }
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What-if: the decision and reasons the tenant's authority policy would give an action on a
/// device or identity, with the input it would see — nothing is recorded or executed (MSP
/// admins and technicians).
#[utoipa::path(
    post,
    path = "/api/v1/tenants/{tenant_id}/policy/simulate",
    tag = "policies",
    params(("tenant_id" = TenantId, Path, description = "The tenant's id")),
    request_body = SimulationRequest,
    responses((status = OK, body = SimulationResult), WriteErrors),
)]
async fn simulate_policy(
    State(state): State<AppState>,
    ctx: InTenant<needs::ProposeActions>,
    ApiJson(body): ApiJson<SimulationRequest>,
) -> Result<Json<SimulationResult>, ApiError> {
    let most = u32::try_from(steward_domain::actions::MAX_BATCH_TARGETS).unwrap_or(u32::MAX);
    if !(1..=most).contains(&body.target_count) {
        return Err(ApiError::unprocessable(
            "invalid-target-count",
            format!("target_count is between 1 and {most}"),
        ));
    }
    if let Err(problem) = body.kind.check_parameters(&body.parameters) {
        return Err(ApiError::unprocessable("invalid-parameters", problem));
    }
    if !body.kind.acts_on(body.target.kind) {
        return Err(ApiError::unprocessable(
            "invalid-target",
            format!(
                "{} acts on a {:?}, not a {:?}",
                body.kind,
                body.kind.target_kind(),
                body.target.kind
            ),
        ));
    }
    // Nothing to keep: a simulation writes nothing.
    let simulation = ctx
        .without_keeping(async |work| {
            steward_core::decisions::simulate(
                work,
                &state.policies,
                body.kind,
                body.target,
                body.proposer,
                body.target_count,
                &body.parameters,
            )
            .await?
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "no {:?} {} in this tenant",
                    body.target.kind, body.target.id
                ))
            })
        })
        .await?;
    Ok(Json(SimulationResult {
        decision: simulation.decided.decision,
        input: serde_json::to_value(&simulation.input).unwrap_or_default(),
        governed_by: if simulation.tenant_policy {
            "tenant"
        } else {
            "deployment"
        }
        .to_owned(),
        policy_failure: simulation.decided.failure,
    }))
}
