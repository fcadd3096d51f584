//! Notifications when provisioning needs a person: the rules, pure.
//!
//! [`evaluate`] takes an integration's notification state (what was already said), the facts
//! read from the database now, the current time and the [`Rules`], and returns the new state
//! and the messages to send. Each condition sends exactly one message when it starts and none
//! until it has cleared; permanent job failures are batched per integration and window. The
//! server's notifier task reads the facts, stores the state and sends (see `web::notify`);
//! nothing here does I/O, so every rule is unit-tested with time as a parameter.
//!
//! [`sign`] is the webhook signature and [`RetrySchedule`] the delivery backoff.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::BTreeSet;

/// What a message is about. The stored and sent spelling is [`EventKind::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Jobs failed permanently (one batched message per integration and window).
    JobsFailed,
    /// The deletion guard holds removals for an admin's decision.
    GuardHeld,
    /// The integration was paused by scimbridge itself (not by a person).
    AutoPaused,
    /// No request from the IdP for longer than two provisioning cycles.
    IdpQuiet,
    /// A SCIM token expires soon.
    TokenExpiring,
    /// The target rejected the integration's credentials.
    CredentialsRejected,
    /// The share of failed target calls over the last hour crossed the threshold.
    FailureRate,
    /// "Send test notification".
    Test,
}

impl EventKind {
    /// The stored and sent spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::JobsFailed => "jobs_failed",
            Self::GuardHeld => "guard_held",
            Self::AutoPaused => "auto_paused",
            Self::IdpQuiet => "idp_quiet",
            Self::TokenExpiring => "token_expiring",
            Self::CredentialsRejected => "credentials_rejected",
            Self::FailureRate => "failure_rate",
            Self::Test => "test",
        }
    }

    /// Every kind, in the order the docs list them.
    pub const ALL: [EventKind; 8] = [
        Self::JobsFailed,
        Self::GuardHeld,
        Self::AutoPaused,
        Self::IdpQuiet,
        Self::TokenExpiring,
        Self::CredentialsRejected,
        Self::FailureRate,
        Self::Test,
    ];

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The thresholds and windows, all in milliseconds where they are times.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// Permanent failures of one integration are collected this long into one message.
    pub batch_window_ms: i64,
    /// How many failure reasons a batched message quotes.
    pub first_reasons: usize,
    /// The IdP is "quiet" after this long without a request (two of Entra's 40-minute cycles).
    pub idp_quiet_ms: i64,
    /// A token is "expiring" this long before it expires.
    pub token_warning_ms: i64,
    /// The failure share (percent) of the last hour's target calls that counts as too high…
    pub failure_share_percent: u32,
    /// …when at least this many calls were made.
    pub failure_min_calls: u64,
}

/// One hour, the window of the failure share and of rejected credentials.
pub const HOUR_MS: i64 = 3_600_000;

impl Default for Rules {
    fn default() -> Self {
        Self {
            batch_window_ms: 15 * 60_000,
            first_reasons: 3,
            idp_quiet_ms: 80 * 60_000,
            token_warning_ms: 14 * 24 * HOUR_MS,
            failure_share_percent: 20,
            failure_min_calls: 10,
        }
    }
}

/// Permanent failures newer than the state's cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Failures {
    pub count: u64,
    /// When the newest of them failed (epoch ms): the next cursor.
    pub latest_at: i64,
    /// The first few distinct reasons, oldest first.
    pub reasons: Vec<String>,
}

/// A SCIM token that expires within the warning window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiringToken {
    pub id: String,
    /// The token's displayed prefix (never the token).
    pub prefix: String,
    pub expires_at: i64,
}

/// What the database says about one integration now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    pub tenant_id: String,
    pub integration_id: String,
    pub integration_name: String,
    /// The integration is active (not draft, not paused).
    pub active: bool,
    /// Paused by scimbridge itself (the target kept rejecting the credentials); false again
    /// once someone resumes it (or pauses it themselves).
    pub auto_paused: bool,
    /// Why scimbridge paused it, in one sentence (empty when not auto-paused).
    pub pause_reason: String,
    /// Removals the deletion guard holds for a decision.
    pub held_removals: u64,
    /// The newest request of the IdP (a token's last use), if there ever was one.
    pub last_idp_request: Option<i64>,
    /// Permanent failures after the state's cursor.
    pub new_failures: Failures,
    /// Jobs that failed in the last hour because the target rejected the credentials.
    pub rejected_credentials: u64,
    /// Target calls in the last hour, and how many of them failed.
    pub calls_last_hour: u64,
    pub failed_calls_last_hour: u64,
    /// Live tokens that expire within the warning window.
    pub expiring_tokens: Vec<ExpiringToken>,
}

/// What was already said about one integration: stored between rounds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Failures up to this time (epoch ms) are counted in a message already (or predate us).
    pub failures_cursor: i64,
    /// When the open batch of failures started, if one is open.
    pub batch_started: Option<i64>,
    /// Conditions notified and not cleared since: `guard_held`, `idp_quiet`, `token:<id>`…
    pub raised: BTreeSet<String>,
}

impl State {
    /// The state of an integration seen for the first time: failures before `since` (its
    /// creation) are history, not news.
    pub fn fresh(since: i64) -> Self {
        Self {
            failures_cursor: since,
            ..Self::default()
        }
    }
}

/// A message to send to every enabled channel of the tenant. Never holds a secret or a SCIM
/// body: names, counts, reasons as the target gave them, and a console link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub event: EventKind,
    pub tenant_id: String,
    pub integration_id: Option<String>,
    pub integration_name: Option<String>,
    /// One line: the e-mail subject.
    pub title: String,
    /// A few sentences.
    pub text: String,
    /// The console path (under the public URL) that shows the matter.
    pub path: String,
    /// Facts for machines (counts, token prefix…).
    pub details: serde_json::Value,
}

/// Longest failure reason quoted.
const REASON_CHARS: usize = 300;

/// Shortens `s` to `max` characters, marking the cut.
pub fn excerpt(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

/// The rules: the new state and the messages to send, for one integration.
pub fn evaluate(state: &State, facts: &Facts, now: i64, rules: &Rules) -> (State, Vec<Message>) {
    let mut next = state.clone();
    let mut out = Vec::new();
    let f = facts;
    let base = format!("/t/{}/integrations/{}", f.tenant_id, f.integration_id);
    let msg = |event, title: String, text: String, path: String, details| Message {
        event,
        tenant_id: f.tenant_id.clone(),
        integration_id: Some(f.integration_id.clone()),
        integration_name: Some(f.integration_name.clone()),
        title,
        text,
        path,
        details,
    };
    let name = &f.integration_name;

    // 1. Permanent failures, batched: the first opens a window; when it closes, one message
    // counts everything that failed since the cursor.
    if f.new_failures.count > 0 {
        let started = *next.batch_started.get_or_insert(now);
        if now >= started + rules.batch_window_ms {
            let n = f.new_failures.count;
            let reasons: Vec<String> = f
                .new_failures
                .reasons
                .iter()
                .take(rules.first_reasons)
                .map(|r| excerpt(r, REASON_CHARS))
                .collect();
            let mut text = format!(
                "{n} change{} could not be made in the target app of {name} after their retries.",
                plural(n)
            );
            if !reasons.is_empty() {
                text.push_str(" First reasons:");
                for r in &reasons {
                    text.push_str("\n- ");
                    text.push_str(r);
                }
            }
            out.push(msg(
                EventKind::JobsFailed,
                format!("{name}: {n} job{} failed", plural(n)),
                text,
                format!("/t/{}/jobs", f.tenant_id),
                serde_json::json!({"count": n, "reasons": reasons}),
            ));
            next.failures_cursor = f.new_failures.latest_at.max(next.failures_cursor);
            next.batch_started = None;
        }
    } else {
        next.batch_started = None;
    }

    // Level conditions: one message when one starts, none until it has cleared.
    // 2. The deletion guard holds removals.
    let held = f.held_removals;
    level(&mut next.raised, &mut out, "guard_held", held > 0, || {
        msg(
            EventKind::GuardHeld,
            format!(
                "{name}: the deletion guard holds {held} removal{}",
                plural(held)
            ),
            format!(
                "More accounts than the guard allows were about to lose access in {name}. \
                 {held} removal{} wait for an admin to approve or discard them.",
                plural(held)
            ),
            base.clone(),
            serde_json::json!({"held": held}),
        )
    });

    // 3. Paused by scimbridge.
    level(
        &mut next.raised,
        &mut out,
        "auto_paused",
        f.auto_paused,
        || {
            msg(
                EventKind::AutoPaused,
                format!("{name} was paused automatically"),
                if f.pause_reason.is_empty() {
                    format!("scimbridge paused {name}: changes wait until someone resumes it.")
                } else {
                    format!(
                        "scimbridge paused {name}: {}. Changes wait: fix the credentials on the \
                         Connection tab (Test connection), then Resume on the Overview.",
                        f.pause_reason
                    )
                },
                base.clone(),
                serde_json::json!({"reason": f.pause_reason}),
            )
        },
    );

    // 4. The IdP went quiet (only for active integrations that ever heard from it).
    let quiet_for = f.last_idp_request.map(|t| now - t);
    level(
        &mut next.raised,
        &mut out,
        "idp_quiet",
        f.active && quiet_for.is_some_and(|q| q > rules.idp_quiet_ms),
        || {
            let minutes = quiet_for.unwrap_or_default() / 60_000;
            msg(
                EventKind::IdpQuiet,
                format!("{name}: no request from the identity provider for {minutes} minutes"),
                format!(
                    "The identity provider has not called {name} for {minutes} minutes, longer \
                     than two provisioning cycles. Check that provisioning is still running \
                     there and that its token is valid."
                ),
                format!("{base}/tokens"),
                serde_json::json!({"quiet_minutes": minutes, "last_request_at": f.last_idp_request}),
            )
        },
    );

    // 5. Tokens about to expire: once per token.
    let expiring: BTreeSet<String> = f
        .expiring_tokens
        .iter()
        .map(|t| format!("token:{}", t.id))
        .collect();
    next.raised
        .retain(|k| !k.starts_with("token:") || expiring.contains(k));
    for t in &f.expiring_tokens {
        if next.raised.insert(format!("token:{}", t.id)) {
            let days = ((t.expires_at - now).max(0) + 86_399_999) / 86_400_000;
            out.push(msg(
                EventKind::TokenExpiring,
                format!(
                    "{name}: a SCIM token expires in {days} day{}",
                    plural(days as u64)
                ),
                format!(
                    "The SCIM token {}… of {name} expires in {days} day{}. Issue a new one and \
                     paste it into the identity provider before then.",
                    t.prefix,
                    plural(days as u64)
                ),
                format!("{base}/tokens"),
                serde_json::json!({"token_prefix": t.prefix, "expires_at": t.expires_at}),
            ));
        }
    }

    // 6. The target rejected the credentials.
    let rejected = f.rejected_credentials;
    level(
        &mut next.raised,
        &mut out,
        "credentials_rejected",
        rejected > 0,
        || {
            msg(
                EventKind::CredentialsRejected,
                format!("{name}: the target app rejected the credentials"),
                format!(
                    "The target app of {name} refused scimbridge's credentials ({rejected} job{} \
                 in the last hour). Changes fail until the key is fixed in the integration's \
                 connection settings.",
                    plural(rejected)
                ),
                format!("{base}/connection"),
                serde_json::json!({"failed_jobs": rejected}),
            )
        },
    );

    // 7. The failure share of the last hour.
    let (calls, failed) = (f.calls_last_hour, f.failed_calls_last_hour);
    let too_high = calls >= rules.failure_min_calls
        && calls > 0
        && failed * 100 >= u64::from(rules.failure_share_percent) * calls;
    level(&mut next.raised, &mut out, "failure_rate", too_high, || {
        let pct = failed * 100 / calls.max(1);
        msg(
            EventKind::FailureRate,
            format!("{name}: {pct}% of calls to the target failed in the last hour"),
            format!(
                "{failed} of {calls} calls from {name} to the target app failed in the last \
                 hour ({pct}%, the threshold is {}%).",
                rules.failure_share_percent
            ),
            format!("/t/{}/log?integration={}", f.tenant_id, f.integration_id),
            serde_json::json!({"calls": calls, "failed": failed, "percent": pct}),
        )
    });

    (next, out)
}

/// A level condition: one message when it starts (`on` and not raised), none while it lasts;
/// cleared when it stops.
fn level(
    raised: &mut BTreeSet<String>,
    out: &mut Vec<Message>,
    key: &str,
    on: bool,
    m: impl FnOnce() -> Message,
) {
    if !on {
        raised.remove(key);
    } else if raised.insert(key.to_string()) {
        out.push(m());
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The test message of "Send test notification".
pub fn test_message(tenant_id: &str, tenant_name: &str, who: &str) -> Message {
    Message {
        event: EventKind::Test,
        tenant_id: tenant_id.to_string(),
        integration_id: None,
        integration_name: None,
        title: format!("Test notification for {tenant_name}"),
        text: format!(
            "{who} sent this test from the Notifications page of {tenant_name}. \
             Notifications reach you here."
        ),
        path: format!("/t/{tenant_id}/notifications"),
        details: serde_json::json!({}),
    }
}

/// The webhook signature header's value: `sha256=` and the hex HMAC-SHA256 of
/// `"<timestamp>.<body>"` under the channel's secret (its UTF-8 bytes, as shown once).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        // HMAC takes keys of any length; this arm cannot run.
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a signature header the way a receiver should (constant time).
pub fn verify(secret: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// When failed deliveries are tried again: the waits after attempt 1, 2, …; after the last
/// one the delivery is given up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    pub waits_ms: Vec<i64>,
}

impl Default for RetrySchedule {
    /// 1 min, 5 min, 30 min, 2 h: five attempts in all.
    fn default() -> Self {
        Self {
            waits_ms: vec![60_000, 300_000, 1_800_000, 7_200_000],
        }
    }
}

impl RetrySchedule {
    /// Parses comma-separated seconds, e.g. `60,300,1800,7200` (empty: no retry).
    pub fn parse(s: &str) -> Result<Self, String> {
        let waits_ms = s
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.parse::<u32>()
                    .map(|secs| i64::from(secs) * 1000)
                    .map_err(|_| format!("'{p}' is not a number of seconds"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { waits_ms })
    }

    /// Attempts in all (the first plus the retries).
    pub fn max_attempts(&self) -> u32 {
        self.waits_ms.len() as u32 + 1
    }

    /// After `attempts` failed attempts: when to try again, or `None` to give up.
    pub fn next_attempt(&self, attempts: u32, now: i64) -> Option<i64> {
        let i = attempts.checked_sub(1)? as usize;
        self.waits_ms.get(i).map(|w| now + w)
    }
}

#[cfg(test)]
mod tests;
