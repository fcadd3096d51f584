//! The sign-in guards shared by every instance: failed sign-ins counted per key within a
//! window (`login_failures`), and the first-run setup tokens (`setup_tokens`).
//!
//! Keys and tokens are stored as SHA-256 hex only: a key is `email:…` or `ip:…`, and people
//! sometimes type their password into the email field. Each decision is one atomic statement
//! on both databases, so two instances never both count from the same old value nor both
//! accept one setup token. Times are epoch milliseconds, passed in by the caller.

use crate::crypto::hash_token;
use crate::{Result, Store, StoreError};
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

/// One key's failures within its current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginFailures {
    pub failures: u32,
    /// When the window began (epoch ms).
    pub window_start: i64,
}

impl Store {
    pub(crate) fn stmt(&self, postgres: &str, sqlite: &str, values: Vec<Value>) -> Statement {
        let backend = self.backend();
        let sql = match backend {
            DbBackend::Postgres => postgres,
            _ => sqlite,
        };
        Statement::from_sql_and_values(backend, sql, values)
    }

    /// Counts a failed sign-in for `key`: the count restarts at 1 when the key's window
    /// (`window_ms` from its first failure) is over. Returns the count as it is now. Also
    /// deletes the rows of every window that is over.
    pub async fn record_login_failure(
        &self,
        key: &str,
        now: i64,
        window_ms: i64,
    ) -> Result<LoginFailures> {
        // Both CASEs read the row as it was before this statement.
        let set = "failures = CASE WHEN login_failures.window_start <= {NOW} - {W} THEN 1 \
                   ELSE login_failures.failures + 1 END, \
                   window_start = CASE WHEN login_failures.window_start <= {NOW} - {W} THEN {NOW} \
                   ELSE login_failures.window_start END";
        let pg = format!(
            "INSERT INTO login_failures (key_hash, failures, window_start) VALUES ($1, 1, $2) \
             ON CONFLICT (key_hash) DO UPDATE SET {} RETURNING failures, window_start",
            set.replace("{NOW}", "$2").replace("{W}", "$3")
        );
        let lite = format!(
            "INSERT INTO login_failures (key_hash, failures, window_start) VALUES (?1, 1, ?2) \
             ON CONFLICT (key_hash) DO UPDATE SET {} RETURNING failures, window_start",
            set.replace("{NOW}", "?2").replace("{W}", "?3")
        );
        let row = self
            .db()
            .query_one_raw(self.stmt(
                &pg,
                &lite,
                vec![hash_token(key).into(), now.into(), window_ms.into()],
            ))
            .await?
            .ok_or_else(|| StoreError::InvalidData("failure count returned nothing".into()))?;
        let counted = read_failures(&row)?;
        self.db()
            .execute_raw(self.stmt(
                "DELETE FROM login_failures WHERE window_start <= $1",
                "DELETE FROM login_failures WHERE window_start <= ?1",
                vec![(now - window_ms).into()],
            ))
            .await?;
        Ok(counted)
    }

    /// The failures counted for `key` (in whatever window; the caller decides if it is over).
    pub async fn login_failures(&self, key: &str) -> Result<Option<LoginFailures>> {
        let row = self
            .db()
            .query_one_raw(self.stmt(
                "SELECT failures, window_start FROM login_failures WHERE key_hash = $1",
                "SELECT failures, window_start FROM login_failures WHERE key_hash = ?1",
                vec![hash_token(key).into()],
            ))
            .await?;
        row.map(|r| read_failures(&r)).transpose()
    }

    /// Forgets the failures of `key` (after a successful sign-in).
    pub async fn clear_login_failures(&self, key: &str) -> Result<()> {
        self.db()
            .execute_raw(self.stmt(
                "DELETE FROM login_failures WHERE key_hash = $1",
                "DELETE FROM login_failures WHERE key_hash = ?1",
                vec![hash_token(key).into()],
            ))
            .await?;
        Ok(())
    }

    /// Stores a new first-run setup token (its hash), valid until `expires_at`. Tokens added
    /// earlier stay valid; expired and used ones are deleted.
    pub async fn add_setup_token(&self, token: &str, expires_at: i64, now: i64) -> Result<()> {
        self.db()
            .execute_raw(self.stmt(
                "DELETE FROM setup_tokens WHERE expires_at <= $1 OR used_at IS NOT NULL",
                "DELETE FROM setup_tokens WHERE expires_at <= ?1 OR used_at IS NOT NULL",
                vec![now.into()],
            ))
            .await?;
        self.db()
            .execute_raw(self.stmt(
                "INSERT INTO setup_tokens (token_hash, expires_at) VALUES ($1, $2)",
                "INSERT INTO setup_tokens (token_hash, expires_at) VALUES (?1, ?2)",
                vec![hash_token(token).into(), expires_at.into()],
            ))
            .await?;
        Ok(())
    }

    /// Whether `token` is a stored, unused, unexpired setup token.
    pub async fn setup_token_valid(&self, token: &str, now: i64) -> Result<bool> {
        let row = self
            .db()
            .query_one_raw(self.stmt(
                "SELECT 1 AS ok FROM setup_tokens \
                 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
                "SELECT 1 AS ok FROM setup_tokens \
                 WHERE token_hash = ?1 AND used_at IS NULL AND expires_at > ?2",
                vec![hash_token(token).into(), now.into()],
            ))
            .await?;
        Ok(row.is_some())
    }

    /// Uses `token` up: true for exactly one caller, across instances. Using one token uses up
    /// every other live one too (one per instance started without an admin), in the same
    /// UPDATE, so two different valid links cannot both create a first admin. A wrong token
    /// changes nothing.
    pub async fn consume_setup_token(&self, token: &str, now: i64) -> Result<bool> {
        let hash = hash_token(token);
        let used = "SET used_at = {NOW} WHERE used_at IS NULL AND expires_at > {NOW} \
                    AND EXISTS (SELECT 1 FROM setup_tokens t WHERE t.token_hash = {H} \
                    AND t.used_at IS NULL AND t.expires_at > {NOW}) RETURNING token_hash";
        let pg = format!(
            "UPDATE setup_tokens {}",
            used.replace("{NOW}", "$2").replace("{H}", "$1")
        );
        let lite = format!(
            "UPDATE setup_tokens {}",
            used.replace("{NOW}", "?2").replace("{H}", "?1")
        );
        let rows = self
            .db()
            .query_all_raw(self.stmt(&pg, &lite, vec![hash.clone().into(), now.into()]))
            .await?;
        for r in rows {
            let h: String = r.try_get("", "token_hash")?;
            if h == hash {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

fn read_failures(row: &sea_orm::QueryResult) -> Result<LoginFailures> {
    let failures: i32 = row.try_get("", "failures")?;
    Ok(LoginFailures {
        failures: u32::try_from(failures).unwrap_or(0),
        window_start: row.try_get("", "window_start")?,
    })
}
