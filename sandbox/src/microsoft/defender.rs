//! Defender for Endpoint: machines, alerts and machine actions (isolation), with its OData
//! paging and filters.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::*;

/// A Defender machine action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimMachineAction {
    pub id: String,
    /// `Isolate` or `Unisolate`.
    pub kind: String,
    pub scope: Option<String>,
    pub status: String,
    pub machine_id: String,
    pub computer_dns_name: String,
    pub requestor: String,
    pub requestor_comment: String,
    pub created: DateTime<Utc>,
    pub last_update: DateTime<Utc>,
    /// Status reads so far; the action advances one step per read.
    pub polls: u32,
    /// Ends `Failed` instead of `Succeeded` (an injected fault).
    pub will_fail: bool,
}

impl SimMachineAction {
    #[must_use]
    pub fn to_vendor(&self) -> Value {
        json!({
            "id": self.id,
            "type": self.kind,
            "scope": self.scope,
            "requestor": self.requestor,
            "requestorComment": self.requestor_comment,
            "requestSource": "PublicApi",
            "status": self.status,
            "machineId": self.machine_id,
            "computerDnsName": self.computer_dns_name,
            "creationDateTimeUtc": self.created,
            "lastUpdateDateTimeUtc": self.last_update,
            "cancellationRequestor": null,
            "cancellationComment": null,
            "cancellationDateTimeUtc": null,
            "errorHResult": 0,
            "title": null,
            "relatedFileInfo": null,
            "commands": [],
        })
    }
}

pub(super) const MACHINE_FILTERS: [&str; 14] = [
    "computerDnsName",
    "id",
    "version",
    "deviceValue",
    "aadDeviceId",
    "machineTags",
    "lastSeen",
    "exposureLevel",
    "onboardingStatus",
    "lastIpAddress",
    "healthStatus",
    "osPlatform",
    "riskScore",
    "rbacGroupId",
];
pub(super) const ALERT_FILTERS: [&str; 11] = [
    "alertCreationTime",
    "lastUpdateTime",
    "incidentId",
    "InvestigationId",
    "id",
    "assignedTo",
    "detectionSource",
    "lastEventTime",
    "status",
    "severity",
    "category",
];
pub(super) const MACHINE_ACTION_FILTERS: [&str; 6] = [
    "id",
    "status",
    "machineId",
    "type",
    "requestor",
    "creationDateTimeUtc",
];

/// A Defender collection: `$filter`, then `$skip` and `$top` (at most 10,000). No
/// `@odata.nextLink`: Defender documents paging by `$skip`.
pub(super) fn defender_collection(
    context: &str,
    items: Vec<Value>,
    pairs: &[(String, String)],
    filters: &[&str],
) -> Response {
    let filter = match query_value(pairs, "$filter").map(|f| Filter::parse(f, filters)) {
        None => Filter::default(),
        Some(Ok(filter)) => filter,
        Some(Err(message)) => {
            return defender_error(StatusCode::BAD_REQUEST, "ODataError", &message);
        }
    };
    let top = match query_value(pairs, "$top").map(str::parse::<usize>) {
        None => 10_000,
        Some(Ok(top)) if (1..=10_000).contains(&top) => top,
        Some(_) => {
            return defender_error(
                StatusCode::BAD_REQUEST,
                "ODataError",
                "The limit of '10000' for Top query has been exceeded or the value is not a positive integer.",
            );
        }
    };
    let skip = match query_value(pairs, "$skip").map(str::parse::<usize>) {
        None => 0,
        Some(Ok(skip)) => skip,
        Some(Err(_)) => {
            return defender_error(
                StatusCode::BAD_REQUEST,
                "ODataError",
                "Invalid value for $skip.",
            );
        }
    };
    let value = Window {
        offset: skip,
        size: top,
    }
    .slice(items.into_iter().filter(|item| filter.matches(item)));
    Json(json!({
        "@odata.context": format!("https://api.securitycenter.microsoft.com/api/$metadata#{context}"),
        "value": value,
    }))
    .into_response()
}

/// A Defender list's answer: what `read` finds in the customer's environment, as a
/// [`defender_collection`] of `context` filtered on `filters`. Every list is read so.
async fn defender_list(
    Admitted(sandbox, tenant): Defender,
    pairs: &[(String, String)],
    (context, filters): (&str, &[&str]),
    read: impl FnOnce(&Environment) -> Vec<Value>,
) -> Response {
    let items = with_environment(&sandbox, tenant, |e| read(e))
        .await
        .unwrap_or_default();
    defender_collection(context, items, pairs, filters)
}

pub(super) async fn machines(call: Defender, QueryPairs(pairs): QueryPairs) -> Response {
    defender_list(call, &pairs, ("Machines", &MACHINE_FILTERS), |e| {
        e.machines
            .iter()
            .filter(|m| m.edr_sensor)
            .map(crate::environment::SimMachine::to_vendor)
            .collect()
    })
    .await
}

pub(super) async fn machine(
    Admitted(sandbox, tenant): Defender,
    Path(id): Path<String>,
) -> Response {
    match with_environment(&sandbox, tenant, |e| {
        e.machine(&id)
            .map(crate::environment::SimMachine::to_vendor)
    })
    .await
    .flatten()
    {
        Some(machine) => Json(machine).into_response(),
        None => defender_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            &format!("Machine {id} was not found"),
        ),
    }
}

pub(super) async fn defender_alerts(call: Defender, QueryPairs(pairs): QueryPairs) -> Response {
    // Evidence is only included with `$expand=evidence`.
    let expand = query_value(&pairs, "$expand").is_some_and(|e| e.eq_ignore_ascii_case("evidence"));
    defender_list(call, &pairs, ("Alerts", &ALERT_FILTERS), |e| {
        e.defender_alerts
            .iter()
            .cloned()
            .map(|mut alert| {
                if !expand {
                    alert["evidence"] = json!([]);
                }
                alert
            })
            .collect()
    })
    .await
}

pub(super) async fn machine_actions(call: Defender, QueryPairs(pairs): QueryPairs) -> Response {
    let filters = ("MachineActions", MACHINE_ACTION_FILTERS.as_slice());
    defender_list(call, &pairs, filters, |e| {
        e.machine_actions
            .iter()
            .map(SimMachineAction::to_vendor)
            .collect()
    })
    .await
}

/// Reading an action advances it one step: `Pending` → `InProgress` → `Succeeded` (or
/// `Failed` when a fault says so); success applies the isolation to the machine.
pub(super) async fn machine_action(
    Admitted(sandbox, tenant): Defender,
    Path(id): Path<String>,
) -> Response {
    let now = sandbox.now();
    let result = sandbox
        .mutate(tenant, |e| {
            let index = e.machine_actions.iter().position(|a| a.id == id)?;
            let action = &mut e.machine_actions[index];
            if matches!(action.status.as_str(), "Pending" | "InProgress") {
                action.polls += 1;
                action.last_update = now;
                action.status = match (action.polls, action.will_fail) {
                    (1, _) => "InProgress".to_owned(),
                    (_, true) => "Failed".to_owned(),
                    _ => "Succeeded".to_owned(),
                };
                if action.status == "Succeeded" {
                    let isolate = action.kind == "Isolate";
                    let machine_id = action.machine_id.clone();
                    if let Some(machine) = e.machines.iter_mut().find(|m| m.id == machine_id) {
                        machine.isolated = isolate;
                    }
                }
            }
            Some(e.machine_actions[index].to_vendor())
        })
        .await;
    match result {
        Ok(Some(mut action)) => {
            action["@odata.context"] = json!(
                "https://api.securitycenter.microsoft.com/api/$metadata#MachineActions/$entity"
            );
            Json(action).into_response()
        }
        Ok(None) | Err(_) => defender_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            &format!("Machine action {id} was not found"),
        ),
    }
}

pub(super) async fn isolate(caller: Defender, id: Path<String>, body: Bytes) -> Response {
    machine_isolation(caller, id, &body, true).await
}

pub(super) async fn unisolate(caller: Defender, id: Path<String>, body: Bytes) -> Response {
    machine_isolation(caller, id, &body, false).await
}

/// `POST /api/machines/{id}/isolate|unisolate`: body parameter names are case-sensitive;
/// `Comment` is required; a second request while one is open answers 400.
pub(super) async fn machine_isolation(
    Admitted(sandbox, tenant): Defender,
    Path(id): Path<String>,
    body: &[u8],
    isolate: bool,
) -> Response {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
        return defender_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestBody",
            "Request body is not valid JSON.",
        );
    };
    let allowed: &[&str] = if isolate {
        &["Comment", "IsolationType"]
    } else {
        &["Comment"]
    };
    if let Some(unknown) = body.keys().find(|k| !allowed.contains(&k.as_str())) {
        return defender_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestBody",
            &format!("Request body contains an unknown parameter '{unknown}'."),
        );
    }
    let Some(comment) = body
        .get("Comment")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return defender_error(
            StatusCode::BAD_REQUEST,
            "MissingRequiredParameter",
            "Comment is a required parameter.",
        );
    };
    let scope = if isolate {
        match body
            .get("IsolationType")
            .and_then(Value::as_str)
            .unwrap_or("Full")
        {
            scope @ ("Full" | "Selective" | "UnManagedDevice") => Some(scope.to_owned()),
            other => {
                return defender_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidInput",
                    &format!("IsolationType '{other}' is not valid."),
                );
            }
        }
    } else {
        None
    };
    let now = sandbox.now();
    let outcome = sandbox
        .mutate(tenant, |e| {
            let machine = e.machine(&id).cloned().ok_or(StatusCode::NOT_FOUND)?;
            if e.machine_actions.iter().any(|a| {
                a.machine_id == machine.id
                    && matches!(a.kind.as_str(), "Isolate" | "Unisolate")
                    && matches!(a.status.as_str(), "Pending" | "InProgress")
            }) {
                return Err(StatusCode::BAD_REQUEST);
            }
            if e.take_fault(&Fault::RefuseNextMachineAction {
                machine_id: machine.id.clone(),
            }) {
                return Err(StatusCode::FORBIDDEN);
            }
            let fault = Fault::FailNextMachineAction {
                machine_id: machine.id.clone(),
            };
            let will_fail = e.take_fault(&fault);
            let action = SimMachineAction {
                id: e.next_guid("machine-action"),
                kind: if isolate { "Isolate" } else { "Unisolate" }.to_owned(),
                scope,
                status: "Pending".to_owned(),
                machine_id: machine.id.clone(),
                computer_dns_name: machine.computer_dns_name,
                requestor: format!("steward-app@{}", e.domain),
                requestor_comment: comment,
                created: now,
                last_update: now,
                polls: 0,
                will_fail,
            };
            let vendor = action.to_vendor();
            e.machine_actions.push(action);
            Ok(vendor)
        })
        .await;
    match outcome {
        Ok(Ok(action)) => (StatusCode::CREATED, Json(action)).into_response(),
        Ok(Err(StatusCode::BAD_REQUEST)) => defender_error(
            StatusCode::BAD_REQUEST,
            "ActiveRequestAlreadyExists",
            "Action is already in progress",
        ),
        Ok(Err(StatusCode::FORBIDDEN)) => defender_error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "The application does not have any of the required application roles (Machine.Isolate) to access the resource.",
        ),
        Ok(Err(_)) | Err(_) => defender_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            &format!("Machine {id} was not found"),
        ),
    }
}

pub(super) async fn defender_unknown(_: Defender) -> Response {
    defender_error(
        StatusCode::NOT_FOUND,
        "NotFound",
        "The requested resource was not found.",
    )
}
