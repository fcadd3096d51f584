//! What every page shares: the frame (sidebar, tenant switcher, breadcrumbs, flash) and small
//! display helpers.

use super::{Ctx, UiError};
use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};

/// Name of the one-shot flash-message cookie.
const FLASH_COOKIE: &str = "scb_flash";

/// A message shown once on the next page ("Integration activated").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    /// `success`, `error` or `info` (a CSS class; the text says the same in words).
    pub kind: &'static str,
    pub message: String,
}

impl Flash {
    /// A success message.
    pub fn success(message: impl Into<String>) -> Self {
        Self {
            kind: "success",
            message: message.into(),
        }
    }

    /// An error message.
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            kind: "error",
            message: message.into(),
        }
    }

    /// The flash carried by the request's cookie.
    pub fn from_request(req: &HttpRequest) -> Option<Self> {
        let c = req.cookie(FLASH_COOKIE)?;
        let raw = urlencoding::decode(c.value()).ok()?;
        let (kind, message) = raw.split_once('|')?;
        let kind = match kind {
            "success" => "success",
            "error" => "error",
            _ => "info",
        };
        Some(Self {
            kind,
            message: message.chars().take(500).collect(),
        })
    }

    /// The cookie that carries this flash to the next page.
    pub fn cookie(&self) -> Cookie<'static> {
        let value = urlencoding::encode(&format!("{}|{}", self.kind, self.message)).into_owned();
        Cookie::build(FLASH_COOKIE, value)
            .path("/")
            .http_only(true)
            .same_site(SameSite::Strict)
            .finish()
    }

    /// The cookie that removes a shown flash.
    pub fn clear_cookie() -> Cookie<'static> {
        let mut c = Cookie::build(FLASH_COOKIE, "")
            .path("/")
            .same_site(SameSite::Strict)
            .finish();
        c.make_removal();
        c
    }
}

/// A tenant as the frame shows it.
#[derive(Debug, Clone)]
pub struct TenantRef {
    pub id: String,
    pub name: String,
}

/// One breadcrumb; the last has no link.
#[derive(Debug, Clone)]
pub struct Crumb {
    pub label: String,
    pub href: Option<String>,
}

impl Crumb {
    /// A linked crumb.
    pub fn link(label: impl Into<String>, href: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            href: Some(href.into()),
        }
    }

    /// The current page.
    pub fn here(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            href: None,
        }
    }
}

/// The shared page frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// `<title>` and `<h1>`.
    pub title: String,
    /// Active sidebar entry.
    pub nav: &'static str,
    pub email: String,
    pub role_label: &'static str,
    pub is_platform_admin: bool,
    pub is_platform_staff: bool,
    /// Sees the Staff page (platform admins, tenant admins for their tenant).
    pub manages_staff: bool,
    /// Tenant in context (sidebar links point into it).
    pub tenant: Option<TenantRef>,
    /// Tenants for the switcher (platform staff only).
    pub tenants: Vec<TenantRef>,
    pub crumbs: Vec<Crumb>,
    pub flash: Option<Flash>,
    pub csrf: String,
}

impl Frame {
    /// The tenant id in context, or "" (templates test `has_tenant`).
    pub fn tenant_id(&self) -> &str {
        self.tenant.as_ref().map(|t| t.id.as_str()).unwrap_or("")
    }

    /// Whether a tenant is in context.
    pub fn has_tenant(&self) -> bool {
        self.tenant.is_some()
    }
}

impl Ctx {
    /// The frame of a page titled `title` under sidebar entry `nav`, in `tenant`'s context.
    pub async fn frame(
        &self,
        title: impl Into<String>,
        nav: &'static str,
        tenant: Option<&store::Tenant>,
        crumbs: Vec<Crumb>,
    ) -> Result<Frame, UiError> {
        let v = &self.viewer;
        let tenants: Vec<TenantRef> = if v.is_platform_staff() {
            self.store()
                .list_tenants()
                .await?
                .into_iter()
                .map(|t| TenantRef {
                    id: t.id,
                    name: t.name,
                })
                .collect()
        } else {
            Vec::new()
        };
        let tenant = match (tenant, &v.tenant_id) {
            (Some(t), _) => Some(TenantRef {
                id: t.id.clone(),
                name: t.name.clone(),
            }),
            (None, Some(own)) => self.store().get_tenant(own).await?.map(|t| TenantRef {
                id: t.id,
                name: t.name,
            }),
            // Pages outside a tenant (Tenants, Staff, account) keep the switcher's choice.
            (None, None) => self
                .remembered_tenant()
                .and_then(|id| tenants.iter().find(|t| t.id == id).cloned()),
        };
        if let Some(t) = &tenant {
            self.remember_tenant(&t.id);
        }
        Ok(Frame {
            title: title.into(),
            nav,
            email: v.email.clone(),
            role_label: v.role_label(),
            is_platform_admin: v.is_platform_admin(),
            is_platform_staff: v.is_platform_staff(),
            manages_staff: crate::staff::manages_staff(&crate::staff::Actor::staff(
                &v.id,
                &v.email,
                v.role,
                v.tenant_id.as_deref(),
            )),
            tenant,
            tenants,
            crumbs,
            flash: self.flash(),
            csrf: v.csrf.clone(),
        })
    }
}

/// A point in time for tables: relative text plus the exact UTC time for the tooltip.
#[derive(Debug, Clone)]
pub struct When {
    pub relative: String,
    /// `2026-12-07 09:30:12 UTC`.
    pub exact: String,
    /// RFC 3339 with milliseconds, for `<time datetime>` (the local-time toggle reads it).
    pub iso: String,
}

impl When {
    /// From epoch milliseconds, relative to now.
    pub fn from_ms(ms: i64) -> Self {
        Self::from_ms_at(ms, store::now_ms())
    }

    /// From epoch milliseconds, relative to `now_ms`.
    pub fn from_ms_at(ms: i64, now_ms: i64) -> Self {
        let at = chrono::DateTime::from_timestamp_millis(ms);
        Self {
            relative: relative(now_ms - ms),
            exact: at
                .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_default(),
            iso: at
                .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                .unwrap_or_default(),
        }
    }

    /// An optional time; `None` renders as `never`.
    pub fn opt(ms: Option<i64>) -> Option<Self> {
        ms.map(Self::from_ms)
    }
}

/// "just now", "5 min ago", "3 h ago", "2 days ago"; future times read "in …".
fn relative(delta_ms: i64) -> String {
    let (ago, secs) = if delta_ms >= 0 {
        (true, delta_ms / 1000)
    } else {
        (false, -delta_ms / 1000)
    };
    let text = match secs {
        0..=44 => return "just now".into(),
        45..=3_599 => format!("{} min", (secs + 30) / 60),
        3_600..=86_399 => format!("{} h", secs / 3_600),
        _ => {
            let days = secs / 86_400;
            format!("{days} day{}", if days == 1 { "" } else { "s" })
        }
    };
    if ago {
        format!("{text} ago")
    } else {
        format!("in {text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times() {
        assert_eq!(When::from_ms_at(1_000, 1_000).relative, "just now");
        assert_eq!(When::from_ms_at(0, 5 * 60_000).relative, "5 min ago");
        assert_eq!(When::from_ms_at(0, 3 * 3_600_000).relative, "3 h ago");
        assert_eq!(When::from_ms_at(0, 86_400_000).relative, "1 day ago");
        assert_eq!(When::from_ms_at(2 * 86_400_000, 0).relative, "in 2 days");
        assert_eq!(When::from_ms_at(0, 0).exact, "1970-01-01 00:00:00 UTC");
    }
}
