//! A user job: plan, pass removals through the deletion guard, execute one step at a time and
//! plan again, recording what we know of the account after every step.

use super::calls::{Calls, Journal};
use super::{JobError, Worker};
use crate::guard::{self, Verdict};
use crate::inputs::{known_from_link, load_user, pushed_of};
use crate::planner::{AccountState, Desired, Known, Presence, Profile, Step, plan};
use connector_api::{ConnectorError, DesiredUser};
use serde_json::{Value, json};
use std::time::Duration;
use store::outbox::{Job, TargetLink};
use store::{HoldState, IntegrationStatus};

/// Plans executed before a job gives up (a plan whose execution leaves more to do, again and
/// again, is a bug).
const MAX_ROUNDS: usize = 6;

/// What executing a step taught us.
enum Executed {
    /// Done; a create's new id.
    Done(Option<String>),
    /// We know the account differently now (adopted an existing one, or it vanished).
    Replace(Box<Known>),
}

fn target_user(profile: &Profile, role_ids: Vec<String>) -> DesiredUser {
    DesiredUser {
        email: profile.email.clone(),
        username: profile.username.clone(),
        first_name: profile.first_name.clone(),
        last_name: profile.last_name.clone(),
        phone: None,
        roles: role_ids,
        attributes: profile.attributes.clone(),
    }
}

/// What a step sends, for its event: the profile of a create or update.
fn profile_of(step: &Step) -> Option<&Profile> {
    match step {
        Step::Create { profile, .. } | Step::Update { profile, .. } => Some(profile),
        _ => None,
    }
}

fn roles_of(step: &Step) -> Option<&[String]> {
    match step {
        Step::Create { roles, .. } | Step::Update { roles, .. } | Step::SetRoles { roles } => {
            Some(roles)
        }
        Step::AddRole { role } | Step::RemoveRole { role } | Step::MoveToRole { role } => {
            Some(std::slice::from_ref(role))
        }
        _ => None,
    }
}

impl Worker {
    /// Brings one SCIM user in line with the target.
    pub(crate) async fn sync_user(&self, job: &Job, journal: &Journal) -> Result<(), JobError> {
        let slot = self.runtime(&job.integration_id).await?;
        let mut guard = slot.lock().await;
        let Some(rt) = guard.as_mut() else {
            return Ok(());
        };
        if rt.integration.status != IntegrationStatus::Active {
            return Err(JobError::Paused(format!(
                "integration is {}",
                rt.integration.status
            )));
        }
        let input = load_user(
            &self.store,
            &job.integration_id,
            &job.subject_id,
            &rt.rules.users,
        )
        .await?;
        let link = self
            .store
            .get_link(&job.integration_id, &job.subject_id)
            .await?;
        let known = known_from_link(link.as_ref());
        let name = input
            .as_ref()
            .map(|u| u.user_name.clone())
            .or_else(|| known.profile.as_ref().map(|p| p.email.clone()));
        let subject = input.as_ref().map(|u| u.subject());
        let desired = rt.rules.desired(subject.as_ref());
        let mut calls = Calls {
            worker: self,
            rt,
            job,
            name,
            journal,
        };
        if calls.dry_run() {
            return self.dry_run(&mut calls, &desired, known, link).await;
        }
        let result = self
            .execute(&mut calls, &desired, known, input.is_none())
            .await;
        self.watch_credentials(rt, journal, result).await
    }

    /// Dry run: record every step the plan would take, call nothing, keep what we know.
    async fn dry_run(
        &self,
        calls: &mut Calls<'_>,
        desired: &Desired,
        known: Known,
        link: Option<TargetLink>,
    ) -> Result<(), JobError> {
        let steps = plan(desired, &known, &calls.rt.caps);
        for step in &steps {
            let mut detail = json!({"because": desired.reason, "step": step.describe()});
            if let Some(r) = roles_of(step) {
                detail["role"] = json!(r);
            }
            if let Some(p) = profile_of(step) {
                detail["profile"] = json!(p);
            }
            if let Some(tid) = &known.target_id {
                detail["target_id"] = Value::String(tid.clone());
            }
            calls
                .record(step.operation(), "dry_run", None, detail, true)
                .await;
        }
        if steps.is_empty() && desired.presence == Presence::Untouched && known.target_id.is_some()
        {
            calls.note("skip", &desired.reason).await;
        }
        let job = calls.job;
        let link = link.unwrap_or(TargetLink {
            integration_id: job.integration_id.clone(),
            scim_user_id: job.subject_id.clone(),
            target_id: None,
            last_pushed: None,
            last_sync_at: None,
            last_result: None,
            last_error: None,
        });
        calls.journal.set_link(TargetLink {
            last_sync_at: Some(self.now_ms()),
            last_result: Some("dry_run".into()),
            last_error: None,
            ..link
        });
        Ok(())
    }

    /// Live: plan, guard, execute the steps, remember after each, plan again until nothing
    /// is left.
    async fn execute(
        &self,
        calls: &mut Calls<'_>,
        desired: &Desired,
        mut known: Known,
        deleted_in_idp: bool,
    ) -> Result<(), JobError> {
        let job = calls.job;
        let caps = calls.rt.caps;
        let mut removal_planned = false;
        for _ in 0..MAX_ROUNDS {
            let steps = plan(desired, &known, &caps);
            if steps.is_empty() {
                known.note_membership(desired, &calls.rt.rules.rules);
                if !removal_planned {
                    self.forget_hold(job).await?;
                }
                if desired.presence == Presence::Untouched && known.target_id.is_some() {
                    calls.note("skip", &desired.reason).await;
                }
                if deleted_in_idp
                    && matches!(known.state, AccountState::Deleted | AccountState::Absent)
                {
                    self.store
                        .delete_link(&job.integration_id, &job.subject_id)
                        .await?;
                } else {
                    self.save(job, &known).await?;
                }
                return Ok(());
            }
            if let Some(tid) = known.target_id.clone()
                && calls.is_owner(&tid).await?
            {
                calls
                    .note(
                        "skip",
                        &format!(
                            "{}; the API key's owner is never changed, demoted or deleted",
                            desired.reason
                        ),
                    )
                    .await;
                return Ok(());
            }
            if steps.iter().any(Step::removes_access) {
                removal_planned = true;
                let action = steps
                    .iter()
                    .filter(|s| s.removes_access())
                    .map(Step::describe)
                    .collect::<Vec<_>>()
                    .join(", ");
                match self.guard_verdict(calls, &action).await? {
                    Verdict::Proceed => {}
                    Verdict::WaitUntil(at) => {
                        return Err(JobError::Retry {
                            error: "waiting for the deletion guard's settle window".into(),
                            after: Some(Duration::from_millis((at - self.now_ms()).max(0) as u64)),
                        });
                    }
                    Verdict::Hold => return Ok(()),
                }
            }
            // Execute the plan in order; what a step teaches us (an adopted account, one
            // deleted behind our back) ends it early, and the next round plans again.
            for step in &steps {
                let outcome = self.step(calls, step, &known, &desired.reason).await?;
                let replaced = matches!(outcome, Executed::Replace(_));
                match outcome {
                    Executed::Done(id) => known.apply(step, id.as_deref()),
                    Executed::Replace(k) => known = *k,
                }
                if step.removes_access() {
                    self.store
                        .clear_hold(&job.integration_id, &job.subject_id)
                        .await?;
                }
                self.save(job, &known).await?;
                if replaced {
                    break;
                }
            }
        }
        Err(JobError::Permanent(format!(
            "the plan did not settle after {MAX_ROUNDS} rounds; last known state: {known:?}"
        )))
    }

    /// Records what we know of the account (one row).
    async fn save(&self, job: &Job, known: &Known) -> Result<(), JobError> {
        self.store
            .upsert_link(TargetLink {
                integration_id: job.integration_id.clone(),
                scim_user_id: job.subject_id.clone(),
                target_id: known.target_id.clone(),
                last_pushed: Some(pushed_of(known)),
                last_sync_at: Some(self.now_ms()),
                last_result: Some(
                    match known.state {
                        AccountState::Deleted => "deleted",
                        AccountState::Deprovisioned => "deprovisioned",
                        AccountState::Deactivated => "deactivated",
                        AccountState::Absent => "not_created",
                        AccountState::Active => "ok",
                    }
                    .into(),
                ),
                last_error: None,
            })
            .await?;
        Ok(())
    }

    /// A removal is no longer planned: its hold row (pending, held or discarded) goes.
    async fn forget_hold(&self, job: &Job) -> Result<(), JobError> {
        if self
            .store
            .get_hold(&job.integration_id, &job.subject_id)
            .await?
            .is_some()
        {
            self.store
                .clear_hold(&job.integration_id, &job.subject_id)
                .await?;
        }
        Ok(())
    }

    /// Passes a planned removal through the deletion guard.
    async fn guard_verdict(&self, calls: &Calls<'_>, action: &str) -> Result<Verdict, JobError> {
        let job = calls.job;
        let integration = &calls.rt.integration.id;
        let now = self.now_ms();
        let name = calls.name.clone().unwrap_or_else(|| job.subject_id.clone());
        let hold = self
            .store
            .note_removal(integration, &job.subject_id, &name, action, now)
            .await?;
        let held = !self
            .store
            .list_holds(integration, Some(HoldState::Held))
            .await?
            .is_empty();
        let removals = self
            .store
            .count_removals_since(integration, now - guard::WINDOW_MS)
            .await?
            + self.store.count_open_holds(integration).await?;
        let linked = self.store.count_linked(integration).await?;
        let verdict = guard::decide(
            calls.rt.rules.policy.guard,
            &hold,
            held,
            removals,
            linked,
            now,
            self.config.guard_settle.as_millis() as i64,
        );
        if verdict == Verdict::Hold && hold.state == HoldState::Pending {
            self.store
                .set_hold_state(integration, &job.subject_id, HoldState::Held, now)
                .await?;
            crate::metrics::guard_hold(integration);
            calls
                .note(
                    "held",
                    &format!(
                        "the deletion guard holds this removal ({action}): {removals} removals within an hour among {linked} linked accounts; an admin approves or discards it"
                    ),
                )
                .await;
        }
        Ok(verdict)
    }

    /// Executes one step against the connector.
    async fn step(
        &self,
        calls: &mut Calls<'_>,
        step: &Step,
        known: &Known,
        because: &str,
    ) -> Result<Executed, JobError> {
        let c = calls.connector()?;
        let op = step.operation();
        let tid = known.target_id.clone().unwrap_or_default();
        let mut detail = json!({"because": because, "step": step.describe()});
        if let Some(r) = roles_of(step) {
            detail["role"] = json!(r);
        }
        if let Some(p) = profile_of(step) {
            detail["profile"] = json!(p);
        }
        if !tid.is_empty() {
            detail["target_id"] = Value::String(tid.clone());
        }
        let vanished = || {
            Executed::Replace(Box::new(Known {
                state: AccountState::Absent,
                ever_member: known.ever_member,
                ..Known::default()
            }))
        };
        let result: Result<Executed, ConnectorError> = match step {
            Step::Create { profile, roles } => {
                let ids = calls.role_ids(roles).await?;
                let user = target_user(profile, ids);
                match calls
                    .run_noting_id(op, detail, true, c.create_user(&user), |u| {
                        Some(u.id.clone())
                    })
                    .await
                {
                    Ok(u) => Ok(Executed::Done(Some(u.id))),
                    // Link, don't duplicate: the e-mail exists already, so adopt that account.
                    Err(ConnectorError::Conflict(e)) => {
                        return self.adopt(calls, profile, known, &e).await;
                    }
                    Err(e) => Err(e),
                }
            }
            Step::Update { profile, roles } => {
                let names = if roles.is_empty() {
                    &known.roles
                } else {
                    roles
                };
                let ids = calls.role_ids(names).await?;
                let user = target_user(profile, ids);
                calls
                    .run(op, detail, true, c.update_user(&tid, &user))
                    .await
                    .map(|_| Executed::Done(None))
            }
            Step::SetRoles { roles } => {
                let ids = calls.role_ids(roles).await?;
                calls
                    .run(op, detail, true, c.set_roles(&tid, &ids))
                    .await
                    .map(|()| Executed::Done(None))
            }
            Step::MoveToRole { role } => {
                let ids = calls.role_ids(std::slice::from_ref(role)).await?;
                calls
                    .run(op, detail, true, c.set_roles(&tid, &ids))
                    .await
                    .map(|()| Executed::Done(None))
            }
            Step::AddRole { role } => {
                let ids = calls.role_ids(std::slice::from_ref(role)).await?;
                let id = ids.concat();
                calls
                    .run(op, detail, true, c.add_role(&tid, &id))
                    .await
                    .map(|()| Executed::Done(None))
            }
            Step::RemoveRole { role } => {
                let ids = calls.role_ids(std::slice::from_ref(role)).await?;
                let id = ids.concat();
                calls
                    .run(op, detail, true, c.remove_role(&tid, &id))
                    .await
                    .map(|()| Executed::Done(None))
            }
            Step::RotatePassword => {
                let ids = calls.role_ids(&known.roles).await?;
                calls
                    .run(op, detail, true, c.rotate_password(&tid, &ids))
                    .await
                    .map(|()| Executed::Done(None))
            }
            Step::Deactivate => calls
                .run(op, detail, true, c.deactivate_user(&tid))
                .await
                .map(|()| Executed::Done(None)),
            Step::Reactivate => calls
                .run(op, detail, true, c.reactivate_user(&tid))
                .await
                .map(|()| Executed::Done(None)),
            Step::Delete => match calls.run(op, detail, true, c.delete_user(&tid)).await {
                Err(ConnectorError::NotFound(_)) => Ok(Executed::Done(None)), // already gone
                other => other.map(|()| Executed::Done(None)),
            },
            Step::JoinGroup { group } | Step::LeaveGroup { group } => {
                let join = matches!(step, Step::JoinGroup { .. });
                let Some(gid) = self.target_group(calls, group, join).await? else {
                    return Ok(Executed::Done(None));
                };
                let members = [tid.clone()];
                let call = if join {
                    c.add_group_members(&gid, &members).await
                } else {
                    c.remove_group_members(&gid, &members).await
                };
                calls
                    .run(op, detail, true, async { call })
                    .await
                    .map(|()| Executed::Done(None))
            }
        };
        match result {
            Ok(done) => Ok(done),
            // Removed in the target behind our back: plan again from "no account".
            Err(e) if Calls::vanished(&e) && !tid.is_empty() => Ok(vanished()),
            Err(e) => Err(e.into()),
        }
    }

    /// Create answered "conflict": adopt the account with that e-mail.
    async fn adopt(
        &self,
        calls: &mut Calls<'_>,
        profile: &Profile,
        known: &Known,
        conflict: &str,
    ) -> Result<Executed, JobError> {
        let c = calls.connector()?;
        let found = calls
            .run(
                "find_user_by_email",
                json!({"email": profile.email}),
                true,
                c.find_user_by_email(&profile.email),
            )
            .await?;
        let Some(existing) = found else {
            return Err(JobError::Permanent(format!(
                "conflict in the target, but no user with email {}: {conflict}",
                profile.email
            )));
        };
        let roles = calls.role_names(&existing.roles).await?;
        calls
            .note(
                "adopt",
                &format!(
                    "adopted the existing account {} instead of creating a duplicate",
                    existing.id
                ),
            )
            .await;
        Ok(Executed::Replace(Box::new(Known {
            target_id: Some(existing.id.clone()),
            state: AccountState::Active,
            profile: Some(Profile {
                email: existing.email,
                username: profile.username.clone(),
                first_name: existing.first_name,
                last_name: existing.last_name,
                attributes: Default::default(),
            }),
            roles,
            groups: Vec::new(),
            ever_member: known.ever_member,
            key_owner: false,
        })))
    }
}
