//! Groups in the target: a group job creates, renames or deletes the group pushed for an IdP
//! group (when the connector has groups and the integration pushes that group); user jobs add
//! and remove the members.

use super::calls::{Calls, Journal};
use super::runtime::Runtime;
use super::{JobError, Worker};
use crate::planner::GroupPush;
use serde_json::json;
use store::IntegrationStatus;
use store::outbox::Job;

impl Worker {
    /// Brings one IdP group in line with the target.
    pub(crate) async fn sync_group(&self, job: &Job, journal: &Journal) -> Result<(), JobError> {
        let slot = self.runtime(&job.integration_id).await?;
        let mut guard = slot.lock().await;
        let Some(rt) = guard.as_mut() else {
            return Ok(());
        };
        let result = self.sync_group_in(rt, job, journal).await;
        self.watch_credentials(rt, journal, result).await
    }

    async fn sync_group_in(
        &self,
        rt: &mut Runtime,
        job: &Job,
        journal: &Journal,
    ) -> Result<(), JobError> {
        // Groups only drive roles unless the target has groups and the integration pushes them.
        if !rt.caps.groups || rt.rules.policy.group_push == GroupPush::None {
            return Ok(());
        }
        if rt.integration.status != IntegrationStatus::Active {
            return Err(JobError::Paused(format!(
                "integration is {}",
                rt.integration.status
            )));
        }
        let db = self.store.db();
        let group = store::scim::get_group(db, &job.integration_id, &job.subject_id).await?;
        let pushed = group.as_ref().filter(|g| match rt.rules.policy.group_push {
            GroupPush::All => true,
            GroupPush::Ruled => rt.rules.rules.iter().any(|r| r.maps_group(&g.display_name)),
            GroupPush::None => false,
        });
        let link = self
            .store
            .get_group_link(&job.integration_id, &job.subject_id)
            .await?;
        let calls = Calls {
            worker: self,
            rt,
            job,
            name: group.as_ref().map(|g| g.display_name.clone()),
            journal,
        };
        let dry = calls.dry_run();
        let now = self.now_ms();
        match (pushed, link) {
            (Some(g), None) => {
                if dry {
                    calls
                        .record(
                            "create_group",
                            "dry_run",
                            None,
                            json!({"group": g.display_name}),
                            true,
                        )
                        .await;
                    return Ok(());
                }
                let c = calls.connector()?;
                let created = calls
                    .run(
                        "create_group",
                        json!({"group": g.display_name}),
                        true,
                        c.create_group(&g.display_name),
                    )
                    .await?;
                self.store
                    .upsert_group_link(
                        &job.integration_id,
                        &g.id,
                        &created.id,
                        &g.display_name,
                        now,
                    )
                    .await?;
            }
            (Some(g), Some(l)) if l.name != g.display_name => {
                if dry {
                    calls
                        .record(
                            "rename_group",
                            "dry_run",
                            None,
                            json!({"group": g.display_name, "target_id": l.target_id}),
                            true,
                        )
                        .await;
                    return Ok(());
                }
                let c = calls.connector()?;
                calls
                    .run(
                        "rename_group",
                        json!({"group": g.display_name, "target_id": l.target_id}),
                        true,
                        c.rename_group(&l.target_id, &g.display_name),
                    )
                    .await?;
                self.store
                    .upsert_group_link(
                        &job.integration_id,
                        &g.id,
                        &l.target_id,
                        &g.display_name,
                        now,
                    )
                    .await?;
            }
            (None, Some(l)) => {
                if dry {
                    calls
                        .record(
                            "delete_group",
                            "dry_run",
                            None,
                            json!({"group": l.name, "target_id": l.target_id}),
                            true,
                        )
                        .await;
                    return Ok(());
                }
                let c = calls.connector()?;
                match calls
                    .run(
                        "delete_group",
                        json!({"group": l.name, "target_id": l.target_id}),
                        true,
                        c.delete_group(&l.target_id),
                    )
                    .await
                {
                    Ok(()) | Err(connector_api::ConnectorError::NotFound(_)) => {}
                    Err(e) => return Err(e.into()),
                }
                self.store
                    .delete_group_link(&job.integration_id, &job.subject_id)
                    .await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// The target id of the group pushed for the IdP group `name`. The IdP group is found by
    /// name, its pushed group by the IdP group's id (so a user job that runs before its
    /// group's rename job renames the pushed group instead of creating a second one); with
    /// `create`, a group not pushed yet is created first (a user job may run before its
    /// group's job). A name no IdP group has any more is looked up among the pushed groups
    /// by the name they were pushed with.
    pub(crate) async fn target_group(
        &self,
        calls: &Calls<'_>,
        name: &str,
        create: bool,
    ) -> Result<Option<String>, JobError> {
        let integration = &calls.job.integration_id;
        let groups = store::scim::list_groups_unpaged(self.store.db(), integration, None).await?;
        let Some(g) = groups
            .into_iter()
            .find(|g| g.display_name.eq_ignore_ascii_case(name))
        else {
            let links = self.store.list_group_links(integration).await?;
            return Ok(links
                .into_iter()
                .find(|l| l.name.eq_ignore_ascii_case(name))
                .map(|l| l.target_id));
        };
        let c = calls.connector()?;
        let now = self.now_ms();
        if let Some(l) = self.store.get_group_link(integration, &g.id).await? {
            if l.name != g.display_name {
                calls
                    .run(
                        "rename_group",
                        json!({"group": g.display_name, "target_id": l.target_id}),
                        false,
                        c.rename_group(&l.target_id, &g.display_name),
                    )
                    .await?;
                self.store
                    .upsert_group_link(integration, &g.id, &l.target_id, &g.display_name, now)
                    .await?;
            }
            return Ok(Some(l.target_id));
        }
        if !create {
            return Ok(None);
        }
        let created = calls
            .run(
                "create_group",
                json!({"group": g.display_name}),
                false,
                c.create_group(&g.display_name),
            )
            .await?;
        self.store
            .upsert_group_link(integration, &g.id, &created.id, &g.display_name, now)
            .await?;
        Ok(Some(created.id))
    }
}
