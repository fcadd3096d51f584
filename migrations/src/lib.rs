//! Database migrations for scimbridge.
//!
//! Append-only: a migration, once released, never changes. Each migration declares its own
//! identifiers (`DeriveIden` enums) and never imports the `store` entities, so an old migration
//! keeps its meaning when the entities evolve. Every migration must leave the same schema on
//! SQLite and PostgreSQL: UUIDs are `varchar(36)`, timestamps are BIGINT epoch milliseconds
//! (UTC), JSON is TEXT, and key columns compare byte-wise (SQLite's `BINARY`; on PostgreSQL
//! `COLLATE "C"` since migration 000009, the one migration with work on one backend only).

pub use sea_orm_migration;
use sea_orm_migration::prelude::*;

mod m20261123_000001_initial;
mod m20261123_000002_rate_limits;
mod m20261123_000003_events_outcome_index;
mod m20261123_000004_events_correlation_at;
mod m20261123_000005_events_tenant_filters;
mod m20261123_000006_events_fewer_indexes;
mod m20261203_000007_group_members_by_group;
mod m20261206_000008_events_outcome_partial;
mod m20261206_000009_pg_byte_order_keys;
mod m20261207_000010_planner_policies_guard_groups;
mod m20261207_000011_integration_extension_schemas;
mod m20261207_000012_signin_guards;
mod m20261207_000013_staff_totp;
mod m20261207_000014_rate_limit_budgets;
mod m20261207_000015_reconciliation;
mod m20261207_000016_staff_tokens;
mod m20261207_000017_api_tokens;
mod m20261207_000018_notifications;
mod m20261207_000019_resync_batches;
mod m20261207_000020_auto_pause;
mod m20261207_000021_credential_streaks;

/// Runs every migration of this crate, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_initial::Migration),
            Box::new(m20261123_000002_rate_limits::Migration),
            Box::new(m20261123_000003_events_outcome_index::Migration),
            Box::new(m20261123_000004_events_correlation_at::Migration),
            Box::new(m20261123_000005_events_tenant_filters::Migration),
            Box::new(m20261123_000006_events_fewer_indexes::Migration),
            Box::new(m20261203_000007_group_members_by_group::Migration),
            Box::new(m20261206_000008_events_outcome_partial::Migration),
            Box::new(m20261206_000009_pg_byte_order_keys::Migration),
            Box::new(m20261207_000010_planner_policies_guard_groups::Migration),
            Box::new(m20261207_000011_integration_extension_schemas::Migration),
            Box::new(m20261207_000012_signin_guards::Migration),
            Box::new(m20261207_000013_staff_totp::Migration),
            Box::new(m20261207_000014_rate_limit_budgets::Migration),
            Box::new(m20261207_000015_reconciliation::Migration),
            Box::new(m20261207_000016_staff_tokens::Migration),
            Box::new(m20261207_000017_api_tokens::Migration),
            Box::new(m20261207_000018_notifications::Migration),
            Box::new(m20261207_000019_resync_batches::Migration),
            Box::new(m20261207_000020_auto_pause::Migration),
            Box::new(m20261207_000021_credential_streaks::Migration),
        ]
    }
}
