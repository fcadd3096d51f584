//! The directory's error: a SCIM protocol error to send back, or a storage failure.

use scim_core::ScimError;
use store::StoreError;

/// Errors of the directory service.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// A protocol error with its status and `scimType`, safe to show the client.
    #[error(transparent)]
    Scim(#[from] ScimError),
    /// The database failed; the text stays in our logs and never reaches a client.
    #[error("storage error: {0}")]
    Store(#[from] StoreError),
}

/// Shorthand.
pub type Result<T> = std::result::Result<T, DirectoryError>;

impl DirectoryError {
    /// The SCIM error to answer with. Storage failures become a generic 500 (or 503 when
    /// the database is busy) whose detail carries no database text.
    pub fn to_scim(&self) -> ScimError {
        match self {
            DirectoryError::Scim(e) => e.clone(),
            DirectoryError::Store(StoreError::NotFound) => {
                ScimError::not_found("resource not found")
            }
            DirectoryError::Store(StoreError::Conflict { what }) => {
                ScimError::uniqueness(format!("{what} is already in use"))
            }
            DirectoryError::Store(StoreError::VersionMismatch) => {
                ScimError::precondition_failed("the resource changed; fetch it and try again")
            }
            DirectoryError::Store(_) => ScimError::new(
                500,
                None,
                "internal storage error; the change was not applied",
            ),
        }
    }
}
