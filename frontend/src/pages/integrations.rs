//! A tenant's integrations: which vendors Steward talks to for it, and whether that works. With
//! the sandbox enabled, also the simulated vendor-side state and the scenarios to stage.

use leptos::prelude::*;
use steward_domain::{
    integrations::{Integration, IntegrationHealth},
    observations::Vendor,
    tenancy::Tenant,
};

use crate::{
    Chrome,
    layout::render_document,
    parts::{Csrf, when},
};

/// A simulated device, as the sandbox's vendor sees it.
#[derive(Debug, Clone)]
pub struct SandboxDevice {
    pub name: String,
    pub tags: Vec<String>,
    pub isolated: bool,
}

/// A simulated user, as the sandbox's vendor sees it.
#[derive(Debug, Clone)]
pub struct SandboxUser {
    pub user_principal_name: String,
    pub department: String,
    pub admin_roles: Vec<String>,
    pub account_enabled: bool,
}

/// The sandbox's vendor-side state of the tenant.
#[derive(Debug, Clone)]
pub struct SandboxView {
    pub devices: Vec<SandboxDevice>,
    pub users: Vec<SandboxUser>,
    pub alerts: usize,
    /// `(slug, description)` of each scenario, when the caller may run them.
    pub scenarios: Vec<(&'static str, &'static str)>,
}

/// What the integrations page shows.
#[derive(Debug, Clone)]
pub struct IntegrationsPage {
    pub tenant: Tenant,
    pub integrations: Vec<Integration>,
    /// Whether the caller may connect, test, change and remove integrations.
    pub can_manage: bool,
    pub sandbox: Option<SandboxView>,
    pub csrf_token: String,
}

#[component]
fn HealthBadge(health: IntegrationHealth) -> impl IntoView {
    match health {
        IntegrationHealth::Healthy => view! { <span class="badge badge-ok">"healthy"</span> },
        IntegrationHealth::Failing => view! { <span class="badge badge-warn">"failing"</span> },
        IntegrationHealth::Unknown => view! { <span class="badge badge-muted">"not tested"</span> },
    }
}

fn integration_card(
    tenant: &Tenant,
    integration: Integration,
    can_manage: bool,
    csrf: &str,
) -> impl IntoView + use<> {
    let base = format!("/tenants/{}/integrations/{}", tenant.id, integration.id);
    let api = [
        "api_base_url",
        "org_url",
        "instance_url",
        "api_url",
        "site_url",
    ]
    .into_iter()
    .find_map(|key| integration.settings[key].as_str())
    .unwrap_or_default()
    .to_owned();
    let credential_label = match integration.vendor {
        Vendor::Okta => "New API token",
        Vendor::TacticalRmm | Vendor::VeeamSpc => "New API key",
        Vendor::ConnectWiseManage => "New private key",
        Vendor::DattoBcdr => "New secret key",
        _ => "New client secret",
    };
    let error = integration
        .last_error
        .clone()
        .map(|error| view! { <p class="error-text">{error}</p> });
    let success = integration
        .last_success_at
        .map_or_else(|| "never".to_owned(), when);
    let actions = can_manage.then(|| {
        let test = format!("{base}/test");
        let sync = format!("{base}/sync");
        let credential = format!("{base}/credential");
        let remove = format!("{base}/remove");
        view! {
            <div class="row-form">
                <form method="post" action=test>
                    <Csrf token=csrf.to_owned()/>
                    <button type="submit" class="button">"Test connection"</button>
                </form>
                <form method="post" action=sync>
                    <Csrf token=csrf.to_owned()/>
                    <button type="submit" class="button button-secondary">"Sync now"</button>
                </form>
                <form method="post" action=remove>
                    <Csrf token=csrf.to_owned()/>
                    <button type="submit" class="button button-danger">"Remove"</button>
                </form>
            </div>
            <form method="post" action=credential class="row-form">
                <Csrf token=csrf.to_owned()/>
                <label>{credential_label} <input type="password" name="credential" required autocomplete="off"/></label>
                <button type="submit" class="button button-secondary">"Replace credential"</button>
            </form>
        }
    });
    view! {
        <section class="card">
            <div class="title-row">
                <h2>{integration.name.clone()}</h2>
                <HealthBadge health=integration.health/>
            </div>
            <dl class="facts">
                <div><dt>"Vendor"</dt><dd>{integration.vendor.display_name()}</dd></div>
                <div><dt>"API"</dt><dd class="mono">{api}</dd></div>
                <div><dt>"Last success"</dt><dd>{success}</dd></div>
            </dl>
            {error}
            {actions}
        </section>
    }
}

fn connect_form(tenant: &Tenant, csrf: &str) -> impl IntoView + use<> {
    let action = format!("/tenants/{}/integrations", tenant.id);
    let vendors = Vendor::ALL
        .into_iter()
        .map(|vendor| view! { <option value=vendor.as_str()>{vendor.display_name()}</option> })
        .collect_view();
    view! {
        <section class="card">
            <h2>"Connect a vendor"</h2>
            <p>"Microsoft: register an app in the customer's Microsoft Entra ID with the API permissions Steward needs, grant admin consent, and enter its ids and client secret. Okta: create an API token as a read-only administrator with the Help Desk Administrator role, and enter the org URL and the token. CrowdStrike Falcon: create an API client with Hosts (read, write) and Alerts (read) scopes, and enter its id and secret. NinjaOne: create a client-credentials API client with the Monitoring, Management and Control scopes, and enter its id and secret with the customer's organization id. Tactical RMM: create a user whose role is limited to the customer's client, give it an API key, and enter the server's API URL, the client id and the key. Veeam Service Provider Console: create an API key for a console user, and enter the console's REST API URL and the customer's company uid. Datto BCDR: create API keys in the partner portal, and enter the public key and the customer's company as the portal names it, with the secret key as the secret. HaloPSA: create an API application (client ID and secret, with the read:tickets, edit:tickets and read:customers permissions), and enter the instance URL, the hosted tenant's name and the customer's client id. ConnectWise Manage: create an API member's keys, and enter the site, your company id, the public key, your integration's clientId, the customer's company record id and the service board for Steward's tickets, with the private key as the secret. Steward opens a ticket for each incident in the PSA and keeps the two in step. The secret is stored encrypted and never shown again."</p>
            <form method="post" action=action class="grid-form">
                <Csrf token=csrf.to_owned()/>
                <label>"Vendor" <select name="vendor">{vendors}</select></label>
                <label>"Name" <input type="text" name="name" required maxlength="200"/></label>
                <label>"Client secret (Microsoft, CrowdStrike, NinjaOne, HaloPSA), API token (Okta), API key (Tactical RMM, Veeam), secret key (Datto) or private key (ConnectWise Manage)" <input type="password" name="credential" required autocomplete="off"/></label>
                <fieldset>
                    <legend>"Microsoft Defender for Endpoint, Microsoft Entra ID"</legend>
                    <label>"Directory (tenant) id" <input type="text" name="directory_id"/></label>
                    <label>"Application (client) id" <input type="text" name="client_id"/></label>
                    <label>"API base URL (leave empty for the vendor's)" <input type="url" name="api_base_url"/></label>
                    <label>"Sign-in base URL (leave empty for Microsoft's)" <input type="url" name="login_base_url"/></label>
                </fieldset>
                <fieldset>
                    <legend>"Okta"</legend>
                    <label>"Org URL (https://your-org.okta.com)" <input type="url" name="org_url"/></label>
                </fieldset>
                <fieldset>
                    <legend>"CrowdStrike Falcon"</legend>
                    <label>"API client id" <input type="text" name="falcon_client_id"/></label>
                    <label>"Cloud API URL (leave empty for US-1)" <input type="url" name="falcon_api_base_url"/></label>
                    <label>"Customer CID under Flight Control (optional)" <input type="text" name="member_cid"/></label>
                </fieldset>
                <fieldset>
                    <legend>"NinjaOne"</legend>
                    <label>"API client id" <input type="text" name="ninja_client_id"/></label>
                    <label>"Customer's organization id" <input type="text" name="ninja_organization_id" inputmode="numeric"/></label>
                    <label>"Instance URL (leave empty for app.ninjarmm.com)" <input type="url" name="ninja_instance_url"/></label>
                </fieldset>
                <fieldset>
                    <legend>"Tactical RMM"</legend>
                    <label>"API URL (https://api.your-server)" <input type="url" name="tactical_api_url"/></label>
                    <label>"Customer's client id" <input type="text" name="tactical_client_id" inputmode="numeric"/></label>
                </fieldset>
                <fieldset>
                    <legend>"Veeam Service Provider Console"</legend>
                    <label>"REST API URL (https://your-console:1280/api/v3/)" <input type="url" name="veeam_api_url"/></label>
                    <label>"Customer's company uid" <input type="text" name="veeam_company_uid"/></label>
                </fieldset>
                <fieldset>
                    <legend>"Datto BCDR"</legend>
                    <label>"API public key" <input type="text" name="datto_public_key"/></label>
                    <label>"Customer's company (as the partner portal names it)" <input type="text" name="datto_client_company_name"/></label>
                    <label>"API URL (leave empty for api.datto.com)" <input type="url" name="datto_api_url"/></label>
                </fieldset>
                <fieldset>
                    <legend>"HaloPSA"</legend>
                    <label>"Instance URL (https://your-msp.halopsa.com)" <input type="url" name="halo_instance_url"/></label>
                    <label>"Tenant (hosted instances; leave empty on premises)" <input type="text" name="halo_tenant"/></label>
                    <label>"API application client id" <input type="text" name="halo_client_id"/></label>
                    <label>"Customer's client id" <input type="text" name="halo_customer_client_id" inputmode="numeric"/></label>
                </fieldset>
                <fieldset>
                    <legend>"ConnectWise Manage"</legend>
                    <label>"Site URL (https://api-na.myconnectwise.net)" <input type="url" name="cw_site_url"/></label>
                    <label>"Company id" <input type="text" name="cw_company_id"/></label>
                    <label>"API member's public key" <input type="text" name="cw_public_key"/></label>
                    <label>"Integration clientId" <input type="text" name="cw_client_id"/></label>
                    <label>"Customer's company record id" <input type="text" name="cw_customer_company_id" inputmode="numeric"/></label>
                    <label>"Service board id" <input type="text" name="cw_board_id" inputmode="numeric"/></label>
                </fieldset>
                <button type="submit" class="button">"Connect"</button>
            </form>
        </section>
    }
}

fn sandbox_section(tenant: &Tenant, sandbox: SandboxView, csrf: &str) -> impl IntoView + use<> {
    let run = format!("/tenants/{}/sandbox/run", tenant.id);
    let scenarios = sandbox
        .scenarios
        .iter()
        .map(|(slug, description)| {
            view! {
                <form method="post" action=run.clone() class="row-form">
                    <Csrf token=csrf.to_owned()/>
                    <input type="hidden" name="scenario" value=*slug/>
                    <button type="submit" class="button button-secondary">{format!("Run {slug}")}</button>
                    <span>{*description}</span>
                </form>
            }
        })
        .collect_view();
    let devices = sandbox
        .devices
        .into_iter()
        .map(|device| {
            let state = if device.isolated {
                view! { <span class="badge badge-warn">"isolated"</span> }
            } else {
                view! { <span class="badge badge-ok">"connected"</span> }
            };
            view! { <tr><td class="mono">{device.name}</td><td>{device.tags.join(", ")}</td><td>{state}</td></tr> }
        })
        .collect_view();
    let users = sandbox
        .users
        .into_iter()
        .map(|user| {
            let state = if user.account_enabled {
                view! { <span class="badge badge-ok">"enabled"</span> }
            } else {
                view! { <span class="badge badge-warn">"disabled"</span> }
            };
            view! {
                <tr>
                    <td>{user.user_principal_name}</td>
                    <td>{user.department}</td>
                    <td>{user.admin_roles.join(", ")}</td>
                    <td>{state}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="card sandbox">
            <h2>"Sandbox: the vendors' side"</h2>
            <p>{format!("Simulated vendor state of this customer ({} alerts raised so far).", sandbox.alerts)}</p>
            <p><a href="/sandbox/inbox">"Sandbox inbox"</a>" — the approval emails and Slack messages Steward sent in this demo."</p>
            {scenarios}
            <div class="table-wrap">
                <table>
                    <thead><tr><th>"Device"</th><th>"Tags"</th><th>"Network"</th></tr></thead>
                    <tbody>{devices}</tbody>
                </table>
            </div>
            <div class="table-wrap">
                <table>
                    <thead><tr><th>"User"</th><th>"Department"</th><th>"Admin roles"</th><th>"Account"</th></tr></thead>
                    <tbody>{users}</tbody>
                </table>
            </div>
        </section>
    }
}

/// Renders the integrations page.
pub fn render(chrome: Chrome, page: IntegrationsPage) -> String {
    let tenant = page.tenant;
    let csrf = page.csrf_token;
    let empty = page.integrations.is_empty().then(|| {
        view! { <section class="card"><p>"This customer is not connected to any vendor yet."</p></section> }
    });
    let cards = page
        .integrations
        .into_iter()
        .map(|integration| integration_card(&tenant, integration, page.can_manage, &csrf))
        .collect_view();
    let connect = page.can_manage.then(|| connect_form(&tenant, &csrf));
    let sandbox = page
        .sandbox
        .map(|sandbox| sandbox_section(&tenant, sandbox, &csrf));
    let back = format!("/tenants/{}", tenant.id);
    let title = format!("{}: integrations", tenant.name);
    let body = view! {
        <div class="title-row">
            <h1>{title.clone()}</h1>
            <a class="button button-secondary" href=back>"Back to the tenant"</a>
        </div>
        {empty}
        {cards}
        {connect}
        {sandbox}
    };
    render_document(&title, Some(chrome), body)
}
