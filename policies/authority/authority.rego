# Authority boundaries: who must approve an action before Steward runs it.
#
# Input: see policies/schema/authority_input.json (generated from Steward's Rust types).
# Output: data.steward.authority.decision = {"outcome": …, "reasons": [...]}, where outcome is
# "auto", "technician_approval", "customer_approval" or "deny" and reasons are stable
# kebab-case codes. The strictest outcome any rule asks for wins; anything this policy does not
# decide is denied.
package steward.authority

import rego.v1

default decision := {"outcome": "deny", "reasons": ["no-decision"]}

known_actions := {
	"isolate_device", "release_device", "disable_user", "enable_user", "revoke_sessions", "reset_mfa",
	"remove_from_group", "add_to_group", "suspend_user", "unsuspend_user", "run_script", "run_undo_script",
	"trigger_backup", "open_ticket", "close_ticket",
}

# Actions that stop people working: the customer decides when their key people or critical
# systems are hit.
disruptive_actions := {"isolate_device", "disable_user", "suspend_user", "run_script"}

# ---- deny -------------------------------------------------------------------------------------

deny_reasons contains "unknown-action" if not input.action.type in known_actions

# Actions that write to the MSP's own records (a ticket in its PSA), never to the customer's
# systems: a protected target may still have a ticket.
record_only_actions := {"open_ticket", "close_ticket"}

deny_reasons contains "protected-target" if {
	"steward:protected" in input.target.tags
	not input.action.type in record_only_actions
}

deny_reasons contains "invalid-automation-level" if not input.tenant.automation_level in {0, 1, 2, 3}

# The most targets one request may touch, per action type: beyond that the request is refused
# and a person splits it (a bulk action also runs a canary first and stops if it fails).
bulk_limits := {
	"isolate_device": 10,
	"release_device": 25,
	"disable_user": 5,
	"enable_user": 25,
	"revoke_sessions": 10,
	"reset_mfa": 5,
	"remove_from_group": 10,
	"add_to_group": 25,
	"suspend_user": 5,
	"unsuspend_user": 25,
	"run_script": 10,
	"run_undo_script": 25,
	"trigger_backup": 25,
	"open_ticket": 25,
	"close_ticket": 25,
}

deny_reasons contains "bulk-limit-exceeded" if input.action.target_count > bulk_limits[input.action.type]

# ---- the customer approves ----------------------------------------------------------------------

customer_reasons contains "privileged-identity" if {
	input.action.type in disruptive_actions
	input.target.kind == "identity"
	input.target.privileged
}

customer_reasons contains "critical-asset" if {
	input.action.type in disruptive_actions
	input.target.criticality == "critical"
}

# ---- a technician approves ----------------------------------------------------------------------

technician_reasons contains "automation-level-0-notify-only" if input.tenant.automation_level == 0

technician_reasons contains "automation-level-1-one-click-approval" if input.tenant.automation_level == 1

# Actions with nothing to undo: they change nothing a rollback would restore.
harmless_actions := {"trigger_backup"}

technician_reasons contains "irreversible-action" if {
	not input.action.reversible
	not input.action.type in harmless_actions
}

technician_reasons contains "ai-agent-proposal" if input.proposer.kind == "ai_agent"

# Adding someone to a group grants what the group grants (an admin group, for one): a second
# person looks first, whoever proposes it and at every level.
technician_reasons contains "access-grant" if input.action.type == "add_to_group"

# A script runs whatever code it holds on the customer's device: a person reads which script
# before it runs, whoever proposes it and at every level. Its undo script restores.
technician_reasons contains "script-execution" if input.action.type == "run_script"

technician_reasons contains "bulk-action" if {
	input.action.target_count > 1
	input.tenant.automation_level < 3
}

technician_reasons contains "high-criticality-asset" if {
	input.action.type in disruptive_actions
	input.target.criticality == "high"
	input.tenant.automation_level < 3
}

# At level 3, disruptive actions on high-criticality assets run on their own only inside the
# tenant's maintenance windows, when it has any.
technician_reasons contains "outside-maintenance-window" if {
	input.action.type in disruptive_actions
	input.target.criticality == "high"
	input.tenant.automation_level == 3
	input.tenant.maintenance.configured
	not input.tenant.maintenance.open
}

# Automatic actions of one type per tenant per hour; beyond that a technician looks first.
hourly_limits := {
	"isolate_device": 10,
	"release_device": 10,
	"disable_user": 5,
	"enable_user": 5,
	"revoke_sessions": 5,
	"reset_mfa": 5,
	"remove_from_group": 10,
	"add_to_group": 10,
	"suspend_user": 5,
	"unsuspend_user": 5,
	"run_script": 10,
	"run_undo_script": 10,
	"trigger_backup": 10,
	"open_ticket": 20,
	"close_ticket": 20,
}

technician_reasons contains "action-type-hourly-limit" if {
	input.guardrails.automatic_of_type_last_hour >= hourly_limits[input.action.type]
}

# Steward enforces these three whatever a policy says; naming them here explains the decision.
technician_reasons contains "kill-switch-engaged" if input.guardrails.kill_switch

technician_reasons contains "circuit-breaker-open" if input.guardrails.circuit_open

technician_reasons contains "automation-rate-limit" if input.guardrails.rate_limited

# ---- the decision -------------------------------------------------------------------------------

decision := {"outcome": "deny", "reasons": sort(deny_reasons)} if {
	count(deny_reasons) > 0
} else := {"outcome": "customer_approval", "reasons": sort(customer_reasons | technician_reasons)} if {
	count(customer_reasons) > 0
} else := {"outcome": "technician_approval", "reasons": sort(technician_reasons)} if {
	count(technician_reasons) > 0
} else := {"outcome": "auto", "reasons": ["harmless-action-within-automation-level"]} if {
	input.action.type in harmless_actions
} else := {"outcome": "auto", "reasons": ["reversible-action-within-automation-level"]}
