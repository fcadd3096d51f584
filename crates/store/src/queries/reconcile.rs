//! Reconciliation's rows: the snapshot of a target's accounts (`recon_accounts`) and the
//! import's run state with the integration's reconciliation settings (`recon_runs`).
//!
//! One import runs per integration at a time across instances: a run holds a lease
//! (`lease_owner`, `lease_until`) taken by one conditional `UPDATE` (as the outbox's claims
//! are), renewed with every page, and a page's accounts are written in the same unit as the
//! cursor that follows them, only while the lease is still ours. A run that dies keeps its
//! cursor; whoever takes the lease after it expired continues from there. Writes go through
//! the writer on SQLite (`Store::write`).

use crate::entities::{recon_accounts, recon_runs};
use crate::{Result, Store, StoreError};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::sync::Arc;

/// One account of the target as an import read it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReconAccount {
    pub target_id: String,
    pub email: String,
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// Role names held.
    pub roles: Vec<String>,
    /// False while the target's list did not report roles and the details were not read yet.
    pub roles_known: bool,
    /// The target's own active flag, where it has one.
    pub active: Option<bool>,
    /// The target's last login, as it reports it, where it does.
    pub last_login: Option<String>,
}

impl From<recon_accounts::Model> for ReconAccount {
    fn from(m: recon_accounts::Model) -> Self {
        Self {
            roles: serde_json::from_str(&m.roles).unwrap_or_default(),
            target_id: m.target_id,
            email: m.email,
            username: m.username,
            first_name: m.first_name,
            last_name: m.last_name,
            roles_known: m.roles_known,
            active: m.active,
            last_login: m.last_login,
        }
    }
}

/// Where an import stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// Never run.
    Idle,
    /// Started and not finished (running now, or interrupted: the next run continues it).
    Running,
    /// The last run finished.
    Done,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Running => "running",
            Self::Done => "done",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "running" => Self::Running,
            "done" => Self::Done,
            _ => Self::Idle,
        }
    }
}

/// The import's phase within a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunPhase {
    /// Paging through the target's user list.
    List,
    /// Reading the roles the list did not report, account by account.
    Details,
}

impl RunPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::List => "list",
            Self::Details => "details",
        }
    }
}

/// An integration's import state and reconciliation settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconRun {
    pub integration_id: String,
    /// Increases with every new run; accounts carry the run that last saw them.
    pub run_id: i64,
    pub state: RunState,
    pub phase: RunPhase,
    /// The offset of the next page to read.
    pub cursor: i64,
    /// The target's account count, as its last page said.
    pub total: Option<i64>,
    /// Accounts written by this run so far.
    pub imported: i64,
    pub lease_owner: Option<String>,
    pub lease_until: i64,
    /// The account that owns the API key (never touched).
    pub owner_target_id: Option<String>,
    pub owner_email: Option<String>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// Why the last attempt stopped, if it failed.
    pub error: Option<String>,
    /// Seconds between scheduled runs.
    pub interval_secs: i64,
    /// Drift is corrected after every run without asking.
    pub correct_drift: bool,
    /// When the scheduler starts the next run (epoch ms).
    pub next_run_at: i64,
}

impl From<recon_runs::Model> for ReconRun {
    fn from(m: recon_runs::Model) -> Self {
        Self {
            state: RunState::parse(&m.state),
            phase: if m.phase == "details" {
                RunPhase::Details
            } else {
                RunPhase::List
            },
            integration_id: m.integration_id,
            run_id: m.run_id,
            cursor: m.cursor,
            total: m.total,
            imported: m.imported,
            lease_owner: m.lease_owner,
            lease_until: m.lease_until,
            owner_target_id: m.owner_target_id,
            owner_email: m.owner_email,
            started_at: m.started_at,
            finished_at: m.finished_at,
            error: m.error,
            interval_secs: m.interval_secs,
            correct_drift: m.correct_drift,
            next_run_at: m.next_run_at,
        }
    }
}

/// The default interval between scheduled runs.
pub const DEFAULT_RECON_INTERVAL_SECS: i64 = 86_400;

fn runs() -> Alias {
    Alias::new("recon_runs")
}

fn col(name: &str) -> Alias {
    Alias::new(name)
}

/// The condition "this run's lease is `owner`'s".
fn ours(integration_id: &str, owner: &str, run_id: i64) -> sea_orm::sea_query::SimpleExpr {
    Expr::col(col("integration_id"))
        .eq(integration_id)
        .and(Expr::col(col("lease_owner")).eq(owner))
        .and(Expr::col(col("run_id")).eq(run_id))
}

fn lost_lease() -> StoreError {
    StoreError::Conflict {
        what: "the reconciliation import's lease".into(),
    }
}

impl Store {
    /// The integration's import state (`None`: never reconciled, default settings).
    pub async fn recon_run(&self, integration_id: &str) -> Result<Option<ReconRun>> {
        Ok(recon_runs::Entity::find_by_id(integration_id.to_owned())
            .one(self.db())
            .await?
            .map(ReconRun::from))
    }

    /// Every integration's import state (the scheduler's and `/metrics`' view).
    pub async fn recon_runs_unscoped(&self) -> Result<Vec<ReconRun>> {
        Ok(recon_runs::Entity::find()
            .all(self.db())
            .await?
            .into_iter()
            .map(ReconRun::from)
            .collect())
    }

    /// Ids of every active integration, across tenants (the scheduler's list).
    pub async fn active_integration_ids_unscoped(&self) -> Result<Vec<String>> {
        use crate::entities::integrations;
        Ok(integrations::Entity::find()
            .select_only()
            .column(integrations::Column::Id)
            .filter(integrations::Column::Status.eq(crate::IntegrationStatus::Active))
            .into_tuple()
            .all(self.db())
            .await?)
    }

    /// Makes sure the integration has its row (default settings, never run).
    async fn recon_ensure_row(&self, integration_id: &str) -> Result<()> {
        let insert = Query::insert()
            .into_table(runs())
            .columns([col("integration_id")])
            .values([integration_id.into()])
            .map_err(|e| StoreError::InvalidData(e.to_string()))?
            .on_conflict(
                OnConflict::column(col("integration_id"))
                    .do_nothing()
                    .to_owned(),
            )
            .to_owned();
        self.write_statement(self.backend().build(&insert)).await?;
        Ok(())
    }

    /// Takes the integration's import lease for `owner` until `now + lease_ms` if nobody else
    /// holds a live one; starts a new run unless an unfinished one is there to continue.
    /// `None`: another instance is importing.
    pub async fn recon_take_lease(
        &self,
        integration_id: &str,
        owner: &str,
        now: i64,
        lease_ms: i64,
    ) -> Result<Option<ReconRun>> {
        self.recon_ensure_row(integration_id).await?;
        let take = Query::update()
            .table(runs())
            .value(col("lease_owner"), owner)
            .value(col("lease_until"), now + lease_ms)
            .and_where(Expr::col(col("integration_id")).eq(integration_id))
            .and_where(
                Expr::col(col("lease_until"))
                    .lt(now)
                    .or(Expr::col(col("lease_owner")).eq(owner)),
            )
            .to_owned();
        if self.write_statement(self.backend().build(&take)).await? == 0 {
            return Ok(None);
        }
        let run = self
            .recon_run(integration_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        if run.state == RunState::Running {
            return Ok(Some(run));
        }
        let start = Query::update()
            .table(runs())
            .value(col("run_id"), Expr::col(col("run_id")).add(1))
            .value(col("state"), RunState::Running.as_str())
            .value(col("phase"), RunPhase::List.as_str())
            .value(col("cursor"), 0i64)
            .value(col("total"), Option::<i64>::None)
            .value(col("imported"), 0i64)
            .value(col("started_at"), now)
            .value(col("finished_at"), Option::<i64>::None)
            .value(col("error"), Option::<String>::None)
            .and_where(Expr::col(col("integration_id")).eq(integration_id))
            .and_where(Expr::col(col("lease_owner")).eq(owner))
            .to_owned();
        if self.write_statement(self.backend().build(&start)).await? == 0 {
            return Ok(None);
        }
        self.recon_run(integration_id).await
    }

    /// Records the key owner the run found (never touched, shown in the report).
    pub async fn recon_set_owner(
        &self,
        integration_id: &str,
        owner: &str,
        run_id: i64,
        target_id: &str,
        email: &str,
    ) -> Result<()> {
        let update = Query::update()
            .table(runs())
            .value(col("owner_target_id"), target_id)
            .value(col("owner_email"), email)
            .and_where(ours(integration_id, owner, run_id))
            .to_owned();
        if self.write_statement(self.backend().build(&update)).await? == 0 {
            return Err(lost_lease());
        }
        Ok(())
    }

    /// Writes one page of accounts and the cursor after it in one unit, only while the lease
    /// is `owner`'s (else [`StoreError::Conflict`], and nothing is written); renews the lease
    /// until `lease_until`.
    #[expect(
        clippy::too_many_arguments,
        reason = "one unit of work, named at the call"
    )]
    pub async fn recon_write_page(
        &self,
        integration_id: &str,
        owner: &str,
        run_id: i64,
        accounts: &[ReconAccount],
        next_cursor: i64,
        total: Option<i64>,
        now: i64,
        lease_until: i64,
    ) -> Result<()> {
        let backend = self.backend();
        let mut update = Query::update();
        update
            .table(runs())
            .value(col("cursor"), next_cursor)
            .value(
                col("imported"),
                Expr::col(col("imported")).add(accounts.len() as i64),
            )
            .value(col("lease_until"), lease_until)
            .and_where(ours(integration_id, owner, run_id));
        if let Some(t) = total {
            update.value(col("total"), t);
        }
        let mut statements = vec![backend.build(&update)];
        if !accounts.is_empty() {
            let mut insert = Query::insert();
            insert.into_table(Alias::new("recon_accounts")).columns(
                [
                    "integration_id",
                    "target_id",
                    "email",
                    "email_lower",
                    "username",
                    "first_name",
                    "last_name",
                    "roles",
                    "roles_known",
                    "active",
                    "last_login",
                    "run_id",
                    "last_seen_at",
                ]
                .map(col),
            );
            for a in accounts {
                insert
                    .values([
                        integration_id.into(),
                        a.target_id.clone().into(),
                        a.email.clone().into(),
                        a.email.to_lowercase().into(),
                        a.username.clone().into(),
                        a.first_name.clone().into(),
                        a.last_name.clone().into(),
                        serde_json::to_string(&a.roles)?.into(),
                        a.roles_known.into(),
                        a.active.into(),
                        a.last_login.clone().into(),
                        run_id.into(),
                        now.into(),
                    ])
                    .map_err(|e| StoreError::InvalidData(e.to_string()))?;
            }
            insert.on_conflict(
                OnConflict::columns([col("integration_id"), col("target_id")])
                    .update_columns(
                        [
                            "email",
                            "email_lower",
                            "username",
                            "first_name",
                            "last_name",
                            "roles",
                            "roles_known",
                            "active",
                            "last_login",
                            "run_id",
                            "last_seen_at",
                        ]
                        .map(col),
                    )
                    .to_owned(),
            );
            statements.push(backend.build(&insert));
        }
        self.write_guarded(statements).await
    }

    /// Runs `statements` as one unit; the first must change a row (it checks the lease),
    /// else the unit is undone and the lease reported lost.
    async fn write_guarded(&self, statements: Vec<sea_orm::Statement>) -> Result<()> {
        let statements = Arc::new(statements);
        self.write(move |txn| {
            let statements = Arc::clone(&statements);
            async move {
                for (i, s) in statements.iter().enumerate() {
                    let n = crate::Execute::execute_counted(&*txn, s.clone()).await?;
                    if i == 0 && n == 0 {
                        return Err(lost_lease());
                    }
                }
                Ok::<_, StoreError>(())
            }
        })
        .await
    }

    /// Moves the run to its details phase (renewing the lease).
    pub async fn recon_set_phase(
        &self,
        integration_id: &str,
        owner: &str,
        run_id: i64,
        phase: RunPhase,
        lease_until: i64,
    ) -> Result<()> {
        let update = Query::update()
            .table(runs())
            .value(col("phase"), phase.as_str())
            .value(col("lease_until"), lease_until)
            .and_where(ours(integration_id, owner, run_id))
            .to_owned();
        self.write_guarded(vec![self.backend().build(&update)])
            .await
    }

    /// Up to `limit` accounts of `run_id` whose roles are not read yet.
    pub async fn recon_accounts_without_roles(
        &self,
        integration_id: &str,
        run_id: i64,
        limit: u64,
    ) -> Result<Vec<ReconAccount>> {
        Ok(recon_accounts::Entity::find()
            .filter(recon_accounts::Column::IntegrationId.eq(integration_id))
            .filter(recon_accounts::Column::RunId.eq(run_id))
            .filter(recon_accounts::Column::RolesKnown.eq(false))
            .order_by_asc(recon_accounts::Column::TargetId)
            .limit(limit)
            .all(self.db())
            .await?
            .into_iter()
            .map(ReconAccount::from)
            .collect())
    }

    /// Records the roles (and active flag) read for accounts, renewing the lease, in one unit.
    pub async fn recon_write_roles(
        &self,
        integration_id: &str,
        owner: &str,
        run_id: i64,
        updates: &[(String, Vec<String>, Option<bool>)],
        lease_until: i64,
    ) -> Result<()> {
        let backend = self.backend();
        let renew = Query::update()
            .table(runs())
            .value(col("lease_until"), lease_until)
            .and_where(ours(integration_id, owner, run_id))
            .to_owned();
        let mut statements = vec![backend.build(&renew)];
        for (target_id, roles, active) in updates {
            let mut u = Query::update();
            u.table(Alias::new("recon_accounts"))
                .value(col("roles"), serde_json::to_string(roles)?)
                .value(col("roles_known"), true)
                .and_where(Expr::col(col("integration_id")).eq(integration_id))
                .and_where(Expr::col(col("target_id")).eq(target_id.as_str()));
            if let Some(a) = active {
                u.value(col("active"), *a);
            }
            statements.push(backend.build(&u));
        }
        self.write_guarded(statements).await
    }

    /// After every role's member list was read: the run's accounts no list named hold no role.
    pub async fn recon_mark_roles_read(
        &self,
        integration_id: &str,
        owner: &str,
        run_id: i64,
        lease_until: i64,
    ) -> Result<()> {
        let backend = self.backend();
        let renew = Query::update()
            .table(runs())
            .value(col("lease_until"), lease_until)
            .and_where(ours(integration_id, owner, run_id))
            .to_owned();
        let rest = Query::update()
            .table(Alias::new("recon_accounts"))
            .value(col("roles"), "[]")
            .value(col("roles_known"), true)
            .and_where(Expr::col(col("integration_id")).eq(integration_id))
            .and_where(Expr::col(col("run_id")).eq(run_id))
            .and_where(Expr::col(col("roles_known")).eq(false))
            .to_owned();
        self.write_guarded(vec![backend.build(&renew), backend.build(&rest)])
            .await
    }

    /// Finishes the run: accounts it did not see are gone from the target and leave the
    /// snapshot; the lease is given back and the next scheduled run set. Returns how many
    /// accounts left.
    pub async fn recon_finish(
        &self,
        integration_id: &str,
        owner: &str,
        run_id: i64,
        now: i64,
        next_run_at: i64,
    ) -> Result<u64> {
        let backend = self.backend();
        let done = Query::update()
            .table(runs())
            .value(col("state"), RunState::Done.as_str())
            .value(col("finished_at"), now)
            .value(col("error"), Option::<String>::None)
            .value(col("lease_owner"), Option::<String>::None)
            .value(col("lease_until"), 0i64)
            .value(col("next_run_at"), next_run_at)
            .and_where(ours(integration_id, owner, run_id))
            .to_owned();
        let gone = Query::delete()
            .from_table(Alias::new("recon_accounts"))
            .and_where(Expr::col(col("integration_id")).eq(integration_id))
            .and_where(Expr::col(col("run_id")).lt(run_id))
            .to_owned();
        let statements = Arc::new(vec![backend.build(&done), backend.build(&gone)]);
        self.write(move |txn| {
            let statements = Arc::clone(&statements);
            async move {
                if crate::Execute::execute_counted(&*txn, statements[0].clone()).await? == 0 {
                    return Err(lost_lease());
                }
                Ok::<_, StoreError>(
                    crate::Execute::execute_counted(&*txn, statements[1].clone()).await?,
                )
            }
        })
        .await
    }

    /// Stops an attempt that failed: the run keeps its cursor (the next attempt continues
    /// it), the error is shown, the lease is given back, the next attempt is at `retry_at`.
    pub async fn recon_stop(
        &self,
        integration_id: &str,
        owner: &str,
        error: Option<&str>,
        retry_at: i64,
    ) -> Result<()> {
        let mut update = Query::update();
        update
            .table(runs())
            .value(col("lease_owner"), Option::<String>::None)
            .value(col("lease_until"), 0i64)
            .value(col("next_run_at"), retry_at)
            .and_where(Expr::col(col("integration_id")).eq(integration_id))
            .and_where(Expr::col(col("lease_owner")).eq(owner));
        if let Some(e) = error {
            update.value(col("error"), e);
        }
        self.write_statement(self.backend().build(&update)).await?;
        Ok(())
    }

    /// The integration's snapshot, every account.
    pub async fn recon_accounts(&self, integration_id: &str) -> Result<Vec<ReconAccount>> {
        Ok(recon_accounts::Entity::find()
            .filter(recon_accounts::Column::IntegrationId.eq(integration_id))
            .order_by_asc(recon_accounts::Column::EmailLower)
            .all(self.db())
            .await?
            .into_iter()
            .map(ReconAccount::from)
            .collect())
    }

    /// Accounts in the snapshot.
    pub async fn recon_count_accounts(&self, integration_id: &str) -> Result<u64> {
        use sea_orm::PaginatorTrait;
        Ok(recon_accounts::Entity::find()
            .filter(recon_accounts::Column::IntegrationId.eq(integration_id))
            .count(self.db())
            .await?)
    }

    /// What a change we made (an orphan deprovisioned) did to an account of the snapshot;
    /// `roles: None` removes the account (deleted).
    pub async fn recon_update_account(
        &self,
        integration_id: &str,
        target_id: &str,
        roles: Option<&[String]>,
        active: Option<bool>,
    ) -> Result<()> {
        let backend = self.backend();
        let statement = match roles {
            None => backend.build(
                &Query::delete()
                    .from_table(Alias::new("recon_accounts"))
                    .and_where(Expr::col(col("integration_id")).eq(integration_id))
                    .and_where(Expr::col(col("target_id")).eq(target_id))
                    .to_owned(),
            ),
            Some(roles) => {
                let mut u = Query::update();
                u.table(Alias::new("recon_accounts"))
                    .value(col("roles"), serde_json::to_string(roles)?)
                    .value(col("roles_known"), true)
                    .and_where(Expr::col(col("integration_id")).eq(integration_id))
                    .and_where(Expr::col(col("target_id")).eq(target_id));
                if let Some(a) = active {
                    u.value(col("active"), a);
                }
                backend.build(&u)
            }
        };
        self.write_statement(statement).await?;
        Ok(())
    }

    /// Sets the integration's reconciliation settings and its next run, in one statement (a
    /// row seen half-written would look due at once).
    pub async fn recon_set_settings(
        &self,
        integration_id: &str,
        interval_secs: i64,
        correct_drift: bool,
        next_run_at: i64,
    ) -> Result<()> {
        let upsert = Query::insert()
            .into_table(runs())
            .columns([
                col("integration_id"),
                col("interval_secs"),
                col("correct_drift"),
                col("next_run_at"),
            ])
            .values([
                integration_id.into(),
                interval_secs.into(),
                correct_drift.into(),
                next_run_at.into(),
            ])
            .map_err(|e| StoreError::InvalidData(e.to_string()))?
            .on_conflict(
                OnConflict::column(col("integration_id"))
                    .update_columns([
                        col("interval_secs"),
                        col("correct_drift"),
                        col("next_run_at"),
                    ])
                    .to_owned(),
            )
            .to_owned();
        self.write_statement(self.backend().build(&upsert)).await?;
        Ok(())
    }
}

/// How the deletion guard's rows of orphaned accounts begin.
pub const ORPHAN_HOLD_PREFIX: &str = "orphan:";

/// The guard's key for an orphaned account (its hold row has no SCIM user): `orphan:` and
/// 29 hex digits of the target id's SHA-256, within the 36 characters of the column.
pub fn orphan_hold_key(target_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = hex::encode(Sha256::digest(target_id.as_bytes()));
    format!("{ORPHAN_HOLD_PREFIX}{}", &digest[..29])
}
