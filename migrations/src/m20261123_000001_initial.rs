//! The initial schema: tenants, staff, integrations and their children, the SCIM directory,
//! the outbox, provisioning events and the audit log.
//!
//! Conventions: UUIDs are `varchar(36)`, timestamps are BIGINT epoch milliseconds (UTC) in
//! columns ending in `_at`, JSON is TEXT. Integration children cascade on delete.

use sea_orm_migration::{prelude::*, schema::*};

/// The initial migration.
#[derive(DeriveMigrationName)]
pub struct Migration;

/// Length of a UUID in its hyphenated text form.
const UUID_LEN: u32 = 36;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        // SQLite DDL is transactional too: all or nothing on both backends.
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_tenants(manager).await?;
        create_staff_users(manager).await?;
        create_integrations(manager).await?;
        create_scim_tokens(manager).await?;
        create_role_rules(manager).await?;
        create_scim_users(manager).await?;
        create_scim_groups(manager).await?;
        create_group_members(manager).await?;
        create_target_links(manager).await?;
        create_jobs(manager).await?;
        create_provisioning_events(manager).await?;
        create_audit_log(manager).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables: [DynIden; 12] = [
            AuditLog::Table.into_iden(),
            ProvisioningEvents::Table.into_iden(),
            Jobs::Table.into_iden(),
            TargetLinks::Table.into_iden(),
            GroupMembers::Table.into_iden(),
            ScimGroups::Table.into_iden(),
            ScimUsers::Table.into_iden(),
            RoleRules::Table.into_iden(),
            ScimTokens::Table.into_iden(),
            Integrations::Table.into_iden(),
            StaffUsers::Table.into_iden(),
            Tenants::Table.into_iden(),
        ];
        for table in tables {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// A UUID primary key stored as text.
fn pk_id<T: IntoIden>(col: T) -> ColumnDef {
    string_len(col, UUID_LEN).primary_key().take()
}

/// A foreign key that deletes the child with its parent.
fn cascade_fk(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .on_update(ForeignKeyAction::Cascade)
        .take()
}

/// `integration_id` → `integrations.id`, cascading.
fn integration_fk(name: &str, table: impl IntoIden) -> ForeignKeyCreateStatement {
    cascade_fk(
        name,
        (table, Alias::new("integration_id")),
        (Integrations::Table, Integrations::Id),
    )
}

/// Creates a (non-unique) index over `cols`.
async fn index<T, C>(
    manager: &SchemaManager<'_>,
    name: &str,
    table: T,
    cols: C,
) -> Result<(), DbErr>
where
    T: IntoIden,
    C: IntoIterator,
    C::Item: IntoIndexColumn,
{
    let mut stmt = Index::create().name(name).table(table).take();
    for col in cols {
        stmt.col(col);
    }
    manager.create_index(stmt).await
}

/// Creates a unique index over `cols`.
async fn unique_index<T, C>(
    manager: &SchemaManager<'_>,
    name: &str,
    table: T,
    cols: C,
) -> Result<(), DbErr>
where
    T: IntoIden,
    C: IntoIterator,
    C::Item: IntoIndexColumn,
{
    let mut stmt = Index::create().name(name).table(table).unique().take();
    for col in cols {
        stmt.col(col);
    }
    manager.create_index(stmt).await
}

// ---------------------------------------------------------------------------------------------
// Tables

async fn create_tenants(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Tenants::Table)
                .col(pk_id(Tenants::Id))
                .col(string(Tenants::Name))
                .col(big_integer(Tenants::CreatedAt))
                .take(),
        )
        .await
}

async fn create_staff_users(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(StaffUsers::Table)
                .col(pk_id(StaffUsers::Id))
                .col(string_uniq(StaffUsers::Email))
                .col(string(StaffUsers::PasswordHash))
                .col(string(StaffUsers::Role))
                .col(string_len_null(StaffUsers::TenantId, UUID_LEN))
                .col(big_integer(StaffUsers::CreatedAt))
                .col(big_integer_null(StaffUsers::LastLoginAt))
                .col(boolean(StaffUsers::Disabled).default(false))
                .foreign_key(&mut cascade_fk(
                    "fk_staff_users_tenant",
                    (StaffUsers::Table, StaffUsers::TenantId),
                    (Tenants::Table, Tenants::Id),
                ))
                .take(),
        )
        .await?;
    index(
        manager,
        "idx_staff_users_tenant",
        StaffUsers::Table,
        [StaffUsers::TenantId],
    )
    .await
}

async fn create_integrations(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Integrations::Table)
                .col(pk_id(Integrations::Id))
                .col(string_len(Integrations::TenantId, UUID_LEN))
                .col(string(Integrations::Name))
                .col(string(Integrations::ConnectorKind))
                .col(text(Integrations::Settings))
                .col(text(Integrations::Secrets))
                .col(string_null(Integrations::DefaultRole))
                .col(string(Integrations::DeprovisionPolicy))
                .col(string(Integrations::Mode))
                .col(string(Integrations::Status))
                .col(big_integer(Integrations::CreatedAt))
                .col(big_integer(Integrations::UpdatedAt))
                .foreign_key(&mut cascade_fk(
                    "fk_integrations_tenant",
                    (Integrations::Table, Integrations::TenantId),
                    (Tenants::Table, Tenants::Id),
                ))
                .take(),
        )
        .await?;
    index(
        manager,
        "idx_integrations_tenant",
        Integrations::Table,
        [Integrations::TenantId],
    )
    .await
}

async fn create_scim_tokens(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(ScimTokens::Table)
                .col(pk_id(ScimTokens::Id))
                .col(string_len(ScimTokens::IntegrationId, UUID_LEN))
                .col(string_uniq(ScimTokens::TokenHash))
                .col(string(ScimTokens::Prefix))
                .col(big_integer(ScimTokens::CreatedAt))
                .col(big_integer_null(ScimTokens::ExpiresAt))
                .col(big_integer_null(ScimTokens::RevokedAt))
                .col(big_integer_null(ScimTokens::LastUsedAt))
                .foreign_key(&mut integration_fk(
                    "fk_scim_tokens_integration",
                    ScimTokens::Table,
                ))
                .take(),
        )
        .await?;
    index(
        manager,
        "idx_scim_tokens_integration",
        ScimTokens::Table,
        [ScimTokens::IntegrationId],
    )
    .await
}

async fn create_role_rules(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(RoleRules::Table)
                .col(pk_id(RoleRules::Id))
                .col(string_len(RoleRules::IntegrationId, UUID_LEN))
                .col(integer(RoleRules::Priority))
                .col(string(RoleRules::SourceKind))
                .col(text(RoleRules::SourceValue))
                .col(string(RoleRules::TargetRole))
                .foreign_key(&mut integration_fk(
                    "fk_role_rules_integration",
                    RoleRules::Table,
                ))
                .take(),
        )
        .await?;
    index(
        manager,
        "idx_role_rules_integration_priority",
        RoleRules::Table,
        [RoleRules::IntegrationId, RoleRules::Priority],
    )
    .await
}

async fn create_scim_users(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(ScimUsers::Table)
                .col(pk_id(ScimUsers::Id))
                .col(string_len(ScimUsers::IntegrationId, UUID_LEN))
                .col(string(ScimUsers::UserName))
                .col(string(ScimUsers::UserNameLower))
                .col(string_null(ScimUsers::ExternalId))
                .col(string_null(ScimUsers::DisplayName))
                .col(boolean(ScimUsers::Active))
                .col(text(ScimUsers::Resource))
                .col(big_integer(ScimUsers::Version))
                .col(big_integer(ScimUsers::CreatedAt))
                .col(big_integer(ScimUsers::UpdatedAt))
                .foreign_key(&mut integration_fk(
                    "fk_scim_users_integration",
                    ScimUsers::Table,
                ))
                .take(),
        )
        .await?;
    let t = || ScimUsers::Table;
    use ScimUsers as U;
    unique_index(
        manager,
        "ux_scim_users_user_name",
        t(),
        [U::IntegrationId, U::UserNameLower],
    )
    .await?;
    index(
        manager,
        "idx_scim_users_external_id",
        t(),
        [U::IntegrationId, U::ExternalId],
    )
    .await?;
    index(
        manager,
        "idx_scim_users_updated",
        t(),
        [U::IntegrationId, U::UpdatedAt],
    )
    .await?;
    index(
        manager,
        "idx_scim_users_paging",
        t(),
        [U::IntegrationId, U::CreatedAt, U::Id],
    )
    .await
}

async fn create_scim_groups(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(ScimGroups::Table)
                .col(pk_id(ScimGroups::Id))
                .col(string_len(ScimGroups::IntegrationId, UUID_LEN))
                .col(string(ScimGroups::DisplayName))
                .col(string(ScimGroups::DisplayNameLower))
                .col(string_null(ScimGroups::ExternalId))
                .col(text(ScimGroups::Resource))
                .col(big_integer(ScimGroups::Version))
                .col(big_integer(ScimGroups::CreatedAt))
                .col(big_integer(ScimGroups::UpdatedAt))
                .foreign_key(&mut integration_fk(
                    "fk_scim_groups_integration",
                    ScimGroups::Table,
                ))
                .take(),
        )
        .await?;
    let t = || ScimGroups::Table;
    use ScimGroups as G;
    unique_index(
        manager,
        "ux_scim_groups_display_name",
        t(),
        [G::IntegrationId, G::DisplayNameLower],
    )
    .await?;
    index(
        manager,
        "idx_scim_groups_external_id",
        t(),
        [G::IntegrationId, G::ExternalId],
    )
    .await?;
    index(
        manager,
        "idx_scim_groups_paging",
        t(),
        [G::IntegrationId, G::CreatedAt, G::Id],
    )
    .await
}

async fn create_group_members(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(GroupMembers::Table)
                .col(string_len(GroupMembers::IntegrationId, UUID_LEN))
                .col(string_len(GroupMembers::GroupId, UUID_LEN))
                .col(string(GroupMembers::MemberId))
                .col(string(GroupMembers::MemberType))
                .primary_key(
                    Index::create()
                        .col(GroupMembers::GroupId)
                        .col(GroupMembers::MemberId),
                )
                .foreign_key(&mut integration_fk(
                    "fk_group_members_integration",
                    GroupMembers::Table,
                ))
                .foreign_key(&mut cascade_fk(
                    "fk_group_members_group",
                    (GroupMembers::Table, GroupMembers::GroupId),
                    (ScimGroups::Table, ScimGroups::Id),
                ))
                .take(),
        )
        .await?;
    index(
        manager,
        "idx_group_members_member",
        GroupMembers::Table,
        [GroupMembers::IntegrationId, GroupMembers::MemberId],
    )
    .await
}

async fn create_target_links(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    // No FK on scim_user_id: the link outlives the SCIM user until the target is cleaned up.
    manager
        .create_table(
            Table::create()
                .table(TargetLinks::Table)
                .col(string_len(TargetLinks::IntegrationId, UUID_LEN))
                .col(string_len(TargetLinks::ScimUserId, UUID_LEN))
                .col(string_null(TargetLinks::TargetId))
                .col(text_null(TargetLinks::LastPushed))
                .col(big_integer_null(TargetLinks::LastSyncAt))
                .col(string_null(TargetLinks::LastResult))
                .col(text_null(TargetLinks::LastError))
                .primary_key(
                    Index::create()
                        .col(TargetLinks::IntegrationId)
                        .col(TargetLinks::ScimUserId),
                )
                .foreign_key(&mut integration_fk(
                    "fk_target_links_integration",
                    TargetLinks::Table,
                ))
                .take(),
        )
        .await
}

async fn create_jobs(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Jobs::Table)
                .col(big_pk_auto(Jobs::Id))
                .col(string_len(Jobs::IntegrationId, UUID_LEN))
                .col(string(Jobs::SubjectKind))
                .col(string(Jobs::SubjectId))
                .col(string(Jobs::State))
                .col(integer(Jobs::Attempts).default(0))
                .col(big_integer(Jobs::RunAfter))
                .col(big_integer_null(Jobs::LockedUntil))
                .col(string_null(Jobs::LockedBy))
                .col(text_null(Jobs::LastError))
                .col(string_null(Jobs::CorrelationId))
                .col(big_integer(Jobs::CreatedAt))
                .col(big_integer(Jobs::UpdatedAt))
                .foreign_key(&mut integration_fk("fk_jobs_integration", Jobs::Table))
                .take(),
        )
        .await?;
    index(
        manager,
        "idx_jobs_due",
        Jobs::Table,
        [Jobs::State, Jobs::RunAfter],
    )
    .await?;
    index(
        manager,
        "idx_jobs_subject",
        Jobs::Table,
        [Jobs::IntegrationId, Jobs::SubjectKind, Jobs::SubjectId],
    )
    .await?;
    // Coalescing: at most one pending job per subject. A partial unique index; both SQLite and
    // PostgreSQL support `CREATE UNIQUE INDEX … WHERE`.
    manager
        .create_index(
            Index::create()
                .name("ux_jobs_pending_subject")
                .table(Jobs::Table)
                .col(Jobs::IntegrationId)
                .col(Jobs::SubjectKind)
                .col(Jobs::SubjectId)
                .unique()
                .and_where(Expr::col(Jobs::State).eq("pending"))
                .take(),
        )
        .await
}

async fn create_provisioning_events(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    use ProvisioningEvents as E;
    manager
        .create_table(
            Table::create()
                .table(E::Table)
                .col(big_pk_auto(E::Id))
                .col(big_integer(E::At))
                .col(string_len(E::TenantId, UUID_LEN))
                .col(string_len(E::IntegrationId, UUID_LEN))
                .col(string(E::Direction))
                .col(string(E::Operation))
                .col(string_null(E::SubjectKind))
                .col(string_null(E::SubjectId))
                .col(string_null(E::SubjectName))
                .col(integer_null(E::HttpStatus))
                .col(string(E::Outcome))
                .col(big_integer_null(E::DurationMs))
                .col(string(E::CorrelationId))
                .col(integer_null(E::Attempt))
                .col(text_null(E::Detail))
                .take(),
        )
        .await?;
    index(
        manager,
        "idx_events_integration_at",
        E::Table,
        [E::IntegrationId, E::At],
    )
    .await?;
    index(
        manager,
        "idx_events_tenant_at",
        E::Table,
        [E::TenantId, E::At],
    )
    .await?;
    index(
        manager,
        "idx_events_correlation",
        E::Table,
        [E::CorrelationId],
    )
    .await?;
    index(
        manager,
        "idx_events_integration_subject_at",
        E::Table,
        [E::IntegrationId, E::SubjectName, E::At],
    )
    .await?;
    index(
        manager,
        "idx_events_integration_subject_id_at",
        E::Table,
        [E::IntegrationId, E::SubjectId, E::At],
    )
    .await?;
    index(manager, "idx_events_at", E::Table, [E::At]).await
}

async fn create_audit_log(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(AuditLog::Table)
                .col(big_pk_auto(AuditLog::Id))
                .col(big_integer(AuditLog::At))
                .col(string_len_null(AuditLog::TenantId, UUID_LEN))
                .col(string_len_null(AuditLog::ActorId, UUID_LEN))
                .col(string(AuditLog::ActorEmail))
                .col(string(AuditLog::Action))
                .col(string(AuditLog::TargetKind))
                .col(string_null(AuditLog::TargetId))
                .col(text_null(AuditLog::Detail))
                .take(),
        )
        .await?;
    index(
        manager,
        "idx_audit_log_tenant_at",
        AuditLog::Table,
        [AuditLog::TenantId, AuditLog::At],
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Identifiers (declared here, never imported from the entities)

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum StaffUsers {
    Table,
    Id,
    Email,
    PasswordHash,
    Role,
    TenantId,
    CreatedAt,
    LastLoginAt,
    Disabled,
}

#[derive(DeriveIden)]
enum Integrations {
    Table,
    Id,
    TenantId,
    Name,
    ConnectorKind,
    Settings,
    Secrets,
    DefaultRole,
    DeprovisionPolicy,
    Mode,
    Status,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ScimTokens {
    Table,
    Id,
    IntegrationId,
    TokenHash,
    Prefix,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum RoleRules {
    Table,
    Id,
    IntegrationId,
    Priority,
    SourceKind,
    SourceValue,
    TargetRole,
}

#[derive(DeriveIden)]
enum ScimUsers {
    Table,
    Id,
    IntegrationId,
    UserName,
    UserNameLower,
    ExternalId,
    DisplayName,
    Active,
    Resource,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ScimGroups {
    Table,
    Id,
    IntegrationId,
    DisplayName,
    DisplayNameLower,
    ExternalId,
    Resource,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum GroupMembers {
    Table,
    IntegrationId,
    GroupId,
    MemberId,
    MemberType,
}

#[derive(DeriveIden)]
enum TargetLinks {
    Table,
    IntegrationId,
    ScimUserId,
    TargetId,
    LastPushed,
    LastSyncAt,
    LastResult,
    LastError,
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    Id,
    IntegrationId,
    SubjectKind,
    SubjectId,
    State,
    Attempts,
    RunAfter,
    LockedUntil,
    LockedBy,
    LastError,
    CorrelationId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ProvisioningEvents {
    Table,
    Id,
    At,
    TenantId,
    IntegrationId,
    Direction,
    Operation,
    SubjectKind,
    SubjectId,
    SubjectName,
    HttpStatus,
    Outcome,
    DurationMs,
    CorrelationId,
    Attempt,
    Detail,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    At,
    TenantId,
    ActorId,
    ActorEmail,
    Action,
    TargetKind,
    TargetId,
    Detail,
}
