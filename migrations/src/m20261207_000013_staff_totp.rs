//! TOTP second factor for staff: the (encrypted) secret and the last accepted time step per
//! account, the hashed one-time recovery codes, and where TOTP is required (platform-wide or per
//! tenant).

use sea_orm_migration::prelude::*;

/// Adds `staff_totp`, `staff_recovery_codes` and `totp_requirements`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum StaffTotp {
    Table,
    StaffUserId,
    SecretEnc,
    EnabledAt,
    LastStep,
    CreatedAt,
}

#[derive(DeriveIden)]
enum StaffRecoveryCodes {
    Table,
    CodeHash,
    StaffUserId,
    UsedAt,
}

#[derive(DeriveIden)]
enum TotpRequirements {
    Table,
    Scope,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StaffTotp::Table)
                    .col(
                        ColumnDef::new(StaffTotp::StaffUserId)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    // AES-256-GCM with the master key, bound to the staff id (`store::crypto`).
                    .col(ColumnDef::new(StaffTotp::SecretEnc).text().not_null())
                    // NULL while enrolment waits for its first code.
                    .col(ColumnDef::new(StaffTotp::EnabledAt).big_integer().null())
                    // The newest accepted 30-second step: a code is never accepted twice.
                    .col(ColumnDef::new(StaffTotp::LastStep).big_integer().null())
                    .col(
                        ColumnDef::new(StaffTotp::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(StaffTotp::Table, StaffTotp::StaffUserId)
                            .to(Alias::new("staff_users"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StaffRecoveryCodes::Table)
                    // SHA-256 (hex) of a 100-bit random code.
                    .col(
                        ColumnDef::new(StaffRecoveryCodes::CodeHash)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(StaffRecoveryCodes::StaffUserId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(StaffRecoveryCodes::UsedAt)
                            .big_integer()
                            .null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(StaffRecoveryCodes::Table, StaffRecoveryCodes::StaffUserId)
                            .to(Alias::new("staff_users"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_staff_recovery_codes_staff")
                    .table(StaffRecoveryCodes::Table)
                    .col(StaffRecoveryCodes::StaffUserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TotpRequirements::Table)
                    // `platform`, or a tenant id.
                    .col(
                        ColumnDef::new(TotpRequirements::Scope)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(TotpRequirements::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TotpRequirements::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(StaffRecoveryCodes::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(StaffTotp::Table).to_owned())
            .await
    }
}
