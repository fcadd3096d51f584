//! The Pipedrive API v1 connector (../shared/reference/target-apis.md §5.1).
//!
//! Users are `/users` with numeric ids; a user is created with `access[]` (the permission set
//! chosen per integration, fixed after creation), and only `active_flag` can change later, so
//! deprovisioning is a deactivation and there is no delete. Roles (`/roles`) are many per
//! user, added and removed through `/roles/{id}/assignments`. Every request first takes its
//! token cost from the account's daily budget ([`cost`]) through the throttle; a 429 is
//! retryable with its `Retry-After` and tells the throttle the budget is spent until then.
//! Protecting the key owner (`is_you`) is the engine's job.

mod client;
mod costs;
mod errors;
mod model;

pub use client::Pipedrive;
pub use costs::cost;

use connector_api::{Capabilities, Descriptor, Field, FieldKind, RoleCardinality, UserKey};

/// The connector kind stored with integrations.
pub const KIND: &str = "pipedrive";

/// Pipedrive's burst window (per token); a 429 asking to wait longer is the daily budget.
pub const BURST_WINDOW: std::time::Duration = std::time::Duration::from_secs(2);

/// Tokens per day when the integration does not say (the smallest plan's base budget).
pub const DEFAULT_DAILY_BUDGET: u64 = 30_000;

/// Settings and capabilities of the Pipedrive connector.
pub static DESCRIPTOR: Descriptor = Descriptor {
    kind: KIND,
    title: "Pipedrive",
    summary: "Pipedrive has no SCIM: users, roles and deactivation via API v1 under a daily token budget.",
    fields: &[
        Field {
            key: "base_url",
            label: "API URL",
            help: "https://yourcompany.pipedrive.com/api/v1 (or https://api.pipedrive.com/v1).",
            kind: FieldKind::Url,
            required: true,
            placeholder: "https://yourcompany.pipedrive.com/api/v1",
        },
        Field {
            key: "api_token",
            label: "API token",
            help: "An admin's token: Personal preferences → API → Your personal API token. The token's user is never changed by scimbridge.",
            kind: FieldKind::Secret,
            required: true,
            placeholder: "",
        },
        Field {
            key: "permission_set_id",
            label: "Permission set for new users (optional)",
            help: "The Sales permission set id given at creation (Company settings → Permission sets); it cannot be changed by API later. Empty: Pipedrive's default.",
            kind: FieldKind::Text,
            required: false,
            placeholder: "",
        },
        Field {
            key: "daily_token_budget",
            label: "Daily API token budget (optional)",
            help: "Tokens per day for the whole company (30,000 × plan multiplier × seats, plus top-ups). scimbridge never spends more; default 30000.",
            kind: FieldKind::Text,
            required: false,
            placeholder: "30000",
        },
    ],
    capabilities: Capabilities {
        can_create: true,
        can_update: false,
        can_delete: false,
        can_deactivate: true,
        roles: RoleCardinality::Many,
        names_supported: false,
        key: UserKey::Id,
        groups: false,
        rotate_password: false,
        attributes: false,
    },
};

/// The daily token budget of these settings (the default when absent or unreadable).
pub fn daily_budget(setting: Option<&str>) -> u64 {
    setting
        .and_then(|s| s.trim().parse::<u64>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_DAILY_BUDGET)
}
