//! A fake ActiveCampaign API v3 server (users, permission groups, userGroups).
//!
//! Faithful to `shared/reference/target-apis.md` §1: string ids and counters,
//! `Api-Token` auth with 403s, 201 on create, the recorded 422 and "No Result
//! found" shapes (including the 403 for a missing group), `limit`/`offset`
//! pagination with `meta.total` as a string, and a 5 requests/second sliding
//! window per *account* answered with 429 + `Retry-After`.
//!
//! The server runs on its own thread with its own actix runtime, so it can be
//! used from any test runtime:
//!
//! ```no_run
//! # async fn demo() {
//! use testkit::fake_activecampaign::{FakeActiveCampaign, FakeConfig};
//! let fake = FakeActiveCampaign::start(FakeConfig::with_token("secret")).await;
//! let base = fake.base_url(); // http://127.0.0.1:PORT/api/3
//! # let _ = base;
//! fake.stop().await;
//! # }
//! ```

mod api;
mod config;
mod log;
mod state;

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::json;

pub use config::{
    AccountConfig, AuthFailureBody, DEFAULT_RATE_LIMIT, FakeConfig, MemberLists, OwnerConfig,
    Quirks, RetryAfter, UsernameChange,
};
pub use log::{RequestLogEntry, max_in_any_window};
pub use state::{AccountSnapshot, FakeState, GroupSnapshot, UserGroupSnapshot, UserSnapshot};

use api::{Body, Ctx, Reply};
use state::{Account, NewUserData, ident_key, now_ts};

/// The rate-limit window.
const WINDOW: Duration = Duration::from_secs(1);

/// Errors of the seeding helpers.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FakeError {
    #[error("no account named {0:?}")]
    UnknownAccount(String),
    #[error("no group with id {0:?}")]
    UnknownGroup(String),
    #[error("a user with this {0} already exists")]
    Duplicate(&'static str),
}

/// A user to seed directly into an account (e.g. a pre-existing user for
/// "link, don't duplicate" tests).
#[derive(Debug, Clone, Default)]
pub struct SeedUser {
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub password: String,
    /// Permission-group id; `None` leaves the user without a userGroup link.
    pub group_id: Option<String>,
}

impl SeedUser {
    #[must_use]
    pub fn new(username: impl Into<String>, email: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            email: email.into(),
            password: "seeded-password".to_owned(),
            ..Self::default()
        }
    }

    #[must_use]
    pub fn names(mut self, first: impl Into<String>, last: impl Into<String>) -> Self {
        self.first_name = first.into();
        self.last_name = last.into();
        self
    }

    #[must_use]
    pub fn group(mut self, group_id: impl Into<String>) -> Self {
        self.group_id = Some(group_id.into());
        self
    }
}

/// Mutable state shared by the HTTP workers and the handle.
struct Inner {
    accounts: Vec<Account>,
    outage: bool,
    error_503_probability: f64,
    fail_next_503: u32,
    latency: Duration,
    log: VecDeque<RequestLogEntry>,
}

struct Shared {
    base_url: String,
    quirks: Quirks,
    retry_after: RetryAfter,
    rate_limit_headers: bool,
    max_log_entries: usize,
    started: Instant,
    inner: Mutex<Inner>,
}

/// Outcome of the synchronous part of request handling.
struct Decision {
    reply: Reply,
    headers: Vec<(&'static str, String)>,
    latency: Duration,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Outage → auth → injected 503 → rate limit → resource; logs the result.
    fn decide(
        &self,
        method: &str,
        path: &str,
        query: &str,
        token: Option<&str>,
        body: &[u8],
    ) -> Decision {
        let mut inner = self.lock();
        let now = Instant::now();
        let latency = inner.latency;
        let idx = token.and_then(|t| {
            inner.accounts.iter().position(|a| {
                a.tokens.iter().any(|k| k == t) || a.recycled_tokens.iter().any(|k| k == t)
            })
        });
        let account_name = idx
            .and_then(|i| inner.accounts.get(i))
            .map(|a| a.name.clone());
        let mut headers = Vec::new();
        let mut admitted = false;

        let reply = 'reply: {
            if inner.outage {
                break 'reply service_unavailable();
            }
            let Some(acct) = idx.and_then(|i| inner.accounts.get(i)) else {
                break 'reply self.auth_failure();
            };
            if token.is_some_and(|t| acct.recycled_tokens.iter().any(|k| k == t)) {
                // A reset key: 403 without Content-Type, empty body [lib].
                break 'reply Reply {
                    status: 403,
                    body: Body::Empty,
                };
            }
            if !acct.owner_exists() {
                // The key's user is gone, so the key is dead [inf].
                break 'reply self.auth_failure();
            }
            if inner.fail_next_503 > 0 {
                inner.fail_next_503 -= 1;
                break 'reply service_unavailable();
            }
            if inner.error_503_probability > 0.0
                && rand::random::<f64>() < inner.error_503_probability
            {
                break 'reply service_unavailable();
            }
            let Some(acct) = idx.and_then(|i| inner.accounts.get_mut(i)) else {
                break 'reply self.auth_failure();
            };
            if acct.rate_limit > 0 {
                while let Some(&t) = acct.window.front() {
                    if t + WINDOW <= now {
                        acct.window.pop_front();
                    } else {
                        break;
                    }
                }
                let used = acct.window.len();
                if used >= acct.rate_limit as usize {
                    let secs = match self.retry_after {
                        RetryAfter::Fixed(s) => s,
                        RetryAfter::Computed => acct.window.front().map_or(1, |t| {
                            let wait = (*t + WINDOW).saturating_duration_since(now);
                            wait.as_secs_f64().ceil().max(1.0) as u64
                        }),
                    };
                    headers.push(("Retry-After", secs.to_string()));
                    if self.rate_limit_headers {
                        headers.push(("RateLimit-Limit", acct.rate_limit.to_string()));
                        headers.push(("RateLimit-Remaining", "0".to_owned()));
                    }
                    break 'reply Reply {
                        status: 429,
                        body: Body::Json(json!({ "message": "Too Many Requests" })),
                    };
                }
                acct.window.push_back(now);
                if self.rate_limit_headers {
                    headers.push(("RateLimit-Limit", acct.rate_limit.to_string()));
                    let remaining = (acct.rate_limit as usize).saturating_sub(used + 1);
                    headers.push(("RateLimit-Remaining", remaining.to_string()));
                }
            }
            admitted = true;
            match path.strip_prefix("/api/3") {
                Some(rel) if rel.is_empty() || rel.starts_with('/') => {
                    let ctx = Ctx {
                        base: &self.base_url,
                        quirks: &self.quirks,
                        now: now_ts(&self.quirks),
                    };
                    api::dispatch(acct, &ctx, method, rel, query, body)
                }
                _ => api::generic_not_found(),
            }
        };

        let full_path = if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{query}")
        };
        tracing::debug!(method, path = %full_path, status = reply.status, account = ?account_name, "fake-activecampaign");
        inner.log.push_back(RequestLogEntry {
            at: SystemTime::now(),
            since_start: now.saturating_duration_since(self.started),
            method: method.to_owned(),
            path: full_path,
            status: reply.status,
            account: account_name,
            admitted,
        });
        while inner.log.len() > self.max_log_entries {
            inner.log.pop_front();
        }
        Decision {
            reply,
            headers,
            latency,
        }
    }

    fn auth_failure(&self) -> Reply {
        match self.quirks.auth_failure_body {
            AuthFailureBody::JsonMessage => Reply {
                status: 403,
                body: Body::Json(
                    json!({ "message": "You are not authorized to access this resource" }),
                ),
            },
            AuthFailureBody::Empty => Reply {
                status: 403,
                body: Body::Empty,
            },
        }
    }
}

fn service_unavailable() -> Reply {
    Reply {
        status: 503,
        body: Body::Text("Service Unavailable"),
    }
}

async fn handle_request(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let token = req
        .headers()
        .get("Api-Token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let decision = shared.decide(
        req.method().as_str(),
        req.path(),
        req.query_string(),
        token.as_deref(),
        &body,
    );
    if !decision.latency.is_zero() {
        actix_web::rt::time::sleep(decision.latency).await;
    }
    let status =
        StatusCode::from_u16(decision.reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder = HttpResponse::build(status);
    for (name, value) in decision.headers {
        builder.insert_header((name, value));
    }
    match decision.reply.body {
        Body::Json(value) => builder
            .content_type("application/json")
            .body(value.to_string()),
        Body::Empty => builder.finish(),
        Body::Text(text) => builder.content_type("text/plain; charset=utf-8").body(text),
    }
}

/// A running server thread.
struct Running {
    handle: ServerHandle,
    thread: JoinHandle<()>,
}

async fn spawn_server(
    listener: TcpListener,
    shared: Arc<Shared>,
    workers: usize,
) -> io::Result<Running> {
    let (tx, rx) = tokio::sync::oneshot::channel::<io::Result<ServerHandle>>();
    let thread = std::thread::Builder::new()
        .name("fake-activecampaign".to_owned())
        .spawn(move || {
            let system = actix_web::rt::System::new();
            system.block_on(async move {
                let data = web::Data::from(shared);
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .app_data(web::PayloadConfig::new(4 * 1024 * 1024))
                        .default_service(web::to(handle_request))
                })
                .workers(workers.max(1))
                .disable_signals()
                .shutdown_timeout(0)
                .listen(listener);
                match server {
                    Ok(server) => {
                        let server = server.run();
                        let _ = tx.send(Ok(server.handle()));
                        let _ = server.await;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            });
        })?;
    let handle = rx
        .await
        .map_err(|_| io::Error::other("fake-activecampaign server thread died"))??;
    Ok(Running { handle, thread })
}

/// Bind `addr`, retrying briefly while a just-closed listener releases it.
fn bind_with_retry(addr: SocketAddr) -> io::Result<TcpListener> {
    let mut last = None;
    for _ in 0..50 {
        match TcpListener::bind(addr) {
            Ok(listener) => return Ok(listener),
            Err(e) => {
                last = Some(e);
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("bind failed")))
}

/// Entry point: `FakeActiveCampaign::start(config).await`.
pub struct FakeActiveCampaign;

impl FakeActiveCampaign {
    /// Start the fake; panics if the port cannot be bound (test infrastructure).
    #[allow(clippy::panic, reason = "test infrastructure: fail loudly")]
    pub async fn start(config: FakeConfig) -> FakeHandle {
        match Self::try_start(config).await {
            Ok(handle) => handle,
            Err(e) => panic!("fake ActiveCampaign failed to start: {e}"),
        }
    }

    /// Start the fake on `127.0.0.1:config.port` (0 = any free port).
    pub async fn try_start(config: FakeConfig) -> io::Result<FakeHandle> {
        let listener = TcpListener::bind(("127.0.0.1", config.port))?;
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}/api/3");
        let mut account_cfgs = config.accounts.clone();
        if account_cfgs.is_empty() {
            account_cfgs.push(AccountConfig::default());
        }
        let accounts = account_cfgs
            .iter()
            .map(|a| Account::new(a, &config.quirks))
            .collect();
        let shared = Arc::new(Shared {
            base_url: base_url.clone(),
            quirks: config.quirks.clone(),
            retry_after: config.retry_after,
            rate_limit_headers: config.rate_limit_headers,
            max_log_entries: config.max_log_entries.max(1),
            started: Instant::now(),
            inner: Mutex::new(Inner {
                accounts,
                outage: false,
                error_503_probability: config.error_503_probability,
                fail_next_503: 0,
                latency: config.latency,
                log: VecDeque::new(),
            }),
        });
        let workers = config.workers;
        let running = spawn_server(listener, Arc::clone(&shared), workers).await?;
        Ok(FakeHandle {
            shared,
            addr,
            base_url,
            workers,
            running: Mutex::new(Some(running)),
        })
    }
}

/// Handle to a running fake. Dropping it stops the server (without waiting).
pub struct FakeHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    base_url: String,
    workers: usize,
    running: Mutex<Option<Running>>,
}

impl std::fmt::Debug for FakeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeHandle")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl FakeHandle {
    /// `http://127.0.0.1:PORT/api/3`
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    #[must_use]
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The first valid token of the first account (convenience).
    #[must_use]
    pub fn token(&self) -> String {
        let inner = self.shared.lock();
        inner
            .accounts
            .first()
            .and_then(|a| a.tokens.first().cloned())
            .unwrap_or_default()
    }

    /// Name of the first account.
    #[must_use]
    pub fn default_account(&self) -> String {
        let inner = self.shared.lock();
        inner
            .accounts
            .first()
            .map(|a| a.name.clone())
            .unwrap_or_default()
    }

    fn take_running(&self) -> Option<Running> {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Stop the server and wait for its thread. Idempotent.
    pub async fn stop(&self) {
        if let Some(running) = self.take_running() {
            running.handle.stop(false).await;
            let _ = running.thread.join();
        }
    }

    /// While on, every request is answered `503 Service Unavailable`
    /// (connections are still accepted).
    pub fn set_outage(&self, on: bool) {
        self.shared.lock().outage = on;
    }

    /// While on, the listener is closed so connections are refused; turning it
    /// off re-binds the same port and serves the same data again.
    pub async fn refuse_connections(&self, refuse: bool) -> io::Result<()> {
        if refuse {
            self.stop().await;
            return Ok(());
        }
        if self.is_serving() {
            return Ok(());
        }
        let listener = bind_with_retry(self.addr)?;
        let running = spawn_server(listener, Arc::clone(&self.shared), self.workers).await?;
        let mut slot = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(running);
        } else {
            drop(running.handle.stop(false));
        }
        Ok(())
    }

    /// Whether the listener is up (false after `stop` / `refuse_connections(true)`).
    #[must_use]
    pub fn is_serving(&self) -> bool {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Probability (0.0..=1.0) of answering an authenticated request with 503.
    pub fn set_error_503_probability(&self, p: f64) {
        self.shared.lock().error_503_probability = p.clamp(0.0, 1.0);
    }

    /// Answer the next `n` authenticated requests with 503.
    pub fn fail_next_with_503(&self, n: u32) {
        self.shared.lock().fail_next_503 = n;
    }

    /// Artificial latency added to every response from now on.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.lock().latency = latency;
    }

    /// Change an account's requests-per-second limit (`0` = unlimited).
    pub fn set_rate_limit(&self, account: &str, rps: u32) -> Result<(), FakeError> {
        self.with_account(account, |a| {
            a.rate_limit = rps;
            a.window.clear();
        })
    }

    /// Mark a valid key as reset ("recycled"): from now on it gets 403 with an
    /// empty body. Returns false if the token is unknown.
    pub fn recycle_token(&self, token: &str) -> bool {
        let mut inner = self.shared.lock();
        for acct in &mut inner.accounts {
            if let Some(pos) = acct.tokens.iter().position(|t| t == token) {
                let t = acct.tokens.remove(pos);
                acct.recycled_tokens.push(t);
                return true;
            }
        }
        false
    }

    /// Snapshot of all accounts.
    #[must_use]
    pub fn state(&self) -> FakeState {
        let inner = self.shared.lock();
        FakeState {
            accounts: inner.accounts.iter().map(Account::snapshot).collect(),
        }
    }

    /// Snapshot of one account.
    #[must_use]
    pub fn account_state(&self, account: &str) -> Option<AccountSnapshot> {
        let inner = self.shared.lock();
        inner
            .accounts
            .iter()
            .find(|a| a.name == account)
            .map(Account::snapshot)
    }

    /// Every logged request, oldest first.
    #[must_use]
    pub fn request_log(&self) -> Vec<RequestLogEntry> {
        self.shared.lock().log.iter().cloned().collect()
    }

    pub fn clear_request_log(&self) {
        self.shared.lock().log.clear();
    }

    /// The most *admitted* requests (i.e. processed, not 429/403/503) of
    /// `account` inside any 1-second window of the log.
    #[must_use]
    pub fn max_requests_in_any_second(&self, account: &str) -> usize {
        let times: Vec<Duration> = self
            .shared
            .lock()
            .log
            .iter()
            .filter(|e| e.admitted && e.account.as_deref() == Some(account))
            .map(|e| e.since_start)
            .collect();
        max_in_any_window(&times, WINDOW)
    }

    /// Create a permission group in the first account; returns its id.
    pub fn add_group(&self, title: &str) -> String {
        let account = self.default_account();
        self.add_group_in(&account, title).unwrap_or_default()
    }

    /// Create a permission group in `account`; returns its id.
    pub fn add_group_in(&self, account: &str, title: &str) -> Result<String, FakeError> {
        self.with_account(account, |a| {
            a.insert_group(title, "", &[], None).to_string()
        })
    }

    /// Delete the group titled `title` from `account` (an admin removing a permission group in
    /// ActiveCampaign); returns whether it existed. Users keep the dangling group id.
    pub fn remove_group_in(&self, account: &str, title: &str) -> Result<bool, FakeError> {
        self.with_account(account, |a| {
            let id = a
                .groups
                .iter()
                .find(|(_, g)| g.title == title)
                .map(|(id, _)| *id);
            id.and_then(|id| a.groups.remove(&id)).is_some()
        })
    }

    /// Insert a pre-existing user into the first account; returns its id.
    pub fn add_user(&self, user: SeedUser) -> Result<String, FakeError> {
        let account = self.default_account();
        self.add_user_in(&account, user)
    }

    /// Insert a pre-existing user into `account`; returns its id.
    pub fn add_user_in(&self, account: &str, user: SeedUser) -> Result<String, FakeError> {
        let ci = self.shared.quirks.case_insensitive_identifiers;
        let now = now_ts(&self.shared.quirks);
        self.with_account(account, |a| {
            let group_id = match &user.group_id {
                None => None,
                Some(g) => match g.parse::<u64>() {
                    Ok(id) if a.groups.contains_key(&id) => Some(id),
                    _ => return Err(FakeError::UnknownGroup(g.clone())),
                },
            };
            let email_key = ident_key(&user.email, ci);
            if a.users
                .values()
                .any(|u| ident_key(&u.email, ci) == email_key)
            {
                return Err(FakeError::Duplicate("email"));
            }
            let name_key = ident_key(&user.username, ci);
            if a.users
                .values()
                .any(|u| ident_key(&u.username, ci) == name_key)
            {
                return Err(FakeError::Duplicate("username"));
            }
            let id = a.insert_user(
                NewUserData {
                    username: user.username,
                    email: user.email,
                    first_name: user.first_name,
                    last_name: user.last_name,
                    password: user.password,
                    group_id,
                },
                &now,
            );
            Ok(id.to_string())
        })?
    }

    fn with_account<T>(
        &self,
        account: &str,
        f: impl FnOnce(&mut Account) -> T,
    ) -> Result<T, FakeError> {
        let mut inner = self.shared.lock();
        inner
            .accounts
            .iter_mut()
            .find(|a| a.name == account)
            .map(f)
            .ok_or_else(|| FakeError::UnknownAccount(account.to_owned()))
    }
}

impl Drop for FakeHandle {
    fn drop(&mut self) {
        if let Some(running) = self.take_running() {
            // The stop command is sent when `stop` is called; no need to await.
            drop(running.handle.stop(false));
        }
    }
}
