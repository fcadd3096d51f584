//! The signed-in staff member's API tokens (create, list, revoke) and the admin API's
//! reference page, rendered from the generated OpenAPI document.

use super::session::role_label;
use super::view::{Frame, When};
use super::{Ctx, FormData, UiError, UiResult};
use crate::api_tokens::{self, TokenRequest};
use crate::app::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use askama::Template;
use serde_json::Value;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api-tokens", web::get().to(list))
        .route("/api-tokens", web::post().to(create))
        .route("/api-tokens/{id}/revoke", web::post().to(revoke))
        .route("/api-reference", web::get().to(reference));
}

struct Row {
    id: String,
    name: String,
    prefix: String,
    role: &'static str,
    tenant: String,
    last_used: Option<When>,
    expires: Option<When>,
    /// `active`, `revoked` or `expired`.
    state: &'static str,
}

#[derive(Template)]
#[template(path = "ui/api_tokens.html")]
struct TokensPage {
    frame: Frame,
    rows: Vec<Row>,
    roles: Vec<(&'static str, &'static str)>,
    tenants: Vec<(String, String)>,
    /// The owner belongs to one tenant: no "all tenants" choice.
    tenant_bound: bool,
    issued: Option<String>,
    name: String,
    error: Option<String>,
}

async fn page(ctx: &Ctx, issued: Option<String>, name: String, error: Option<String>) -> UiResult {
    let v = &ctx.viewer;
    let now = store::now_ms();
    let tenants: Vec<(String, String)> = ctx
        .store()
        .list_tenants()
        .await?
        .into_iter()
        .filter(|t| v.can_view_tenant(&t.id))
        .map(|t| (t.id, t.name))
        .collect();
    let tenant_name = |id: &Option<String>| match id {
        None => "All in scope".to_string(),
        Some(id) => tenants
            .iter()
            .find(|(t, _)| t == id)
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| id.clone()),
    };
    let rows = api_tokens::list(ctx.store(), &v.id)
        .await?
        .into_iter()
        .map(|t| Row {
            state: if t.revoked_at.is_some() {
                "revoked"
            } else if t.expires_at.is_some_and(|e| e <= now) {
                "expired"
            } else {
                "active"
            },
            tenant: tenant_name(&t.tenant_id),
            id: t.id,
            name: t.name,
            prefix: t.prefix,
            role: role_label(t.role),
            last_used: When::opt(t.last_used_at),
            expires: When::opt(t.expires_at),
        })
        .collect();
    let frame = ctx.frame("API tokens", "api-tokens", None, vec![]).await?;
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let mut res = ctx.render(&TokensPage {
        frame,
        rows,
        roles: api_tokens::token_roles(v.role)
            .iter()
            .map(|r| (r.as_str(), role_label(*r)))
            .collect(),
        tenant_bound: v.tenant_id.is_some(),
        tenants,
        issued,
        name,
        error,
    })?;
    *res.status_mut() = status;
    Ok(res)
}

async fn list(req: HttpRequest, state: web::Data<AppState>) -> UiResult {
    let ctx = Ctx::load(&req, &state).await?;
    page(&ctx, None, String::new(), None).await
}

async fn create(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> UiResult {
    let form = FormData::from_bytes(&body);
    let ctx = Ctx::load_post(&req, &state, &form).await?;
    let owner = ctx
        .store()
        .get_staff_user(&ctx.viewer.id)
        .await?
        .ok_or(UiError::NotFound)?;
    let name = form.text("name");
    let role = form.text("role");
    let tenant = form.text("tenant");
    let days = form.text("expires_days");
    let expires_in_days = if days.is_empty() {
        None
    } else {
        match days.parse::<i64>() {
            Ok(d) => Some(d),
            Err(_) => {
                return page(
                    &ctx,
                    None,
                    name,
                    Some("Choose when the token expires.".into()),
                )
                .await;
            }
        }
    };
    let req = TokenRequest {
        name: &name,
        role: crate::staff::parse_role(&role),
        tenant: Some(tenant.as_str()).filter(|t| !t.is_empty()),
        expires_in_days,
    };
    let made = api_tokens::create(
        ctx.store(),
        &ctx.actor(),
        &owner,
        &req,
        store::generate_api_token(),
        store::now_ms(),
    )
    .await;
    match made {
        // Rendered in the POST response (never stored, never in a URL): the only time it shows.
        Ok(issued) => page(&ctx, Some(issued.token), String::new(), None).await,
        Err(
            e @ (crate::manage::ManageError::Invalid(_) | crate::manage::ManageError::Field(..)),
        ) => page(&ctx, None, name, Some(e.to_string())).await,
        Err(e) => Err(e.into()),
    }
}

async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> UiResult {
    let form = FormData::from_bytes(&body);
    let ctx = Ctx::load_post(&req, &state, &form).await?;
    let done = api_tokens::revoke(
        ctx.store(),
        &ctx.actor(),
        &ctx.viewer.id,
        &path,
        store::now_ms(),
    )
    .await;
    match done {
        Ok(t) => ctx.redirect(
            "/api-tokens",
            Some(super::view::Flash::success(format!(
                "API token \"{}\" is revoked; requests using it are refused from now on.",
                t.name
            ))),
        ),
        Err(crate::manage::ManageError::Conflict(m)) => {
            ctx.redirect("/api-tokens", Some(super::view::Flash::error(m)))
        }
        Err(e) => Err(e.into()),
    }
}

// ------------------------------------------------------------------ reference

struct Param {
    name: String,
    location: String,
    ty: String,
    required: bool,
    description: String,
}

struct Resp {
    status: String,
    description: String,
    schema: Option<String>,
}

struct Operation {
    anchor: String,
    method: String,
    path: String,
    summary: String,
    tag: String,
    auth: bool,
    params: Vec<Param>,
    body: Option<String>,
    responses: Vec<Resp>,
}

struct Field {
    name: String,
    ty: String,
    required: bool,
    description: String,
}

struct Schema {
    name: String,
    description: String,
    fields: Vec<Field>,
}

#[derive(Template)]
#[template(path = "ui/api_reference.html")]
struct ReferencePage {
    frame: Frame,
    description: String,
    version: String,
    operations: Vec<Operation>,
    schemas: Vec<Schema>,
}

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The name of a `$ref`'d schema, if `schema` is one (or an array of one).
fn ref_name(schema: &Value) -> Option<String> {
    let r = schema
        .get("$ref")
        .or_else(|| schema.get("items").and_then(|i| i.get("$ref")))?;
    r.as_str()?.rsplit('/').next().map(str::to_string)
}

/// A schema's type in a few characters: `string`, `integer | null`, `array of Tenant`…
fn type_of(schema: &Value) -> String {
    if let Some(r) = ref_name(schema) {
        return if schema.get("items").is_some() {
            format!("array of {r}")
        } else {
            r
        };
    }
    if let Some(any) = schema.get("oneOf").and_then(Value::as_array) {
        return any.iter().map(type_of).collect::<Vec<_>>().join(" | ");
    }
    match schema.get("type") {
        Some(Value::String(t)) if t == "array" => {
            format!(
                "array of {}",
                schema.get("items").map(type_of).unwrap_or_default()
            )
        }
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" | "),
        _ => "any".into(),
    }
}

/// The page's view of the document (pure: from the document's JSON).
fn read_document(doc: &Value) -> (Vec<Operation>, Vec<Schema>) {
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            let params = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| Param {
                    name: text(p, "name"),
                    location: text(p, "in"),
                    ty: type_of(&p["schema"]),
                    required: p["required"].as_bool().unwrap_or(false),
                    description: text(p, "description"),
                })
                .collect();
            let body = op["requestBody"]["content"]
                .as_object()
                .and_then(|c| c.values().next())
                .and_then(|m| ref_name(&m["schema"]));
            let responses = op["responses"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(status, r)| Resp {
                    status: status.clone(),
                    description: text(r, "description"),
                    schema: r["content"]
                        .as_object()
                        .and_then(|c| c.values().next())
                        .and_then(|m| ref_name(&m["schema"])),
                })
                .collect();
            let m = method.to_uppercase();
            operations.push(Operation {
                anchor: format!("{}-{}", method, path.replace(['/', '{', '}', '.'], "-")),
                method: m,
                path: path.clone(),
                summary: op
                    .get("summary")
                    .or_else(|| op.get("description"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                tag: op["tags"][0].as_str().unwrap_or_default().to_string(),
                auth: op.get("security").is_some(),
                params,
                body,
                responses,
            });
        }
    }
    let schemas = doc["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, s)| {
            let required: Vec<&str> = s["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            Schema {
                name: name.clone(),
                description: text(s, "description"),
                fields: s["properties"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(f, fs)| Field {
                        required: required.contains(&f.as_str()),
                        name: f.clone(),
                        ty: type_of(fs),
                        description: text(fs, "description"),
                    })
                    .collect(),
            }
        })
        .collect();
    (operations, schemas)
}

async fn reference(req: HttpRequest, state: web::Data<AppState>) -> UiResult {
    let ctx = Ctx::load(&req, &state).await?;
    let doc = serde_json::to_value(crate::api::openapi::document())
        .map_err(|e| UiError::Internal(format!("openapi: {e}")))?;
    let (operations, schemas) = read_document(&doc);
    let frame = ctx
        .frame("API reference", "api-reference", None, vec![])
        .await?;
    ctx.render(&ReferencePage {
        frame,
        description: text(&doc["info"], "description"),
        version: text(&doc, "openapi"),
        operations,
        schemas,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_lists_every_operation_and_schema_of_the_document() {
        let doc = serde_json::to_value(crate::api::openapi::document()).unwrap();
        let (ops, schemas) = read_document(&doc);
        let count: usize = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|i| i.as_object().unwrap().len())
            .sum();
        assert_eq!(ops.len(), count);
        let create = ops
            .iter()
            .find(|o| o.method == "POST" && o.path == "/api/v1/tenants/{tenant_id}/integrations")
            .unwrap();
        assert_eq!(create.body.as_deref(), Some("IntegrationCreate"));
        assert!(
            create
                .params
                .iter()
                .any(|p| p.name == "tenant_id" && p.required)
        );
        assert!(create.responses.iter().any(|r| r.status == "404"));
        assert!(create.auth);
        let doc_op = ops
            .iter()
            .find(|o| o.path.ends_with("openapi.json"))
            .unwrap();
        assert!(!doc_op.auth);
        let problem = schemas.iter().find(|s| s.name == "Problem").unwrap();
        assert!(
            problem
                .fields
                .iter()
                .any(|f| f.name == "type" && f.required)
        );
    }
}
