//! A fake Pipedrive API v1 (users, roles and role assignments, permission sets), faithful to
//! `shared/reference/target-apis.md` §5.1:
//!
//! - auth by `x-api-token` header (or `api_token` query parameter); an unknown token gets
//!   401 `{"success":false,"error":"unauthorized access","errorCode":401}`;
//! - every answer is the envelope `{"success":true,"data":…,"additional_data":…}` or
//!   `{"success":false,"error":…,"error_info":…,"data":null,"additional_data":null}`;
//! - numeric user ids, `is_you` for the token's user, `active_flag`, `access[]` fixed at
//!   creation, no delete, `PUT /users/{id}` takes only `active_flag`;
//! - a **daily token budget per company** (a UTC day of the fake's clock) charged per call
//!   (`GET /users` 20, `GET /users/{id}` 2, `/users/me` 2, `/users/find` 40, `POST`/`PUT
//!   /users` 10, role and permission reads 10, role assignments 10 [inf]) and a **burst
//!   limit per 2-second window** per token; both answer 429 with `Retry-After`.
//!
//! The budgets and the clock are configurable so tests can spend a day and start the next.

mod state;

use crate::serve::{FakeClock, Handler, Reply, Req, Server};
use serde_json::{Value, json};
use state::{Company, User};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

pub use state::{PermissionSet, RoleSnapshot, UserSnapshot};

/// One UTC day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;
/// The burst window.
pub const BURST_WINDOW_MS: i64 = 2_000;

/// Configuration of [`FakePipedrive::start`].
#[derive(Debug, Clone)]
pub struct PipedriveConfig {
    /// The admin's API token (acts as the company owner, user id 1).
    pub token: String,
    /// Tokens of a non-admin user: reads work, writes get 403.
    pub non_admin_tokens: Vec<String>,
    /// Tokens per UTC day for the company (`0` = unlimited). Real: ≈30,000 × plan × seats.
    pub daily_budget: u64,
    /// Requests per 2-second window per token (`0` = unlimited).
    pub burst_limit: u32,
    pub owner_email: String,
    pub owner_name: String,
    pub company_name: String,
    /// Roles created at start (ids 1, 2, …).
    pub roles: Vec<String>,
    /// Permission sets (`(name, app)`), ids are UUID-like strings.
    pub permission_sets: Vec<(String, String)>,
    /// `/users/find` with no match answers `"data": null` (true) or `[]`.
    pub find_empty_as_null: bool,
    pub clock: FakeClock,
}

impl Default for PipedriveConfig {
    fn default() -> Self {
        Self {
            token: "pd-token".into(),
            non_admin_tokens: Vec::new(),
            daily_budget: 30_000,
            burst_limit: 20,
            owner_email: "owner@pipedrive.example".into(),
            owner_name: "Company Owner".into(),
            company_name: "Acme Sales".into(),
            roles: vec!["Sales".into(), "Support".into(), "Managers".into()],
            permission_sets: vec![
                ("Regular user".into(), "sales".into()),
                ("Deal-only user".into(), "sales".into()),
                ("Global admin".into(), "global".into()),
            ],
            find_empty_as_null: true,
            clock: FakeClock::default(),
        }
    }
}

/// The token cost of a call (§5.1; assignments are an assumption).
#[must_use]
pub fn cost(method: &str, path: &str) -> u64 {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segs.as_slice()) {
        ("GET", ["users"]) => 20,
        ("GET", ["users", "find"]) => 40,
        ("GET", ["users", "me"]) => 2,
        ("GET", ["users", _, "roleAssignments"]) => 10,
        ("GET", ["users", _]) => 2,
        ("POST" | "PUT", ["users", ..]) => 10,
        ("GET", ["roles", ..] | ["permissionSets", ..]) => 10,
        (_, ["roles", ..]) => 10,
        _ => 10,
    }
}

struct Shared {
    config: PipedriveConfig,
    company: Mutex<Company>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Company> {
        self.company.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub(crate) fn fail(status: u16, error: &str) -> Reply {
    Reply::json(
        status,
        json!({"success": false, "error": error, "error_info": "Please check developers.pipedrive.com",
               "data": null, "additional_data": null}),
    )
}

fn ok(data: Value) -> Reply {
    Reply::json(
        200,
        json!({"success": true, "data": data, "additional_data": null}),
    )
}

impl Handler for Shared {
    fn handle(&self, req: &Req<'_>) -> Reply {
        let now = self.config.clock.now_ms();
        let token = (req.header)("x-api-token").or_else(|| req.param("api_token"));
        let mut c = self.lock();
        let admin = match token.as_deref() {
            Some(t) if t == self.config.token => true,
            Some(t) if self.config.non_admin_tokens.iter().any(|k| k == t) => false,
            _ => {
                c.log.push(state::Logged::new(req, 401, 0, now));
                return Reply::json(
                    401,
                    json!({"success": false, "error": "unauthorized access", "errorCode": 401,
                           "error_info": "Please check developers.pipedrive.com"}),
                );
            }
        };
        let Some(rel) = req
            .path
            .strip_prefix("/v1")
            .or_else(|| req.path.strip_prefix("/api/v1"))
        else {
            return fail(404, "Unknown method .");
        };
        let tok = token.unwrap_or_default();
        // Burst window per token.
        if self.config.burst_limit > 0 {
            let window = c.burst.entry(tok.clone()).or_default();
            window.retain(|t| *t + BURST_WINDOW_MS > now);
            if window.len() >= self.config.burst_limit as usize {
                let wait = window
                    .first()
                    .map_or(1, |t| ((t + BURST_WINDOW_MS - now) + 999) / 1000);
                c.log.push(state::Logged::new(req, 429, 0, now));
                return fail(429, "Too many requests in the 2-second window")
                    .header("Retry-After", wait.max(1))
                    .header("x-ratelimit-limit", self.config.burst_limit)
                    .header("x-ratelimit-remaining", 0)
                    .header("x-ratelimit-reset", wait.max(1));
            }
            window.push(now);
        }
        // The daily token budget, per company.
        let price = cost(req.method, rel);
        let day = now.div_euclid(DAY_MS);
        if c.day != day {
            c.day = day;
            c.spent_today = 0;
        }
        if self.config.daily_budget > 0 && c.spent_today + price > self.config.daily_budget {
            let wait = ((day + 1) * DAY_MS - now + 999) / 1000;
            c.log.push(state::Logged::new(req, 429, 0, now));
            return fail(429, "Daily API token budget exceeded").header("Retry-After", wait.max(1));
        }
        c.spent_today += price;
        let reply = c.dispatch(req.method, rel, req, admin, &self.config, now);
        c.log
            .push(state::Logged::new(req, reply.status, price, now));
        reply
    }
}

/// A running fake Pipedrive.
pub struct FakePipedrive {
    shared: Arc<Shared>,
    server: Server,
}

impl FakePipedrive {
    /// Starts the fake; panics if it cannot bind (test infrastructure).
    #[allow(clippy::panic, reason = "test infrastructure: fail loudly")]
    pub async fn start(config: PipedriveConfig) -> FakePipedrive {
        match Self::try_start(config).await {
            Ok(f) => f,
            Err(e) => panic!("fake Pipedrive failed to start: {e}"),
        }
    }

    pub async fn try_start(config: PipedriveConfig) -> io::Result<FakePipedrive> {
        let company = Company::new(&config);
        let shared = Arc::new(Shared {
            config,
            company: Mutex::new(company),
        });
        let server = Server::start("fake-pipedrive", shared.clone()).await?;
        Ok(FakePipedrive { shared, server })
    }

    /// `http://127.0.0.1:PORT/v1`.
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.server.addr)
    }

    #[must_use]
    pub fn token(&self) -> String {
        self.shared.config.token.clone()
    }

    #[must_use]
    pub fn clock(&self) -> FakeClock {
        self.shared.config.clock.clone()
    }

    pub async fn stop(mut self) {
        self.server.stop().await;
    }

    /// Every user of the company.
    #[must_use]
    pub fn users(&self) -> Vec<UserSnapshot> {
        let c = self.shared.lock();
        c.users.values().map(|u| c.snapshot(u)).collect()
    }

    /// The user with this e-mail (case-insensitive).
    #[must_use]
    pub fn user_by_email(&self, email: &str) -> Option<UserSnapshot> {
        self.users()
            .into_iter()
            .find(|u| u.email.eq_ignore_ascii_case(email))
    }

    #[must_use]
    pub fn roles(&self) -> Vec<RoleSnapshot> {
        self.shared
            .lock()
            .roles
            .iter()
            .map(|(id, name)| RoleSnapshot {
                id: *id,
                name: name.clone(),
            })
            .collect()
    }

    #[must_use]
    pub fn permission_sets(&self) -> Vec<PermissionSet> {
        self.shared.lock().permission_sets.clone()
    }

    /// Tokens charged in the current day of the fake's clock.
    #[must_use]
    pub fn spent_today(&self) -> u64 {
        let c = self.shared.lock();
        if c.day == self.shared.config.clock.now_ms().div_euclid(DAY_MS) {
            c.spent_today
        } else {
            0
        }
    }

    /// The most tokens charged in any one day, over the whole log.
    #[must_use]
    pub fn max_spent_in_a_day(&self) -> u64 {
        let c = self.shared.lock();
        let mut per_day = std::collections::BTreeMap::<i64, u64>::new();
        for l in &c.log {
            *per_day.entry(l.at.div_euclid(DAY_MS)).or_default() += l.cost;
        }
        per_day.values().copied().max().unwrap_or(0)
    }

    /// `(method, path, status)` of every request, oldest first.
    #[must_use]
    pub fn requests(&self) -> Vec<(String, String, u16)> {
        self.shared
            .lock()
            .log
            .iter()
            .map(|l| (l.method.clone(), l.path.clone(), l.status))
            .collect()
    }

    /// How many requests got 429.
    #[must_use]
    pub fn throttled(&self) -> usize {
        self.shared
            .lock()
            .log
            .iter()
            .filter(|l| l.status == 429)
            .count()
    }

    /// Adds an existing user (e.g. to test adoption); returns its id.
    pub fn add_user(&self, email: &str, name: &str) -> u64 {
        let now = self.shared.config.clock.now_ms();
        let mut c = self.shared.lock();
        let id = c.next_user;
        c.next_user += 1;
        let mut u = User::new(id, email, now);
        u.name = name.into();
        u.activated = true;
        c.users.insert(id, u);
        id
    }
}
