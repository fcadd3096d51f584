//! Store tests against real databases through the real migrations: a fresh SQLite file
//! always, and a fresh PostgreSQL database when `SCIMBRIDGE_TEST_PG` is set.

#[cfg(test)]
mod audit_events;
#[cfg(test)]
mod common;
#[cfg(test)]
mod extension_schemas;
#[cfg(test)]
mod filters;
#[cfg(test)]
mod groups;
#[cfg(test)]
mod guard;
#[cfg(test)]
mod jobs;
#[cfg(test)]
mod lookups;
#[cfg(test)]
mod migrations;
#[cfg(test)]
mod notify;
#[cfg(test)]
mod ops;
#[cfg(test)]
mod outbox;
#[cfg(test)]
mod perf;
#[cfg(test)]
mod reconcile;
#[cfg(test)]
mod secrets;
#[cfg(test)]
mod signin;
#[cfg(test)]
mod staff_links;
#[cfg(test)]
mod staff_tenants;
#[cfg(test)]
mod tokens;
#[cfg(test)]
mod totp;
#[cfg(test)]
mod users;
#[cfg(test)]
mod writer;
