//! Per-integration extension schemas: `integrations.extension_schemas` holds a JSON array of
//! SCIM schema resources (RFC 7643 §7) that the integration's User type serves besides the
//! core and Enterprise schemas (e.g. ActivTrak's or Activepieces' custom attributes). The
//! store validates the array before writing it; `'[]'` means none.

use sea_orm_migration::prelude::*;

/// Adds `integrations.extension_schemas`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Integrations {
    Table,
    ExtensionSchemas,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Integrations::Table)
                    .add_column(
                        ColumnDef::new(Integrations::ExtensionSchemas)
                            .text()
                            .not_null()
                            .default("[]"),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Integrations::Table)
                    .drop_column(Integrations::ExtensionSchemas)
                    .to_owned(),
            )
            .await
    }
}
