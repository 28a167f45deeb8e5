//! Which Sigma logsources an event of Steward's satisfies — the index that keeps an event from
//! being tested against rules that cannot match it.
//!
//! Every event Steward stores is one of a few [`Source`]s, known from its OCSF class and the
//! product that logged it; each source satisfies a fixed list of Sigma logsources (a Sysmon
//! process creation is `windows`/`process_creation` and `windows`/`sysmon`). A rule belongs to
//! every source one of whose logsources it asks for no more than (`product: windows` alone
//! belongs to every Windows source), and a rule no source can satisfy is refused at load with
//! its logsource named.

use serde_json::Value;
use steward_domain::observations::OcsfClass;

/// A Sigma logsource: product, category, service (each optional in a rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSource {
    pub product: Option<&'static str>,
    pub category: Option<&'static str>,
    pub service: Option<&'static str>,
}

const fn windows(category: Option<&'static str>, service: Option<&'static str>) -> LogSource {
    LogSource {
        product: Some("windows"),
        category,
        service,
    }
}

/// The kinds of event Sigma rules are evaluated over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    SysmonProcessCreation,
    SecurityProcessCreation,
    SysmonFileEvent,
    SysmonFileDelete,
    SysmonRegistryAdd,
    SysmonRegistrySet,
    SysmonRegistryDelete,
    SysmonRegistryRename,
    SecurityRegistrySet,
    /// Microsoft Defender for Endpoint's device events (advanced hunting): the same
    /// categories as Sysmon's, without Sysmon's service.
    DefenderProcessCreation,
    DefenderFileEvent,
    DefenderFileDelete,
    DefenderRegistryAdd,
    DefenderRegistrySet,
    DefenderRegistryDelete,
    /// Any other Security log event Steward stores (sign-ins, account changes).
    Security,
    EntraSignIn,
    EntraAudit,
    Okta,
}

impl Source {
    pub const ALL: [Source; 19] = [
        Source::SysmonProcessCreation,
        Source::SecurityProcessCreation,
        Source::SysmonFileEvent,
        Source::SysmonFileDelete,
        Source::SysmonRegistryAdd,
        Source::SysmonRegistrySet,
        Source::SysmonRegistryDelete,
        Source::SysmonRegistryRename,
        Source::SecurityRegistrySet,
        Source::DefenderProcessCreation,
        Source::DefenderFileEvent,
        Source::DefenderFileDelete,
        Source::DefenderRegistryAdd,
        Source::DefenderRegistrySet,
        Source::DefenderRegistryDelete,
        Source::Security,
        Source::EntraSignIn,
        Source::EntraAudit,
        Source::Okta,
    ];

    /// The Sigma logsources an event of this source satisfies.
    #[must_use]
    pub fn logsources(self) -> &'static [LogSource] {
        const SYSMON: LogSource = windows(None, Some("sysmon"));
        const SECURITY: LogSource = windows(None, Some("security"));
        const PROCESS_CREATION: LogSource = windows(Some("process_creation"), None);
        const FILE_EVENT: LogSource = windows(Some("file_event"), None);
        const FILE_DELETE: LogSource = windows(Some("file_delete"), None);
        const REGISTRY_EVENT: LogSource = windows(Some("registry_event"), None);
        const REGISTRY_ADD: LogSource = windows(Some("registry_add"), None);
        const REGISTRY_SET: LogSource = windows(Some("registry_set"), None);
        const REGISTRY_DELETE: LogSource = windows(Some("registry_delete"), None);
        const REGISTRY_RENAME: LogSource = windows(Some("registry_rename"), None);
        const ENTRA_SIGN_IN: LogSource = LogSource {
            product: Some("azure"),
            category: None,
            service: Some("signinlogs"),
        };
        const ENTRA_AUDIT: LogSource = LogSource {
            product: Some("azure"),
            category: None,
            service: Some("auditlogs"),
        };
        const OKTA: LogSource = LogSource {
            product: Some("okta"),
            category: None,
            service: Some("okta"),
        };
        match self {
            Source::SysmonProcessCreation => &[PROCESS_CREATION, SYSMON],
            Source::SecurityProcessCreation => &[PROCESS_CREATION, SECURITY],
            Source::SysmonFileEvent => &[FILE_EVENT, SYSMON],
            Source::SysmonFileDelete => &[FILE_DELETE, SYSMON],
            Source::SysmonRegistryAdd => &[REGISTRY_ADD, REGISTRY_EVENT, SYSMON],
            Source::SysmonRegistrySet => &[REGISTRY_SET, REGISTRY_EVENT, SYSMON],
            Source::SysmonRegistryDelete => &[REGISTRY_DELETE, REGISTRY_EVENT, SYSMON],
            Source::SysmonRegistryRename => &[REGISTRY_RENAME, REGISTRY_EVENT, SYSMON],
            Source::SecurityRegistrySet => &[REGISTRY_SET, REGISTRY_EVENT, SECURITY],
            Source::DefenderProcessCreation => &[PROCESS_CREATION],
            Source::DefenderFileEvent => &[FILE_EVENT],
            Source::DefenderFileDelete => &[FILE_DELETE],
            Source::DefenderRegistryAdd => &[REGISTRY_ADD, REGISTRY_EVENT],
            Source::DefenderRegistrySet => &[REGISTRY_SET, REGISTRY_EVENT],
            Source::DefenderRegistryDelete => &[REGISTRY_DELETE, REGISTRY_EVENT],
            Source::Security => &[SECURITY],
            Source::EntraSignIn => &[ENTRA_SIGN_IN],
            Source::EntraAudit => &[ENTRA_AUDIT],
            Source::Okta => &[OKTA],
        }
    }

    /// The source of an OCSF event, from its class, activity and the product that logged it;
    /// `None` for events no Sigma rule is evaluated over (a vendor's own alerts).
    #[must_use]
    pub fn of(class: OcsfClass, ocsf: &Value) -> Option<Source> {
        let product = ocsf["metadata"]["product"]["name"].as_str().unwrap_or("");
        let log = ocsf["metadata"]["log_name"].as_str().unwrap_or("");
        let activity = ocsf["activity_id"].as_u64().unwrap_or(0);
        let sysmon = product == "Sysmon" || log == "Microsoft-Windows-Sysmon/Operational";
        let security = log == "Security";
        if product == "Microsoft Defender for Endpoint" {
            return Some(match (class, activity) {
                (OcsfClass::ProcessActivity, 1) => Source::DefenderProcessCreation,
                (OcsfClass::FileSystemActivity, 1) => Source::DefenderFileEvent,
                (OcsfClass::FileSystemActivity, 4) => Source::DefenderFileDelete,
                (OcsfClass::RegistryKeyActivity, 1) => Source::DefenderRegistryAdd,
                (OcsfClass::RegistryKeyActivity | OcsfClass::RegistryValueActivity, 4) => {
                    Source::DefenderRegistryDelete
                }
                (OcsfClass::RegistryValueActivity, _) => Source::DefenderRegistrySet,
                _ => return None,
            });
        }
        Some(match class {
            OcsfClass::ProcessActivity if activity == 1 && sysmon => Source::SysmonProcessCreation,
            OcsfClass::ProcessActivity if activity == 1 => Source::SecurityProcessCreation,
            OcsfClass::FileSystemActivity if activity == 1 => Source::SysmonFileEvent,
            OcsfClass::FileSystemActivity if activity == 4 => Source::SysmonFileDelete,
            OcsfClass::RegistryKeyActivity if activity == 1 => Source::SysmonRegistryAdd,
            OcsfClass::RegistryKeyActivity if activity == 4 => Source::SysmonRegistryDelete,
            OcsfClass::RegistryKeyActivity if activity == 5 => Source::SysmonRegistryRename,
            OcsfClass::RegistryValueActivity if activity == 4 => Source::SysmonRegistryDelete,
            OcsfClass::RegistryValueActivity if security => Source::SecurityRegistrySet,
            OcsfClass::RegistryValueActivity => Source::SysmonRegistrySet,
            OcsfClass::Authentication | OcsfClass::AccountChange if security => Source::Security,
            OcsfClass::Authentication if product.starts_with("Microsoft Entra") => {
                Source::EntraSignIn
            }
            OcsfClass::AccountChange | OcsfClass::ApiActivity
                if product.starts_with("Microsoft Entra") =>
            {
                Source::EntraAudit
            }
            OcsfClass::Authentication | OcsfClass::AccountChange | OcsfClass::ApiActivity
                if product == "Okta" =>
            {
                Source::Okta
            }
            _ => return None,
        })
    }
}

/// Whether a rule asking for `wanted` (product, category, service; `None` asks nothing)
/// matches events of `offered`.
#[must_use]
pub fn satisfies(
    offered: &LogSource,
    (product, category, service): (Option<&str>, Option<&str>, Option<&str>),
) -> bool {
    let field = |asked: Option<&str>, has: Option<&str>| {
        asked.is_none_or(|asked| has.is_some_and(|has| has.eq_ignore_ascii_case(asked)))
    };
    field(product, offered.product)
        && field(category, offered.category)
        && field(service, offered.service)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_rule_belongs_to_the_sources_whose_logsources_ask_no_less() {
        let process = Source::SysmonProcessCreation.logsources();
        let belongs = |wanted| process.iter().any(|l| satisfies(l, wanted));
        assert!(belongs((Some("windows"), Some("process_creation"), None)));
        assert!(belongs((Some("windows"), None, None)));
        assert!(belongs((Some("windows"), None, Some("sysmon"))));
        assert!(!belongs((Some("windows"), Some("file_event"), None)));
        assert!(!belongs((Some("linux"), Some("process_creation"), None)));
        assert!(!belongs((
            Some("windows"),
            Some("process_creation"),
            Some("security")
        )));
    }

    #[test]
    fn events_know_their_source_from_class_activity_and_product() {
        let sysmon = json!({"activity_id": 1, "metadata": {"product": {"name": "Sysmon"}}});
        assert_eq!(
            Source::of(OcsfClass::ProcessActivity, &sysmon),
            Some(Source::SysmonProcessCreation)
        );
        let sign_in = json!({"metadata": {"product": {"name": "Okta"}}});
        assert_eq!(
            Source::of(OcsfClass::Authentication, &sign_in),
            Some(Source::Okta)
        );
        assert_eq!(Source::of(OcsfClass::DetectionFinding, &sign_in), None);
    }
}
