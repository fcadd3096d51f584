//! Reconciliation: the per-integration snapshot of the target's accounts (what an import read)
//! and the import's run state (cursor, lease, counts, times, error) with the integration's
//! reconciliation settings (interval, whether drift is corrected automatically).

use sea_orm_migration::prelude::*;

/// Adds `recon_accounts` and `recon_runs`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ReconAccounts {
    Table,
    IntegrationId,
    TargetId,
    Email,
    EmailLower,
    Username,
    FirstName,
    LastName,
    Roles,
    RolesKnown,
    Active,
    LastLogin,
    RunId,
    LastSeenAt,
}

#[derive(DeriveIden)]
enum ReconRuns {
    Table,
    IntegrationId,
    RunId,
    State,
    Phase,
    Cursor,
    Total,
    Imported,
    LeaseOwner,
    LeaseUntil,
    OwnerTargetId,
    OwnerEmail,
    StartedAt,
    FinishedAt,
    Error,
    IntervalSecs,
    CorrectDrift,
    NextRunAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ReconAccounts::Table)
                    .col(
                        ColumnDef::new(ReconAccounts::IntegrationId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ReconAccounts::TargetId)
                            .string_len(255)
                            .not_null(),
                    )
                    .col(ColumnDef::new(ReconAccounts::Email).text().not_null())
                    .col(
                        ColumnDef::new(ReconAccounts::EmailLower)
                            .string_len(320)
                            .not_null(),
                    )
                    .col(ColumnDef::new(ReconAccounts::Username).text().null())
                    .col(ColumnDef::new(ReconAccounts::FirstName).text().null())
                    .col(ColumnDef::new(ReconAccounts::LastName).text().null())
                    .col(
                        ColumnDef::new(ReconAccounts::Roles)
                            .text()
                            .not_null()
                            .default("[]"),
                    )
                    .col(
                        ColumnDef::new(ReconAccounts::RolesKnown)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(ColumnDef::new(ReconAccounts::Active).boolean().null())
                    .col(ColumnDef::new(ReconAccounts::LastLogin).text().null())
                    .col(
                        ColumnDef::new(ReconAccounts::RunId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ReconAccounts::LastSeenAt)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(ReconAccounts::IntegrationId)
                            .col(ReconAccounts::TargetId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ReconAccounts::Table, ReconAccounts::IntegrationId)
                            .to(Alias::new("integrations"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The details phase walks a run's accounts whose roles are not read yet.
        manager
            .create_index(
                Index::create()
                    .name("idx_recon_accounts_run")
                    .table(ReconAccounts::Table)
                    .col(ReconAccounts::IntegrationId)
                    .col(ReconAccounts::RunId)
                    .col(ReconAccounts::RolesKnown)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ReconRuns::Table)
                    .col(
                        ColumnDef::new(ReconRuns::IntegrationId)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ReconRuns::RunId)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(ReconRuns::State)
                            .string_len(16)
                            .not_null()
                            .default("idle"),
                    )
                    .col(
                        ColumnDef::new(ReconRuns::Phase)
                            .string_len(16)
                            .not_null()
                            .default("list"),
                    )
                    .col(
                        ColumnDef::new(ReconRuns::Cursor)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(ColumnDef::new(ReconRuns::Total).big_integer().null())
                    .col(
                        ColumnDef::new(ReconRuns::Imported)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(ColumnDef::new(ReconRuns::LeaseOwner).text().null())
                    .col(
                        ColumnDef::new(ReconRuns::LeaseUntil)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(ColumnDef::new(ReconRuns::OwnerTargetId).text().null())
                    .col(ColumnDef::new(ReconRuns::OwnerEmail).text().null())
                    .col(ColumnDef::new(ReconRuns::StartedAt).big_integer().null())
                    .col(ColumnDef::new(ReconRuns::FinishedAt).big_integer().null())
                    .col(ColumnDef::new(ReconRuns::Error).text().null())
                    .col(
                        ColumnDef::new(ReconRuns::IntervalSecs)
                            .big_integer()
                            .not_null()
                            .default(86_400),
                    )
                    .col(
                        ColumnDef::new(ReconRuns::CorrectDrift)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(ReconRuns::NextRunAt)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ReconRuns::Table, ReconRuns::IntegrationId)
                            .to(Alias::new("integrations"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ReconRuns::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ReconAccounts::Table).to_owned())
            .await?;
        Ok(())
    }
}
