use std::{process::ExitCode, sync::Arc};

use anyhow::Context;
use secrecy::SecretString;
use steward_core::{
    Clock, Storage, SystemClock,
    audit::AuditKeys,
    demo::{self, DEMO_ADMIN_EMAIL, DEMO_PASSWORD},
    secrets::SecretBox,
    storage::NewIntegration,
};
use steward_domain::{observations::Vendor, tenancy::Tenant};
use steward_integrations::registry;

use crate::config::Config;

/// Seeds the demo MSP where missing, connects each tenant to the sandbox's simulated vendors,
/// then serves with the sandbox enabled.
pub async fn run(mut config: Config) -> anyhow::Result<ExitCode> {
    config.sandbox.enabled = true;
    if !config.http.listen.ip().is_loopback() {
        eprintln!(
            "warning: the demo listens on {}, beyond this machine. Anyone who can reach it can \
             sign in with the demo users' shared password and run the sandbox's scenarios; \
             listen on loopback (--listen 127.0.0.1:{}) unless others must reach it.",
            config.http.listen,
            config.http.listen.port()
        );
    }
    let _only_server = super::serve::ServeLock::take(&config)?;
    // A taken port is reported before anything is seeded or printed.
    let listener = super::serve::bind(&config).await?;
    // Port 0 asks for any free port: the sandbox's integrations need the one given.
    config.http.listen = listener.local_addr().context("read the bound address")?;
    let storage = super::serve::open_storage(&config, super::migrate::Report::Always).await?;
    let keys = super::serve::audit_keys(&config)?;
    let seed = demo::seed(&storage, &SystemClock, &keys)
        .await
        .context("seed the demo data")?;
    if seed.created {
        println!("Created the demo MSP \"{}\".", seed.msp.name);
    } else {
        println!(
            "Using the demo MSP \"{}\" from earlier runs.",
            seed.msp.name
        );
    }
    for tenant in &seed.tenants {
        println!("  tenant {} ({})", tenant.name, tenant.slug);
    }
    connect_sandbox(&config, &storage, &keys, &seed.tenants, &|line| {
        println!("{line}");
    })
    .await
    .context("connect the demo tenants to the sandbox")?;
    let customer = seed.tenants.first().context("the demo has tenants")?;
    connect_slack(&config, &storage, &keys, seed.msp.id, customer)
        .await
        .context("connect the demo MSP to the sandbox's Slack")?;
    match &config.email.smtp_host {
        Some(host) => println!(
            "Approval emails go out through the SMTP server {host}:{}; Slack messages go to the sandbox: read and answer them at {}/sandbox/inbox",
            config.email.smtp_port,
            config.public_base()
        ),
        None => println!(
            "Approval emails and Slack messages go to the sandbox: read and answer them at {}/sandbox/inbox",
            config.public_base()
        ),
    }
    println!("Demo users (password \"{DEMO_PASSWORD}\" unless changed since):");
    for user in &seed.users {
        println!("  {} ({})", user.email, user.role);
    }
    println!(
        "API token for the admin: steward --data-dir {} token create --email {DEMO_ADMIN_EMAIL}",
        config.data_dir.display()
    );
    super::serve::serve(&config, storage, listener).await?;
    Ok(ExitCode::SUCCESS)
}

/// Connects the demo MSP to the sandbox's Slack workspace, its technician and admin linked to
/// the workspace's users, and the first demo customer's approver to the channel shared with
/// that customer.
async fn connect_slack(
    config: &Config,
    storage: &Storage,
    keys: &AuditKeys,
    msp_id: steward_domain::MspId,
    customer: &Tenant,
) -> anyhow::Result<()> {
    use steward_sandbox::slack::{CHANNEL, CUSTOMER_CHANNEL, USERS};
    let secrets = SecretBox::load(&config.secrets, &config.data_dir)?;
    let workspace = crate::sandbox::slack_secrets(config)?;
    let users = [
        (USERS[0].0, demo::DEMO_TECHNICIAN_EMAIL),
        (USERS[1].0, DEMO_ADMIN_EMAIL),
        (USERS[2].0, demo::DEMO_CUSTOMER_APPROVER_EMAIL),
    ]
    .into_iter()
    .map(|(slack, email)| (slack.to_owned(), email.to_owned()))
    .collect();
    let connected = demo::connect_slack(
        storage,
        &SystemClock,
        keys,
        &secrets,
        msp_id,
        steward_core::storage::slack::NewSlackConnection {
            api_base_url: url::Url::parse(&format!(
                "{}/sandbox/slack/api/",
                config.sandbox_base()
            ))?,
            channel: CHANNEL.to_owned(),
            bot_token: SecretString::from(workspace.bot_token),
            signing_secret: SecretString::from(workspace.signing_secret),
            users,
            tenant_channels: [(customer.id, CUSTOMER_CHANNEL.to_owned())].into(),
        },
    )
    .await?;
    match connected {
        demo::Connected::Created => println!(
            "  connected the MSP to the sandbox's Slack channel {CHANNEL}, and {} to {CUSTOMER_CHANNEL}",
            customer.name
        ),
        demo::Connected::Repointed => println!(
            "  pointed the MSP's Slack connection at the sandbox on {}",
            config.sandbox_base()
        ),
        demo::Connected::Unchanged => {}
    }
    Ok(())
}

/// Gives every demo tenant a simulated customer and integrations with its Defender for
/// Endpoint, Microsoft Graph, the MSP's NinjaOne, Veeam Service Provider Console and HaloPSA
/// (and Okta and Datto BCDR for one customer; CrowdStrike Falcon, Tactical RMM and ConnectWise Manage instead of
/// HaloPSA for another), pointed at the sandbox on this listener; each connection made is told
/// to `say`.
pub(crate) async fn connect_sandbox(
    config: &Config,
    storage: &Storage,
    keys: &AuditKeys,
    tenants: &[Tenant],
    say: &dyn Fn(&str),
) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let sandbox = crate::sandbox::open(storage.clone(), Arc::clone(&clock)).await?;
    let secrets = SecretBox::load(&config.secrets, &config.data_dir)?;
    let base = format!("{}/sandbox/", config.sandbox_base());
    for tenant in tenants {
        let credentials = sandbox
            .ensure(tenant.id.as_uuid(), &tenant.name, tenant.slug.as_str())
            .await?;
        let mut connections: Vec<(Vendor, serde_json::Value, String)> = [
            (Vendor::MicrosoftDefender, "defender/"),
            (Vendor::MicrosoftGraph, "graph/"),
        ]
        .into_iter()
        .map(|(vendor, api)| {
            (
                vendor,
                serde_json::json!({
                    "directory_id": credentials.directory_id,
                    "client_id": credentials.client_id,
                    "api_base_url": format!("{base}{api}"),
                    "login_base_url": format!("{base}login/"),
                }),
                credentials.client_secret.clone(),
            )
        })
        .collect();
        // The MSP's NinjaOne manages every customer, each an organization of its instance.
        connections.push((
            Vendor::NinjaOne,
            serde_json::json!({
                "client_id": credentials.ninja_client_id,
                "organization_id": credentials.ninja_organization_id,
                "instance_url": format!("{base}ninjaone/"),
            }),
            credentials.ninja_client_secret.clone(),
        ));
        // And its Veeam Service Provider Console backs them up, each a company.
        connections.push((
            Vendor::VeeamSpc,
            serde_json::json!({
                "api_url": format!("{base}veeam/api/v3/"),
                "company_uid": credentials.veeam_company_uid,
            }),
            credentials.veeam_api_key.clone(),
        ));
        // The MSP tracks its work in HaloPSA, each customer a client; the customers it took
        // over with another MSP stay in that MSP's ConnectWise Manage.
        if tenant.slug.as_str() == FALCON_TENANT {
            connections.push((
                Vendor::ConnectWiseManage,
                serde_json::json!({
                    "site_url": format!("{base}connectwise/"),
                    "company_id": steward_sandbox::connectwise::COMPANY_ID,
                    "public_key": credentials.cw_public_key,
                    "client_id": credentials.cw_client_id,
                    "customer_company_id": credentials.cw_company_record_id,
                    "board_id": steward_sandbox::connectwise::BOARD_ID,
                }),
                credentials.cw_private_key.clone(),
            ));
        } else {
            connections.push((
                Vendor::HaloPsa,
                serde_json::json!({
                    "instance_url": format!("{base}halopsa/"),
                    "tenant": steward_sandbox::halopsa::TENANT,
                    "client_id": credentials.halo_application_id,
                    "customer_client_id": credentials.halo_client_id,
                }),
                credentials.halo_application_secret.clone(),
            ));
        }
        // Two customers run a second tool of a category, so both vendors of it are shown.
        match tenant.slug.as_str() {
            OKTA_TENANT => {
                connections.push((
                    Vendor::Okta,
                    serde_json::json!({"org_url": format!("{base}okta/{}", credentials.okta_org)}),
                    credentials.okta_api_token.clone(),
                ));
                // Its file server is imaged by a Datto SIRIS appliance as well.
                connections.push((
                    Vendor::DattoBcdr,
                    serde_json::json!({
                        "api_url": format!("{base}datto/v1/"),
                        "public_key": credentials.datto_public_key,
                        "client_company_name": credentials.datto_client_company_name,
                    }),
                    credentials.datto_secret_key.clone(),
                ));
            }
            FALCON_TENANT => {
                connections.push((
                    Vendor::CrowdStrikeFalcon,
                    serde_json::json!({
                        "client_id": credentials.falcon_client_id,
                        "api_base_url": format!("{base}falcon/"),
                        "member_cid": credentials.falcon_cid,
                    }),
                    credentials.falcon_client_secret.clone(),
                ));
                // Its devices are moving from the MSP's Tactical RMM server to NinjaOne.
                connections.push((
                    Vendor::TacticalRmm,
                    serde_json::json!({
                        "api_url": format!("{base}tactical/"),
                        "client_id": credentials.tactical_client_id,
                    }),
                    credentials.tactical_api_key.clone(),
                ));
            }
            _ => {}
        }
        for (vendor, settings, secret) in connections {
            let settings =
                registry::normalize_settings(vendor, settings).map_err(anyhow::Error::msg)?;
            let connected = demo::connect_integration(
                storage,
                clock.as_ref(),
                keys,
                &secrets,
                tenant,
                NewIntegration {
                    vendor,
                    name: vendor.display_name().to_owned(),
                    settings,
                    secret: SecretString::from(secret),
                },
            )
            .await?;
            match connected {
                demo::Connected::Created => say(&format!(
                    "  connected {} to the sandbox's {}",
                    tenant.name,
                    vendor.display_name()
                )),
                demo::Connected::Repointed => say(&format!(
                    "  pointed {}'s {} integration at the sandbox on {}",
                    tenant.name,
                    vendor.display_name(),
                    config.sandbox_base()
                )),
                demo::Connected::Unchanged => {}
            }
        }
    }
    Ok(())
}

/// The demo customer whose people sign in through Okta as well as Microsoft Entra ID.
const OKTA_TENANT: &str = "birch-accounting";
/// The demo customer whose devices run CrowdStrike Falcon beside Microsoft Defender, and whose
/// RMM agents are moving from Tactical RMM to NinjaOne.
const FALCON_TENANT: &str = "cobalt-logistics";
