//! Orphaned accounts whose removal the deletion guard held and an admin then approved.
//! Users' approved removals run as their jobs; an orphan has no user and no job, so the
//! approval itself carries them out ([`Reconciler::carry_out_approved_orphans`], called by the
//! UI's and the CLI's approve), and the scheduler's round picks up any the target refused at
//! that moment.

use super::ReconcileError;
use super::service::{Actor, OrphanOutcome, Reconciler};
use std::collections::HashSet;
use store::{HoldState, Integration};

/// What approving the deletion guard's held removals did.
#[derive(Debug)]
pub struct Approval {
    /// The guard as it was: the held users (and orphaned accounts) now approved.
    pub approved: crate::guard::GuardState,
    /// The orphaned accounts among them, carried out now (or held again, if the guard says so).
    pub orphans: OrphanOutcome,
    /// Why the orphans' removal did not run now (the scheduler tries again).
    pub orphans_error: Option<String>,
}

impl Reconciler {
    /// **Approve** on the deletion guard (the Overview's banner and `scimbridge guard
    /// approve`): the held users' jobs are queued again and the held orphaned accounts are
    /// deprovisioned now. The approval stands even if the target refuses the orphans' calls.
    pub async fn approve_held(
        &self,
        integration: &Integration,
        actor: &Actor,
    ) -> Result<Approval, ReconcileError> {
        let approved =
            crate::guard::approve(&self.store, &integration.id, self.clock.now_ms()).await?;
        let (orphans, orphans_error) =
            match self.carry_out_approved_orphans(integration, actor).await {
                Ok(o) => (o, None),
                Err(ReconcileError::Store(e)) => return Err(e.into()),
                Err(e) => (OrphanOutcome::default(), Some(e.to_string())),
            };
        Ok(Approval {
            approved,
            orphans,
            orphans_error,
        })
    }

    /// Deprovisions the orphaned accounts whose held removal was approved (through the same
    /// path as an admin's request: key owner refused, the policy's removal, audit-logged).
    /// Approved holds whose account is no longer an orphan (a user of the identity provider
    /// now accounts for it, or it is gone) are cleared without a call.
    pub async fn carry_out_approved_orphans(
        &self,
        integration: &Integration,
        actor: &Actor,
    ) -> Result<OrphanOutcome, ReconcileError> {
        let approved: HashSet<String> = self
            .store
            .list_holds(&integration.id, Some(HoldState::Approved))
            .await?
            .into_iter()
            .map(|h| h.scim_user_id)
            .filter(|key| key.starts_with(store::ORPHAN_HOLD_PREFIX))
            .collect();
        if approved.is_empty() {
            return Ok(OrphanOutcome::default());
        }
        let analysis = self.analyze(integration).await?;
        let ids: Vec<String> = analysis
            .orphaned
            .iter()
            .map(|o| o.target_id.clone())
            .filter(|id| approved.contains(&store::orphan_hold_key(id)))
            .collect();
        let still: HashSet<String> = ids.iter().map(|id| store::orphan_hold_key(id)).collect();
        for stale in approved.difference(&still) {
            self.store.clear_hold(&integration.id, stale).await?;
        }
        if ids.is_empty() {
            return Ok(OrphanOutcome::default());
        }
        self.deprovision_orphans(integration, &ids, actor).await
    }
}
