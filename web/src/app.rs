//! Application state and the HTTP server.

use crate::config::Config;
use crate::events::EventSink;
use crate::scim;
use actix_web::{App, HttpServer, web};
use provisioning::Directory;
use provisioning::engine::{Worker, WorkerConfig};
use std::sync::Arc;
use store::Store;

/// Shared state of every request handler.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub directory: Directory,
    pub tokens: Arc<scim::auth::TokenCache>,
    pub events: EventSink,
    pub ui: Arc<crate::ui::UiState>,
    pub ops: Arc<crate::ops::Ops>,
    /// The admin API's per-token rate limiter.
    pub api: Arc<crate::api::ApiState>,
}

impl AppState {
    /// State over an open store; starts the event writer. UI session keys derive from
    /// `master_key`.
    pub fn new(
        config: Config,
        store: Store,
        master_key: &store::MasterKey,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (events, writer) = EventSink::start(store.clone());
        let ui = crate::ui::UiState::new(master_key, &config.public_url());
        let api = Arc::new(crate::api::ApiState::new(config.api_rate_per_minute));
        let state = Self {
            ui,
            api,
            config: Arc::new(config),
            directory: Directory::new(store),
            tokens: Arc::new(scim::auth::TokenCache::default()),
            events,
            ops: Arc::default(),
        };
        (state, writer)
    }

    /// The store.
    pub fn store(&self) -> &Store {
        self.directory.store()
    }

    /// The reconciler with this server's connectors (guard, imports, drift, Apply to all).
    pub fn reconciler(&self) -> provisioning::reconcile::Reconciler {
        crate::connectors::reconciler(self.store(), self.config.allow_private_targets)
    }
}

/// Registers every route on an actix `App`.
pub fn configure(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(state));
        cfg.route("/healthz", web::get().to(|| async { "ok" }));
        crate::ops::configure(cfg);
        scim::configure(cfg);
        crate::api::configure(cfg);
        // Last, and in a scope of its own: its middleware (403/404 pages keep the shell)
        // touches no SCIM or probe request.
        cfg.service(
            web::scope("")
                .wrap(actix_web::middleware::from_fn(crate::ui::keep_the_shell))
                .configure(crate::ui::configure),
        );
    }
}

/// With no staff account yet, arms and prints the one-time first-run setup link. It goes to
/// stdout only (never into the structured log), like a password printed once by an installer.
async fn announce_setup(state: &AppState, public_url: &str) {
    match state.store().count_staff_users().await {
        Ok(0) => {
            // Each instance stores (the hash of) a new token: the tokens other instances
            // printed stay valid, and the plaintext exists only on this stdout.
            let token = crate::ui::session::random_token(24);
            let now = chrono::Utc::now().timestamp();
            if let Err(e) = crate::ui::guard::arm(state.store(), &token, now).await {
                tracing::warn!(error = %e, "could not store the first-run setup token");
                return;
            }
            let minutes = crate::ui::guard::SETUP_TTL_SECS / 60;
            println!(
                "\nscimbridge has no admin yet. Create the first one (link valid {minutes} minutes, once):\n\n    {public_url}/setup?token={token}\n"
            );
            tracing::info!("first-run setup link printed on stdout");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not count staff accounts"),
    }
}

/// Runs the server until Ctrl-C / SIGTERM.
pub async fn serve(
    config: Config,
    store: Store,
    master_key: &store::MasterKey,
) -> std::io::Result<()> {
    let bind = config.bind.clone();
    let workers = config.workers;
    let (run_worker, allow_private) = (config.run_worker, config.allow_private_targets);
    let lease = std::time::Duration::from_secs(config.job_lease_secs.max(1));
    let guard_settle = std::time::Duration::from_secs(config.guard_settle_secs);
    let auto_pause_after = config.auto_pause_after;
    let worker_yield_rps = config.worker_yield_rps;
    let reconcile_check = (config.reconcile_check_secs > 0)
        .then(|| std::time::Duration::from_secs(config.reconcile_check_secs));
    let (retention_days, prune_every) = (
        config.event_retention_days,
        std::time::Duration::from_secs(config.prune_interval_secs),
    );
    crate::ops::install_metrics();
    let worker_store = store.clone();
    let notifier = crate::notifier::spawn(
        store.clone(),
        crate::notifier::Settings::from_config(&config),
    );
    let public_url = config.public_url();
    let (state, writer) = AppState::new(config, store, master_key);
    let worker_config = WorkerConfig {
        lease,
        guard_settle,
        auto_pause_after,
        heartbeat: Some(Arc::clone(&state.ops.heartbeat)),
        inbound: Some(Arc::clone(&state.ops.scim_requests)),
        yield_at: worker_yield_rps,
        reconcile_check,
        ..WorkerConfig::default()
    };
    let background = [
        crate::ops::spawn_metrics_upkeep(),
        crate::ops::spawn_heap_trim(crate::ops::HEAP_TRIM_EVERY),
        crate::ops::spawn_retention(state.store().clone(), retention_days, prune_every),
    ];
    let announcer = state.clone();
    // Signals are ours, not actix's: the stop order below matters.
    let mut server = HttpServer::new(move || App::new().configure(configure(state.clone())))
        .bind(&bind)?
        .shutdown_timeout(30)
        .disable_signals();
    announce_setup(&announcer, &public_url).await;
    // Every AppState clone holds the event queue open; the event writer finishes (and `serve`
    // returns after SIGTERM) only once all of them are gone.
    drop(announcer);
    if workers > 0 {
        server = server.workers(workers);
    }
    let (stop_worker, stopped) = tokio::sync::watch::channel(false);
    let worker = run_worker.then(|| {
        let registry = Arc::new(crate::connectors::Registry { allow_private });
        let w = Worker::new(worker_store, registry, worker_config);
        tokio::spawn(w.run(stopped))
    });
    tracing::info!(%bind, worker = run_worker, "scimbridge listening");
    let server = server.run();
    let http = server.handle();
    let mut running = tokio::spawn(server);
    let ended_early = tokio::select! {
        ended = &mut running => Some(ended),
        () = stop_requested() => None,
    };
    // Stop order (Ctrl-C / SIGTERM): first the worker stops claiming and finishes or gives
    // back its in-flight jobs, while everything it uses is still up (a database connection
    // opened by an HTTP worker thread dies with that thread's runtime: stopping HTTP first
    // made the worker's last claims fail); then HTTP stops accepting and finishes its
    // requests; then the queued provisioning events are written.
    let _ = stop_worker.send(true);
    if let Some(w) = worker {
        let _ = w.await;
    }
    let served = match ended_early {
        Some(ended) => ended,
        None => {
            http.stop(true).await;
            running.await
        }
    };
    background.into_iter().flatten().for_each(|t| t.abort());
    notifier.abort();
    let _ = writer.await;
    served.map_err(std::io::Error::other)?
}

/// Resolves at the first Ctrl-C or SIGTERM.
async fn stop_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
                return;
            }
            Err(e) => tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C only"),
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
