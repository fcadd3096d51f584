//! `provisioning` is the domain layer: the [`directory::Directory`] applies SCIM operations to
//! an integration's stored users and groups and, in the same transaction, queues an outbound
//! job for every subject whose desired state changed; the [`planner`] (pure) decides what a
//! user should look like in the target and which calls get it there; [`inputs`] loads the
//! planner's inputs for every surface; the [`engine`] drains the jobs through connectors under
//! the shared [`throttle`] and the deletion [`guard`]; [`reconcile`] imports the target's real
//! state and reports orphans, drift, missing accounts and seats from the planner.
//!
//! It depends on `scim-core` (protocol) and `store` (persistence), never on the web layer.

pub mod directory;
pub mod engine;
mod error;
pub mod guard;
pub mod inputs;
pub mod metrics;
mod page_walks;
pub mod planner;
pub mod preview;
pub mod reconcile;
pub mod schemas;
pub mod throttle;

pub use directory::{Directory, IntegrationScope, Resource};
pub use error::{DirectoryError, Result};
