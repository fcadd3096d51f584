//! Integration settings after creation: connection and secrets, role rules and default role, policies, mode (dry run ↔ live), extension schemas, test connection.

use actix_web::web;

/// Registers this module's routes (under `/api/v1`).
pub fn configure(_cfg: &mut web::ServiceConfig) {}

/// This module's operations, for the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths())]
pub struct Operations;
