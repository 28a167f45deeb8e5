//! Makes the audit tables append-only: updates and deletes are refused by the database itself,
//! whatever code path tries them. (Someone with the database owner's rights can still drop the
//! triggers; the chain's hashes and signed checkpoints catch what they change then.)

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: [&str; 2] = ["audit_entries", "audit_checkpoints"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(
                    "CREATE FUNCTION steward_refuse_audit_change() RETURNS trigger \
                     LANGUAGE plpgsql AS $$ BEGIN \
                     RAISE EXCEPTION '% is append-only', TG_TABLE_NAME \
                     USING ERRCODE = 'insufficient_privilege'; \
                     END $$",
                )
                .await?;
                for table in TABLES {
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} \
                         FOR EACH ROW EXECUTE FUNCTION steward_refuse_audit_change()"
                    ))
                    .await?;
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} \
                         FOR EACH STATEMENT EXECUTE FUNCTION steward_refuse_audit_change()"
                    ))
                    .await?;
                }
            }
            DbBackend::Sqlite => {
                for table in TABLES {
                    for event in ["UPDATE", "DELETE"] {
                        db.execute_unprepared(&format!(
                            "CREATE TRIGGER {table}_no_{verb} BEFORE {event} ON {table} \
                             BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END",
                            verb = event.to_lowercase()
                        ))
                        .await?;
                    }
                }
            }
            other => {
                return Err(DbErr::Migration(format!(
                    "Steward does not support {other:?}"
                )));
            }
        }
        Ok(())
    }
}
