//! Replaces the `(correlation_id)` index of the event log by `(correlation_id, at)`: with the
//! time in the index, the newest-first trace query is answered from it directly, and
//! PostgreSQL is never tempted to walk the whole time index instead.

use sea_orm_migration::prelude::*;

/// Swaps the correlation index.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ProvisioningEvents {
    Table,
    CorrelationId,
    At,
}

const NEW: &str = "idx_events_correlation_at";
/// Created by the initial migration.
const OLD: &str = "idx_events_correlation";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use ProvisioningEvents as E;
        let new = Index::create()
            .name(NEW)
            .table(E::Table)
            .col(E::CorrelationId)
            .col(E::At)
            .to_owned();
        manager.create_index(new).await?;
        let old = Index::drop().name(OLD).table(E::Table).to_owned();
        manager.drop_index(old).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use ProvisioningEvents as E;
        let old = Index::create()
            .name(OLD)
            .table(E::Table)
            .col(E::CorrelationId)
            .to_owned();
        manager.create_index(old).await?;
        let new = Index::drop().name(NEW).table(E::Table).to_owned();
        manager.drop_index(new).await
    }
}
