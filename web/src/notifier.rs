//! Notifications at the edge: the channel service the console and the admin API call (add,
//! enable, remove, send a test; each change audit-logged here), and the notifier task of the
//! server process.
//!
//! The task runs a round every `notify_poll_ms`: it takes the rules' lease (one instance at a
//! time evaluates), reads the facts of every integration with a handful of cross-tenant
//! queries, runs the pure rules of the `notify` crate against each integration's stored state,
//! and saves the changed states with the new deliveries in one transaction that checks the
//! lease. Then it sends the due deliveries it can claim (any instance may): webhooks through
//! the SSRF-safe client of `target-http` (no redirects), signed; e-mails through the operator's
//! SMTP with `lettre`. A failed attempt is tried again on the retry schedule and given up after
//! the last wait; every attempt is visible in the tenant's delivery log.

use crate::config::Config;
use crate::staff::Actor;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use notify::{EventKind, Facts, Failures, Message, RetrySchedule, Rules, State};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use store::{
    AttemptOutcome, ChannelKind, Delivery, DeliveryState, NewNotification, NotifyChannel, Store,
    StoreError,
};

/// How long a claimed delivery is ours (longer than any attempt's timeout).
const CLAIM_MS: i64 = 120_000;
/// Timeout of one webhook request or SMTP conversation.
const SEND_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest response excerpt kept in the delivery log.
const RESPONSE_CHARS: usize = 300;
/// Deliveries sent per round at most.
const SEND_BATCH: u64 = 50;
/// Prefix of a webhook signing secret.
const SECRET_PREFIX: &str = "whsec_";
/// Error of an e-mail delivery without operator SMTP.
pub const SMTP_MISSING: &str = "SMTP is not configured (the operator sets SCIMBRIDGE_SMTP_URL)";

/// The notifier's settings, from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub poll: Duration,
    pub rules: Rules,
    pub retry: RetrySchedule,
    pub policy: target_http::Policy,
    pub public_url: String,
    pub smtp_url: Option<String>,
    pub smtp_from: String,
}

impl Settings {
    /// The settings of `config` (its retry list was checked when it was loaded).
    pub fn from_config(config: &Config) -> Self {
        Self {
            poll: Duration::from_millis(config.notify_poll_ms.max(50)),
            rules: Rules {
                batch_window_ms: config.notify_batch_secs as i64 * 1000,
                idp_quiet_ms: config.notify_idp_quiet_secs as i64 * 1000,
                token_warning_ms: config.notify_token_warning_days as i64 * 86_400_000,
                failure_share_percent: config.notify_failure_percent,
                failure_min_calls: config.notify_failure_min_calls,
                ..Rules::default()
            },
            retry: RetrySchedule::parse(&config.notify_retry_secs).unwrap_or_default(),
            policy: target_http::Policy {
                allow_private: config.allow_private_targets,
            },
            public_url: config.public_url(),
            smtp_url: config.smtp_url.clone().filter(|u| !u.trim().is_empty()),
            smtp_from: config
                .smtp_from
                .clone()
                .filter(|f| !f.trim().is_empty())
                .unwrap_or_else(|| "scimbridge <scimbridge@localhost>".into()),
        }
    }

    /// Whether e-mail can be sent.
    pub fn smtp_configured(&self) -> bool {
        self.smtp_url.is_some()
    }
}

/// A channel change the console or the API asked for that cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("{0}")]
    Invalid(String),
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for NotifyError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => NotifyError::NotFound,
            e => NotifyError::Store(e),
        }
    }
}

impl From<crate::manage::ManageError> for NotifyError {
    fn from(e: crate::manage::ManageError) -> Self {
        use crate::manage::ManageError;
        match e {
            ManageError::Store(e) => e.into(),
            ManageError::NotFound => NotifyError::NotFound,
            e => NotifyError::Invalid(e.to_string()),
        }
    }
}

/// Records one audit entry about a channel of the tenant.
async fn record(
    store: &Store,
    actor: &Actor,
    tenant_id: &str,
    action: &str,
    target: (&str, &str),
    detail: Value,
    now: i64,
) -> Result<(), NotifyError> {
    crate::manage::record(
        store,
        actor,
        Some(tenant_id),
        action,
        target.0,
        Some(target.1),
        Some(detail),
        now,
    )
    .await?;
    Ok(())
}

/// Most channels per tenant.
const MAX_CHANNELS: usize = 50;

async fn room_for_one(store: &Store, tenant_id: &str) -> Result<(), NotifyError> {
    if store.list_notify_channels(tenant_id).await?.len() >= MAX_CHANNELS {
        return Err(NotifyError::Invalid(format!(
            "A tenant has at most {MAX_CHANNELS} notification channels."
        )));
    }
    Ok(())
}

/// Adds an e-mail recipient.
pub async fn add_email(
    store: &Store,
    actor: &Actor,
    tenant_id: &str,
    address: &str,
    now: i64,
) -> Result<NotifyChannel, NotifyError> {
    let address = address.trim();
    if address.len() > 254 || address.parse::<lettre::Address>().is_err() {
        return Err(NotifyError::Invalid(format!(
            "'{address}' is not an e-mail address."
        )));
    }
    room_for_one(store, tenant_id).await?;
    let c = store
        .create_notify_channel(tenant_id, ChannelKind::Email, address, None, now)
        .await?;
    record(
        store,
        actor,
        tenant_id,
        "notify.channel_add",
        ("notify_channel", &c.id),
        json!({"kind": "email", "address": c.address}),
        now,
    )
    .await?;
    Ok(c)
}

/// Adds a webhook; returns it with its signing secret, which is shown this once.
pub async fn add_webhook(
    store: &Store,
    actor: &Actor,
    policy: target_http::Policy,
    tenant_id: &str,
    url: &str,
    now: i64,
) -> Result<(NotifyChannel, String), NotifyError> {
    let url = url.trim();
    if url.len() > 2048 {
        return Err(NotifyError::Invalid("The URL is too long.".into()));
    }
    target_http::check_url(url, policy).map_err(|e| NotifyError::Invalid(format!("{e}.")))?;
    room_for_one(store, tenant_id).await?;
    let secret = format!("{SECRET_PREFIX}{}", crate::ui::session::random_token(32));
    let c = store
        .create_notify_channel(tenant_id, ChannelKind::Webhook, url, Some(&secret), now)
        .await?;
    record(
        store,
        actor,
        tenant_id,
        "notify.channel_add",
        ("notify_channel", &c.id),
        json!({"kind": "webhook", "address": shown_address(c.kind, &c.address)}),
        now,
    )
    .await?;
    Ok((c, secret))
}

/// Enables or disables a channel of the tenant; the channel as it is now.
pub async fn set_enabled(
    store: &Store,
    actor: &Actor,
    tenant_id: &str,
    channel_id: &str,
    enabled: bool,
    now: i64,
) -> Result<NotifyChannel, NotifyError> {
    let mut c = store
        .get_notify_channel(tenant_id, channel_id)
        .await?
        .ok_or(NotifyError::NotFound)?;
    store
        .set_notify_channel_enabled(tenant_id, channel_id, enabled)
        .await?;
    let action = if enabled {
        "notify.channel_enable"
    } else {
        "notify.channel_disable"
    };
    record(
        store,
        actor,
        tenant_id,
        action,
        ("notify_channel", channel_id),
        json!({"address": shown_address(c.kind, &c.address)}),
        now,
    )
    .await?;
    c.enabled = enabled;
    Ok(c)
}

/// Removes a channel of the tenant with its deliveries; the channel as it was.
pub async fn remove(
    store: &Store,
    actor: &Actor,
    tenant_id: &str,
    channel_id: &str,
    now: i64,
) -> Result<NotifyChannel, NotifyError> {
    let c = store
        .get_notify_channel(tenant_id, channel_id)
        .await?
        .ok_or(NotifyError::NotFound)?;
    store.delete_notify_channel(tenant_id, channel_id).await?;
    record(
        store,
        actor,
        tenant_id,
        "notify.channel_remove",
        ("notify_channel", channel_id),
        json!({"address": shown_address(c.kind, &c.address)}),
        now,
    )
    .await?;
    Ok(c)
}

/// Queues the test message, naming `actor`, for the tenant's enabled channels (or only
/// `channel_id`); how many deliveries were queued.
pub async fn send_test(
    store: &Store,
    actor: &Actor,
    public_url: &str,
    tenant: &store::Tenant,
    channel_id: Option<&str>,
    now: i64,
) -> Result<u64, NotifyError> {
    if let Some(id) = channel_id
        && store.get_notify_channel(&tenant.id, id).await?.is_none()
    {
        return Err(NotifyError::NotFound);
    }
    let m = notify::test_message(&tenant.id, &tenant.name, &actor.email);
    let queued = store
        .queue_notification(&notification(&m, public_url, now), channel_id, now)
        .await?;
    record(
        store,
        actor,
        &tenant.id,
        "notify.test",
        ("tenant", &tenant.id),
        json!({"channels": queued}),
        now,
    )
    .await?;
    Ok(queued)
}

/// Where a delivery stands, as the log shows it: `queued` (no attempt yet), `retrying`,
/// `sent` or `failed` (given up).
pub fn delivery_status(d: &Delivery) -> &'static str {
    match d.state {
        DeliveryState::Pending if d.attempts == 0 => "queued",
        DeliveryState::Pending => "retrying",
        DeliveryState::Sent => "sent",
        DeliveryState::Failed => "failed",
    }
}

/// The stored form of a message: the JSON body every channel of the tenant receives.
pub fn notification(m: &Message, public_url: &str, now: i64) -> NewNotification {
    let created = chrono::DateTime::from_timestamp_millis(now)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    let integration = m
        .integration_id
        .as_ref()
        .map(|id| json!({"id": id, "name": m.integration_name}));
    let body = json!({
        "id": uuid::Uuid::now_v7().to_string(),
        "event": m.event.as_str(),
        "created_at": created,
        "tenant_id": m.tenant_id,
        "integration": integration,
        "title": m.title,
        "text": m.text,
        "link": format!("{public_url}{}", m.path),
        "details": m.details,
    });
    NewNotification {
        tenant_id: m.tenant_id.clone(),
        event: m.event.as_str().to_string(),
        title: m.title.clone(),
        payload: body.to_string(),
    }
}

/// The plain-text e-mail of a stored message.
fn email_body(payload: &str) -> String {
    let v: Value = serde_json::from_str(payload).unwrap_or_default();
    let text = v["text"].as_str().unwrap_or_default();
    let link = v["link"].as_str().unwrap_or_default();
    format!("{text}\n\nOpen in scimbridge: {link}\n\n-- \nscimbridge notifications\n")
}

/// The notifier task.
pub struct Notifier {
    store: Store,
    settings: Settings,
    /// This instance's name in the lease.
    owner: String,
    mailer: Option<Result<AsyncSmtpTransport<Tokio1Executor>, String>>,
}

/// Starts the notifier; it runs until aborted.
pub fn spawn(store: Store, settings: Settings) -> tokio::task::JoinHandle<()> {
    let notifier = Arc::new(Notifier::new(store, settings));
    tokio::spawn(async move { notifier.run().await })
}

/// How one attempt ended, before the retry decision.
struct Attempt {
    ok: bool,
    status: Option<i32>,
    response: Option<String>,
    error: Option<String>,
    /// Trying again cannot help (no SMTP configured).
    permanent: bool,
}

impl Notifier {
    pub fn new(store: Store, settings: Settings) -> Self {
        let mailer = settings.smtp_url.as_deref().map(|url| {
            AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                .map(|b| b.timeout(Some(SEND_TIMEOUT)).build())
                .map_err(|e| format!("the SMTP URL is not usable: {e}"))
        });
        Self {
            store,
            settings,
            owner: format!("notifier-{}", uuid::Uuid::new_v4()),
            mailer,
        }
    }

    async fn run(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.settings.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.round(store::now_ms()).await {
                tracing::warn!(error = %e, "notification rules round failed");
            }
            if let Err(e) = self.send_due().await {
                tracing::warn!(error = %e, "sending notifications failed");
            }
        }
    }

    /// One evaluation of the rules over every integration, if this instance holds the lease.
    pub async fn round(&self, now: i64) -> Result<(), StoreError> {
        let s = &self.store;
        let lease_ms = (self.settings.poll.as_millis() as i64 * 5).max(15_000);
        if !s
            .notify_take_lease(store::RULES_LEASE, &self.owner, now, now + lease_ms)
            .await?
        {
            return Ok(());
        }
        let rules = &self.settings.rules;
        let hour_ago = now - notify::HOUR_MS;
        let states = s.notify_states().await?;
        let latest_failure = s.latest_failure_by_integration().await?;
        let rejected = s.rejected_credentials_since(hour_ago).await?;
        let calls = s.target_calls_since(hour_ago).await?;
        let held: HashMap<String, u64> = s.held_by_integration().await?.into_iter().collect();
        let last_use = s.last_token_use_by_integration().await?;
        let mut expiring: HashMap<String, Vec<notify::ExpiringToken>> = HashMap::new();
        for t in s.tokens_expiring(now, now + rules.token_warning_ms).await? {
            expiring
                .entry(t.integration_id)
                .or_default()
                .push(notify::ExpiringToken {
                    id: t.id,
                    prefix: t.prefix,
                    expires_at: t.expires_at,
                });
        }
        let mut changed = Vec::new();
        let mut messages = Vec::new();
        for i in s.notify_integrations_unscoped().await? {
            let stored: Option<State> =
                states.get(&i.id).and_then(|j| serde_json::from_str(j).ok());
            let state = stored.clone().unwrap_or_else(|| State::fresh(i.created_at));
            let new_failures = if latest_failure
                .get(&i.id)
                .is_some_and(|t| *t > state.failures_cursor)
            {
                let f = s
                    .failures_after(&i.id, state.failures_cursor, rules.first_reasons)
                    .await?;
                Failures {
                    count: f.count,
                    latest_at: f.latest_at,
                    reasons: f.reasons,
                }
            } else {
                Failures::default()
            };
            let (calls_last_hour, failed_calls_last_hour) =
                calls.get(&i.id).copied().unwrap_or_default();
            let facts = Facts {
                active: i.status == store::IntegrationStatus::Active.as_str(),
                auto_paused: i.status == store::IntegrationStatus::Paused.as_str()
                    && i.paused_by.as_deref() == Some(store::AUTO_PAUSED_BY),
                pause_reason: i.pause_reason.clone().unwrap_or_default(),
                held_removals: held.get(&i.id).copied().unwrap_or_default(),
                last_idp_request: last_use.get(&i.id).copied(),
                new_failures,
                rejected_credentials: rejected.get(&i.id).copied().unwrap_or_default(),
                calls_last_hour,
                failed_calls_last_hour,
                expiring_tokens: expiring.remove(&i.id).unwrap_or_default(),
                tenant_id: i.tenant_id,
                integration_id: i.id,
                integration_name: i.name,
            };
            let (next, out) = notify::evaluate(&state, &facts, now, rules);
            if stored.as_ref() != Some(&next) {
                let json = serde_json::to_string(&next).map_err(StoreError::from)?;
                changed.push((facts.integration_id.clone(), json));
            }
            messages.extend(
                out.iter()
                    .map(|m| notification(m, &self.settings.public_url, now)),
            );
        }
        if !changed.is_empty() || !messages.is_empty() {
            s.save_notify_round(store::RULES_LEASE, &self.owner, &changed, &messages, now)
                .await?;
            for m in &messages {
                tracing::info!(event = %m.event, tenant = %m.tenant_id, "notification queued");
            }
        }
        Ok(())
    }

    /// Sends the due deliveries this instance can claim, concurrently.
    pub async fn send_due(&self) -> Result<(), StoreError> {
        let due = self
            .store
            .due_notify_deliveries(store::now_ms(), SEND_BATCH)
            .await?;
        let sends = due.into_iter().map(|d| self.attempt(d));
        for r in futures::future::join_all(sends).await {
            r?;
        }
        Ok(())
    }

    async fn attempt(&self, d: Delivery) -> Result<(), StoreError> {
        let now = store::now_ms();
        if !self
            .store
            .claim_notify_delivery(&d.id, now, now + CLAIM_MS)
            .await?
        {
            return Ok(());
        }
        let a = self.deliver(&d).await;
        let now = store::now_ms();
        let attempts = d.attempts + 1;
        let next = (!a.ok && !a.permanent)
            .then(|| self.settings.retry.next_attempt(attempts as u32, now))
            .flatten();
        let state = if a.ok {
            DeliveryState::Sent
        } else if next.is_some() {
            DeliveryState::Pending
        } else {
            DeliveryState::Failed
        };
        if !a.ok {
            tracing::warn!(delivery = %d.id, tenant = %d.tenant_id, attempts, error = a.error.as_deref().unwrap_or_default(), "notification delivery failed");
        }
        self.store
            .record_notify_attempt(
                &d.id,
                &AttemptOutcome {
                    state,
                    attempts,
                    next_attempt_at: next,
                    status_code: a.status,
                    response: a.response,
                    error: a.error,
                },
                now,
            )
            .await
    }

    async fn deliver(&self, d: &Delivery) -> Attempt {
        match d.channel_kind {
            ChannelKind::Webhook => self.post_webhook(d).await,
            ChannelKind::Email => self.send_email(d).await,
        }
    }

    async fn post_webhook(&self, d: &Delivery) -> Attempt {
        let failed = |error: String| Attempt {
            ok: false,
            status: None,
            response: None,
            error: Some(error),
            permanent: false,
        };
        let secret = match self
            .store
            .get_notify_channel(&d.tenant_id, &d.channel_id)
            .await
        {
            Ok(Some(c)) => match self.store.notify_channel_secret(&c) {
                Ok(Some(s)) => s,
                Ok(None) => return failed("the webhook has no signing secret".into()),
                Err(e) => return failed(format!("cannot open the signing secret: {e}")),
            },
            Ok(None) => return failed("the channel was removed".into()),
            Err(e) => return failed(e.to_string()),
        };
        let client = match target_http::client_for(&d.channel_address, self.settings.policy) {
            Ok(c) => c,
            Err(e) => return failed(e.to_string()),
        };
        let ts = chrono::Utc::now().timestamp();
        let body = d.payload.clone().into_bytes();
        let sent = client
            .post(&d.channel_address)
            .timeout(SEND_TIMEOUT)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::USER_AGENT, "scimbridge-notifications")
            .header("X-Scimbridge-Event", &d.event)
            .header("X-Scimbridge-Timestamp", ts.to_string())
            .header("X-Scimbridge-Signature", notify::sign(&secret, ts, &body))
            .body(body)
            .send()
            .await;
        match sent {
            Ok(r) => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                let response =
                    Some(notify::excerpt(text.trim(), RESPONSE_CHARS)).filter(|t| !t.is_empty());
                Attempt {
                    ok: status.is_success(),
                    status: Some(i32::from(status.as_u16())),
                    response,
                    error: (!status.is_success())
                        .then(|| format!("the receiver answered {status}")),
                    permanent: false,
                }
            }
            // Without the URL: some receivers keep a secret in its path.
            Err(e) => failed(error_chain(&e.without_url())),
        }
    }

    async fn send_email(&self, d: &Delivery) -> Attempt {
        let failed = |error: String, permanent| Attempt {
            ok: false,
            status: None,
            response: None,
            error: Some(error),
            permanent,
        };
        let mailer = match &self.mailer {
            None => return failed(SMTP_MISSING.into(), true),
            Some(Err(e)) => return failed(e.clone(), true),
            Some(Ok(m)) => m,
        };
        let mail = (|| -> Result<lettre::Message, String> {
            lettre::Message::builder()
                .from(
                    self.settings
                        .smtp_from
                        .parse()
                        .map_err(|e| format!("SCIMBRIDGE_SMTP_FROM is not an address: {e}"))?,
                )
                .to(d
                    .channel_address
                    .parse()
                    .map_err(|e| format!("the recipient is not an address: {e}"))?)
                .subject(format!("[scimbridge] {}", d.title))
                .header(ContentType::TEXT_PLAIN)
                .body(email_body(&d.payload))
                .map_err(|e| e.to_string())
        })();
        let mail = match mail {
            Ok(m) => m,
            Err(e) => return failed(e, true),
        };
        match mailer.send(mail).await {
            Ok(r) => Attempt {
                ok: true,
                status: Some(i32::from(u16::from(r.code()))),
                response: Some(notify::excerpt(
                    &r.message().collect::<Vec<_>>().join(" "),
                    RESPONSE_CHARS,
                )),
                error: None,
                permanent: false,
            },
            Err(e) => {
                let status = e.status().map(|c| i32::from(u16::from(c)));
                Attempt {
                    status,
                    ..failed(error_chain(&e), e.is_permanent())
                }
            }
        }
    }
}

/// An error with its causes ("error sending request: connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        source = s.source();
    }
    notify::excerpt(&out, 500)
}

/// The events a tenant admin can be told of, for the page and docs.
pub fn event_label(event: &str) -> &'static str {
    match EventKind::parse(event) {
        Some(EventKind::JobsFailed) => "Jobs failed",
        Some(EventKind::GuardHeld) => "Deletion guard held",
        Some(EventKind::AutoPaused) => "Paused automatically",
        Some(EventKind::IdpQuiet) => "IdP quiet",
        Some(EventKind::TokenExpiring) => "Token expiring",
        Some(EventKind::CredentialsRejected) => "Credentials rejected",
        Some(EventKind::FailureRate) => "Failure rate",
        Some(EventKind::Test) => "Test",
        None => "Other",
    }
}

/// How a channel's address is shown (page, log, audit): a webhook URL as its origin and
/// "/…", since some receivers (chat apps) put their secret in the path.
pub fn shown_address(kind: ChannelKind, address: &str) -> String {
    match kind {
        ChannelKind::Email => address.to_string(),
        ChannelKind::Webhook => match url::Url::parse(address) {
            Ok(u) if u.path().len() > 1 || u.query().is_some() => {
                format!("{}/…", u.origin().ascii_serialization())
            }
            Ok(u) => u.origin().ascii_serialization(),
            Err(_) => "(invalid URL)".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_paths_are_not_shown() {
        assert_eq!(
            shown_address(
                ChannelKind::Webhook,
                "https://hooks.example.com/T0/B0/secret"
            ),
            "https://hooks.example.com/…"
        );
        assert_eq!(
            shown_address(ChannelKind::Webhook, "https://example.com:8443"),
            "https://example.com:8443"
        );
        assert_eq!(
            shown_address(ChannelKind::Email, "a@b.example"),
            "a@b.example"
        );
    }

    #[test]
    fn a_message_body_carries_the_link_and_no_more_than_the_message() {
        let m = notify::test_message("t1", "Contoso", "admin@contoso");
        let n = notification(&m, "https://scim.example", 1_700_000_000_000);
        let v: Value = serde_json::from_str(&n.payload).unwrap_or_default();
        assert_eq!(v["event"], "test");
        assert_eq!(v["link"], "https://scim.example/t/t1/notifications");
        assert_eq!(v["created_at"], "2023-11-14T22:13:20Z");
        assert!(email_body(&n.payload).contains("https://scim.example/t/t1/notifications"));
    }
}
