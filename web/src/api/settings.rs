//! Integration settings after creation: connection and secrets, role rules and default role,
//! policies, mode (dry run ↔ live), extension schemas, test connection. The checks and the
//! audit entries are the console's (`integration_settings`); field names and formats are the
//! create call's (`handlers::IntegrationCreate`).

use super::handlers::IntegrationPath;
use super::handlers::{IntegrationOut, integration_out, json};
use super::{ApiError, ApiResult, Editing, Viewing};
use crate::app::AppState;
use crate::integration_settings::{self as settings, ConnectionChange, PolicyChange, RolesChange};
use actix_web::http::StatusCode;
use actix_web::web;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use store::IntegrationMode;
use utoipa::ToSchema;

const ONE: &str = "/tenants/{tenant_id}/integrations/{integration_id}";

/// Registers this module's routes (under `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(ONE, web::patch().to(update_connection))
        .route(&format!("{ONE}/test"), web::post().to(test_connection))
        .route(&format!("{ONE}/roles"), web::get().to(get_roles))
        .route(&format!("{ONE}/roles"), web::put().to(put_roles))
        .route(&format!("{ONE}/policy"), web::get().to(get_policy))
        .route(&format!("{ONE}/policy"), web::put().to(put_policy))
        .route(
            &format!("{ONE}/extension-schemas"),
            web::get().to(get_extension_schemas),
        )
        .route(
            &format!("{ONE}/extension-schemas"),
            web::put().to(put_extension_schemas),
        );
}

/// This module's operations, for the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    update_connection,
    test_connection,
    get_roles,
    put_roles,
    get_policy,
    put_policy,
    get_extension_schemas,
    put_extension_schemas
))]
pub struct Operations;

// ------------------------------------------------------------------ connection

/// A change to the connection: only what is given changes. A setting with an empty value is
/// cleared; a secret replaces the stored one (rotation), an omitted or empty one keeps it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntegrationPatch {
    #[serde(default)]
    pub name: Option<String>,
    /// Non-secret settings, e.g. `{"base_url": "https://acme.api-us1.com"}`.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    /// Secret settings (API keys); encrypted at rest, never returned.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
}

impl From<IntegrationPatch> for ConnectionChange {
    fn from(b: IntegrationPatch) -> Self {
        Self {
            name: b.name,
            settings: b.settings,
            secrets: b.secrets,
        }
    }
}

/// Changes the name, settings or secrets of an integration (the console's Connection tab).
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}",
    tag = "Integration settings",
    params(IntegrationPath),
    request_body = IntegrationPatch,
    responses((status = 200, description = "The integration as saved", body = IntegrationOut)))]
async fn update_connection(
    state: web::Data<AppState>,
    Editing { p, i }: Editing,
    body: web::Json<IntegrationPatch>,
) -> ApiResult {
    let saved = settings::update_connection(
        state.store(),
        &p.actor(),
        &i,
        &body.into_inner().into(),
        state.config.allow_private_targets,
        store::now_ms(),
    )
    .await?;
    Ok(json(StatusCode::OK, &integration_out(&state, saved)))
}

/// Settings and secrets to test instead of the stored ones (all optional).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionTest {
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
}

/// What the target answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionTested {
    pub ok: bool,
    /// In words, e.g. `Connected to ActiveCampaign account "acme" as …`.
    pub message: String,
    /// The target's full error text, when it says more than the message.
    pub details: Option<String>,
}

/// Tests the connection (the console's Test button): the stored settings and secrets, with
/// any given in the body instead. Nothing is saved.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}/test",
    tag = "Integration settings",
    params(IntegrationPath),
    request_body = ConnectionTest,
    responses((status = 200, description = "The outcome (`ok` false when the target refused)", body = ConnectionTested)))]
async fn test_connection(
    state: web::Data<AppState>,
    Editing { i, .. }: Editing,
    body: web::Json<ConnectionTest>,
) -> ApiResult {
    let stored = state.store().integration_secrets(&i)?;
    let b = body.into_inner();
    let change = ConnectionChange {
        name: None,
        settings: b.settings,
        secrets: b.secrets,
    };
    let t = settings::test_connection(
        state.store(),
        &i.connector_kind,
        Some((&i, &stored)),
        &change,
        state.config.allow_private_targets,
    )
    .await?;
    Ok(json(
        StatusCode::OK,
        &ConnectionTested {
            ok: t.ok,
            message: t.message,
            details: t.details,
        },
    ))
}

// ------------------------------------------------------------------ roles

/// The role mapping: rules, default role and (Brevo) the roles' definitions.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Roles {
    /// The role of users no rule matches (when the policy gives them one); `null`: none.
    #[serde(default)]
    pub default_role: Option<String>,
    /// Highest priority first: `app_role:Admin=Admin`, `group:Sales=Manager`,
    /// `filter:title eq "Sales Manager"=User`.
    #[serde(default)]
    pub role_rules: Vec<String>,
    /// Only for connectors that define their roles here (Brevo's privilege bundles, the
    /// `role_privileges` setting); omitted on a PUT: kept.
    #[serde(default)]
    pub bundles: Option<String>,
}

/// The role rules and default role.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}/roles",
    tag = "Integration settings",
    params(IntegrationPath),
    responses((status = 200, description = "The role mapping", body = Roles)))]
async fn get_roles(state: web::Data<AppState>, Viewing { i, .. }: Viewing) -> ApiResult {
    Ok(json(StatusCode::OK, &roles_of(&state, &i).await?))
}

async fn roles_of(state: &AppState, i: &store::Integration) -> Result<Roles, ApiError> {
    let rules = settings::stored_rules(state.store(), i).await?;
    Ok(Roles {
        default_role: i.default_role.clone(),
        role_rules: rules.iter().map(settings::RuleRow::line).collect(),
        bundles: settings::bundles_field(i).map(|f| {
            i.settings
                .get(f.key)
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_string()
        }),
    })
}

/// Replaces the role rules and the default role. Roles the target does not have are refused
/// (when it lists them); a policy that gives unmatched users the default role needs one.
#[utoipa::path(put, path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}/roles",
    tag = "Integration settings",
    params(IntegrationPath),
    request_body = Roles,
    responses((status = 200, description = "The role mapping as saved", body = Roles)))]
async fn put_roles(
    state: web::Data<AppState>,
    Editing { p, i }: Editing,
    body: web::Json<Roles>,
) -> ApiResult {
    let b = body.into_inner();
    let allow_private = state.config.allow_private_targets;
    let change = RolesChange {
        default_role: b.default_role.unwrap_or_default(),
        rules: b
            .role_rules
            .iter()
            .map(|l| settings::RuleRow::of_line(l))
            .collect::<Result<_, _>>()?,
        bundles: b.bundles,
    };
    // The roles the rules may name are those of the integration with the new definitions.
    let probe =
        settings::with_bundles(state.store(), &i, change.bundles.as_deref(), allow_private)?;
    let (known_roles, _) = settings::target_roles(state.store(), &probe, allow_private).await;
    settings::update_roles(
        state.store(),
        &p.actor(),
        &i,
        &change,
        &known_roles,
        allow_private,
        store::now_ms(),
    )
    .await?;
    let saved = state
        .store()
        .get_integration(&i.tenant_id, &i.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(json(StatusCode::OK, &roles_of(&state, &saved).await?))
}

// ------------------------------------------------------------------ policy

/// The policies and the mode, in the create call's words.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyIn {
    /// `role:<target role>`, `deactivate`, `delete` or `ignore`.
    pub deprovision: String,
    /// `default`, `deprovision` or `keep`; omitted or `auto`: decided by the default role.
    #[serde(default)]
    pub unmatched: Option<String>,
    /// `assignment` or `groups`.
    pub lifecycle: String,
    /// `none`, `ruled` or `all`.
    pub push_groups: String,
    /// `USERS,PERCENT%` (e.g. `10,20%`) or `off`.
    pub delete_guard: String,
    /// `live` or `dry_run`. From `dry_run` to `live`, every known user is brought to the
    /// target now (accounts the last import matched are adopted).
    pub mode: String,
}

impl PolicyIn {
    fn of(i: &store::Integration) -> Self {
        let c = PolicyChange::of(i);
        Self {
            deprovision: c.deprovision,
            unmatched: Some(c.unmatched),
            lifecycle: c.lifecycle,
            push_groups: c.push_groups,
            delete_guard: c.delete_guard,
            mode: c.mode.as_str().to_string(),
        }
    }
}

/// The policies as saved, and what going live did.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicySaved {
    pub policy: PolicyIn,
    /// Set when this change switched a dry run to live.
    pub went_live: Option<WentLive>,
}

/// Dry run → live: what was brought to the target.
#[derive(Debug, Serialize, ToSchema)]
pub struct WentLive {
    /// Existing target accounts linked (not created again), from the last import.
    pub adopted: u64,
    /// Known users queued for sync.
    pub queued: u64,
}

/// The policies and the mode.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}/policy",
    tag = "Integration settings",
    params(IntegrationPath),
    responses((status = 200, description = "The policies", body = PolicyIn)))]
async fn get_policy(Viewing { i, .. }: Viewing) -> ApiResult {
    Ok(json(StatusCode::OK, &PolicyIn::of(&i)))
}

/// Replaces the policies and the mode (the console's Policy tab).
#[utoipa::path(put, path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}/policy",
    tag = "Integration settings",
    params(IntegrationPath),
    request_body = PolicyIn,
    responses((status = 200, description = "Saved", body = PolicySaved)))]
async fn put_policy(
    state: web::Data<AppState>,
    Editing { p, i }: Editing,
    body: web::Json<PolicyIn>,
) -> ApiResult {
    let b = body.into_inner();
    let mode = match b.mode.as_str() {
        "live" => IntegrationMode::Live,
        "dry_run" => IntegrationMode::DryRun,
        other => {
            return Err(ApiError::Invalid(format!(
                "mode: '{other}' is not live or dry_run"
            )));
        }
    };
    let change = PolicyChange {
        deprovision: b.deprovision,
        unmatched: b.unmatched.unwrap_or_default(),
        lifecycle: b.lifecycle,
        push_groups: b.push_groups,
        delete_guard: b.delete_guard,
        mode,
    };
    let done = settings::update_policy(
        state.store(),
        &p.actor(),
        &i,
        &change,
        state.config.allow_private_targets,
        store::now_ms(),
    )
    .await?;
    let saved = state
        .store()
        .get_integration(&i.tenant_id, &i.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(json(
        StatusCode::OK,
        &PolicySaved {
            policy: PolicyIn::of(&saved),
            went_live: done
                .went_live
                .map(|(adopted, queued)| WentLive { adopted, queued }),
        },
    ))
}

// ------------------------------------------------------------------ extension schemas

/// The extension schemas of the integration's User type (besides core and Enterprise).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtensionSchemas {
    /// SCIM schema resources (RFC 7643 §7), as the create call takes them.
    #[schema(value_type = Vec<Object>)]
    pub extension_schemas: Vec<serde_json::Value>,
}

/// The extension schemas.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}/extension-schemas",
    tag = "Integration settings",
    params(IntegrationPath),
    responses((status = 200, description = "The extension schemas", body = ExtensionSchemas)))]
async fn get_extension_schemas(Viewing { i, .. }: Viewing) -> ApiResult {
    Ok(json(StatusCode::OK, &schemas_out(&i.extension_schemas)))
}

fn schemas_out(list: &[scim_core::schema::Schema]) -> ExtensionSchemas {
    let value = scim_core::extension::schemas_to_value(list);
    ExtensionSchemas {
        extension_schemas: value.as_array().cloned().unwrap_or_default(),
    }
}

/// Replaces the extension schemas (an empty list removes them all). Rule filters and this
/// integration's SCIM endpoint use them at once.
#[utoipa::path(put, path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}/extension-schemas",
    tag = "Integration settings",
    params(IntegrationPath),
    request_body = ExtensionSchemas,
    responses((status = 200, description = "The extension schemas as saved", body = ExtensionSchemas)))]
async fn put_extension_schemas(
    state: web::Data<AppState>,
    Editing { p, i }: Editing,
    body: web::Json<ExtensionSchemas>,
) -> ApiResult {
    let saved = settings::set_extension_schemas(
        state.store(),
        &p.actor(),
        &i,
        body.into_inner().extension_schemas,
        store::now_ms(),
    )
    .await?;
    // This process serves the new User type at once; other instances within the cache period.
    state.tokens.clear();
    Ok(json(StatusCode::OK, &schemas_out(&saved)))
}
