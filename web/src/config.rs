//! Configuration, loaded once: defaults, then an optional TOML file, then `SCIMBRIDGE_*`
//! environment variables.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Runtime configuration. Its `Debug` hides the master key.
#[derive(Clone, Serialize, Deserialize)]
pub struct Config {
    /// `sqlite://path` (created if missing) or `postgres://…`.
    pub database_url: String,
    /// Address to listen on.
    pub bind: String,
    /// Public base URL (SCIM URLs and `meta.location`); defaults to `http://<bind>`.
    pub public_url: Option<String>,
    /// Base64 AES-256 key for secrets at rest; else a key file in the data folder.
    pub master_key: Option<String>,
    /// Log format: `text` or `json`.
    pub log_format: String,
    /// Worker threads for HTTP (0 = number of cores).
    pub workers: usize,
    /// Allow http and private/loopback target URLs (tests and local demos only).
    pub allow_private_targets: bool,
    /// Run the outbound provisioning worker in this process.
    pub run_worker: bool,
    /// Seconds a claimed job stays ours; a killed process's jobs run again after this.
    pub job_lease_secs: u64,
    /// Days provisioning events are kept (0 = forever).
    pub event_retention_days: u64,
    /// Seconds between two retention rounds.
    pub prune_interval_secs: u64,
    /// Seconds a planned removal waits before the deletion guard counts it (so a burst shows
    /// its size before the first account goes).
    pub guard_settle_secs: u64,
    /// Jobs in a row whose target rejected the credentials before the worker pauses the
    /// integration (0 = never pause automatically).
    pub auto_pause_after: u32,
    /// Seconds between two looks for due reconciliation imports (0 = no scheduled imports).
    pub reconcile_check_secs: u64,
    /// SCIM requests a second (all integrations) at or above which the worker claims jobs
    /// only once per poll period, so the IdP's requests come first (0 = never hold back).
    pub worker_yield_rps: u64,
    /// Every staff member must sign in with a TOTP second factor (`SCIMBRIDGE_REQUIRE_TOTP`).
    pub require_totp: bool,
    /// SQLite: how long a statement waits for another connection's write lock before it
    /// fails (milliseconds). Inside the server every write goes through one writer, so this
    /// only matters when another process (a CLI command, a second server) writes at once.
    pub sqlite_busy_timeout_ms: u64,
    /// Admin API requests a minute per API token (`SCIMBRIDGE_API_RATE_PER_MINUTE`); over it,
    /// 429 with Retry-After.
    pub api_rate_per_minute: u32,
    /// Operator SMTP for e-mail notifications: `smtp://host:port`, `smtps://user:pass@host`
    /// (lettre's URL form). Without it e-mail channels say "SMTP is not configured".
    pub smtp_url: Option<String>,
    /// The sender of notification e-mails, e.g. `scimbridge <noreply@example.com>`.
    pub smtp_from: Option<String>,
    /// Milliseconds between two notifier rounds (rules and due deliveries).
    pub notify_poll_ms: u64,
    /// Seconds permanent job failures of one integration are collected into one message.
    pub notify_batch_secs: u64,
    /// Seconds between delivery attempts, comma-separated; given up after the last.
    pub notify_retry_secs: String,
    /// Seconds without a request from the IdP before "the IdP is quiet" (two 40-minute cycles).
    pub notify_idp_quiet_secs: u64,
    /// Days before a SCIM token expires that it is announced.
    pub notify_token_warning_days: u64,
    /// Failure share (percent) of the last hour's target calls that is announced…
    pub notify_failure_percent: u32,
    /// …once at least this many calls were made.
    pub notify_failure_min_calls: u64,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a database password too: show only its scheme.
        let db = self.database_url.split_once("://").map_or("?", |(s, _)| s);
        f.debug_struct("Config")
            .field("database_url", &format_args!("{db}://…"))
            .field("bind", &self.bind)
            .field("public_url", &self.public_url)
            .field("master_key", &self.master_key.as_ref().map(|_| "***"))
            .field("log_format", &self.log_format)
            .field("workers", &self.workers)
            .field("allow_private_targets", &self.allow_private_targets)
            .field("run_worker", &self.run_worker)
            .field("job_lease_secs", &self.job_lease_secs)
            .field("event_retention_days", &self.event_retention_days)
            .field("prune_interval_secs", &self.prune_interval_secs)
            .field("guard_settle_secs", &self.guard_settle_secs)
            .field("auto_pause_after", &self.auto_pause_after)
            .field("reconcile_check_secs", &self.reconcile_check_secs)
            .field("worker_yield_rps", &self.worker_yield_rps)
            .field("require_totp", &self.require_totp)
            .field("sqlite_busy_timeout_ms", &self.sqlite_busy_timeout_ms)
            .field("api_rate_per_minute", &self.api_rate_per_minute)
            // The SMTP URL may carry a password: show only its scheme.
            .field(
                "smtp_url",
                &self
                    .smtp_url
                    .as_ref()
                    .map(|u| format!("{}://…", u.split_once("://").map_or("?", |(s, _)| s))),
            )
            .field("smtp_from", &self.smtp_from)
            .field("notify_poll_ms", &self.notify_poll_ms)
            .field("notify_batch_secs", &self.notify_batch_secs)
            .field("notify_retry_secs", &self.notify_retry_secs)
            .field("notify_idp_quiet_secs", &self.notify_idp_quiet_secs)
            .field("notify_token_warning_days", &self.notify_token_warning_days)
            .field("notify_failure_percent", &self.notify_failure_percent)
            .field("notify_failure_min_calls", &self.notify_failure_min_calls)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite://data/scimbridge.db".into(),
            bind: "127.0.0.1:8080".into(),
            public_url: None,
            master_key: None,
            log_format: "text".into(),
            workers: 0,
            allow_private_targets: false,
            run_worker: true,
            job_lease_secs: 120,
            event_retention_days: 30,
            prune_interval_secs: 3600,
            guard_settle_secs: 30,
            auto_pause_after: 3,
            reconcile_check_secs: 60,
            worker_yield_rps: 50,
            require_totp: false,
            sqlite_busy_timeout_ms: 5_000,
            api_rate_per_minute: 600,
            smtp_url: None,
            smtp_from: None,
            notify_poll_ms: 5_000,
            notify_batch_secs: 900,
            notify_retry_secs: "60,300,1800,7200".into(),
            notify_idp_quiet_secs: 80 * 60,
            notify_token_warning_days: 14,
            notify_failure_percent: 20,
            notify_failure_min_calls: 10,
        }
    }
}

/// Errors loading configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Loads defaults → `file` → environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(f) = file {
            if !f.exists() {
                return Err(ConfigError::Invalid(format!(
                    "config file {} does not exist",
                    f.display()
                )));
            }
            fig = fig.merge(Toml::file(f));
        }
        fig = fig.merge(Env::prefixed("SCIMBRIDGE_").only(&[
            "database_url",
            "bind",
            "public_url",
            "master_key",
            "log_format",
            "workers",
            "allow_private_targets",
            "run_worker",
            "job_lease_secs",
            "event_retention_days",
            "prune_interval_secs",
            "guard_settle_secs",
            "auto_pause_after",
            "reconcile_check_secs",
            "worker_yield_rps",
            "require_totp",
            "sqlite_busy_timeout_ms",
            "api_rate_per_minute",
            "smtp_url",
            "smtp_from",
            "notify_poll_ms",
            "notify_batch_secs",
            "notify_retry_secs",
            "notify_idp_quiet_secs",
            "notify_token_warning_days",
            "notify_failure_percent",
            "notify_failure_min_calls",
        ]));
        let mut cfg: Config = fig
            .extract()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        notify::RetrySchedule::parse(&cfg.notify_retry_secs)
            .map_err(|e| ConfigError::Invalid(format!("notify_retry_secs: {e}")))?;
        if let Some(u) = &cfg.public_url {
            cfg.public_url = Some(u.trim_end_matches('/').to_string());
        }
        Ok(cfg)
    }

    /// The public base URL without a trailing slash.
    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.bind))
    }

    /// The SCIM base URL of an integration.
    pub fn scim_url(&self, integration_id: &str) -> String {
        format!("{}/scim/v2/{integration_id}", self.public_url())
    }

    /// Where the generated master key lives: beside the SQLite file, else `./data`.
    pub fn data_dir(&self) -> PathBuf {
        if let Some(path) = self.database_url.strip_prefix("sqlite://") {
            let path = path.split('?').next().unwrap_or(path);
            if let Some(parent) = Path::new(path).parent()
                && !parent.as_os_str().is_empty()
            {
                return parent.to_path_buf();
            }
            return PathBuf::from(".");
        }
        PathBuf::from("data")
    }
}
