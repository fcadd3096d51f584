//! Stand-alone fake ActiveCampaign API v3 server for demos and benchmarks.
//!
//! Prints one JSON line on stdout, e.g.
//! `{"base_url":"http://127.0.0.1:4010/api/3","tokens":["t1"],"account":"account1",
//!   "owner_user_id":"1","rate_limit":5,"groups":{"Admin":"3","Manager":"4"}}`
//! and then serves until SIGINT (Ctrl-C) or SIGTERM; then prints a second line with what it
//! saw, e.g. `{"requests":420,"admitted":418,"by_status":{"200":300,"201":118,"429":2},
//! "max_admitted_in_any_second":5}`, and exits.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use rand::Rng;
use serde_json::{Map, Value, json};
use testkit::fake_activecampaign::{
    AccountConfig, FakeActiveCampaign, FakeConfig, OwnerConfig, RetryAfter, max_in_any_window,
};

#[derive(Debug, Parser)]
#[command(
    name = "fake-activecampaign",
    about = "Fake ActiveCampaign API v3 (users, groups) for scimbridge tests and demos"
)]
struct Args {
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// API token of the account (repeatable). A random one is generated if none is given.
    #[arg(long = "token")]
    tokens: Vec<String>,
    /// Requests per second for the account (0 = unlimited).
    #[arg(long, default_value_t = 5)]
    rate_limit: u32,
    /// Comma-separated permission groups to create (the built-in "Admin" always exists).
    #[arg(long, default_value = "")]
    groups: String,
    /// Account name (used in logs only).
    #[arg(long, default_value = "account1")]
    account: String,
    /// Email of the key owner (user id "1").
    #[arg(long, default_value = "owner@example.com")]
    owner_email: String,
    /// Artificial latency per response, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Probability (0..1) of answering a request with 503.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Fixed Retry-After seconds on 429 (default: computed, i.e. 1).
    #[arg(long)]
    retry_after: Option<u64>,
    /// Accept PUT /users/{id} without `group` (default: the recorded 422).
    #[arg(long)]
    lenient_update: bool,
    /// HTTP worker threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
}

fn random_token() -> String {
    let mut rng = rand::thread_rng();
    (0..72)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
        .collect()
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let tokens = if args.tokens.is_empty() {
        vec![random_token()]
    } else {
        args.tokens.clone()
    };
    let groups: Vec<String> = args
        .groups
        .split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(str::to_owned)
        .collect();
    let account = AccountConfig {
        name: args.account.clone(),
        tokens: tokens.clone(),
        recycled_tokens: Vec::new(),
        rate_limit: args.rate_limit,
        owner: OwnerConfig {
            email: args.owner_email.clone(),
            ..OwnerConfig::default()
        },
        groups,
        local_zoneid: "America/New_York".to_owned(),
    };
    let mut config = FakeConfig {
        port: args.port,
        accounts: vec![account],
        latency: Duration::from_millis(args.latency_ms),
        error_503_probability: args.error_rate.clamp(0.0, 1.0),
        workers: args.workers,
        ..FakeConfig::default()
    };
    if let Some(secs) = args.retry_after {
        config.retry_after = RetryAfter::Fixed(secs);
    }
    if args.lenient_update {
        config.quirks.require_group_on_update = false;
    }

    let fake = match FakeActiveCampaign::try_start(config).await {
        Ok(fake) => fake,
        Err(e) => {
            eprintln!("fake-activecampaign: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let snapshot = fake.account_state(&args.account);
    let mut group_ids = Map::new();
    let mut owner_id = String::new();
    if let Some(snap) = &snapshot {
        owner_id.clone_from(&snap.owner_user_id);
        for g in &snap.groups {
            group_ids.insert(g.title.clone(), Value::String(g.id.clone()));
        }
    }
    let line = json!({
        "base_url": fake.base_url(),
        "tokens": tokens,
        "account": args.account,
        "owner_user_id": owner_id,
        "rate_limit": args.rate_limit,
        "groups": group_ids,
    });
    let mut stdout = std::io::stdout();
    if writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }

    wait_for_stop().await;
    // What the fake saw, for benchmarks: did the client stay within the account's limit?
    let log = fake.request_log();
    let mut by_status = Map::new();
    for e in &log {
        let n = by_status
            .entry(e.status.to_string())
            .or_insert(Value::from(0u64));
        *n = Value::from(n.as_u64().unwrap_or(0) + 1);
    }
    let admitted: Vec<Duration> = log
        .iter()
        .filter(|e| e.admitted)
        .map(|e| e.since_start)
        .collect();
    let summary = json!({
        "requests": log.len(),
        "admitted": admitted.len(),
        "by_status": by_status,
        "max_admitted_in_any_second": max_in_any_window(&admitted, Duration::from_secs(1)),
    });
    let _ = writeln!(stdout, "{summary}").and_then(|()| stdout.flush());
    fake.stop().await;
    ExitCode::SUCCESS
}

/// Returns on Ctrl-C (SIGINT) or, on Unix, SIGTERM.
async fn wait_for_stop() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("fake-activecampaign: cannot wait for Ctrl-C: {e}");
        std::future::pending::<()>().await;
    }
}
