//! Microsoft Entra's directory audit log (Microsoft Graph `GET /auditLogs/directoryAudits`,
//! `AuditLog.Read.All`) as OCSF: changes to a user account (created, enabled or disabled,
//! password reset or changed, security info registered or deleted, updated) as Account Change
//! (3001), every other directory change (roles, groups, applications, policies) as API Activity
//! (6003). Each event keeps Graph's record under `unmapped`, where the Sigma rules written for
//! Entra's audit logs look.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use steward_domain::observations::{EntityRef, ObservedEvent, OcsfClass};

use crate::{
    contract::ConnectorError,
    ocsf::{self, AccountActivity, Actor, ApiVerb, AuditEntry, Product},
};

/// The product of Entra's audit events (the detection stage reads Entra's events by it).
const ENTRA: Product = Product {
    name: "Microsoft Entra ID",
    vendor_name: "Microsoft",
};

/// A `directoryAudit` record, as much as the mapping needs.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DirectoryAudit {
    id: String,
    activity_date_time: DateTime<Utc>,
    activity_display_name: String,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    operation_type: Option<String>,
    #[serde(default)]
    result: Option<String>,
    #[serde(default)]
    result_reason: Option<String>,
    #[serde(default)]
    initiated_by: Option<InitiatedBy>,
    #[serde(default)]
    target_resources: Vec<TargetResource>,
}

#[derive(Debug, Deserialize)]
struct InitiatedBy {
    #[serde(default)]
    user: Option<AuditUser>,
    #[serde(default)]
    app: Option<AuditApp>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuditUser {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    user_principal_name: Option<String>,
    #[serde(default)]
    ip_address: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuditApp {
    #[serde(default)]
    service_principal_id: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TargetResource {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    user_principal_name: Option<String>,
}

/// What an audited activity did to the user account it names, for activities of Entra's
/// `UserManagement` category; `None` for the rest.
fn account_activity(activity: &str) -> Option<AccountActivity> {
    Some(match activity {
        "Add user" => AccountActivity::Create,
        "Enable account" => AccountActivity::Enable,
        "Disable account" => AccountActivity::Disable,
        "Delete user" | "Hard delete user" => AccountActivity::Delete,
        "Reset user password" | "Reset password (by admin)" | "Reset password (self-service)" => {
            AccountActivity::PasswordReset
        }
        "Change user password" | "Change password (self-service)" => {
            AccountActivity::PasswordChange
        }
        "User registered security info" | "Admin registered security info" => {
            AccountActivity::MfaFactorEnable
        }
        "User deleted security info" | "Admin deleted security info" => {
            AccountActivity::MfaFactorDisable
        }
        "Update user" => AccountActivity::Other,
        _ => return None,
    })
}

/// Graph's `operationType` as an API verb.
fn verb(operation_type: Option<&str>) -> ApiVerb {
    match operation_type {
        Some("Add" | "Assign") => ApiVerb::Create,
        Some("Update") => ApiVerb::Update,
        Some("Delete" | "Unassign") => ApiVerb::Delete,
        _ => ApiVerb::Other,
    }
}

/// One directory audit record as an event.
///
/// # Errors
/// [`ConnectorError::Protocol`] for a record without its id, time or activity.
pub(super) fn event(raw: Value) -> Result<ObservedEvent, ConnectorError> {
    let record: DirectoryAudit = serde_json::from_value(raw.clone())
        .map_err(|e| ConnectorError::Protocol(format!("unreadable directory audit: {e}")))?;
    let initiator = record.initiated_by.as_ref();
    let user = initiator.and_then(|i| i.user.as_ref());
    let app = initiator.and_then(|i| i.app.as_ref());
    let actor = match (user, app) {
        (Some(user), _) if user.id.is_some() => Some(Actor::User {
            uid: user.id.as_deref().unwrap_or_default(),
            name: user
                .user_principal_name
                .as_deref()
                .or(user.id.as_deref())
                .unwrap_or_default(),
        }),
        (_, Some(app)) if app.display_name.is_some() => Some(Actor::App {
            uid: app.service_principal_id.as_deref(),
            name: app.display_name.as_deref().unwrap_or_default(),
        }),
        _ => None,
    };
    let entry = AuditEntry {
        product: ENTRA,
        uid: &record.id,
        time: record.activity_date_time,
        operation: &record.activity_display_name,
        actor,
        ip: user
            .and_then(|u| u.ip_address.as_deref())
            .filter(|ip| !ip.is_empty()),
        success: record.result.as_deref().is_none_or(|r| r == "success"),
        message: record.result_reason.as_deref().filter(|r| !r.is_empty()),
        raw: &raw,
    };
    let target_user = record
        .target_resources
        .iter()
        .find(|t| t.kind.as_deref() == Some("User") && t.id.is_some());
    let account = (record.category.as_deref() == Some("UserManagement"))
        .then(|| account_activity(&record.activity_display_name))
        .flatten();
    let (class, ocsf) = match (account, target_user) {
        (Some(activity), Some(target)) => {
            let id = target.id.as_deref().unwrap_or_default();
            let name = target.user_principal_name.as_deref().unwrap_or(id);
            (
                OcsfClass::AccountChange,
                ocsf::account_change(&entry, activity, (id, name)),
            )
        }
        _ => {
            let resources: Vec<(&str, &str, Option<&str>)> = record
                .target_resources
                .iter()
                .filter_map(|t| {
                    Some((
                        t.id.as_deref()?,
                        t.kind.as_deref().unwrap_or("Other"),
                        t.user_principal_name
                            .as_deref()
                            .or(t.display_name.as_deref()),
                    ))
                })
                .collect();
            (
                OcsfClass::ApiActivity,
                ocsf::api_activity(&entry, verb(record.operation_type.as_deref()), &resources),
            )
        }
    };
    // The event is about the users it changed, and the person who changed them.
    let entities: Vec<EntityRef> = record
        .target_resources
        .iter()
        .filter(|t| t.kind.as_deref() == Some("User"))
        .filter_map(|t| t.id.clone())
        .chain(user.and_then(|u| u.id.clone()))
        .map(|external_id| EntityRef::Identity { external_id })
        .fold(Vec::new(), |mut unique, entity| {
            if !unique.contains(&entity) {
                unique.push(entity);
            }
            unique
        });
    Ok(ObservedEvent {
        external_id: record.id,
        class,
        time: record.activity_date_time,
        severity_id: 1,
        entities,
        ocsf,
        raw,
        stream: steward_domain::observations::EventStream::EntraDirectoryAudits,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn reset_password() -> Value {
        json!({
            "id": "Directory_7c8e2a1f-4b61-4d3e-9a52-0d6c3f1e8b90_AAAAA_1",
            "category": "UserManagement",
            "correlationId": "b1c2d3e4-0000-4000-8000-000000000001",
            "result": "success",
            "resultReason": "",
            "activityDisplayName": "Reset user password",
            "activityDateTime": "2026-12-01T09:15:00Z",
            "loggedByService": "Core Directory",
            "operationType": "Update",
            "initiatedBy": {"user": {"id": "admin-1", "userPrincipalName": "it@contoso.com", "ipAddress": "203.0.113.7"}, "app": null},
            "targetResources": [{"id": "user-9", "displayName": null, "type": "User", "userPrincipalName": "dana@contoso.com", "modifiedProperties": []}],
            "additionalDetails": []
        })
    }

    #[test]
    fn a_password_reset_is_an_account_change_about_both_people() {
        let event = event(reset_password()).unwrap();
        assert_eq!(event.class, OcsfClass::AccountChange);
        assert_eq!(event.ocsf["activity_id"], 4);
        assert_eq!(event.ocsf["type_uid"], 300_104);
        assert_eq!(event.ocsf["user"]["name"], "dana@contoso.com");
        assert_eq!(event.ocsf["actor"]["user"]["name"], "it@contoso.com");
        assert_eq!(event.ocsf["src_endpoint"]["ip"], "203.0.113.7");
        assert_eq!(
            event.ocsf["metadata"]["product"]["name"],
            "Microsoft Entra ID"
        );
        assert_eq!(event.ocsf["unmapped"]["loggedByService"], "Core Directory");
        assert_eq!(
            event.entities,
            [
                EntityRef::Identity {
                    external_id: "user-9".to_owned()
                },
                EntityRef::Identity {
                    external_id: "admin-1".to_owned()
                }
            ]
        );
    }

    #[test]
    fn a_role_assignment_by_an_app_is_api_activity() {
        let mut raw = reset_password();
        raw["category"] = json!("RoleManagement");
        raw["activityDisplayName"] = json!("Add member to role");
        raw["operationType"] = json!("Assign");
        raw["result"] = json!("failure");
        raw["resultReason"] = json!("Insufficient privileges");
        raw["initiatedBy"] = json!({"user": null, "app": {"servicePrincipalId": "sp-1", "displayName": "Provisioning"}});
        let event = event(raw).unwrap();
        assert_eq!(event.class, OcsfClass::ApiActivity);
        assert_eq!(event.ocsf["activity_id"], 1);
        assert_eq!(event.ocsf["api"]["operation"], "Add member to role");
        assert_eq!(event.ocsf["actor"]["app_name"], "Provisioning");
        assert_eq!(event.ocsf["status_id"], 2);
        assert_eq!(event.ocsf["message"], "Insufficient privileges");
        assert_eq!(event.ocsf["resources"][0]["uid"], "user-9");
        assert_eq!(
            event.ocsf["src_endpoint"]["svc_name"], "Microsoft Entra ID",
            "with no one to say where from, the directory itself is the source"
        );
    }

    #[test]
    fn a_record_without_its_time_is_refused() {
        let mut raw = reset_password();
        raw.as_object_mut().unwrap().remove("activityDateTime");
        assert!(matches!(event(raw), Err(ConnectorError::Protocol(_))));
    }
}
