//! Fixtures shared by the tests.

use std::collections::BTreeMap;
use store::scim::{GroupRow, UserRow};
use store::{Integration, IntegrationMode, IntegrationStatus, NewIntegration, Store, Tenant};

/// A tenant with one integration.
pub async fn tenant_with_integration(store: &Store, name: &str) -> (Tenant, Integration) {
    let tenant = store.create_tenant(name).await.unwrap();
    let integration = store
        .create_integration(new_integration(&tenant.id, "Entra → ActiveCampaign"))
        .await
        .unwrap();
    (tenant, integration)
}

/// A draft integration for `tenant_id`, with one secret.
pub fn new_integration(tenant_id: &str, name: &str) -> NewIntegration {
    let mut settings = serde_json::Map::new();
    settings.insert("base_url".into(), "https://acme.api-us1.com".into());
    let mut secrets = BTreeMap::new();
    secrets.insert("api_key".into(), "sk-live-SUPERSECRET-123".into());
    NewIntegration {
        tenant_id: tenant_id.to_owned(),
        name: name.to_owned(),
        connector_kind: "activecampaign".into(),
        settings,
        secrets,
        default_role: Some("Viewer".into()),
        deprovision_policy: "role:No access".into(),
        policies: store::IntegrationPolicies::default(),
        mode: IntegrationMode::Live,
        status: IntegrationStatus::Draft,
        extension_schemas: Vec::new(),
    }
}

/// A user row with a fresh id, created at `at`.
pub fn user(integration_id: &str, user_name: &str, at: i64) -> UserRow {
    let id = store::new_id();
    UserRow {
        resource: serde_json::json!({ "id": id, "userName": user_name }).to_string(),
        id,
        integration_id: integration_id.to_owned(),
        user_name: user_name.to_owned(),
        external_id: None,
        display_name: None,
        active: true,
        version: 1,
        created_at: at,
        updated_at: at,
    }
}

/// A group row with a fresh id, created at `at`.
pub fn group(integration_id: &str, display_name: &str, at: i64) -> GroupRow {
    let id = store::new_id();
    GroupRow {
        resource: serde_json::json!({ "id": id, "displayName": display_name }).to_string(),
        id,
        integration_id: integration_id.to_owned(),
        display_name: display_name.to_owned(),
        external_id: None,
        version: 1,
        created_at: at,
        updated_at: at,
    }
}

/// The plan the database would run `select` with, one line a row: `EXPLAIN QUERY PLAN`'s
/// `detail` on SQLite, `EXPLAIN`'s `QUERY PLAN` on PostgreSQL. Run on `conn`, so a caller
/// can set planner options in a transaction first.
pub async fn query_plan(
    conn: &impl sea_orm::ConnectionTrait,
    select: sea_orm::Statement,
) -> Vec<String> {
    use sea_orm::{DbBackend, Statement};
    let (prefix, column) = match select.db_backend {
        DbBackend::Sqlite => ("EXPLAIN QUERY PLAN", "detail"),
        _ => ("EXPLAIN", "QUERY PLAN"),
    };
    let explain = Statement {
        sql: format!("{prefix} {}", select.sql),
        ..select
    };
    conn.query_all_raw(explain)
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String>("", column).unwrap())
        .collect()
}
