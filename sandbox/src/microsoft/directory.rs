//! Microsoft Graph beyond users: authentication methods and their registration report, group
//! and role memberships, groups, directory roles, sign-ins and security alerts.

use super::{graph::*, *};

/// `GET /users/{id}/authentication/methods`: every method of the user, password included (not
/// paged).
pub(super) async fn authentication_methods(
    Admitted(sandbox, tenant): GraphCall,
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
    Admitted(sandbox, tenant): GraphCall,
    Path((id, collection, method_id)): Path<(String, String, String)>,
) -> Response {
    let bad_request =
        |message: &str| graph_error(&sandbox, StatusCode::BAD_REQUEST, "badRequest", message);
    let deleted = sandbox
        .mutate(tenant, |e| {
            let user = e
                .user_mut(&id)
                .ok_or_else(|| resource_not_found(&sandbox, &id))?;
            let index = user
                .authentication_methods
                .iter()
                .position(|m| m.id == method_id && m.kind.collection() == collection)
                .ok_or_else(|| {
                    graph_error(
                        &sandbox,
                        StatusCode::NOT_FOUND,
                        "itemNotFound",
                        &format!(
                            "The authentication method '{method_id}' was not found in '{collection}'."
                        ),
                    )
                })?;
            let method = &user.authentication_methods[index];
            if method.kind == AuthMethodKind::Password {
                return Err(bad_request(
                    "The password authentication method cannot be deleted.",
                ));
            }
            let others = user
                .authentication_methods
                .iter()
                .filter(|m| m.kind != AuthMethodKind::Password && m.id != method_id)
                .count();
            if method.default && others > 0 {
                return Err(bad_request(
                    "Cannot delete default method with other methods configured. Please change default method before deletion.",
                ));
            }
            user.authentication_methods.remove(index);
            Ok(())
        })
        .await;
    no_content(&sandbox, &id, deleted)
}

/// `GET /reports/authenticationMethods/userRegistrationDetails`: each user's MFA registration,
/// paged like every Graph collection.
pub(super) async fn registration_details(list: Listing) -> Response {
    let items = list
        .read(|e| {
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
    let path = "reports/authenticationMethods/userRegistrationDetails";
    list.page((path, path), items, (100, 999))
}

/// `GET /users/{id}/memberOf`: the groups and directory roles the user is a direct member of,
/// paged like every Graph collection.
pub(super) async fn member_of(list: Listing, Path(id): Path<String>) -> Response {
    let found = list.read(|e| {
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
        return list.not_found(&id);
    };
    let path = format!("users/{user_id}/memberOf");
    list.page((&path, "directoryObjects"), items, (100, 999))
}

/// `GET /groups`: the directory's groups, paged (default 100, at most 999).
pub(super) async fn groups(list: Listing) -> Response {
    let groups = list.read(|e| {
        e.groups
            .iter()
            .map(crate::environment::SimGroup::to_vendor)
            .collect()
    });
    list.page(
        ("groups", "groups"),
        groups.await.unwrap_or_default(),
        (100, 999),
    )
}

/// The users among `members`, as a group or role lists its members.
fn member_references(environment: &Environment, members: &[String]) -> Vec<Value> {
    members
        .iter()
        .filter_map(|m| environment.user(m))
        .map(|u| json!({"@odata.type": "#microsoft.graph.user", "id": u.id, "displayName": u.display_name, "userPrincipalName": u.user_principal_name}))
        .collect()
}

/// `GET /groups/{id}/members`: the group's direct members, paged (default 100, at most 999).
pub(super) async fn group_members(list: Listing, Path(id): Path<String>) -> Response {
    let found = list
        .read(|e| {
            let group = e.group(&id)?;
            Some((group.id.clone(), member_references(e, &group.members)))
        })
        .await
        .flatten();
    match found {
        Some((group_id, members)) => {
            let path = format!("groups/{group_id}/members");
            list.page((&path, "directoryObjects"), members, (100, 999))
        }
        None => list.not_found(&id),
    }
}

/// `GET /groups/{id}`.
pub(super) async fn group(
    Admitted(sandbox, tenant): GraphCall,
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
    Admitted(sandbox, tenant): GraphCall,
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
    let added = sandbox
        .mutate(tenant, |e| {
            let user_id = e
                .user(&member)
                .map(|u| u.id.clone())
                .ok_or_else(|| resource_not_found(&sandbox, &member))?;
            let group = e
                .groups
                .iter_mut()
                .find(|g| g.id == id)
                .ok_or_else(|| resource_not_found(&sandbox, &id))?;
            if group.members.contains(&user_id) {
                return Err(graph_error(
                    &sandbox,
                    StatusCode::BAD_REQUEST,
                    "Request_BadRequest",
                    "One or more added object references already exist for the following modified properties: 'members'.",
                ));
            }
            group.members.push(user_id);
            Ok(())
        })
        .await;
    no_content(&sandbox, &id, added)
}

/// `DELETE /groups/{id}/members/{member}/$ref`: 204; 404 when the user is not a member.
pub(super) async fn remove_member(
    Admitted(sandbox, tenant): GraphCall,
    Path((id, member)): Path<(String, String)>,
) -> Response {
    let removed = sandbox
        .mutate(tenant, |e| {
            let not_member = || resource_not_found(&sandbox, &member);
            let user_id = e
                .user(&member)
                .map(|u| u.id.clone())
                .ok_or_else(not_member)?;
            let group = e
                .groups
                .iter_mut()
                .find(|g| g.id == id)
                .ok_or_else(not_member)?;
            let index = group
                .members
                .iter()
                .position(|m| *m == user_id)
                .ok_or_else(not_member)?;
            group.members.remove(index);
            Ok(())
        })
        .await;
    no_content(&sandbox, &member, removed)
}

pub(super) async fn directory_roles(Admitted(sandbox, tenant): GraphCall) -> Response {
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
    Admitted(sandbox, tenant): GraphCall,
    Path(id): Path<String>,
) -> Response {
    let members = with_environment(&sandbox, tenant, |e| {
        let role = e
            .roles
            .iter()
            .find(|r| r.id == id || id == format!("roleTemplateId={}", r.role_template_id))?;
        Some(member_references(e, &role.members))
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

/// Sign-ins Entra ID has recorded by now (see `Environment::sign_in_latency_seconds`), newest
/// first; default and maximum page size 1,000.
pub(super) async fn sign_ins(list: Listing) -> Answer {
    let allowed = [
        "createdDateTime",
        "userPrincipalName",
        "userId",
        "appId",
        "status/errorCode",
        "location/city",
    ];
    let now = list.now();
    let mut items = list
        .matching(&allowed, |e| {
            let recorded_by = now - chrono::Duration::seconds(e.sign_in_latency_seconds);
            e.sign_ins
                .iter()
                .filter(|s| {
                    s["createdDateTime"]
                        .as_str()
                        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                        .is_none_or(|t| t <= recorded_by)
                })
                .cloned()
                .collect()
        })
        .await?;
    items.sort_by(|a, b| {
        b["createdDateTime"]
            .as_str()
            .cmp(&a["createdDateTime"].as_str())
    });
    let path = "auditLogs/signIns";
    Ok(list.page((path, path), items, (1000, 1000)))
}

/// Directory audit records, newest first; default and maximum page size 1,000.
pub(super) async fn directory_audits(list: Listing) -> Answer {
    let allowed = [
        "activityDateTime",
        "activityDisplayName",
        "category",
        "loggedByService",
        "result",
        "initiatedBy/user/id",
    ];
    let mut items = list
        .matching(&allowed, |e| e.directory_audits.clone())
        .await?;
    items.sort_by(|a, b| {
        b["activityDateTime"]
            .as_str()
            .cmp(&a["activityDateTime"].as_str())
    });
    let path = "auditLogs/directoryAudits";
    Ok(list.page((path, path), items, (1000, 1000)))
}

pub(super) async fn security_alerts(list: Listing) -> Answer {
    let allowed = [
        "assignedTo",
        "classification",
        "determination",
        "createdDateTime",
        "lastUpdateDateTime",
        "severity",
        "serviceSource",
        "status",
    ];
    let items = list
        .matching(&allowed, |e| e.security_alerts.clone())
        .await?;
    let path = "security/alerts_v2";
    Ok(list.page((path, path), items, (100, 2000)))
}

pub(super) async fn graph_unknown(
    Admitted(sandbox, _): GraphCall,
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
