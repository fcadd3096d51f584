//! One-time links for staff accounts: an invitation (the invitee sets their own password) or a
//! password reset, issued by an admin and shown to them once. Only the SHA-256 of the token is
//! stored; a link is used up by one conditional UPDATE and expires.

use sea_orm_migration::prelude::*;

/// Adds `staff_tokens`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum StaffTokens {
    Table,
    TokenHash,
    StaffUserId,
    Purpose,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StaffTokens::Table)
                    // SHA-256 (hex) of a 144-bit random token.
                    .col(
                        ColumnDef::new(StaffTokens::TokenHash)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(StaffTokens::StaffUserId)
                            .string_len(36)
                            .not_null(),
                    )
                    // `invite` or `reset`.
                    .col(
                        ColumnDef::new(StaffTokens::Purpose)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(StaffTokens::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(StaffTokens::ExpiresAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(StaffTokens::UsedAt).big_integer().null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(StaffTokens::Table, StaffTokens::StaffUserId)
                            .to(Alias::new("staff_users"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // A new link replaces the account's older ones: they are found by account.
        manager
            .create_index(
                Index::create()
                    .name("idx_staff_tokens_staff")
                    .table(StaffTokens::Table)
                    .col(StaffTokens::StaffUserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(StaffTokens::Table).to_owned())
            .await
    }
}
