//! The Brevo API v3 connector for organization users (../shared/reference/target-apis.md §5.2).
//!
//! Brevo users are invited by e-mail and known only by it: the e-mail is the target id, there
//! are no names, and an invitation stays `pending` until accepted. A "role" is a named
//! privilege bundle defined per integration ([`Bundles`], the `role_privileges` setting);
//! creating = inviting with the bundle, a role change = updating the permissions, and
//! deprovisioning = revoking an active user or cancelling a pending invitation. Every answer
//! carries `x-sib-ratelimit-limit/-remaining/-reset`, which the connector hands to the
//! throttle so the limit Brevo reports governs (there is no Retry-After).

mod bundles;
mod client;
mod errors;

pub use bundles::{Bundle, Bundles};
pub use client::Brevo;

use connector_api::{Capabilities, Descriptor, Field, FieldKind, RoleCardinality, UserKey};

/// The connector kind stored with integrations.
pub const KIND: &str = "brevo";

/// Requests per hour assumed until Brevo reports its limit (the General tier, every plan).
pub const DEFAULT_HOURLY_LIMIT: u64 = 100;

/// Settings and capabilities of the Brevo connector.
pub static DESCRIPTOR: Descriptor = Descriptor {
    kind: KIND,
    title: "Brevo",
    summary: "Brevo has no SCIM: organization users invited by e-mail with privilege bundles, 100 requests per hour.",
    fields: &[
        Field {
            key: "base_url",
            label: "API URL",
            help: "https://api.brevo.com/v3",
            kind: FieldKind::Url,
            required: true,
            placeholder: "https://api.brevo.com/v3",
        },
        Field {
            key: "api_key",
            label: "API key",
            help: "Brevo → your profile → SMTP & API → API keys → Generate a new API key (v3). The account owner is never changed by scimbridge.",
            kind: FieldKind::Secret,
            required: true,
            placeholder: "",
        },
        Field {
            key: "role_privileges",
            label: "Roles (privilege bundles, JSON)",
            help: r#"Each role name maps to the privileges invited users get, or "all": {"Marketer":[{"feature":"email_campaigns","permissions":["create_edit_delete"]}],"Admin":"all"}"#,
            kind: FieldKind::Text,
            required: true,
            placeholder: r#"{"Marketer":[{"feature":"email_campaigns","permissions":["create_edit_delete"]}]}"#,
        },
        Field {
            key: "hourly_limit",
            label: "Requests per hour (optional)",
            help: "100 on every plan; 200 (Professional) or 600 (Enterprise) with a higher API tier. Only the starting assumption: the limit Brevo reports in its answers wins.",
            kind: FieldKind::Text,
            required: false,
            placeholder: "100",
        },
    ],
    capabilities: Capabilities {
        can_create: true,
        can_update: false,
        can_delete: true,
        can_deactivate: false,
        roles: RoleCardinality::One,
        names_supported: false,
        key: UserKey::Email,
        groups: false,
        rotate_password: false,
        attributes: false,
    },
};

/// The hourly limit of these settings (the default when absent or unreadable).
pub fn hourly_limit(setting: Option<&str>) -> u64 {
    setting
        .and_then(|s| s.trim().parse::<u64>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_HOURLY_LIMIT)
}
