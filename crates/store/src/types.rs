//! Closed vocabularies stored as text columns.
//!
//! Each enum is stored as its lowercase (or SCIM-cased) string, implements `Display`,
//! `FromStr` and serde with the same spelling.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident => $s:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize,
            Deserialize,
        )]
        #[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
        pub enum $name {
            $( $(#[$vmeta])* #[sea_orm(string_value = $s)] #[serde(rename = $s)] $variant, )+
        }

        impl $name {
            /// The stored spelling.
            pub fn as_str(self) -> &'static str {
                match self { $( Self::$variant => $s, )+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = crate::StoreError;
            fn from_str(s: &str) -> crate::Result<Self> {
                match s {
                    $( $s => Ok(Self::$variant), )+
                    other => Err(crate::StoreError::InvalidData(format!(
                        concat!("unknown ", stringify!($name), " '{}'"), other
                    ))),
                }
            }
        }
    };
}

string_enum! {
    /// What a staff user may do in the UI.
    StaffRole {
        /// Manages tenants and staff accounts.
        PlatformAdmin => "platform_admin",
        /// Manages the integrations of one tenant.
        TenantAdmin => "tenant_admin",
        /// Reads logs across tenants; retries jobs.
        Support => "support",
    }
}

string_enum! {
    /// Whether an integration really calls the target.
    IntegrationMode {
        /// Calls the target.
        Live => "live",
        /// Computes and logs the calls without making them.
        DryRun => "dry_run",
    }
}

string_enum! {
    /// Lifecycle of an integration.
    IntegrationStatus {
        /// Being configured; SCIM calls are rejected.
        Draft => "draft",
        /// Accepting SCIM calls and provisioning.
        Active => "active",
        /// Accepting SCIM calls; outbound work is held.
        Paused => "paused",
    }
}

string_enum! {
    /// Where a role rule takes its input from.
    RuleSourceKind {
        /// A value of the user's `roles` (Entra app role).
        AppRole => "app_role",
        /// The displayName of a group the user is a member of.
        Group => "group",
        /// `attribute path = value`.
        Filter => "filter",
    }
}

string_enum! {
    /// The kind of a job's or event's subject.
    SubjectKind {
        /// A SCIM user.
        User => "user",
        /// A SCIM group.
        Group => "group",
    }
}

string_enum! {
    /// The state of an outbox job.
    JobState {
        /// Waiting for `run_after`.
        Pending => "pending",
        /// Claimed by a worker.
        Running => "running",
        /// Finished successfully.
        Done => "done",
        /// Failed permanently.
        Failed => "failed",
    }
}

string_enum! {
    /// The SCIM type of a group member.
    MemberType {
        /// A `scim_users` row.
        User => "User",
        /// A `scim_groups` row.
        Group => "Group",
    }
}

string_enum! {
    /// The direction of a provisioning event.
    Direction {
        /// IdP → us.
        Inbound => "inbound",
        /// Us → the target.
        Outbound => "outbound",
    }
}
