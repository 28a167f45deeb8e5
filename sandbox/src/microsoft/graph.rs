//! Microsoft Graph's users: listing, `users/delta` with its links, reading and changing one,
//! and revoking its sessions; and Graph's collection paging and filters.

use super::*;

/// Graph collection paging: `$top` within `1..=max` (default `default`), `@odata.nextLink` with
/// an opaque `$skiptoken`, and no `$skip`.
pub(super) fn graph_collection(
    sandbox: &Sandbox,
    headers: &HeaderMap,
    path: &str,
    context: &str,
    items: Vec<Value>,
    pairs: &[(String, String)],
    (default, max): (usize, usize),
) -> Response {
    if query_value(pairs, "$skip").is_some() {
        return graph_error(
            sandbox,
            StatusCode::BAD_REQUEST,
            "Request_UnsupportedQuery",
            "'$skip' is not supported by the service.",
        );
    }
    let top = match query_value(pairs, "$top").map(str::parse::<usize>) {
        None => default,
        Some(Ok(top)) if (1..=max).contains(&top) => top,
        Some(_) => {
            return graph_error(
                sandbox,
                StatusCode::BAD_REQUEST,
                "Request_UnsupportedQuery",
                &format!(
                    "Invalid page size specified: '{}'. Must be between 1 and {max} inclusive.",
                    query_value(pairs, "$top").unwrap_or_default()
                ),
            );
        }
    };
    let offset = match query_value(pairs, "$skiptoken").map(odata::read_skip_token) {
        None => 0,
        Some(Some(offset)) => offset,
        Some(None) => {
            return graph_error(
                sandbox,
                StatusCode::BAD_REQUEST,
                "Request_BadRequest",
                "Invalid skip token.",
            );
        }
    };
    let total = items.len();
    let value = Window { offset, size: top }.slice(items);
    let mut body = json!({
        "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#{context}"),
        "value": value,
    });
    if offset + top < total {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        let mut next: Vec<(String, String)> = pairs
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("$skiptoken"))
            .cloned()
            .collect();
        next.push(("$skiptoken".to_owned(), odata::skip_token(offset + top)));
        let query = serde_urlencoded::to_string(&next).unwrap_or_default();
        body["@odata.nextLink"] = json!(format!("http://{host}/sandbox/graph/v1.0/{path}?{query}"));
    }
    Json(body).into_response()
}

pub(super) fn graph_filter(
    sandbox: &Sandbox,
    pairs: &[(String, String)],
    allowed: &[&str],
) -> Result<Filter, Response> {
    match query_value(pairs, "$filter").map(|f| Filter::parse(f, allowed)) {
        None => Ok(Filter::default()),
        Some(Ok(filter)) => Ok(filter),
        Some(Err(message)) => Err(graph_error(
            sandbox,
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &message,
        )),
    }
}

pub(super) const USER_PROPERTIES: [&str; 16] = [
    "id",
    "businessPhones",
    "displayName",
    "givenName",
    "surname",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "userPrincipalName",
    "department",
    "accountEnabled",
    "userType",
    "createdDateTime",
    "signInSessionsValidFromDateTime",
];

/// Applies `$select`, or Graph's default property set when there is none.
pub(super) fn select_user(
    sandbox: &Sandbox,
    user: &Value,
    pairs: &[(String, String)],
) -> Result<Value, Response> {
    let selected: Vec<&str> = match query_value(pairs, "$select") {
        Some(list) => list.split(',').map(str::trim).collect(),
        None => DEFAULT_USER_PROPERTIES.to_vec(),
    };
    if let Some(unknown) = selected
        .iter()
        .find(|p| !USER_PROPERTIES.iter().any(|k| k.eq_ignore_ascii_case(p)))
    {
        return Err(graph_error(
            sandbox,
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("Could not find a property named '{unknown}' on type 'microsoft.graph.user'."),
        ));
    }
    Ok(odata::select(user, &selected))
}

pub(super) async fn users(
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
            "userPrincipalName",
            "accountEnabled",
            "department",
            "displayName",
            "id",
            "mail",
        ],
    ) {
        Ok(filter) => filter,
        Err(response) => return response,
    };
    let all: Vec<Value> = with_environment(&sandbox, tenant, |e| {
        e.users
            .iter()
            .map(crate::environment::SimUser::to_vendor)
            .collect()
    })
    .await
    .unwrap_or_default();
    let mut items = Vec::new();
    for user in all.iter().filter(|u| filter.matches(u)) {
        match select_user(&sandbox, user, &pairs) {
            Ok(user) => items.push(user),
            Err(response) => return response,
        }
    }
    graph_collection(
        &sandbox,
        &headers,
        "users",
        "users",
        items,
        &pairs,
        (100, 999),
    )
}

/// How long a `users/delta` delta link stays good (Microsoft Graph's lifetime for identity
/// resources).
pub(super) const DELTA_LINK_LIFETIME_DAYS: i64 = 7;

/// Users per `users/delta` page.
pub(super) const DELTA_PAGE: usize = 100;

/// `GET /users/delta`: every user the first time, then through the `@odata.deltaLink` only
/// the users changed since it was issued. Pages carry `$skiptoken`
/// (`{offset}.{generation at the first page}`); the last page's delta link carries
/// `$deltatoken` (`{generation}.{issued, epoch seconds}`), refused as `syncStateNotFound` once
/// older than seven days. `$select` applies as on `/users` and is kept in the links.
pub(super) async fn users_delta(
    State(sandbox): State<Sandbox>,
    Graph(tenant): Graph,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let pairs = crate::query(query.as_deref());
    let now = sandbox.inner.clock.now();
    let expired = || {
        graph_error(
            &sandbox,
            StatusCode::BAD_REQUEST,
            "syncStateNotFound",
            "The sync state generation is not found. The delta token is expired and data must be synchronized again.",
        )
    };
    let since = match query_value(&pairs, "$deltatoken") {
        None => None,
        Some(token) => {
            let parsed = token.split_once('.').and_then(|(generation, issued)| {
                Some((generation.parse::<u64>().ok()?, issued.parse::<i64>().ok()?))
            });
            match parsed {
                Some((generation, issued))
                    if now.timestamp() - issued
                        <= chrono::Duration::days(DELTA_LINK_LIFETIME_DAYS).num_seconds() =>
                {
                    Some(generation)
                }
                _ => return expired(),
            }
        }
    };
    let skip = match query_value(&pairs, "$skiptoken") {
        None => None,
        Some(token) => match token.split_once('.').and_then(|(offset, generation)| {
            Some((
                offset.parse::<usize>().ok()?,
                generation.parse::<u64>().ok()?,
            ))
        }) {
            Some(skip) => Some(skip),
            None => {
                return graph_error(
                    &sandbox,
                    StatusCode::BAD_REQUEST,
                    "Request_BadRequest",
                    "Invalid skip token.",
                );
            }
        },
    };
    let Some((generation, all)) = with_environment(&sandbox, tenant, |e| {
        (
            e.user_generation,
            e.users
                .iter()
                .filter(|u| since.is_none_or(|g| u.changed > g))
                .map(crate::environment::SimUser::to_vendor)
                .collect::<Vec<_>>(),
        )
    })
    .await
    else {
        return resource_not_found(&sandbox, "users");
    };
    let (offset, start) = skip.unwrap_or((0, generation));
    let mut value = Vec::new();
    for user in all.iter().skip(offset).take(DELTA_PAGE) {
        match select_user(&sandbox, user, &pairs) {
            Ok(user) => value.push(user),
            Err(response) => return response,
        }
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let mut link: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| k != "$skiptoken" && k != "$deltatoken")
        .cloned()
        .collect();
    let mut body = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(id,displayName,userPrincipalName)",
        "value": value,
    });
    if offset + DELTA_PAGE < all.len() {
        if let Some(token) = query_value(&pairs, "$deltatoken") {
            link.push(("$deltatoken".to_owned(), token.to_owned()));
        }
        link.push((
            "$skiptoken".to_owned(),
            format!("{}.{start}", offset + DELTA_PAGE),
        ));
        let query = serde_urlencoded::to_string(&link).unwrap_or_default();
        body["@odata.nextLink"] = json!(format!(
            "http://{host}/sandbox/graph/v1.0/users/delta?{query}"
        ));
    } else {
        // Changes made while the pages were read come again next time.
        link.push((
            "$deltatoken".to_owned(),
            format!("{start}.{}", now.timestamp()),
        ));
        let query = serde_urlencoded::to_string(&link).unwrap_or_default();
        body["@odata.deltaLink"] = json!(format!(
            "http://{host}/sandbox/graph/v1.0/users/delta?{query}"
        ));
    }
    Json(body).into_response()
}

pub(super) fn resource_not_found(sandbox: &Sandbox, id: &str) -> Response {
    graph_error(
        sandbox,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        &format!(
            "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
        ),
    )
}

pub(super) async fn user(
    State(sandbox): State<Sandbox>,
    Graph(tenant): Graph,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let pairs = crate::query(query.as_deref());
    let Some(user) = with_environment(&sandbox, tenant, |e| {
        e.user(&id).map(crate::environment::SimUser::to_vendor)
    })
    .await
    .flatten() else {
        return resource_not_found(&sandbox, &id);
    };
    match select_user(&sandbox, &user, &pairs) {
        Ok(mut user) => {
            user["@odata.context"] =
                json!("https://graph.microsoft.com/v1.0/$metadata#users/$entity");
            Json(user).into_response()
        }
        Err(response) => response,
    }
}

/// `PATCH /users/{id}`: 204 with no body. Only the properties the sandbox models can change.
pub(super) async fn update_user(
    State(sandbox): State<Sandbox>,
    Graph(tenant): Graph,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Ok(Value::Object(changes)) = serde_json::from_slice::<Value>(&body) else {
        return graph_error(
            &sandbox,
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Unable to read JSON request payload.",
        );
    };
    for (key, value) in &changes {
        let valid = match key.as_str() {
            "accountEnabled" => value.is_boolean(),
            "displayName" | "jobTitle" | "department" => value.is_string(),
            _ => {
                return graph_error(
                    &sandbox,
                    StatusCode::BAD_REQUEST,
                    "Request_BadRequest",
                    &format!(
                        "Property '{key}' does not exist or cannot be updated on type 'microsoft.graph.user'."
                    ),
                );
            }
        };
        if !valid {
            return graph_error(
                &sandbox,
                StatusCode::BAD_REQUEST,
                "Request_BadRequest",
                &format!("Invalid value specified for property '{key}' of resource 'User'."),
            );
        }
    }
    let updated = sandbox
        .mutate(tenant, |e| {
            let reverted = e.user(&id).is_some_and(|user| {
                e.faults.contains(&Fault::RevertAccountWrites {
                    user_id: user.id.clone(),
                })
            });
            if !reverted && e.user(&id).is_some() {
                e.user_generation += 1;
            }
            let generation = e.user_generation;
            let user = e.user_mut(&id)?;
            if !reverted {
                user.changed = generation;
            }
            for (key, value) in &changes {
                match key.as_str() {
                    // An on-premises sync writes the old value back straight away.
                    "accountEnabled" if reverted => {}
                    "accountEnabled" => {
                        user.account_enabled = value.as_bool().unwrap_or(user.account_enabled);
                    }
                    "displayName" => {
                        user.display_name = value.as_str().unwrap_or_default().to_owned();
                    }
                    "jobTitle" => user.job_title = value.as_str().unwrap_or_default().to_owned(),
                    _ => user.department = value.as_str().unwrap_or_default().to_owned(),
                }
            }
            Some(())
        })
        .await;
    match updated {
        Ok(Some(())) => StatusCode::NO_CONTENT.into_response(),
        Ok(None) | Err(_) => resource_not_found(&sandbox, &id),
    }
}

/// `POST /users/{id}/revokeSignInSessions`: answers 200 with `{"value": true}`, as the service
/// does (documented as 204, a known issue).
pub(super) async fn revoke_sessions(
    State(sandbox): State<Sandbox>,
    Graph(tenant): Graph,
    Path(id): Path<String>,
) -> Response {
    let now = sandbox.now();
    let revoked = sandbox
        .mutate(tenant, |e| {
            let user_id = e.user(&id)?.id.clone();
            let dropped = e.take_fault(&Fault::DropNextRevocation { user_id });
            let user = e.user_mut(&id)?;
            if !dropped {
                user.sign_in_sessions_valid_from = now;
            }
            Some(())
        })
        .await;
    match revoked {
        Ok(Some(())) => Json(json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Edm.Boolean",
            "value": true
        }))
        .into_response(),
        Ok(None) | Err(_) => resource_not_found(&sandbox, &id),
    }
}
