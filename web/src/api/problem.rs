//! RFC 9457 problem details: every error of the API, one shape.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The media type of a problem.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error (RFC 9457 problem details).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`: the status says what kind of problem it is.
    #[serde(rename = "type")]
    pub type_: String,
    /// The status's reason phrase, e.g. `Not Found`.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong, for a person.
    pub detail: String,
}

/// Why an API request did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No token, or one that is unknown, revoked, expired, or whose owner may no longer use it.
    #[error("Send a valid API token: Authorization: Bearer sbapi_…")]
    Unauthorized,
    /// Visible but not the token's to change (or do).
    #[error("{0}")]
    Forbidden(String),
    /// Not there, or not in the token's scope.
    #[error("Not found (or not in this token's scope).")]
    NotFound,
    /// Malformed request.
    #[error("{0}")]
    BadRequest(String),
    /// Well-formed but not acceptable input (a rule, a setting).
    #[error("{0}")]
    Invalid(String),
    /// The object's state does not allow this.
    #[error("{0}")]
    Conflict(String),
    /// Over the token's rate; retry after this many seconds.
    #[error("Too many requests with this token; retry in {0} s.")]
    RateLimited(u64),
    /// Our fault; the detail goes to the log only.
    #[error("internal error")]
    Internal(String),
}

impl From<store::StoreError> for ApiError {
    fn from(e: store::StoreError) -> Self {
        match e {
            store::StoreError::NotFound => ApiError::NotFound,
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<crate::manage::ManageError> for ApiError {
    fn from(e: crate::manage::ManageError) -> Self {
        use crate::manage::ManageError;
        match e {
            ManageError::Invalid(m) => ApiError::Invalid(m),
            e @ ManageError::Field(..) => ApiError::Invalid(e.to_string()),
            ManageError::Conflict(m) => ApiError::Conflict(m),
            ManageError::NotFound => ApiError::NotFound,
            ManageError::Store(e) => e.into(),
        }
    }
}

impl From<crate::staff::StaffError> for ApiError {
    fn from(e: crate::staff::StaffError) -> Self {
        use crate::staff::StaffError;
        match e {
            StaffError::Invalid(m) => ApiError::Invalid(m),
            StaffError::NotFound => ApiError::NotFound,
            StaffError::Forbidden(m) => ApiError::Forbidden(m),
            StaffError::Store(e) => e.into(),
        }
    }
}

impl From<crate::notifier::NotifyError> for ApiError {
    fn from(e: crate::notifier::NotifyError) -> Self {
        use crate::notifier::NotifyError;
        match e {
            NotifyError::Invalid(m) => ApiError::Invalid(m),
            NotifyError::NotFound => ApiError::NotFound,
            NotifyError::Store(e) => e.into(),
        }
    }
}

impl ApiError {
    /// The problem document of this error.
    pub fn problem(&self) -> Problem {
        let status = self.status_code();
        Problem {
            type_: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("Error").into(),
            status: status.as_u16(),
            detail: match self {
                ApiError::Internal(_) => "Something went wrong on the server; it is logged.".into(),
                other => other.to_string(),
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(e) = self {
            tracing::error!(error = %e, "admin API request failed");
        }
        let mut res = HttpResponse::build(self.status_code());
        res.content_type(PROBLEM_JSON)
            .insert_header((header::CACHE_CONTROL, "no-store"));
        match self {
            ApiError::Unauthorized => {
                res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            ApiError::RateLimited(secs) => {
                res.insert_header((header::RETRY_AFTER, secs.to_string()));
            }
            _ => {}
        }
        res.body(serde_json::to_string(&self.problem()).unwrap_or_default())
    }
}
