//! The ActiveCampaign API v3 connector (../shared/reference/target-apis.md §1).
//!
//! Users are `/users`; roles are *permission groups* (`/groups`), one per user, set with the
//! `group` field. Ids and counters are JSON strings. "Not found" is recognised from the
//! message as well as the status, because a missing group answers 403. 429 and 503 are
//! retryable and honour `Retry-After`. The connector never sends `username` on update and
//! always sends `group` on PUT (a recorded 422 otherwise). Protecting the key owner and rate
//! limiting are the engine's job: this crate only classifies what the API says.

mod client;
mod errors;
mod model;

pub use client::{ActiveCampaign, api_url};

use connector_api::{Capabilities, Descriptor, Field, FieldKind, RoleCardinality, UserKey};

/// The connector kind stored with integrations.
pub const KIND: &str = "activecampaign";

/// Settings and capabilities of the ActiveCampaign connector.
pub static DESCRIPTOR: Descriptor = Descriptor {
    kind: KIND,
    title: "ActiveCampaign",
    summary: "ActiveCampaign has no native SCIM: users and permission groups via API v3.",
    fields: &[
        Field {
            key: "base_url",
            label: "API URL",
            help: "In ActiveCampaign: Settings → Developer → API Access → URL, e.g. https://youraccount.api-us1.com. The account name alone (youraccount) also works: it is read as https://youraccount.api-us1.com/api/3, and the form shows the URL that will be called.",
            kind: FieldKind::Url,
            required: true,
            placeholder: "https://youraccount.api-us1.com",
        },
        Field {
            key: "api_key",
            label: "API key",
            help: "Settings → Developer → API Access → Key. The key acts as its owner, who is never changed by scimbridge.",
            kind: FieldKind::Secret,
            required: true,
            placeholder: "",
        },
    ],
    capabilities: Capabilities {
        can_create: true,
        can_update: true,
        can_delete: true,
        can_deactivate: false,
        roles: RoleCardinality::One,
        names_supported: true,
        key: UserKey::Id,
        groups: false,
        rotate_password: true,
        attributes: false,
    },
};
