//! API tokens for the admin REST API (`/api/v1`): created by a staff member in the console (or
//! by the operator with `scimbridge api-token create`), with a role no higher than the
//! creator's and optionally narrowed to one tenant. Only the SHA-256 of the token is stored;
//! the owner's account going away takes its tokens with it.

use sea_orm_migration::prelude::*;

/// Adds `api_tokens`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Id,
    Name,
    Prefix,
    TokenHash,
    StaffUserId,
    TenantId,
    Role,
    CreatedAt,
    ExpiresAt,
    LastUsedAt,
    RevokedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ApiTokens::Table)
                    .col(
                        ColumnDef::new(ApiTokens::Id)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ApiTokens::Name).string_len(120).not_null())
                    .col(ColumnDef::new(ApiTokens::Prefix).string_len(32).not_null())
                    // SHA-256 (hex) of a 256-bit random token.
                    .col(
                        ColumnDef::new(ApiTokens::TokenHash)
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(ApiTokens::StaffUserId)
                            .string_len(36)
                            .not_null(),
                    )
                    // NULL: the owner's whole scope.
                    .col(ColumnDef::new(ApiTokens::TenantId).string_len(36).null())
                    .col(ColumnDef::new(ApiTokens::Role).string_len(32).not_null())
                    .col(
                        ColumnDef::new(ApiTokens::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ApiTokens::ExpiresAt).big_integer().null())
                    .col(ColumnDef::new(ApiTokens::LastUsedAt).big_integer().null())
                    .col(ColumnDef::new(ApiTokens::RevokedAt).big_integer().null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(ApiTokens::Table, ApiTokens::StaffUserId)
                            .to(Alias::new("staff_users"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ApiTokens::Table, ApiTokens::TenantId)
                            .to(Alias::new("tenants"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The API tokens page lists the signed-in staff member's tokens.
        manager
            .create_index(
                Index::create()
                    .name("idx_api_tokens_staff")
                    .table(ApiTokens::Table)
                    .col(ApiTokens::StaffUserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ApiTokens::Table).to_owned())
            .await
    }
}
