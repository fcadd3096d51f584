//! Configuration of the fake ActiveCampaign server.
//!
//! Every knob that models something the reference marks as an inference (`[inf]`)
//! or as contradictory between sources is a field here, with the most likely
//! behaviour as the default. See `crates/testkit/README.md` for the list.

use std::time::Duration;

/// Default requests per second per account (ActiveCampaign: 5 rps per account [doc]).
pub const DEFAULT_RATE_LIMIT: u32 = 5;

/// Top-level configuration for [`super::FakeActiveCampaign::start`].
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// Port to bind on 127.0.0.1; `0` picks a free port.
    pub port: u16,
    /// The ActiveCampaign accounts served. Requests are routed to an account by
    /// their `Api-Token`; all accounts share the one base URL. If empty, one
    /// default account (see [`AccountConfig::default`]) is created.
    pub accounts: Vec<AccountConfig>,
    /// What the `Retry-After` header of a 429 says.
    pub retry_after: RetryAfter,
    /// Send `RateLimit-Limit` / `RateLimit-Remaining` on every response. The docs
    /// mention them, the 2020 recordings show none on 200/201, so off by default.
    pub rate_limit_headers: bool,
    /// Probability (0.0..=1.0) that an authenticated request is answered with 503
    /// instead of being processed (models the 503-at-the-limit report [lib]).
    pub error_503_probability: f64,
    /// Artificial latency added to every response.
    pub latency: Duration,
    /// Keep at most this many request-log entries (oldest dropped first).
    pub max_log_entries: usize,
    /// HTTP worker threads (raise for benchmarks).
    pub workers: usize,
    /// Behavioural switches for the points where the reference is uncertain.
    pub quirks: Quirks,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            port: 0,
            accounts: Vec::new(),
            retry_after: RetryAfter::default(),
            rate_limit_headers: false,
            error_503_probability: 0.0,
            latency: Duration::ZERO,
            max_log_entries: 200_000,
            workers: 2,
            quirks: Quirks::default(),
        }
    }
}

impl FakeConfig {
    /// One account with a single API token.
    #[must_use]
    pub fn with_token(token: impl Into<String>) -> Self {
        Self {
            accounts: vec![AccountConfig::new("account1", token)],
            ..Self::default()
        }
    }

    /// Add an account (builder style).
    #[must_use]
    pub fn account(mut self, account: AccountConfig) -> Self {
        self.accounts.push(account);
        self
    }
}

/// One ActiveCampaign account ("<account>.api-us1.com").
#[derive(Debug, Clone)]
pub struct AccountConfig {
    /// Name used in the request log, snapshots and seeding helpers.
    pub name: String,
    /// Valid API keys. Every key acts as the account owner (the user created at
    /// start); `/users/me` returns that user.
    pub tokens: Vec<String>,
    /// Keys that were reset ("recycled"): answered 403 with an empty body and no
    /// `Content-Type` [lib].
    pub recycled_tokens: Vec<String>,
    /// Requests per second for this account, shared by all its keys. `0` = unlimited.
    pub rate_limit: u32,
    /// The key owner, created at start as user id "1" in the built-in "Admin" group.
    pub owner: OwnerConfig,
    /// Extra permission groups created at start (after the built-in "Admin",
    /// id "3"), in order, ids "4", "5", ... A title equal to "Admin" is skipped.
    pub groups: Vec<String>,
    /// `localZoneid` given to users of this account.
    pub local_zoneid: String,
}

impl Default for AccountConfig {
    fn default() -> Self {
        Self::new("account1", "test-api-token")
    }
}

impl AccountConfig {
    /// An account with one token and default owner, no extra groups.
    #[must_use]
    pub fn new(name: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            tokens: vec![token.into()],
            recycled_tokens: Vec::new(),
            rate_limit: DEFAULT_RATE_LIMIT,
            owner: OwnerConfig::default(),
            groups: Vec::new(),
            local_zoneid: "America/New_York".to_owned(),
        }
    }

    /// Add another token for the same account.
    #[must_use]
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.tokens.push(token.into());
        self
    }

    /// Set the extra groups created at start.
    #[must_use]
    pub fn groups<I, S>(mut self, titles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.groups = titles.into_iter().map(Into::into).collect();
        self
    }

    /// Set the per-account rate limit (`0` = unlimited).
    #[must_use]
    pub fn rate_limit(mut self, rps: u32) -> Self {
        self.rate_limit = rps;
        self
    }
}

/// The account owner (the user every API key of the account acts as).
#[derive(Debug, Clone)]
pub struct OwnerConfig {
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
}

impl Default for OwnerConfig {
    fn default() -> Self {
        Self {
            username: "admin".to_owned(),
            email: "owner@example.com".to_owned(),
            first_name: "Account".to_owned(),
            last_name: "Owner".to_owned(),
        }
    }
}

/// Value of the `Retry-After` header on a 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RetryAfter {
    /// Seconds until the sliding window frees a slot, rounded up (always >= 1).
    #[default]
    Computed,
    /// A fixed number of seconds (the docs' example is 30).
    Fixed(u64),
}

/// What a PUT carrying a different `username` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UsernameChange {
    /// Change it (what the 2020 recording shows) [rec].
    #[default]
    Allow,
    /// Accept the request but keep the old username.
    Ignore,
    /// 422 `field_invalid` "Username cannot be changed!" (what the docs say).
    Reject,
}

/// Body of the 403 for a missing or unknown `Api-Token`.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum AuthFailureBody {
    /// `{"message":"You are not authorized to access this resource"}` [inf].
    #[default]
    JsonMessage,
    /// Empty body, no `Content-Type` (as seen for recycled keys) [lib].
    Empty,
}

/// Switches for behaviour the reference marks as uncertain.
#[derive(Debug, Clone)]
pub struct Quirks {
    /// `PUT /users/{id}` without `group` → 422 "The user group was not provided."
    /// (Feb 2020 recording). Default on.
    pub require_group_on_update: bool,
    /// What a username change on PUT does.
    pub username_change: UsernameChange,
    /// Email and username uniqueness and lookups ignore ASCII case [inf]
    /// (MySQL default collation). Default on.
    pub case_insensitive_identifiers: bool,
    /// Fields `POST /users` must carry (non-empty) [inf]; the published schema
    /// has `required: []`. Default: username, email, group, password.
    pub create_required_fields: Vec<String>,
    /// Status for "No Result found for Group with id N" on `GET /groups/{id}`
    /// (and `GET /groups/{id}/userGroups`). The published spec shows 403 [doc].
    pub group_not_found_status_get: u16,
    /// Same message on `PUT`/`DELETE /groups/{id}`; the recording of
    /// `DELETE /groups/` shows 404 [rec].
    pub group_not_found_status_write: u16,
    /// Include `"lang":"english"` in the 201 of `POST /users` (docs example
    /// has it, 2020 recordings do not).
    pub include_lang_on_create: bool,
    /// Body of the 403 for a missing/unknown key.
    pub auth_failure_body: AuthFailureBody,
    /// UTC offset of `cdate`/`udate` timestamps, in seconds (recordings show
    /// US Central: -05:00 in summer, -06:00 in winter). Default -05:00.
    pub utc_offset_secs: i32,
    /// Allow `DELETE /users/{owner}`. Unknown in the reference; allowed so that
    /// the bridge, not the fake, has to refuse. After the owner is deleted the
    /// account's keys are answered like unknown keys [inf].
    pub allow_delete_owner: bool,
    /// What `GET /groups/{id}/userGroups` does: its path and shape are inferred [inf], so the
    /// bridge must cope with it being absent or unfiltered.
    pub member_lists: MemberLists,
}

/// The behaviour of `GET /groups/{id}/userGroups` (not in the published reference).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MemberLists {
    /// The group's own links, paged like other lists.
    #[default]
    Filtered,
    /// No such route: 404 `{"errors":[{"status":404,"title":"Not Found"}]}`.
    Missing,
    /// Every link of the account, whatever the group.
    Unfiltered,
}

impl Default for Quirks {
    fn default() -> Self {
        Self {
            require_group_on_update: true,
            username_change: UsernameChange::Allow,
            case_insensitive_identifiers: true,
            create_required_fields: ["username", "email", "group", "password"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            group_not_found_status_get: 403,
            group_not_found_status_write: 404,
            include_lang_on_create: true,
            auth_failure_body: AuthFailureBody::JsonMessage,
            utc_offset_secs: -5 * 3600,
            allow_delete_owner: true,
            member_lists: MemberLists::Filtered,
        }
    }
}
