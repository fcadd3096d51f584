//! One function per admin action on reconciliation, for the UI and the CLI alike: import now,
//! the report, fix drift (and adopt matched accounts), deprovision orphans through the
//! deletion guard, the settings.

use super::ReconcileError;
use super::analysis::{Analysis, Context, ScimSide, analyze, known_of};
use super::import::{ImportConfig, ImportOutcome, import};
use crate::engine::{Clock, ConnectorRegistry};
use crate::guard::{self, Verdict};
use crate::inputs::{UserInput, known_from_link, load_rules, pushed_of};
use crate::planner::{Desired, Presence, Step, plan};
use crate::throttle::AccountLimiter;
use connector_api::{Capabilities, Connector};
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::outbox::TargetLink;
use store::{Direction, HoldState, Integration, IntegrationMode, NewAudit, NewEvent, Store};

/// Who asked (audit log); the scheduler acts as `system`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub id: Option<String>,
    pub email: String,
}

impl Actor {
    /// The scheduler and automatic corrections.
    pub fn system() -> Self {
        Self {
            id: None,
            email: "system".into(),
        }
    }
}

/// What a drift fix did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Applied {
    /// Accounts linked to the SCIM user they belong to (no duplicate created).
    pub adopted: u64,
    /// Users queued for the worker: their link now holds the imported state, so the worker
    /// plans from what the target really holds (drift), or creates their account (missing).
    pub queued: u64,
}

/// What an orphan deprovision did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct OrphanOutcome {
    /// E-mails of the accounts deprovisioned now.
    pub done: Vec<String>,
    /// E-mails of the accounts the deletion guard holds for approval.
    pub held: Vec<String>,
}

/// Reconciliation's services over one store and the connector registry.
#[derive(Clone)]
pub struct Reconciler {
    pub store: Store,
    pub registry: Arc<dyn ConnectorRegistry>,
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Reconciler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconciler").finish_non_exhaustive()
    }
}

impl Reconciler {
    fn caps(&self, integration: &Integration) -> Result<Capabilities, ReconcileError> {
        self.registry.capabilities_of(integration).ok_or_else(|| {
            ReconcileError::Invalid(format!(
                "unknown connector '{}'",
                integration.connector_kind
            ))
        })
    }

    /// The integration's connector under its shared rate limiter and budget (also in dry
    /// run: reconciliation only reads, except when an admin deprovisions an orphan).
    fn connector(&self, integration: &Integration) -> Result<Arc<dyn Connector>, ReconcileError> {
        let secrets = self.store.integration_secrets(integration)?;
        let (key, gap) = self.registry.rate_limit(integration);
        let limiter = Arc::new(
            AccountLimiter::new(self.store.clone(), key, gap)
                .with_budget(self.registry.budget(integration))
                .with_clock(Arc::clone(&self.clock)),
        );
        self.registry
            .connect(integration, &secrets, limiter)
            .map_err(ReconcileError::Invalid)
    }

    /// Imports the target's accounts now (or continues an interrupted run), then adopts
    /// matched accounts (live integrations) and, when the integration corrects drift
    /// automatically, fixes it. `jitter` (about 0.9–1.1) spreads the next scheduled runs.
    pub async fn import_now(
        &self,
        integration: &Integration,
        config: &ImportConfig,
        jitter: f64,
    ) -> Result<ImportOutcome, ReconcileError> {
        let connector = self.connector(integration)?;
        let settings = self.store.recon_run(&integration.id).await?;
        let interval = settings
            .as_ref()
            .map_or(store::DEFAULT_RECON_INTERVAL_SECS, |r| r.interval_secs)
            .max(60) as f64;
        let next = Duration::from_secs_f64(interval * jitter.clamp(0.5, 1.5));
        let outcome = import(
            &self.store,
            connector.as_ref(),
            &integration.id,
            config,
            self.clock.as_ref(),
            next,
        )
        .await?;
        if matches!(outcome, ImportOutcome::Finished { .. }) {
            let correct = settings.is_some_and(|r| r.correct_drift);
            if correct {
                self.apply_drift(integration, &Actor::system()).await?;
            } else if integration.mode == IntegrationMode::Live {
                let analysis = self.analyze(integration).await?;
                self.adopt(integration, &analysis).await?;
            }
        }
        Ok(outcome)
    }

    /// The SCIM users of the integration with their groups and what their links know.
    async fn scim_sides(
        &self,
        integration: &Integration,
        users_type: &scim_core::schema::ResourceType,
    ) -> Result<Vec<ScimSide>, ReconcileError> {
        Ok(self
            .users_with_links(integration, users_type)
            .await?
            .into_iter()
            .map(|(user, link)| ScimSide {
                linked_to: link.as_ref().and_then(|l| l.target_id.clone()),
                known: known_from_link(link.as_ref()),
                user,
            })
            .collect())
    }

    /// Every SCIM user of the integration (the planner's input) with its link, if any.
    pub(crate) async fn users_with_links(
        &self,
        integration: &Integration,
        users_type: &scim_core::schema::ResourceType,
    ) -> Result<Vec<(UserInput, Option<TargetLink>)>, ReconcileError> {
        let db = self.store.db();
        let rows = store::scim::list_users_unpaged(db, &integration.id, None).await?;
        let groups = store::scim::list_groups_unpaged(db, &integration.id, None).await?;
        let mut members = crate::directory::members_of(db, &integration.id, &groups).await?;
        let mut groups_of: HashMap<String, Vec<String>> = HashMap::new();
        for g in &groups {
            for m in members.remove(&g.id).unwrap_or_default() {
                groups_of
                    .entry(m.member_id)
                    .or_default()
                    .push(g.display_name.clone());
            }
        }
        let mut links: HashMap<String, TargetLink> = self
            .store
            .list_links(&integration.id)
            .await?
            .into_iter()
            .map(|l| (l.scim_user_id.clone(), l))
            .collect();
        Ok(rows
            .iter()
            .map(|row| {
                (
                    UserInput::from_row(
                        row,
                        groups_of.remove(&row.id).unwrap_or_default(),
                        users_type,
                    ),
                    links.remove(&row.id),
                )
            })
            .collect())
    }

    /// The report, the adoptions and the per-user plan, from the last import.
    pub async fn analyze(&self, integration: &Integration) -> Result<Analysis, ReconcileError> {
        let rules = load_rules(&self.store, integration).await?;
        let caps = self.caps(integration)?;
        let sides = self.scim_sides(integration, &rules.users).await?;
        let accounts = self.store.recon_accounts(&integration.id).await?;
        let run = self.store.recon_run(&integration.id).await?;
        let ctx = Context {
            rules: &rules,
            caps: &caps,
            owner_target_id: run.as_ref().and_then(|r| r.owner_target_id.as_deref()),
        };
        Ok(analyze(&accounts, &sides, &ctx))
    }

    fn link(
        &self,
        integration_id: &str,
        scim_user_id: &str,
        known: &crate::planner::Known,
    ) -> TargetLink {
        TargetLink {
            integration_id: integration_id.to_string(),
            scim_user_id: scim_user_id.to_string(),
            target_id: known.target_id.clone(),
            last_pushed: Some(pushed_of(known)),
            last_sync_at: Some(self.clock.now_ms()),
            last_result: Some("reconciled".into()),
            last_error: None,
        }
    }

    /// Links every matched, unlinked account to its SCIM user (no duplicate is created).
    pub(super) async fn adopt(
        &self,
        integration: &Integration,
        analysis: &Analysis,
    ) -> Result<u64, ReconcileError> {
        let mut n = 0;
        for a in &analysis.adoptions {
            if let Some(known) = analysis.imported.get(&a.scim_user_id) {
                self.store
                    .upsert_link(self.link(&integration.id, &a.scim_user_id, known))
                    .await?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Fixes drift: adopts matched accounts, writes the imported state of every drifted
    /// account to its link and queues its user, and queues the missing users; the worker then
    /// plans from what the target really holds, through the rate limiter and the deletion
    /// guard.
    pub async fn apply_drift(
        &self,
        integration: &Integration,
        actor: &Actor,
    ) -> Result<Applied, ReconcileError> {
        let analysis = self.analyze(integration).await?;
        let adopted = self.adopt(integration, &analysis).await?;
        let mut ids: Vec<String> = Vec::new();
        for d in &analysis.drift {
            if ids.contains(&d.scim_user_id) {
                continue;
            }
            if let Some(known) = analysis.imported.get(&d.scim_user_id) {
                self.store
                    .upsert_link(self.link(&integration.id, &d.scim_user_id, known))
                    .await?;
            }
            ids.push(d.scim_user_id.clone());
        }
        for m in &analysis.missing {
            if !ids.contains(&m.scim_user_id) {
                ids.push(m.scim_user_id.clone());
            }
        }
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
                action: "reconcile.fix_drift".into(),
                target_kind: "integration".into(),
                target_id: Some(integration.id.clone()),
                detail: Some(
                    json!({"adopted": adopted, "queued": queued, "drift": analysis.drift.len(), "missing": analysis.missing.len()})
                        .to_string(),
                ),
            })
            .await?;
        Ok(Applied { adopted, queued })
    }

    /// Deprovisions orphaned accounts (by target id) as the integration's policy removes
    /// access, through the deletion guard (removals above its threshold are held for an
    /// admin's approval; approved ones run when asked again) and the rate limiter. The key
    /// owner, and accounts that are not orphans, are refused.
    pub async fn deprovision_orphans(
        &self,
        integration: &Integration,
        target_ids: &[String],
        actor: &Actor,
    ) -> Result<OrphanOutcome, ReconcileError> {
        if target_ids.is_empty() {
            return Err(ReconcileError::Invalid(
                "choose at least one orphaned account".into(),
            ));
        }
        let analysis = self.analyze(integration).await?;
        let rules = load_rules(&self.store, integration).await?;
        let caps = self.caps(integration)?;
        let accounts: HashMap<String, store::ReconAccount> = self
            .store
            .recon_accounts(&integration.id)
            .await?
            .into_iter()
            .map(|a| (a.target_id.clone(), a))
            .collect();
        let mut chosen = Vec::new();
        for tid in target_ids {
            if let Some(owner) = &analysis.key_owner
                && &owner.target_id == tid
            {
                return Err(ReconcileError::Invalid(format!(
                    "{} ({}) owns the API key: it is never changed, demoted or deleted",
                    owner.email, owner.target_id
                )));
            }
            let (Some(_), Some(account)) = (
                analysis.orphaned.iter().find(|o| &o.target_id == tid),
                accounts.get(tid),
            ) else {
                return Err(ReconcileError::Invalid(format!(
                    "{tid} is not an orphaned account of this integration (import again to refresh the report)"
                )));
            };
            chosen.push(account.clone());
        }
        let removal = rules.policy.deprovision.removal();
        let desired = Desired {
            presence: Presence::Remove(removal.clone()),
            profile: None,
            roles: Vec::new(),
            groups: Vec::new(),
            reason: "no user in the identity provider accounts for this account".into(),
        };
        let ctx = Context {
            rules: &rules,
            caps: &caps,
            owner_target_id: analysis.key_owner.as_ref().map(|k| k.target_id.as_str()),
        };
        let now = self.clock.now_ms();
        let action = removal.describe();
        // Note every chosen removal first, so the guard sees the size of the request.
        let mut holds = Vec::with_capacity(chosen.len());
        for account in &chosen {
            let key = store::orphan_hold_key(&account.target_id);
            let mut hold = self
                .store
                .note_removal(&integration.id, &key, &account.email, &action, now)
                .await?;
            if hold.state == HoldState::Discarded {
                // Asking again is a new decision.
                self.store
                    .set_hold_state(&integration.id, &key, HoldState::Pending, now)
                    .await?;
                hold.state = HoldState::Pending;
            }
            holds.push(hold);
        }
        let removals = self
            .store
            .count_removals_since(&integration.id, now - guard::WINDOW_MS)
            .await?
            + self.store.count_open_holds(&integration.id).await?;
        let base = self
            .store
            .count_linked(&integration.id)
            .await?
            .max(self.store.recon_count_accounts(&integration.id).await?);
        let held_before = !self
            .store
            .list_holds(&integration.id, Some(HoldState::Held))
            .await?
            .is_empty();
        let mut out = OrphanOutcome::default();
        let mut connector = None;
        let mut role_ids: Option<Vec<connector_api::Role>> = None;
        for (account, hold) in chosen.iter().zip(&holds) {
            let verdict = guard::decide(
                rules.policy.guard,
                hold,
                held_before,
                removals,
                base,
                now,
                0, // an admin's confirmed request: no burst to wait for
            );
            if verdict != Verdict::Proceed {
                if hold.state == HoldState::Pending {
                    self.store
                        .set_hold_state(&integration.id, &hold.scim_user_id, HoldState::Held, now)
                        .await?;
                    crate::metrics::guard_hold(&integration.id);
                }
                out.held.push(account.email.clone());
                continue;
            }
            let known = known_of(account, None, None, &ctx);
            let steps = plan(&desired, &known, &caps);
            if connector.is_none() {
                connector = Some(self.connector(integration)?);
            }
            let c = connector.as_ref().ok_or(ReconcileError::Busy)?;
            let mut after = known.clone();
            for step in &steps {
                self.run_step(
                    integration,
                    c.as_ref(),
                    step,
                    account,
                    &after.roles,
                    &mut role_ids,
                )
                .await?;
                after.apply(step, None);
            }
            self.store
                .clear_hold(&integration.id, &hold.scim_user_id)
                .await?;
            let (roles, active) = match after.state {
                crate::planner::AccountState::Deleted => (None, None),
                crate::planner::AccountState::Deactivated => {
                    (Some(after.roles.clone()), Some(false))
                }
                _ => (Some(after.roles.clone()), None),
            };
            self.store
                .recon_update_account(
                    &integration.id,
                    &account.target_id,
                    roles.as_deref(),
                    active,
                )
                .await?;
            out.done.push(account.email.clone());
        }
        self.store
            .record_audit(NewAudit {
                at: now,
                tenant_id: Some(integration.tenant_id.clone()),
                actor_id: actor.id.clone(),
                actor_email: actor.email.clone(),
                action: "reconcile.deprovision_orphans".into(),
                target_kind: "integration".into(),
                target_id: Some(integration.id.clone()),
                detail: Some(
                    json!({"action": action, "done": out.done, "held": out.held}).to_string(),
                ),
            })
            .await?;
        Ok(out)
    }

    /// Executes one removal step on an orphan (holding `holds` now) and records it as an
    /// outbound event (so the deletion guard counts it).
    async fn run_step(
        &self,
        integration: &Integration,
        c: &dyn Connector,
        step: &Step,
        account: &store::ReconAccount,
        holds: &[String],
        roles: &mut Option<Vec<connector_api::Role>>,
    ) -> Result<(), ReconcileError> {
        let tid = account.target_id.as_str();
        let mut ids_of = async |names: &[String]| -> Result<Vec<String>, ReconcileError> {
            if c.accepts_any_role() {
                return Ok(names.to_vec());
            }
            if roles.is_none() {
                *roles = Some(c.list_roles().await?);
            }
            let list = roles.as_deref().unwrap_or_default();
            names
                .iter()
                .map(|n| {
                    list.iter()
                        .find(|r| r.name.eq_ignore_ascii_case(n))
                        .map(|r| r.id.clone())
                        .ok_or_else(|| {
                            ReconcileError::Invalid(format!(
                                "the role '{n}' does not exist in the target"
                            ))
                        })
                })
                .collect()
        };
        let started = Instant::now();
        let (result, http) = match step {
            Step::MoveToRole { role } => {
                let ids = ids_of(std::slice::from_ref(role)).await?;
                connector_api::exchange::capture(c.set_roles(tid, &ids)).await
            }
            Step::RotatePassword => {
                // The role it holds now (ActiveCampaign needs it on every update).
                let ids = ids_of(holds).await?;
                connector_api::exchange::capture(c.rotate_password(tid, &ids)).await
            }
            Step::Deactivate => connector_api::exchange::capture(c.deactivate_user(tid)).await,
            Step::Delete => connector_api::exchange::capture(c.delete_user(tid)).await,
            other => {
                return Err(ReconcileError::Invalid(format!(
                    "internal: an orphan's removal planned '{}'",
                    other.describe()
                )));
            }
        };
        let outcome = match &result {
            Ok(()) => store::OK_OUTCOME,
            Err(e) if e.is_retryable() => "retry",
            Err(_) => "error",
        };
        crate::metrics::outbound_call(
            &integration.connector_kind,
            step.operation(),
            outcome,
            started.elapsed(),
        );
        let mut detail = json!({
            "because": "orphaned: no user in the identity provider accounts for this account",
            "step": step.describe(),
            "target_id": tid,
        });
        if let Err(e) = &result {
            detail["error"] = json!(e.to_string());
        }
        if !http.is_empty() {
            detail["http"] = json!(http);
        }
        self.store
            .insert_events(vec![NewEvent {
                at: self.clock.now_ms(),
                tenant_id: integration.tenant_id.clone(),
                integration_id: integration.id.clone(),
                direction: Direction::Outbound,
                operation: step.operation().to_string(),
                subject_kind: None,
                subject_id: None,
                subject_name: Some(account.email.clone()),
                http_status: None,
                outcome: outcome.to_string(),
                duration_ms: Some(started.elapsed().as_millis() as i64),
                correlation_id: store::new_id(),
                attempt: None,
                detail: Some(detail.to_string()),
            }])
            .await?;
        Ok(result?)
    }

    /// Sets the integration's schedule and automatic drift correction; audit-logged.
    pub async fn set_settings(
        &self,
        integration: &Integration,
        interval_secs: i64,
        correct_drift: bool,
        actor: &Actor,
    ) -> Result<(), ReconcileError> {
        if !(3_600..=30 * 86_400).contains(&interval_secs) {
            return Err(ReconcileError::Invalid(
                "the interval must be between 1 hour and 30 days".into(),
            ));
        }
        let now = self.clock.now_ms();
        self.store
            .recon_set_settings(
                &integration.id,
                interval_secs,
                correct_drift,
                now + interval_secs * 1000,
            )
            .await?;
        self.store
            .record_audit(NewAudit {
                at: now,
                tenant_id: Some(integration.tenant_id.clone()),
                actor_id: actor.id.clone(),
                actor_email: actor.email.clone(),
                action: "reconcile.settings".into(),
                target_kind: "integration".into(),
                target_id: Some(integration.id.clone()),
                detail: Some(
                    json!({"interval_secs": interval_secs, "correct_drift": correct_drift})
                        .to_string(),
                ),
            })
            .await?;
        Ok(())
    }
}
