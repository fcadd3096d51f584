//! Budgets beside the call spacing in `rate_limits`: a target account's window (Pipedrive's
//! daily token budget, Brevo's hourly request limit) as what is used, the limit the target
//! reported (NULL: the integration's setting applies) and when the window resets, so every
//! worker of every instance spends one budget with one atomic statement.

use sea_orm_migration::prelude::*;

/// Adds `rate_limits.budget_used`, `budget_limit`, `budget_resets_at`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RateLimits {
    Table,
    BudgetUsed,
    BudgetLimit,
    BudgetResetsAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for col in [
            ColumnDef::new(RateLimits::BudgetUsed)
                .big_integer()
                .not_null()
                .default(0)
                .to_owned(),
            ColumnDef::new(RateLimits::BudgetLimit)
                .big_integer()
                .null()
                .to_owned(),
            ColumnDef::new(RateLimits::BudgetResetsAt)
                .big_integer()
                .not_null()
                .default(0)
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(RateLimits::Table)
                        .add_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in [
            RateLimits::BudgetResetsAt,
            RateLimits::BudgetLimit,
            RateLimits::BudgetUsed,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(RateLimits::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
