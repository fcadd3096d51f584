//! Notifications' rows: a tenant's channels (`notify_channels`), the delivery log
//! (`notify_deliveries`), the notifier's per-integration state (`notify_state`, JSON the
//! `notify` crate defines) and its lease (`notify_lease`), and the cross-tenant counts the
//! rules read, each one query for all integrations so a round costs the same for ten or ten
//! thousand of them.
//!
//! Writes go through `Store::write_statement(s)` (the writer on SQLite). A round's states and
//! the deliveries it creates are written in one unit whose first statement checks the round's
//! lease: an instance that lost the lease writes nothing, so two instances never send the same
//! message. A delivery is sent by whoever claims it (one conditional `UPDATE` on
//! `claimed_until`).

use crate::{Result, Store, StoreError};
use sea_orm::{ConnectionTrait, QueryResult, Statement, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// What kind of channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    Email,
    Webhook,
}

impl ChannelKind {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Webhook => "webhook",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "email" => Ok(Self::Email),
            "webhook" => Ok(Self::Webhook),
            other => Err(StoreError::InvalidData(format!(
                "unknown notification channel kind '{other}'"
            ))),
        }
    }
}

/// A tenant's e-mail recipient or webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyChannel {
    pub id: String,
    pub tenant_id: String,
    pub kind: ChannelKind,
    /// The e-mail address or the webhook URL.
    pub address: String,
    pub enabled: bool,
    pub created_at: i64,
    /// The sealed signing secret (webhooks): open with [`Store::notify_channel_secret`].
    sealed_secret: Option<String>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// To be sent (again) at `next_attempt_at`.
    Pending,
    Sent,
    /// Given up.
    Failed,
}

impl DeliveryState {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "sent" => Self::Sent,
            "failed" => Self::Failed,
            _ => Self::Pending,
        }
    }
}

/// One message to one channel, with its attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: String,
    pub tenant_id: String,
    pub channel_id: String,
    /// The channel's kind and address (joined in).
    pub channel_kind: ChannelKind,
    pub channel_address: String,
    pub event: String,
    pub title: String,
    /// The JSON message, as a webhook receives it.
    pub payload: String,
    pub state: DeliveryState,
    pub attempts: i32,
    pub next_attempt_at: Option<i64>,
    pub status_code: Option<i32>,
    /// The start of the last response.
    pub response: Option<String>,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A message to queue for channels: the event, the subject line and the JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    pub tenant_id: String,
    pub event: String,
    pub title: String,
    pub payload: String,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptOutcome {
    pub state: DeliveryState,
    pub attempts: i32,
    pub next_attempt_at: Option<i64>,
    pub status_code: Option<i32>,
    pub response: Option<String>,
    pub error: Option<String>,
}

/// An integration as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyIntegration {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub status: String,
    pub created_at: i64,
    /// Who paused it (`scimbridge`: the worker; see `AUTO_PAUSED_BY`).
    pub paused_by: Option<String>,
    /// The automatic pause's reason.
    pub pause_reason: Option<String>,
}

/// A live SCIM token that expires soon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiringTokenRow {
    pub id: String,
    pub integration_id: String,
    pub prefix: String,
    pub expires_at: i64,
}

/// Permanent failures of one integration after a time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailureRows {
    pub count: u64,
    pub latest_at: i64,
    /// Distinct reasons, oldest first (at most the number asked for).
    pub reasons: Vec<String>,
}

/// Name of the rules' lease row.
pub const RULES_LEASE: &str = "rules";

/// `jobs.last_error_kind` of such a job (`ConnectorError::kind`).
pub const REJECTED_CREDENTIALS_KIND: &str = "unauthorized";

fn channel_from(row: &QueryResult) -> Result<NotifyChannel> {
    Ok(NotifyChannel {
        id: row.try_get("", "id")?,
        tenant_id: row.try_get("", "tenant_id")?,
        kind: ChannelKind::parse(&row.try_get::<String>("", "kind")?)?,
        address: row.try_get("", "address")?,
        enabled: row.try_get("", "enabled")?,
        created_at: row.try_get("", "created_at")?,
        sealed_secret: row.try_get("", "secret")?,
    })
}

fn delivery_from(row: &QueryResult) -> Result<Delivery> {
    Ok(Delivery {
        id: row.try_get("", "id")?,
        tenant_id: row.try_get("", "tenant_id")?,
        channel_id: row.try_get("", "channel_id")?,
        channel_kind: ChannelKind::parse(&row.try_get::<String>("", "kind")?)?,
        channel_address: row.try_get("", "address")?,
        event: row.try_get("", "event")?,
        title: row.try_get("", "title")?,
        payload: row.try_get("", "payload")?,
        state: DeliveryState::parse(&row.try_get::<String>("", "state")?),
        attempts: row.try_get("", "attempts")?,
        next_attempt_at: row.try_get("", "next_attempt_at")?,
        status_code: row.try_get("", "status_code")?,
        response: row.try_get("", "response")?,
        error: row.try_get("", "error")?,
        created_at: row.try_get("", "created_at")?,
        updated_at: row.try_get("", "updated_at")?,
    })
}

const DELIVERY_COLUMNS: &str = "d.id, d.tenant_id, d.channel_id, c.kind, c.address, d.event, \
     d.title, d.payload, d.state, d.attempts, d.next_attempt_at, d.status_code, d.response, \
     d.error, d.created_at, d.updated_at";

const CHANNEL_COLUMNS: &str = "id, tenant_id, kind, address, secret, enabled, created_at";

fn count(row: &QueryResult, col: &str) -> Result<u64> {
    Ok(row.try_get::<i64>("", col)?.max(0) as u64)
}

impl Store {
    /// `sql` with `$n` placeholders, for this backend (SQLite takes `?n`).
    fn q(&self, sql: &str, values: Vec<Value>) -> Statement {
        let backend = self.backend();
        let sql = if backend == sea_orm::DbBackend::Postgres {
            sql.to_string()
        } else {
            sql.replace('$', "?")
        };
        Statement::from_sql_and_values(backend, sql, values)
    }

    // --- channels ---

    /// Adds a channel; a webhook's `secret` is sealed, bound to the new channel's id.
    pub async fn create_notify_channel(
        &self,
        tenant_id: &str,
        kind: ChannelKind,
        address: &str,
        secret: Option<&str>,
        now: i64,
    ) -> Result<NotifyChannel> {
        let id = crate::new_id();
        let sealed = secret
            .map(|s| {
                self.secret_box()
                    .seal_with_context(id.as_bytes(), s.as_bytes())
            })
            .transpose()?;
        self.write_statement(self.q(
                "INSERT INTO notify_channels (id, tenant_id, kind, address, secret, enabled, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                vec![
                    id.clone().into(),
                    tenant_id.into(),
                    kind.as_str().into(),
                    address.into(),
                    sealed.clone().into(),
                    true.into(),
                    now.into(),
                ],
            ))
            .await?;
        Ok(NotifyChannel {
            id,
            tenant_id: tenant_id.to_string(),
            kind,
            address: address.to_string(),
            enabled: true,
            created_at: now,
            sealed_secret: sealed,
        })
    }

    /// The tenant's channels, oldest first.
    pub async fn list_notify_channels(&self, tenant_id: &str) -> Result<Vec<NotifyChannel>> {
        let rows = self
            .db()
            .query_all_raw(self.q(
                &format!(
                    "SELECT {CHANNEL_COLUMNS} FROM notify_channels WHERE tenant_id = $1 \
                     ORDER BY created_at, id"
                ),
                vec![tenant_id.into()],
            ))
            .await?;
        rows.iter().map(channel_from).collect()
    }

    /// One channel of the tenant (another tenant's is `None`).
    pub async fn get_notify_channel(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> Result<Option<NotifyChannel>> {
        let row = self
            .db()
            .query_one_raw(self.q(
                &format!(
                    "SELECT {CHANNEL_COLUMNS} FROM notify_channels WHERE tenant_id = $1 AND id = $2"
                ),
                vec![tenant_id.into(), id.into()],
            ))
            .await?;
        row.as_ref().map(channel_from).transpose()
    }

    /// A webhook's signing secret, opened.
    pub fn notify_channel_secret(&self, channel: &NotifyChannel) -> Result<Option<String>> {
        channel
            .sealed_secret
            .as_deref()
            .map(|s| {
                let plain = self
                    .secret_box()
                    .open_with_context(channel.id.as_bytes(), s)?;
                String::from_utf8(plain).map_err(|e| StoreError::Crypto(e.to_string()))
            })
            .transpose()
    }

    /// Enables or disables a channel of the tenant ([`StoreError::NotFound`] if none).
    pub async fn set_notify_channel_enabled(
        &self,
        tenant_id: &str,
        id: &str,
        enabled: bool,
    ) -> Result<()> {
        let changed = self
            .write_statement(self.q(
                "UPDATE notify_channels SET enabled = $3 WHERE tenant_id = $1 AND id = $2",
                vec![tenant_id.into(), id.into(), enabled.into()],
            ))
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Deletes a channel of the tenant and its deliveries ([`StoreError::NotFound`] if none).
    pub async fn delete_notify_channel(&self, tenant_id: &str, id: &str) -> Result<()> {
        let counts = self
            .write_statements(vec![
                self.q(
                    "DELETE FROM notify_deliveries WHERE tenant_id = $1 AND channel_id = $2",
                    vec![tenant_id.into(), id.into()],
                ),
                self.q(
                    "DELETE FROM notify_channels WHERE tenant_id = $1 AND id = $2",
                    vec![tenant_id.into(), id.into()],
                ),
            ])
            .await?;
        if counts.get(1).copied().unwrap_or(0) == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    // --- deliveries ---

    /// Queues `n` for every enabled channel of its tenant (or only `channel_id`); how many
    /// deliveries were queued.
    pub async fn queue_notification(
        &self,
        n: &NewNotification,
        channel_id: Option<&str>,
        now: i64,
    ) -> Result<u64> {
        let channels: Vec<String> = self
            .list_notify_channels(&n.tenant_id)
            .await?
            .into_iter()
            .filter(|c| c.enabled && channel_id.is_none_or(|id| id == c.id))
            .map(|c| c.id)
            .collect();
        if !channels.is_empty() {
            self.write_statements(
                channels
                    .iter()
                    .map(|c| self.delivery_insert(n, c, now))
                    .collect(),
            )
            .await?;
        }
        Ok(channels.len() as u64)
    }

    fn delivery_insert(&self, n: &NewNotification, channel_id: &str, now: i64) -> Statement {
        self.q(
            "INSERT INTO notify_deliveries (id, tenant_id, channel_id, event, title, payload, \
             state, attempts, next_attempt_at, claimed_until, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, 0, $7, $7)",
            vec![
                crate::new_id().into(),
                n.tenant_id.clone().into(),
                channel_id.into(),
                n.event.clone().into(),
                n.title.clone().into(),
                n.payload.clone().into(),
                now.into(),
            ],
        )
    }

    /// Deliveries due at `now` that nobody has claimed, oldest first.
    pub async fn due_notify_deliveries(&self, now: i64, limit: u64) -> Result<Vec<Delivery>> {
        let rows = self
            .db()
            .query_all_raw(self.q(
                &format!(
                    "SELECT {DELIVERY_COLUMNS} FROM notify_deliveries d \
                     JOIN notify_channels c ON c.id = d.channel_id \
                     WHERE d.state = 'pending' AND d.next_attempt_at <= $1 AND d.claimed_until < $1 \
                     ORDER BY d.next_attempt_at LIMIT $2"
                ),
                vec![now.into(), (limit as i64).into()],
            ))
            .await?;
        rows.iter().map(delivery_from).collect()
    }

    /// Claims a due delivery until `until`: true for exactly one caller.
    pub async fn claim_notify_delivery(&self, id: &str, now: i64, until: i64) -> Result<bool> {
        let changed = self
            .write_statement(self.q(
                "UPDATE notify_deliveries SET claimed_until = $3 \
                 WHERE id = $1 AND state = 'pending' AND claimed_until < $2",
                vec![id.into(), now.into(), until.into()],
            ))
            .await?;
        Ok(changed == 1)
    }

    /// Records how an attempt ended and releases the claim.
    pub async fn record_notify_attempt(
        &self,
        id: &str,
        outcome: &AttemptOutcome,
        now: i64,
    ) -> Result<()> {
        self.write_statement(self.q(
            "UPDATE notify_deliveries SET state = $2, attempts = $3, next_attempt_at = $4, \
                 status_code = $5, response = $6, error = $7, claimed_until = 0, updated_at = $8 \
                 WHERE id = $1",
            vec![
                id.into(),
                outcome.state.as_str().into(),
                outcome.attempts.into(),
                outcome.next_attempt_at.into(),
                outcome.status_code.into(),
                outcome.response.clone().into(),
                outcome.error.clone().into(),
                now.into(),
            ],
        ))
        .await?;
        Ok(())
    }

    /// The tenant's delivery log, newest first.
    pub async fn list_notify_deliveries(
        &self,
        tenant_id: &str,
        limit: u64,
    ) -> Result<Vec<Delivery>> {
        self.list_notify_deliveries_before(tenant_id, None, limit)
            .await
    }

    /// A page of the tenant's delivery log, newest first: the deliveries older than delivery
    /// `before` (in the log's order), or the newest without it. An unknown `before` is an
    /// empty page.
    pub async fn list_notify_deliveries_before(
        &self,
        tenant_id: &str,
        before: Option<&str>,
        limit: u64,
    ) -> Result<Vec<Delivery>> {
        let stmt = match before {
            None => self.q(
                &format!(
                    "SELECT {DELIVERY_COLUMNS} FROM notify_deliveries d \
                     JOIN notify_channels c ON c.id = d.channel_id \
                     WHERE d.tenant_id = $1 ORDER BY d.created_at DESC, d.id DESC LIMIT $2"
                ),
                vec![tenant_id.into(), (limit as i64).into()],
            ),
            // The cursor's row gives the position: (created_at, id) below it.
            Some(id) => self.q(
                &format!(
                    "SELECT {DELIVERY_COLUMNS} FROM notify_deliveries d \
                     JOIN notify_channels c ON c.id = d.channel_id \
                     JOIN notify_deliveries b ON b.id = $3 AND b.tenant_id = $1 \
                     WHERE d.tenant_id = $1 AND (d.created_at < b.created_at \
                       OR (d.created_at = b.created_at AND d.id < b.id)) \
                     ORDER BY d.created_at DESC, d.id DESC LIMIT $2"
                ),
                vec![tenant_id.into(), (limit as i64).into(), id.into()],
            ),
        };
        let rows = self.db().query_all_raw(stmt).await?;
        rows.iter().map(delivery_from).collect()
    }

    /// Deletes finished (sent or given-up) deliveries created before `cutoff`; how many.
    pub async fn prune_notify_deliveries(&self, cutoff: i64) -> Result<u64> {
        self.write_statement(self.q(
            "DELETE FROM notify_deliveries WHERE created_at < $1 AND state <> 'pending'",
            vec![cutoff.into()],
        ))
        .await
    }

    // --- the rules' round ---

    /// Takes or renews the lease `name` for `owner` until `until` if nobody else holds a live
    /// one; false when another instance does.
    pub async fn notify_take_lease(
        &self,
        name: &str,
        owner: &str,
        now: i64,
        until: i64,
    ) -> Result<bool> {
        let take = || {
            self.q(
                "UPDATE notify_lease SET owner = $2, until = $4 \
                 WHERE name = $1 AND (until < $3 OR owner = $2)",
                vec![name.into(), owner.into(), now.into(), until.into()],
            )
        };
        if self.write_statement(take()).await? == 1 {
            return Ok(true);
        }
        // The row is made once; after that a round is one UPDATE.
        let counts = self
            .write_statements(vec![
                self.q(
                    "INSERT INTO notify_lease (name, owner, until) VALUES ($1, '', 0) \
                     ON CONFLICT (name) DO NOTHING",
                    vec![name.into()],
                ),
                take(),
            ])
            .await?;
        Ok(counts.get(1) == Some(&1))
    }

    /// Every integration's stored state (JSON), by integration id.
    pub async fn notify_states(&self) -> Result<HashMap<String, String>> {
        let rows = self
            .db()
            .query_all_raw(self.q("SELECT integration_id, state FROM notify_state", vec![]))
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("", "integration_id")?, r.try_get("", "state")?)))
            .collect()
    }

    /// Saves a round's changed states and queues its messages for every enabled channel of
    /// their tenants, in one transaction, only while `owner` still holds the lease `name`
    /// (else [`StoreError::Conflict`] and nothing is written). How many deliveries were queued.
    pub async fn save_notify_round(
        &self,
        name: &str,
        owner: &str,
        states: &[(String, String)],
        messages: &[NewNotification],
        now: i64,
    ) -> Result<u64> {
        let mut channels: HashMap<String, Vec<String>> = HashMap::new();
        for m in messages {
            if !channels.contains_key(&m.tenant_id) {
                let ids = self
                    .list_notify_channels(&m.tenant_id)
                    .await?
                    .into_iter()
                    .filter(|c| c.enabled)
                    .map(|c| c.id)
                    .collect();
                channels.insert(m.tenant_id.clone(), ids);
            }
        }
        // The first statement checks the lease: without it, nothing is written.
        let mut statements = vec![self.q(
            "UPDATE notify_lease SET until = until WHERE name = $1 AND owner = $2 AND until >= $3",
            vec![name.into(), owner.into(), now.into()],
        )];
        for (integration_id, state) in states {
            statements.push(self.q(
                "INSERT INTO notify_state (integration_id, state, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (integration_id) DO UPDATE SET state = excluded.state, \
                 updated_at = excluded.updated_at",
                vec![
                    integration_id.clone().into(),
                    state.clone().into(),
                    now.into(),
                ],
            ));
        }
        let mut queued = 0;
        for m in messages {
            for c in channels.get(&m.tenant_id).into_iter().flatten() {
                statements.push(self.delivery_insert(m, c, now));
                queued += 1;
            }
        }
        let statements = Arc::new(statements);
        self.write(move |txn| {
            let statements = Arc::clone(&statements);
            async move {
                for (i, s) in statements.iter().enumerate() {
                    let n = crate::Execute::execute_counted(&*txn, s.clone()).await?;
                    if i == 0 && n == 0 {
                        return Err(StoreError::Conflict {
                            what: "the notifier's lease".into(),
                        });
                    }
                }
                Ok::<_, StoreError>(())
            }
        })
        .await?;
        Ok(queued)
    }

    /// Every integration (id, tenant, name, status, creation).
    pub async fn notify_integrations_unscoped(&self) -> Result<Vec<NotifyIntegration>> {
        let rows = self
            .db()
            .query_all_raw(self.q(
                "SELECT id, tenant_id, name, status, created_at, paused_by, pause_reason \
                 FROM integrations",
                vec![],
            ))
            .await?;
        rows.iter()
            .map(|r| {
                Ok(NotifyIntegration {
                    id: r.try_get("", "id")?,
                    tenant_id: r.try_get("", "tenant_id")?,
                    name: r.try_get("", "name")?,
                    status: r.try_get("", "status")?,
                    created_at: r.try_get("", "created_at")?,
                    paused_by: r.try_get("", "paused_by")?,
                    pause_reason: r.try_get("", "pause_reason")?,
                })
            })
            .collect()
    }

    /// The newest failure time of each integration with failed jobs.
    pub async fn latest_failure_by_integration(&self) -> Result<HashMap<String, i64>> {
        let rows = self
            .db()
            .query_all_raw(self.q(
                "SELECT integration_id, MAX(updated_at) AS latest FROM jobs \
                 WHERE state = 'failed' GROUP BY integration_id",
                vec![],
            ))
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("", "integration_id")?, r.try_get("", "latest")?)))
            .collect()
    }

    /// The integration's jobs that failed after `after`: count, newest time, and up to
    /// `reasons` distinct reasons, oldest first.
    pub async fn failures_after(
        &self,
        integration_id: &str,
        after: i64,
        reasons: usize,
    ) -> Result<FailureRows> {
        let rows = self
            .db()
            .query_all_raw(self.q(
                "SELECT last_error, updated_at FROM jobs \
                 WHERE integration_id = $1 AND state = 'failed' AND updated_at > $2 \
                 ORDER BY updated_at, id",
                vec![integration_id.into(), after.into()],
            ))
            .await?;
        let mut out = FailureRows::default();
        for r in &rows {
            out.count += 1;
            out.latest_at = out.latest_at.max(r.try_get("", "updated_at")?);
            let reason: Option<String> = r.try_get("", "last_error")?;
            if let Some(reason) = reason
                && out.reasons.len() < reasons
                && !out.reasons.contains(&reason)
            {
                out.reasons.push(reason);
            }
        }
        Ok(out)
    }

    /// Jobs per integration whose last attempt after `since` failed because the target
    /// rejected the credentials: failed for good, or waiting for the key to be fixed (with the
    /// automatic pause on, such jobs are retried, not failed).
    pub async fn rejected_credentials_since(&self, since: i64) -> Result<HashMap<String, u64>> {
        let rows = self
            .db()
            .query_all_raw(self.q(
                "SELECT integration_id, COUNT(*) AS n FROM jobs \
                 WHERE updated_at > $1 AND last_error_kind = $2 \
                 GROUP BY integration_id",
                vec![since.into(), REJECTED_CREDENTIALS_KIND.into()],
            ))
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("", "integration_id")?, count(r, "n")?)))
            .collect()
    }

    /// Calls to targets per integration since `since`: (all, failed). Retries that will be
    /// tried again and decisions without a call are not counted.
    pub async fn target_calls_since(&self, since: i64) -> Result<HashMap<String, (u64, u64)>> {
        let rows = self
            .db()
            .query_all_raw(self.q(
                "SELECT integration_id, outcome, COUNT(*) AS n FROM provisioning_events \
                 WHERE at > $1 AND direction = 'outbound' AND outcome IN ('ok', 'error') \
                 AND operation <> 'decide' GROUP BY integration_id, outcome",
                vec![since.into()],
            ))
            .await?;
        let mut out: HashMap<String, (u64, u64)> = HashMap::new();
        for r in &rows {
            let n = count(r, "n")?;
            let e = out.entry(r.try_get("", "integration_id")?).or_default();
            e.0 += n;
            if r.try_get::<String>("", "outcome")? == "error" {
                e.1 += n;
            }
        }
        Ok(out)
    }

    /// The newest use of any token of each integration (the IdP's last request, to the
    /// minute: a token's use is written at most once a minute).
    pub async fn last_token_use_by_integration(&self) -> Result<HashMap<String, i64>> {
        let rows = self
            .db()
            .query_all_raw(self.q(
                "SELECT integration_id, MAX(last_used_at) AS last FROM scim_tokens \
                 WHERE last_used_at IS NOT NULL GROUP BY integration_id",
                vec![],
            ))
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("", "integration_id")?, r.try_get("", "last")?)))
            .collect()
    }

    /// Live tokens that expire after `now` and no later than `until`.
    pub async fn tokens_expiring(&self, now: i64, until: i64) -> Result<Vec<ExpiringTokenRow>> {
        let rows = self
            .db()
            .query_all_raw(self.q(
                "SELECT id, integration_id, prefix, expires_at FROM scim_tokens \
                 WHERE revoked_at IS NULL AND expires_at > $1 AND expires_at <= $2",
                vec![now.into(), until.into()],
            ))
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ExpiringTokenRow {
                    id: r.try_get("", "id")?,
                    integration_id: r.try_get("", "integration_id")?,
                    prefix: r.try_get("", "prefix")?,
                    expires_at: r.try_get("", "expires_at")?,
                })
            })
            .collect()
    }
}
