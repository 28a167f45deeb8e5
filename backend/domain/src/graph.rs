//! A tenant's context graph: its devices and identities and how they connect — who uses which
//! device, who administers what, which tools manage, watch and back up each device, and which
//! devices people sign in from that no tool manages.
//!
//! Built from the reconciled inventory, the integrations, and the sign-ins the identity
//! providers report with their device (Microsoft Entra ID names the device of every sign-in it
//! knows): a device's primary user is whoever signs in from it most.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    IntegrationId, TenantId,
    coverage::ToolCategory,
    inventory::{Device, Identity},
    observations::Vendor,
};

/// How far back sign-ins count for primary users and unmanaged devices.
pub const SIGHTING_WINDOW: chrono::Duration = chrono::Duration::days(30);

/// A sign-in an identity provider reported with the device it was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInSighting {
    /// The identity provider's id of the user.
    pub user_uid: String,
    /// The user's sign-in name (user principal name).
    pub user_name: String,
    /// The identity provider's id of the device (the Microsoft Entra device id).
    pub device_uid: String,
    pub device_name: Option<String>,
    /// Whether the identity provider says a management tool manages the device.
    pub managed: bool,
    pub time: DateTime<Utc>,
}

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    Device,
    Identity,
    /// An administrative role (Global Administrator, Super Administrator).
    Role,
    /// A group at an identity provider (a security group granting access).
    Group,
    /// One of the tenant's integrations: an RMM, an EDR, an identity provider.
    Tool,
    /// A backup job protecting devices.
    BackupJob,
    /// A device people sign in from that no tool reports.
    UnmanagedDevice,
}

/// How two nodes connect (`from` → `to`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// identity → device: signs in from it more than anyone.
    PrimaryUserOf,
    /// identity → role.
    AdminOf,
    /// identity → group.
    MemberOf,
    /// identity → identity provider.
    AccountIn,
    /// device → RMM.
    ManagedBy,
    /// device → EDR.
    MonitoredBy,
    /// device → backup job (or backup tool).
    ProtectedBy,
    /// identity → unmanaged device.
    SignsInFrom,
}

/// A node of the graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GraphNode {
    /// `device:{id}`, `identity:{id}`, `role:{name}`, `tool:{integration id}`,
    /// `backup:{job}`, `unmanaged:{device id}`.
    pub id: String,
    pub kind: NodeKind,
    pub label: String,
    /// A short line about it (a tool's vendor, an identity's department).
    pub detail: Option<String>,
}

/// An edge of the graph, with why Steward believes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GraphEdge {
    pub from: String,
    pub to: String,
    pub relation: Relation,
    pub evidence: String,
}

/// A tenant's context graph, or the neighbourhood of one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContextGraph {
    pub tenant_id: TenantId,
    /// The node the neighbourhood is around; `None` for the whole graph.
    pub center: Option<String>,
    pub nodes: Vec<GraphNode>,
    pub edges: Vec<GraphEdge>,
}

/// A device seen signing in that no tool of the tenant reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UnmanagedDevice {
    /// The identity provider's id of the device.
    pub device_uid: String,
    pub name: Option<String>,
    /// Who signed in from it (user principal names).
    pub users: Vec<String>,
    pub last_seen: DateTime<Utc>,
}

/// The node id of an inventory device.
#[must_use]
pub fn device_node(id: uuid::Uuid) -> String {
    format!("device:{id}")
}

/// The node id of an inventory identity.
#[must_use]
pub fn identity_node(id: uuid::Uuid) -> String {
    format!("identity:{id}")
}

/// The identity a sighting is about, by the identity provider's user id or the sign-in name.
fn identity_of<'a>(identities: &'a [Identity], sighting: &SignInSighting) -> Option<&'a Identity> {
    identities.iter().find(|i| {
        i.sources.iter().any(|s| s.external_id == sighting.user_uid)
            || i.user_principal_name
                .eq_ignore_ascii_case(&sighting.user_name)
    })
}

/// The inventory device a sighting was made from, by its Entra device id or its name.
fn device_of<'a>(devices: &'a [Device], sighting: &SignInSighting) -> Option<&'a Device> {
    devices.iter().find(|d| {
        d.entra_device_id
            .as_deref()
            .is_some_and(|id| id.eq_ignore_ascii_case(&sighting.device_uid))
            || sighting.device_name.as_deref().is_some_and(|name| {
                let short = d.hostname.split('.').next().unwrap_or(&d.hostname);
                short.eq_ignore_ascii_case(name)
            })
    })
}

/// Each device's primary user: the identity with the most sign-ins from it (the latest
/// breaks a tie), and how many. Keyed by device id.
#[must_use]
pub fn primary_users(
    devices: &[Device],
    identities: &[Identity],
    sightings: &[SignInSighting],
) -> BTreeMap<uuid::Uuid, (uuid::Uuid, usize)> {
    let mut counts: BTreeMap<(uuid::Uuid, uuid::Uuid), (usize, DateTime<Utc>)> = BTreeMap::new();
    for sighting in sightings {
        let (Some(device), Some(identity)) = (
            device_of(devices, sighting),
            identity_of(identities, sighting),
        ) else {
            continue;
        };
        let entry = counts
            .entry((device.id, identity.id))
            .or_insert((0, sighting.time));
        entry.0 += 1;
        entry.1 = entry.1.max(sighting.time);
    }
    let mut best: BTreeMap<uuid::Uuid, (uuid::Uuid, usize, DateTime<Utc>)> = BTreeMap::new();
    for ((device, identity), (count, latest)) in counts {
        let better = best
            .get(&device)
            .is_none_or(|(_, c, l)| (count, latest) > (*c, *l));
        if better {
            best.insert(device, (identity, count, latest));
        }
    }
    best.into_iter()
        .map(|(device, (identity, count, _))| (device, (identity, count)))
        .collect()
}

/// Devices people sign in from that no tool reports, most recently seen first.
#[must_use]
pub fn unmanaged_devices(devices: &[Device], sightings: &[SignInSighting]) -> Vec<UnmanagedDevice> {
    let mut found: BTreeMap<String, UnmanagedDevice> = BTreeMap::new();
    for sighting in sightings {
        if device_of(devices, sighting).is_some() {
            continue;
        }
        let device = found
            .entry(sighting.device_uid.to_ascii_lowercase())
            .or_insert_with(|| UnmanagedDevice {
                device_uid: sighting.device_uid.clone(),
                name: sighting.device_name.clone(),
                users: Vec::new(),
                last_seen: sighting.time,
            });
        if !device.users.contains(&sighting.user_name) {
            device.users.push(sighting.user_name.clone());
        }
        device.last_seen = device.last_seen.max(sighting.time);
    }
    let mut devices: Vec<UnmanagedDevice> = found.into_values().collect();
    devices.sort_by_key(|d| std::cmp::Reverse(d.last_seen));
    devices
}

/// The MSP's words about an entity, for its node: `payroll, owned by Dana`.
fn context_detail(context: Option<&crate::inventory::BusinessContext>) -> Option<String> {
    let context = context?;
    let parts: Vec<String> = [
        context.business_process.clone(),
        context.owner.as_ref().map(|o| format!("owned by {o}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// An integration, for the graph: its id, vendor and name.
#[derive(Debug, Clone)]
pub struct Tool {
    pub id: IntegrationId,
    pub vendor: Vendor,
    pub name: String,
}

impl ContextGraph {
    /// The whole graph of a tenant.
    #[must_use]
    pub fn build(
        tenant_id: TenantId,
        tools: &[Tool],
        devices: &[Device],
        identities: &[Identity],
        sightings: &[SignInSighting],
    ) -> Self {
        let mut nodes: BTreeMap<String, GraphNode> = BTreeMap::new();
        let mut edges: BTreeSet<(String, String, Relation, String)> = BTreeSet::new();
        let tool_node = |id: IntegrationId| format!("tool:{id}");
        let add_tool = |nodes: &mut BTreeMap<String, GraphNode>, tool: &Tool| {
            nodes
                .entry(tool_node(tool.id))
                .or_insert_with(|| GraphNode {
                    id: tool_node(tool.id),
                    kind: NodeKind::Tool,
                    label: tool.name.clone(),
                    detail: Some(tool.vendor.display_name().to_owned()),
                });
        };
        for device in devices {
            let node = device_node(device.id);
            nodes.insert(
                node.clone(),
                GraphNode {
                    id: node.clone(),
                    kind: NodeKind::Device,
                    label: device.hostname.clone(),
                    detail: context_detail(device.context.as_ref())
                        .or_else(|| device.os_platform.clone()),
                },
            );
            for source in &device.sources {
                let Some(tool) = tools.iter().find(|t| t.id == source.integration_id) else {
                    continue;
                };
                let backup_job = source
                    .attributes
                    .get("backup")
                    .and_then(|b| b.get("job"))
                    .and_then(serde_json::Value::as_str);
                match (tool.vendor.category(), backup_job) {
                    (ToolCategory::Backup, Some(job)) => {
                        let job_node = format!("backup:{}:{job}", tool.id);
                        nodes.entry(job_node.clone()).or_insert_with(|| GraphNode {
                            id: job_node.clone(),
                            kind: NodeKind::BackupJob,
                            label: job.to_owned(),
                            detail: Some(tool.vendor.display_name().to_owned()),
                        });
                        edges.insert((
                            node.clone(),
                            job_node,
                            Relation::ProtectedBy,
                            format!("{} reports this job protects it", tool.name),
                        ));
                    }
                    (category, _) => {
                        let relation = match category {
                            ToolCategory::Rmm => Relation::ManagedBy,
                            ToolCategory::Edr => Relation::MonitoredBy,
                            ToolCategory::Backup => Relation::ProtectedBy,
                            ToolCategory::Psa | ToolCategory::IdentityProvider => continue,
                        };
                        add_tool(&mut nodes, tool);
                        edges.insert((
                            node.clone(),
                            tool_node(tool.id),
                            relation,
                            format!("{} reports it as {}", tool.name, source.external_id),
                        ));
                    }
                }
            }
        }
        for identity in identities {
            let node = identity_node(identity.id);
            nodes.insert(
                node.clone(),
                GraphNode {
                    id: node.clone(),
                    kind: NodeKind::Identity,
                    label: identity.user_principal_name.clone(),
                    detail: context_detail(identity.context.as_ref())
                        .or_else(|| identity.department.clone()),
                },
            );
            for role in &identity.admin_roles {
                let role_node = format!("role:{role}");
                nodes.entry(role_node.clone()).or_insert_with(|| GraphNode {
                    id: role_node.clone(),
                    kind: NodeKind::Role,
                    label: role.clone(),
                    detail: None,
                });
                edges.insert((
                    node.clone(),
                    role_node,
                    Relation::AdminOf,
                    "an administrative role at its identity provider".to_owned(),
                ));
            }
            for group in &identity.groups {
                let group_node = format!("group:{group}");
                nodes
                    .entry(group_node.clone())
                    .or_insert_with(|| GraphNode {
                        id: group_node.clone(),
                        kind: NodeKind::Group,
                        label: group.clone(),
                        detail: None,
                    });
                edges.insert((
                    node.clone(),
                    group_node,
                    Relation::MemberOf,
                    "a member of the group at its identity provider".to_owned(),
                ));
            }
            for source in &identity.sources {
                if let Some(tool) = tools.iter().find(|t| t.id == source.integration_id) {
                    add_tool(&mut nodes, tool);
                    edges.insert((
                        node.clone(),
                        tool_node(tool.id),
                        Relation::AccountIn,
                        format!("{} reports it as {}", tool.name, source.external_id),
                    ));
                }
            }
        }
        for (device, (identity, count)) in primary_users(devices, identities, sightings) {
            edges.insert((
                identity_node(identity),
                device_node(device),
                Relation::PrimaryUserOf,
                format!("{count} sign-in(s) from this device, more than anyone"),
            ));
        }
        for unmanaged in unmanaged_devices(devices, sightings) {
            let node = format!("unmanaged:{}", unmanaged.device_uid);
            nodes.insert(
                node.clone(),
                GraphNode {
                    id: node.clone(),
                    kind: NodeKind::UnmanagedDevice,
                    label: unmanaged
                        .name
                        .clone()
                        .unwrap_or_else(|| unmanaged.device_uid.clone()),
                    detail: Some("no tool reports it".to_owned()),
                },
            );
            for user in &unmanaged.users {
                if let Some(identity) = identities
                    .iter()
                    .find(|i| i.user_principal_name.eq_ignore_ascii_case(user))
                {
                    edges.insert((
                        identity_node(identity.id),
                        node.clone(),
                        Relation::SignsInFrom,
                        format!(
                            "signed in from it, last {}",
                            unmanaged.last_seen.format("%Y-%m-%d %H:%M UTC")
                        ),
                    ));
                }
            }
        }
        Self {
            tenant_id,
            center: None,
            nodes: nodes.into_values().collect(),
            edges: edges
                .into_iter()
                .map(|(from, to, relation, evidence)| GraphEdge {
                    from,
                    to,
                    relation,
                    evidence,
                })
                .collect(),
        }
    }

    /// The nodes within `depth` edges of `center` (either direction) and the edges between
    /// them; `None` when the graph has no such node.
    #[must_use]
    pub fn neighbourhood(&self, center: &str, depth: usize) -> Option<Self> {
        if !self.nodes.iter().any(|n| n.id == center) {
            return None;
        }
        let mut reached: BTreeMap<&str, usize> = BTreeMap::from([(center, 0)]);
        let mut queue = VecDeque::from([center]);
        while let Some(node) = queue.pop_front() {
            let distance = reached[node];
            if distance == depth {
                continue;
            }
            for edge in &self.edges {
                let next = if edge.from == node {
                    edge.to.as_str()
                } else if edge.to == node {
                    edge.from.as_str()
                } else {
                    continue;
                };
                if !reached.contains_key(next) {
                    reached.insert(next, distance + 1);
                    queue.push_back(next);
                }
            }
        }
        Some(Self {
            tenant_id: self.tenant_id,
            center: Some(center.to_owned()),
            nodes: self
                .nodes
                .iter()
                .filter(|n| reached.contains_key(n.id.as_str()))
                .cloned()
                .collect(),
            edges: self
                .edges
                .iter()
                .filter(|e| {
                    reached.contains_key(e.from.as_str()) && reached.contains_key(e.to.as_str())
                })
                .cloned()
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + minutes * 60, 0).unwrap()
    }

    fn device(n: u128, hostname: &str, entra: &str) -> Device {
        Device {
            id: uuid::Uuid::from_u128(n),
            tenant_id: TenantId::from_uuid(uuid::Uuid::nil()),
            hostname: hostname.to_owned(),
            os_platform: None,
            health: None,
            last_seen: None,
            entra_device_id: Some(entra.to_owned()),
            serial_number: None,
            mac_addresses: Vec::new(),
            tags: Vec::new(),
            first_seen_at: at(0),
            updated_at: at(0),
            sources: Vec::new(),
            conflicts: Vec::new(),
            context: None,
        }
    }

    fn identity(n: u128, upn: &str, roles: &[&str]) -> Identity {
        Identity {
            id: uuid::Uuid::from_u128(n),
            tenant_id: TenantId::from_uuid(uuid::Uuid::nil()),
            user_principal_name: upn.to_owned(),
            display_name: None,
            department: None,
            job_title: None,
            enabled: Some(true),
            admin_roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            groups: Vec::new(),
            first_seen_at: at(0),
            updated_at: at(0),
            mfa_registered: Some(true),
            sources: Vec::new(),
            conflicts: Vec::new(),
            context: None,
        }
    }

    fn sighting(user: &str, device: &str, name: &str, minute: i64) -> SignInSighting {
        SignInSighting {
            user_uid: format!("uid-{user}"),
            user_name: user.to_owned(),
            device_uid: device.to_owned(),
            device_name: Some(name.to_owned()),
            managed: false,
            time: at(minute),
        }
    }

    #[test]
    fn group_members_share_the_group_node() {
        let mut ann = identity(10, "ann@acme.example", &[]);
        ann.groups = vec!["Finance Team".to_owned(), "VPN Users".to_owned()];
        let mut bob = identity(11, "bob@acme.example", &[]);
        bob.groups = vec!["Finance Team".to_owned()];
        let graph = ContextGraph::build(
            TenantId::from_uuid(uuid::Uuid::nil()),
            &[],
            &[],
            &[ann, bob],
            &[],
        );
        let finance = graph
            .nodes
            .iter()
            .find(|n| n.kind == NodeKind::Group && n.label == "Finance Team")
            .unwrap();
        let members: Vec<&str> = graph
            .edges
            .iter()
            .filter(|e| e.relation == Relation::MemberOf && e.to == finance.id)
            .map(|e| e.from.as_str())
            .collect();
        assert_eq!(members.len(), 2, "{members:?}");
        assert_eq!(
            graph
                .nodes
                .iter()
                .filter(|n| n.kind == NodeKind::Group)
                .count(),
            2
        );
    }

    #[test]
    fn the_primary_user_signs_in_most_and_unknown_devices_are_unmanaged() {
        let devices = [device(1, "acme-lt01.acme.example", "E1")];
        let identities = [
            identity(10, "ann@acme.example", &["Global Administrator"]),
            identity(11, "bob@acme.example", &[]),
        ];
        let sightings = [
            sighting("ann@acme.example", "e1", "ACME-LT01", 1),
            sighting("ann@acme.example", "e1", "ACME-LT01", 2),
            sighting("bob@acme.example", "e1", "ACME-LT01", 3),
            sighting("bob@acme.example", "P9", "DESKTOP-X", 4),
            sighting("BOB@acme.example", "p9", "DESKTOP-X", 9),
        ];
        let primary = primary_users(&devices, &identities, &sightings);
        assert_eq!(
            primary[&uuid::Uuid::from_u128(1)],
            (uuid::Uuid::from_u128(10), 2)
        );
        let unmanaged = unmanaged_devices(&devices, &sightings);
        assert_eq!(unmanaged.len(), 1, "{unmanaged:?}");
        assert_eq!(unmanaged[0].name.as_deref(), Some("DESKTOP-X"));
        assert_eq!(unmanaged[0].last_seen, at(9));
        assert_eq!(unmanaged[0].users, ["bob@acme.example", "BOB@acme.example"]);

        let graph = ContextGraph::build(
            TenantId::from_uuid(uuid::Uuid::nil()),
            &[],
            &devices,
            &identities,
            &sightings,
        );
        let ann = identity_node(uuid::Uuid::from_u128(10));
        let laptop = device_node(uuid::Uuid::from_u128(1));
        assert!(
            graph
                .edges
                .iter()
                .any(|e| e.from == ann && e.to == laptop && e.relation == Relation::PrimaryUserOf)
        );
        assert!(
            graph
                .edges
                .iter()
                .any(|e| e.from == ann && e.to == "role:Global Administrator")
        );
        // Around the laptop: its primary user, one step further her role; Bob's home computer
        // is two steps from the laptop only through Bob, who is not its primary user.
        let near = graph.neighbourhood(&laptop, 1).unwrap();
        let ids: Vec<&str> = near.nodes.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ids, [laptop.as_str(), ann.as_str()]);
        let further = graph.neighbourhood(&laptop, 2).unwrap();
        assert!(
            further
                .nodes
                .iter()
                .any(|n| n.id == "role:Global Administrator")
        );
        assert!(
            !further
                .nodes
                .iter()
                .any(|n| n.kind == NodeKind::UnmanagedDevice)
        );
        assert!(graph.neighbourhood("device:nope", 1).is_none());
    }
}
