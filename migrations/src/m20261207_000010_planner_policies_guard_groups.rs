//! The planner's state: an integration's policies beyond the deprovision one (what happens to
//! unmatched users, the lifecycle, group push, the deletion guard) as one JSON column; the
//! deletion guard's removals waiting for approval; and the target ids of groups pushed to a
//! target.

use sea_orm_migration::prelude::*;

/// Adds `integrations.policies`, `deprovision_holds` and `target_group_links`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Integrations {
    Table,
    Policies,
}

#[derive(DeriveIden)]
enum DeprovisionHolds {
    Table,
    IntegrationId,
    ScimUserId,
    UserName,
    Action,
    State,
    FirstSeenAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum TargetGroupLinks {
    Table,
    IntegrationId,
    ScimGroupId,
    TargetId,
    Name,
    LastSyncAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Integrations::Table)
                    .add_column(
                        ColumnDef::new(Integrations::Policies)
                            .text()
                            .not_null()
                            .default("{}"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DeprovisionHolds::Table)
                    .col(
                        ColumnDef::new(DeprovisionHolds::IntegrationId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DeprovisionHolds::ScimUserId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(ColumnDef::new(DeprovisionHolds::UserName).text().not_null())
                    .col(ColumnDef::new(DeprovisionHolds::Action).text().not_null())
                    .col(
                        ColumnDef::new(DeprovisionHolds::State)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DeprovisionHolds::FirstSeenAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DeprovisionHolds::UpdatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(DeprovisionHolds::IntegrationId)
                            .col(DeprovisionHolds::ScimUserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(DeprovisionHolds::Table, DeprovisionHolds::IntegrationId)
                            .to(Alias::new("integrations"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TargetGroupLinks::Table)
                    .col(
                        ColumnDef::new(TargetGroupLinks::IntegrationId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(TargetGroupLinks::ScimGroupId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(ColumnDef::new(TargetGroupLinks::TargetId).text().not_null())
                    .col(ColumnDef::new(TargetGroupLinks::Name).text().not_null())
                    .col(
                        ColumnDef::new(TargetGroupLinks::LastSyncAt)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(TargetGroupLinks::IntegrationId)
                            .col(TargetGroupLinks::ScimGroupId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(TargetGroupLinks::Table, TargetGroupLinks::IntegrationId)
                            .to(Alias::new("integrations"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TargetGroupLinks::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(DeprovisionHolds::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Integrations::Table)
                    .drop_column(Integrations::Policies)
                    .to_owned(),
            )
            .await
    }
}
