//! SCIM users.

use super::list::{ListQuery, Reads, SortKey, limited, limited_statement, page_and_total};
use crate::entities::{group_members, scim_users as u};
use crate::jobs::{JobRequest, write_and_enqueue};
use crate::types::SubjectKind;
use crate::{Execute, Result, StoreError};
use sea_orm::sea_query::{NullOrdering, Order};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QueryTrait, Select,
};

/// A SCIM user as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    /// Server-generated UUID.
    pub id: String,
    /// Integration.
    pub integration_id: String,
    /// `userName`, as sent.
    pub user_name: String,
    /// `externalId`.
    pub external_id: Option<String>,
    /// `displayName`.
    pub display_name: Option<String>,
    /// `active`.
    pub active: bool,
    /// The full SCIM resource as JSON.
    pub resource: String,
    /// Version for optimistic concurrency (and the ETag).
    pub version: i64,
    /// Epoch ms (`meta.created`).
    pub created_at: i64,
    /// Epoch ms (`meta.lastModified`).
    pub updated_at: i64,
}

impl From<u::Model> for UserRow {
    fn from(m: u::Model) -> Self {
        UserRow {
            id: m.id,
            integration_id: m.integration_id,
            user_name: m.user_name,
            external_id: m.external_id,
            display_name: m.display_name,
            active: m.active,
            resource: m.resource,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

fn active_model(row: &UserRow) -> u::ActiveModel {
    u::ActiveModel {
        id: Set(row.id.clone()),
        integration_id: Set(row.integration_id.clone()),
        user_name: Set(row.user_name.clone()),
        user_name_lower: Set(row.user_name.to_lowercase()),
        external_id: Set(row.external_id.clone()),
        display_name: Set(row.display_name.clone()),
        active: Set(row.active),
        resource: Set(row.resource.clone()),
        version: Set(row.version),
        created_at: Set(row.created_at),
        updated_at: Set(row.updated_at),
    }
}

fn scoped(integration_id: &str) -> Select<u::Entity> {
    u::Entity::find().filter(u::Column::IntegrationId.eq(integration_id))
}

/// Inserts a user. A userName already used in the integration (case-insensitive) is
/// [`StoreError::Conflict`] with `what = "userName"`.
pub async fn insert_user<C: Execute>(conn: &C, row: &UserRow) -> Result<()> {
    write_insert(conn, row, None).await
}

/// The job that brings the user `row` in line with the target, caused by `correlation_id`.
fn job_for<'a>(row: &'a UserRow, correlation_id: Option<&'a str>, now: i64) -> JobRequest<'a> {
    JobRequest {
        integration_id: &row.integration_id,
        subject_kind: SubjectKind::User,
        subject_id: &row.id,
        correlation_id,
        now,
    }
}

/// [`insert_user`], and queues the user's job ([`crate::jobs::enqueue_job`]); on PostgreSQL
/// in one statement.
pub async fn insert_user_queuing_job<C: Execute>(
    conn: &C,
    row: &UserRow,
    correlation_id: Option<&str>,
    now: i64,
) -> Result<()> {
    write_insert(conn, row, Some(&job_for(row, correlation_id, now))).await
}

async fn write_insert<C: Execute>(
    conn: &C,
    row: &UserRow,
    job: Option<&JobRequest<'_>>,
) -> Result<()> {
    let insert = u::Entity::insert(active_model(row)).into_query();
    write_and_enqueue(conn, insert, job)
        .await
        .map_err(|e| StoreError::unique(e, "userName"))?;
    Ok(())
}

/// The user `id` of the integration.
pub async fn get_user<C: ConnectionTrait>(
    conn: &C,
    integration_id: &str,
    id: &str,
) -> Result<Option<UserRow>> {
    get_user_in(Reads::Pool(conn), integration_id, id).await
}

pub(crate) async fn get_user_in<C: ConnectionTrait>(
    reads: Reads<'_, C>,
    integration_id: &str,
    id: &str,
) -> Result<Option<UserRow>> {
    first_user_in(reads, scoped(integration_id).filter(u::Column::Id.eq(id))).await
}

/// The user with this userName (case-insensitive).
pub async fn find_user_by_user_name<C: ConnectionTrait>(
    conn: &C,
    integration_id: &str,
    user_name: &str,
) -> Result<Option<UserRow>> {
    find_user_by_user_name_in(Reads::Pool(conn), integration_id, user_name).await
}

pub(crate) async fn find_user_by_user_name_in<C: ConnectionTrait>(
    reads: Reads<'_, C>,
    integration_id: &str,
    user_name: &str,
) -> Result<Option<UserRow>> {
    let q = scoped(integration_id).filter(u::Column::UserNameLower.eq(user_name.to_lowercase()));
    first_user_in(reads, q).await
}

/// The first row `q` selects, as a [`UserRow`].
async fn first_user_in<C: ConnectionTrait>(
    reads: Reads<'_, C>,
    q: Select<u::Entity>,
) -> Result<Option<UserRow>> {
    let stmt = limited_statement(reads.backend(), q, 1, 0);
    Ok(reads
        .rows::<u::Entity>(stmt)
        .await?
        .into_iter()
        .next()
        .map(Into::into))
}

/// The first user (in creation order) with this externalId (case-exact).
pub async fn find_user_by_external_id<C: ConnectionTrait>(
    conn: &C,
    integration_id: &str,
    external_id: &str,
) -> Result<Option<UserRow>> {
    Ok(limited(
        conn.get_database_backend(),
        scoped(integration_id)
            .filter(u::Column::ExternalId.eq(external_id))
            .order_by_asc(u::Column::CreatedAt)
            .order_by_asc(u::Column::Id),
        1,
        0,
    )
    .one(conn)
    .await?
    .map(Into::into))
}

/// Replaces the stored user with `row` (whose `version` is the new version) if the stored
/// version is `expected_version`. [`StoreError::VersionMismatch`] if it changed meanwhile,
/// [`StoreError::NotFound`] if the user is gone, [`StoreError::Conflict`] on a userName
/// clash. `created_at` is never changed.
pub async fn update_user<C: Execute>(conn: &C, row: &UserRow, expected_version: i64) -> Result<()> {
    write_update(conn, active_model(row), row, expected_version, None).await
}

/// [`update_user`] from `before`, the stored row the change was made to (its version is the
/// expected one): only the columns that differ are written, so the indexes over unchanged
/// columns (userName, externalId) are left alone. SQLite rewrites an index entry whenever its
/// column is assigned, changed or not; a PATCH rarely touches the userName.
pub async fn update_user_from<C: Execute>(conn: &C, before: &UserRow, row: &UserRow) -> Result<()> {
    write_update(
        conn,
        changed_columns(before, row),
        row,
        before.version,
        None,
    )
    .await
}

/// [`update_user_from`], and queues the user's job ([`crate::jobs::enqueue_job`], due at
/// `row.updated_at`); on PostgreSQL in one statement. If the update fails, so does the job:
/// the caller's transaction must then be rolled back (as [`crate::Store::write`] does).
pub async fn update_user_from_queuing_job<C: Execute>(
    conn: &C,
    before: &UserRow,
    row: &UserRow,
    correlation_id: Option<&str>,
) -> Result<()> {
    let job = job_for(row, correlation_id, row.updated_at);
    write_update(
        conn,
        changed_columns(before, row),
        row,
        before.version,
        Some(&job),
    )
    .await
}

/// `row` as an update from `before`: only the columns that differ are set.
fn changed_columns(before: &UserRow, row: &UserRow) -> u::ActiveModel {
    let mut am = active_model(row);
    if before.user_name == row.user_name {
        am.user_name = NotSet;
        am.user_name_lower = NotSet;
    }
    if before.external_id == row.external_id {
        am.external_id = NotSet;
    }
    if before.display_name == row.display_name {
        am.display_name = NotSet;
    }
    if before.active == row.active {
        am.active = NotSet;
    }
    am
}

async fn write_update<C: Execute>(
    conn: &C,
    mut am: u::ActiveModel,
    row: &UserRow,
    expected_version: i64,
    job: Option<&JobRequest<'_>>,
) -> Result<()> {
    am.id = NotSet;
    am.integration_id = NotSet;
    am.created_at = NotSet;
    let update = u::Entity::update_many()
        .set(am)
        .filter(u::Column::Id.eq(row.id.as_str()))
        .filter(u::Column::IntegrationId.eq(row.integration_id.as_str()))
        .filter(u::Column::Version.eq(expected_version))
        .into_query();
    let changed = (write_and_enqueue(conn, update, job).await)
        .map_err(|e| StoreError::unique(e, "userName"))?;
    if changed == 0 {
        return match get_user(conn, &row.integration_id, &row.id).await? {
            Some(_) => Err(StoreError::VersionMismatch),
            None => Err(StoreError::NotFound),
        };
    }
    Ok(())
}

/// Deletes the user and its group memberships. Returns false if it did not exist.
pub async fn delete_user<C: Execute>(conn: &C, integration_id: &str, id: &str) -> Result<bool> {
    let backend = conn.get_database_backend();
    let memberships = group_members::Entity::delete_many()
        .filter(group_members::Column::IntegrationId.eq(integration_id))
        .filter(group_members::Column::MemberId.eq(id))
        .build(backend);
    conn.execute_counted(memberships).await?;
    let user = u::Entity::delete_many()
        .filter(u::Column::IntegrationId.eq(integration_id))
        .filter(u::Column::Id.eq(id))
        .build(backend);
    Ok(conn.execute_counted(user).await? > 0)
}

/// Applies `sort` (or creation order), with ties broken by (created_at, id).
fn ordered(mut q: Select<u::Entity>, sort: Option<(SortKey, bool)>) -> Select<u::Entity> {
    if let Some((key, desc)) = sort {
        let (ord, nulls) = if desc {
            (Order::Desc, NullOrdering::First)
        } else {
            (Order::Asc, NullOrdering::Last)
        };
        let col = match key {
            SortKey::Id => u::Column::Id,
            SortKey::UserName => u::Column::UserNameLower,
            SortKey::DisplayName => u::Column::DisplayName,
            SortKey::ExternalId => u::Column::ExternalId,
            SortKey::Created => u::Column::CreatedAt,
            SortKey::LastModified => u::Column::UpdatedAt,
        };
        q = q.order_by_with_nulls(col, ord, nulls);
    }
    q.order_by_asc(u::Column::CreatedAt)
        .order_by_asc(u::Column::Id)
}

/// One page of the integration's users matching `q.condition`, and the total count.
pub async fn list_users<C: ConnectionTrait>(
    conn: &C,
    integration_id: &str,
    q: &ListQuery,
) -> Result<(Vec<UserRow>, u64)> {
    list_users_in(Reads::Pool(conn), integration_id, q).await
}

pub(crate) async fn list_users_in<C: ConnectionTrait>(
    reads: Reads<'_, C>,
    integration_id: &str,
    q: &ListQuery,
) -> Result<(Vec<UserRow>, u64)> {
    let mut base = scoped(integration_id);
    if let Some(c) = &q.condition {
        base = base.filter(c.clone());
    }
    let order = |s| Ok(ordered(s, q.sort));
    let (rows, total) =
        page_and_total(reads, base, order, (u::Column::Id, u::Column::CreatedAt), q).await?;
    Ok((rows.into_iter().map(Into::into).collect(), total))
}

/// Every user of the integration matching `condition`, in creation order (for filters that
/// must be evaluated in memory).
pub async fn list_users_unpaged<C: ConnectionTrait>(
    conn: &C,
    integration_id: &str,
    condition: Option<Condition>,
) -> Result<Vec<UserRow>> {
    let mut q = scoped(integration_id);
    if let Some(c) = condition {
        q = q.filter(c);
    }
    let rows = ordered(q, None).all(conn).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// How many users the integration has.
pub async fn count_users<C: ConnectionTrait>(conn: &C, integration_id: &str) -> Result<u64> {
    Ok(scoped(integration_id).count(conn).await?)
}
