//! Microsoft Graph's users: listing, `users/delta` with its links, reading and changing one,
//! and revoking its sessions; and Graph's collection paging and filters.

use super::*;

/// A Graph collection request, admitted: the call, and the headers (for the host) and query its
/// paging and links are made of. An extractor, so each collection's handler only finds its items.
#[derive(FromRequestParts)]
#[from_request(state(Sandbox))]
pub(super) struct Listing {
    call: GraphCall,
    headers: HeaderMap,
    query: QueryPairs,
}

impl Listing {
    /// What `read` finds in the customer's directory; `None` when the customer is gone.
    pub(super) async fn read<T>(&self, read: impl FnOnce(&mut Environment) -> T) -> Option<T> {
        let Admitted(sandbox, tenant) = &self.call;
        with_environment(sandbox, *tenant, read).await
    }

    /// The sandbox's time now.
    pub(super) fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.call.0.now()
    }

    /// The items `read` finds that match the request's `$filter` over the `allowed` properties.
    pub(super) async fn matching(
        &self,
        allowed: &[&str],
        read: impl FnOnce(&mut Environment) -> Vec<Value>,
    ) -> Result<Vec<Value>, Response> {
        let filter = match query_value(&self.query.0, "$filter").map(|f| Filter::parse(f, allowed))
        {
            None => Filter::default(),
            Some(Ok(filter)) => filter,
            Some(Err(message)) => {
                return Err(graph_error(
                    &self.call.0,
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    &message,
                ));
            }
        };
        let items = self.read(read).await.unwrap_or_default();
        Ok(items
            .into_iter()
            .filter(|item| filter.matches(item))
            .collect())
    }

    /// Applies `$select` to `users`, or Graph's default property set when there is none.
    pub(super) fn select_users<'u>(
        &self,
        users: impl IntoIterator<Item = &'u Value>,
    ) -> Result<Vec<Value>, Response> {
        users
            .into_iter()
            .map(|user| select_user(&self.call.0, user, &self.query.0))
            .collect()
    }

    /// Graph's 404 for `id`, the collection's parent, when it does not exist.
    pub(super) fn not_found(&self, id: &str) -> Response {
        resource_not_found(&self.call.0, id)
    }

    /// The page the request asks for of `items`, the collection at `path` (see
    /// [`graph_collection`]).
    pub(super) fn page(
        &self,
        (path, context): (&str, &str),
        items: Vec<Value>,
        sizes: (usize, usize),
    ) -> Response {
        graph_collection(self, (path, context), items, sizes)
    }
}

/// Graph collection paging: `$top` within `1..=max` (default `default`), `@odata.nextLink` with
/// an opaque `$skiptoken`, and no `$skip`.
fn graph_collection(
    list: &Listing,
    (path, context): (&str, &str),
    items: Vec<Value>,
    (default, max): (usize, usize),
) -> Response {
    let (sandbox, pairs, host) = (&list.call.0, &list.query.0, kit::host(&list.headers));
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

pub(super) async fn users(list: Listing) -> Answer {
    let allowed = [
        "userPrincipalName",
        "accountEnabled",
        "department",
        "displayName",
        "id",
        "mail",
    ];
    let users = list
        .matching(&allowed, |e| {
            e.users
                .iter()
                .map(crate::environment::SimUser::to_vendor)
                .collect()
        })
        .await?;
    let items = list.select_users(&users)?;
    Ok(list.page(("users", "users"), items, (100, 999)))
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
pub(super) async fn users_delta(list: Listing) -> Response {
    let Admitted(sandbox, tenant) = &list.call;
    let (pairs, host) = (&list.query.0, kit::host(&list.headers));
    let now = sandbox.inner.clock.now();
    let expired = || {
        graph_error(
            sandbox,
            StatusCode::BAD_REQUEST,
            "syncStateNotFound",
            "The sync state generation is not found. The delta token is expired and data must be synchronized again.",
        )
    };
    let since = match query_value(pairs, "$deltatoken") {
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
    let skip = match query_value(pairs, "$skiptoken") {
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
                    sandbox,
                    StatusCode::BAD_REQUEST,
                    "Request_BadRequest",
                    "Invalid skip token.",
                );
            }
        },
    };
    let Some((generation, all)) = with_environment(sandbox, *tenant, |e| {
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
        return resource_not_found(sandbox, "users");
    };
    let (offset, start) = skip.unwrap_or((0, generation));
    let value = match list.select_users(all.iter().skip(offset).take(DELTA_PAGE)) {
        Ok(value) => value,
        Err(response) => return response,
    };
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
        if let Some(token) = query_value(pairs, "$deltatoken") {
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

/// A change's answer: 204 once made, the refusal that stopped it, or the 404 for `id` when the
/// customer is gone. Graph answers its changes so.
pub(super) fn no_content(
    sandbox: &Sandbox,
    id: &str,
    changed: Result<Result<(), Response>, SandboxError>,
) -> Response {
    match changed {
        Ok(Ok(())) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(refused)) => refused,
        Err(_) => resource_not_found(sandbox, id),
    }
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
    Admitted(sandbox, tenant): GraphCall,
    Path(id): Path<String>,
    QueryPairs(pairs): QueryPairs,
) -> Response {
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
    Admitted(sandbox, tenant): GraphCall,
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
            let user = e
                .user_mut(&id)
                .ok_or_else(|| resource_not_found(&sandbox, &id))?;
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
            Ok(())
        })
        .await;
    no_content(&sandbox, &id, updated)
}

/// `POST /users/{id}/revokeSignInSessions`: answers 200 with `{"value": true}`, as the service
/// does (documented as 204, a known issue).
pub(super) async fn revoke_sessions(
    Admitted(sandbox, tenant): GraphCall,
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
