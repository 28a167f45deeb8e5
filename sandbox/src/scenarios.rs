//! Scripted incidents: the vendor records a real attack of each kind leaves behind.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{
    SandboxError,
    environment::{Environment, Place, SignInFrom},
};

/// An incident the sandbox can stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Defender detects malware on a finance laptop.
    MalwareLaptop,
    /// A privileged user signs in from two continents half an hour apart, then the account
    /// downloads files in bulk.
    CompromisedAdmin,
    /// The RMM's nightly inventory script runs PowerShell with `-ExecutionPolicy Bypass` on
    /// every managed Windows device: generic rules fire everywhere though nothing is wrong.
    NoisyAdminScript,
    /// From abroad, someone registers a new authenticator for an employee's account: the
    /// identity providers' audit logs record it, and nothing else does.
    RogueAuthenticator,
}

impl Scenario {
    pub const ALL: [Scenario; 4] = [
        Scenario::MalwareLaptop,
        Scenario::CompromisedAdmin,
        Scenario::NoisyAdminScript,
        Scenario::RogueAuthenticator,
    ];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Scenario::MalwareLaptop => "malware-laptop",
            Scenario::CompromisedAdmin => "compromised-admin",
            Scenario::NoisyAdminScript => "noisy-admin-script",
            Scenario::RogueAuthenticator => "rogue-authenticator",
        }
    }

    #[must_use]
    pub fn parse(value: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.as_str() == value)
    }

    #[must_use]
    pub const fn description(self) -> &'static str {
        match self {
            Scenario::MalwareLaptop => {
                "Microsoft Defender for Endpoint raises a high-severity malware alert on a finance laptop; its advanced hunting shows the macro behind it (Excel starting an encoded PowerShell that installs a loader to run at sign-in)."
            }
            Scenario::CompromisedAdmin => {
                "A Global Administrator signs in from the office and, 32 minutes later, from Lagos; Microsoft Defender for Cloud Apps then reports a mass file download by the same account."
            }
            Scenario::NoisyAdminScript => {
                "NinjaOne's nightly inventory script runs PowerShell with -ExecutionPolicy Bypass on every managed laptop: Defender's advanced hunting shows it, generic Sigma rules fire on each, and nothing is wrong — findings for technicians to judge and rules to tune."
            }
            Scenario::RogueAuthenticator => {
                "From an address in Lagos, someone registers a new authenticator app for an employee's account: Microsoft Entra's directory audit log and Okta's System Log record it, and no alert is raised."
            }
        }
    }

    /// What working detection finds in this scenario, by finding rule (`sigma:<id>`,
    /// `impossible-travel`, `vendor-alert:<product>`): its labels, which `steward rules
    /// coverage` measures recall against. Each names the rule that catches one step of it.
    #[must_use]
    pub const fn expected_findings(self) -> &'static [&'static str] {
        match self {
            Scenario::MalwareLaptop => &[
                // The vendor's own alert.
                "vendor-alert:Microsoft Defender for Endpoint",
                // Excel starting PowerShell: Suspicious Microsoft Office Child Process.
                "sigma:438025f9-5856-4663-83f7-52f878a70a50",
                // The encoded command: Suspicious Encoded PowerShell Command Line.
                "sigma:ca2092a1-c273-4878-9b4b-0d60115bf5ea",
                // The policy bypassed: Change PowerShell Policies to an Insecure Level.
                "sigma:87e3c4e8-a6a8-4ad9-bb4f-46e7ff99a180",
                // The loader set to run at sign-in: CurrentVersion Autorun Keys Modification.
                "sigma:20f0ee37-5942-4e45-b7d5-c5b5db9df5cd",
            ],
            Scenario::CompromisedAdmin => &[
                "impossible-travel",
                // A first sign-in from another country, on a network never used before.
                "unusual-sign-in",
                "vendor-alert:Microsoft Defender for Cloud Apps",
            ],
            // Benign, but a generic rule is right to fire on it: the noise tuning learns from.
            Scenario::NoisyAdminScript => &["sigma:87e3c4e8-a6a8-4ad9-bb4f-46e7ff99a180"],
            // Change to Authentication Method, on Entra's directory audit.
            Scenario::RogueAuthenticator => &["sigma:4d78a000-ab52-4564-88a5-7ab5242b20c7"],
        }
    }

    pub(crate) fn run(
        self,
        environment: &mut Environment,
        now: DateTime<Utc>,
    ) -> Result<ScenarioRun, SandboxError> {
        match self {
            Scenario::MalwareLaptop => malware_laptop(environment, now),
            Scenario::CompromisedAdmin => compromised_admin(environment, now),
            Scenario::NoisyAdminScript => noisy_admin_script(environment, now),
            Scenario::RogueAuthenticator => rogue_authenticator(environment, now),
        }
    }
}

/// What a scenario run added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioRun {
    pub scenario: Scenario,
    pub summary: String,
    /// The vendor id of the device or user at the centre of it.
    pub target: String,
    /// Ids of the vendor records added (alerts, sign-ins).
    pub records: Vec<String>,
}

/// A Defender-style alert id: `da` + 18 digits + `_` + 10 digits.
fn defender_alert_id(environment: &mut Environment) -> String {
    let seed = environment.next_guid("alert").replace('-', "");
    let digits: String = seed.bytes().map(|b| char::from(b'0' + b % 10)).collect();
    format!("da{}_{}", &digits[..18], &digits[18..28])
}

fn malware_laptop(
    environment: &mut Environment,
    now: DateTime<Utc>,
) -> Result<ScenarioRun, SandboxError> {
    let machine = environment
        .machines
        .iter()
        .find(|m| m.machine_tags.iter().any(|t| t == "Finance") && !m.isolated)
        .cloned()
        .ok_or_else(|| {
            SandboxError::NotApplicable("no finance laptop that is not already isolated".into())
        })?;
    let user = machine
        .primary_user
        .as_deref()
        .and_then(|id| environment.user(id))
        .cloned();
    let id = defender_alert_id(environment);
    let incident = 10_000 + environment.sequence;
    let detector = environment.next_guid("detector");
    let account = user
        .as_ref()
        .map_or_else(|| "unknown".to_owned(), |u| u.given_name.to_lowercase());
    let domain = environment
        .domain
        .split('.')
        .next()
        .unwrap_or_default()
        .to_uppercase();
    let alert = json!({
        "id": id,
        "incidentId": incident,
        "investigationId": null,
        "assignedTo": null,
        "severity": "High",
        "status": "New",
        "classification": null,
        "determination": null,
        "investigationState": "Queued",
        "detectionSource": "WindowsDefenderAv",
        "detectorId": detector,
        "category": "Malware",
        "threatFamilyName": "Emotet",
        "title": "'Emotet' malware was detected",
        "description": "Malware and unwanted software are undesirable applications that perform annoying, disruptive, or harmful actions on affected machines. An active 'Emotet' process was detected after a macro-enabled invoice was opened.",
        "alertCreationTime": now,
        "firstEventTime": now - Duration::minutes(4),
        "lastEventTime": now - Duration::minutes(1),
        "lastUpdateTime": now,
        "resolvedTime": null,
        "machineId": machine.id,
        "computerDnsName": machine.computer_dns_name,
        "rbacGroupName": null,
        "aadTenantId": environment.directory_id,
        "threatName": "Trojan:Win32/Emotet.PA!MTB",
        "mitreTechniques": ["T1204.002", "T1059.001"],
        "relatedUser": {"userName": account, "domainName": domain},
        "comments": [],
        "evidence": [{
            "entityType": "File",
            "evidenceCreationTime": now,
            "sha1": "4d1f2b9e6c1a3f5e8b7a0c9d2e4f6a8b1c3d5e7f",
            "sha256": "9f2c1e4b7a6d3c8e5f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a",
            "fileName": "Invoice_0923.xlsm",
            "filePath": format!("C:\\Users\\{account}\\Downloads"),
            "processId": null,
            "detectionStatus": "Detected"
        }]
    });
    environment.defender_alerts.push(alert);
    let mut report = 1_000 * environment.sequence;
    let rows = crate::microsoft::macro_infection(
        &crate::microsoft::Host {
            device_id: &machine.id,
            device_name: &machine.computer_dns_name,
            domain: &domain,
            account: &account,
        },
        now - Duration::minutes(4),
        || {
            report += 1;
            report
        },
    );
    environment.device_events.extend(rows);
    let falcon_id = falcon_alert(environment, &machine, &account, now);
    Ok(ScenarioRun {
        scenario: Scenario::MalwareLaptop,
        summary: format!(
            "Defender alert {id}: 'Emotet' malware on {} ({})",
            machine.computer_dns_name,
            machine.machine_tags.join(", ")
        ),
        target: machine.id,
        records: vec![id, falcon_id],
    })
}

fn noisy_admin_script(
    environment: &mut Environment,
    now: DateTime<Utc>,
) -> Result<ScenarioRun, SandboxError> {
    let machines: Vec<_> = environment
        .machines
        .iter()
        .filter(|m| m.os_platform.starts_with("Windows") && m.edr_sensor)
        .cloned()
        .collect();
    if machines.is_empty() {
        return Err(SandboxError::NotApplicable(
            "no Windows device with Defender for Endpoint".into(),
        ));
    }
    let first_report = 1_000 * environment.sequence + 501;
    let mut records = Vec::new();
    for (seconds, (report, machine)) in (0_i64..).zip((first_report..).zip(&machines)) {
        let started = now - Duration::minutes(30) + Duration::seconds(seconds);
        environment
            .device_events
            .push(crate::microsoft::inventory_script(
                &machine.id,
                &machine.computer_dns_name,
                started,
                report,
            ));
        records.push(machine.id.clone());
    }
    Ok(ScenarioRun {
        scenario: Scenario::NoisyAdminScript,
        summary: format!(
            "NinjaOne's inventory script ran PowerShell with -ExecutionPolicy Bypass on {} devices",
            machines.len()
        ),
        target: machines[0].id.clone(),
        records,
    })
}

fn rogue_authenticator(
    environment: &mut Environment,
    now: DateTime<Utc>,
) -> Result<ScenarioRun, SandboxError> {
    let user = environment
        .users
        .iter()
        .find(|u| u.account_enabled && !environment.is_admin(&u.id))
        .cloned()
        .ok_or_else(|| SandboxError::NotApplicable("no enabled employee account".into()))?;
    let place = Place::far_away();
    let ip = format!("{}.{}", place.network, 40 + environment.sequence % 200);
    let at = now - Duration::minutes(6);
    let audit_id = format!(
        "Directory_{}_{}",
        environment.next_guid("directory-audit"),
        environment.sequence
    );
    let correlation = environment.next_guid("correlation");
    environment.directory_audits.push(json!({
        "id": audit_id,
        "category": "UserManagement",
        "correlationId": correlation,
        "result": "success",
        "resultReason": "",
        "activityDisplayName": "User registered security info",
        "activityDateTime": at,
        "loggedByService": "Authentication Methods",
        "operationType": "Add",
        "initiatedBy": {
            "user": {
                "id": user.id,
                "displayName": null,
                "userPrincipalName": user.user_principal_name,
                "ipAddress": ip,
                "userType": null,
                "homeTenantId": null,
                "homeTenantName": null,
            },
            "app": null,
        },
        "targetResources": [{
            "id": user.id,
            "displayName": null,
            "type": "User",
            "userPrincipalName": user.user_principal_name,
            "groupType": null,
            "modifiedProperties": [],
        }],
        "additionalDetails": [{"key": "Method", "value": "Microsoft Authenticator app"}],
    }));
    let okta_id = environment.okta_user_id(&user);
    let okta_uuid = environment.next_guid("okta-event");
    environment.okta_events.push(json!({
        "uuid": okta_uuid,
        "published": at + Duration::seconds(20),
        "eventType": "user.mfa.factor.activate",
        "version": "0",
        "displayMessage": "Activate factor or authenticator enrollment",
        "severity": "INFO",
        "actor": {
            "id": okta_id,
            "type": "User",
            "alternateId": user.user_principal_name,
            "displayName": user.display_name,
        },
        "client": {
            "ipAddress": ip,
            "geographicalContext": {"city": place.city, "country": place.country},
        },
        "outcome": {"result": "SUCCESS", "reason": null},
        "target": [{
            "id": okta_id,
            "type": "User",
            "alternateId": user.user_principal_name,
            "displayName": user.display_name,
        }],
    }));
    Ok(ScenarioRun {
        scenario: Scenario::RogueAuthenticator,
        summary: format!(
            "A new authenticator was registered for {} from {ip} ({})",
            user.user_principal_name, place.city
        ),
        target: user.id,
        records: vec![audit_id, okta_uuid],
    })
}

/// The same infection as CrowdStrike Falcon's endpoint protection reports it (an alerts v2
/// `ldt` alert); returns its composite id.
fn falcon_alert(
    environment: &mut Environment,
    machine: &super::environment::SimMachine,
    account: &str,
    now: DateTime<Utc>,
) -> String {
    let cid = environment.falcon_cid();
    let device_id = environment.falcon_device_id(machine);
    let indicator = environment.next_guid("falcon-alert").replace('-', "");
    let id = format!("ind:{device_id}:{}", &indicator[..20]);
    let composite_id = format!("{cid}:{id}");
    let hostname = machine.host_name();
    environment.falcon_alerts.push(json!({
        "composite_id": composite_id,
        "id": id,
        "cid": cid,
        "aggregate_id": format!("aggind:{device_id}:{}", &indicator[..12]),
        "type": "ldt",
        "product": "epp",
        "platform": "Windows",
        "created_timestamp": now - Duration::minutes(3),
        "updated_timestamp": now,
        "timestamp": now - Duration::minutes(3),
        "status": "new",
        "severity": 70,
        "severity_name": "High",
        "confidence": 80,
        "name": "MaliciousDocument",
        "display_name": "Malicious document launched a script interpreter",
        "description": "A macro-enabled document launched PowerShell that downloaded and ran a known Emotet loader.",
        "tactic": "Execution",
        "tactic_id": "TA0002",
        "technique": "User Execution",
        "technique_id": "T1204",
        "filename": "powershell.exe",
        "filepath": "\\Device\\HarddiskVolume3\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        "cmdline": "powershell.exe -nop -w hidden -enc JABzAD0ATgBlAHcALQBPAGIAagBlAGMAdAA=",
        "sha256": "9f2c1e4b7a6d3c8e5f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a",
        "user_name": account,
        "device": {
            "device_id": device_id,
            "hostname": hostname,
            "platform_name": "Windows",
            "local_ip": machine.last_ip_address,
            "os_version": "Windows 11",
        },
        "falcon_host_link": format!("https://falcon.crowdstrike.com/activity-v2/detections/{composite_id}"),
    }));
    composite_id
}

fn compromised_admin(
    environment: &mut Environment,
    now: DateTime<Utc>,
) -> Result<ScenarioRun, SandboxError> {
    let admin = environment
        .roles
        .iter()
        .find(|r| r.display_name == "Global Administrator")
        .and_then(|r| r.members.first())
        .and_then(|id| environment.user(id))
        .filter(|u| u.account_enabled)
        .cloned()
        .ok_or_else(|| {
            SandboxError::NotApplicable("no enabled Global Administrator to compromise".into())
        })?;
    let home = environment.home.clone();
    let far_away = Place::far_away();
    let before = environment.sign_ins.len();
    environment.record_sign_in(
        &admin.id,
        now - Duration::minutes(40),
        &home,
        "Office 365 SharePoint Online",
        SignInFrom::OwnLaptop,
    );
    environment.record_sign_in(
        &admin.id,
        now - Duration::minutes(8),
        &far_away,
        "Office 365 SharePoint Online",
        SignInFrom::Unknown,
    );
    let mut records: Vec<String> = environment.sign_ins[before..]
        .iter()
        .filter_map(|s| s["id"].as_str().map(str::to_owned))
        .collect();
    let foreign_ip = environment.sign_ins[environment.sign_ins.len() - 1]["ipAddress"].clone();
    let id = defender_alert_id(environment);
    let incident = environment.next_guid("incident");
    let account_name = admin
        .user_principal_name
        .split('@')
        .next()
        .unwrap_or_default()
        .to_owned();
    let alert = json!({
        "@odata.type": "#microsoft.graph.security.alert",
        "id": format!("ca{}", &id[2..]),
        "providerAlertId": incident,
        "incidentId": format!("{}", 20_000 + environment.sequence),
        "status": "new",
        "severity": "high",
        "classification": "unknown",
        "determination": "unknown",
        "serviceSource": "microsoftDefenderForCloudApps",
        "detectionSource": "cloudAppSecurity",
        "productName": "Microsoft Defender for Cloud Apps",
        "detectorId": "MassDownload",
        "tenantId": environment.directory_id,
        "title": "Mass download by a single user",
        "description": "A user downloaded an unusually large number of files from SharePoint Online in a short time, compared to the baseline learned for the account.",
        "category": "Exfiltration",
        "assignedTo": null,
        "alertWebUrl": null,
        "incidentWebUrl": null,
        "actorDisplayName": null,
        "threatDisplayName": null,
        "threatFamilyName": null,
        "mitreTechniques": ["T1530"],
        "createdDateTime": now - Duration::minutes(2),
        "lastUpdateDateTime": now,
        "resolvedDateTime": null,
        "firstActivityDateTime": now - Duration::minutes(7),
        "lastActivityDateTime": now - Duration::minutes(3),
        "comments": [],
        "evidence": [
            {
                "@odata.type": "#microsoft.graph.security.userEvidence",
                "createdDateTime": now - Duration::minutes(2),
                "verdict": "suspicious",
                "remediationStatus": "none",
                "remediationStatusDetails": null,
                "roles": ["compromised"],
                "tags": [],
                "userAccount": {
                    "accountName": account_name,
                    "domainName": environment.domain,
                    "userSid": null,
                    "azureAdUserId": admin.id,
                    "userPrincipalName": admin.user_principal_name,
                    "displayName": admin.display_name
                }
            },
            {
                "@odata.type": "#microsoft.graph.security.ipEvidence",
                "createdDateTime": now - Duration::minutes(2),
                "verdict": "suspicious",
                "remediationStatus": "none",
                "roles": [],
                "tags": [],
                "ipAddress": foreign_ip,
                "countryLetterCode": far_away.country
            }
        ]
    });
    let alert_id = alert["id"].as_str().unwrap_or_default().to_owned();
    environment.security_alerts.push(alert);
    records.push(alert_id.clone());
    Ok(ScenarioRun {
        scenario: Scenario::CompromisedAdmin,
        summary: format!(
            "{} (Global Administrator) signed in from {} and 32 minutes later from {}; alert {alert_id}: mass download",
            admin.user_principal_name, home.city, far_away.city
        ),
        target: admin.id,
        records,
    })
}
