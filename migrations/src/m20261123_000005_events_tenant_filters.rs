//! Indexes for the tenant-wide provisioning log (no integration chosen): filtering by user
//! (userName or id) or by outcome would otherwise walk the tenant's whole time index when the
//! match is rare.

use sea_orm_migration::prelude::*;

/// Adds `idx_events_tenant_subject_at`, `idx_events_tenant_subject_id_at` and
/// `idx_events_tenant_outcome_at`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ProvisioningEvents {
    Table,
    TenantId,
    SubjectName,
    SubjectId,
    Outcome,
    At,
}

const INDEXES: [(&str, ProvisioningEvents); 3] = [
    (
        "idx_events_tenant_subject_at",
        ProvisioningEvents::SubjectName,
    ),
    (
        "idx_events_tenant_subject_id_at",
        ProvisioningEvents::SubjectId,
    ),
    ("idx_events_tenant_outcome_at", ProvisioningEvents::Outcome),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, column) in INDEXES {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(ProvisioningEvents::Table)
                        .col(ProvisioningEvents::TenantId)
                        .col(column)
                        .col(ProvisioningEvents::At)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
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
}
