//! Steward's connectors to the tools MSPs run (the vendors' simulation is `steward-sandbox`).
//!
//! - [`contract`]: what every connector does (inventory, events, snapshot/execute/verify/rollback).
//! - [`falcon`]: CrowdStrike Falcon, built to its published API.
//! - [`http`]: the one HTTP layer with the vendors' throttling and retry rules.
//! - [`microsoft`]: Microsoft Defender for Endpoint and Microsoft Graph, built to their published
//!   APIs.
//! - [`ninjaone`]: NinjaOne RMM, built to its Public API v2.
//! - [`oauth`]: OAuth 2.0 client-credentials tokens (Microsoft identity platform, CrowdStrike,
//!   NinjaOne).
//! - [`ocsf`]: the OCSF 1.x events connectors normalize vendor records into.
//! - [`okta`]: Okta Workforce Identity, built to Okta's management API.
//! - [`slack`]: approval messages in Slack and the verification of Slack's signed requests.
//! - [`standard_webhooks`]: Standard Webhooks signatures, for messages tools send Steward.
//! - [`tactical`]: Tactical RMM, built to its REST API.
//! - [`telemetry`]: logs sent to Steward (Windows event logs in shippers' shapes, OCSF events),
//!   normalized into OCSF.
//! - [`veeam`]: Veeam Service Provider Console (backup), built to its REST API v3.

pub mod connectwise;
pub mod contract;
pub mod datto;
pub mod egress;
pub mod falcon;
pub mod halopsa;
pub mod http;
pub mod microsoft;
pub mod ninjaone;
pub mod oauth;
pub mod ocsf;
pub mod okta;
pub mod registry;
pub mod slack;
pub mod standard_webhooks;
pub mod tactical;
pub mod telemetry;
pub mod ticket_actions;
pub mod tickets;
pub mod veeam;

pub use contract::{
    ActionRequest, ConnectionReport, Connector, ConnectorError, EventCursors, Execution, Snapshot,
    Verification,
};
