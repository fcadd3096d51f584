//! The UI's error type, mapped to a page (or a redirect to sign-in) at the edge.

use super::view::Frame;
use super::{Ctx, html_response};
use crate::app::AppState;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::Next;
use actix_web::web;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

/// Why a UI request did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// Not signed in (or the session ended): go to the sign-in page, then back to `0`.
    #[error("sign in required")]
    SignIn(String),
    /// Go to this local path first (staff who must enrol in TOTP).
    #[error("redirect")]
    Redirect(String),
    /// Not there, or not the viewer's to see.
    #[error("not found")]
    NotFound,
    /// Visible but not the viewer's to change.
    #[error("{0}")]
    Forbidden(String),
    /// Missing or wrong CSRF token, or a cross-site `Origin`.
    #[error("the form expired or came from another site")]
    Csrf,
    /// A malformed request that no form of ours sends.
    #[error("{0}")]
    BadRequest(String),
    /// Something broke on our side; details go to the log, not the page.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<store::StoreError> for UiError {
    fn from(e: store::StoreError) -> Self {
        match e {
            store::StoreError::NotFound => UiError::NotFound,
            other => UiError::Internal(other.to_string()),
        }
    }
}

impl From<crate::staff::StaffError> for UiError {
    fn from(e: crate::staff::StaffError) -> Self {
        use crate::staff::StaffError;
        match e {
            StaffError::Invalid(m) => UiError::BadRequest(m),
            StaffError::NotFound => UiError::NotFound,
            StaffError::Forbidden(m) => UiError::Forbidden(m),
            StaffError::Store(e) => e.into(),
        }
    }
}

impl From<crate::manage::ManageError> for UiError {
    fn from(e: crate::manage::ManageError) -> Self {
        use crate::manage::ManageError;
        match e {
            ManageError::Invalid(m) | ManageError::Conflict(m) => UiError::BadRequest(m),
            e @ ManageError::Field(..) => UiError::BadRequest(e.to_string()),
            ManageError::NotFound => UiError::NotFound,
            ManageError::Store(e) => e.into(),
        }
    }
}

#[derive(Template)]
#[template(path = "ui/error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: &'a str,
}

impl ResponseError for UiError {
    fn status_code(&self) -> StatusCode {
        match self {
            UiError::SignIn(_) | UiError::Redirect(_) => StatusCode::SEE_OTHER,
            UiError::NotFound => StatusCode::NOT_FOUND,
            UiError::Forbidden(_) | UiError::Csrf => StatusCode::FORBIDDEN,
            UiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            UiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (title, message) = match self {
            UiError::SignIn(next) => {
                let to = format!("/login?next={}", urlencoding::encode(next));
                return HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, to))
                    .finish();
            }
            UiError::Redirect(to) => {
                return HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, to.as_str()))
                    .finish();
            }
            UiError::NotFound => (
                "Not found",
                "This page does not exist, or you do not have access to it.".to_string(),
            ),
            UiError::Forbidden(why) => ("Not allowed", why.clone()),
            UiError::Csrf => (
                "Form expired",
                "This form expired or was sent from another site, so nothing was changed. \
                 Go back, reload the page and try again."
                    .to_string(),
            ),
            UiError::BadRequest(why) => ("Bad request", why.clone()),
            UiError::Internal(detail) => {
                tracing::error!(error = %detail, "UI request failed");
                (
                    "Something went wrong",
                    "The server could not complete this request. Nothing was changed \
                     unless a message said so. Try again; if it persists, check the server log."
                        .to_string(),
                )
            }
        };
        let status = self.status_code();
        let page = ErrorPage {
            status: status.as_u16(),
            title,
            message: &message,
        };
        let body = page
            .render()
            .unwrap_or_else(|_| format!("<h1>{}</h1>", status.as_u16()));
        let mut res = html_response(status, body);
        if matches!(status.as_u16(), 403 | 404) {
            res.extensions_mut().insert(Shown {
                title,
                message: message.clone(),
            });
        }
        res
    }
}

/// What a 403 / 404 page said, for [`keep_the_shell`].
#[derive(Debug, Clone)]
struct Shown {
    title: &'static str,
    message: String,
}

#[derive(Template)]
#[template(path = "ui/error_shell.html")]
struct ShellErrorPage {
    frame: Frame,
    status: u16,
    message: String,
}

/// Middleware of the UI's routes: a 403 or 404 page shown to someone signed in keeps the app's
/// shell (navigation, tenant switcher, who is signed in), so they are not stranded; anyone
/// else gets the plain page `UiError` rendered (it reveals nothing about the app).
pub async fn keep_the_shell(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let res = next.call(req).await?.map_into_boxed_body();
    let Some(shown) = res.response().extensions().get::<Shown>().cloned() else {
        return Ok(res);
    };
    let (http, plain) = res.into_parts();
    let Some(state) = http.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(ServiceResponse::new(http, plain));
    };
    let Ok(ctx) = Ctx::load(&http, &state).await else {
        return Ok(ServiceResponse::new(http, plain));
    };
    let status = plain.status();
    let page = match ctx.frame(shown.title, "", None, vec![]).await {
        Ok(frame) => ShellErrorPage {
            frame,
            status: status.as_u16(),
            message: shown.message,
        },
        Err(_) => return Ok(ServiceResponse::new(http, plain)),
    };
    match ctx.render(&page) {
        Ok(mut res) => {
            *res.status_mut() = status;
            Ok(ServiceResponse::new(http, res))
        }
        Err(_) => Ok(ServiceResponse::new(http, plain)),
    }
}
