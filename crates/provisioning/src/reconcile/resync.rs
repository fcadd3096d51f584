//! Resync after a rule change: which users the current rules would change now ("N users
//! would change"), and **Apply to all now**, which queues exactly those users for the worker
//! (so the change goes through the planner, the rate limiter and the deletion guard). The
//! count is the planner's own: a user counts when `plan(desired, known)` has a step, with
//! `known` what the link holds — the state the worker plans from. The batch is recorded
//! (`Store::record_resync`) so the Overview and `/metrics` show how much of it is left.
//! Switching from dry run to live is a resync of everyone after adopting what the last import
//! matched (`go_live`).

use super::ReconcileError;
use super::service::{Actor, Reconciler};
use crate::inputs::{known_from_link, load_rules};
use crate::planner::plan;
use serde_json::json;
use store::{Integration, NewAudit};

impl Reconciler {
    /// The SCIM user ids the current rules would change now.
    pub async fn would_change(
        &self,
        integration: &Integration,
    ) -> Result<Vec<String>, ReconcileError> {
        let rules = load_rules(&self.store, integration).await?;
        let caps = self.registry.capabilities_of(integration).ok_or_else(|| {
            ReconcileError::Invalid(format!(
                "unknown connector '{}'",
                integration.connector_kind
            ))
        })?;
        let sides = self.users_with_links(integration, &rules.users).await?;
        Ok(sides
            .into_iter()
            .filter(|(user, link)| {
                let known = known_from_link(link.as_ref());
                let subject = user.subject();
                !plan(&rules.desired(Some(&subject)), &known, &caps).is_empty()
            })
            .map(|(user, _)| user.id)
            .collect())
    }

    /// Queues every user the current rules would change; returns how many.
    pub async fn apply_to_all(
        &self,
        integration: &Integration,
        actor: &Actor,
    ) -> Result<u64, ReconcileError> {
        let ids = self.would_change(integration).await?;
        let now = self.clock.now_ms();
        // The batch's id is its jobs' correlation id: what is left of it is their count.
        let batch = store::new_id();
        let queued = self
            .store
            .enqueue_users(&integration.id, &ids, &batch, now)
            .await?;
        self.store
            .record_resync(&integration.id, &batch, ids.len() as u64, queued, now)
            .await?;
        self.store
            .record_audit(NewAudit {
                at: now,
                tenant_id: Some(integration.tenant_id.clone()),
                actor_id: actor.id.clone(),
                actor_email: actor.email.clone(),
                action: "reconcile.apply_all".into(),
                target_kind: "integration".into(),
                target_id: Some(integration.id.clone()),
                detail: Some(json!({"users": ids.len(), "queued": queued}).to_string()),
            })
            .await?;
        Ok(ids.len() as u64)
    }

    /// Dry run → live: links the accounts the last finished import matched (adopts them, as a
    /// live import would have), then queues every known user. So the worker plans from what
    /// the target holds and makes exactly the calls the dry-run diff listed, instead of trying
    /// to create accounts that exist. Returns (adopted, queued).
    pub async fn go_live(&self, integration: &Integration) -> Result<(u64, u64), ReconcileError> {
        let imported = self
            .store
            .recon_run(&integration.id)
            .await?
            .is_some_and(|r| r.finished_at.is_some());
        let adopted = if imported {
            let analysis = self.analyze(integration).await?;
            self.adopt(integration, &analysis).await?
        } else {
            0
        };
        let queued = self
            .store
            .enqueue_resync(&integration.id, self.clock.now_ms())
            .await?;
        Ok((adopted, queued))
    }
}
