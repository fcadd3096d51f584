//! Drops the per-integration subject indexes of `provisioning_events`. Every log query that
//! filters by subject also names the tenant, so the tenant-wide indexes of migration 000005
//! (`tenant_id, subject_*, at`) answer it with the integration as a residual filter over one
//! subject's few events. Each index dropped is one B-tree insert less on every request's
//! event, and these two took random inserts (a dirty page each at commit).

use sea_orm_migration::prelude::*;

/// Drops `idx_events_integration_subject_at` and `idx_events_integration_subject_id_at`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ProvisioningEvents {
    Table,
    IntegrationId,
    SubjectName,
    SubjectId,
    At,
}

const INDEXES: [(&str, ProvisioningEvents); 2] = [
    (
        "idx_events_integration_subject_at",
        ProvisioningEvents::SubjectName,
    ),
    (
        "idx_events_integration_subject_id_at",
        ProvisioningEvents::SubjectId,
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in INDEXES {
            manager
                .drop_index(
                    Index::drop()
                        .name(name)
                        .table(ProvisioningEvents::Table)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, column) in INDEXES {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(ProvisioningEvents::Table)
                        .col(ProvisioningEvents::IntegrationId)
                        .col(column)
                        .col(ProvisioningEvents::At)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
