//! The demo MSP that `steward demo` runs with.
//!
//! Seeding is idempotent: it creates what is missing and leaves everything else as it is, so
//! running the demo again on the same data directory keeps its data.

use sea_orm::ConnectionTrait;
use steward_domain::{
    Slug,
    tenancy::{Msp, Tenant},
};

use crate::{
    clock::Clock,
    storage::{Deployment, NewMsp, NewTenant, Storage, StorageError},
};

/// The demo MSP's slug.
pub const DEMO_MSP_SLUG: &str = "harbor-it";

const DEMO_MSP_NAME: &str = "Harbor IT Services";

/// The demo MSP's customers: a dental practice, an accounting firm and a logistics company.
const DEMO_TENANTS: [(&str, &str); 3] = [
    ("acme-dental", "Acme Dental"),
    ("birch-accounting", "Birch & Co Accounting"),
    ("cobalt-logistics", "Cobalt Logistics"),
];

/// What the demo holds after seeding.
#[derive(Debug, Clone)]
pub struct DemoSeed {
    pub msp: Msp,
    pub tenants: Vec<Tenant>,
    /// Whether this run created anything (false when the demo data was already there).
    pub created: bool,
}

/// Creates the demo MSP and its tenants where missing, in one transaction.
///
/// # Errors
/// When the database cannot be written.
pub async fn seed(storage: &Storage, clock: &dyn Clock) -> Result<DemoSeed, StorageError> {
    let txn = storage.begin().await?;
    let seed = seed_in(&Deployment::new(&txn), clock).await?;
    txn.commit().await?;
    Ok(seed)
}

async fn seed_in<C: ConnectionTrait>(
    deployment: &Deployment<'_, C>,
    clock: &dyn Clock,
) -> Result<DemoSeed, StorageError> {
    let mut created = false;
    let msp_slug = slug(DEMO_MSP_SLUG);
    let msp = match deployment.msps().find_by_slug(&msp_slug).await? {
        Some(msp) => msp,
        None => {
            created = true;
            deployment
                .msps()
                .create(
                    clock,
                    NewMsp {
                        name: DEMO_MSP_NAME.to_owned(),
                        slug: msp_slug,
                    },
                )
                .await?
        }
    };

    let tenants_repo = deployment.msp(msp.id).tenants();
    let mut tenants = Vec::with_capacity(DEMO_TENANTS.len());
    for (tenant_slug, name) in DEMO_TENANTS {
        let tenant_slug = slug(tenant_slug);
        let tenant = match tenants_repo.find_by_slug(&tenant_slug).await? {
            Some(tenant) => tenant,
            None => {
                created = true;
                tenants_repo
                    .create(
                        clock,
                        NewTenant {
                            name: name.to_owned(),
                            slug: tenant_slug,
                        },
                    )
                    .await?
            }
        };
        tenants.push(tenant);
    }

    Ok(DemoSeed {
        msp,
        tenants,
        created,
    })
}

fn slug(text: &str) -> Slug {
    text.parse().expect("demo slugs are valid")
}
