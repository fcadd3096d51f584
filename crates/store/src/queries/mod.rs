//! [`crate::Store`] methods, one module per area.

pub mod api_tokens;
pub mod audit;
pub mod events;
pub mod guard;
pub mod insights;
pub mod integrations;
pub mod notify;
pub mod ops;
pub mod reconcile;
pub mod resync;
pub mod role_rules;
pub mod signin;
pub mod staff;
pub mod tenants;
pub mod tokens;
pub mod totp;
