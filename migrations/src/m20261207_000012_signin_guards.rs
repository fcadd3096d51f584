//! The sign-in guards in the database, so several instances behind one proxy share them:
//! failed sign-ins counted per key (a SHA-256 of `email:…` / `ip:…`) within a window, and the
//! hashes of first-run setup tokens.

use sea_orm_migration::prelude::*;

/// Adds `login_failures` and `setup_tokens`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LoginFailures {
    Table,
    KeyHash,
    Failures,
    WindowStart,
}

#[derive(DeriveIden)]
enum SetupTokens {
    Table,
    TokenHash,
    ExpiresAt,
    UsedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LoginFailures::Table)
                    .col(
                        ColumnDef::new(LoginFailures::KeyHash)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(LoginFailures::Failures).integer().not_null())
                    .col(
                        ColumnDef::new(LoginFailures::WindowStart)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        // Pruning deletes by window start on every recorded failure.
        manager
            .create_index(
                Index::create()
                    .name("idx_login_failures_window_start")
                    .table(LoginFailures::Table)
                    .col(LoginFailures::WindowStart)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SetupTokens::Table)
                    .col(
                        ColumnDef::new(SetupTokens::TokenHash)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(SetupTokens::ExpiresAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(SetupTokens::UsedAt).big_integer().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SetupTokens::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(LoginFailures::Table).to_owned())
            .await
    }
}
