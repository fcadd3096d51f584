//! The last **Apply to all now** of each integration: which correlation id its jobs carry and
//! how many it queued, so the Overview and `/metrics` can show its progress (the jobs left
//! with that correlation id) while the worker drains it.

use sea_orm_migration::prelude::*;

/// Adds `resync_batches`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ResyncBatches {
    Table,
    IntegrationId,
    BatchId,
    Users,
    Queued,
    StartedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ResyncBatches::Table)
                    .col(
                        ColumnDef::new(ResyncBatches::IntegrationId)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    // The correlation id of the batch's jobs.
                    .col(
                        ColumnDef::new(ResyncBatches::BatchId)
                            .string_len(36)
                            .not_null(),
                    )
                    // Users the rules would change when the admin asked.
                    .col(
                        ColumnDef::new(ResyncBatches::Users)
                            .big_integer()
                            .not_null(),
                    )
                    // Jobs the batch added (the others were already queued).
                    .col(
                        ColumnDef::new(ResyncBatches::Queued)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ResyncBatches::StartedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ResyncBatches::Table, ResyncBatches::IntegrationId)
                            .to(Alias::new("integrations"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ResyncBatches::Table).to_owned())
            .await
    }
}
