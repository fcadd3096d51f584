//! The admin REST API under `/api/v1`: JSON in and out, `Authorization: Bearer` with an API
//! token (`api_tokens`), errors as RFC 9457 problem details, rate-limited per token, and an
//! OpenAPI 3.1 document generated from these handlers (`openapi`).
//!
//! Handlers are thin: their arguments (the extractors below) find the principal and check
//! its scope with the same rules as the console (`access::Access`: another tenant's object is
//! 404, a read-only role gets 403 on writes), and they call the same services as the console
//! and the CLI (`manage`, `staff`, `integration_settings`, `reconcile_service`, `notifier`).

pub mod handlers;
pub mod limit;
pub mod notifications;
pub mod openapi;
mod problem;
pub mod reconcile;
pub mod settings;

pub use limit::RateLimiter;
pub use openapi::ApiDoc;
pub use problem::{ApiError, PROBLEM_JSON, Problem};

use crate::api_tokens::Principal;
use crate::app::AppState;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use futures::future::LocalBoxFuture;
use store::{Integration, Tenant};

/// Shorthand.
pub type ApiResult = Result<actix_web::HttpResponse, ApiError>;

/// API-wide state, shared by every HTTP worker.
#[derive(Debug)]
pub struct ApiState {
    pub limiter: RateLimiter,
}

impl ApiState {
    /// `per_minute` requests per token and minute (bursts up to the same number).
    pub fn new(per_minute: u32) -> Self {
        Self {
            limiter: RateLimiter::new(per_minute),
        }
    }
}

/// Registers `/api/v1`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let json = web::JsonConfig::default()
        .limit(1 << 20)
        .error_handler(|e, _| {
            ApiError::BadRequest(format!("The JSON body is not valid: {e}")).into()
        });
    let query = web::QueryConfig::default().error_handler(|e, _| {
        ApiError::BadRequest(format!("The query string is not valid: {e}")).into()
    });
    let path = web::PathConfig::default()
        .error_handler(|e, _| ApiError::BadRequest(format!("The path is not valid: {e}")).into());
    cfg.service(
        web::scope("/api/v1")
            .app_data(json)
            .app_data(query)
            .app_data(path)
            .configure(handlers::configure)
            .configure(settings::configure)
            .configure(reconcile::configure)
            .configure(notifications::configure)
            .default_service(web::to(|| async {
                Err::<actix_web::HttpResponse, _>(ApiError::NotFound)
            })),
    );
}

/// The principal of a request: a live API token, within its rate. Records the token's use
/// (at most once a minute).
pub async fn principal(req: &HttpRequest, state: &AppState) -> Result<Principal, ApiError> {
    let raw = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::Unauthorized)?;
    let now = store::now_ms();
    let p = crate::api_tokens::authenticate(state.store(), raw, now)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    state
        .api
        .limiter
        .take(state.store(), &p.token.id, now)
        .await?
        .map_err(ApiError::RateLimited)?;
    if crate::api_tokens::wants_touch(&p.token, now)
        && let Err(e) = state.store().touch_api_token(&p.token.id, now).await
    {
        tracing::warn!(error = %e, "could not record an API token's use");
    }
    Ok(p)
}

/// The integration of the path's `{tenant_id}` and `{integration_id}` with the principal that
/// may view it (`EDIT = false`; outside its scope: 404) or change it (`EDIT = true`; a
/// read-only role: 403). As a handler argument it authenticates, rate-limits and scopes the
/// request before anything else is read (a body included).
pub struct OnIntegration<const EDIT: bool> {
    pub p: Principal,
    pub i: Integration,
}

/// An integration the principal may view.
pub type Viewing = OnIntegration<false>;
/// An integration the principal may change.
pub type Editing = OnIntegration<true>;

/// The tenant of the path's `{tenant_id}` with the principal that may view it (outside its
/// scope: 404) or, with `EDIT`, change it (a read-only role: 403), authenticated,
/// rate-limited and scoped before anything else is read.
pub struct OnTenant<const EDIT: bool> {
    pub p: Principal,
    pub t: Tenant,
}

/// A tenant the principal may view.
pub type TenantViewing = OnTenant<false>;
/// A tenant the principal may change.
pub type TenantEditing = OnTenant<true>;

const fn need(edit: bool) -> handlers::Need {
    if edit {
        handlers::Need::Edit
    } else {
        handlers::Need::View
    }
}

/// The principal and the path's tenant, if it may `need` it.
async fn scoped_tenant(
    req: &HttpRequest,
    need: handlers::Need,
) -> Result<(Principal, Tenant), ApiError> {
    let state = app_state(req)?;
    let p = principal(req, state).await?;
    let tid = req
        .match_info()
        .get("tenant_id")
        .ok_or(ApiError::NotFound)?;
    let t = handlers::tenant(state, &p, tid, need).await?;
    Ok((p, t))
}

fn app_state(req: &HttpRequest) -> Result<&web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::Internal("no application state".into()))
}

/// The principal and the path's integration, if it may `need` it.
async fn scoped(
    req: &HttpRequest,
    need: handlers::Need,
) -> Result<(Principal, Integration), ApiError> {
    let state = app_state(req)?;
    let p = principal(req, state).await?;
    let path = req.match_info();
    let (Some(tid), Some(iid)) = (path.get("tenant_id"), path.get("integration_id")) else {
        return Err(ApiError::NotFound);
    };
    let i = handlers::integration(state, &p, tid, iid, need).await?;
    Ok((p, i))
}

impl<const EDIT: bool> FromRequest for OnIntegration<EDIT> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (p, i) = scoped(&req, need(EDIT)).await?;
            Ok(Self { p, i })
        })
    }
}

impl<const EDIT: bool> FromRequest for OnTenant<EDIT> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (p, t) = scoped_tenant(&req, need(EDIT)).await?;
            Ok(Self { p, t })
        })
    }
}

/// The principal of a request as a handler argument (see [`principal`]).
impl FromRequest for Principal {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { principal(&req, app_state(&req)?).await })
    }
}
