//! The discovery documents (RFC 7644 §4): `/ServiceProviderConfig`, `/ResourceTypes` and
//! `/Schemas`, generated from the schema definitions and the server's real capabilities.

use crate::schema::{ResourceType, Schema};
use serde_json::{Value, json};

/// What the server actually supports; the ServiceProviderConfig says exactly this.
#[derive(Debug, Clone, PartialEq)]
pub struct Capabilities {
    /// Largest page a list or search returns.
    pub max_results: u64,
    /// `sortBy`/`sortOrder` honoured.
    pub sort: bool,
    /// ETags (`meta.version`, `If-Match`).
    pub etag: bool,
    /// Largest request body, in bytes.
    pub max_payload_size: u64,
    /// Where an admin reads how to set the server up.
    pub documentation_uri: Option<String>,
}

impl Default for Capabilities {
    fn default() -> Self {
        Self {
            max_results: 1000,
            sort: true,
            etag: true,
            max_payload_size: 1_048_576,
            documentation_uri: None,
        }
    }
}

const SPC_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const RT_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// `GET /ServiceProviderConfig`. `base` is the integration's SCIM base URL.
pub fn service_provider_config(caps: &Capabilities, base: &str) -> Value {
    let mut doc = json!({
        "schemas": [SPC_SCHEMA],
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": caps.max_results},
        "changePassword": {"supported": false},
        "sort": {"supported": caps.sort},
        "etag": {"supported": caps.etag},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with the integration's secret token, sent as 'Authorization: Bearer <token>'.",
            "primary": true
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")}
    });
    if let Some(uri) = &caps.documentation_uri {
        doc["documentationUri"] = Value::String(uri.clone());
    }
    doc
}

/// One `ResourceType` resource.
pub fn resource_type_doc(rt: &ResourceType, base: &str) -> Value {
    let extensions: Vec<Value> = rt
        .extensions
        .iter()
        .map(|e| json!({"schema": e.schema.id, "required": e.required}))
        .collect();
    json!({
        "schemas": [RT_SCHEMA],
        "id": rt.id,
        "name": rt.name,
        "endpoint": rt.endpoint,
        "description": rt.description,
        "schema": rt.schema.id,
        "schemaExtensions": extensions,
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{}", rt.id)}
    })
}

/// One `Schema` resource.
pub fn schema_doc(schema: &Schema, base: &str) -> Value {
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": schema.id,
        "name": schema.name,
        "description": schema.description,
        "attributes": schema.attributes,
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{}", schema.id)}
    })
}

/// Every schema of the given resource types, each once, core schemas first.
pub fn all_schemas(rts: &[ResourceType]) -> Vec<&Schema> {
    let mut out: Vec<&Schema> = rts.iter().map(|rt| &rt.schema).collect();
    for ext in rts.iter().flat_map(|rt| rt.extensions.iter()) {
        if !out
            .iter()
            .any(|s| s.id.eq_ignore_ascii_case(&ext.schema.id))
        {
            out.push(&ext.schema);
        }
    }
    out
}
