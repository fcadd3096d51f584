//! "Custom attributes (extension schemas)" on an integration's Roles step / tab: the schemas
//! the integration's User type serves besides core and Enterprise (e.g. ActivTrak's
//! `tracking`, Activepieces' `platformRole`), added as a pasted SCIM schema resource and
//! removed by URN. Rule filters and the SCIM API of this integration can then use them.

use super::integrations::EditIntegration;
use super::view::Flash;
use super::{Ctx, UiResult};
use crate::integration_settings as settings;
use crate::manage::ManageError;
use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use scim_core::schema::{AttrType, AttributeDef, Schema};
use store::Integration;

/// Largest schema document accepted from the form (a real one is a few KiB).
const MAX_JSON: usize = 64 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/t/{tid}/integrations/{iid}/extensions",
        web::post().to(save_extensions),
    );
}

/// One registered extension as listed.
pub struct ExtensionRow {
    pub urn: String,
    pub name: String,
    /// (attribute name, type as shown, e.g. `string[]` or `complex{value, display}`).
    pub attributes: Vec<(String, String)>,
}

/// The section (a typed partial inside the Roles page).
#[derive(Template)]
#[template(path = "ui/_extensions.html")]
pub struct ExtensionsSection {
    pub action: String,
    pub csrf: String,
    pub rows: Vec<ExtensionRow>,
    /// The textarea's content (kept after an error).
    pub json: String,
    pub error: Option<String>,
    pub read_only: bool,
}

impl ExtensionsSection {
    /// The section for `i` as stored, with an empty form.
    pub fn new(ctx: &Ctx, i: &Integration) -> Self {
        Self {
            action: format!("/t/{}/integrations/{}/extensions", i.tenant_id, i.id),
            csrf: ctx.viewer.csrf.clone(),
            rows: i.extension_schemas.iter().map(row).collect(),
            json: String::new(),
            error: None,
            read_only: !ctx.viewer.can_edit_tenant(&i.tenant_id),
        }
    }
}

fn type_label(a: &AttributeDef) -> String {
    let base = match a.kind {
        AttrType::String => "string".to_string(),
        AttrType::Boolean => "boolean".into(),
        AttrType::Decimal => "decimal".into(),
        AttrType::Integer => "integer".into(),
        AttrType::DateTime => "dateTime".into(),
        AttrType::Binary => "binary".into(),
        AttrType::Reference => "reference".into(),
        AttrType::Complex => format!(
            "complex{{{}}}",
            a.sub_attributes
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    if a.multi_valued {
        format!("{base}[]")
    } else {
        base
    }
}

fn row(s: &Schema) -> ExtensionRow {
    ExtensionRow {
        urn: s.id.clone(),
        name: s.name.clone(),
        attributes: s
            .attributes
            .iter()
            .map(|a| (a.name.clone(), type_label(a)))
            .collect(),
    }
}

/// Reads the pasted schema: one schema resource, as `/Schemas` of the app serves it.
fn read_schema(text: &str) -> Result<Schema, String> {
    if text.is_empty() {
        return Err("Paste the extension's schema (JSON) first.".into());
    }
    if text.len() > MAX_JSON {
        return Err(format!(
            "The schema is larger than {} KiB.",
            MAX_JSON / 1024
        ));
    }
    let doc: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("This is not valid JSON: {e}."))?;
    scim_core::extension::parse_schema(&doc)
        .map_err(|e| format!("Not a usable schema: {}.", e.detail))
}

/// `POST /t/{tid}/integrations/{iid}/extensions`: `op=add` with `schema_json`, or
/// `op=remove` with `urn`.
async fn save_extensions(post: EditIntegration) -> UiResult {
    let EditIntegration(ctx, form, tenant, i) = post;
    let tid = i.tenant_id.clone();
    let iid = i.id.clone();
    let store = ctx.store();
    let now = store::now_ms();
    let message = match form.text("op").as_str() {
        "remove" => {
            let urn = form.text("urn");
            match settings::remove_extension_schema(store, &ctx.actor(), &i, &urn, now).await {
                Ok(()) => format!("Extension {urn} removed."),
                Err(e @ ManageError::Field(..)) => {
                    let mut section = ExtensionsSection::new(&ctx, &i);
                    section.error = Some(settings::message(&e));
                    return super::wizard::roles_page(
                        &ctx,
                        &ctx.state,
                        &tenant,
                        &i,
                        section,
                        StatusCode::UNPROCESSABLE_ENTITY,
                    )
                    .await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        _ => {
            let text = form
                .get("schema_json")
                .unwrap_or_default()
                .trim()
                .to_string();
            let schema = match read_schema(&text) {
                Ok(s) => s,
                Err(e) => {
                    let mut section = ExtensionsSection::new(&ctx, &i);
                    section.json = text;
                    section.error = Some(e);
                    return super::wizard::roles_page(
                        &ctx,
                        &ctx.state,
                        &tenant,
                        &i,
                        section,
                        StatusCode::UNPROCESSABLE_ENTITY,
                    )
                    .await;
                }
            };
            let urn = schema.id.clone();
            let replaced =
                settings::add_extension_schema(store, &ctx.actor(), &i, schema, now).await?;
            format!(
                "Extension {urn} {}. Its attributes can be used in rule filters now.",
                if replaced { "updated" } else { "added" }
            )
        }
    };
    // This process serves the new User type at once; other instances within the cache period.
    ctx.state.tokens.clear();
    ctx.redirect(
        &format!("/t/{tid}/integrations/{iid}/roles#extensions"),
        Some(Flash::success(message)),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn lists_types_readably() {
        let s = scim_core::extension::parse_schema(&serde_json::json!({
            "id": "urn:acme:User",
            "attributes": [
                {"name": "upns", "type": "string", "multiValued": true},
                {"name": "badge", "type": "complex",
                 "subAttributes": [{"name": "value"}, {"name": "display"}]}
            ]
        }))
        .unwrap();
        let r = row(&s);
        assert_eq!(
            r.attributes,
            [
                ("upns".to_string(), "string[]".to_string()),
                ("badge".to_string(), "complex{value, display}".to_string())
            ]
        );
    }

    #[test]
    fn read_schema_explains_errors() {
        assert!(read_schema("").unwrap_err().contains("Paste"));
        assert!(read_schema("{").unwrap_err().contains("not valid JSON"));
        assert!(
            read_schema(
                r#"{"id":"urn:ietf:params:scim:schemas:core:2.0:User","attributes":[{"name":"a"}]}"#
            )
            .unwrap_err()
            .contains("reserved")
        );
        assert!(
            read_schema(&"x".repeat(MAX_JSON + 1))
                .unwrap_err()
                .contains("KiB")
        );
    }
}
