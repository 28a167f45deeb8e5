//! The vendor feed each event was read from, so a synchronization reads each feed from its own
//! newest stored event. Events stored before are given theirs from their integration's vendor
//! and their OCSF class (each class of a vendor comes from one feed).

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema_kit::{add_column, drop_column, drop_index, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEX: &str = "events_integration_id_stream_time_idx";

/// Per feed: its name, the vendor it is read from, and the OCSF classes its events have.
const FEEDS: [(&str, &str, &[i32]); 9] = [
    ("defender_alerts", "microsoft_defender", &[2004]),
    ("entra_sign_ins", "microsoft_graph", &[3002]),
    ("graph_security_alerts", "microsoft_graph", &[2004]),
    ("entra_directory_audits", "microsoft_graph", &[3001, 6003]),
    ("hunting_process_events", "microsoft_graph", &[1007]),
    ("hunting_file_events", "microsoft_graph", &[1001]),
    (
        "hunting_registry_events",
        "microsoft_graph",
        &[201_001, 201_002],
    ),
    ("okta_system_log", "okta", &[3001, 3002, 6003]),
    ("falcon_alerts", "crowdstrike_falcon", &[2004]),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(add_column(Events::Table, string_null(Events::Stream)))
            .await?;
        let db = manager.get_connection();
        // Events a log sender sent keep ids of their own, whatever integration they came in by.
        db.execute_unprepared(
            "UPDATE events SET stream = 'ingested' WHERE external_id LIKE 'ingest:%'",
        )
        .await?;
        for (feed, vendor, classes) in FEEDS {
            let classes: Vec<String> = classes.iter().map(ToString::to_string).collect();
            db.execute_unprepared(&format!(
                "UPDATE events SET stream = '{feed}' WHERE stream IS NULL AND class_uid IN ({}) \
                 AND integration_id IN (SELECT id FROM integrations WHERE vendor = '{vendor}')",
                classes.join(", ")
            ))
            .await?;
        }
        // Every synchronization asks for each feed's newest event.
        manager
            .create_index(index(
                INDEX,
                Events::Table,
                [Events::IntegrationId, Events::Stream, Events::Time],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(drop_index(INDEX, Events::Table)).await?;
        manager
            .alter_table(drop_column(Events::Table, Events::Stream))
            .await
    }
}

#[derive(DeriveIden)]
enum Events {
    Table,
    IntegrationId,
    Stream,
    Time,
}

#[cfg(test)]
mod tests {
    use steward_domain::observations::{EventStream, Vendor};

    use super::FEEDS;

    /// The upgrade names each feed as Steward does, and leaves none out.
    #[test]
    fn every_feed_of_every_vendor_is_given_as_steward_names_it() {
        for (feed, vendor, _) in FEEDS {
            let vendor = Vendor::parse(vendor).unwrap_or_else(|| panic!("vendor {vendor}"));
            let stream = EventStream::parse(feed).unwrap_or_else(|| panic!("feed {feed}"));
            assert!(
                vendor.event_streams().contains(&stream),
                "{feed} of {vendor}"
            );
        }
        let feeds: usize = Vendor::ALL.iter().map(|v| v.event_streams().len()).sum();
        assert_eq!(FEEDS.len(), feeds);
    }
}
