//! The outbound SCIM 2.0 connector: scimbridge in front of apps that have SCIM, but a
//! quirky one (../shared/reference/target-apis.md §2–§4).
//!
//! One client speaks RFC 7644 with `scim-core`'s types (filters printed by its printer,
//! PatchOp, ListResponse); each target's quirks are a [`Profile`] — data, not branches:
//! resource path case, where the role goes (`roles[]` or an extension attribute), which op
//! sets an attribute (`add` where `replace` is ignored), PATCH or read-modify-PUT, what
//! `startIndex` means, the credential header, what `userName` carries. Paging survives
//! targets that ignore `startIndex` (a repeated page ends the walk) or count pages; a filter
//! the target ignores is noticed (other users come back) and the pages are searched instead.
//! Deciding what to send is the planner's job: this crate only says it in the target's dialect.

mod client;
mod errors;
pub mod profile;

pub use client::{Scim, capabilities};
pub use profile::{AuthHeader, PROFILES, Profile, named};

use connector_api::{Descriptor, Field, FieldKind};

/// The connector kind stored with integrations.
pub const KIND: &str = "scim";

/// Settings of the SCIM connector; the capabilities are the generic profile's (a profile's
/// own come from [`capabilities_for`]).
pub static DESCRIPTOR: Descriptor = Descriptor {
    kind: KIND,
    title: "SCIM 2.0 app",
    summary: "Apps with their own SCIM API (Activepieces, ActivTrak, any RFC 7644 server): Entra-proof input, role mapping, logs and dry-run in front of it.",
    fields: &[
        Field {
            key: "profile",
            label: "App",
            help: "generic: an RFC 7644-conformant SCIM server; activepieces: Activepieces (role → platformRole, groups → projects); activtrak: ActivTrak (lower-case paths, page-number paging, userPrincipalNames/tracking).",
            kind: FieldKind::Choice(&["generic", "activepieces", "activtrak"]),
            required: true,
            placeholder: "",
        },
        Field {
            key: "base_url",
            label: "SCIM base URL",
            help: "The app's SCIM Tenant URL, e.g. https://cloud.activepieces.com/api/v1/scim/v2 or https://api.activtrak.com/scim/v1",
            kind: FieldKind::Url,
            required: true,
            placeholder: "https://app.example.com/scim/v2",
        },
        Field {
            key: "token",
            label: "Token",
            help: "The app's SCIM secret token or API key (Activepieces: a platform API key; ActivTrak: the key of the \"Entra ID via SCIM\" integration).",
            kind: FieldKind::Secret,
            required: true,
            placeholder: "",
        },
        Field {
            key: "auth_header",
            label: "Token header",
            help: "How the token is sent: authorization (Bearer) or x-api-key. Empty: the app's usual one.",
            kind: FieldKind::Choice(&["authorization", "x-api-key"]),
            required: false,
            placeholder: "",
        },
        Field {
            key: "push_groups",
            label: "Push groups",
            help: "true: IdP groups are created in the app (Activepieces: as projects) with their members.",
            kind: FieldKind::Choice(&["false", "true"]),
            required: false,
            placeholder: "",
        },
    ],
    capabilities: profile::GENERIC.capabilities,
};

/// The capabilities of the profile these settings name (`None`: no such profile).
pub fn capabilities_for(profile_setting: &str) -> Option<connector_api::Capabilities> {
    named(profile_setting).map(capabilities)
}
