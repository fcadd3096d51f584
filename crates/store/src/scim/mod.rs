//! The IdP's view of the directory, per integration: SCIM users, groups and memberships.
//!
//! These functions take any [`sea_orm::ConnectionTrait`] so the SCIM layer can run them in one
//! transaction with [`crate::jobs::enqueue_job`] (start it with [`crate::Store::begin_write`]).
//! Every function is scoped by the integration id given first.
//!
//! The indexed columns (`user_name`, `external_id`, `display_name`, `active`, `created_at`,
//! `updated_at`) must be kept equal to the values in the stored resource JSON: filters pushed
//! down by [`crate::filter_sql`] read the columns, in-memory evaluation reads the JSON.
//!
//! On PostgreSQL a failed statement (e.g. a [`crate::StoreError::Conflict`]) aborts the
//! surrounding transaction: roll it back and report the error.

mod groups;
mod list;
mod members;
mod users;

pub use groups::{
    GroupRow, count_groups, delete_group, find_group_by_display_name, find_group_by_external_id,
    get_group, insert_group, list_groups, list_groups_unpaged, update_group,
};
pub use list::{ListQuery, RowKey, SortKey};
pub use members::{
    GroupRef, MemberRow, add_group_members, groups_of_member, list_group_members,
    members_of_groups, remove_group_members, resolve_members, set_group_members,
};
pub use users::{
    UserRow, count_users, delete_user, find_user_by_external_id, find_user_by_user_name, get_user,
    insert_user, insert_user_queuing_job, list_users, list_users_unpaged, update_user,
    update_user_from, update_user_from_queuing_job,
};

/// Largest IN-list sent in one statement.
pub(crate) const IN_CHUNK: usize = 500;

impl crate::Store {
    /// Where reads outside a transaction run: on a SQLite file the direct read connections
    /// (see `sqlite_read`), on PostgreSQL the held ones (see `pg_read`), else the pool.
    fn reads(&self) -> list::Reads<'_, sea_orm::DatabaseConnection> {
        if let Some(r) = self.direct() {
            list::Reads::Direct(r)
        } else if let Some(r) = self.pg_reads() {
            list::Reads::Pg(r)
        } else {
            list::Reads::Pool(self.db())
        }
    }

    /// [`list_users`] outside a transaction: on a SQLite file on the direct read connections,
    /// on PostgreSQL on the held ones, else on the pool.
    pub async fn list_users(
        &self,
        integration_id: &str,
        q: &ListQuery,
    ) -> crate::Result<(Vec<UserRow>, u64)> {
        users::list_users_in(self.reads(), integration_id, q).await
    }

    /// [`get_user`] outside a transaction, like [`crate::Store::list_users`].
    pub async fn get_user(&self, integration_id: &str, id: &str) -> crate::Result<Option<UserRow>> {
        users::get_user_in(self.reads(), integration_id, id).await
    }

    /// [`find_user_by_user_name`] outside a transaction, like [`crate::Store::list_users`]; on
    /// PostgreSQL lookups that arrive while others run share one statement (see `pg_lookup`).
    pub async fn find_user_by_user_name(
        &self,
        integration_id: &str,
        user_name: &str,
    ) -> crate::Result<Option<UserRow>> {
        if let Some(lookups) = self.pg_lookups() {
            let found = lookups
                .find(integration_id, user_name.to_lowercase())
                .await?;
            return Ok(found.map(Into::into));
        }
        users::find_user_by_user_name_in(self.reads(), integration_id, user_name).await
    }

    /// How many userName lookups were answered by a shared statement (PostgreSQL; 0 elsewhere).
    pub fn batched_user_name_lookups(&self) -> u64 {
        self.pg_lookups().map_or(0, |l| l.batched())
    }

    /// [`list_groups`] outside a transaction, like [`crate::Store::list_users`].
    pub async fn list_groups(
        &self,
        integration_id: &str,
        q: &ListQuery,
    ) -> crate::Result<(Vec<GroupRow>, u64)> {
        groups::list_groups_in(self.reads(), integration_id, q).await
    }

    /// [`get_group`] outside a transaction, like [`crate::Store::list_users`].
    pub async fn get_group(
        &self,
        integration_id: &str,
        id: &str,
    ) -> crate::Result<Option<GroupRow>> {
        groups::get_group_in(self.reads(), integration_id, id).await
    }

    /// How many SCIM users the integration has.
    pub async fn count_users(&self, integration_id: &str) -> crate::Result<u64> {
        count_users(self.db(), integration_id).await
    }

    /// How many SCIM groups the integration has.
    pub async fn count_groups(&self, integration_id: &str) -> crate::Result<u64> {
        count_groups(self.db(), integration_id).await
    }
}
