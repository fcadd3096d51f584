//! The command line. Every command that creates something prints one JSON object on stdout so
//! scripts can consume it; diagnostics go to stderr.

use crate::config::Config;
use crate::staff::Actor;
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;
use std::io::Read;
use std::path::PathBuf;
use store::Store;

/// scimbridge: a SCIM 2.0 bridge for apps without SCIM.
#[derive(Debug, Parser)]
#[command(name = "scimbridge", version, about)]
pub struct Cli {
    /// Optional TOML configuration file (environment variables override it).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// More log output on stderr: `-v` info, `-vv` debug (commands other than `serve` print
    /// only warnings and errors by default; `RUST_LOG` overrides both).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Run the command on a remote server through its admin API (`https://host`) instead of
    /// the local database; needs `--api-token`. Tenants, integrations, tokens, jobs and staff.
    #[arg(
        long,
        global = true,
        env = "SCIMBRIDGE_API_URL",
        requires = "api_token"
    )]
    pub api: Option<String>,
    /// The API token for `--api` (`sbapi_…`).
    #[arg(
        long,
        global = true,
        env = "SCIMBRIDGE_API_TOKEN",
        hide_env_values = true
    )]
    pub api_token: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
#[expect(
    clippy::large_enum_variant,
    reason = "parsed once per process; boxing would only obscure the clap derive"
)]
pub enum Command {
    /// Run the server (migrates the database first).
    Serve,
    /// Ask a running server whether it is ready (`GET /readyz`): exit 0 when it is, 1 with
    /// the reason otherwise. For container health checks (the image has no curl).
    Health {
        /// Base URL of the server; default: the configured bind address (a wildcard address
        /// such as 0.0.0.0 is asked on loopback).
        #[arg(long)]
        url: Option<String>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Manage tenants.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Manage staff accounts.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Manage integrations.
    Integration {
        #[command(subcommand)]
        command: IntegrationCommand,
    },
    /// Manage SCIM tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Admin API tokens (for bootstrapping automation from the server's shell).
    ApiToken {
        #[command(subcommand)]
        command: ApiTokenCommand,
    },
    /// Inspect and retry outbound provisioning jobs.
    Job {
        #[command(subcommand)]
        command: JobCommand,
    },
    /// The deletion guard: removals held for an admin's approval.
    Guard {
        #[command(subcommand)]
        command: GuardCommand,
    },
    /// Reconciliation: import the target's accounts now (through the shared rate limiter;
    /// continues an interrupted import) and print the report: orphaned accounts, drift,
    /// missing accounts and seats.
    Reconcile {
        #[arg(long)]
        integration: String,
        /// Also fix drift: adopt matched accounts, and queue every drifted or missing user for
        /// the worker (through the planner, the rate limiter and the deletion guard).
        #[arg(long)]
        apply: bool,
        /// Print one JSON object: `{"orphaned", "drift", "missing", "seats", "key_owner"}`
        /// (and `"applied"` with `--apply`, `"deprovisioned"` with `--deprovision-orphan`).
        #[arg(long)]
        json: bool,
        /// Deprovision this orphaned account (its id in the target; repeatable) as the
        /// integration's policy removes access, through the deletion guard. The report printed
        /// is the one before.
        #[arg(long = "deprovision-orphan", value_name = "TARGET_ID")]
        deprovision_orphan: Vec<String>,
    },
    /// Copy the SQLite database to FILE while `serve` runs (PostgreSQL: use `pg_dump -Fc`).
    /// Prints `{"backup": FILE, "bytes": N}`.
    Backup {
        /// The backup file to write (mode 0600).
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum GuardCommand {
    /// Prints `{"held": true|false, "users": [...]}`.
    Show {
        #[arg(long)]
        integration: String,
    },
    /// Carries out every held removal.
    Approve {
        #[arg(long)]
        integration: String,
    },
    /// Drops every held removal and keeps the accounts.
    Discard {
        #[arg(long)]
        integration: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApiTokenCommand {
    /// Create an API token owned by a staff account, with that account's role and scope.
    /// Prints `{"token": "...", "prefix": "..."}`; the token is shown this once.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
}

#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// List an integration's failed jobs with their reasons.
    Failed {
        #[arg(long)]
        integration: String,
    },
    /// Retry an integration's failed jobs (all, or one with --job).
    Retry {
        #[arg(long)]
        integration: String,
        #[arg(long)]
        job: Option<i64>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant.
    Create {
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StaffRole {
    PlatformAdmin,
    TenantAdmin,
    Support,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a staff account; the password is read from stdin.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, value_enum)]
        role: StaffRole,
        /// Required for tenant admins.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Invite someone: prints a one-time link with which they set their own password.
    Invite {
        #[arg(long)]
        email: String,
        #[arg(long, value_enum)]
        role: StaffRole,
        /// Required for tenant admins.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Print a one-time password-reset link for an account (a new invitation link while the
    /// account has no password yet).
    ResetLink {
        #[arg(long)]
        email: String,
    },
    /// Give an account another role.
    SetRole {
        #[arg(long)]
        email: String,
        #[arg(long, value_enum)]
        role: StaffRole,
        /// Required for tenant admins.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Remove an account (never the last platform admin who can sign in).
    Remove {
        #[arg(long)]
        email: String,
    },
    /// Remove a staff member's TOTP second factor and recovery codes (a locked-out admin);
    /// they enrol again at their next sign-in where TOTP is required.
    ResetTotp {
        #[arg(long)]
        email: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Mode {
    Live,
    DryRun,
}

#[derive(Debug, Subcommand)]
pub enum IntegrationCommand {
    /// Create an active integration and issue its first SCIM token.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        /// Connector kind, e.g. `activecampaign`.
        #[arg(long)]
        connector: String,
        /// Non-secret setting, `key=value` (repeatable).
        #[arg(long = "setting", value_parser = parse_kv)]
        settings: Vec<(String, String)>,
        /// Secret setting, `key=value` (repeatable); encrypted at rest.
        #[arg(long = "secret", value_parser = parse_kv)]
        secrets: Vec<(String, String)>,
        #[arg(long)]
        default_role: Option<String>,
        #[arg(long, value_enum, default_value = "live")]
        mode: Mode,
        /// Role mapping, highest priority first: `app_role:Admin=Admin`,
        /// `group:Sales Managers=Manager`, `filter:title eq "Sales Manager"=User`.
        #[arg(long = "role-rule")]
        role_rules: Vec<String>,
        /// What `active=false` does: `role:<target role>` (default `role:No access`),
        /// `deactivate` (targets with a native deactivate), `delete` or `ignore`.
        #[arg(long, default_value = "role:No access")]
        deprovision: String,
        /// What happens to an active user no rule matches: `default` (the default role),
        /// `deprovision` or `keep`. Default: `default` with a default role, else `deprovision`.
        #[arg(long)]
        unmatched: Option<String>,
        /// When an account exists: `assignment` (while assigned) or `groups` (only while a
        /// member of a group that a rule maps).
        #[arg(long, default_value = "assignment")]
        lifecycle: String,
        /// IdP groups created in the target: `none`, `ruled` (those named in rules) or `all`.
        /// Default `none`, or `all` with the connector setting `push_groups=true`.
        #[arg(long)]
        push_groups: Option<String>,
        /// The deletion guard: `USERS,PERCENT%` (hold when more than USERS users and more than
        /// PERCENT % of the linked users would be removed within an hour) or `off`.
        #[arg(long, default_value = "10,20%")]
        delete_guard: String,
        /// A JSON file holding one SCIM schema resource (RFC 7643 §7) that extends the
        /// integration's User type, e.g. the target app's custom attributes (repeatable).
        #[arg(long = "extension-schema", value_name = "FILE.json")]
        extension_schemas: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue another token for an integration (rotation without downtime).
    Issue {
        #[arg(long)]
        integration: String,
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// Revoke a token by its display prefix.
    Revoke {
        #[arg(long)]
        integration: String,
        #[arg(long)]
        prefix: String,
    },
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("expected key=value, got '{s}'"))
}

/// Errors of CLI commands.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("database: {0}")]
    Store(#[from] store::StoreError),
    #[error("{0}")]
    Invalid(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("not ready: {0}")]
    NotReady(String),
}

impl From<crate::manage::ManageError> for CliError {
    fn from(e: crate::manage::ManageError) -> Self {
        use crate::manage::ManageError;
        match e {
            ManageError::Invalid(m) | ManageError::Conflict(m) => CliError::Invalid(m),
            // The CLI's flag for the field, e.g. `--role-rule` for `role_rules`.
            ManageError::Field(field, m) => {
                let flag = match field {
                    "role_rules" => "role-rule".to_string(),
                    "extension_schemas" => "extension-schema".to_string(),
                    other => other.replace('_', "-"),
                };
                CliError::Invalid(format!("--{flag}: {m}"))
            }
            ManageError::NotFound => CliError::Invalid("not found".into()),
            ManageError::Store(e) => CliError::Store(e),
        }
    }
}

impl From<crate::staff::StaffError> for CliError {
    fn from(e: crate::staff::StaffError) -> Self {
        use crate::staff::StaffError;
        match e {
            StaffError::Invalid(m) | StaffError::Forbidden(m) => CliError::Invalid(m),
            StaffError::NotFound => CliError::Invalid("no such staff account".into()),
            StaffError::Store(e) => CliError::Store(e),
        }
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    let config = Config::load(cli.config.as_deref())?;
    // The server logs what it does; a command is quiet unless something is wrong (the
    // migration lines of every command were noise on stderr).
    let level = match (cli.verbose, &cli.command) {
        (0, Command::Serve) | (1, _) => "info",
        (0, _) => "warn",
        _ => "debug",
    };
    crate::init_tracing(&config.log_format, level);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if let (Some(api), Some(token)) = (&cli.api, &cli.api_token) {
        // Touches neither the database nor the master key: the remote server does the work.
        return runtime.block_on(crate::cli_remote::run(api, token, cli.command));
    }
    if let Command::Health { url } = &cli.command {
        // Touches neither the database nor the master key: it asks the server.
        let url = url.clone().unwrap_or_else(|| local_url(&config.bind));
        return runtime.block_on(health(&url));
    }
    runtime.block_on(run_async(config, cli.command))
}

/// `http://` + the bind address, a wildcard host replaced by loopback.
fn local_url(bind: &str) -> String {
    let (host, port) = bind.rsplit_once(':').unwrap_or((bind, "8080"));
    let host = match host {
        "0.0.0.0" | "" => "127.0.0.1",
        "[::]" | "::" => "[::1]",
        h => h,
    };
    format!("http://{host}:{port}")
}

/// `GET <base>/readyz`: Ok when it answers 200, else why not (one line).
async fn health(base: &str) -> Result<(), CliError> {
    let url = format!("{}/readyz", base.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| CliError::NotReady(format!("cannot build an HTTP client: {e}")))?;
    let response = client.get(&url).send().await.map_err(|e| {
        let why = if e.is_timeout() {
            "no answer within 5 s".to_string()
        } else if e.is_connect() {
            "nothing answers there".to_string()
        } else {
            e.to_string()
        };
        CliError::NotReady(format!("{url}: {why}"))
    })?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let first_line = body.lines().next().unwrap_or_default().trim();
    if status == reqwest::StatusCode::OK {
        println!(
            "{}",
            if first_line.is_empty() {
                "ok"
            } else {
                first_line
            }
        );
        Ok(())
    } else {
        Err(CliError::NotReady(format!(
            "{url} answered {status}: {}",
            first_line.chars().take(200).collect::<String>()
        )))
    }
}

/// The configured master key, or the key file in the data folder (created on first use).
pub fn master_key(config: &Config) -> Result<store::MasterKey, CliError> {
    Ok(match &config.master_key {
        Some(k) => store::crypto::MasterKey::from_base64(k).map_err(|_| {
            CliError::Invalid("SCIMBRIDGE_MASTER_KEY is not a base64 32-byte key".into())
        })?,
        None => store::crypto::load_or_create_key_file(config.data_dir().join("master.key"))?,
    })
}

/// Opens the configured store with `key` and migrates it.
pub async fn open_store(config: &Config, key: store::MasterKey) -> Result<Store, CliError> {
    let opts = store::StoreOptions {
        sqlite_busy_timeout: std::time::Duration::from_millis(config.sqlite_busy_timeout_ms),
        ..Default::default()
    };
    let store = Store::connect_with(&config.database_url, key, opts).await?;
    store.migrate().await?;
    Ok(store)
}

/// A fresh one-time link token (144 random bits).
fn new_link_token() -> String {
    crate::ui::session::random_token(18)
}

/// Prints a staff link: the operator passes it on (no e-mail is sent).
fn print_link(config: &Config, link: &crate::staff::Link) {
    print(json!({
        "id": link.user.id,
        "email": link.user.email,
        "link": link.url(&config.public_url()),
        "purpose": link.purpose.as_str(),
        "expires_at": link.expires_at,
    }));
}

impl From<StaffRole> for store::StaffRole {
    fn from(r: StaffRole) -> Self {
        match r {
            StaffRole::PlatformAdmin => store::StaffRole::PlatformAdmin,
            StaffRole::TenantAdmin => store::StaffRole::TenantAdmin,
            StaffRole::Support => store::StaffRole::Support,
        }
    }
}

pub(crate) fn print(v: serde_json::Value) {
    println!("{v}");
}

async fn run_async(config: Config, command: Command) -> Result<(), CliError> {
    let key = master_key(&config)?;
    if let Command::Backup { to, force } = &command {
        return backup(&config, key, to, *force).await;
    }
    let store = open_store(&config, key.clone()).await?;
    let now = chrono::Utc::now().timestamp_millis();
    match command {
        Command::Serve => crate::app::serve(config, store, &key).await?,
        Command::Health { .. } => unreachable_health()?,
        Command::Migrate => print(json!({"migrated": true})),
        Command::Tenant {
            command: TenantCommand::Create { name },
        } => {
            let t = crate::manage::create_tenant(&store, &Actor::cli(), &name, now).await?;
            print(json!({"id": t.id, "name": t.name}));
        }
        Command::Admin {
            command:
                AdminCommand::Create {
                    email,
                    role,
                    tenant,
                },
        } => {
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']);
            if password.chars().count() < 12 {
                return Err(CliError::Invalid(
                    "the password (read from stdin) must have at least 12 characters".into(),
                ));
            }
            let hash = crate::password::hash(password).map_err(CliError::Invalid)?;
            let new = crate::staff::NewStaff {
                email: &email,
                role: Some(role.into()),
                tenant: tenant.as_deref(),
            };
            let user =
                crate::staff::create_with_password(&store, &Actor::cli(), &new, hash, now).await?;
            print(
                json!({"id": user.id, "email": user.email, "role": user.role, "tenant": user.tenant_id}),
            );
        }
        Command::Admin {
            command:
                AdminCommand::Invite {
                    email,
                    role,
                    tenant,
                },
        } => {
            let new = crate::staff::NewStaff {
                email: &email,
                role: Some(role.into()),
                tenant: tenant.as_deref(),
            };
            let link =
                crate::staff::invite(&store, &Actor::cli(), &new, new_link_token(), now).await?;
            print_link(&config, &link);
        }
        Command::Admin {
            command: AdminCommand::ResetLink { email },
        } => {
            let user = crate::staff::by_email(&store, &email).await?;
            let link =
                crate::staff::send_link(&store, &Actor::cli(), &user.id, new_link_token(), now)
                    .await?;
            print_link(&config, &link);
        }
        Command::Admin {
            command:
                AdminCommand::SetRole {
                    email,
                    role,
                    tenant,
                },
        } => {
            let user = crate::staff::by_email(&store, &email).await?;
            let (before, after) = crate::staff::change_role(
                &store,
                &Actor::cli(),
                &user.id,
                Some(role.into()),
                tenant.as_deref(),
                now,
            )
            .await?;
            print(json!({
                "id": after.id, "email": after.email,
                "role": after.role, "tenant": after.tenant_id, "was": before.role,
            }));
        }
        Command::Admin {
            command: AdminCommand::Remove { email },
        } => {
            let user = crate::staff::by_email(&store, &email).await?;
            let gone = crate::staff::remove(&store, &Actor::cli(), &user.id, now).await?;
            print(json!({"id": gone.id, "email": gone.email, "removed": true}));
        }
        Command::Admin {
            command: AdminCommand::ResetTotp { email },
        } => {
            let user = store
                .find_staff_by_email(email.trim())
                .await?
                .ok_or_else(|| CliError::Invalid(format!("no staff account {}", email.trim())))?;
            let was_enabled = store.delete_totp(&user.id).await?;
            store
                .record_audit(store::NewAudit {
                    at: now,
                    tenant_id: user.tenant_id.clone(),
                    actor_id: None,
                    actor_email: "cli".into(),
                    action: "staff.totp_reset".into(),
                    target_kind: "staff_user".into(),
                    target_id: Some(user.id.clone()),
                    detail: None,
                })
                .await?;
            print(json!({"id": user.id, "email": user.email, "totp_reset": was_enabled}));
        }
        Command::Integration {
            command:
                IntegrationCommand::Create {
                    tenant,
                    name,
                    connector,
                    settings,
                    secrets,
                    default_role,
                    mode,
                    role_rules,
                    deprovision,
                    unmatched,
                    lifecycle,
                    push_groups,
                    delete_guard,
                    extension_schemas,
                },
        } => {
            if store.get_tenant(&tenant).await?.is_none() {
                return Err(CliError::Invalid(format!("no tenant {tenant}")));
            }
            let spec = crate::manage::IntegrationSpec {
                settings: settings
                    .into_iter()
                    .map(|(k, v)| (k, serde_json::Value::String(v)))
                    .collect(),
                secrets: secrets.into_iter().collect(),
                default_role,
                mode: match mode {
                    Mode::Live => store::IntegrationMode::Live,
                    Mode::DryRun => store::IntegrationMode::DryRun,
                },
                role_rules,
                deprovision,
                unmatched,
                lifecycle,
                push_groups,
                delete_guard,
                extension_schemas: read_extension_schemas(&extension_schemas)?,
                ..crate::manage::IntegrationSpec::new(&tenant, &name, &connector)
            };
            let (integration, issued) = crate::manage::create_integration(
                &store,
                &Actor::cli(),
                spec,
                store::IntegrationStatus::Active,
                config.allow_private_targets,
                now,
            )
            .await?;
            let issued = issued.ok_or_else(|| CliError::Invalid("no token issued".into()))?;
            print(
                json!({"id": integration.id, "scim_url": config.scim_url(&integration.id), "token": issued.token, "prefix": issued.prefix}),
            );
        }
        Command::Token {
            command:
                TokenCommand::Issue {
                    integration,
                    expires_in_days,
                },
        } => {
            let Some(i) = store.get_integration_unscoped(&integration).await? else {
                return Err(CliError::Invalid(format!("no integration {integration}")));
            };
            let expires = expires_in_days.map(|d| now + i64::from(d) * 86_400_000);
            let issued =
                crate::manage::issue_scim_token(&store, &Actor::cli(), &i, expires, now).await?;
            print(
                json!({"token": issued.token, "scim_url": config.scim_url(&integration), "prefix": issued.prefix, "expires_at": expires}),
            );
        }
        Command::Token {
            command:
                TokenCommand::Revoke {
                    integration,
                    prefix,
                },
        } => {
            let no_token = || {
                CliError::Invalid(format!(
                    "no active token with prefix {prefix} on integration {integration}"
                ))
            };
            let Some(i) = store.get_integration_unscoped(&integration).await? else {
                return Err(no_token());
            };
            match crate::manage::revoke_scim_token(&store, &Actor::cli(), &i, &prefix, now).await {
                Err(crate::manage::ManageError::NotFound) => return Err(no_token()),
                other => other?,
            }
            print(json!({"revoked": prefix}));
        }
        Command::ApiToken {
            command:
                ApiTokenCommand::Create {
                    email,
                    name,
                    expires_in_days,
                },
        } => {
            let owner = crate::staff::by_email(&store, email.trim())
                .await
                .map_err(|_| CliError::Invalid(format!("no staff account {}", email.trim())))?;
            let req = crate::api_tokens::TokenRequest {
                name: &name,
                expires_in_days: expires_in_days.map(i64::from),
                ..Default::default()
            };
            let issued = crate::api_tokens::create(
                &store,
                &Actor::cli(),
                &owner,
                &req,
                store::generate_api_token(),
                now,
            )
            .await?;
            print(json!({"token": issued.token, "prefix": issued.info.prefix}));
        }
        Command::Job {
            command: JobCommand::Failed { integration },
        } => {
            let jobs: Vec<serde_json::Value> = store
                .list_failed_jobs(&integration)
                .await?
                .into_iter()
                .map(|j| json!({"id": j.id, "subject_kind": j.subject_kind, "subject_id": j.subject_id, "attempts": j.attempts, "last_error": j.last_error, "updated_at": j.updated_at, "correlation_id": j.correlation_id}))
                .collect();
            print(json!({"failed": jobs}));
        }
        Command::Job {
            command: JobCommand::Retry { integration, job },
        } => {
            let n = store.retry_failed_jobs(&integration, job, now).await?;
            print(json!({"retried": n}));
        }
        Command::Guard { command } => {
            let (GuardCommand::Show { integration }
            | GuardCommand::Approve { integration }
            | GuardCommand::Discard { integration }) = &command;
            let Some(i) = store.get_integration_unscoped(integration).await? else {
                return Err(CliError::Invalid(format!("no integration {integration}")));
            };
            let rec = crate::connectors::reconciler(&store, config.allow_private_targets);
            let out = match command {
                GuardCommand::Show { .. } => {
                    serde_json::to_value(crate::reconcile_service::guard_state(&rec, &i).await?)
                }
                // The same approval as the Overview's banner: held orphaned accounts are
                // deprovisioned now too.
                GuardCommand::Approve { .. } => {
                    let approval =
                        crate::reconcile_service::approve_guard(&rec, &Actor::cli(), &i, now)
                            .await?;
                    let mut out = serde_json::to_value(&approval.approved).unwrap_or_default();
                    if crate::reconcile_service::approval_had_orphans(&approval) {
                        out["orphans"] = json!({
                            "done": approval.orphans.done,
                            "held": approval.orphans.held,
                            "error": approval.orphans_error,
                        });
                    }
                    Ok(out)
                }
                GuardCommand::Discard { .. } => serde_json::to_value(
                    crate::reconcile_service::discard_guard(&rec, &Actor::cli(), &i, now).await?,
                ),
            };
            print(out.unwrap_or_default());
        }
        Command::Reconcile {
            integration,
            apply,
            json,
            deprovision_orphan,
        } => {
            reconcile(
                &config,
                &store,
                &integration,
                apply,
                json,
                &deprovision_orphan,
            )
            .await?
        }
        // Handled before the store is migrated.
        Command::Backup { .. } => {}
    }
    Ok(())
}

impl From<provisioning::reconcile::ReconcileError> for CliError {
    fn from(e: provisioning::reconcile::ReconcileError) -> Self {
        match e {
            provisioning::reconcile::ReconcileError::Store(e) => CliError::Store(e),
            other => CliError::Invalid(other.to_string()),
        }
    }
}

/// `scimbridge reconcile`: import now through the same driver as the scheduled runs, then
/// print the report (and fix drift with `--apply`).
async fn reconcile(
    config: &Config,
    store: &Store,
    integration: &str,
    apply: bool,
    as_json: bool,
    orphans: &[String],
) -> Result<(), CliError> {
    use crate::reconcile_service as service;
    let Some(i) = store.get_integration_unscoped(integration).await? else {
        return Err(CliError::Invalid(format!("no integration {integration}")));
    };
    let rec = crate::connectors::reconciler(store, config.allow_private_targets);
    let actor = Actor::cli();
    let lease = std::time::Duration::from_secs(config.job_lease_secs.max(1));
    let imported = service::import_and_wait(
        &rec,
        &actor,
        &i,
        lease,
        chrono::Utc::now().timestamp_millis(),
    )
    .await?;
    let analysis = rec.analyze(&i).await?;
    let deprovisioned = if orphans.is_empty() {
        None
    } else {
        Some(service::deprovision_orphans(&rec, &actor, &i, orphans).await?)
    };
    let applied = if apply {
        Some(service::fix_drift(&rec, &actor, &i).await?)
    } else {
        None
    };
    if as_json {
        let mut v = serde_json::to_value(analysis.report()).unwrap_or_default();
        if let Some(a) = applied {
            v["applied"] = serde_json::to_value(a).unwrap_or_default();
        }
        if let Some(d) = &deprovisioned {
            v["deprovisioned"] = serde_json::to_value(d).unwrap_or_default();
        }
        print(v);
        return Ok(());
    }
    println!(
        "{}",
        crate::reconcile_text::render(&i.name, imported, &analysis, applied.as_ref())
    );
    if let Some(d) = deprovisioned {
        println!(
            "orphans deprovisioned: {}; held by the deletion guard: {}",
            d.done.join(", "),
            d.held.join(", ")
        );
    }
    Ok(())
}

/// `health` is answered in [`run`], before the store is opened.
fn unreachable_health() -> Result<(), CliError> {
    Err(CliError::Invalid(
        "health is handled before the store opens".into(),
    ))
}

/// `scimbridge backup`: copies the database as it is (no migration first, so the copy is
/// exactly what the running server uses).
async fn backup(
    config: &Config,
    key: store::MasterKey,
    to: &std::path::Path,
    force: bool,
) -> Result<(), CliError> {
    if !config.database_url.starts_with("sqlite:") {
        return Err(CliError::Invalid(PG_BACKUP_HELP.into()));
    }
    let store = Store::connect(&config.database_url, key).await?;
    let written = store.backup_sqlite(to, force).await;
    store.close().await?;
    match written {
        Ok(bytes) => {
            print(json!({"backup": to, "bytes": bytes}));
            Ok(())
        }
        Err(store::BackupError::NotSqliteFile) => Err(CliError::Invalid(
            "backup needs a SQLite database file (an in-memory database has nothing to copy)"
                .into(),
        )),
        Err(e) => Err(CliError::Invalid(format!("backup failed: {e}"))),
    }
}

/// What `backup` says on PostgreSQL.
const PG_BACKUP_HELP: &str = "scimbridge backup copies SQLite databases only. On PostgreSQL use \
pg_dump, which takes a consistent snapshot while scimbridge runs:\n\
    pg_dump -Fc --no-owner -f scimbridge.dump \"$SCIMBRIDGE_DATABASE_URL\"\n\
and restore into an empty database (stop scimbridge first):\n\
    pg_restore --no-owner --exit-on-error -d \"$SCIMBRIDGE_DATABASE_URL\" scimbridge.dump\n\
Keep the master key with the dump: the integrations' secrets cannot be read without it.";

/// Reads `--extension-schema` files, each one schema resource; any invalid file is an error
/// naming it (checked before anything is created).
pub(crate) fn read_extension_schemas(
    paths: &[PathBuf],
) -> Result<Vec<scim_core::schema::Schema>, CliError> {
    let mut schemas: Vec<scim_core::schema::Schema> = Vec::with_capacity(paths.len());
    for path in paths {
        let bad = |why: String| {
            CliError::Invalid(format!("--extension-schema {}: {why}", path.display()))
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let doc: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        let schema = scim_core::extension::parse_schema(&doc).map_err(|e| bad(e.detail))?;
        if schemas
            .iter()
            .any(|s| s.id.eq_ignore_ascii_case(&schema.id))
        {
            return Err(bad(format!("the schema '{}' is given twice", schema.id)));
        }
        schemas.push(schema);
    }
    Ok(schemas)
}
