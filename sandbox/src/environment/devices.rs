//! The simulated customer's devices as Defender for Endpoint sees them (the machines every
//! other tool sees too). Defender's machine actions are in `microsoft::defender`.

use super::*;

/// A Defender machine and whether it is isolated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimMachine {
    pub id: String,
    pub computer_dns_name: String,
    pub os_platform: String,
    pub version: String,
    pub health_status: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub last_ip_address: String,
    pub aad_device_id: String,
    pub machine_tags: Vec<String>,
    pub device_value: String,
    pub primary_user: Option<String>,
    pub isolated: bool,
    /// Contained by CrowdStrike Falcon (network containment).
    #[serde(default)]
    pub falcon_contained: bool,
    /// Host reads a containment change still shows as pending for.
    #[serde(default)]
    pub falcon_pending_reads: u32,
    /// Whether an EDR sensor (Defender for Endpoint, Falcon) runs on it; EDR consoles do not
    /// list a machine without one.
    #[serde(default = "sensor_installed")]
    pub edr_sensor: bool,
    /// Its NinjaOne agent, when the MSP's RMM manages it.
    #[serde(default)]
    pub ninja: Option<SimNinjaAgent>,
    /// Its Veeam backup agent and job, when the MSP backs it up.
    #[serde(default)]
    pub backup: Option<SimBackup>,
}

pub(super) fn sensor_installed() -> bool {
    true
}

impl SimMachine {
    /// The machine's name without its DNS domain, upper case: what the RMM, EDR and backup
    /// consoles call it, so every vendor names it alike.
    #[must_use]
    pub fn host_name(&self) -> String {
        self.computer_dns_name
            .split('.')
            .next()
            .unwrap_or(&self.computer_dns_name)
            .to_uppercase()
    }

    /// The machine as `GET /api/machines` returns it.
    #[must_use]
    pub fn to_vendor(&self) -> Value {
        json!({
            "id": self.id,
            "computerDnsName": self.computer_dns_name,
            "firstSeen": self.first_seen,
            "lastSeen": self.last_seen,
            "osPlatform": self.os_platform,
            "version": self.version,
            "osArchitecture": "64-bit",
            "lastIpAddress": self.last_ip_address,
            "lastExternalIpAddress": self.last_ip_address,
            "healthStatus": self.health_status,
            "onboardingStatus": "Onboarded",
            "rbacGroupId": 0,
            "rbacGroupName": null,
            "riskScore": "None",
            "exposureLevel": "Low",
            "deviceValue": self.device_value,
            "isAadJoined": true,
            "aadDeviceId": self.aad_device_id,
            "machineTags": self.machine_tags,
        })
    }
}
