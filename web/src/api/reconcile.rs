//! The deletion guard (show, approve, discard) and reconciliation (import, report actions, Fix drift, orphan deprovisioning, Apply to all, schedule settings).

use actix_web::web;

/// Registers this module's routes (under `/api/v1`).
pub fn configure(_cfg: &mut web::ServiceConfig) {}

/// This module's operations, for the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths())]
pub struct Operations;
