//! Notifications: a tenant's channels (e-mail recipients and webhooks, a webhook's signing
//! secret sealed with the master key), the delivery log (one row per message and channel,
//! with its attempts, last response and next attempt), the notifier's per-integration state
//! (what was already said, so each condition sends one message until it clears) and the lease
//! that lets one instance at a time evaluate the rules.

use sea_orm_migration::prelude::*;

/// Adds `notify_channels`, `notify_deliveries`, `notify_state` and `notify_lease`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum NotifyChannels {
    Table,
    Id,
    TenantId,
    Kind,
    Address,
    Secret,
    Enabled,
    CreatedAt,
}

#[derive(DeriveIden)]
enum NotifyDeliveries {
    Table,
    Id,
    TenantId,
    ChannelId,
    Event,
    Title,
    Payload,
    State,
    Attempts,
    NextAttemptAt,
    ClaimedUntil,
    StatusCode,
    Response,
    Error,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum NotifyState {
    Table,
    IntegrationId,
    State,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum NotifyLease {
    Table,
    Name,
    Owner,
    Until,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(NotifyChannels::Table)
                    .col(
                        ColumnDef::new(NotifyChannels::Id)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(NotifyChannels::TenantId)
                            .string_len(36)
                            .not_null(),
                    )
                    // `email` or `webhook`.
                    .col(
                        ColumnDef::new(NotifyChannels::Kind)
                            .string_len(16)
                            .not_null(),
                    )
                    // The e-mail address or the webhook URL.
                    .col(ColumnDef::new(NotifyChannels::Address).text().not_null())
                    // A webhook's signing secret, sealed (`v1:…`) with the channel id as context.
                    .col(ColumnDef::new(NotifyChannels::Secret).text().null())
                    .col(
                        ColumnDef::new(NotifyChannels::Enabled)
                            .boolean()
                            .not_null()
                            .default(true),
                    )
                    .col(
                        ColumnDef::new(NotifyChannels::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(NotifyChannels::Table, NotifyChannels::TenantId)
                            .to(Alias::new("tenants"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_notify_channels_tenant")
                    .table(NotifyChannels::Table)
                    .col(NotifyChannels::TenantId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(NotifyDeliveries::Table)
                    .col(
                        ColumnDef::new(NotifyDeliveries::Id)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(NotifyDeliveries::TenantId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(NotifyDeliveries::ChannelId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(NotifyDeliveries::Event)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(ColumnDef::new(NotifyDeliveries::Title).text().not_null())
                    // The JSON message (no secrets, no SCIM bodies): the webhook body as sent.
                    .col(ColumnDef::new(NotifyDeliveries::Payload).text().not_null())
                    // `pending`, `sent` or `failed` (given up).
                    .col(
                        ColumnDef::new(NotifyDeliveries::State)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(NotifyDeliveries::Attempts)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(NotifyDeliveries::NextAttemptAt)
                            .big_integer()
                            .null(),
                    )
                    // A sender's claim: others leave the row alone until then.
                    .col(
                        ColumnDef::new(NotifyDeliveries::ClaimedUntil)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(NotifyDeliveries::StatusCode)
                            .integer()
                            .null(),
                    )
                    // The start of the last response body.
                    .col(ColumnDef::new(NotifyDeliveries::Response).text().null())
                    .col(ColumnDef::new(NotifyDeliveries::Error).text().null())
                    .col(
                        ColumnDef::new(NotifyDeliveries::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(NotifyDeliveries::UpdatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(NotifyDeliveries::Table, NotifyDeliveries::ChannelId)
                            .to(NotifyChannels::Table, NotifyChannels::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The sender's look for due deliveries.
        manager
            .create_index(
                Index::create()
                    .name("idx_notify_deliveries_due")
                    .table(NotifyDeliveries::Table)
                    .col(NotifyDeliveries::State)
                    .col(NotifyDeliveries::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        // The tenant's delivery log, newest first.
        manager
            .create_index(
                Index::create()
                    .name("idx_notify_deliveries_tenant")
                    .table(NotifyDeliveries::Table)
                    .col(NotifyDeliveries::TenantId)
                    .col(NotifyDeliveries::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_notify_deliveries_channel")
                    .table(NotifyDeliveries::Table)
                    .col(NotifyDeliveries::ChannelId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(NotifyState::Table)
                    .col(
                        ColumnDef::new(NotifyState::IntegrationId)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    // JSON: the failure cursor, the open batch, the raised conditions.
                    .col(ColumnDef::new(NotifyState::State).text().not_null())
                    .col(
                        ColumnDef::new(NotifyState::UpdatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(NotifyState::Table, NotifyState::IntegrationId)
                            .to(Alias::new("integrations"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(NotifyLease::Table)
                    .col(
                        ColumnDef::new(NotifyLease::Name)
                            .string_len(32)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(NotifyLease::Owner).string_len(64).not_null())
                    .col(ColumnDef::new(NotifyLease::Until).big_integer().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            Alias::new("notify_lease"),
            Alias::new("notify_state"),
            Alias::new("notify_deliveries"),
            Alias::new("notify_channels"),
        ] {
            manager
                .drop_table(Table::drop().table(t).to_owned())
                .await?;
        }
        Ok(())
    }
}
