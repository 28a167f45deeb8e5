# Table-style tests of the authority policy. `steward policy test` runs every test_* rule.
package steward.authority_test

import rego.v1

import data.steward.authority

# A reversible isolation of an ordinary laptop, proposed by Steward's worker at level 2.
base := {
	"action": {"type": "isolate_device", "reversible": true, "target_count": 1},
	"target": {"kind": "device", "name": "FIN-LT-07", "criticality": "medium", "privileged": false, "tags": ["finance"]},
	"risk": {"score": 85, "factors": [{"name": "active_high_severity_alert", "contribution": 45}]},
	"tenant": {"automation_level": 2, "maintenance": {"configured": false, "open": false}},
	"proposer": {"kind": "worker"},
	"guardrails": {
		"kill_switch": false,
		"circuit_open": false,
		"rate_limited": false,
		"automatic_last_hour": 0,
		"automatic_of_type_last_hour": 0,
		"failures_last_hour": 0,
	},
}

level(n) := {"automation_level": n, "maintenance": {"configured": false, "open": false}}

guardrails(patch) := object.union(base.guardrails, patch)

with_patch(patch) := object.union(base, patch)

cases := [
	{
		"name": "reversible isolation at level 2 runs on its own",
		"input": base,
		"outcome": "auto",
		"reasons": ["reversible-action-within-automation-level"],
	},
	{
		"name": "level 0 only notifies",
		"input": with_patch({"tenant": level(0)}),
		"outcome": "technician_approval",
		"reasons": ["automation-level-0-notify-only"],
	},
	{
		"name": "level 1 asks for one click",
		"input": with_patch({"tenant": level(1)}),
		"outcome": "technician_approval",
		"reasons": ["automation-level-1-one-click-approval"],
	},
	{
		"name": "disabling a privileged identity needs the customer",
		"input": with_patch({
			"action": {"type": "disable_user", "reversible": true, "target_count": 1},
			"target": {"kind": "identity", "name": "it-admin@acme.example", "criticality": "high", "privileged": true, "tags": []},
		}),
		"outcome": "customer_approval",
		"reasons": ["high-criticality-asset", "privileged-identity"],
	},
	{
		"name": "revoking sessions is irreversible: a technician decides",
		"input": with_patch({
			"action": {"type": "revoke_sessions", "reversible": false, "target_count": 1},
			"target": {"kind": "identity", "name": "it-admin@acme.example", "criticality": "high", "privileged": true, "tags": []},
		}),
		"outcome": "technician_approval",
		"reasons": ["irreversible-action"],
	},
	{
		"name": "resetting MFA is irreversible: a technician decides",
		"input": with_patch({
			"action": {"type": "reset_mfa", "reversible": false, "target_count": 1},
			"target": {"kind": "identity", "name": "jo@acme.example", "criticality": "medium", "privileged": false, "tags": []},
		}),
		"outcome": "technician_approval",
		"reasons": ["irreversible-action"],
	},
	{
		"name": "taking an ordinary account out of a group runs on its own at level 2",
		"input": with_patch({
			"action": {"type": "remove_from_group", "reversible": true, "target_count": 1, "parameters": {"group_id": "9f1c0d2e"}},
			"target": {"kind": "identity", "name": "jo@acme.example", "criticality": "medium", "privileged": false, "tags": []},
		}),
		"outcome": "auto",
		"reasons": ["reversible-action-within-automation-level"],
	},
	{
		"name": "adding an account to a group always waits for a technician",
		"input": with_patch({
			"action": {"type": "add_to_group", "reversible": true, "target_count": 1, "parameters": {"group_id": "9f1c0d2e"}},
			"target": {"kind": "identity", "name": "jo@acme.example", "criticality": "medium", "privileged": false, "tags": []},
			"tenant": level(3),
		}),
		"outcome": "technician_approval",
		"reasons": ["access-grant"],
	},
	{
		"name": "running a script always waits for a technician",
		"input": with_patch({
			"action": {"type": "run_script", "reversible": true, "target_count": 1, "parameters": {"script_id": "101", "undo_script_id": "102"}},
			"tenant": level(3),
		}),
		"outcome": "technician_approval",
		"reasons": ["script-execution"],
	},
	{
		"name": "a script on a critical server needs the customer",
		"input": with_patch({
			"action": {"type": "run_script", "reversible": true, "target_count": 1, "parameters": {"script_id": "101", "undo_script_id": "102"}},
			"target": {"kind": "device", "name": "SRV-01", "criticality": "critical", "privileged": false, "tags": []},
		}),
		"outcome": "customer_approval",
		"reasons": ["critical-asset", "script-execution"],
	},
	{
		"name": "a backup has nothing to undo and runs on its own within the automation level",
		"input": with_patch({"action": {"type": "trigger_backup", "reversible": false, "target_count": 1}}),
		"outcome": "auto",
		"reasons": ["harmless-action-within-automation-level"],
	},
	{
		"name": "at level 1 a backup still asks for one click",
		"input": with_patch({"action": {"type": "trigger_backup", "reversible": false, "target_count": 1}, "tenant": level(1)}),
		"outcome": "technician_approval",
		"reasons": ["automation-level-1-one-click-approval"],
	},
	{
		"name": "an undo script runs on its own within the automation level",
		"input": with_patch({"action": {"type": "run_undo_script", "reversible": true, "target_count": 1, "parameters": {"script_id": "101", "undo_script_id": "102"}}}),
		"outcome": "auto",
		"reasons": ["reversible-action-within-automation-level"],
	},
	{
		"name": "opening a ticket about an admin writes to the MSP's records and runs on its own",
		"input": with_patch({
			"action": {"type": "open_ticket", "reversible": true, "target_count": 1},
			"target": {"kind": "identity", "name": "it-admin@acme.example", "criticality": "critical", "privileged": true, "tags": []},
		}),
		"outcome": "auto",
		"reasons": ["reversible-action-within-automation-level"],
	},
	{
		"name": "a protected server may still get a ticket",
		"input": with_patch({
			"action": {"type": "close_ticket", "reversible": true, "target_count": 1},
			"target": {"kind": "device", "name": "SRV-01", "criticality": "critical", "privileged": false, "tags": ["steward:protected"]},
		}),
		"outcome": "auto",
		"reasons": ["reversible-action-within-automation-level"],
	},
	{
		"name": "isolating a critical server needs the customer",
		"input": with_patch({"target": {"kind": "device", "name": "SRV-01", "criticality": "critical", "privileged": false, "tags": []}}),
		"outcome": "customer_approval",
		"reasons": ["critical-asset"],
	},
	{
		"name": "a protected target is never touched",
		"input": with_patch({"target": {"kind": "device", "name": "SRV-01", "criticality": "low", "privileged": false, "tags": ["steward:protected"]}}),
		"outcome": "deny",
		"reasons": ["protected-target"],
	},
	{
		"name": "an unknown action is denied",
		"input": with_patch({"action": {"type": "wipe_device", "reversible": false, "target_count": 1}}),
		"outcome": "deny",
		"reasons": ["unknown-action"],
	},
	{
		"name": "an AI agent's proposal waits for a technician",
		"input": with_patch({"proposer": {"kind": "ai_agent"}}),
		"outcome": "technician_approval",
		"reasons": ["ai-agent-proposal"],
	},
	{
		"name": "bulk actions wait below level 3",
		"input": with_patch({"action": {"type": "isolate_device", "reversible": true, "target_count": 8}}),
		"outcome": "technician_approval",
		"reasons": ["bulk-action"],
	},
	{
		"name": "level 3 runs bulk reversible actions",
		"input": with_patch({
			"action": {"type": "isolate_device", "reversible": true, "target_count": 10},
			"tenant": level(3),
		}),
		"outcome": "auto",
		"reasons": ["reversible-action-within-automation-level"],
	},
	{
		"name": "isolating more than ten devices at once is refused",
		"input": with_patch({
			"action": {"type": "isolate_device", "reversible": true, "target_count": 11},
			"tenant": level(3),
		}),
		"outcome": "deny",
		"reasons": ["bulk-limit-exceeded"],
	},
	{
		"name": "disabling six accounts at once is refused",
		"input": with_patch({
			"action": {"type": "disable_user", "reversible": true, "target_count": 6},
			"target": {"kind": "identity", "name": "jo@acme.example", "criticality": "medium", "privileged": false, "tags": []},
		}),
		"outcome": "deny",
		"reasons": ["bulk-limit-exceeded"],
	},
	{
		"name": "releasing many devices at once is allowed, with a technician",
		"input": with_patch({"action": {"type": "release_device", "reversible": true, "target_count": 25}}),
		"outcome": "technician_approval",
		"reasons": ["bulk-action"],
	},
	{
		"name": "a nonsense automation level is denied",
		"input": with_patch({"tenant": level(7)}),
		"outcome": "deny",
		"reasons": ["invalid-automation-level"],
	},
	{
		"name": "level 3 isolates a high-criticality asset inside a maintenance window",
		"input": with_patch({
			"target": {"kind": "device", "name": "SRV-02", "criticality": "high", "privileged": false, "tags": []},
			"tenant": {"automation_level": 3, "maintenance": {"configured": true, "open": true}},
		}),
		"outcome": "auto",
		"reasons": ["reversible-action-within-automation-level"],
	},
	{
		"name": "level 3 asks first outside the maintenance windows",
		"input": with_patch({
			"target": {"kind": "device", "name": "SRV-02", "criticality": "high", "privileged": false, "tags": []},
			"tenant": {"automation_level": 3, "maintenance": {"configured": true, "open": false}},
		}),
		"outcome": "technician_approval",
		"reasons": ["outside-maintenance-window"],
	},
	{
		"name": "without maintenance windows level 3 does not wait for one",
		"input": with_patch({
			"target": {"kind": "device", "name": "SRV-02", "criticality": "high", "privileged": false, "tags": []},
			"tenant": level(3),
		}),
		"outcome": "auto",
		"reasons": ["reversible-action-within-automation-level"],
	},
	{
		"name": "the tenth automatic isolation in an hour waits for a technician",
		"input": with_patch({"guardrails": guardrails({"automatic_of_type_last_hour": 10})}),
		"outcome": "technician_approval",
		"reasons": ["action-type-hourly-limit"],
	},
	{
		"name": "the ninth does not",
		"input": with_patch({"guardrails": guardrails({"automatic_of_type_last_hour": 9})}),
		"outcome": "auto",
		"reasons": ["reversible-action-within-automation-level"],
	},
	{
		"name": "a pulled kill switch stops automatic execution",
		"input": with_patch({"guardrails": guardrails({"kill_switch": true})}),
		"outcome": "technician_approval",
		"reasons": ["kill-switch-engaged"],
	},
	{
		"name": "an open circuit breaker and a reached rate limit ask a person",
		"input": with_patch({"guardrails": guardrails({"circuit_open": true, "rate_limited": true})}),
		"outcome": "technician_approval",
		"reasons": ["automation-rate-limit", "circuit-breaker-open"],
	},
	{
		"name": "the kill switch does not lower what the customer must approve",
		"input": with_patch({
			"target": {"kind": "device", "name": "SRV-01", "criticality": "critical", "privileged": false, "tags": []},
			"guardrails": guardrails({"kill_switch": true}),
		}),
		"outcome": "customer_approval",
		"reasons": ["critical-asset", "kill-switch-engaged"],
	},
]

# The cases whose decision differs from the expected one; `steward policy test` prints them
# when the test fails.
failing_cases contains case.name if {
	some case in cases
	decision := authority.decision with input as case.input
	not matches(decision, case)
}

matches(decision, case) if {
	decision.outcome == case.outcome
	decision.reasons == case.reasons
}

test_every_case_decides_as_expected if count(failing_cases) == 0

test_no_input_is_denied if {
	decision := authority.decision with input as {}
	decision.outcome == "deny"
}
