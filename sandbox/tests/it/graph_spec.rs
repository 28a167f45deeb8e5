//! Every Microsoft Graph request the connector makes — inventory, events, connection test and
//! each action's steps — checked against Microsoft Graph's v1.0 metadata (the CSDL in
//! `tests/data/microsoft-graph`): each path resolves through an entity set or singleton,
//! keys, navigation properties and bound actions; each method fits what it reaches; each
//! `$select`ed property exists on the type.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use crate::steps::{request, settle};
use secrecy::SecretString;
use steward_domain::{actions::ActionType, clock::SystemClock};
use steward_integrations::{
    Connector, EventCursors, Verification,
    microsoft::{MicrosoftSettings, graph::GraphConnector},
};
use url::Url;
use uuid::Uuid;

/// A type reference: a qualified type name, and whether it is a collection of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct TypeRef {
    name: String,
    collection: bool,
}

/// What the tests need of the CSDL.
#[derive(Debug, Default)]
struct Metadata {
    /// Entity sets and singletons of the container.
    roots: HashMap<String, TypeRef>,
    /// Qualified entity or complex type → its base type.
    base: HashMap<String, String>,
    /// Qualified type → property name → type (navigation properties included).
    members: HashMap<String, HashMap<String, TypeRef>>,
    /// Qualified type → navigation property names.
    navigation: HashMap<String, HashSet<String>>,
    /// Bound actions and functions: (name, binding type) pairs.
    bound: HashSet<(String, TypeRef)>,
}

impl Metadata {
    fn load() -> Self {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/microsoft-graph/v1.0-Prod.csdl"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let document = roxmltree::Document::parse(&text).unwrap();
        let schemas: Vec<_> = document
            .descendants()
            .filter(|n| n.has_tag_name("Schema"))
            .collect();
        // Aliases are unique in a document: `graph.user` is `microsoft.graph.user` wherever
        // it is written.
        let aliases: HashMap<String, String> = schemas
            .iter()
            .filter_map(|s| {
                Some((
                    s.attribute("Alias")?.to_owned(),
                    s.attribute("Namespace")?.to_owned(),
                ))
            })
            .collect();
        let qualify = |raw: &str| -> TypeRef {
            let (inner, collection) = match raw
                .strip_prefix("Collection(")
                .and_then(|r| r.strip_suffix(')'))
            {
                Some(inner) => (inner, true),
                None => (raw, false),
            };
            let name = match inner.rsplit_once('.') {
                Some((prefix, short)) => match aliases.get(prefix) {
                    Some(namespace) => format!("{namespace}.{short}"),
                    None => inner.to_owned(),
                },
                None => inner.to_owned(),
            };
            TypeRef { name, collection }
        };
        let mut metadata = Metadata::default();
        for schema in &schemas {
            let namespace = schema.attribute("Namespace").unwrap();
            for node in schema.children().filter(|n| n.is_element()) {
                match node.tag_name().name() {
                    "EntityType" | "ComplexType" => {
                        let name = format!("{namespace}.{}", node.attribute("Name").unwrap());
                        if let Some(base) = node.attribute("BaseType") {
                            metadata.base.insert(name.clone(), qualify(base).name);
                        }
                        let members = metadata.members.entry(name.clone()).or_default();
                        for member in node.children().filter(|n| {
                            n.has_tag_name("Property") || n.has_tag_name("NavigationProperty")
                        }) {
                            let member_name = member.attribute("Name").unwrap().to_owned();
                            if member.has_tag_name("NavigationProperty") {
                                metadata
                                    .navigation
                                    .entry(name.clone())
                                    .or_default()
                                    .insert(member_name.clone());
                            }
                            members.insert(member_name, qualify(member.attribute("Type").unwrap()));
                        }
                    }
                    "Action" | "Function" if node.attribute("IsBound") == Some("true") => {
                        let binding = node
                            .children()
                            .find(|n| n.has_tag_name("Parameter"))
                            .and_then(|p| p.attribute("Type"))
                            .unwrap();
                        metadata
                            .bound
                            .insert((node.attribute("Name").unwrap().to_owned(), qualify(binding)));
                    }
                    "EntityContainer" => {
                        for root in node.children().filter(|n| n.is_element()) {
                            let (name, kind) = match root.tag_name().name() {
                                "EntitySet" => (root.attribute("EntityType"), true),
                                "Singleton" => (root.attribute("Type"), false),
                                _ => continue,
                            };
                            let mut type_ref = qualify(name.unwrap());
                            type_ref.collection = kind;
                            metadata
                                .roots
                                .insert(root.attribute("Name").unwrap().to_owned(), type_ref);
                        }
                    }
                    _ => {}
                }
            }
        }
        metadata
    }

    /// The type and its base types, nearest first.
    fn lineage(&self, name: &str) -> Vec<String> {
        let mut chain = vec![name.to_owned()];
        while let Some(base) = self.base.get(chain.last().unwrap()) {
            chain.push(base.clone());
        }
        chain
    }

    fn member(&self, on: &str, name: &str) -> Option<&TypeRef> {
        self.lineage(on)
            .iter()
            .find_map(|t| self.members.get(t).and_then(|m| m.get(name)))
    }

    fn is_navigation(&self, on: &str, name: &str) -> bool {
        self.lineage(on)
            .iter()
            .any(|t| self.navigation.get(t).is_some_and(|n| n.contains(name)))
    }

    /// A bound operation `name` callable on `on` (a derived type may call its base types').
    fn binds(&self, name: &str, on: &TypeRef) -> bool {
        let short = name.strip_prefix("microsoft.graph.").unwrap_or(name);
        self.lineage(&on.name).into_iter().any(|t| {
            self.bound.contains(&(
                short.to_owned(),
                TypeRef {
                    name: t,
                    collection: on.collection,
                },
            ))
        })
    }

    /// Resolves `method path` (below `/v1.0/`) and checks `$select`; the reason it does not.
    fn check(&self, method: &str, path: &str, query: &[(String, String)]) -> Result<(), String> {
        // Steward's ids and Graph's names need no escaping in a path.
        let segments: Vec<String> = path
            .trim_matches('/')
            .split('/')
            .map(str::to_owned)
            .collect();
        let mut current = self
            .roots
            .get(&segments[0])
            .cloned()
            .ok_or_else(|| format!("{} is no entity set or singleton", segments[0]))?;
        // What the request reaches: an entity, a collection, a reference, or an operation.
        let mut reached = if current.collection {
            "collection"
        } else {
            "entity"
        };
        let mut rest = segments[1..].iter().peekable();
        while let Some(segment) = rest.next() {
            if segment == "$ref" {
                if !self.is_navigation_target(&current) {
                    return Err(format!("$ref on {current:?}, which no navigation reaches"));
                }
                reached = "reference";
                if rest.peek().is_some() {
                    return Err("segments after $ref".to_owned());
                }
                continue;
            }
            if self.binds(segment, &current) {
                reached = "operation";
                if rest.peek().is_some() {
                    return Err(format!("segments after the operation {segment}"));
                }
                continue;
            }
            if current.collection {
                // A key: one member of the collection.
                current.collection = false;
                reached = "entity";
                continue;
            }
            let Some(next) = self.member(&current.name, segment) else {
                return Err(format!("{} has no property {segment}", current.name));
            };
            if !self.is_navigation(&current.name, segment) {
                return Err(format!(
                    "{segment} of {} is a property, not a navigation",
                    current.name
                ));
            }
            current = next.clone();
            reached = if current.collection {
                "collection"
            } else {
                "entity"
            };
        }
        let method_fits = match method {
            "GET" => matches!(reached, "entity" | "collection" | "operation"),
            "PATCH" => reached == "entity",
            "POST" => matches!(reached, "operation" | "reference" | "collection"),
            "DELETE" => matches!(reached, "entity" | "reference"),
            _ => false,
        };
        if !method_fits {
            return Err(format!("{method} does not apply to a {reached}"));
        }
        if let Some((_, select)) = query.iter().find(|(k, _)| k == "$select") {
            for property in select.split(',') {
                if self.member(&current.name, property).is_none() {
                    return Err(format!("$select {property}: {} has none", current.name));
                }
            }
        }
        Ok(())
    }

    /// Whether some navigation property has this type (so references to it can be added or
    /// removed).
    fn is_navigation_target(&self, target: &TypeRef) -> bool {
        self.navigation.iter().any(|(on, names)| {
            names.iter().any(|n| {
                self.members
                    .get(on)
                    .and_then(|m| m.get(n))
                    .is_some_and(|t| self.lineage(&target.name).contains(&t.name))
            })
        })
    }
}

#[test]
fn the_checker_refuses_what_graph_does_not_publish() {
    let metadata = Metadata::load();
    let none = [];
    assert_eq!(metadata.check("GET", "users/abc", &none), Ok(()));
    assert_eq!(
        metadata.check("POST", "users/abc/revokeSignInSessions", &none),
        Ok(())
    );
    for (method, path) in [
        ("GET", "usres"),
        ("GET", "users/abc/notANavigation"),
        ("GET", "users/abc/accountEnabled"),
        ("PATCH", "users"),
        ("POST", "users/abc"),
        ("GET", "groups/abc/revokeSignInSessions"),
    ] {
        assert!(
            metadata.check(method, path, &none).is_err(),
            "{method} {path} was accepted"
        );
    }
    let select = [("$select".to_owned(), "id,notAProperty".to_owned())];
    assert!(metadata.check("GET", "users", &select).is_err());
}

/// A simulated customer's Microsoft Graph on loopback, with the requests it answers recorded,
/// and a connector to it.
async fn serve_graph(
    tenant: Uuid,
) -> (
    steward_sandbox::Sandbox,
    crate::support::Seen,
    GraphConnector,
) {
    let (sandbox, mut credentials) =
        crate::support::open(&[(tenant, "Acme Dental", "acme-dental")]).await;
    let credentials = credentials.remove(0);
    let (address, seen) = crate::support::serve_recorded(sandbox.clone(), "graph/v1.0").await;
    let base = Url::parse(&format!("http://{address}/sandbox/")).unwrap();
    let graph = GraphConnector::new(
        crate::support::quick_http(),
        &MicrosoftSettings {
            directory_id: credentials.directory_id.clone(),
            client_id: credentials.client_id.clone(),
            api_base_url: base.join("graph/").unwrap(),
            login_base_url: base.join("login/").unwrap(),
        },
        SecretString::from(credentials.client_secret.clone()),
        Arc::new(SystemClock),
    )
    .unwrap();
    (sandbox, seen, graph)
}

#[tokio::test]
async fn every_graph_request_is_published_in_the_graph_metadata() {
    let metadata = Metadata::load();
    let tenant = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0a51);
    let (sandbox, seen, graph) = serve_graph(tenant).await;

    graph.test_connection().await.unwrap();
    let inventory = graph.inventory().await.unwrap();
    let (_, state) = graph.inventory_from(None).await.unwrap();
    graph.inventory_from(state).await.unwrap();
    let state = sandbox.state(tenant).await.unwrap();
    for user in &state.users {
        let identity = crate::support::identity(&inventory, &user.id);
        let (mut read, mut expected) = (identity.groups.clone(), user.groups.clone());
        read.sort();
        expected.sort();
        assert_eq!(read, expected, "{}", user.user_principal_name);
    }
    assert!(
        inventory.identities.iter().any(|i| !i.groups.is_empty()),
        "group memberships are read"
    );
    graph.events(&EventCursors::default()).await.unwrap();

    // Every action's steps.
    let finance = state
        .groups
        .iter()
        .find(|g| g.display_name == "Finance Team")
        .unwrap();
    let member = finance.members[0].clone();
    for (action, key) in [
        (ActionType::DisableUser, "disable"),
        (ActionType::RemoveFromGroup, "remove"),
        (ActionType::RevokeSessions, "revoke"),
        (ActionType::ResetMfa, "reset"),
    ] {
        let mut step = request(action, &member, key);
        if action == ActionType::RemoveFromGroup {
            step.parameters.group_id = Some(finance.id.clone());
        }
        let snapshot = graph.snapshot(&step).await.unwrap();
        let execution = graph.execute(&step).await.unwrap();
        let (verdict, _) = settle(&graph, &step, &execution).await;
        assert!(
            matches!(verdict, Verification::Confirmed(_)),
            "{action}: {verdict:?}"
        );
        if action.is_reversible() {
            let (inverse, execution) = graph.rollback(&step, &snapshot).await.unwrap().unwrap();
            let (verdict, _) = settle(&graph, &inverse, &execution).await;
            assert!(
                matches!(verdict, Verification::Confirmed(_)),
                "rollback of {action}: {verdict:?}"
            );
        }
    }

    let seen = seen.lock().unwrap().clone();
    assert!(seen.len() > 10, "{seen:?}");
    let mut refused = Vec::new();
    for (method, path, query) in &seen {
        if let Err(why) = metadata.check(method, path, query) {
            refused.push(format!("{method} {path}: {why}"));
        }
    }
    assert!(
        refused.is_empty(),
        "not in the Graph metadata:\n{}",
        refused.join("\n")
    );
}

/// The `users/delta` requests among `seen`, with their query.
fn delta_reads(seen: &crate::support::Seen) -> Vec<Vec<(String, String)>> {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|(_, path, _)| path == "/users/delta")
        .map(|(_, _, query)| query.clone())
        .collect()
}

#[tokio::test]
async fn users_are_read_in_full_once_then_only_their_changes_through_delta() {
    let tenant = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0a52);
    let (sandbox, seen, graph) = serve_graph(tenant).await;
    sandbox.scale(tenant, 10, 250).await.unwrap();

    let (first, state) = graph.inventory_from(None).await.unwrap();
    assert_eq!(first.identities.len(), 250);
    assert_eq!(delta_reads(&seen).len(), 3, "250 users in pages of 100");
    let state = state.expect("the delta link is kept");

    // One user changes at Microsoft Entra ID.
    let user = first.identities[7].external_id.clone();
    let disable = request(ActionType::DisableUser, &user, "delta-disable");
    graph.execute(&disable).await.unwrap();
    seen.lock().unwrap().clear();
    let (second, state) = graph.inventory_from(Some(state)).await.unwrap();
    let reads = delta_reads(&seen);
    assert_eq!(reads.len(), 1, "only the change is read: {reads:?}");
    assert!(
        reads[0].iter().any(|(k, _)| k == "$deltatoken"),
        "{reads:?}"
    );
    assert_eq!(
        second.identities.len(),
        250,
        "the inventory is still complete"
    );
    let changed = crate::support::identity(&second, &user);
    assert_eq!(changed.enabled, Some(false));
    assert_eq!(
        second
            .identities
            .iter()
            .filter(|i| i.enabled == Some(false))
            .count(),
        first
            .identities
            .iter()
            .filter(|i| i.enabled == Some(false))
            .count()
            + 1
    );

    // A delta link older than Graph keeps them (seven days) is refused: a full read again.
    let mut expired = state.unwrap();
    let link = expired["delta_link"].as_str().unwrap().to_owned();
    let (base, token) = link
        .split_once("%24deltatoken=")
        .or_else(|| link.split_once("$deltatoken="))
        .unwrap();
    let generation = token.split('.').next().unwrap();
    expired["delta_link"] = serde_json::json!(format!("{base}%24deltatoken={generation}.0"));
    seen.lock().unwrap().clear();
    let (third, state) = graph.inventory_from(Some(expired)).await.unwrap();
    assert_eq!(third.identities.len(), 250);
    assert_eq!(
        delta_reads(&seen).len(),
        4,
        "the refused link, then three full pages"
    );
    assert!(state.is_some());

    // A state this connector cannot read starts over too.
    seen.lock().unwrap().clear();
    let (fourth, _) = graph
        .inventory_from(Some(serde_json::json!({"something": "else"})))
        .await
        .unwrap();
    assert_eq!(fourth.identities.len(), 250);
    assert_eq!(delta_reads(&seen).len(), 3);
}
