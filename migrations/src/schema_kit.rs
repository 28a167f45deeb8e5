//! Builders for the statement shapes the migrations repeat, identifiers of the tables many
//! migrations refer to, and [`add_columns_migration!`] for the migrations that only add columns.
//!
//! Each builder makes exactly what the long-hand sea-query chain it stands for makes: the same
//! calls on the same builder, nothing added. A migration written with them therefore runs the same
//! SQL on SQLite and PostgreSQL as one written out in full, which is what lets an applied
//! migration be rewritten with them at all (an applied migration never changes what it does).
//! Keep it that way: a builder that needs another option (a named foreign key, `ON UPDATE`, a
//! partial index) is a new builder or a long-hand chain in the migration, never a change to what
//! these build.

use sea_orm_migration::prelude::*;

/// `FOREIGN KEY (from_col) REFERENCES to_table (to_col) ON DELETE on_delete`, unnamed, as
/// `ForeignKey::create().from(..).to(..).on_delete(..)` builds it; pass it to
/// `Table::create().foreign_key(&mut …)`.
pub(crate) fn foreign_key(
    from_table: impl IntoTableRef,
    from_col: impl IntoIden,
    to_table: impl IntoTableRef,
    to_col: impl IntoIden,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from_table, from_col)
        .to(to_table, to_col)
        .on_delete(on_delete)
        .to_owned()
}

/// `CREATE INDEX name ON table (columns…)`, the columns in the order given.
pub(crate) fn index<C: IntoIndexColumn>(
    name: &str,
    table: impl IntoTableRef,
    columns: impl IntoIterator<Item = C>,
) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table);
    for column in columns {
        index.col(column);
    }
    index
}

/// `CREATE UNIQUE INDEX name ON table (columns…)`, the columns in the order given.
pub(crate) fn unique_index<C: IntoIndexColumn>(
    name: &str,
    table: impl IntoTableRef,
    columns: impl IntoIterator<Item = C>,
) -> IndexCreateStatement {
    index(name, table, columns).unique().to_owned()
}

/// `DROP INDEX name` (on `table`, which MySQL would need and SQLite and PostgreSQL ignore).
pub(crate) fn drop_index(name: &str, table: impl IntoTableRef) -> IndexDropStatement {
    Index::drop().name(name).table(table).to_owned()
}

/// `DROP TABLE table`.
pub(crate) fn drop_table(table: impl IntoTableRef) -> TableDropStatement {
    Table::drop().table(table).to_owned()
}

/// `ALTER TABLE table ADD COLUMN column`: one column per statement, as SQLite requires.
pub(crate) fn add_column(
    table: impl IntoTableRef,
    column: impl IntoColumnDef,
) -> TableAlterStatement {
    Table::alter().table(table).add_column(column).to_owned()
}

/// `ALTER TABLE table DROP COLUMN column`: one column per statement, as SQLite requires.
pub(crate) fn drop_column(table: impl IntoTableRef, column: impl IntoIden) -> TableAlterStatement {
    Table::alter().table(table).drop_column(column).to_owned()
}

// The tables below are the targets of foreign keys from many migrations, which name only the
// table and its `id`. `DeriveIden` renders `Table` as the enum's name in snake case and every
// other variant as its own, so these render `msps`, `tenants`, `users` and `id` exactly as the
// local enums they replaced did. A migration that touches other columns of one of these tables
// (adds one, or creates the table) keeps a local enum listing them, so that this one never grows
// columns that only exist from some migration on.

/// The `msps` table, as foreign keys refer to it.
#[derive(DeriveIden)]
pub(crate) enum Msps {
    Table,
    Id,
}

/// The `tenants` table, as foreign keys refer to it.
#[derive(DeriveIden)]
pub(crate) enum Tenants {
    Table,
    Id,
}

/// The `users` table, as foreign keys refer to it.
#[derive(DeriveIden)]
pub(crate) enum Users {
    Table,
    Id,
}

/// `DROP TABLE` for each table, in the order given (dependent tables first).
pub(crate) async fn drop_tables(
    manager: &SchemaManager<'_>,
    tables: impl IntoIterator<Item = DynIden>,
) -> Result<(), DbErr> {
    for table in tables {
        manager.drop_table(drop_table(table)).await?;
    }
    Ok(())
}

/// `ALTER TABLE table ADD COLUMN` for each column, in the order given: the `up` of a migration
/// made with [`add_columns_migration!`].
pub(crate) async fn add_columns(
    manager: &SchemaManager<'_>,
    table: impl IntoTableRef,
    columns: impl IntoIterator<Item = ColumnDef>,
) -> Result<(), DbErr> {
    let table = table.into_table_ref();
    for column in columns {
        manager
            .alter_table(add_column(table.clone(), column))
            .await?;
    }
    Ok(())
}

/// `ALTER TABLE table DROP COLUMN` for each column, last first, by the name its definition gives:
/// the `down` of a migration made with [`add_columns_migration!`], undoing [`add_columns`].
pub(crate) async fn drop_added_columns(
    manager: &SchemaManager<'_>,
    table: impl IntoTableRef,
    columns: Vec<ColumnDef>,
) -> Result<(), DbErr> {
    let table = table.into_table_ref();
    for column in columns.into_iter().rev() {
        let name = Alias::new(column.get_column_name());
        manager
            .alter_table(drop_column(table.clone(), name))
            .await?;
    }
    Ok(())
}

/// Implements `MigrationTrait` for the invoking file's `Migration` as a migration that only adds
/// columns to one table: `up` adds them in the order given, one `ALTER TABLE` each as SQLite
/// requires; `down` drops them again, last first. The migration's name stays the file's, from
/// its own `#[derive(DeriveMigrationName)]`.
///
/// ```ignore
/// #[derive(DeriveMigrationName)]
/// pub struct Migration;
///
/// add_columns_migration!(Identities::Table, [json_binary_null(Identities::Groups)]);
/// ```
macro_rules! add_columns_migration {
    ($table:expr, [$($column:expr),+ $(,)?]) => {
        impl Migration {
            /// The columns this migration adds, in order.
            fn columns() -> Vec<::sea_orm_migration::prelude::ColumnDef> {
                vec![$(::sea_orm_migration::prelude::ColumnDef::from($column)),+]
            }
        }

        #[::sea_orm_migration::async_trait::async_trait]
        impl ::sea_orm_migration::MigrationTrait for Migration {
            async fn up(
                &self,
                manager: &::sea_orm_migration::SchemaManager,
            ) -> Result<(), ::sea_orm_migration::DbErr> {
                $crate::schema_kit::add_columns(manager, $table, Self::columns()).await
            }

            async fn down(
                &self,
                manager: &::sea_orm_migration::SchemaManager,
            ) -> Result<(), ::sea_orm_migration::DbErr> {
                $crate::schema_kit::drop_added_columns(manager, $table, Self::columns()).await
            }
        }
    };
}
pub(crate) use add_columns_migration;
