//! Index for reading a group's members. Without it SQLite (which has no statistics until
//! `ANALYZE`) answers `integration_id = ? AND group_id IN (…)` through the member index
//! `(integration_id, member_id)`, i.e. by walking every membership of the integration: 20,000
//! rows read to render one group. This index covers the query and its order.

use sea_orm_migration::prelude::*;

/// Adds `idx_group_members_group`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum GroupMembers {
    Table,
    IntegrationId,
    GroupId,
    MemberType,
    MemberId,
}

const NAME: &str = "idx_group_members_group";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(NAME)
                    .table(GroupMembers::Table)
                    .col(GroupMembers::IntegrationId)
                    .col(GroupMembers::GroupId)
                    .col(GroupMembers::MemberType)
                    .col(GroupMembers::MemberId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(NAME)
                    .table(GroupMembers::Table)
                    .to_owned(),
            )
            .await
    }
}
