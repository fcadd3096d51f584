//! Test doubles for scimbridge integration tests, demos and benchmarks.
//!
//! - [`fake_activecampaign`]: an in-process (or stand-alone, see the
//!   `fake-activecampaign` binary) fake of the ActiveCampaign API v3 users and
//!   permission-groups endpoints, faithful to `shared/reference/target-apis.md` §1.
//! - [`fake_activepieces`] and [`fake_activtrak`]: fake SCIM apps with the quirks of §2 and
//!   §3, on the shared plumbing of [`scim_server`] (request log, injected 429/503).

pub mod fake_activecampaign;
pub mod fake_activepieces;
pub mod fake_activtrak;
pub mod scim_server;
