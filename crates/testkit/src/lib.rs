//! Test doubles for scimbridge integration tests, demos and benchmarks.
//!
//! - [`fake_activecampaign`]: an in-process (or stand-alone, see the
//!   `fake-activecampaign` binary) fake of the ActiveCampaign API v3 users and
//!   permission-groups endpoints, faithful to `shared/reference/target-apis.md` §1.

pub mod fake_activecampaign;
