//! Entity for the `provisioning_events` table.

use crate::types::{Direction, SubjectKind};
use sea_orm::entity::prelude::*;

/// One trace line: an inbound SCIM request or an outbound target call.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "provisioning_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: i64,
    pub tenant_id: String,
    pub integration_id: String,
    pub direction: Direction,
    pub operation: String,
    pub subject_kind: Option<SubjectKind>,
    pub subject_id: Option<String>,
    pub subject_name: Option<String>,
    pub http_status: Option<i32>,
    pub outcome: String,
    pub duration_ms: Option<i64>,
    pub correlation_id: String,
    pub attempt: Option<i32>,
    /// Redacted JSON.
    #[sea_orm(column_type = "Text", nullable)]
    pub detail: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}
