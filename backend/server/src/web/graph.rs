//! The context graph page: a tenant's devices and identities with their neighbourhood, drawn.

use axum::{
    extract::{Path, Query},
    response::{Html, IntoResponse, Response},
};
use serde::Deserialize;
use steward_domain::{
    TenantId,
    graph::{self, ContextGraph, NodeKind, Relation},
};
use steward_frontend::pages::graph::{self as page, GraphPage};

use super::scoped::WebTenant;
use super::{UiError, pages::chrome};

#[derive(Debug, Deserialize)]
pub struct GraphQuery {
    center: Option<String>,
    depth: Option<usize>,
}

/// `GET /tenants/{tenant_id}/graph`: MSP staff; around `center`, by default the identity with
/// the most connections.
pub async fn show(
    s: WebTenant,
    Path(tenant_id): Path<TenantId>,
    Query(query): Query<GraphQuery>,
) -> Result<Response, UiError> {
    let scope = s.scope();
    let context = scope.context(s.clock.now()).await?;
    let whole = context.graph(tenant_id);
    let depth = query.depth.unwrap_or(1).clamp(1, 3);
    let center = match query.center {
        Some(center) => Some(center),
        None => busiest_identity(&whole),
    };
    let graph = match center {
        Some(center) => Some(
            whole
                .neighbourhood(&center, depth)
                .ok_or(UiError::NotFound)?,
        ),
        None => None,
    };
    let mut choices: Vec<(String, String)> = context
        .identities
        .iter()
        .map(|i| (graph::identity_node(i.id), i.user_principal_name.clone()))
        .collect();
    choices.extend(
        context
            .devices
            .iter()
            .map(|d| (graph::device_node(d.id), d.hostname.clone())),
    );
    let path = format!("/tenants/{tenant_id}/graph");
    let chrome = chrome(&s, &path, None).await?;
    Ok(Html(page::render(
        chrome,
        GraphPage {
            tenant_id: tenant_id.to_string(),
            tenant_name: scope.tenant().name.clone(),
            graph,
            depth,
            choices,
        },
    ))
    .into_response())
}

/// The most telling place to start: the identity with the most connections, administrators
/// first among equals. Group memberships are not counted: most people are in several groups,
/// and they say less than a device used or a role held.
fn busiest_identity(graph: &ContextGraph) -> Option<String> {
    graph
        .nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Identity)
        .max_by_key(|n| {
            let edges: Vec<_> = graph
                .edges
                .iter()
                .filter(|e| e.relation != Relation::MemberOf && (e.from == n.id || e.to == n.id))
                .collect();
            let admin = edges.iter().any(|e| e.relation == Relation::AdminOf);
            (edges.len(), admin, std::cmp::Reverse(n.id.clone()))
        })
        .map(|n| n.id.clone())
}
