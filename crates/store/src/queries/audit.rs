//! Audit log: who changed what in the UI.

use crate::entities::audit_log;
use crate::{Result, Store};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;

/// Largest page [`Store::list_audit`] returns.
pub const MAX_AUDIT_PAGE: u64 = 1_000;

/// An audit entry to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAudit {
    /// Epoch ms.
    pub at: i64,
    /// Tenant concerned, if any.
    pub tenant_id: Option<String>,
    /// Staff user who acted, if any (system actions have none).
    pub actor_id: Option<String>,
    /// Email of the actor at the time (kept if the account is deleted).
    pub actor_email: String,
    /// e.g. `integration.create`, `token.revoke`.
    pub action: String,
    /// e.g. `integration`, `staff_user`.
    pub target_kind: String,
    /// Id of the target.
    pub target_id: Option<String>,
    /// JSON detail (no secrets).
    pub detail: Option<String>,
}

/// A stored audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// Monotonic id; the keyset cursor.
    pub id: i64,
    /// Epoch ms.
    pub at: i64,
    /// Tenant.
    pub tenant_id: Option<String>,
    /// Actor id.
    pub actor_id: Option<String>,
    /// Actor email.
    pub actor_email: String,
    /// Action.
    pub action: String,
    /// Target kind.
    pub target_kind: String,
    /// Target id.
    pub target_id: Option<String>,
    /// JSON detail.
    pub detail: Option<String>,
}

impl From<audit_log::Model> for AuditEntry {
    fn from(m: audit_log::Model) -> Self {
        AuditEntry {
            id: m.id,
            at: m.at,
            tenant_id: m.tenant_id,
            actor_id: m.actor_id,
            actor_email: m.actor_email,
            action: m.action,
            target_kind: m.target_kind,
            target_id: m.target_id,
            detail: m.detail,
        }
    }
}

impl Store {
    /// Records an audit entry.
    pub async fn record_audit(&self, a: NewAudit) -> Result<()> {
        audit_log::Entity::insert(audit_log::ActiveModel {
            at: Set(a.at),
            tenant_id: Set(a.tenant_id),
            actor_id: Set(a.actor_id),
            actor_email: Set(a.actor_email),
            action: Set(a.action),
            target_kind: Set(a.target_kind),
            target_id: Set(a.target_id),
            detail: Set(a.detail),
            ..Default::default()
        })
        .exec_without_returning(self.db())
        .await?;
        Ok(())
    }

    /// Audit entries, newest first; one tenant's, or all (`None`, platform view). Page with
    /// `before_id` = the last id of the previous page; `limit` is capped at
    /// [`MAX_AUDIT_PAGE`].
    pub async fn list_audit(
        &self,
        tenant_id: Option<&str>,
        limit: u64,
        before_id: Option<i64>,
    ) -> Result<Vec<AuditEntry>> {
        let mut q = audit_log::Entity::find();
        if let Some(t) = tenant_id {
            q = q.filter(audit_log::Column::TenantId.eq(t));
        }
        if let Some(b) = before_id {
            q = q.filter(audit_log::Column::Id.lt(b));
        }
        let rows = q
            .order_by_desc(audit_log::Column::Id)
            .limit(limit.clamp(1, MAX_AUDIT_PAGE))
            .all(self.db())
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
