//! Test doubles for scimbridge integration tests, demos and benchmarks.
//!
//! - [`fake_activecampaign`]: an in-process (or stand-alone, see the
//!   `fake-activecampaign` binary) fake of the ActiveCampaign API v3 users and
//!   permission-groups endpoints, faithful to `shared/reference/target-apis.md` §1.
//! - [`fake_activepieces`] and [`fake_activtrak`]: fake SCIM apps with the quirks of §2 and
//!   §3, on the shared plumbing of [`scim_server`] (request log, injected 429/503).
//! - [`fake_pipedrive`]: Pipedrive API v1 users, roles and the daily token budget (§5.1).
//! - [`fake_brevo`]: Brevo's organization users (invitations) and its hourly limit (§5.2).
//! - [`smtp_server`] and [`webhook_receiver`]: record notification e-mails and webhook
//!   requests (the receiver can fail the next N requests with 500).
//! - [`FakeClock`]: the clock those two fakes read, moved forward by tests.

pub mod fake_activecampaign;
pub mod fake_activepieces;
pub mod fake_activtrak;
pub mod fake_brevo;
pub mod fake_pipedrive;
pub mod scim_server;
mod serve;
pub mod smtp_server;
pub mod webhook_receiver;

pub use serve::FakeClock;
