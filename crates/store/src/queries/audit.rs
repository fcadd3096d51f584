//! Audit log: who changed what in the UI.

use crate::entities::audit_log;
use crate::{Result, Store};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};
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

    /// Audit entries matching `q`, newest first. Page with `before_id` = the last id of the
    /// previous page; `limit` is capped at [`MAX_AUDIT_PAGE`].
    pub async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let rows = q
            .select()
            .apply_if(q.before_id, |s, b| s.filter(audit_log::Column::Id.lt(b)))
            .order_by_desc(audit_log::Column::Id)
            .limit(q.limit.clamp(1, MAX_AUDIT_PAGE))
            .all(self.db())
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The people who appear in the audit entries of `tenant_id` (all tenants: `None`), for
    /// the log's person filter; sorted.
    pub async fn audit_actors(&self, tenant_id: Option<&str>) -> Result<Vec<String>> {
        let mut actors: Vec<String> = audit_log::Entity::find()
            .select_only()
            .column(audit_log::Column::ActorEmail)
            .distinct()
            .apply_if(tenant_id, |s, t| {
                s.filter(audit_log::Column::TenantId.eq(t))
            })
            .into_tuple()
            .all(self.db())
            .await?;
        actors.sort_by_key(|a| a.to_lowercase());
        Ok(actors)
    }
}

/// Which audit entries [`Store::list_audit`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// One tenant's entries, or all (`None`, the platform view).
    pub tenant_id: Option<String>,
    /// Only this person's (their e-mail, exactly as recorded).
    pub actor_email: Option<String>,
    /// Only this action, e.g. `integration.roles`.
    pub action: Option<String>,
    /// Epoch ms, inclusive.
    pub from: Option<i64>,
    /// Epoch ms, exclusive.
    pub to: Option<i64>,
    /// Keyset cursor: entries older than this id.
    pub before_id: Option<i64>,
    /// Page size.
    pub limit: u64,
}

impl AuditQuery {
    fn select(&self) -> sea_orm::Select<audit_log::Entity> {
        use audit_log::Column as C;
        audit_log::Entity::find()
            .apply_if(self.tenant_id.as_deref(), |s, t| {
                s.filter(C::TenantId.eq(t))
            })
            .apply_if(self.actor_email.as_deref(), |s, a| {
                s.filter(C::ActorEmail.eq(a))
            })
            .apply_if(self.action.as_deref(), |s, a| s.filter(C::Action.eq(a)))
            .apply_if(self.from, |s, f| s.filter(C::At.gte(f)))
            .apply_if(self.to, |s, t| s.filter(C::At.lt(t)))
    }
}
