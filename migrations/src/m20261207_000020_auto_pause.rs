//! Automatic pause (#31): who paused an integration and why (`paused_by` NULL = a person,
//! `scimbridge` = the worker after the target rejected the credentials again and again), and
//! the error kind of a job's last failure, so rules read the kind instead of the text.

use sea_orm_migration::prelude::*;

/// Adds `integrations.paused_by`, `pause_reason`, `paused_at` and `jobs.last_error_kind`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Integrations {
    Table,
    PausedBy,
    PauseReason,
    PausedAt,
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    LastErrorKind,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one column per ALTER TABLE.
        for col in [
            ColumnDef::new(Integrations::PausedBy)
                .string_len(64)
                .null()
                .to_owned(),
            ColumnDef::new(Integrations::PauseReason)
                .text()
                .null()
                .to_owned(),
            ColumnDef::new(Integrations::PausedAt)
                .big_integer()
                .null()
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Integrations::Table)
                        .add_column(col)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Jobs::Table)
                    .add_column(ColumnDef::new(Jobs::LastErrorKind).string_len(32).null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Jobs::Table)
                    .drop_column(Jobs::LastErrorKind)
                    .to_owned(),
            )
            .await?;
        for col in [
            Integrations::PausedAt,
            Integrations::PauseReason,
            Integrations::PausedBy,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Integrations::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
