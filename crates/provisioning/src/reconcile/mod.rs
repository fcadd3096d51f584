//! Reconciliation: the target's real state as a first-class input.
//!
//! - [`import`]: pages through the target's users into a per-integration snapshot, streamed,
//!   leased (one instance at a time) and resumable from its cursor.
//! - [`analysis`] (pure): matches accounts to SCIM users (link, then e-mail / userName) and
//!   reads the report off the planner: orphaned accounts, drift, missing accounts, seats, the
//!   adoptions and the per-user plan against the imported state (the dry-run diff).
//! - [`service`]: one function per admin action (import now, fix drift, deprovision orphans,
//!   settings, apply rules to all, carry out approved orphan removals), called by the UI and
//!   the CLI alike.

pub mod analysis;
mod approved;
pub mod import;
mod resync;
pub mod schedule;
pub mod service;
#[cfg(test)]
mod tests;

pub use analysis::{Analysis, Drift, KeyOwner, Missing, Orphan, PlanSummary, Report, Seats};
pub use approved::Approval;
pub use import::{ImportConfig, ImportOutcome, import};
pub use service::{Actor, Applied, OrphanOutcome, Reconciler};

use connector_api::ConnectorError;
use store::StoreError;

/// Why a reconciliation action did not complete.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Connector(#[from] ConnectorError),
    /// The request cannot be carried out as asked (the message says why, for the admin).
    #[error("{0}")]
    Invalid(String),
    /// Another instance is importing this integration now.
    #[error("another instance is importing this integration's accounts; try again shortly")]
    Busy,
}

impl From<crate::inputs::InputError> for ReconcileError {
    fn from(e: crate::inputs::InputError) -> Self {
        match e {
            crate::inputs::InputError::Store(e) => Self::Store(e),
            crate::inputs::InputError::Invalid(e) => Self::Invalid(e),
        }
    }
}
