//! Fixtures: MSPs, tenants, users and tokens created the way an operator would, for tests to
//! build the situation they need in a line each.

use std::sync::Arc;

use secrecy::ExposeSecret;
use steward_core::{
    Clock, MockClock, Storage, SystemClock,
    audit::{AuditConfig, AuditKeys},
    storage::{Deployment, NewMsp, NewTenant, NewUser},
};
use steward_domain::{
    MspId, TenantId,
    audit::{ActorKind, AuditActor},
    tenancy::{Msp, Role, SecondFactorPolicy, Tenant, User},
};

use crate::TestDatabase;

/// A migrated database with a clock the test controls and an audit signing key.
#[derive(Debug)]
pub struct World {
    pub storage: Storage,
    /// Starts at the real current time and moves only when the test advances it.
    pub clock: MockClock,
    pub keys: Arc<AuditKeys>,
    /// The audit signing key as `audit.signing_key` takes it, for `steward` processes that
    /// must sign or verify with the same key (`STEWARD_AUDIT__SIGNING_KEY`).
    pub signing_key: String,
}

impl World {
    /// # Panics
    /// When the database cannot be opened.
    pub async fn new(db: &TestDatabase) -> Self {
        let secret = AuditKeys::generate_secret().expect("generate an audit key");
        let config = AuditConfig {
            signing_key: Some(secret.clone()),
            trusted_public_keys: Vec::new(),
        };
        Self {
            storage: db.connect().await,
            clock: MockClock::new(SystemClock.now()),
            keys: Arc::new(AuditKeys::load(&config, db.data_dir()).expect("load the audit key")),
            signing_key: secret.expose_secret().to_owned(),
        }
    }

    pub fn actor() -> AuditActor {
        AuditActor {
            kind: ActorKind::System,
            user_id: None,
            label: "test fixture".to_owned(),
        }
    }

    /// # Panics
    /// When the MSP cannot be created.
    pub async fn msp(&self, slug: &str) -> Msp {
        let txn = self.storage.begin().await.unwrap();
        let deployment = Deployment::new(&txn);
        let ctx = deployment.write_context(&self.clock, &self.keys, Self::actor());
        let msp = ctx
            .create_msp(NewMsp {
                name: format!("MSP {slug}"),
                slug: slug.parse().expect("a valid slug"),
                // Tests sign in with passwords alone unless they are about the second factor,
                // which turn it on with [`World::require_second_factor`].
                second_factor_policy: SecondFactorPolicy::Off,
            })
            .await
            .expect("create the MSP");
        drop(ctx);
        txn.commit().await.unwrap();
        msp
    }

    /// Gives `user` a second factor in force (as if set up on their Account page, credentials
    /// sealed with `secrets`); returns its key (base32), to compute codes with.
    ///
    /// # Panics
    /// When the database cannot be written.
    pub async fn enroll_second_factor(
        &self,
        user: &User,
        secrets: &steward_core::secrets::SecretBox,
    ) -> String {
        use secrecy::ExposeSecret;
        use steward_core::second_factor;

        let txn = self.storage.begin().await.unwrap();
        let deployment = Deployment::new(&txn);
        let ctx = deployment.write_context(&self.clock, &self.keys, Self::actor());
        let enrollment = second_factor::begin_enrollment(&ctx, user, secrets)
            .await
            .expect("start the set-up");
        let key = enrollment.secret.expose_secret().to_owned();
        let code = second_factor::code_at(&key, Clock::now(&self.clock)).expect("a code");
        second_factor::confirm_enrollment(&ctx, user, secrets, &code)
            .await
            .expect("confirm the set-up");
        drop(ctx);
        txn.commit().await.unwrap();
        key
    }

    /// Sets whose password accounts of the MSP must use a second factor.
    ///
    /// # Panics
    /// When the database cannot be written.
    pub async fn require_second_factor(&self, msp_id: MspId, policy: SecondFactorPolicy) {
        let txn = self.storage.begin().await.unwrap();
        let deployment = Deployment::new(&txn);
        let ctx = deployment.write_context(&self.clock, &self.keys, Self::actor());
        ctx.operate_msp(msp_id)
            .set_second_factor_policy(policy)
            .await
            .expect("set the second-factor policy");
        drop(ctx);
        txn.commit().await.unwrap();
    }

    /// Confirms, as the operator, that `domain` is the MSP's.
    ///
    /// # Panics
    /// When the domain is refused.
    pub async fn verify_domain(&self, msp_id: MspId, domain: &str) {
        let txn = self.storage.begin().await.unwrap();
        let deployment = Deployment::new(&txn);
        let ctx = deployment.write_context(&self.clock, &self.keys, Self::actor());
        ctx.verify_msp_domain(msp_id, domain)
            .await
            .expect("verify the domain");
        drop(ctx);
        txn.commit().await.unwrap();
    }

    /// # Panics
    /// When the tenant cannot be created.
    pub async fn tenant(&self, msp_id: MspId, slug: &str) -> Tenant {
        let txn = self.storage.begin().await.unwrap();
        let deployment = Deployment::new(&txn);
        let ctx = deployment.write_context(&self.clock, &self.keys, Self::actor());
        let tenant = ctx
            .operate_msp(msp_id)
            .tenants()
            .create(NewTenant {
                name: format!("Tenant {slug}"),
                slug: slug.parse().expect("a valid slug"),
            })
            .await
            .expect("create the tenant");
        drop(ctx);
        txn.commit().await.unwrap();
        tenant
    }

    /// An integration of `tenant`, its credential sealed with `secrets`.
    ///
    /// # Panics
    /// When the integration cannot be created.
    pub async fn integration(
        &self,
        tenant: &Tenant,
        secrets: &steward_core::secrets::SecretBox,
        new: steward_core::storage::NewIntegration,
    ) -> steward_domain::integrations::Integration {
        self.as_steward(tenant, async |work| {
            work.integrations(secrets)
                .unwrap()
                .create(new)
                .await
                .expect("create the integration")
        })
        .await
    }

    /// Records a synchronization of `integration` into `tenant` as Steward, in a transaction
    /// of its own, as the sync stage would after reading the vendor.
    ///
    /// # Errors
    /// What recording refuses (an integration of another tenant).
    ///
    /// # Panics
    /// When the database fails.
    pub async fn record_sync(
        &self,
        tenant: &Tenant,
        integration: steward_domain::IntegrationId,
        inventory: &steward_domain::observations::ObservedInventory,
        events: &[steward_domain::observations::ObservedEvent],
        state: Option<&serde_json::Value>,
    ) -> Result<steward_domain::inventory::SyncCounts, steward_core::inventory::SyncError> {
        self.as_steward(tenant, async |work| {
            steward_core::inventory::InventoryWriter::new(work)
                .expect("Steward records synchronizations")
                .record_sync(integration, inventory, events, state)
                .await
        })
        .await
    }

    /// Runs `work` as Steward's own writes in `tenant` (the workers'), in a transaction of its
    /// own that is committed after it.
    ///
    /// # Panics
    /// When the tenant does not exist or the database fails.
    pub async fn as_steward<T>(
        &self,
        tenant: &Tenant,
        work: impl AsyncFnOnce(&steward_core::storage::TenantWork<'_>) -> T,
    ) -> T {
        let txn = self.storage.begin().await.unwrap();
        let deployment = Deployment::new(&txn);
        let ctx = deployment.write_context(&self.clock, &self.keys, Self::actor());
        let tenant_work = steward_core::storage::TenantWork::as_steward(&ctx, tenant.id)
            .await
            .unwrap()
            .expect("the tenant exists");
        let value = work(&tenant_work).await;
        drop(tenant_work);
        drop(ctx);
        txn.commit().await.unwrap();
        value
    }

    /// # Panics
    /// When the user cannot be created.
    pub async fn user(
        &self,
        msp_id: MspId,
        email: &str,
        role: Role,
        tenant_id: Option<TenantId>,
    ) -> User {
        let txn = self.storage.begin().await.unwrap();
        let deployment = Deployment::new(&txn);
        let ctx = deployment.write_context(&self.clock, &self.keys, Self::actor());
        let user = ctx
            .operate_msp(msp_id)
            .users()
            .create(NewUser {
                email: email.to_owned(),
                display_name: email.split('@').next().unwrap_or(email).to_owned(),
                role,
                tenant_id,
                password_hash: None,
                password_change_required: false,
            })
            .await
            .expect("create the user");
        drop(ctx);
        txn.commit().await.unwrap();
        user
    }

    /// Gives the user a password to sign in with.
    ///
    /// # Panics
    /// When the password is too short or cannot be stored.
    pub async fn set_password(&self, user: &User, password: &str) {
        let hash = steward_core::passwords::hash_password(password).expect("a valid password");
        let txn = self.storage.begin().await.unwrap();
        let deployment = Deployment::new(&txn);
        let ctx = deployment.write_context(&self.clock, &self.keys, Self::actor());
        ctx.operate_msp(user.msp_id)
            .users()
            .set_password_hash(user.id, Some(hash))
            .await
            .expect("set the password");
        drop(ctx);
        txn.commit().await.unwrap();
    }

    /// Issues an API token for the user and returns its secret.
    ///
    /// # Panics
    /// When the token cannot be issued.
    pub async fn token(&self, user: &User, expires_in: Option<chrono::Duration>) -> String {
        let txn = self.storage.begin().await.unwrap();
        let deployment = Deployment::new(&txn);
        let ctx = deployment.write_context(&self.clock, &self.keys, Self::actor());
        let issued = ctx
            .operate_msp(user.msp_id)
            .users()
            .create_token(
                user.id,
                "test token",
                expires_in.map(|d| self.clock.now() + d),
            )
            .await
            .expect("issue the token");
        drop(ctx);
        txn.commit().await.unwrap();
        issued.secret.expose_secret().to_owned()
    }

    /// The clock as the application state takes it.
    #[must_use]
    pub fn shared_clock(&self) -> Arc<dyn Clock> {
        Arc::new(self.clock.clone())
    }
}
