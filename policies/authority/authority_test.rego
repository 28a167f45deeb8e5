# Table-style tests of the authority policy. `steward policy test` runs every test_* rule.
package steward.authority_test

import rego.v1

import data.steward.authority

# A reversible isolation of an ordinary laptop, proposed by Steward's worker at level 2.
base := {
	"action": {"type": "isolate_device", "reversible": true, "target_count": 1},
	"target": {"kind": "device", "name": "FIN-LT-07", "criticality": "medium", "privileged": false, "tags": ["finance"]},
	"risk": {"score": 85, "factors": [{"name": "active_high_severity_alert", "contribution": 45}]},
	"tenant": {"automation_level": 2},
	"proposer": {"kind": "worker"},
}

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
		"input": with_patch({"tenant": {"automation_level": 0}}),
		"outcome": "technician_approval",
		"reasons": ["automation-level-0-notify-only"],
	},
	{
		"name": "level 1 asks for one click",
		"input": with_patch({"tenant": {"automation_level": 1}}),
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
		"input": with_patch({"action": {"type": "isolate_device", "reversible": true, "target_count": 12}}),
		"outcome": "technician_approval",
		"reasons": ["bulk-action"],
	},
	{
		"name": "level 3 runs bulk reversible actions",
		"input": with_patch({
			"action": {"type": "isolate_device", "reversible": true, "target_count": 12},
			"tenant": {"automation_level": 3},
		}),
		"outcome": "auto",
		"reasons": ["reversible-action-within-automation-level"],
	},
	{
		"name": "a nonsense automation level is denied",
		"input": with_patch({"tenant": {"automation_level": 7}}),
		"outcome": "deny",
		"reasons": ["invalid-automation-level"],
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
