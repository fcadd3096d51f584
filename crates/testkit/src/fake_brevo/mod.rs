//! A fake Brevo API v3 organization-users endpoints, faithful to
//! `shared/reference/target-apis.md` §5.2:
//!
//! - auth by the `api-key` header; errors are `{"code": "<enum>", "message": "…"}`
//!   (`unauthorized`, `missing_parameter`, `invalid_parameter`, `duplicate_parameter`,
//!   `document_not_found`, `permission_denied`), 400 on list/invite/update, 403 on
//!   revoke/resend/cancel;
//! - users are invited by e-mail with a privilege bundle and stay `pending` until they accept
//!   ([`FakeBrevo::accept`]); no id, no names; the e-mail is the key;
//! - revoke removes an active user, cancel a pending invitation;
//! - **100 requests per hour** per account (configurable), a fixed window on the fake's
//!   clock, with `x-sib-ratelimit-limit`, `-remaining` and `-reset` (seconds) on every
//!   answer, 429 past it, and **no `Retry-After`**.

use crate::serve::{FakeClock, Handler, Reply, Req, Server, decode};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// One hour in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;

/// Features and their permissions (developers.brevo.com inviteuser reference; plan-dependent
/// availability is not modelled).
pub const FEATURES: &[(&str, &[&str])] = &[
    (
        "email_campaigns",
        &["create_edit_delete", "send_schedule_suspend"],
    ),
    (
        "sms_campaigns",
        &["create_edit_delete", "send_schedule_suspend"],
    ),
    (
        "contacts",
        &[
            "view",
            "create_edit_delete",
            "import",
            "export",
            "list_and_attributes",
            "forms",
        ],
    ),
    ("templates", &["create_edit_delete", "activate_deactivate"]),
    (
        "workflows",
        &[
            "create_edit_delete",
            "activate_deactivate_pause",
            "settings",
        ],
    ),
    ("landing_pages", &["all"]),
    ("transactional_emails", &["settings", "logs"]),
    ("smtp_api", &["smtp", "api_keys", "authorized_ips"]),
    ("user_management", &["all"]),
    (
        "sales_platform",
        &[
            "create_edit_deals",
            "delete_deals",
            "manage_others_deals_tasks",
            "reports",
            "settings",
        ],
    ),
    ("phone", &["all"]),
    ("conversations", &["access", "assign", "configure"]),
    (
        "senders_domains_dedicated_ips",
        &[
            "senders_management",
            "domains_management",
            "dedicated_ips_management",
        ],
    ),
    (
        "push_notifications",
        &["view", "create_edit_delete", "send", "settings"],
    ),
    (
        "companies",
        &[
            "manage_owned_companies",
            "manage_other_companies",
            "settings",
        ],
    ),
];

/// Configuration of [`FakeBrevo::start`].
#[derive(Debug, Clone)]
pub struct BrevoConfig {
    pub api_key: String,
    pub owner_email: String,
    /// Requests per hour (`0` = unlimited): 100 General, 200 Advanced, 600 Extended.
    pub hourly_limit: u32,
    pub clock: FakeClock,
}

impl Default for BrevoConfig {
    fn default() -> Self {
        Self {
            api_key: "xkeysib-test".into(),
            owner_email: "owner@brevo.example".into(),
            hourly_limit: 100,
            clock: FakeClock::default(),
        }
    }
}

/// An organization user as tests see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrevoUser {
    pub email: String,
    /// `active` or `pending`.
    pub status: String,
    pub is_owner: bool,
    pub all_features_access: bool,
    /// feature → permissions
    pub privileges: BTreeMap<String, Vec<String>>,
}

struct Account {
    users: Vec<BrevoUser>,
    window_start: i64,
    used: u32,
    /// `(method, path, status, at)`.
    log: Vec<(String, String, u16, i64)>,
}

struct Shared {
    config: BrevoConfig,
    account: Mutex<Account>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Account> {
        self.account.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn err(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(status, json!({"code": code, "message": message}))
}

fn key(e: &str) -> String {
    e.trim().to_ascii_lowercase()
}

impl Handler for Shared {
    fn handle(&self, req: &Req<'_>) -> Reply {
        let now = self.config.clock.now_ms();
        let mut a = self.lock();
        let path = if req.query.is_empty() {
            req.path.to_owned()
        } else {
            format!("{}?{}", req.path, req.query)
        };
        if (req.header)("api-key").as_deref() != Some(self.config.api_key.as_str()) {
            a.log.push((req.method.into(), path, 401, now));
            return err(401, "unauthorized", "Key not found");
        }
        let limit = self.config.hourly_limit;
        if now >= a.window_start + HOUR_MS {
            a.window_start = now - now.rem_euclid(HOUR_MS);
            a.used = 0;
        }
        let reset = ((a.window_start + HOUR_MS - now) + 999) / 1000;
        let over = limit > 0 && a.used >= limit;
        if !over {
            a.used += 1;
        }
        let remaining = limit.saturating_sub(a.used);
        let reply = if over {
            err(
                429,
                "too_many_requests",
                "The expected rate limit is exceeded.",
            )
        } else {
            match req.path.strip_prefix("/v3") {
                Some(rel) => a.dispatch(req, rel),
                None => err(404, "document_not_found", "Not found"),
            }
        };
        a.log.push((req.method.into(), path, reply.status, now));
        if limit == 0 {
            return reply;
        }
        reply
            .header("x-sib-ratelimit-limit", limit)
            .header("x-sib-ratelimit-remaining", remaining)
            .header("x-sib-ratelimit-reset", reset.max(0))
    }
}

/// Reads `{email, all_features_access, privileges}`; all three required (§5.2).
/// `(email, all_features_access, feature → permissions)`.
type Invitation = (String, bool, BTreeMap<String, Vec<String>>);

fn bundle(body: Option<Value>) -> Result<Invitation, Reply> {
    let Some(b) = body else {
        return Err(err(400, "invalid_parameter", "Invalid JSON body"));
    };
    let Some(email) = b
        .get("email")
        .and_then(Value::as_str)
        .filter(|e| e.contains('@'))
    else {
        return Err(err(400, "missing_parameter", "email is missing"));
    };
    let Some(all) = b.get("all_features_access").and_then(Value::as_bool) else {
        return Err(err(
            400,
            "missing_parameter",
            "all_features_access is missing",
        ));
    };
    let Some(items) = b.get("privileges").and_then(Value::as_array) else {
        return Err(err(400, "missing_parameter", "privileges is missing"));
    };
    let mut privileges = BTreeMap::new();
    if !all {
        for p in items {
            let feature = p.get("feature").and_then(Value::as_str).unwrap_or_default();
            let Some((_, allowed)) = FEATURES.iter().find(|(f, _)| *f == feature) else {
                return Err(err(
                    400,
                    "invalid_parameter",
                    &format!("Invalid feature: {feature}"),
                ));
            };
            let mut perms = Vec::new();
            for perm in p
                .get("permissions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let perm = perm.as_str().unwrap_or_default();
                if !allowed.contains(&perm) {
                    return Err(err(
                        400,
                        "invalid_parameter",
                        &format!("Invalid permission {perm} for feature {feature}"),
                    ));
                }
                perms.push(perm.to_owned());
            }
            privileges.insert(feature.to_owned(), perms);
        }
    }
    Ok((email.to_owned(), all, privileges))
}

impl Account {
    fn find(&self, email: &str) -> Option<usize> {
        self.users.iter().position(|u| key(&u.email) == key(email))
    }

    fn dispatch(&mut self, req: &Req<'_>, rel: &str) -> Reply {
        let segs: Vec<String> = rel.trim_matches('/').split('/').map(decode).collect();
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        match (req.method, segs.as_slice()) {
            ("GET", ["organization", "invited", "users"]) => Reply::json(
                200,
                json!({"users": self.users.iter().map(|u| {
                    let level = |f: &[&str]| if u.all_features_access { "full" } else if f.iter().any(|x| u.privileges.contains_key(*x)) { "custom" } else { "none" };
                    json!({"email": u.email, "is_owner": u.is_owner.to_string(), "status": u.status,
                           "feature_access": {"marketing": level(&["email_campaigns","sms_campaigns","contacts","templates","workflows","landing_pages"]),
                                              "crm": level(&["sales_platform","companies"]),
                                              "conversations": level(&["conversations"])}})
                }).collect::<Vec<_>>()}),
            ),
            ("GET", ["organization", "user", email, "permissions"]) => match self.find(email) {
                Some(i) => {
                    let u = &self.users[i];
                    let privileges: Vec<Value> = if u.all_features_access {
                        FEATURES
                            .iter()
                            .map(|(f, p)| json!({"feature": f, "permissions": p}))
                            .collect()
                    } else {
                        u.privileges
                            .iter()
                            .map(|(f, p)| json!({"feature": f, "permissions": p}))
                            .collect()
                    };
                    Reply::json(
                        200,
                        json!({"email": u.email, "status": u.status, "privileges": privileges}),
                    )
                }
                None => err(400, "document_not_found", "User not found"),
            },
            ("POST", ["organization", "user", "invitation", "send"]) => {
                let (email, all, privileges) = match bundle(req.json()) {
                    Ok(b) => b,
                    Err(r) => return r,
                };
                if self.find(&email).is_some() {
                    return err(
                        400,
                        "duplicate_parameter",
                        "User already exists in the organization",
                    );
                }
                self.users.push(BrevoUser {
                    email,
                    status: "pending".into(),
                    is_owner: false,
                    all_features_access: all,
                    privileges,
                });
                Reply::json(200, json!({"status": "OK", "invoice_id": ""}))
            }
            ("POST", ["organization", "user", "update", "permissions"]) => {
                let (email, all, privileges) = match bundle(req.json()) {
                    Ok(b) => b,
                    Err(r) => return r,
                };
                let Some(i) = self.find(&email) else {
                    return err(400, "document_not_found", "User not found");
                };
                if self.users[i].is_owner {
                    return err(
                        400,
                        "permission_denied",
                        "The owner's permissions cannot be changed",
                    );
                }
                self.users[i].all_features_access = all;
                self.users[i].privileges = privileges;
                Reply::json(
                    200,
                    json!({"status": "OK", "credit_notes": [], "invoice_id": ""}),
                )
            }
            ("PUT", ["organization", "user", "invitation", action, email]) => {
                let Some(i) = self.find(email) else {
                    return err(403, "document_not_found", "User not found");
                };
                let u = &self.users[i];
                if u.is_owner {
                    return err(
                        403,
                        "permission_denied",
                        "The account owner cannot be changed",
                    );
                }
                match (*action, u.status.as_str()) {
                    ("revoke", "active") | ("cancel", "pending") => {
                        self.users.remove(i);
                        Reply::json(200, json!({"status": "OK", "credit_notes": []}))
                    }
                    ("resend", "pending") => Reply::json(200, json!({"status": "OK"})),
                    ("revoke", _) => err(
                        403,
                        "permission_denied",
                        "The invitation is pending: cancel it instead",
                    ),
                    ("cancel" | "resend", _) => err(
                        403,
                        "permission_denied",
                        "The user has already accepted the invitation",
                    ),
                    _ => err(404, "document_not_found", "Not found"),
                }
            }
            _ => err(404, "document_not_found", "Not found"),
        }
    }
}

/// A running fake Brevo.
pub struct FakeBrevo {
    shared: Arc<Shared>,
    server: Server,
}

impl FakeBrevo {
    #[allow(clippy::panic, reason = "test infrastructure: fail loudly")]
    pub async fn start(config: BrevoConfig) -> FakeBrevo {
        match Self::try_start(config).await {
            Ok(f) => f,
            Err(e) => panic!("fake Brevo failed to start: {e}"),
        }
    }

    pub async fn try_start(config: BrevoConfig) -> io::Result<FakeBrevo> {
        let owner = BrevoUser {
            email: config.owner_email.clone(),
            status: "active".into(),
            is_owner: true,
            all_features_access: true,
            privileges: BTreeMap::new(),
        };
        let shared = Arc::new(Shared {
            config,
            account: Mutex::new(Account {
                users: vec![owner],
                window_start: i64::MIN / 2,
                used: 0,
                log: Vec::new(),
            }),
        });
        let server = Server::start("fake-brevo", shared.clone()).await?;
        Ok(FakeBrevo { shared, server })
    }

    /// `http://127.0.0.1:PORT/v3`.
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("http://{}/v3", self.server.addr)
    }

    #[must_use]
    pub fn api_key(&self) -> String {
        self.shared.config.api_key.clone()
    }

    #[must_use]
    pub fn clock(&self) -> FakeClock {
        self.shared.config.clock.clone()
    }

    pub async fn stop(mut self) {
        self.server.stop().await;
    }

    #[must_use]
    pub fn users(&self) -> Vec<BrevoUser> {
        self.shared.lock().users.clone()
    }

    #[must_use]
    pub fn user(&self, email: &str) -> Option<BrevoUser> {
        let a = self.shared.lock();
        a.find(email).map(|i| a.users[i].clone())
    }

    /// Adds a user who joined outside scimbridge (invited by hand and accepted), with access
    /// to `features` (feature → permissions; empty: all features).
    pub fn add_user(&self, email: &str, features: &[(&str, &[&str])]) {
        let privileges: BTreeMap<String, Vec<String>> = features
            .iter()
            .map(|(f, ps)| (f.to_string(), ps.iter().map(|p| p.to_string()).collect()))
            .collect();
        self.shared.lock().users.push(BrevoUser {
            email: email.into(),
            status: "active".into(),
            is_owner: false,
            all_features_access: privileges.is_empty(),
            privileges,
        });
    }

    /// The invitee accepts: `pending` → `active`. False if there is no pending invitation.
    pub fn accept(&self, email: &str) -> bool {
        let mut a = self.shared.lock();
        match a.find(email) {
            Some(i) if a.users[i].status == "pending" => {
                a.users[i].status = "active".into();
                true
            }
            _ => false,
        }
    }

    /// `(method, path, status)` of every request, oldest first.
    #[must_use]
    pub fn requests(&self) -> Vec<(String, String, u16)> {
        self.shared
            .lock()
            .log
            .iter()
            .map(|(m, p, s, _)| (m.clone(), p.clone(), *s))
            .collect()
    }

    /// How many requests got 429.
    #[must_use]
    pub fn throttled(&self) -> usize {
        self.shared.lock().log.iter().filter(|l| l.2 == 429).count()
    }

    /// The most requests answered (not 429, not 401) within any one clock hour.
    #[must_use]
    pub fn max_admitted_in_an_hour(&self) -> usize {
        let mut per = BTreeMap::<i64, usize>::new();
        for (_, _, s, at) in &self.shared.lock().log {
            if *s != 429 && *s != 401 {
                *per.entry(at.div_euclid(HOUR_MS)).or_default() += 1;
            }
        }
        per.values().copied().max().unwrap_or(0)
    }
}
