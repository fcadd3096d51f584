//! `provisioning` is the domain layer. Today it holds the [`directory::Directory`]: it applies
//! SCIM operations to an integration's stored users and groups and, in the same transaction,
//! queues an outbound job for every subject whose desired state changed. The worker that
//! drains those jobs into target apps builds on this crate.
//!
//! It depends on `scim-core` (protocol) and `store` (persistence), never on the web layer.

pub mod directory;
pub mod engine;
mod error;
pub mod guard;
pub mod inputs;
pub mod metrics;
pub mod planner;
pub mod preview;
pub mod schemas;
pub mod throttle;

pub use directory::{Directory, IntegrationScope, Resource};
pub use error::{DirectoryError, Result};
