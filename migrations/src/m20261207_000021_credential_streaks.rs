//! The automatic pause's count (#31): jobs in a row whose credentials the target rejected, per
//! integration, in the database so every worker and instance counts the same streak (in one
//! worker's memory, three instances each needed their own three rejections).

use sea_orm_migration::prelude::*;

/// Adds `credential_streaks`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CredentialStreaks {
    Table,
    IntegrationId,
    Rejected,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CredentialStreaks::Table)
                    .col(
                        ColumnDef::new(CredentialStreaks::IntegrationId)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(CredentialStreaks::Rejected)
                            .big_integer()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(CredentialStreaks::Table, CredentialStreaks::IntegrationId)
                            .to(Alias::new("integrations"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CredentialStreaks::Table).to_owned())
            .await
    }
}
