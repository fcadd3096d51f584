//! `loadgen`: a closed-loop load generator for the scimbridge SCIM 2.0 server.
//!
//! See `README.md` in this crate for usage.

pub mod bodies;
pub mod cli;
pub mod http;
pub mod ids;
pub mod runner;
pub mod scenarios;
pub mod stats;

#[cfg(test)]
mod mock_server;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::cli::Scenario;
use crate::ids::{IdsFile, UserRef};
use crate::scenarios::Ctx;
use crate::stats::{Report, read_server_mem};

/// Errors that abort a run (individual request failures are counted, not raised).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("histogram: {0}")]
    Histogram(String),
    #[error("no users in {0}; run `loadgen create` first")]
    NoUsers(String),
    #[error("invalid argument: {0}")]
    Invalid(String),
    #[error("worker task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

fn parse_duration(secs: Option<f64>) -> Result<Option<Duration>, Error> {
    secs.map(|s| {
        if s > 0.0 {
            Duration::try_from_secs_f64(s)
                .map_err(|e| Error::Invalid(format!("--duration-secs: {e}")))
        } else {
            Err(Error::Invalid("--duration-secs must be > 0".into()))
        }
    })
    .transpose()
}

fn load_users(path: &Path, base: &str) -> Result<Arc<[UserRef]>, Error> {
    let file = IdsFile::read(path)?;
    if file.url.trim_end_matches('/') != base {
        eprintln!(
            "loadgen: warning: {} was created against {}, not {base}",
            path.display(),
            file.url
        );
    }
    eprintln!(
        "loadgen: {} users from {} (run {})",
        file.users.len(),
        path.display(),
        file.run_id
    );
    Ok(file.users.into())
}

fn save_users(path: &Path, run_id: &str, base: &str, users: &[UserRef]) -> Result<(), Error> {
    if users.is_empty() {
        eprintln!("loadgen: no users created; not writing {}", path.display());
        return Ok(());
    }
    IdsFile {
        run_id: run_id.to_owned(),
        url: base.to_owned(),
        users: users.to_vec(),
    }
    .write(path)?;
    eprintln!("loadgen: wrote {} users to {}", users.len(), path.display());
    Ok(())
}

/// Run the selected scenario(s) and collect the report.
pub async fn run(scenario: &Scenario) -> Result<Report, Error> {
    let common = scenario.common();
    let ctx = Ctx::new(
        &common.url,
        &common.token,
        Duration::from_secs(common.timeout_secs),
        parse_duration(common.duration_secs)?,
    )?;
    let base = ctx.base.to_string();
    let mut run_id = None;
    let mut summaries = Vec::new();

    match scenario {
        Scenario::Create {
            users,
            concurrency,
            ids_out,
            ..
        } => {
            let id = bodies::new_run_id();
            eprintln!("loadgen: create {users} users (run {id}), concurrency {concurrency}");
            let (summary, created) = scenarios::create(&ctx, &id, *users, *concurrency).await?;
            save_users(ids_out, &id, &base, &created)?;
            summaries.push(summary);
            run_id = Some(id);
        }
        Scenario::Lookup {
            requests,
            concurrency,
            ids_in,
            ..
        } => {
            let users = load_users(ids_in, &base)?;
            eprintln!("loadgen: lookup {requests} requests, concurrency {concurrency}");
            summaries.push(scenarios::lookup(&ctx, users, *requests, *concurrency).await?);
        }
        Scenario::Patch {
            requests,
            concurrency,
            ids_in,
            ..
        } => {
            let users = load_users(ids_in, &base)?;
            eprintln!("loadgen: patch {requests} requests, concurrency {concurrency}");
            summaries.push(scenarios::patch(&ctx, users, *requests, *concurrency).await?);
        }
        Scenario::Page {
            count, max_pages, ..
        } => {
            eprintln!("loadgen: page through /Users, count {count}");
            summaries.push(scenarios::page(&ctx, *count, *max_pages).await?);
        }
        Scenario::All {
            users,
            concurrency_create,
            concurrency_lookup,
            concurrency_patch,
            requests,
            count,
            max_pages,
            ids_out,
            ..
        } => {
            let id = bodies::new_run_id();
            eprintln!("loadgen: create {users} users (run {id}), concurrency {concurrency_create}");
            let (summary, created) =
                scenarios::create(&ctx, &id, *users, *concurrency_create).await?;
            save_users(ids_out, &id, &base, &created)?;
            summaries.push(summary);
            run_id = Some(id);
            if created.is_empty() {
                eprintln!("loadgen: skipping lookup and patch: no users were created");
            } else {
                let created: Arc<[UserRef]> = created.into();
                eprintln!("loadgen: lookup {requests} requests, concurrency {concurrency_lookup}");
                summaries.push(
                    scenarios::lookup(&ctx, created.clone(), *requests, *concurrency_lookup)
                        .await?,
                );
                let c = concurrency_patch.unwrap_or(*concurrency_lookup);
                eprintln!("loadgen: patch {requests} requests, concurrency {c}");
                summaries.push(scenarios::patch(&ctx, created, *requests, c).await?);
            }
            eprintln!("loadgen: page through /Users, count {count}");
            summaries.push(scenarios::page(&ctx, *count, *max_pages).await?);
        }
    }

    Ok(Report {
        url: base,
        run_id,
        scenarios: summaries,
        server: common.server_pid.map(read_server_mem),
    })
}
