//! Group memberships.

use super::IN_CHUNK;
use crate::entities::{group_members as gm, scim_groups, scim_users};
use crate::types::MemberType;
use crate::{Result, StoreError};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use std::collections::{HashMap, HashSet};

/// A member of a group, with a display value for the SCIM `members[].display`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    /// The member's SCIM id.
    pub member_id: String,
    /// `User` or `Group`.
    pub member_type: MemberType,
    /// The user's displayName (or userName if it has none) or the group's displayName;
    /// `None` if the member no longer exists.
    pub display: Option<String>,
}

/// A group a member belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRef {
    /// The group's SCIM id.
    pub id: String,
    /// Its displayName.
    pub display_name: String,
}

/// Fails with [`StoreError::NotFound`] unless the group belongs to the integration.
async fn ensure_group<C: ConnectionTrait>(
    conn: &C,
    integration_id: &str,
    group_id: &str,
) -> Result<()> {
    let found = scim_groups::Entity::find_by_id(group_id)
        .filter(scim_groups::Column::IntegrationId.eq(integration_id))
        .select_only()
        .column(scim_groups::Column::Id)
        .into_tuple::<String>()
        .one(conn)
        .await?;
    found.map(|_| ()).ok_or(StoreError::NotFound)
}

/// Active models for `members`, without duplicate ids (the first type given wins).
fn rows(
    integration_id: &str,
    group_id: &str,
    members: &[(String, MemberType)],
) -> Vec<gm::ActiveModel> {
    let mut seen = HashSet::new();
    members
        .iter()
        .filter(|(id, _)| seen.insert(id.as_str()))
        .map(|(id, kind)| gm::ActiveModel {
            integration_id: Set(integration_id.to_owned()),
            group_id: Set(group_id.to_owned()),
            member_id: Set(id.clone()),
            member_type: Set(*kind),
        })
        .collect()
}

/// Inserts rows, ignoring those already present. Returns how many were added.
async fn insert_ignoring_existing<C: ConnectionTrait>(
    conn: &C,
    rows: Vec<gm::ActiveModel>,
) -> Result<u64> {
    let mut added = 0;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(IN_CHUNK).collect();
        let on_conflict = OnConflict::columns([gm::Column::GroupId, gm::Column::MemberId])
            .do_nothing()
            .to_owned();
        added += gm::Entity::insert_many(chunk)
            .on_conflict(on_conflict)
            .exec_without_returning(conn)
            .await?;
    }
    Ok(added)
}

/// Replaces all members of the group. [`StoreError::NotFound`] if the group is not the
/// integration's. Member ids are not checked (see [`resolve_members`]).
pub async fn set_group_members<C: ConnectionTrait>(
    conn: &C,
    integration_id: &str,
    group_id: &str,
    members: &[(String, MemberType)],
) -> Result<()> {
    ensure_group(conn, integration_id, group_id).await?;
    gm::Entity::delete_many()
        .filter(gm::Column::IntegrationId.eq(integration_id))
        .filter(gm::Column::GroupId.eq(group_id))
        .exec(conn)
        .await?;
    insert_ignoring_existing(conn, rows(integration_id, group_id, members)).await?;
    Ok(())
}

/// Adds members to the group; existing ones are left as they are. Returns how many were new.
pub async fn add_group_members<C: ConnectionTrait>(
    conn: &C,
    integration_id: &str,
    group_id: &str,
    members: &[(String, MemberType)],
) -> Result<u64> {
    ensure_group(conn, integration_id, group_id).await?;
    insert_ignoring_existing(conn, rows(integration_id, group_id, members)).await
}

/// Removes members from the group. Returns how many were removed.
pub async fn remove_group_members<C: ConnectionTrait>(
    conn: &C,
    integration_id: &str,
    group_id: &str,
    member_ids: &[String],
) -> Result<u64> {
    let mut removed = 0;
    for chunk in member_ids.chunks(IN_CHUNK) {
        removed += gm::Entity::delete_many()
            .filter(gm::Column::IntegrationId.eq(integration_id))
            .filter(gm::Column::GroupId.eq(group_id))
            .filter(gm::Column::MemberId.is_in(chunk.iter().map(String::as_str)))
            .exec(conn)
            .await?
            .rows_affected;
    }
    Ok(removed)
}

/// The group's members (by member type as stored, `Group` before `User`, then by id) with
/// display values.
pub async fn list_group_members<C: ConnectionTrait>(
    conn: &C,
    integration_id: &str,
    group_id: &str,
) -> Result<Vec<MemberRow>> {
    Ok(members_of_groups(conn, integration_id, &[group_id])
        .await?
        .remove(group_id)
        .unwrap_or_default())
}

/// The members of each of `group_ids` (ordered as in [`list_group_members`]), keyed by group
/// id; a group without members (or not in the integration) has no entry. A page of groups
/// costs a few queries in all instead of a few per group.
pub async fn members_of_groups<C: ConnectionTrait>(
    conn: &C,
    integration_id: &str,
    group_ids: &[&str],
) -> Result<HashMap<String, Vec<MemberRow>>> {
    let mut members = Vec::new();
    for chunk in group_ids.chunks(IN_CHUNK) {
        members.extend(
            gm::Entity::find()
                .filter(gm::Column::IntegrationId.eq(integration_id))
                .filter(gm::Column::GroupId.is_in(chunk.iter().copied()))
                .order_by_asc(gm::Column::GroupId)
                .order_by_asc(gm::Column::MemberType)
                .order_by_asc(gm::Column::MemberId)
                .all(conn)
                .await?,
        );
    }
    let display = member_displays(conn, integration_id, &members).await?;
    let mut out: HashMap<String, Vec<MemberRow>> = HashMap::new();
    for m in members {
        out.entry(m.group_id).or_default().push(MemberRow {
            display: display.get(&m.member_id).cloned(),
            member_id: m.member_id,
            member_type: m.member_type,
        });
    }
    Ok(out)
}

/// The display value of every distinct member in `members`: a user's displayName (its
/// userName when it has none) or a group's displayName. Members that no longer exist are
/// missing.
async fn member_displays<C: ConnectionTrait>(
    conn: &C,
    integration_id: &str,
    members: &[gm::Model],
) -> Result<HashMap<String, String>> {
    let ids_of = |kind: MemberType| -> Vec<&str> {
        let mut ids: Vec<&str> = members
            .iter()
            .filter(|m| m.member_type == kind)
            .map(|m| m.member_id.as_str())
            .collect();
        // One user in many groups of a page is looked up once.
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    let mut display: HashMap<String, String> = HashMap::new();
    for chunk in ids_of(MemberType::User).chunks(IN_CHUNK) {
        // By primary key alone, the integration checked on each row: with the integration in
        // the WHERE clause SQLite (without statistics) walked the integration's paging index,
        // i.e. every user of the integration, instead of looking up each id.
        let found: Vec<(String, String, String, Option<String>)> = scim_users::Entity::find()
            .select_only()
            .columns([
                scim_users::Column::Id,
                scim_users::Column::IntegrationId,
                scim_users::Column::UserName,
                scim_users::Column::DisplayName,
            ])
            .filter(scim_users::Column::Id.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(conn)
            .await?;
        let ours = found.into_iter().filter(|(_, i, _, _)| i == integration_id);
        for (id, _, user_name, display_name) in ours {
            display.insert(
                id,
                display_name.filter(|d| !d.is_empty()).unwrap_or(user_name),
            );
        }
    }
    for chunk in ids_of(MemberType::Group).chunks(IN_CHUNK) {
        let found: Vec<(String, String)> = scim_groups::Entity::find()
            .select_only()
            .columns([scim_groups::Column::Id, scim_groups::Column::DisplayName])
            .filter(scim_groups::Column::IntegrationId.eq(integration_id))
            .filter(scim_groups::Column::Id.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(conn)
            .await?;
        display.extend(found);
    }
    Ok(display)
}

/// The groups `member_id` is a direct member of, by displayName.
pub async fn groups_of_member<C: ConnectionTrait>(
    conn: &C,
    integration_id: &str,
    member_id: &str,
) -> Result<Vec<GroupRef>> {
    let group_ids: Vec<String> = gm::Entity::find()
        .select_only()
        .column(gm::Column::GroupId)
        .filter(gm::Column::IntegrationId.eq(integration_id))
        .filter(gm::Column::MemberId.eq(member_id))
        .into_tuple()
        .all(conn)
        .await?;
    let mut out = Vec::with_capacity(group_ids.len());
    for chunk in group_ids.chunks(IN_CHUNK) {
        let found: Vec<(String, String)> = scim_groups::Entity::find()
            .select_only()
            .columns([scim_groups::Column::Id, scim_groups::Column::DisplayName])
            .filter(scim_groups::Column::IntegrationId.eq(integration_id))
            .filter(scim_groups::Column::Id.is_in(chunk.iter().map(String::as_str)))
            .into_tuple()
            .all(conn)
            .await?;
        out.extend(
            found
                .into_iter()
                .map(|(id, display_name)| GroupRef { id, display_name }),
        );
    }
    out.sort_by(|a, b| {
        a.display_name
            .to_lowercase()
            .cmp(&b.display_name.to_lowercase())
    });
    Ok(out)
}

/// Which of `ids` exist in the integration, and as what, in the order given. Ids that
/// are neither are left out (the SCIM layer reports them).
pub async fn resolve_members<C: ConnectionTrait>(
    conn: &C,
    integration_id: &str,
    ids: &[String],
) -> Result<Vec<(String, MemberType)>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(IN_CHUNK) {
        let users: Vec<String> = scim_users::Entity::find()
            .select_only()
            .column(scim_users::Column::Id)
            .filter(scim_users::Column::IntegrationId.eq(integration_id))
            .filter(scim_users::Column::Id.is_in(chunk.iter().map(String::as_str)))
            .into_tuple()
            .all(conn)
            .await?;
        let groups: Vec<String> = scim_groups::Entity::find()
            .select_only()
            .column(scim_groups::Column::Id)
            .filter(scim_groups::Column::IntegrationId.eq(integration_id))
            .filter(scim_groups::Column::Id.is_in(chunk.iter().map(String::as_str)))
            .into_tuple()
            .all(conn)
            .await?;
        let users: HashSet<String> = users.into_iter().collect();
        let groups: HashSet<String> = groups.into_iter().collect();
        for id in chunk {
            if users.contains(id) {
                out.push((id.clone(), MemberType::User));
            } else if groups.contains(id) {
                out.push((id.clone(), MemberType::Group));
            }
        }
    }
    Ok(out)
}
