//! Role rules: ordered mappings from IdP roles, groups or attributes to target roles.

use crate::entities::role_rules;
use crate::types::RuleSourceKind;
use crate::{Result, Store, new_id};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;

/// A rule to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRoleRule {
    /// Lower is evaluated first.
    pub priority: i32,
    /// What the rule looks at.
    pub source_kind: RuleSourceKind,
    /// The app role value, group displayName, or `path = value` expression.
    pub source_value: String,
    /// The target role granted.
    pub target_role: String,
}

/// A stored rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleRule {
    /// UUID.
    pub id: String,
    /// Integration.
    pub integration_id: String,
    /// Lower is evaluated first.
    pub priority: i32,
    /// What the rule looks at.
    pub source_kind: RuleSourceKind,
    /// Match value.
    pub source_value: String,
    /// Target role granted.
    pub target_role: String,
}

impl From<role_rules::Model> for RoleRule {
    fn from(m: role_rules::Model) -> Self {
        RoleRule {
            id: m.id,
            integration_id: m.integration_id,
            priority: m.priority,
            source_kind: m.source_kind,
            source_value: m.source_value,
            target_role: m.target_role,
        }
    }
}

impl Store {
    /// Replaces all of the integration's rules in one transaction.
    pub async fn replace_role_rules(
        &self,
        integration_id: &str,
        rules: Vec<NewRoleRule>,
    ) -> Result<()> {
        let txn = self.begin_write().await?;
        role_rules::Entity::delete_many()
            .filter(role_rules::Column::IntegrationId.eq(integration_id))
            .exec(&txn)
            .await?;
        let models: Vec<_> = rules
            .into_iter()
            .map(|r| role_rules::ActiveModel {
                id: Set(new_id()),
                integration_id: Set(integration_id.to_owned()),
                priority: Set(r.priority),
                source_kind: Set(r.source_kind),
                source_value: Set(r.source_value),
                target_role: Set(r.target_role),
            })
            .collect();
        if !models.is_empty() {
            role_rules::Entity::insert_many(models)
                .exec_without_returning(&txn)
                .await?;
        }
        // Bump the integration's stamp so workers reload their cached rules at once.
        crate::entities::integrations::Entity::update_many()
            .col_expr(
                crate::entities::integrations::Column::UpdatedAt,
                crate::now_ms().into(),
            )
            .filter(crate::entities::integrations::Column::Id.eq(integration_id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    /// The integration's rules by priority (ties in insertion-independent id order).
    pub async fn list_role_rules(&self, integration_id: &str) -> Result<Vec<RoleRule>> {
        let rows = role_rules::Entity::find()
            .filter(role_rules::Column::IntegrationId.eq(integration_id))
            .order_by_asc(role_rules::Column::Priority)
            .order_by_asc(role_rules::Column::Id)
            .all(self.db())
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
