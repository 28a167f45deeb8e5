//! Customer approvals in Slack: per tenant, a channel shared with the customer (Slack Connect)
//! where the requests that need the customer's approval are posted.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema_kit::add_columns_migration;

#[derive(DeriveMigrationName)]
pub struct Migration;

add_columns_migration!(
    SlackConnections::Table,
    [json_binary_null(SlackConnections::TenantChannels)]
);

#[derive(DeriveIden)]
enum SlackConnections {
    Table,
    TenantChannels,
}
