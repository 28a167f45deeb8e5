//! Email domains an MSP has proven it holds, for single sign-on to create its users: one MSP per
//! domain. A domain some MSP had already chosen for auto-provisioning stays its own when no other
//! MSP chose it too; a domain several MSPs chose is held by none of them, and their
//! auto-provisioning is turned off until the deployment's operator confirms the owner
//! (`steward msp verify-domain`).

use sea_orm_migration::{
    prelude::*,
    schema::*,
    sea_orm::{
        ConnectionTrait,
        prelude::{ChronoUtc, Uuid},
    },
};

use crate::schema_kit::{Msps, drop_table, foreign_key, unique_index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MspDomains::Table)
                    .col(uuid(MspDomains::Id).primary_key())
                    .col(uuid(MspDomains::MspId))
                    .col(text(MspDomains::Domain))
                    .col(text(MspDomains::VerifiedBy))
                    .col(timestamp_with_time_zone(MspDomains::VerifiedAt))
                    .foreign_key(&mut foreign_key(
                        MspDomains::Table,
                        MspDomains::MspId,
                        Msps::Table,
                        Msps::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index(
                "msp_domains_domain_key",
                MspDomains::Table,
                [MspDomains::Domain],
            ))
            .await?;
        let db = manager.get_connection();
        // Chosen by several MSPs: none keeps it.
        db.execute_unprepared(
            "UPDATE msps SET sso_auto_provision_domain = NULL, sso_auto_provision_role = NULL \
             WHERE sso_auto_provision_domain IN (SELECT sso_auto_provision_domain FROM msps \
             WHERE sso_auto_provision_domain IS NOT NULL GROUP BY sso_auto_provision_domain \
             HAVING COUNT(*) > 1)",
        )
        .await?;
        // Chosen by one: it holds it. Each MSP holds at most one domain here, so its own id
        // serves as the row's.
        let claims = db
            .query_all_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT id, sso_auto_provision_domain FROM msps \
                 WHERE sso_auto_provision_domain IS NOT NULL",
            ))
            .await?;
        #[expect(
            clippy::disallowed_methods,
            reason = "a migration records when it ran; no clock is injected into migrations"
        )]
        let now = ChronoUtc::now();
        for claim in claims {
            let msp_id: Uuid = claim.try_get("", "id")?;
            let domain: String = claim.try_get("", "sso_auto_provision_domain")?;
            let insert = Query::insert()
                .into_table(MspDomains::Table)
                .columns([
                    MspDomains::Id,
                    MspDomains::MspId,
                    MspDomains::Domain,
                    MspDomains::VerifiedBy,
                    MspDomains::VerifiedAt,
                ])
                .values_panic([
                    msp_id.into(),
                    msp_id.into(),
                    domain.into(),
                    "chosen before domains were verified".into(),
                    now.into(),
                ])
                .to_owned();
            manager.exec_stmt(insert).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(drop_table(MspDomains::Table)).await
    }
}

#[derive(DeriveIden)]
enum MspDomains {
    Table,
    Id,
    MspId,
    Domain,
    VerifiedBy,
    VerifiedAt,
}
