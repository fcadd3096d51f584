//! Index for the log view's "failures only" filter: without it, asking for the errors of an
//! integration that has none scans all of its events.

use sea_orm_migration::prelude::*;

/// Adds `idx_events_integration_outcome_at`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ProvisioningEvents {
    Table,
    IntegrationId,
    Outcome,
    At,
}

const NAME: &str = "idx_events_integration_outcome_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(NAME)
                    .table(ProvisioningEvents::Table)
                    .col(ProvisioningEvents::IntegrationId)
                    .col(ProvisioningEvents::Outcome)
                    .col(ProvisioningEvents::At)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(NAME)
                    .table(ProvisioningEvents::Table)
                    .to_owned(),
            )
            .await
    }
}
