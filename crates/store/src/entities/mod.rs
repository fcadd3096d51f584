//! sea-orm entities, one module per table. They mirror the schema built by the `migration`
//! crate (which never imports them). Relations are not declared: queries join explicitly.

pub mod api_tokens;
pub mod audit_log;
pub mod deprovision_holds;
pub mod group_members;
pub mod integrations;
pub mod jobs;
pub mod provisioning_events;
pub mod recon_accounts;
pub mod recon_runs;
pub mod role_rules;
pub mod scim_groups;
pub mod scim_tokens;
pub mod scim_users;
pub mod staff_recovery_codes;
pub mod staff_totp;
pub mod staff_users;
pub mod target_group_links;
pub mod target_links;
pub mod tenants;
pub mod totp_requirements;
