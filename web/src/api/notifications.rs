//! Notification channels (e-mail, webhooks), test notifications and the delivery log; API tokens managed through the API.

use actix_web::web;

/// Registers this module's routes (under `/api/v1`).
pub fn configure(_cfg: &mut web::ServiceConfig) {}

/// This module's operations, for the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths())]
pub struct Operations;
