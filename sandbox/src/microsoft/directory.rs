//! Microsoft Graph beyond users: authentication methods and their registration report, group
//! and role memberships, groups, directory roles, sign-ins and security alerts.

use super::{graph::*, *};

/// `GET /users/{id}/authentication/methods`: every method of the user, password included (not
/// paged).
pub(super) async fn authentication_methods(
    State(sandbox): State<Sandbox>,
    Graph(tenant): Graph,
    Path(id): Path<String>,
) -> Response {
    let methods = with_environment(&sandbox, tenant, |e| {
        let user = e.user(&id)?;
        Some(
            user.authentication_methods
                .iter()
                .map(|m| m.to_vendor(user))
                .collect::<Vec<_>>(),
        )
    })
    .await
    .flatten();
    match methods {
        Some(methods) => Json(json!({
            "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#users('{id}')/authentication/methods"),
            "value": methods,
        }))
        .into_response(),
        None => resource_not_found(&sandbox, &id),
    }
}

/// `DELETE /users/{id}/authentication/{collection}/{method}`: 204. As the service does, it
/// refuses (400) to delete the default method while other second factors remain, and the
/// password cannot be deleted at all.
pub(super) async fn delete_authentication_method(
    State(sandbox): State<Sandbox>,
    Graph(tenant): Graph,
    Path((id, collection, method_id)): Path<(String, String, String)>,
) -> Response {
    enum Outcome {
        Deleted,
        NoUser,
        NoMethod,
        Password,
        Default,
    }
    let outcome = sandbox
        .mutate(tenant, |e| {
            let Some(user) = e.user_mut(&id) else {
                return Outcome::NoUser;
            };
            let Some(index) = user
                .authentication_methods
                .iter()
                .position(|m| m.id == method_id && m.kind.collection() == collection)
            else {
                return Outcome::NoMethod;
            };
            let method = &user.authentication_methods[index];
            if method.kind == AuthMethodKind::Password {
                return Outcome::Password;
            }
            let others = user
                .authentication_methods
                .iter()
                .filter(|m| m.kind != AuthMethodKind::Password && m.id != method_id)
                .count();
            if method.default && others > 0 {
                return Outcome::Default;
            }
            user.authentication_methods.remove(index);
            Outcome::Deleted
        })
        .await;
    match outcome {
        Ok(Outcome::Deleted) => StatusCode::NO_CONTENT.into_response(),
        Ok(Outcome::NoUser) | Err(_) => resource_not_found(&sandbox, &id),
        Ok(Outcome::NoMethod) => graph_error(
            &sandbox,
            StatusCode::NOT_FOUND,
            "itemNotFound",
            &format!("The authentication method '{method_id}' was not found in '{collection}'."),
        ),
        Ok(Outcome::Password) => graph_error(
            &sandbox,
            StatusCode::BAD_REQUEST,
            "badRequest",
            "The password authentication method cannot be deleted.",
        ),
        Ok(Outcome::Default) => graph_error(
            &sandbox,
            StatusCode::BAD_REQUEST,
            "badRequest",
            "Cannot delete default method with other methods configured. Please change default method before deletion.",
        ),
    }
}

/// `GET /reports/authenticationMethods/userRegistrationDetails`: each user's MFA registration,
/// paged like every Graph collection.
pub(super) async fn registration_details(
    State(sandbox): State<Sandbox>,
    Graph(tenant): Graph,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let pairs = crate::query(query.as_deref());
    let items = with_environment(&sandbox, tenant, |e| {
        e.users
            .iter()
            .map(|u| {
                let methods: Vec<&str> = u
                    .authentication_methods
                    .iter()
                    .filter_map(|m| match m.kind {
                        AuthMethodKind::Password => None,
                        AuthMethodKind::MicrosoftAuthenticator => {
                            Some("microsoftAuthenticatorPush")
                        }
                        AuthMethodKind::Phone => Some("mobilePhone"),
                        AuthMethodKind::SoftwareOath => Some("softwareOneTimePasscode"),
                    })
                    .collect();
                let admin = e.roles.iter().any(|r| r.members.contains(&u.id));
                json!({
                    "id": u.id,
                    "userPrincipalName": u.user_principal_name,
                    "userDisplayName": u.display_name,
                    "userType": "member",
                    "isAdmin": admin,
                    "isMfaRegistered": !methods.is_empty(),
                    "isMfaCapable": !methods.is_empty(),
                    "isPasswordlessCapable": false,
                    "isSsprCapable": !methods.is_empty(),
                    "isSsprEnabled": true,
                    "isSsprRegistered": !methods.is_empty(),
                    "isSystemPreferredAuthenticationMethodEnabled": true,
                    "methodsRegistered": methods,
                    "lastUpdatedDateTime": u.created,
                })
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    graph_collection(
        &sandbox,
        &headers,
        "reports/authenticationMethods/userRegistrationDetails",
        "reports/authenticationMethods/userRegistrationDetails",
        items,
        &pairs,
        (100, 999),
    )
}

/// `GET /users/{id}/memberOf`: the groups and directory roles the user is a direct member of,
/// paged like every Graph collection.
pub(super) async fn member_of(
    State(sandbox): State<Sandbox>,
    Graph(tenant): Graph,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let pairs = crate::query(query.as_deref());
    let found = with_environment(&sandbox, tenant, |e| {
        let user = e.user(&id)?;
        let groups = e
            .groups
            .iter()
            .filter(|g| g.members.contains(&user.id))
            .map(crate::environment::SimGroup::to_vendor);
        let roles = e
            .roles
            .iter()
            .filter(|r| r.members.contains(&user.id))
            .map(|r| json!({"@odata.type": "#microsoft.graph.directoryRole", "id": r.id, "displayName": r.display_name, "roleTemplateId": r.role_template_id}));
        Some((user.id.clone(), groups.chain(roles).collect::<Vec<_>>()))
    })
    .await
    .flatten();
    let Some((user_id, items)) = found else {
        return resource_not_found(&sandbox, &id);
    };
    graph_collection(
        &sandbox,
        &headers,
        &format!("users/{user_id}/memberOf"),
        "directoryObjects",
        items,
        &pairs,
        (100, 999),
    )
}

/// `GET /groups`: the directory's groups, paged (default 100, at most 999).
pub(super) async fn groups(
    State(sandbox): State<Sandbox>,
    Graph(tenant): Graph,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let pairs = crate::query(query.as_deref());
    let items = with_environment(&sandbox, tenant, |e| {
        e.groups
            .iter()
            .map(crate::environment::SimGroup::to_vendor)
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    graph_collection(
        &sandbox,
        &headers,
        "groups",
        "groups",
        items,
        &pairs,
        (100, 999),
    )
}

/// A user as a member of a group or role lists it.
pub(super) fn user_reference(u: &crate::environment::SimUser) -> Value {
    json!({"@odata.type": "#microsoft.graph.user", "id": u.id, "displayName": u.display_name, "userPrincipalName": u.user_principal_name})
}

/// `GET /groups/{id}/members`: the group's direct members, paged (default 100, at most 999).
pub(super) async fn group_members(
    State(sandbox): State<Sandbox>,
    Graph(tenant): Graph,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let pairs = crate::query(query.as_deref());
    let found = with_environment(&sandbox, tenant, |e| {
        let group = e.group(&id)?;
        Some((
            group.id.clone(),
            group
                .members
                .iter()
                .filter_map(|m| e.user(m))
                .map(user_reference)
                .collect::<Vec<_>>(),
        ))
    })
    .await
    .flatten();
    let Some((group_id, members)) = found else {
        return resource_not_found(&sandbox, &id);
    };
    graph_collection(
        &sandbox,
        &headers,
        &format!("groups/{group_id}/members"),
        "directoryObjects",
        members,
        &pairs,
        (100, 999),
    )
}

/// `GET /groups/{id}`.
pub(super) async fn group(
    State(sandbox): State<Sandbox>,
    Graph(tenant): Graph,
    Path(id): Path<String>,
) -> Response {
    match with_environment(&sandbox, tenant, |e| {
        e.group(&id).map(crate::environment::SimGroup::to_vendor)
    })
    .await
    .flatten()
    {
        Some(mut group) => {
            group["@odata.context"] =
                json!("https://graph.microsoft.com/v1.0/$metadata#groups/$entity");
            Json(group).into_response()
        }
        None => resource_not_found(&sandbox, &id),
    }
}

/// `POST /groups/{id}/members/$ref` with `{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/{user}"}`:
/// 204; 400 when the user is already a member, as the service answers.
pub(super) async fn add_member(
    State(sandbox): State<Sandbox>,
    Graph(tenant): Graph,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let reference = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("@odata.id")?.as_str().map(str::to_owned));
    let Some(member) = reference
        .as_deref()
        .and_then(|r| r.rsplit_once("/directoryObjects/"))
        .map(|(_, member)| member.to_owned())
    else {
        return graph_error(
            &sandbox,
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "Invalid object identifier in '@odata.id'.",
        );
    };
    enum Outcome {
        Added,
        NoGroup,
        NoUser,
        AlreadyMember,
    }
    let outcome = sandbox
        .mutate(tenant, |e| {
            let Some(user_id) = e.user(&member).map(|u| u.id.clone()) else {
                return Outcome::NoUser;
            };
            let Some(group) = e.groups.iter_mut().find(|g| g.id == id) else {
                return Outcome::NoGroup;
            };
            if group.members.contains(&user_id) {
                return Outcome::AlreadyMember;
            }
            group.members.push(user_id);
            Outcome::Added
        })
        .await;
    match outcome {
        Ok(Outcome::Added) => StatusCode::NO_CONTENT.into_response(),
        Ok(Outcome::NoGroup) | Err(_) => resource_not_found(&sandbox, &id),
        Ok(Outcome::NoUser) => resource_not_found(&sandbox, &member),
        Ok(Outcome::AlreadyMember) => graph_error(
            &sandbox,
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "One or more added object references already exist for the following modified properties: 'members'.",
        ),
    }
}

/// `DELETE /groups/{id}/members/{member}/$ref`: 204; 404 when the user is not a member.
pub(super) async fn remove_member(
    State(sandbox): State<Sandbox>,
    Graph(tenant): Graph,
    Path((id, member)): Path<(String, String)>,
) -> Response {
    let removed = sandbox
        .mutate(tenant, |e| {
            let user_id = e.user(&member).map(|u| u.id.clone())?;
            let group = e.groups.iter_mut().find(|g| g.id == id)?;
            let index = group.members.iter().position(|m| *m == user_id)?;
            group.members.remove(index);
            Some(())
        })
        .await;
    match removed {
        Ok(Some(())) => StatusCode::NO_CONTENT.into_response(),
        Ok(None) | Err(_) => resource_not_found(&sandbox, &member),
    }
}

pub(super) async fn directory_roles(
    State(sandbox): State<Sandbox>,
    Graph(tenant): Graph,
) -> Response {
    let roles: Vec<Value> = with_environment(&sandbox, tenant, |e| {
        e.roles
            .iter()
            .map(|r| json!({"id": r.id, "displayName": r.display_name, "description": null, "roleTemplateId": r.role_template_id, "deletedDateTime": null}))
            .collect()
    })
    .await
    .unwrap_or_default();
    // Directory roles are not paged.
    Json(json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#directoryRoles", "value": roles})).into_response()
}

pub(super) async fn role_members(
    State(sandbox): State<Sandbox>,
    Graph(tenant): Graph,
    Path(id): Path<String>,
) -> Response {
    let members = with_environment(&sandbox, tenant, |e| {
        let role = e
            .roles
            .iter()
            .find(|r| r.id == id || id == format!("roleTemplateId={}", r.role_template_id))?;
        Some(
            role.members
                .iter()
                .filter_map(|m| e.user(m))
                .map(user_reference)
                .collect::<Vec<_>>(),
        )
    })
    .await
    .flatten();
    match members {
        Some(members) => Json(json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#directoryObjects", "value": members})).into_response(),
        None => graph_error(
            &sandbox,
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."),
        ),
    }
}

/// Sign-ins, newest first; default and maximum page size 1,000.
pub(super) async fn sign_ins(
    State(sandbox): State<Sandbox>,
    Graph(tenant): Graph,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let pairs = crate::query(query.as_deref());
    let filter = match graph_filter(
        &sandbox,
        &pairs,
        &[
            "createdDateTime",
            "userPrincipalName",
            "userId",
            "appId",
            "status/errorCode",
            "location/city",
        ],
    ) {
        Ok(filter) => filter,
        Err(response) => return response,
    };
    let mut items: Vec<Value> = with_environment(&sandbox, tenant, |e| e.sign_ins.clone())
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|s| filter.matches(s))
        .collect();
    items.sort_by(|a, b| {
        b["createdDateTime"]
            .as_str()
            .cmp(&a["createdDateTime"].as_str())
    });
    graph_collection(
        &sandbox,
        &headers,
        "auditLogs/signIns",
        "auditLogs/signIns",
        items,
        &pairs,
        (1000, 1000),
    )
}

pub(super) async fn security_alerts(
    State(sandbox): State<Sandbox>,
    Graph(tenant): Graph,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let pairs = crate::query(query.as_deref());
    let filter = match graph_filter(
        &sandbox,
        &pairs,
        &[
            "assignedTo",
            "classification",
            "determination",
            "createdDateTime",
            "lastUpdateDateTime",
            "severity",
            "serviceSource",
            "status",
        ],
    ) {
        Ok(filter) => filter,
        Err(response) => return response,
    };
    let items: Vec<Value> = with_environment(&sandbox, tenant, |e| e.security_alerts.clone())
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|a| filter.matches(a))
        .collect();
    graph_collection(
        &sandbox,
        &headers,
        "security/alerts_v2",
        "security/alerts_v2",
        items,
        &pairs,
        (100, 2000),
    )
}

pub(super) async fn graph_unknown(
    State(sandbox): State<Sandbox>,
    _: Graph,
    Path(rest): Path<String>,
) -> Response {
    let segment = rest.split('/').next_back().unwrap_or_default();
    graph_error(
        &sandbox,
        StatusCode::BAD_REQUEST,
        "BadRequest",
        &format!("Resource not found for the segment '{segment}'."),
    )
}
