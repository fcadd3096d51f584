//! Who may see and change what: the one copy of the rules that the console's signed-in
//! [`crate::ui::session::Viewer`] and the admin API's token principal both use.
//!
//! A scope is a role and, optionally, one tenant. A tenant admin always has one; a platform
//! role without one works across tenants; an API token may narrow any role to one tenant.

use store::StaffRole;

/// A role and the tenant it is narrowed to (pure data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub role: StaffRole,
    /// `Some`: this tenant only.
    pub tenant_id: Option<String>,
}

impl Access {
    /// The scope of `role` in `tenant_id`.
    pub fn new(role: StaffRole, tenant_id: Option<&str>) -> Self {
        Self {
            role,
            tenant_id: tenant_id.map(str::to_owned),
        }
    }

    /// Platform admins run the platform: tenants, staff, everything.
    pub fn is_platform_admin(&self) -> bool {
        self.role == StaffRole::PlatformAdmin && self.tenant_id.is_none()
    }

    /// Platform admins and support staff work across tenants.
    pub fn is_platform_staff(&self) -> bool {
        matches!(self.role, StaffRole::PlatformAdmin | StaffRole::Support)
            && self.tenant_id.is_none()
    }

    /// May see the tenant's data at all.
    pub fn can_view_tenant(&self, tenant_id: &str) -> bool {
        match &self.tenant_id {
            Some(own) => own == tenant_id,
            None => self.is_platform_staff(),
        }
    }

    /// May change the tenant's integrations (support is read-only).
    pub fn can_edit_tenant(&self, tenant_id: &str) -> bool {
        self.role != StaffRole::Support && self.can_view_tenant(tenant_id)
    }

    /// May retry failed jobs of the tenant (support may, read-only otherwise).
    pub fn can_retry_jobs(&self, tenant_id: &str) -> bool {
        self.can_view_tenant(tenant_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_admins_see_and_change_their_tenant_only() {
        let a = Access::new(StaffRole::TenantAdmin, Some("t1"));
        assert!(a.can_view_tenant("t1") && a.can_edit_tenant("t1"));
        assert!(!a.can_view_tenant("t2") && !a.can_edit_tenant("t2"));
        assert!(!a.is_platform_staff() && !a.is_platform_admin());
    }

    #[test]
    fn support_reads_everywhere_and_changes_nothing_but_retries() {
        let a = Access::new(StaffRole::Support, None);
        assert!(a.can_view_tenant("t2") && !a.can_edit_tenant("t2") && a.can_retry_jobs("t2"));
        assert!(a.is_platform_staff() && !a.is_platform_admin());
    }

    #[test]
    fn a_narrowed_platform_scope_is_one_tenant() {
        let a = Access::new(StaffRole::PlatformAdmin, None);
        assert!(a.can_edit_tenant("t2") && a.is_platform_admin());
        let narrowed = Access::new(StaffRole::PlatformAdmin, Some("t1"));
        assert!(narrowed.can_edit_tenant("t1") && !narrowed.can_view_tenant("t2"));
        assert!(!narrowed.is_platform_admin() && !narrowed.is_platform_staff());
        let support = Access::new(StaffRole::Support, Some("t1"));
        assert!(support.can_view_tenant("t1") && !support.can_edit_tenant("t1"));
        assert!(!support.can_view_tenant("t2"));
    }
}
