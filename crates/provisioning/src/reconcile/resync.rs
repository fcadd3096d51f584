//! Resync after a rule change: which users the current rules would change now ("N users
//! would change"), and **Apply to all now**, which queues exactly those users for the worker
//! (so the change goes through the planner, the rate limiter and the deletion guard). The
//! count is the planner's own: a user counts when `plan(desired, known)` has a step, with
//! `known` what the link holds — the state the worker plans from.

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
        let queued = self
            .store
            .enqueue_users(&integration.id, &ids, &store::new_id(), now)
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
}
