//! Okta's System Log beyond sign-ins: changes to accounts (created, activated, suspended,
//! deactivated, deleted, password changed or reset, locked, unlocked) and to their factors as
//! OCSF Account Change (3001); changes to groups, admin roles, API tokens, policies and
//! applications as API Activity (6003). Each event keeps Okta's `LogEvent` under `unmapped`,
//! where the Sigma rules written for Okta look (`eventType`, `displayMessage`, …).

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use steward_domain::observations::{EntityRef, ObservedEvent, OcsfClass};

use crate::{
    contract::ConnectorError,
    ocsf::{self, AccountActivity, Actor, ApiVerb, AuditEntry, Product},
};

/// The System Log filter of what Steward reads: sign-ins, and the administrative changes that
/// account takeover and persistence leave behind.
pub(super) const FILTER: &str = "eventType eq \"user.session.start\" \
     or eventType sw \"user.lifecycle.\" or eventType sw \"user.account.\" \
     or eventType sw \"user.mfa.factor.\" or eventType eq \"user.authentication.auth_via_mfa\" \
     or eventType sw \"group.user_membership.\" or eventType sw \"iam.\" \
     or eventType sw \"system.api_token.\" or eventType sw \"system.idp.\" \
     or eventType sw \"policy.lifecycle.\" or eventType sw \"policy.rule.\" \
     or eventType eq \"policy.evaluate_sign_on\" or eventType sw \"application.lifecycle.\" \
     or eventType sw \"application.user_membership.\" or eventType sw \"app.generic.\" \
     or eventType sw \"zone.\" or eventType eq \"security.threat.detected\"";

const OKTA: Product = Product {
    name: "Okta",
    vendor_name: "Okta",
};

/// A `LogEvent`, as much as an audit event needs.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuditLogEvent {
    uuid: String,
    published: DateTime<Utc>,
    event_type: String,
    #[serde(default)]
    display_message: Option<String>,
    #[serde(default)]
    actor: Option<Party>,
    #[serde(default)]
    client: Option<Client>,
    #[serde(default)]
    outcome: Option<Outcome>,
    #[serde(default)]
    target: Option<Vec<Party>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Party {
    id: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    alternate_id: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Client {
    #[serde(default)]
    ip_address: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Outcome {
    #[serde(default)]
    result: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// What an event type does to the user account it targets; `None` for event types that are
/// not account changes.
fn account_activity(event_type: &str) -> Option<AccountActivity> {
    Some(match event_type {
        "user.lifecycle.create" => AccountActivity::Create,
        "user.lifecycle.activate" | "user.lifecycle.reactivate" | "user.lifecycle.unsuspend" => {
            AccountActivity::Enable
        }
        "user.lifecycle.suspend" | "user.lifecycle.deactivate" => AccountActivity::Disable,
        "user.lifecycle.delete.initiated" | "user.lifecycle.delete.completed" => {
            AccountActivity::Delete
        }
        "user.account.update_password" => AccountActivity::PasswordChange,
        "user.account.reset_password" | "user.lifecycle.reset_password" => {
            AccountActivity::PasswordReset
        }
        "user.account.lock" | "user.account.lock.limit" => AccountActivity::Lock,
        "user.account.unlock" | "user.account.unlock_by_admin" => AccountActivity::Unlock,
        "user.mfa.factor.activate" => AccountActivity::MfaFactorEnable,
        "user.mfa.factor.deactivate" | "user.mfa.factor.reset_all" | "user.mfa.factor.suspend" => {
            AccountActivity::MfaFactorDisable
        }
        other if other.starts_with("user.lifecycle.") || other.starts_with("user.account.") => {
            AccountActivity::Other
        }
        _ => return None,
    })
}

/// The API verb of an event type, from its last word (`.add`, `.create`, `.update`, …).
fn verb(event_type: &str) -> ApiVerb {
    let action = event_type.rsplit('.').next().unwrap_or_default();
    match action {
        "add" | "create" | "activate" | "grant" => ApiVerb::Create,
        "update" | "modify" | "change" => ApiVerb::Update,
        "remove" | "delete" | "deactivate" | "revoke" => ApiVerb::Delete,
        "read" | "list" | "view" => ApiVerb::Read,
        _ => ApiVerb::Other,
    }
}

/// One System Log event other than a sign-in, as an Account Change or API Activity event.
///
/// # Errors
/// [`ConnectorError::Protocol`] for an event Okta would not send (no uuid, time or type).
pub(super) fn audit_event(raw: Value) -> Result<ObservedEvent, ConnectorError> {
    let event: AuditLogEvent = serde_json::from_value(raw.clone())
        .map_err(|e| ConnectorError::Protocol(format!("unreadable System Log event: {e}")))?;
    let actor = event.actor.as_ref();
    let outcome = event.outcome.as_ref();
    let entry = AuditEntry {
        product: OKTA,
        uid: &event.uuid,
        time: event.published,
        operation: &event.event_type,
        actor: actor.map(|a| match a.kind.as_deref() {
            Some("User") | None => Actor::User {
                uid: &a.id,
                name: a.alternate_id.as_deref().unwrap_or(&a.id),
            },
            Some(_) => Actor::App {
                uid: Some(&a.id),
                name: a.display_name.as_deref().unwrap_or(&a.id),
            },
        }),
        ip: event
            .client
            .as_ref()
            .and_then(|c| c.ip_address.as_deref())
            .filter(|ip| !ip.is_empty()),
        success: outcome.is_none_or(|o| matches!(o.result.as_deref(), Some("SUCCESS" | "ALLOW"))),
        message: outcome
            .and_then(|o| o.reason.as_deref())
            .or(event.display_message.as_deref()),
        raw: &raw,
    };
    let targets = event.target.as_deref().unwrap_or_default();
    let target_user = targets.iter().find(|t| t.kind.as_deref() == Some("User"));
    let (class, ocsf) = match (account_activity(&event.event_type), target_user) {
        (Some(activity), Some(user)) => (
            OcsfClass::AccountChange,
            ocsf::account_change(
                &entry,
                activity,
                (&user.id, user.alternate_id.as_deref().unwrap_or(&user.id)),
            ),
        ),
        _ => {
            let resources: Vec<(&str, &str, Option<&str>)> = targets
                .iter()
                .map(|t| {
                    (
                        t.id.as_str(),
                        t.kind.as_deref().unwrap_or("Other"),
                        t.alternate_id.as_deref().or(t.display_name.as_deref()),
                    )
                })
                .collect();
            (
                OcsfClass::ApiActivity,
                ocsf::api_activity(&entry, verb(&event.event_type), &resources),
            )
        }
    };
    // The event is about the users it changed, and the person who changed them.
    let entities: Vec<EntityRef> = targets
        .iter()
        .filter(|t| t.kind.as_deref() == Some("User"))
        .map(|t| t.id.clone())
        .chain(
            actor
                .filter(|a| a.kind.as_deref() == Some("User"))
                .map(|a| a.id.clone()),
        )
        .map(|external_id| EntityRef::Identity { external_id })
        .fold(Vec::new(), |mut unique, entity| {
            if !unique.contains(&entity) {
                unique.push(entity);
            }
            unique
        });
    Ok(ObservedEvent {
        external_id: event.uuid,
        class,
        time: event.published,
        severity_id: 1,
        entities,
        ocsf,
        raw,
        stream: steward_domain::observations::EventStream::OktaSystemLog,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn log_event(event_type: &str, target: &Value) -> Value {
        json!({
            "uuid": "2b7f3c1e-5a9d-11f1-8a1e-0a1b2c3d4e5f",
            "published": "2026-12-01T09:20:00.000Z",
            "eventType": event_type,
            "displayMessage": "Max sign in attempts exceeded",
            "severity": "WARN",
            "actor": {"id": "00u-admin", "type": "User", "alternateId": "it@contoso.com", "displayName": "IT"},
            "client": {"ipAddress": "198.51.100.4"},
            "outcome": {"result": "SUCCESS"},
            "target": target,
        })
    }

    #[test]
    fn a_lockout_is_an_account_change_that_keeps_okta_fields_for_sigma() {
        let event = audit_event(log_event(
            "user.account.lock",
            &json!([{"id": "00u-dana", "type": "User", "alternateId": "dana@contoso.com"}]),
        ))
        .unwrap();
        assert_eq!(event.class, OcsfClass::AccountChange);
        assert_eq!(event.ocsf["activity_id"], 9);
        assert_eq!(event.ocsf["user"]["name"], "dana@contoso.com");
        assert_eq!(event.ocsf["actor"]["user"]["name"], "it@contoso.com");
        assert_eq!(event.ocsf["metadata"]["product"]["name"], "Okta");
        assert_eq!(
            event.ocsf["unmapped"]["displayMessage"],
            "Max sign in attempts exceeded"
        );
        assert_eq!(event.entities.len(), 2);
    }

    #[test]
    fn an_admin_role_grant_is_api_activity_on_its_targets() {
        let event = audit_event(log_event(
            "iam.resourceset.bindings.add",
            &json!([{"id": "0bn-1", "type": "ROLE_BINDING", "displayName": "Super admin"}]),
        ))
        .unwrap();
        assert_eq!(event.class, OcsfClass::ApiActivity);
        assert_eq!(event.ocsf["activity_id"], 1);
        assert_eq!(
            event.ocsf["api"]["operation"],
            "iam.resourceset.bindings.add"
        );
        assert_eq!(event.ocsf["resources"][0]["name"], "Super admin");
        assert_eq!(
            event.ocsf["unmapped"]["eventType"],
            "iam.resourceset.bindings.add"
        );
    }

    #[test]
    fn event_types_map_to_the_activities_they_name() {
        assert_eq!(
            account_activity("user.lifecycle.suspend"),
            Some(AccountActivity::Disable)
        );
        assert_eq!(
            account_activity("user.mfa.factor.reset_all"),
            Some(AccountActivity::MfaFactorDisable)
        );
        assert_eq!(
            account_activity("user.account.privilege.grant"),
            Some(AccountActivity::Other)
        );
        assert_eq!(account_activity("policy.rule.update"), None);
        assert_eq!(verb("policy.rule.update"), ApiVerb::Update);
        assert_eq!(verb("system.api_token.revoke"), ApiVerb::Delete);
        assert_eq!(verb("application.lifecycle.unknown"), ApiVerb::Other);
    }
}
