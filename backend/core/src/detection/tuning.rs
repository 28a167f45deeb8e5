//! Tuning a rule for one tenant. A suppression keeps the rule's matches on events that meet all
//! of its conditions from becoming findings there (see [`super::content::InForce`]). Before one
//! is saved it is replayed over what the rule found in the tenant, so the person sees which
//! true positives it would have hidden; and from what a rule's repeated false positives share,
//! Steward suggests the narrowest suppression that covers them.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use steward_domain::{
    MspId, TenantId,
    detections::{
        Condition, ConditionOp, HiddenFinding, Replay, Suggestion, SuppressionError,
        SuppressionRequest, field_text,
    },
    incidents::Verdict,
};

use super::sigma;
use crate::storage::{
    StorageError,
    detection_rules::{DetectionContent, JudgedFinding},
    inventory::InventoryReader,
};

/// How many of a rule's findings in a tenant (the newest) a replay or a suggestion looks at:
/// months of a noisy rule, while the work stays bounded.
pub const HISTORY_FINDINGS: u64 = 10_000;

/// How many findings judged noise (false positive or benign true positive) a rule needs in a
/// tenant before Steward suggests suppressing what they share.
pub const NOISE_FOR_SUGGESTION: usize = 2;

/// Fields that say what ran where and as whom: what noise from one tool tends to share, and
/// what an attack reusing the same program tends not to.
const IDENTIFYING_FIELDS: [&str; 12] = [
    "process.cmd_line",
    "process.file.path",
    "process.parent_process.file.path",
    "process.parent_process.cmd_line",
    "process.user.name",
    "file.path",
    "reg_key.path",
    "reg_value.path",
    "reg_value.name",
    "user.name",
    "src_endpoint.ip",
    "device.hostname",
];

/// The rule's findings in the tenant with the events behind them.
struct History {
    findings: Vec<JudgedFinding>,
    events: std::collections::HashMap<uuid::Uuid, serde_json::Value>,
}

impl History {
    async fn of<C: ConnectionTrait>(
        conn: &C,
        msp_id: MspId,
        tenant_id: TenantId,
        rule_id: &str,
    ) -> Result<Self, StorageError> {
        let findings = DetectionContent::new(conn, msp_id)
            .judged_findings(tenant_id, &sigma::rule_name(rule_id), HISTORY_FINDINGS)
            .await?;
        let ids: Vec<uuid::Uuid> = findings
            .iter()
            .flat_map(|f| f.event_ids.iter().copied())
            .collect();
        let inventory = InventoryReader::new(conn, msp_id, tenant_id);
        let mut events = std::collections::HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(1_000) {
            events.extend(
                inventory
                    .events_by_id(chunk)
                    .await?
                    .into_iter()
                    .map(|event| (event.id, event.ocsf)),
            );
        }
        Ok(Self { findings, events })
    }

    fn events_of<'h>(
        &'h self,
        finding: &'h JudgedFinding,
    ) -> impl Iterator<Item = &'h serde_json::Value> {
        finding
            .event_ids
            .iter()
            .filter_map(|id| self.events.get(id))
    }

    fn replay(&self, conditions: &[Condition]) -> Replay {
        let mut replay = Replay {
            considered: self.findings.len(),
            ..Replay::default()
        };
        for finding in &self.findings {
            let hidden = self
                .events_of(finding)
                .any(|event| conditions.iter().all(|c| c.matches(event)));
            if !hidden {
                continue;
            }
            match finding.verdict {
                Some(Verdict::TruePositive) => {
                    replay.hidden.true_positive += 1;
                    replay.hidden_true_positives.push(HiddenFinding {
                        finding_id: finding.finding_id,
                        incident_id: finding.incident_id,
                        title: finding.title.clone(),
                        time: finding.time,
                    });
                }
                Some(Verdict::BenignTruePositive) => replay.hidden.benign_true_positive += 1,
                Some(Verdict::FalsePositive) => replay.hidden.false_positive += 1,
                None => replay.hidden.unjudged += 1,
            }
        }
        replay
    }
}

/// Replays `conditions` as a suppression of rule `rule_id` over the rule's findings in the
/// tenant.
///
/// # Errors
/// When the database cannot be read.
pub async fn replay<C: ConnectionTrait>(
    conn: &C,
    msp_id: MspId,
    tenant_id: TenantId,
    rule_id: &str,
    conditions: &[Condition],
) -> Result<Replay, StorageError> {
    Ok(History::of(conn, msp_id, tenant_id, rule_id)
        .await?
        .replay(conditions))
}

/// Why a suppression was not saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// It is malformed: no condition, no reason, a past expiry.
    Invalid(SuppressionError),
    /// Its replay hides true positives, and the person did not accept that.
    HidesTruePositives(Replay),
}

/// Checks a suppression of rule `rule_id` in the tenant before it is saved: that it is well
/// formed as of `now`, and what its replay over the rule's findings hides. Answers the replay
/// to save it with, or the refusal: a suppression that would have hidden a true positive is
/// refused unless `accept_hidden` (and then those findings go into its audit entry).
///
/// Reads only, so it runs before the write's transaction opens.
///
/// # Errors
/// When the database cannot be read.
pub async fn vet<C: ConnectionTrait>(
    conn: &C,
    (msp_id, tenant_id): (MspId, TenantId),
    rule_id: &str,
    request: &SuppressionRequest,
    now: DateTime<Utc>,
    accept_hidden: bool,
) -> Result<Result<Replay, Refusal>, StorageError> {
    if let Err(invalid) = request.check(now) {
        return Ok(Err(Refusal::Invalid(invalid)));
    }
    let replay = replay(conn, msp_id, tenant_id, rule_id, &request.conditions).await?;
    if !replay.hidden_true_positives.is_empty() && !accept_hidden {
        return Ok(Err(Refusal::HidesTruePositives(replay)));
    }
    Ok(Ok(replay))
}

/// The suppression Steward suggests for rule `rule_id` in the tenant: every identifying field
/// whose value all of the rule's noise shares, replayed; `None` while the rule has fewer than
/// [`NOISE_FOR_SUGGESTION`] findings judged noise, or when they share nothing.
///
/// # Errors
/// When the database cannot be read.
pub async fn suggest<C: ConnectionTrait>(
    conn: &C,
    msp_id: MspId,
    tenant_id: TenantId,
    rule_id: &str,
) -> Result<Option<Suggestion>, StorageError> {
    let history = History::of(conn, msp_id, tenant_id, rule_id).await?;
    let noise: Vec<&JudgedFinding> = history
        .findings
        .iter()
        .filter(|f| {
            matches!(
                f.verdict,
                Some(Verdict::FalsePositive | Verdict::BenignTruePositive)
            )
        })
        .collect();
    if noise.len() < NOISE_FOR_SUGGESTION {
        return Ok(None);
    }
    let events: Vec<&serde_json::Value> = noise
        .iter()
        .flat_map(|finding| history.events_of(finding))
        .collect();
    let conditions = shared_conditions(&events);
    if conditions.is_empty() {
        return Ok(None);
    }
    let replay = history.replay(&conditions);
    Ok(Some(Suggestion {
        conditions,
        noise: noise.len(),
        replay,
    }))
}

/// An `equals` condition for each identifying field that every event has, with one value
/// (ignoring case).
fn shared_conditions(events: &[&serde_json::Value]) -> Vec<Condition> {
    let Some((first, rest)) = events.split_first() else {
        return Vec::new();
    };
    IDENTIFYING_FIELDS
        .iter()
        .filter_map(|field| {
            let value = field_text(first, field)?;
            let wanted = value.to_lowercase();
            rest.iter()
                .all(|event| field_text(event, field).is_some_and(|v| v.to_lowercase() == wanted))
                .then(|| Condition {
                    field: (*field).to_owned(),
                    op: ConditionOp::Equals,
                    value,
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;
    use steward_domain::detections::HiddenCounts;

    use super::*;

    fn process(host: &str, cmd_line: &str, parent: &str) -> serde_json::Value {
        json!({
            "device": {"hostname": host},
            "process": {
                "cmd_line": cmd_line,
                "file": {"path": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"},
                "parent_process": {"file": {"path": parent}},
            },
        })
    }

    const RMM: &str = "C:\\Program Files (x86)\\NinjaRMMAgent\\NinjaRMMAgent.exe";
    const INVENTORY: &str = "powershell.exe -NoProfile -ExecutionPolicy Bypass -File inventory.ps1";

    fn history(events: Vec<(serde_json::Value, Option<Verdict>)>) -> History {
        let mut map = std::collections::HashMap::new();
        let findings = events
            .into_iter()
            .enumerate()
            .map(|(n, (event, verdict))| {
                let id = uuid::Uuid::from_u128(n as u128 + 1);
                map.insert(id, event);
                JudgedFinding {
                    finding_id: id,
                    incident_id: uuid::Uuid::from_u128(100 + n as u128),
                    title: "Change PowerShell Policies to an Insecure Level".to_owned(),
                    time: Utc.timestamp_opt(1_764_580_500, 0).unwrap(),
                    event_ids: vec![id],
                    verdict,
                }
            })
            .collect();
        History {
            findings,
            events: map,
        }
    }

    #[test]
    fn what_noise_shares_becomes_the_suggestion_and_what_differs_does_not() {
        let a = process("PC-1", INVENTORY, RMM);
        let b = process("PC-2", INVENTORY, RMM);
        let conditions = shared_conditions(&[&a, &b]);
        let fields: Vec<&str> = conditions.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "process.cmd_line",
                "process.file.path",
                "process.parent_process.file.path"
            ],
            "the hosts differ, so the host is no part of it"
        );
        assert!(conditions.iter().all(|c| c.op == ConditionOp::Equals));
        assert!(shared_conditions(&[]).is_empty());
    }

    #[test]
    fn a_replay_counts_what_would_be_hidden_and_names_the_true_positives() {
        let attack = process(
            "PC-7",
            "powershell.exe -nop -w hidden -ExecutionPolicy Bypass -enc JABzAD0A",
            "C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE",
        );
        let history = history(vec![
            (
                process("PC-1", INVENTORY, RMM),
                Some(Verdict::BenignTruePositive),
            ),
            (
                process("PC-2", INVENTORY, RMM),
                Some(Verdict::FalsePositive),
            ),
            (process("PC-3", INVENTORY, RMM), None),
            (attack, Some(Verdict::TruePositive)),
        ]);
        let narrow = history.replay(&[Condition {
            field: "process.parent_process.file.path".to_owned(),
            op: ConditionOp::Equals,
            value: RMM.to_lowercase(),
        }]);
        assert_eq!(narrow.considered, 4);
        assert_eq!(
            narrow.hidden,
            HiddenCounts {
                true_positive: 0,
                benign_true_positive: 1,
                false_positive: 1,
                unjudged: 1
            }
        );
        assert!(narrow.hidden_true_positives.is_empty());
        let broad = history.replay(&[Condition {
            field: "process.file.path".to_owned(),
            op: ConditionOp::Contains,
            value: "powershell.exe".to_owned(),
        }]);
        assert_eq!(broad.hidden.true_positive, 1);
        assert_eq!(
            broad.hidden_true_positives[0].finding_id,
            uuid::Uuid::from_u128(4)
        );
    }
}
