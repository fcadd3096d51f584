//! SCIM groups (members are in [`super::members`]).

use super::list::{ListQuery, Reads, SortKey, limited, limited_statement, page_and_total};
use crate::entities::{group_members, scim_groups as g};
use crate::{Result, StoreError};
use sea_orm::sea_query::{NullOrdering, Order};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, Select,
};

/// A SCIM group as stored (without members).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRow {
    /// Server-generated UUID.
    pub id: String,
    /// Integration.
    pub integration_id: String,
    /// `displayName`, as sent; unique per integration, case-insensitive.
    pub display_name: String,
    /// `externalId`.
    pub external_id: Option<String>,
    /// The SCIM resource as JSON, without `members`.
    pub resource: String,
    /// Version for optimistic concurrency.
    pub version: i64,
    /// Epoch ms.
    pub created_at: i64,
    /// Epoch ms.
    pub updated_at: i64,
}

impl From<g::Model> for GroupRow {
    fn from(m: g::Model) -> Self {
        GroupRow {
            id: m.id,
            integration_id: m.integration_id,
            display_name: m.display_name,
            external_id: m.external_id,
            resource: m.resource,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

fn active_model(row: &GroupRow) -> g::ActiveModel {
    g::ActiveModel {
        id: Set(row.id.clone()),
        integration_id: Set(row.integration_id.clone()),
        display_name: Set(row.display_name.clone()),
        display_name_lower: Set(row.display_name.to_lowercase()),
        external_id: Set(row.external_id.clone()),
        resource: Set(row.resource.clone()),
        version: Set(row.version),
        created_at: Set(row.created_at),
        updated_at: Set(row.updated_at),
    }
}

fn scoped(integration_id: &str) -> Select<g::Entity> {
    g::Entity::find().filter(g::Column::IntegrationId.eq(integration_id))
}

/// Inserts a group. A displayName already used in the integration (case-insensitive) is
/// [`StoreError::Conflict`] with `what = "displayName"`.
pub async fn insert_group<C: ConnectionTrait>(conn: &C, row: &GroupRow) -> Result<()> {
    g::Entity::insert(active_model(row))
        .exec_without_returning(conn)
        .await
        .map_err(|e| StoreError::unique(e, "displayName"))?;
    Ok(())
}

/// The group `id` of the integration.
pub async fn get_group<C: ConnectionTrait>(
    conn: &C,
    integration_id: &str,
    id: &str,
) -> Result<Option<GroupRow>> {
    get_group_in(Reads::Pool(conn), integration_id, id).await
}

pub(crate) async fn get_group_in<C: ConnectionTrait>(
    reads: Reads<'_, C>,
    integration_id: &str,
    id: &str,
) -> Result<Option<GroupRow>> {
    let stmt = limited_statement(
        reads.backend(),
        scoped(integration_id).filter(g::Column::Id.eq(id)),
        1,
        0,
    );
    Ok(reads
        .rows::<g::Entity>(stmt)
        .await?
        .into_iter()
        .next()
        .map(Into::into))
}

/// The group with this displayName (case-insensitive).
pub async fn find_group_by_display_name<C: ConnectionTrait>(
    conn: &C,
    integration_id: &str,
    display_name: &str,
) -> Result<Option<GroupRow>> {
    Ok(limited(
        conn.get_database_backend(),
        scoped(integration_id).filter(g::Column::DisplayNameLower.eq(display_name.to_lowercase())),
        1,
        0,
    )
    .one(conn)
    .await?
    .map(Into::into))
}

/// The first group (in creation order) with this externalId (case-exact).
pub async fn find_group_by_external_id<C: ConnectionTrait>(
    conn: &C,
    integration_id: &str,
    external_id: &str,
) -> Result<Option<GroupRow>> {
    Ok(limited(
        conn.get_database_backend(),
        scoped(integration_id)
            .filter(g::Column::ExternalId.eq(external_id))
            .order_by_asc(g::Column::CreatedAt)
            .order_by_asc(g::Column::Id),
        1,
        0,
    )
    .one(conn)
    .await?
    .map(Into::into))
}

/// Replaces the stored group with `row` if the stored version is `expected_version`
/// ([`StoreError::VersionMismatch`] otherwise, [`StoreError::NotFound`] if gone,
/// [`StoreError::Conflict`] on a displayName clash). Members are not touched.
pub async fn update_group<C: ConnectionTrait>(
    conn: &C,
    row: &GroupRow,
    expected_version: i64,
) -> Result<()> {
    let mut am = active_model(row);
    am.id = Default::default();
    am.integration_id = Default::default();
    am.created_at = Default::default();
    let res = g::Entity::update_many()
        .set(am)
        .filter(g::Column::Id.eq(row.id.as_str()))
        .filter(g::Column::IntegrationId.eq(row.integration_id.as_str()))
        .filter(g::Column::Version.eq(expected_version))
        .exec(conn)
        .await
        .map_err(|e| StoreError::unique(e, "displayName"))?;
    if res.rows_affected == 0 {
        return match get_group(conn, &row.integration_id, &row.id).await? {
            Some(_) => Err(StoreError::VersionMismatch),
            None => Err(StoreError::NotFound),
        };
    }
    Ok(())
}

/// Deletes the group, its member rows, and its own membership in other groups. Returns
/// false if it did not exist.
pub async fn delete_group<C: ConnectionTrait>(
    conn: &C,
    integration_id: &str,
    id: &str,
) -> Result<bool> {
    group_members::Entity::delete_many()
        .filter(group_members::Column::IntegrationId.eq(integration_id))
        .filter(
            Condition::any()
                .add(group_members::Column::GroupId.eq(id))
                .add(group_members::Column::MemberId.eq(id)),
        )
        .exec(conn)
        .await?;
    let res = g::Entity::delete_many()
        .filter(g::Column::IntegrationId.eq(integration_id))
        .filter(g::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(res.rows_affected > 0)
}

/// Applies `sort` (or creation order), with ties broken by (created_at, id).
fn ordered(mut q: Select<g::Entity>, sort: Option<(SortKey, bool)>) -> Result<Select<g::Entity>> {
    if let Some((key, desc)) = sort {
        let (ord, nulls) = if desc {
            (Order::Desc, NullOrdering::First)
        } else {
            (Order::Asc, NullOrdering::Last)
        };
        let col = match key {
            SortKey::Id => g::Column::Id,
            SortKey::DisplayName => g::Column::DisplayNameLower,
            SortKey::ExternalId => g::Column::ExternalId,
            SortKey::Created => g::Column::CreatedAt,
            SortKey::LastModified => g::Column::UpdatedAt,
            SortKey::UserName => {
                return Err(StoreError::InvalidData("groups have no userName".into()));
            }
        };
        q = q.order_by_with_nulls(col, ord, nulls);
    }
    Ok(q.order_by_asc(g::Column::CreatedAt)
        .order_by_asc(g::Column::Id))
}

/// One page of the integration's groups matching `q.condition`, and the total count.
pub async fn list_groups<C: ConnectionTrait>(
    conn: &C,
    integration_id: &str,
    q: &ListQuery,
) -> Result<(Vec<GroupRow>, u64)> {
    list_groups_in(Reads::Pool(conn), integration_id, q).await
}

pub(crate) async fn list_groups_in<C: ConnectionTrait>(
    reads: Reads<'_, C>,
    integration_id: &str,
    q: &ListQuery,
) -> Result<(Vec<GroupRow>, u64)> {
    let mut base = scoped(integration_id);
    if let Some(c) = &q.condition {
        base = base.filter(c.clone());
    }
    let order = |s| ordered(s, q.sort);
    let (rows, total) =
        page_and_total(reads, base, order, (g::Column::Id, g::Column::CreatedAt), q).await?;
    Ok((rows.into_iter().map(Into::into).collect(), total))
}

/// Every group of the integration matching `condition`, in creation order.
pub async fn list_groups_unpaged<C: ConnectionTrait>(
    conn: &C,
    integration_id: &str,
    condition: Option<Condition>,
) -> Result<Vec<GroupRow>> {
    let mut q = scoped(integration_id);
    if let Some(c) = condition {
        q = q.filter(c);
    }
    let rows = ordered(q, None)?.all(conn).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// How many groups the integration has.
pub async fn count_groups<C: ConnectionTrait>(conn: &C, integration_id: &str) -> Result<u64> {
    Ok(scoped(integration_id).count(conn).await?)
}
