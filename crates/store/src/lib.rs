//! scimbridge persistence.
//!
//! This crate owns the database: the sea-orm [`entities`] (mirroring the schema built by the
//! `migration` crate), every query the application runs, and encryption of secrets at rest
//! ([`crypto`]). It exposes a [`Store`] facade for the admin side (tenants, staff,
//! integrations, tokens, role rules, events, audit) and connection-generic functions in
//! [`scim`] and [`jobs`] so the SCIM layer can change the directory and enqueue outbox jobs in
//! one transaction. [`filter_sql`] pushes the indexed part of SCIM filters down to SQL.
//!
//! Rules: every query is scoped by a tenant or integration id given first; a function that
//! reads across tenants says so in its name (`_unscoped`, `_any_tenant`). Timestamps are epoch
//! milliseconds (UTC). It depends on `scim-core` only for the filter AST; it knows nothing of
//! HTTP, connectors or the web UI.
//!
//! Both SQLite (default, single file, WAL) and PostgreSQL are supported; the tests run every
//! case against both (see the `testing` feature).

mod backup;
pub mod crypto;
mod db;
pub mod entities;
mod error;
mod files;
pub mod filter_sql;
pub mod jobs;
pub mod outbox;
mod pg_lookup;
mod pg_read;
mod queries;
mod rate_budget;
pub mod scim;
mod sqlite_read;
mod sqlite_write;
#[cfg(feature = "testing")]
pub mod testing;
pub mod types;
mod write_txn;
mod writer;

pub use backup::BackupError;
pub use crypto::{MasterKey, SecretBox};
pub use db::{Store, StoreOptions};
pub use error::{Result, StoreError};
pub use queries::api_tokens::{
    API_TOKEN_PREFIX, ApiToken, IssuedApiToken, NewApiToken, generate_api_token,
};
pub use queries::audit::{AuditEntry, AuditQuery, MAX_AUDIT_PAGE, NewAudit};
pub use queries::events::{Event, EventQuery, MAX_EVENT_PAGE, NewEvent, OK_OUTCOME};
pub use queries::guard::{Hold, HoldState, REMOVAL_OPERATIONS};
pub use queries::insights::Bucket;
pub use queries::integrations::{
    AUTO_PAUSED_BY, Integration, IntegrationPolicies, IntegrationUpdate, NewIntegration,
    PAUSED_KIND, encode_extension_schemas,
};
pub use queries::notify::{
    AttemptOutcome, ChannelKind, Delivery, DeliveryState, ExpiringTokenRow, FailureRows,
    NewNotification, NotifyChannel, NotifyIntegration, REJECTED_CREDENTIALS_KIND, RULES_LEASE,
};
pub use queries::ops::QueueStats;
pub use queries::reconcile::{
    DEFAULT_RECON_INTERVAL_SECS, ORPHAN_HOLD_PREFIX, ReconAccount, ReconRun, RunPhase, RunState,
    orphan_hold_key,
};
pub use queries::resync::ResyncProgress;
pub use queries::role_rules::{NewRoleRule, RoleRule};
pub use queries::signin::LoginFailures;
pub use queries::staff::{NewStaffUser, StaffTokenPurpose, StaffUser};
pub use queries::tenants::Tenant;
pub use queries::tokens::{IssuedToken, TokenAuth, TokenInfo};
pub use queries::totp::{PLATFORM_SCOPE, TotpSecret};
pub use rate_budget::{BudgetGrant, BudgetState};
pub use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, TransactionTrait};
pub use types::{
    Direction, IntegrationMode, IntegrationStatus, JobState, MemberType, RuleSourceKind, StaffRole,
    SubjectKind,
};
pub use write_txn::{Execute, WriteTxn};

/// The current time in epoch milliseconds (UTC).
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A new id: UUID v7 (RFC 9562), hyphenated. Time-ordered, so rows keyed or indexed by it are
/// appended at the end of their B-tree instead of dirtying a random page per insert (on SQLite
/// every dirtied page is written to the WAL at commit); 74 random bits keep ids unguessable.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
