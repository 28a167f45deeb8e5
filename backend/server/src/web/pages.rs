//! The pages and their forms. Every read and write goes through the signed-in caller's scoped
//! handles, exactly as the API does.

use axum::{
    extract::{Path, Query},
    response::{Html, IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use steward_core::storage::{
    GuardrailError, NewTenant, PageRequest, TenantAdminError, TenantChanges, WorkError,
};
use steward_domain::{Slug, TenantId, access::Permission, tenancy::RoleSide};
use steward_frontend::{
    Chrome, Flash, FlashKind, NavItem,
    pages::{
        audit::{self, AuditPage},
        dashboard::{self, DashboardPage},
        tenant::{self, TenantPage},
    },
    role_label,
};

use super::scoped::{WebTenant, WebTenantForm};
use super::{
    UiError,
    session::{WebForm, WebSession},
};
use crate::http::scoped::needs;

/// Outcomes shown once at the top of the page a form leads to, by code, so no text from a URL
/// ever reaches a page.
#[derive(Debug, Default, Deserialize)]
pub(super) struct PageQuery {
    pub(super) cursor: Option<String>,
    done: Option<String>,
    error: Option<String>,
}

impl PageQuery {
    pub(super) fn flash(&self) -> Option<Flash> {
        if let Some(code) = &self.error {
            return Some(Flash {
                kind: FlashKind::Error,
                message: error_message(code).to_owned(),
            });
        }
        let message = match self.done.as_deref()? {
            "tenant-created" => "The tenant is added.",
            "tenant-renamed" => "The tenant is renamed.",
            "tenant-offboarded" => "The tenant is offboarded.",
            "user-created" => "The user is added.",
            "user-disabled" => "The user is disabled; their sessions and tokens stopped working.",
            "user-enabled" => "The user is enabled again.",
            "token-revoked" => "The API token is revoked.",
            "password-changed" => "Your password is changed; your other sessions are signed out.",
            "integration-created" => "The vendor is connected. Test the connection to check it.",
            "integration-tested" => "The connection works.",
            "integration-synced" => "Synchronized: the inventory and events are up to date.",
            "integration-credential" => {
                "The credential is replaced. Test the connection to check it."
            }
            "integration-removed" => "The integration is removed.",
            "scenario-run" => {
                "The scenario's vendor records are in the sandbox; Steward synchronizes and triages them now."
            }
            "action-approved" => "Approved: the action runs now and is verified at the vendor.",
            "actions-proposed" => {
                "Proposed: each target's decision is below; what the policy allows runs, the rest waits for approval."
            }
            "action-rejected" => "Rejected: the action will not run.",
            "rollback-requested" => "The rollback runs now and is verified at the vendor.",
            "incident-updated" => "The incident is updated.",
            "approval-recorded" => {
                "Your approval is recorded; the action waits for the other approvers."
            }
            "kill-switch-pulled" => {
                "The kill switch is pulled: nothing runs automatically until an MSP admin releases it."
            }
            "kill-switch-released" => "The kill switch is released: automation resumes.",
            "msp-kill-switch-pulled" => {
                "The MSP-wide kill switch is pulled: nothing runs automatically in any customer until an MSP admin releases it."
            }
            "msp-kill-switch-released" => {
                "The MSP-wide kill switch is released: automation resumes where each customer's policy allows it."
            }
            "rule-saved" => "The rule is saved: it is evaluated on events from now on.",
            "rule-removed" => "The rule is removed; its lineage stays in the audit chain.",
            "rule-state-saved" => "Saved: the rule's state here applies to events from now on.",
            "suppression-saved" => {
                "The suppression is saved: the rule's matches it covers are no longer findings here."
            }
            "suppression-removed" => {
                "The suppression is removed: the rule's matches are findings here again."
            }
            "slack-answered" => "Slack delivered the click to Steward, which recorded the answer.",
            _ => return None,
        };
        Some(Flash {
            kind: FlashKind::Success,
            message: message.to_owned(),
        })
    }
}

pub(super) fn error_message(code: &str) -> &'static str {
    match code {
        "slug-taken" => "Another tenant already has that slug.",
        "invalid-name" => {
            "Give a name of one line, at most 200 characters, without control or \
             bidirectional control characters."
        }
        "invalid-slug" => "Slugs are lowercase letters, digits and single dashes.",
        "tenant-offboarded" => "That tenant is offboarded and cannot change.",
        "invalid-automation-level" => "The automation level is 0, 1, 2 or 3.",
        "not-awaiting-approval" => "That action is no longer waiting for approval.",
        "stale-version" => {
            "The action changed since this page was shown. Review it again before answering."
        }
        "customer-approval-required" => {
            "This action needs the customer's approval; the MSP can only reject it."
        }
        "technician-approval-required" => "This action needs an MSP technician's approval.",
        "own-proposal" => "You proposed this action; someone else must approve it.",
        "approver-role-required" => "The policy asks for an approver with another role.",
        "already-answered" => "You already approved this action; it waits for another approver.",
        "answer-conflict" => "Someone answered at the same moment. Look at the action again.",
        "request-expired" => "The approval request has expired; the action will not run.",
        "irreversible" => "This action cannot be rolled back.",
        "not-rollbackable" => "Only a verified action can be rolled back.",
        "kill-switch-not-pulled" => "The kill switch is not pulled.",
        "invalid-targets" => "Choose between 1 and 100 targets.",
        "duplicate-target" => "A target was chosen twice.",
        "unknown-target" => {
            "A chosen target is not in this tenant's inventory or is the wrong kind for that action (devices for isolate and release, identities for the others)."
        }
        "invalid-reason" => "Give a reason of up to 2,000 characters.",
        "invalid-parameters" => {
            "The group actions need a group id (a Microsoft Entra ID object id); the other actions take none."
        }
        "slack-not-linked" => {
            "You are not linked to a Slack user of this workspace; an MSP admin links Slack users in the MSP's Slack settings."
        }
        "slack-refused" => {
            "Steward did not take that click (an unlinked Slack user, or the action is no longer waiting)."
        }
        "reason-too-long" => "Keep the reason under 500 characters.",
        "invalid-maintenance-schedule" => {
            "That maintenance schedule is not valid: check the time zone, days and times."
        }
        "verdict-required" => "Choose a verdict to resolve the incident.",
        "verdict-without-resolution" => "A verdict is only recorded when resolving.",
        "invalid-assignee" => "That person cannot work incidents.",
        "email-taken" => "A user with that email already exists.",
        "invalid-email" => "That is not a valid email address.",
        "invalid-role" => "Customer roles need a tenant; MSP roles must not have one.",
        "unknown-tenant" => "That tenant does not exist or is offboarded.",
        "weak-password" => "Passwords need at least 12 characters.",
        "own-account" => "You cannot disable your own account or change your own role.",
        "wrong-password" => "The current password is wrong.",
        "password-mismatch" => "The new passwords do not match.",
        "password-unchanged" => "Choose a password other than the current one.",
        "second-factor-off" => "Your second factor is off.",
        "second-factor-wrong-code" => {
            "That code is not right. Use the code the app shows now; to start over, set up again."
        }
        "second-factor-not-started" => "Start setting up the second factor first.",
        "second-factor-already-on" => "Your second factor is already on.",
        "second-factor-required" => "Your MSP requires a second factor for your account.",
        "confirm-identity" => {
            "Confirm it is you: enter your password, or a code from your authenticator app."
        }
        "sign-in-again" => {
            "Confirm it is you: sign out and in again through single sign-on, then repeat."
        }
        "invalid-expiry" => "Expiry must be between 1 and 3650 days.",
        "invalid-settings" => "Those settings are not usable: check the ids and URLs.",
        "forbidden-target" => {
            "Steward only calls vendors at public https addresses; a private address must be on \
             the deployment's egress allow-list, which its operator sets."
        }
        "invalid-secret" => "Enter the client secret.",
        "name-taken" => "This tenant already has an integration with that name.",
        "connection-failed" => "Steward could not work with the vendor; the integration shows why.",
        "sync-postponed" => {
            "The vendor asked Steward to wait, or is busy with other customers' synchronizations; \
             Steward synchronizes this integration by itself in a moment."
        }
        "credential-unreadable" => "The stored credential cannot be decrypted; enter it again.",
        "reason-required" => "Give a reason: the people after you will want to know why.",
        "invalid-conditions" => {
            "Write one condition per line as `field equals value` or `field contains value`, \
             with a dotted field name such as process.cmd_line and a value."
        }
        "rule-refused" => "Not saved: the rule has the problems listed below.",
        "hides-true-positives" => {
            "Not saved: this suppression would have hidden true positives (listed below). \
             Narrow its conditions, or tick the box to save it anyway."
        }
        "scenario-not-applicable" => {
            "That scenario cannot run here now (its target is gone or already contained)."
        }
        _ => "That did not work.",
    }
}

/// The frame around every page for the signed-in user.
pub(super) async fn chrome(
    s: &WebSession,
    current: &str,
    flash: Option<Flash>,
) -> Result<Chrome, UiError> {
    let caller = &s.caller;
    let conn = s.storage.conn();
    let msp = caller.msp(conn).await?.ok_or(UiError::Internal)?;
    let mut nav = Vec::new();
    let organization = match (caller.role().side(), caller.user().tenant_id) {
        (RoleSide::Customer, Some(tenant_id)) => {
            nav.push(("Your business", format!("/tenants/{tenant_id}")));
            caller
                .tenants(conn)
                .lookup(tenant_id)
                .await?
                .map_or_else(|| msp.name.clone(), |tenant| tenant.name)
        }
        _ => {
            nav.push(("Tenants", "/".to_owned()));
            msp.name.clone()
        }
    };
    if caller.allows(Permission::ReadUsers) {
        nav.push(("Users", "/users".to_owned()));
    }
    if caller.allows(Permission::ReadDetections) {
        nav.push(("Detections", "/detections".to_owned()));
    }
    if caller.allows(Permission::ReadMspAudit) {
        nav.push(("Audit", "/audit".to_owned()));
    }
    nav.push(("Account", "/account".to_owned()));
    Ok(Chrome {
        user_name: caller.user().display_name.clone(),
        user_email: caller.user().email.clone(),
        role_label: role_label(caller.role()).to_owned(),
        organization,
        nav: nav
            .into_iter()
            .map(|(label, href)| NavItem {
                label,
                current: href == current,
                href,
            })
            .collect(),
        csrf_token: s.session.csrf_token.clone(),
        flash,
    })
}

/// Rows per page of the dashboard's tenant list: an MSP with up to this many customers sees
/// them all at once.
const DASHBOARD_PAGE: u64 = 100;

pub(super) fn page<K: std::str::FromStr>(cursor: Option<&str>) -> Result<PageRequest<K>, UiError> {
    let after = cursor
        .map(|cursor| {
            cursor
                .parse()
                .map_err(|_| UiError::BadForm("the page cursor is not valid".to_owned()))
        })
        .transpose()?;
    Ok(PageRequest {
        limit: PageRequest::<K>::DEFAULT_LIMIT,
        after,
    })
}

pub(super) fn back(path: &str, outcome: Result<&str, &str>) -> Response {
    let target = match outcome {
        Ok(done) => format!("{path}?done={done}"),
        Err(error) => format!("{path}?error={error}"),
    };
    Redirect::to(&target).into_response()
}

// ---- Dashboard and tenants --------------------------------------------------------------

/// MSP staff see every tenant; a customer user goes straight to their own.
pub async fn dashboard(s: WebSession, Query(query): Query<PageQuery>) -> Result<Response, UiError> {
    if let (RoleSide::Customer, Some(tenant_id)) =
        (s.caller.role().side(), s.caller.user().tenant_id)
    {
        return Ok(Redirect::to(&format!("/tenants/{tenant_id}")).into_response());
    }
    let mut request = page(query.cursor.as_deref())?;
    request.limit = DASHBOARD_PAGE;
    let listed = s.caller.tenants(s.storage.conn()).list(request).await?;
    let chrome = chrome(&s, "/", query.flash()).await?;
    let msp_name = chrome.organization.clone();
    Ok(Html(dashboard::render(
        chrome,
        DashboardPage {
            msp_name,
            tenants: listed.items,
            next_cursor: listed.next.map(|id| id.to_string()),
            can_create: s.caller.allows(Permission::ManageTenants),
            msp_halt: s.caller.msp_halt(s.storage.conn()).await?,
            can_halt_all: s.caller.allows(Permission::HaltAllAutomation),
            can_release: s.caller.allows(Permission::ManageAutomation),
            csrf_token: s.session.csrf_token.clone(),
        },
    ))
    .into_response())
}

#[derive(Debug, Deserialize)]
pub struct HaltAllForm {
    #[serde(default)]
    reason: String,
    /// The password or second-factor code, to release it when not confirmed in the last
    /// minutes.
    #[serde(default)]
    confirm: String,
}

/// Pulls the MSP-wide kill switch (MSP admins and technicians).
pub async fn pull_msp_kill_switch(
    WebForm {
        session: s, form, ..
    }: WebForm<HaltAllForm>,
) -> Result<Response, UiError> {
    let txn = s.storage.begin().await?;
    let pulled = s
        .caller
        .halt_all_automation(&s.write(&txn), &form.reason)
        .await;
    halt_outcome(txn, pulled, "msp-kill-switch-pulled").await
}

/// Releases the MSP-wide kill switch (MSP admins).
pub async fn release_msp_kill_switch(
    axum::extract::State(state): axum::extract::State<crate::state::AppState>,
    WebForm {
        session: s, form, ..
    }: WebForm<HaltAllForm>,
) -> Result<Response, UiError> {
    if let Err(code) = super::second_factor::step_up(&s, &state.secrets, &form.confirm).await? {
        return Ok(back("/", Err(code)));
    }
    let txn = s.storage.begin().await?;
    let released = s.caller.release_all_automation(&s.write(&txn)).await;
    halt_outcome(txn, released, "msp-kill-switch-released").await
}

/// Back to the dashboard: committed and saying `done`, or refused and saying why.
async fn halt_outcome(
    txn: steward_core::storage::DatabaseTransaction,
    outcome: Result<steward_domain::guardrails::AutomationHalt, WorkError>,
    done: &'static str,
) -> Result<Response, UiError> {
    match outcome {
        Ok(_) => {
            txn.commit().await?;
            Ok(back("/", Ok(done)))
        }
        Err(WorkError::Forbidden(forbidden)) => Err(UiError::Forbidden(forbidden)),
        Err(WorkError::Guardrail(GuardrailError::NotEngaged)) => {
            Ok(back("/", Err("kill-switch-not-pulled")))
        }
        Err(WorkError::Guardrail(GuardrailError::InvalidReason(_))) => {
            Ok(back("/", Err("reason-too-long")))
        }
        Err(err) => Err(UiError::internal(&err)),
    }
}

#[derive(Debug, Deserialize)]
pub struct TenantForm {
    name: String,
    #[serde(default)]
    slug: String,
}

fn tenant_error_code(err: TenantAdminError) -> Result<&'static str, UiError> {
    Ok(match err {
        TenantAdminError::SlugTaken(_) => "slug-taken",
        TenantAdminError::InvalidName(_) => "invalid-name",
        TenantAdminError::InvalidAutomationLevel(_) => "invalid-automation-level",
        TenantAdminError::Offboarded(_) => "tenant-offboarded",
        TenantAdminError::NotFound(_) => return Err(UiError::NotFound),
        TenantAdminError::Storage(err) => return Err(err.into()),
    })
}

pub async fn create_tenant(
    WebForm {
        session: s, form, ..
    }: WebForm<TenantForm, needs::ManageTenants>,
) -> Result<Response, UiError> {
    let slug = if form.slug.trim().is_empty() {
        Slug::from_name(&form.name)
    } else {
        form.slug.trim().parse().ok()
    };
    let Some(slug) = slug else {
        return Ok(back("/", Err("invalid-slug")));
    };
    let txn = s.storage.begin().await?;
    let write = s.write(&txn);
    let created = s
        .caller
        .admin(&write)?
        .tenants()
        .create(NewTenant {
            name: form.name,
            slug,
        })
        .await;
    match created {
        Ok(tenant) => {
            txn.commit().await?;
            Ok(back(
                &format!("/tenants/{}", tenant.id),
                Ok("tenant-created"),
            ))
        }
        Err(err) => Ok(back("/", Err(tenant_error_code(err)?))),
    }
}

pub async fn tenant(
    s: WebTenant,
    Path(tenant_id): Path<TenantId>,
    Query(query): Query<PageQuery>,
) -> Result<Response, UiError> {
    let scope = s.scope();
    let members = scope.members().await.map_err(|err| match err {
        steward_core::storage::TenantScopeError::Forbidden(forbidden) => {
            UiError::Forbidden(forbidden)
        }
        steward_core::storage::TenantScopeError::Storage(storage) => storage.into(),
    })?;
    let (devices, identities, sightings) = match scope.inventory() {
        Ok(inventory) => (
            inventory.devices().await?,
            inventory.identities().await?,
            inventory
                .sign_in_sightings(s.clock.now() - steward_domain::graph::SIGHTING_WINDOW)
                .await?,
        ),
        Err(_) => (Vec::new(), Vec::new(), Vec::new()),
    };
    // Conflicts name their sources by integration, and coverage shows, where the caller may
    // see integrations.
    let integrations = if s.caller.allows(Permission::ReadIntegrations) {
        scope.integrations()?.list().await?
    } else {
        Vec::new()
    };
    let coverage = s.caller.allows(Permission::ReadIntegrations).then(|| {
        let vendors: Vec<_> = integrations.iter().map(|i| (i.id, i.vendor)).collect();
        steward_domain::coverage::coverage(
            tenant_id,
            &vendors,
            &devices,
            &identities,
            &sightings,
            (
                steward_domain::coverage::failing_sources(&integrations),
                steward_domain::coverage::telemetry_gaps(&integrations),
            ),
            s.clock.now(),
        )
    });
    let source_names = integrations.into_iter().map(|i| (i.id, i.name)).collect();
    let current = format!("/tenants/{tenant_id}");
    let chrome = chrome(&s, &current, query.flash()).await?;
    Ok(Html(tenant::render(
        chrome,
        TenantPage {
            tenant: scope.tenant().clone(),
            members,
            can_manage: s.caller.allows(Permission::ManageTenants),
            can_read_audit: s.caller.allows(Permission::ReadTenantAudit),
            can_read_integrations: s.caller.allows(Permission::ReadIntegrations),
            can_read_actions: s.caller.allows(Permission::ReadActions),
            can_read_reports: s.caller.allows(Permission::ReadReports),
            can_read_detections: s.caller.allows(Permission::ReadDetections),
            can_read_inventory: s.caller.allows(Permission::ReadInventory),
            devices,
            identities,
            source_names,
            coverage,
            csrf_token: s.session.csrf_token.clone(),
        },
    ))
    .into_response())
}

pub async fn rename_tenant(
    Path(tenant_id): Path<TenantId>,
    WebTenantForm { session: s, form }: WebTenantForm<TenantForm, needs::Admin>,
) -> Result<Response, UiError> {
    change_tenant(s, tenant_id, Some(form.name)).await
}

#[derive(Debug, Deserialize)]
pub struct Empty {}

pub async fn offboard_tenant(
    Path(tenant_id): Path<TenantId>,
    WebTenantForm { session: s, .. }: WebTenantForm<Empty, needs::Admin>,
) -> Result<Response, UiError> {
    change_tenant(s, tenant_id, None).await
}

/// Renames (with a name) or offboards (without) a tenant the caller can see.
async fn change_tenant(
    s: WebTenant<needs::Admin>,
    tenant_id: TenantId,
    name: Option<String>,
) -> Result<Response, UiError> {
    let path = format!("/tenants/{tenant_id}");
    s.in_work_back_to(
        &path,
        async |work| {
            let settings = work.settings()?;
            match name {
                Some(name) => {
                    let changes = TenantChanges {
                        name: Some(name),
                        automation_level: None,
                    };
                    settings.update(changes).await?;
                    Ok("tenant-renamed")
                }
                None => {
                    settings.offboard().await?;
                    Ok("tenant-offboarded")
                }
            }
        },
        |refused| match refused {
            TenantRefused::Forbidden(forbidden) => Err(UiError::Forbidden(forbidden)),
            TenantRefused::Tenant(err) => tenant_error_code(err),
        },
    )
    .await
}

/// Why a change to a tenant was refused.
#[derive(Debug, thiserror::Error)]
enum TenantRefused {
    #[error(transparent)]
    Forbidden(#[from] steward_core::access::Forbidden),
    #[error(transparent)]
    Tenant(#[from] TenantAdminError),
}

// ---- Audit ------------------------------------------------------------------------------

pub async fn tenant_audit(
    s: WebTenant,
    Path(tenant_id): Path<TenantId>,
    Query(query): Query<PageQuery>,
) -> Result<Response, UiError> {
    let scope = s.scope();
    let entries = scope.audit()?.list(page(query.cursor.as_deref())?).await?;
    let path = format!("/tenants/{tenant_id}/audit");
    let chrome = chrome(&s, &path, None).await?;
    Ok(Html(audit::render(
        chrome,
        AuditPage {
            chain_name: scope.tenant().name.clone(),
            entries: entries.items,
            next_cursor: entries.next.map(|seq| seq.to_string()),
            path,
        },
    ))
    .into_response())
}

pub async fn msp_audit(s: WebSession, Query(query): Query<PageQuery>) -> Result<Response, UiError> {
    let entries = s
        .caller
        .msp_audit(s.storage.conn())?
        .list(page(query.cursor.as_deref())?)
        .await?;
    let chrome = chrome(&s, "/audit", None).await?;
    let chain_name = format!("{} (MSP)", chrome.organization);
    Ok(Html(audit::render(
        chrome,
        AuditPage {
            chain_name,
            entries: entries.items,
            next_cursor: entries.next.map(|seq| seq.to_string()),
            path: "/audit".to_owned(),
        },
    ))
    .into_response())
}
