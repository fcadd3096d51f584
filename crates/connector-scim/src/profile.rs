//! Profiles: each target's quirks as data. The client reads these switches; no code asks
//! which app it talks to.

use connector_api::{Capabilities, RoleCardinality, UserKey};

/// Where the role goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleSlot {
    /// RFC 7643 `roles[{value}]`, any value, several per user.
    Roles,
    /// One value of a fixed list in an extension attribute.
    Extension {
        urn: &'static str,
        attribute: &'static str,
        values: &'static [&'static str],
    },
    /// The target has no role: none is sent.
    None,
}

/// How profile changes are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Updates {
    /// PATCH operations.
    Patch,
    /// No PATCH: read the resource, change it, PUT it back (with `If-Match` when the target
    /// gives an ETag).
    Put,
}

/// What `startIndex` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// RFC 7644: the 1-based index of the first item.
    Index,
    /// The page number (ActivTrak).
    PageNumber,
}

/// The credential header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthHeader {
    /// `Authorization: Bearer <token>`
    Bearer,
    /// `x-api-key: <token>`
    ApiKey,
}

impl AuthHeader {
    /// The setting's value (`authorization` | `x-api-key`).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "authorization" | "bearer" => Some(Self::Bearer),
            "x-api-key" => Some(Self::ApiKey),
            _ => None,
        }
    }
}

/// What `userName` carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserName {
    /// The IdP's userName.
    UserName,
    /// The e-mail (Activepieces reads `userName` as the e-mail and ignores `emails`).
    Email,
}

/// One target's quirks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    pub name: &'static str,
    pub title: &'static str,
    pub capabilities: Capabilities,
    /// Resource paths (ActivTrak's are lower-case).
    pub users: &'static str,
    pub groups: &'static str,
    pub schemas: &'static str,
    /// `None`: the target publishes no such document.
    pub service_provider_config: Option<&'static str>,
    pub resource_types: Option<&'static str>,
    pub role: RoleSlot,
    /// The op that sets a single-valued attribute: `replace`, or `add` where `replace` is
    /// ignored (Activepieces on names and role).
    pub set_op: &'static str,
    pub updates: Updates,
    pub paging: Paging,
    pub auth: AuthHeader,
    pub user_name: UserName,
    /// Send `externalId` (Activepieces answers 409 on a reused one, so it is not sent there).
    pub external_id: bool,
}

const GENERIC_CAPS: Capabilities = Capabilities {
    can_create: true,
    can_update: true,
    can_delete: true,
    can_deactivate: true,
    roles: RoleCardinality::Many,
    names_supported: true,
    key: UserKey::Id,
    groups: true,
    rotate_password: false,
    attributes: true,
};

/// An RFC 7643/7644-conformant target.
pub const GENERIC: Profile = Profile {
    name: "generic",
    title: "SCIM 2.0 app",
    capabilities: GENERIC_CAPS,
    users: "Users",
    groups: "Groups",
    schemas: "Schemas",
    service_provider_config: Some("ServiceProviderConfig"),
    resource_types: Some("ResourceTypes"),
    role: RoleSlot::Roles,
    set_op: "replace",
    updates: Updates::Patch,
    paging: Paging::Index,
    auth: AuthHeader::Bearer,
    user_name: UserName::UserName,
    external_id: true,
};

/// The Activepieces extension holding `platformRole`.
pub const ACTIVEPIECES_EXTENSION: &str =
    "urn:ietf:params:scim:schemas:activepieces:1.0:CustomUserAttributes";

/// Activepieces (target-apis.md §2).
pub const ACTIVEPIECES: Profile = Profile {
    name: "activepieces",
    title: "Activepieces",
    capabilities: Capabilities {
        roles: RoleCardinality::One,
        // Only names, active and platformRole are kept; other attributes would only cost calls.
        attributes: false,
        ..GENERIC_CAPS
    },
    role: RoleSlot::Extension {
        urn: ACTIVEPIECES_EXTENSION,
        attribute: "platformRole",
        values: &["ADMIN", "MEMBER", "OPERATOR"],
    },
    set_op: "add",
    user_name: UserName::Email,
    external_id: false,
    ..GENERIC
};

/// The ActivTrak user extension.
pub const ACTIVTRAK_EXTENSION: &str = "urn:ietf:params:scim:schemas:extension:activtrak:2.0:User";

/// ActivTrak (target-apis.md §3).
pub const ACTIVTRAK: Profile = Profile {
    name: "activtrak",
    title: "ActivTrak",
    capabilities: Capabilities {
        roles: RoleCardinality::One,
        ..GENERIC_CAPS
    },
    users: "users",
    groups: "groups",
    schemas: "schemas",
    service_provider_config: None,
    resource_types: None,
    role: RoleSlot::None,
    updates: Updates::Put,
    paging: Paging::PageNumber,
    auth: AuthHeader::ApiKey,
    ..GENERIC
};

/// Every profile, the default first.
pub const PROFILES: [&Profile; 3] = [&GENERIC, &ACTIVEPIECES, &ACTIVTRAK];

/// The profile named `name` (`""`: generic).
pub fn named(name: &str) -> Option<&'static Profile> {
    let n = name.trim();
    if n.is_empty() {
        return Some(&GENERIC);
    }
    PROFILES
        .into_iter()
        .find(|p| p.name.eq_ignore_ascii_case(n))
}
