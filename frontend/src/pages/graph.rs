//! A tenant's context graph around one device or identity, drawn as a picture: the node in the
//! middle, what it connects to on rings around it, each edge named; below, the same edges with
//! their evidence as a table.

use std::collections::BTreeMap;

use leptos::prelude::*;
use steward_domain::graph::{ContextGraph, GraphNode, NodeKind, Relation};

use crate::{Chrome, layout::render_document};

/// What the graph page shows.
#[derive(Debug, Clone)]
pub struct GraphPage {
    pub tenant_id: String,
    pub tenant_name: String,
    /// The neighbourhood drawn; `None` when the tenant's graph has no nodes yet.
    pub graph: Option<ContextGraph>,
    pub depth: usize,
    /// Every device and identity, to pick another center from: (node id, label).
    pub choices: Vec<(String, String)>,
}

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 640.0;
const RING: f64 = 150.0;

/// Where each node goes: the center in the middle, the others on rings by their distance.
fn layout(graph: &ContextGraph) -> BTreeMap<String, (f64, f64)> {
    let mut distance: BTreeMap<&str, usize> = BTreeMap::new();
    if let Some(center) = graph.center.as_deref() {
        distance.insert(center, 0);
        let mut frontier = vec![center];
        let mut level = 0;
        while !frontier.is_empty() {
            level += 1;
            let mut next = Vec::new();
            for node in frontier {
                for edge in &graph.edges {
                    let other = if edge.from == node {
                        edge.to.as_str()
                    } else if edge.to == node {
                        edge.from.as_str()
                    } else {
                        continue;
                    };
                    if !distance.contains_key(other) {
                        distance.insert(other, level);
                        next.push(other);
                    }
                }
            }
            frontier = next;
        }
    }
    let mut rings: BTreeMap<usize, Vec<&GraphNode>> = BTreeMap::new();
    for node in &graph.nodes {
        let ring = distance.get(node.id.as_str()).copied().unwrap_or(1);
        rings.entry(ring).or_default().push(node);
    }
    let (cx, cy) = (WIDTH / 2.0, HEIGHT / 2.0);
    let mut positions = BTreeMap::new();
    for (ring, nodes) in rings {
        if ring == 0 {
            for node in nodes {
                positions.insert(node.id.clone(), (cx, cy));
            }
            continue;
        }
        let radius = RING * ring as f64;
        let count = nodes.len() as f64;
        for (i, node) in nodes.into_iter().enumerate() {
            // Later rings turn half a step, so their labels do not sit on the inner ones.
            let angle = std::f64::consts::TAU * (i as f64 + 0.5 * (ring - 1) as f64) / count
                - std::f64::consts::FRAC_PI_2;
            positions.insert(
                node.id.clone(),
                (
                    cx + radius * angle.cos(),
                    (cy + radius * 0.8 * angle.sin()).clamp(24.0, HEIGHT - 24.0),
                ),
            );
        }
    }
    positions
}

const fn kind_class(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::Device => "node node-device",
        NodeKind::Identity => "node node-identity",
        NodeKind::Role => "node node-role",
        NodeKind::Group => "node node-group",
        NodeKind::Tool => "node node-tool",
        NodeKind::BackupJob => "node node-backup",
        NodeKind::UnmanagedDevice => "node node-unmanaged",
    }
}

const fn kind_name(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::Device => "device",
        NodeKind::Identity => "identity",
        NodeKind::Role => "admin role",
        NodeKind::Group => "group",
        NodeKind::Tool => "tool",
        NodeKind::BackupJob => "backup job",
        NodeKind::UnmanagedDevice => "unmanaged device",
    }
}

const fn relation_words(relation: Relation) -> &'static str {
    match relation {
        Relation::PrimaryUserOf => "primary user of",
        Relation::AdminOf => "admin of",
        Relation::MemberOf => "member of",
        Relation::AccountIn => "account in",
        Relation::ManagedBy => "managed by",
        Relation::MonitoredBy => "monitored by",
        Relation::ProtectedBy => "protected by",
        Relation::SignsInFrom => "signs in from",
    }
}

/// Renders the graph page.
pub fn render(chrome: Chrome, page: GraphPage) -> String {
    let base = format!("/tenants/{}/graph", page.tenant_id);
    let choices = page
        .choices
        .iter()
        .map(|(id, label)| {
            let selected = page
                .graph
                .as_ref()
                .and_then(|g| g.center.as_deref())
                .is_some_and(|c| c == id);
            view! { <option value=id.clone() selected=selected>{label.clone()}</option> }
        })
        .collect_view();
    let depths = [1, 2, 3]
        .into_iter()
        .map(|d| {
            view! { <option value=d.to_string() selected={d == page.depth}>{format!("{d} step(s)")}</option> }
        })
        .collect_view();
    let picture = page.graph.as_ref().map(|graph| {
        let positions = layout(graph);
        let label = |id: &str| {
            graph
                .nodes
                .iter()
                .find(|n| n.id == id)
                .map_or_else(|| id.to_owned(), |n| n.label.clone())
        };
        let lines = graph
            .edges
            .iter()
            .filter_map(|edge| {
                let (x1, y1) = *positions.get(&edge.from)?;
                let (x2, y2) = *positions.get(&edge.to)?;
                let words = relation_words(edge.relation);
                let title = format!("{} {words} {}: {}", label(&edge.from), label(&edge.to), edge.evidence);
                Some(view! {
                    <g class="edge">
                        <title>{title}</title>
                        <line x1=format!("{x1:.1}") y1=format!("{y1:.1}") x2=format!("{x2:.1}") y2=format!("{y2:.1}")></line>
                        <text x=format!("{:.1}", (x1 + x2) / 2.0) y=format!("{:.1}", (y1 + y2) / 2.0 - 4.0) class="edge-label">{words}</text>
                    </g>
                })
            })
            .collect_view();
        let nodes = graph
            .nodes
            .iter()
            .filter_map(|node| {
                let (x, y) = *positions.get(&node.id)?;
                let center = graph.center.as_deref() == Some(node.id.as_str());
                let radius = if center { 16 } else { 11 };
                let class = if center {
                    format!("{} node-center", kind_class(node.kind))
                } else {
                    kind_class(node.kind).to_owned()
                };
                let title = format!(
                    "{} ({}){}",
                    node.label,
                    kind_name(node.kind),
                    node.detail.as_ref().map(|d| format!(": {d}")).unwrap_or_default()
                );
                let href = matches!(node.kind, NodeKind::Device | NodeKind::Identity)
                    .then(|| format!("{base}?center={}&depth={}", node.id, page.depth));
                let shape = view! {
                    <g class=class data-node=node.id.clone()>
                        <title>{title}</title>
                        <circle cx=format!("{x:.1}") cy=format!("{y:.1}") r=radius.to_string()></circle>
                        <text x=format!("{x:.1}") y=format!("{:.1}", y + f64::from(radius) + 14.0) class="node-label">{node.label.clone()}</text>
                    </g>
                };
                Some(match href {
                    Some(href) => view! { <a href=href>{shape}</a> }.into_any(),
                    None => shape.into_any(),
                })
            })
            .collect_view();
        let rows = graph
            .edges
            .iter()
            .map(|edge| {
                view! {
                    <tr>
                        <td>{label(&edge.from)}</td>
                        <td>{relation_words(edge.relation)}</td>
                        <td>{label(&edge.to)}</td>
                        <td>{edge.evidence.clone()}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <section class="card">
                <svg class="context-graph" viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img" aria-label="Context graph">
                    {lines}
                    {nodes}
                </svg>
                <p class="hint">"Devices and people link to their neighbourhood; hover a line for why Steward believes it."</p>
            </section>
            <section class="card">
                <h2>"Connections"</h2>
                <div class="table-wrap">
                    <table>
                        <thead><tr><th>"From"</th><th>"Relation"</th><th>"To"</th><th>"Evidence"</th></tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                </div>
            </section>
        }
    });
    let empty = page.graph.is_none().then(|| {
        view! { <section class="card"><p>"Nothing to draw yet: synchronize the tenant's integrations first."</p></section> }
    });
    let title = format!("Context graph of {}", page.tenant_name);
    let body = view! {
        <h1>{title.clone()}</h1>
        <section class="card">
            <form method="get" action=base.clone() class="row-form">
                <label>"Around" <select name="center">{choices}</select></label>
                <label>"Reach" <select name="depth">{depths}</select></label>
                <button type="submit" class="button button-secondary">"Show"</button>
            </form>
        </section>
        {picture}
        {empty}
    };
    render_document(&title, Some(chrome), body)
}
