//! The scimbridge application: configuration, CLI, the actix-web server with the SCIM API, and
//! the background event writer. `main.rs` only parses arguments and calls into here.

pub mod access;
pub mod api;
pub mod api_tokens;
pub mod app;
pub mod cli;
pub mod cli_remote;
pub mod config;
pub mod connectors;
pub mod events;
pub mod integration_settings;
pub mod manage;
pub mod notifier;
pub mod ops;
pub mod password;
pub mod reconcile_service;
pub mod reconcile_text;
pub mod scim;
pub mod staff;
pub mod target_error;
pub mod totp;
pub mod ui;

/// The version shown in asset URLs (cache busting) and `--version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Installs the tracing subscriber once (`json` or `text`). `RUST_LOG` filters when set;
/// otherwise `default_level` (e.g. `info` for the server, `warn` for a CLI command).
pub fn init_tracing(format: &str, default_level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
