//! The deletion guard's rows (`deprovision_holds`), the counts it decides on, and the target
//! ids of pushed groups (`target_group_links`).
//!
//! A hold row exists for every removal (move to the deprovision role, deactivate, delete) the
//! worker has planned but not yet carried out: `pending` while the guard's settle window runs,
//! `held` when the guard tripped, `approved` / `discarded` after an admin's decision.
//! Writes go where they cannot collide (`Store::write_statement`: the writer on SQLite).

use crate::entities::{deprovision_holds, provisioning_events, target_group_links, target_links};
use crate::types::Direction;
use crate::{Result, Store};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QueryTrait,
};

/// A hold row's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldState {
    Pending,
    Held,
    Approved,
    Discarded,
}

impl HoldState {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Held => "held",
            Self::Approved => "approved",
            Self::Discarded => "discarded",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "held" => Self::Held,
            "approved" => Self::Approved,
            "discarded" => Self::Discarded,
            _ => Self::Pending,
        }
    }
}

/// One removal the guard knows of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub integration_id: String,
    pub scim_user_id: String,
    pub user_name: String,
    /// What would be done, in words (`delete`, `move to the role "No access"`…).
    pub action: String,
    pub state: HoldState,
    pub first_seen_at: i64,
    pub updated_at: i64,
}

impl From<deprovision_holds::Model> for Hold {
    fn from(m: deprovision_holds::Model) -> Self {
        Self {
            state: HoldState::parse(&m.state),
            integration_id: m.integration_id,
            scim_user_id: m.scim_user_id,
            user_name: m.user_name,
            action: m.action,
            first_seen_at: m.first_seen_at,
            updated_at: m.updated_at,
        }
    }
}

/// The operations counted as removals in the provisioning log.
pub const REMOVAL_OPERATIONS: [&str; 3] = ["delete_user", "deactivate_user", "deprovision"];

impl Store {
    /// The hold row of a user, if any.
    pub async fn get_hold(&self, integration_id: &str, scim_user_id: &str) -> Result<Option<Hold>> {
        Ok(deprovision_holds::Entity::find_by_id((
            integration_id.to_owned(),
            scim_user_id.to_owned(),
        ))
        .one(self.db())
        .await?
        .map(Hold::from))
    }

    /// Records a planned removal as `pending` (keeping the first time it was seen), and returns
    /// the row as it is now.
    pub async fn note_removal(
        &self,
        integration_id: &str,
        scim_user_id: &str,
        user_name: &str,
        action: &str,
        now: i64,
    ) -> Result<Hold> {
        let am = deprovision_holds::ActiveModel {
            integration_id: Set(integration_id.to_owned()),
            scim_user_id: Set(scim_user_id.to_owned()),
            user_name: Set(user_name.to_owned()),
            action: Set(action.to_owned()),
            state: Set(HoldState::Pending.as_str().to_owned()),
            first_seen_at: Set(now),
            updated_at: Set(now),
        };
        let upsert = deprovision_holds::Entity::insert(am)
            .on_conflict(
                OnConflict::columns([
                    deprovision_holds::Column::IntegrationId,
                    deprovision_holds::Column::ScimUserId,
                ])
                .update_columns([deprovision_holds::Column::Action])
                .to_owned(),
            )
            .build(self.backend());
        self.write_statement(upsert).await?;
        self.get_hold(integration_id, scim_user_id)
            .await?
            .ok_or(crate::StoreError::NotFound)
    }

    /// Sets a hold row's state.
    pub async fn set_hold_state(
        &self,
        integration_id: &str,
        scim_user_id: &str,
        state: HoldState,
        now: i64,
    ) -> Result<()> {
        let update = deprovision_holds::Entity::update_many()
            .col_expr(deprovision_holds::Column::State, state.as_str().into())
            .col_expr(deprovision_holds::Column::UpdatedAt, now.into())
            .filter(deprovision_holds::Column::IntegrationId.eq(integration_id))
            .filter(deprovision_holds::Column::ScimUserId.eq(scim_user_id))
            .build(self.backend());
        self.write_statement(update).await?;
        Ok(())
    }

    /// Forgets a user's hold row (carried out, or no longer wanted).
    pub async fn clear_hold(&self, integration_id: &str, scim_user_id: &str) -> Result<()> {
        let delete = deprovision_holds::Entity::delete_by_id((
            integration_id.to_owned(),
            scim_user_id.to_owned(),
        ))
        .build(self.backend());
        self.write_statement(delete).await?;
        Ok(())
    }

    /// An integration's hold rows in `state` (all states: `None`), oldest first.
    pub async fn list_holds(
        &self,
        integration_id: &str,
        state: Option<HoldState>,
    ) -> Result<Vec<Hold>> {
        let mut q = deprovision_holds::Entity::find()
            .filter(deprovision_holds::Column::IntegrationId.eq(integration_id));
        if let Some(s) = state {
            q = q.filter(deprovision_holds::Column::State.eq(s.as_str()));
        }
        Ok(q.order_by_asc(deprovision_holds::Column::FirstSeenAt)
            .order_by_asc(deprovision_holds::Column::UserName)
            .all(self.db())
            .await?
            .into_iter()
            .map(Hold::from)
            .collect())
    }

    /// Moves every row of `integration_id` in state `from` to `to`; returns the users moved.
    pub async fn move_holds(
        &self,
        integration_id: &str,
        from: HoldState,
        to: HoldState,
        now: i64,
    ) -> Result<Vec<Hold>> {
        let rows = self.list_holds(integration_id, Some(from)).await?;
        // Only the rows read: one that turned `from` meanwhile waits for the next decision.
        let ids: Vec<&str> = rows.iter().map(|h| h.scim_user_id.as_str()).collect();
        let update = deprovision_holds::Entity::update_many()
            .col_expr(deprovision_holds::Column::State, to.as_str().into())
            .col_expr(deprovision_holds::Column::UpdatedAt, now.into())
            .filter(deprovision_holds::Column::IntegrationId.eq(integration_id))
            .filter(deprovision_holds::Column::State.eq(from.as_str()))
            .filter(deprovision_holds::Column::ScimUserId.is_in(ids))
            .build(self.backend());
        self.write_statement(update).await?;
        Ok(rows)
    }

    /// Held removals per integration, every integration listed (0 when none is held): the
    /// `/metrics` gauge, computed at scrape time so every instance reports the database's
    /// truth and a decision shows at once.
    pub async fn held_by_integration(&self) -> Result<Vec<(String, u64)>> {
        use sea_orm::QuerySelect;
        let ids: Vec<String> = crate::entities::integrations::Entity::find()
            .select_only()
            .column(crate::entities::integrations::Column::Id)
            .into_tuple()
            .all(self.db())
            .await?;
        let rows: Vec<(String, String)> = deprovision_holds::Entity::find()
            .select_only()
            .column(deprovision_holds::Column::IntegrationId)
            .column(deprovision_holds::Column::State)
            .into_tuple()
            .all(self.db())
            .await?;
        let mut out: std::collections::BTreeMap<String, u64> =
            ids.into_iter().map(|id| (id, 0)).collect();
        for (integration, state) in rows {
            *out.entry(integration).or_default() += u64::from(state == HoldState::Held.as_str());
        }
        Ok(out.into_iter().collect())
    }

    /// Removals waiting (pending or held) for an integration.
    pub async fn count_open_holds(&self, integration_id: &str) -> Result<u64> {
        Ok(deprovision_holds::Entity::find()
            .filter(deprovision_holds::Column::IntegrationId.eq(integration_id))
            .filter(
                deprovision_holds::Column::State
                    .is_in([HoldState::Pending.as_str(), HoldState::Held.as_str()]),
            )
            .count(self.db())
            .await?)
    }

    /// Removals carried out since `since` (dry-run events removed nothing and do not count).
    pub async fn count_removals_since(&self, integration_id: &str, since: i64) -> Result<u64> {
        Ok(provisioning_events::Entity::find()
            .filter(provisioning_events::Column::IntegrationId.eq(integration_id))
            .filter(provisioning_events::Column::Direction.eq(Direction::Outbound))
            .filter(provisioning_events::Column::At.gte(since))
            .filter(provisioning_events::Column::Operation.is_in(REMOVAL_OPERATIONS))
            .filter(provisioning_events::Column::Outcome.eq(crate::OK_OUTCOME))
            .count(self.db())
            .await?)
    }

    /// Users with an account in the target (the guard's percentage base).
    pub async fn count_linked(&self, integration_id: &str) -> Result<u64> {
        Ok(target_links::Entity::find()
            .filter(target_links::Column::IntegrationId.eq(integration_id))
            .filter(target_links::Column::TargetId.is_not_null())
            .count(self.db())
            .await?)
    }

    /// The target id of a pushed group.
    pub async fn get_group_link(
        &self,
        integration_id: &str,
        scim_group_id: &str,
    ) -> Result<Option<target_group_links::Model>> {
        Ok(target_group_links::Entity::find_by_id((
            integration_id.to_owned(),
            scim_group_id.to_owned(),
        ))
        .one(self.db())
        .await?)
    }

    /// Records (or renames) a pushed group.
    pub async fn upsert_group_link(
        &self,
        integration_id: &str,
        scim_group_id: &str,
        target_id: &str,
        name: &str,
        now: i64,
    ) -> Result<()> {
        let am = target_group_links::ActiveModel {
            integration_id: Set(integration_id.to_owned()),
            scim_group_id: Set(scim_group_id.to_owned()),
            target_id: Set(target_id.to_owned()),
            name: Set(name.to_owned()),
            last_sync_at: Set(now),
        };
        let upsert = target_group_links::Entity::insert(am)
            .on_conflict(
                OnConflict::columns([
                    target_group_links::Column::IntegrationId,
                    target_group_links::Column::ScimGroupId,
                ])
                .update_columns([
                    target_group_links::Column::TargetId,
                    target_group_links::Column::Name,
                    target_group_links::Column::LastSyncAt,
                ])
                .to_owned(),
            )
            .build(self.backend());
        self.write_statement(upsert).await?;
        Ok(())
    }

    /// Forgets a pushed group (deleted in the target).
    pub async fn delete_group_link(&self, integration_id: &str, scim_group_id: &str) -> Result<()> {
        let delete = target_group_links::Entity::delete_by_id((
            integration_id.to_owned(),
            scim_group_id.to_owned(),
        ))
        .build(self.backend());
        self.write_statement(delete).await?;
        Ok(())
    }

    /// Every pushed group of an integration.
    pub async fn list_group_links(
        &self,
        integration_id: &str,
    ) -> Result<Vec<target_group_links::Model>> {
        Ok(target_group_links::Entity::find()
            .filter(target_group_links::Column::IntegrationId.eq(integration_id))
            .all(self.db())
            .await?)
    }
}
