//! Detection content of an MSP: the Sigma rules it uploaded, and which rules (built in or its
//! own) are on for the whole MSP or one tenant. Persistence only: what makes a rule valid, and
//! what a state means for detection, are the detection stage's (`crate::detection::content`).
//! Every change is in the audit chain with the versions before and after, so a finding's rule
//! version can be traced to who uploaded it and when.

use std::collections::HashMap;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set,
};
use serde::Serialize;
use serde_json::json;
use steward_domain::{MspId, TenantId, UserId, incidents::Verdict};

use super::{
    StorageError, WriteContext,
    entities::{detection_rule, detection_rule_state, detection_rule_version, finding, incident},
    new_id,
    scoping::InTenant,
};
use crate::audit::{self, ChainRef, Change};

/// The scope of a rule's state: the MSP's own.
const MSP_SCOPE: &str = "msp";

/// A rule an MSP uploaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredRule {
    pub rule_id: String,
    pub title: String,
    pub version: String,
    pub yaml: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<detection_rule::Model> for StoredRule {
    fn from(row: detection_rule::Model) -> Self {
        Self {
            rule_id: row.rule_id,
            title: row.title,
            version: row.version,
            yaml: row.yaml,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// Which rules were turned on or off, MSP-wide and for one tenant; a rule in neither keeps its
/// default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleStates {
    pub msp: HashMap<String, bool>,
    pub tenant: HashMap<String, bool>,
}

impl RuleStates {
    /// Whether `rule_id` is on: the tenant's choice, else the MSP's, else `default`.
    #[must_use]
    pub fn enabled(&self, rule_id: &str, default: bool) -> bool {
        self.tenant
            .get(rule_id)
            .or_else(|| self.msp.get(rule_id))
            .copied()
            .unwrap_or(default)
    }
}

/// Reads an MSP's detection content.
#[derive(Debug, Clone, Copy)]
pub struct DetectionContent<'c, C> {
    conn: &'c C,
    msp_id: MspId,
}

impl<'c, C: ConnectionTrait> DetectionContent<'c, C> {
    /// The MSP whose content this reads.
    #[must_use]
    pub fn msp_id(&self) -> MspId {
        self.msp_id
    }

    #[must_use]
    pub fn new(conn: &'c C, msp_id: MspId) -> Self {
        Self { conn, msp_id }
    }

    /// The MSP's own rules, by rule id.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn custom_rules(&self) -> Result<Vec<StoredRule>, StorageError> {
        Ok(detection_rule::Entity::find()
            .filter(detection_rule::Column::MspId.eq(self.msp_id.as_uuid()))
            .order_by_asc(detection_rule::Column::RuleId)
            .all(self.conn)
            .await?
            .into_iter()
            .map(StoredRule::from)
            .collect())
    }

    /// One of the MSP's own rules.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn custom_rule(&self, rule_id: &str) -> Result<Option<StoredRule>, StorageError> {
        Ok(row(self.conn, self.msp_id, rule_id)
            .await?
            .map(StoredRule::from))
    }

    /// The states set MSP-wide, and for `tenant` when given.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn states(&self, tenant: Option<TenantId>) -> Result<RuleStates, StorageError> {
        let mut scopes = vec![MSP_SCOPE.to_owned()];
        if let Some(tenant) = tenant {
            scopes.push(tenant.to_string());
        }
        let rows = detection_rule_state::Entity::find()
            .filter(detection_rule_state::Column::MspId.eq(self.msp_id.as_uuid()))
            .filter(detection_rule_state::Column::Scope.is_in(scopes))
            .all(self.conn)
            .await?;
        let mut states = RuleStates::default();
        for row in rows {
            let map = if row.scope == MSP_SCOPE {
                &mut states.msp
            } else {
                &mut states.tenant
            };
            map.insert(row.rule_id, row.enabled);
        }
        Ok(states)
    }
}

/// What people concluded about one rule's findings: how many there are, and the verdicts of the
/// incidents they are in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct VerdictCounts {
    pub findings: u64,
    pub true_positive: u64,
    pub benign_true_positive: u64,
    pub false_positive: u64,
    /// When the newest of the findings happened.
    pub last_match: Option<chrono::DateTime<chrono::Utc>>,
}

impl<C: ConnectionTrait> DetectionContent<'_, C> {
    /// Per finding rule (`sigma:<id>`, `impossible-travel`, …), its findings that happened since
    /// `since` (all of them without it) and their incidents' verdicts, across the MSP or in
    /// `tenant`.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn verdicts(
        &self,
        tenant: Option<TenantId>,
        since: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<HashMap<String, VerdictCounts>, StorageError> {
        use sea_orm::QuerySelect;
        let findings = finding::Entity::find().select_only().columns([
            finding::Column::Rule,
            finding::Column::IncidentId,
            finding::Column::Time,
        ]);
        let findings = match tenant {
            Some(tenant) => findings.in_tenant(self.msp_id, tenant),
            None => findings.filter(finding::Column::MspId.eq(self.msp_id.as_uuid())),
        };
        let findings = match since {
            Some(since) => findings.filter(finding::Column::Time.gte(since)),
            None => findings,
        };
        let findings: Vec<(String, uuid::Uuid, chrono::DateTime<chrono::Utc>)> =
            findings.into_tuple().all(self.conn).await?;
        self.count_verdicts(tenant, findings).await
    }

    /// Per version of finding rule `rule` (`sigma:<id>`) that found something, its findings
    /// across the MSP and their incidents' verdicts: what each version of a rule produced.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn verdicts_by_version(
        &self,
        rule: &str,
    ) -> Result<HashMap<String, VerdictCounts>, StorageError> {
        use sea_orm::QuerySelect;
        let rows: Vec<(serde_json::Value, uuid::Uuid, chrono::DateTime<chrono::Utc>)> =
            finding::Entity::find()
                .select_only()
                .columns([
                    finding::Column::Details,
                    finding::Column::IncidentId,
                    finding::Column::Time,
                ])
                .filter(finding::Column::MspId.eq(self.msp_id.as_uuid()))
                .filter(finding::Column::Rule.eq(rule))
                .into_tuple()
                .all(self.conn)
                .await?;
        let findings = rows
            .into_iter()
            .map(|(details, incident, time)| {
                let version = details["rule_version"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                (version, incident, time)
            })
            .collect();
        self.count_verdicts(None, findings).await
    }

    /// Counts findings per key with the verdicts of their incidents (in `tenant`, or across the
    /// MSP).
    async fn count_verdicts(
        &self,
        tenant: Option<TenantId>,
        findings: Vec<(String, uuid::Uuid, chrono::DateTime<chrono::Utc>)>,
    ) -> Result<HashMap<String, VerdictCounts>, StorageError> {
        use sea_orm::QuerySelect;
        let incidents = incident::Entity::find()
            .select_only()
            .columns([incident::Column::Id, incident::Column::Verdict])
            .filter(incident::Column::Verdict.is_not_null());
        let incidents = match tenant {
            Some(tenant) => incidents.in_tenant(self.msp_id, tenant),
            None => incidents.filter(incident::Column::MspId.eq(self.msp_id.as_uuid())),
        };
        let verdicts: HashMap<uuid::Uuid, Option<String>> = incidents
            .into_tuple::<(uuid::Uuid, Option<String>)>()
            .all(self.conn)
            .await?
            .into_iter()
            .collect();
        let mut counts: HashMap<String, VerdictCounts> = HashMap::new();
        for (key, incident_id, time) in findings {
            let count = counts.entry(key).or_default();
            count.findings += 1;
            count.last_match = count.last_match.max(Some(time));
            match verdicts.get(&incident_id).and_then(Option::as_deref) {
                Some("true_positive") => count.true_positive += 1,
                Some("benign_true_positive") => count.benign_true_positive += 1,
                Some("false_positive") => count.false_positive += 1,
                _ => {}
            }
        }
        Ok(counts)
    }

    /// Every version of the MSP's rule `rule_id` that was stored, oldest first (kept after the
    /// rule is replaced or removed).
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn versions(&self, rule_id: &str) -> Result<Vec<StoredVersion>, StorageError> {
        Ok(detection_rule_version::Entity::find()
            .filter(detection_rule_version::Column::MspId.eq(self.msp_id.as_uuid()))
            .filter(detection_rule_version::Column::RuleId.eq(rule_id))
            .order_by_asc(detection_rule_version::Column::Id)
            .all(self.conn)
            .await?
            .into_iter()
            .map(|row| StoredVersion {
                version: row.version,
                title: row.title,
                yaml: row.yaml,
                reason: row.reason,
                author: row.author,
                author_id: row.author_id.map(UserId::from_uuid),
                created_at: row.created_at,
            })
            .collect())
    }
}

/// One stored version of one of the MSP's own rules: what it was, who made it, when and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVersion {
    pub version: String,
    pub title: String,
    pub yaml: String,
    pub reason: String,
    pub author: String,
    pub author_id: Option<UserId>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// One finding of a rule with its incident's verdict, for replaying a suppression over what the
/// rule found before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JudgedFinding {
    pub finding_id: uuid::Uuid,
    pub incident_id: uuid::Uuid,
    pub title: String,
    pub time: chrono::DateTime<chrono::Utc>,
    pub event_ids: Vec<uuid::Uuid>,
    pub verdict: Option<Verdict>,
}

impl<C: ConnectionTrait> DetectionContent<'_, C> {
    /// The newest `limit` findings of finding rule `rule` (`sigma:<id>`) in `tenant`, oldest
    /// first, with the verdict of its incident.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn judged_findings(
        &self,
        tenant: TenantId,
        rule: &str,
        limit: u64,
    ) -> Result<Vec<JudgedFinding>, StorageError> {
        use sea_orm::QuerySelect;
        let mut findings = finding::Entity::find()
            .in_tenant(self.msp_id, tenant)
            .filter(finding::Column::Rule.eq(rule))
            .order_by_desc(finding::Column::Time)
            .order_by_desc(finding::Column::Id)
            .limit(limit)
            .all(self.conn)
            .await?;
        findings.reverse();
        let incident_ids: Vec<uuid::Uuid> = findings.iter().map(|f| f.incident_id).collect();
        let mut verdicts: HashMap<uuid::Uuid, Verdict> = HashMap::new();
        for chunk in incident_ids.chunks(500) {
            let rows = incident::Entity::find()
                .in_tenant(self.msp_id, tenant)
                .filter(incident::Column::Id.is_in(chunk.to_vec()))
                .filter(incident::Column::Verdict.is_not_null())
                .all(self.conn)
                .await?;
            for row in rows {
                if let Some(verdict) = row.verdict.as_deref() {
                    let parsed = Verdict::parse(verdict)
                        .ok_or_else(|| StorageError::corrupt("incident verdict", &verdict))?;
                    verdicts.insert(row.id, parsed);
                }
            }
        }
        findings
            .into_iter()
            .map(|row| {
                let event_ids: Vec<uuid::Uuid> = serde_json::from_value(row.event_ids)
                    .map_err(|e| StorageError::corrupt("finding events", &e))?;
                Ok(JudgedFinding {
                    finding_id: row.id,
                    incident_id: row.incident_id,
                    title: row.title,
                    time: row.time,
                    event_ids,
                    verdict: verdicts.get(&row.incident_id).copied(),
                })
            })
            .collect()
    }
}

async fn row<C: ConnectionTrait>(
    conn: &C,
    msp_id: MspId,
    rule_id: &str,
) -> Result<Option<detection_rule::Model>, StorageError> {
    Ok(detection_rule::Entity::find()
        .filter(detection_rule::Column::MspId.eq(msp_id.as_uuid()))
        .filter(detection_rule::Column::RuleId.eq(rule_id))
        .one(conn)
        .await?)
}

/// A rule to store, as the detection stage checked it.
#[derive(Debug, Clone)]
pub struct NewRule {
    pub rule_id: String,
    pub title: String,
    pub version: String,
    pub yaml: String,
    /// Why it was uploaded or changed.
    pub reason: String,
    /// How it differs from the version it replaces, as a unified diff.
    pub diff: Option<String>,
}

/// What storing a rule did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Saved {
    Created,
    /// It replaced this version.
    Replaced {
        previous_version: String,
    },
    /// The same version was stored already: nothing changed.
    Unchanged,
}

/// Changes an MSP's detection content: its own rules and MSP-wide states (the caller's
/// permission is checked where the handle is made).
#[derive(Debug)]
pub struct DetectionContentWriter<'a> {
    ctx: &'a WriteContext<'a>,
    msp_id: MspId,
}

impl<'a> DetectionContentWriter<'a> {
    pub(crate) fn new(ctx: &'a WriteContext<'a>, msp_id: MspId) -> Self {
        Self { ctx, msp_id }
    }

    /// Reads the MSP's content as this writer's transaction sees it.
    #[must_use]
    pub fn reader(&self) -> DetectionContent<'a, sea_orm::DatabaseTransaction> {
        DetectionContent::new(self.ctx.txn, self.msp_id)
    }

    /// Stores a rule, replacing the MSP's rule of the same id.
    ///
    /// # Errors
    /// When the database cannot be written.
    pub async fn save_rule(&self, rule: &NewRule) -> Result<Saved, StorageError> {
        let now = self.ctx.clock.now();
        let existing = row(self.ctx.txn, self.msp_id, &rule.rule_id).await?;
        let saved = match existing {
            Some(row) if row.version == rule.version && row.yaml == rule.yaml => {
                return Ok(Saved::Unchanged);
            }
            Some(row) => {
                let previous_version = row.version.clone();
                let mut active = row.into_active_model();
                active.title = Set(rule.title.clone());
                active.version = Set(rule.version.clone());
                active.yaml = Set(rule.yaml.clone());
                active.updated_at = Set(now);
                active.update(self.ctx.txn).await?;
                Saved::Replaced { previous_version }
            }
            None => {
                detection_rule::ActiveModel {
                    id: Set(new_id(self.ctx.clock)),
                    msp_id: Set(self.msp_id.as_uuid()),
                    rule_id: Set(rule.rule_id.clone()),
                    title: Set(rule.title.clone()),
                    version: Set(rule.version.clone()),
                    yaml: Set(rule.yaml.clone()),
                    created_at: Set(now),
                    updated_at: Set(now),
                }
                .insert(self.ctx.txn)
                .await
                .map_err(|e| StorageError::from_write("a rule with this id", e))?;
                Saved::Created
            }
        };
        detection_rule_version::ActiveModel {
            id: Set(new_id(self.ctx.clock)),
            msp_id: Set(self.msp_id.as_uuid()),
            rule_id: Set(rule.rule_id.clone()),
            version: Set(rule.version.clone()),
            title: Set(rule.title.clone()),
            yaml: Set(rule.yaml.clone()),
            reason: Set(rule.reason.clone()),
            author: Set(self.ctx.actor.label.clone()),
            author_id: Set(self.ctx.actor.user_id.map(|id| id.as_uuid())),
            created_at: Set(now),
        }
        .insert(self.ctx.txn)
        .await?;
        let after = json!({
            "title": rule.title,
            "version": rule.version,
            "yaml": rule.yaml,
            "reason": rule.reason,
            "diff": rule.diff,
        });
        let change = match &saved {
            Saved::Replaced { previous_version } => {
                Change::new("detection_rule.updated", "detection_rule", &rule.rule_id)
                    .before(&json!({"version": previous_version}))
            }
            _ => Change::new("detection_rule.created", "detection_rule", &rule.rule_id),
        };
        audit::append(self.ctx, ChainRef::Msp(self.msp_id), change.after(&after)).await?;
        Ok(saved)
    }

    /// Removes one of the MSP's own rules, and every state set for it; `None` when there is
    /// no such rule.
    ///
    /// # Errors
    /// When the database cannot be written.
    pub async fn remove_rule(&self, rule_id: &str) -> Result<Option<StoredRule>, StorageError> {
        let Some(existing) = row(self.ctx.txn, self.msp_id, rule_id).await? else {
            return Ok(None);
        };
        detection_rule::Entity::delete_by_id(existing.id)
            .exec(self.ctx.txn)
            .await?;
        detection_rule_state::Entity::delete_many()
            .filter(detection_rule_state::Column::MspId.eq(self.msp_id.as_uuid()))
            .filter(detection_rule_state::Column::RuleId.eq(rule_id))
            .exec(self.ctx.txn)
            .await?;
        audit::append(
            self.ctx,
            ChainRef::Msp(self.msp_id),
            Change::new("detection_rule.removed", "detection_rule", &rule_id)
                .before(&json!({"title": existing.title, "version": existing.version})),
        )
        .await?;
        Ok(Some(existing.into()))
    }

    /// Turns a rule on or off for the whole MSP, or back to its default (`None`).
    ///
    /// # Errors
    /// When the database cannot be written.
    pub async fn set_msp_state(
        &self,
        rule_id: &str,
        enabled: Option<bool>,
    ) -> Result<(), StorageError> {
        set_state(self.ctx, self.msp_id, None, rule_id, enabled).await
    }
}

/// Sets a rule's state for the MSP (`tenant` `None`) or one tenant, in that scope's audit
/// chain; `enabled` `None` removes it.
pub(crate) async fn set_state(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    tenant: Option<TenantId>,
    rule_id: &str,
    enabled: Option<bool>,
) -> Result<(), StorageError> {
    let scope = tenant.map_or_else(|| MSP_SCOPE.to_owned(), |t| t.to_string());
    let existing = detection_rule_state::Entity::find()
        .filter(detection_rule_state::Column::MspId.eq(msp_id.as_uuid()))
        .filter(detection_rule_state::Column::Scope.eq(scope.as_str()))
        .filter(detection_rule_state::Column::RuleId.eq(rule_id))
        .one(ctx.txn)
        .await?;
    let before = existing.as_ref().map(|row| row.enabled);
    if before == enabled {
        return Ok(());
    }
    match (existing, enabled) {
        (Some(row), None) => {
            detection_rule_state::Entity::delete_by_id(row.id)
                .exec(ctx.txn)
                .await?;
        }
        (Some(row), Some(enabled)) => {
            let mut active = row.into_active_model();
            active.enabled = Set(enabled);
            active.updated_at = Set(ctx.clock.now());
            active.update(ctx.txn).await?;
        }
        (None, Some(enabled)) => {
            detection_rule_state::ActiveModel {
                id: Set(new_id(ctx.clock)),
                msp_id: Set(msp_id.as_uuid()),
                scope: Set(scope),
                rule_id: Set(rule_id.to_owned()),
                enabled: Set(enabled),
                updated_at: Set(ctx.clock.now()),
            }
            .insert(ctx.txn)
            .await?;
        }
        (None, None) => return Ok(()),
    }
    let chain = match tenant {
        Some(tenant_id) => ChainRef::Tenant { msp_id, tenant_id },
        None => ChainRef::Msp(msp_id),
    };
    audit::append(
        ctx,
        chain,
        Change::new("detection_rule.state_changed", "detection_rule", &rule_id)
            .before(&json!({"enabled": before}))
            .after(&json!({"enabled": enabled})),
    )
    .await?;
    Ok(())
}
