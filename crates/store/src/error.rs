//! The store's error type.

use sea_orm::{DbErr, SqlErr};

/// Everything that can go wrong in the store.
///
/// Messages may contain database text: map them to a generic response at the edge, never
/// send them to a client.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A database error that is not one of the cases below.
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    /// A unique constraint was violated (`what` names the clashing value's kind).
    #[error("conflict: {what} already exists")]
    Conflict {
        /// What clashed, e.g. `userName` or `email`.
        what: String,
    },
    /// The row to change does not exist (in this scope).
    #[error("not found")]
    NotFound,
    /// Optimistic concurrency: the stored version differs from the expected one.
    #[error("version mismatch")]
    VersionMismatch,
    /// Encryption, decryption or key handling failed (wrong master key, corrupt blob…).
    #[error("crypto error: {0}")]
    Crypto(String),
    /// Stored or supplied data is not in the expected shape.
    #[error("invalid data: {0}")]
    InvalidData(String),
}

/// The store's result type.
pub type Result<T> = std::result::Result<T, StoreError>;

impl StoreError {
    /// Turns a unique-constraint violation into [`StoreError::Conflict`] naming `what`; any
    /// other database error stays [`StoreError::Db`].
    pub(crate) fn unique(err: DbErr, what: &str) -> Self {
        if Self::is_unique_violation(&err) {
            StoreError::Conflict {
                what: what.to_owned(),
            }
        } else {
            StoreError::Db(err)
        }
    }

    /// True if `err` is a unique-constraint violation (without consuming it), from sqlx or
    /// from the SQLite writer's direct path.
    pub fn is_unique_violation(err: &DbErr) -> bool {
        matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
            || crate::sqlite_write::is_unique_violation(err)
    }

    /// True for [`StoreError::Conflict`].
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::InvalidData(format!("json: {e}"))
    }
}
