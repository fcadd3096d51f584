//! Budgets of target accounts in `rate_limits` (migration 000014): a window with what is used,
//! the limit the target reported, and when it resets. Reserving is one atomic statement on the
//! shared database, so every worker and instance spends the same budget.

use crate::outbox::retry_contended;
use crate::{Result, Store, StoreError};
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

/// The answer to a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetGrant {
    /// Granted; `used` in the window including this reservation.
    Granted { used: i64 },
    /// Spent: nothing is granted before `resets_at` (epoch ms).
    Spent { resets_at: i64 },
}

/// Where an account's budget stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetState {
    pub used: i64,
    /// What the target reported; `None`: the integration's setting applies.
    pub reported_limit: Option<i64>,
    pub resets_at: i64,
}

impl Store {
    /// Runs a statement returning one BIGINT column, through the writer on SQLite.
    async fn budget_statement(
        &self,
        sql_pg: &str,
        sql_lite: &str,
        values: Vec<Value>,
    ) -> Result<Vec<i64>> {
        let backend = self.backend();
        let sql = if backend == DbBackend::Postgres {
            sql_pg
        } else {
            sql_lite
        };
        let statement = Statement::from_sql_and_values(backend, sql, values);
        if self.serial_writes() {
            return self.write_returning(statement).await;
        }
        retry_contended(|| async {
            let rows = self.db().query_all_raw(statement.clone()).await?;
            rows.iter()
                .map(|r| r.try_get_by_index::<i64>(0).map_err(StoreError::from))
                .collect()
        })
        .await
    }

    /// Takes `cost` from the account's window if it fits under the limit the target reported
    /// (else `limit`); a window that has ended starts again, to end at `next_reset`.
    pub async fn reserve_budget(
        &self,
        key: &str,
        cost: i64,
        limit: i64,
        next_reset: i64,
        now: i64,
    ) -> Result<BudgetGrant> {
        // ?1 key, ?2 cost, ?3 now, ?4 next reset, ?5 the configured limit.
        let body = |p: &dyn Fn(u8) -> String| {
            format!(
                "INSERT INTO rate_limits (key, next_at, budget_used, budget_resets_at) VALUES ({k}, 0, {c}, {r})
                 ON CONFLICT (key) DO UPDATE SET
                   budget_used = CASE WHEN rate_limits.budget_resets_at <= {n} THEN {c}
                                      ELSE rate_limits.budget_used + {c} END,
                   budget_resets_at = CASE WHEN rate_limits.budget_resets_at <= {n} THEN {r}
                                           ELSE rate_limits.budget_resets_at END
                 WHERE rate_limits.budget_resets_at <= {n}
                    OR rate_limits.budget_used + {c} <= COALESCE(rate_limits.budget_limit, {l})
                 RETURNING budget_used",
                k = p(1),
                c = p(2),
                n = p(3),
                r = p(4),
                l = p(5)
            )
        };
        let values = vec![
            key.into(),
            cost.into(),
            now.into(),
            next_reset.into(),
            limit.into(),
        ];
        let got = self
            .budget_statement(
                &body(&|i| format!("${i}")),
                &body(&|i| format!("?{i}")),
                values,
            )
            .await?;
        if let Some(used) = got.first() {
            return Ok(BudgetGrant::Granted { used: *used });
        }
        let resets_at = self
            .budget_state(key)
            .await?
            .map_or(next_reset, |s| s.resets_at);
        Ok(BudgetGrant::Spent { resets_at })
    }

    /// Adopts what the target reported: `remaining` of `limit` (or the known limit, or
    /// `fallback`) until `resets_at`. A window the account has not seen yet replaces the
    /// count; within the same window the higher count wins, so requests reserved but not yet
    /// answered are not forgotten.
    pub async fn observe_budget(
        &self,
        key: &str,
        limit: Option<i64>,
        remaining: i64,
        resets_at: i64,
        fallback: i64,
        now: i64,
    ) -> Result<()> {
        // ?1 key, ?2 reported limit, ?3 remaining, ?4 resets_at, ?5 fallback limit, ?6 now.
        let body = |p: &dyn Fn(u8) -> String, max: &str| {
            let used = format!(
                "COALESCE({l}, rate_limits.budget_limit, {f}) - {rem}",
                l = p(2),
                f = p(5),
                rem = p(3)
            );
            format!(
                "INSERT INTO rate_limits (key, next_at, budget_used, budget_limit, budget_resets_at)
                 VALUES ({k}, 0, COALESCE({l}, {f}) - {rem}, {l}, {r})
                 ON CONFLICT (key) DO UPDATE SET
                   budget_used = CASE
                     WHEN rate_limits.budget_resets_at <= {n} OR {r} > rate_limits.budget_resets_at + 1000
                       THEN {used}
                     ELSE {max}(rate_limits.budget_used, {used}) END,
                   budget_limit = COALESCE({l}, rate_limits.budget_limit),
                   budget_resets_at = {r}
                 RETURNING budget_used",
                k = p(1),
                l = p(2),
                rem = p(3),
                r = p(4),
                f = p(5),
                n = p(6)
            )
        };
        let values = vec![
            key.into(),
            limit.into(),
            remaining.into(),
            resets_at.into(),
            fallback.into(),
            now.into(),
        ];
        self.budget_statement(
            &body(&|i| format!("${i}"), "GREATEST"),
            &body(&|i| format!("?{i}"), "MAX"),
            values,
        )
        .await?;
        Ok(())
    }

    /// Where the account's budget stands (`None`: never used).
    pub async fn budget_state(&self, key: &str) -> Result<Option<BudgetState>> {
        let backend = self.backend();
        let p = if backend == DbBackend::Postgres {
            "$1"
        } else {
            "?1"
        };
        let statement = Statement::from_sql_and_values(
            backend,
            format!(
                "SELECT budget_used, budget_limit, budget_resets_at FROM rate_limits WHERE key = {p}"
            ),
            [key.into()],
        );
        let Some(row) = self.db().query_one_raw(statement).await? else {
            return Ok(None);
        };
        Ok(Some(BudgetState {
            used: row.try_get_by_index::<i64>(0)?,
            reported_limit: row.try_get_by_index::<Option<i64>>(1)?,
            resets_at: row.try_get_by_index::<i64>(2)?,
        }))
    }
}
