//! Command-line interface.

use std::path::PathBuf;

use clap::builder::RangedU64ValueParser;
use clap::{Args, Parser, Subcommand};

/// Default location of the ids file shared between scenarios.
pub const DEFAULT_IDS_PATH: &str = "target/loadgen-users.json";

/// Closed-loop load generator for a SCIM 2.0 server.
#[derive(Debug, Parser)]
#[command(name = "loadgen", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub scenario: Scenario,
}

/// Options shared by every scenario.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// SCIM base URL, e.g. http://127.0.0.1:8080/scim/v2/<integration-id>.
    #[arg(long, env = "LOADGEN_URL")]
    pub url: String,
    /// Bearer token for the integration.
    #[arg(long, env = "LOADGEN_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Stop each scenario (each phase of `all`) after this many seconds.
    #[arg(long)]
    pub duration_secs: Option<f64>,
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Report VmRSS/VmHWM of this process (the server) from /proc/<pid>/status at the end.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 30, value_parser = RangedU64ValueParser::<u64>::new().range(1..=3600))]
    pub timeout_secs: u64,
    /// Tokio worker threads for the load generator (default: number of CPUs).
    #[arg(long, value_parser = RangedU64ValueParser::<usize>::new().range(1..=1024))]
    pub threads: Option<usize>,
}

fn concurrency_parser() -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::<usize>::new().range(1..=100_000)
}

#[derive(Debug, Clone, Subcommand)]
pub enum Scenario {
    /// POST /Users N times with unique userNames; writes ids to --ids-out.
    Create {
        #[command(flatten)]
        common: Common,
        /// Number of users to create.
        #[arg(long, default_value_t = 1000)]
        users: u64,
        /// Number of concurrent workers (closed loop: one request in flight each).
        #[arg(long, default_value_t = 16, value_parser = concurrency_parser())]
        concurrency: usize,
        /// Where to write the created ids and userNames.
        #[arg(long, default_value = DEFAULT_IDS_PATH)]
        ids_out: PathBuf,
    },
    /// GET /Users?filter=userName eq "…" for random users from --ids-in.
    Lookup {
        #[command(flatten)]
        common: Common,
        /// Number of requests to send.
        #[arg(long, default_value_t = 1000)]
        requests: u64,
        /// Number of concurrent workers (closed loop: one request in flight each).
        #[arg(long, default_value_t = 16, value_parser = concurrency_parser())]
        concurrency: usize,
        /// Ids file written by `create`.
        #[arg(long, default_value = DEFAULT_IDS_PATH)]
        ids_in: PathBuf,
    },
    /// Entra-style PATCH /Users/{id} on random users from --ids-in.
    Patch {
        #[command(flatten)]
        common: Common,
        /// Number of requests to send.
        #[arg(long, default_value_t = 1000)]
        requests: u64,
        /// Number of concurrent workers (closed loop: one request in flight each).
        #[arg(long, default_value_t = 16, value_parser = concurrency_parser())]
        concurrency: usize,
        /// Ids file written by `create`.
        #[arg(long, default_value = DEFAULT_IDS_PATH)]
        ids_in: PathBuf,
    },
    /// Page through all users with startIndex/count (single client, sequential).
    Page {
        #[command(flatten)]
        common: Common,
        /// Page size.
        #[arg(long, default_value_t = 100, value_parser = RangedU64ValueParser::<u64>::new().range(1..))]
        count: u64,
        /// Safety bound on the number of pages fetched.
        #[arg(long, default_value_t = 100_000)]
        max_pages: u64,
    },
    /// create, then lookup, then patch, then page; one summary table.
    All {
        #[command(flatten)]
        common: Common,
        /// Number of users to create.
        #[arg(long, default_value_t = 1000)]
        users: u64,
        /// Concurrency for create.
        #[arg(long, default_value_t = 16, value_parser = concurrency_parser())]
        concurrency_create: usize,
        /// Concurrency for lookup (and for patch unless --concurrency-patch is given).
        #[arg(long, default_value_t = 32, value_parser = concurrency_parser())]
        concurrency_lookup: usize,
        /// Concurrency for patch [default: --concurrency-lookup].
        #[arg(long, value_parser = concurrency_parser())]
        concurrency_patch: Option<usize>,
        /// Requests for each of lookup and patch.
        #[arg(long, default_value_t = 1000)]
        requests: u64,
        /// Page size for the page phase.
        #[arg(long, default_value_t = 100, value_parser = RangedU64ValueParser::<u64>::new().range(1..))]
        count: u64,
        /// Safety bound on the number of pages fetched.
        #[arg(long, default_value_t = 100_000)]
        max_pages: u64,
        /// Where to write the created ids and userNames.
        #[arg(long, default_value = DEFAULT_IDS_PATH)]
        ids_out: PathBuf,
    },
}

impl Scenario {
    pub fn common(&self) -> &Common {
        match self {
            Self::Create { common, .. }
            | Self::Lookup { common, .. }
            | Self::Patch { common, .. }
            | Self::Page { common, .. }
            | Self::All { common, .. } => common,
        }
    }

    /// Largest concurrency used, for sizing the connection pool.
    pub fn max_concurrency(&self) -> usize {
        match self {
            Self::Create { concurrency, .. }
            | Self::Lookup { concurrency, .. }
            | Self::Patch { concurrency, .. } => *concurrency,
            Self::Page { .. } => 1,
            Self::All {
                concurrency_create,
                concurrency_lookup,
                concurrency_patch,
                ..
            } => (*concurrency_create)
                .max(*concurrency_lookup)
                .max(concurrency_patch.unwrap_or(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_all() {
        let cli = Cli::try_parse_from([
            "loadgen",
            "all",
            "--url",
            "http://127.0.0.1:8080/scim/v2/x",
            "--token",
            "t",
            "--users",
            "50",
            "--concurrency-create",
            "4",
            "--concurrency-lookup",
            "64",
            "--requests",
            "10",
            "--duration-secs",
            "2.5",
            "--server-pid",
            "1",
            "--json",
        ])
        .unwrap();
        assert_eq!(cli.scenario.max_concurrency(), 64);
        let c = cli.scenario.common();
        assert!(c.json);
        assert_eq!(c.duration_secs, Some(2.5));
        assert_eq!(c.server_pid, Some(1));
        assert_eq!(c.timeout_secs, 30);
        assert!(matches!(
            cli.scenario,
            Scenario::All {
                users: 50,
                requests: 10,
                ..
            }
        ));
    }

    #[test]
    fn rejects_zero_concurrency() {
        let r = Cli::try_parse_from([
            "loadgen",
            "create",
            "--url",
            "u",
            "--token",
            "t",
            "--concurrency",
            "0",
        ]);
        assert!(r.is_err());
    }
}
