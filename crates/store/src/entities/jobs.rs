//! Entity for the `jobs` table.

use crate::types::{JobState, SubjectKind};
use sea_orm::entity::prelude::*;

/// An outbox job: "bring subject X in line with the target".
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub integration_id: String,
    pub subject_kind: SubjectKind,
    pub subject_id: String,
    pub state: JobState,
    pub attempts: i32,
    pub run_after: i64,
    pub locked_until: Option<i64>,
    pub locked_by: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    pub correlation_id: Option<String>,
    /// The kind of `last_error` (`ConnectorError::kind`, e.g. `unauthorized`; migration
    /// 000020), so rules read the kind and not the text.
    pub last_error_kind: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ActiveModelBehavior for ActiveModel {}
