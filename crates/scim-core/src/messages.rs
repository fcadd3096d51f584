//! Protocol messages (RFC 7644 §3): ListResponse, Error, PatchOp and SearchRequest.
//!
//! Input messages are parsed leniently from `serde_json::Value` (member names in any case,
//! `count` as a string) because real clients are not uniform; output messages serialise
//! exactly as the RFC shows them.

use crate::error::{Result, ScimError};
use crate::value::get_ci;
use serde::Serialize;
use serde_json::{Map, Value};

/// `urn:ietf:params:scim:api:messages:2.0:ListResponse`
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// `urn:ietf:params:scim:api:messages:2.0:Error`
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// `urn:ietf:params:scim:api:messages:2.0:PatchOp`
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// `urn:ietf:params:scim:api:messages:2.0:SearchRequest`
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// A query response (RFC 7644 §3.4.2).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse<T> {
    pub schemas: Vec<&'static str>,
    pub total_results: u64,
    pub items_per_page: u64,
    pub start_index: u64,
    #[serde(rename = "Resources")]
    pub resources: Vec<T>,
}

impl<T> ListResponse<T> {
    /// A page of `resources` out of `total_results`, starting at the 1-based `start_index`.
    pub fn new(resources: Vec<T>, total_results: u64, start_index: u64) -> Self {
        Self {
            schemas: vec![LIST_RESPONSE],
            total_results,
            items_per_page: resources.len() as u64,
            start_index,
            resources,
        }
    }
}

/// The error body (RFC 7644 §3.12). `status` is a string, as the RFC's examples show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResponse {
    pub schemas: Vec<&'static str>,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl From<&ScimError> for ErrorResponse {
    fn from(e: &ScimError) -> Self {
        Self {
            schemas: vec![ERROR],
            status: e.status.to_string(),
            scim_type: e.scim_type.map(|t| t.as_str()),
            detail: e.detail.clone(),
        }
    }
}

/// One PATCH operation as sent: `op` keeps its original spelling (for logs).
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    pub op: String,
    pub path: Option<String>,
    pub value: Option<Value>,
}

/// A PatchOp request body.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOp {
    pub operations: Vec<PatchOperation>,
}

/// Most operations accepted in one PATCH request.
pub const MAX_PATCH_OPERATIONS: usize = 1_000;

impl PatchOp {
    /// Parses a PatchOp body. Errors are `invalidSyntax` (or `invalidValue` for a bad member).
    pub fn from_value(body: &Value) -> Result<Self> {
        let obj = body
            .as_object()
            .ok_or_else(|| ScimError::invalid_syntax("the PATCH body must be a JSON object"))?;
        let ops = match get_ci(obj, "Operations") {
            // An empty list is a no-op; Microsoft's validator sends one (scimmyjs/scimmy#59).
            Some(Value::Array(a)) => a,
            Some(_) => return Err(ScimError::invalid_syntax("'Operations' must be an array")),
            None => {
                return Err(ScimError::invalid_syntax(
                    "the PATCH body has no 'Operations'",
                ));
            }
        };
        if ops.len() > MAX_PATCH_OPERATIONS {
            return Err(ScimError::too_many(format!(
                "{} operations; at most {MAX_PATCH_OPERATIONS} are accepted per request",
                ops.len()
            )));
        }
        let operations = ops
            .iter()
            .enumerate()
            .map(|(i, op)| parse_operation(i, op))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { operations })
    }
}

fn parse_operation(i: usize, op: &Value) -> Result<PatchOperation> {
    let n = i + 1;
    let obj = op
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax(format!("operation {n} is not an object")))?;
    let op_name = match get_ci(obj, "op") {
        Some(Value::String(s)) => s.clone(),
        _ => {
            return Err(ScimError::invalid_syntax(format!(
                "operation {n} has no 'op'"
            )));
        }
    };
    let path = match get_ci(obj, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(ScimError::invalid_path(format!(
                "operation {n}: 'path' must be a string"
            )));
        }
    };
    Ok(PatchOperation {
        op: op_name,
        path,
        value: get_ci(obj, "value").cloned(),
    })
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    #[default]
    Ascending,
    Descending,
}

/// Query parameters shared by `GET` lists and `POST /.search` (RFC 7644 §3.4.2–3.4.3).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchRequest {
    pub attributes: Option<String>,
    pub excluded_attributes: Option<String>,
    pub filter: Option<String>,
    pub sort_by: Option<String>,
    pub sort_order: SortOrder,
    /// 1-based; values below 1 are read as 1 (RFC 7644 §3.4.2.4).
    pub start_index: u64,
    /// `None` means the server's default page size.
    pub count: Option<u64>,
}

impl SearchRequest {
    /// Builds a request from query-string pairs (names matched case-insensitively).
    pub fn from_query<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self> {
        let mut obj = Map::new();
        for (k, v) in pairs {
            obj.insert(k.to_string(), Value::String(v.to_string()));
        }
        Self::from_value(&Value::Object(obj))
    }

    /// Parses a `POST /.search` body.
    pub fn from_value(body: &Value) -> Result<Self> {
        let obj = body
            .as_object()
            .ok_or_else(|| ScimError::invalid_syntax("the search request must be a JSON object"))?;
        let text = |name: &str| -> Result<Option<String>> {
            match get_ci(obj, name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Array(a)) => Ok(Some(
                    a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(","),
                )),
                Some(_) => Err(ScimError::invalid_value(format!(
                    "'{name}' must be a string"
                ))),
            }
        };
        let number = |name: &str| -> Result<Option<i64>> {
            match get_ci(obj, name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| {
                    ScimError::invalid_value(format!("'{name}' must be an integer"))
                }),
                Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
                Some(Value::String(s)) => s.trim().parse::<i64>().map(Some).map_err(|_| {
                    ScimError::invalid_value(format!("'{name}' must be an integer, got '{s}'"))
                }),
                Some(_) => Err(ScimError::invalid_value(format!(
                    "'{name}' must be an integer"
                ))),
            }
        };
        let sort_order = match text("sortOrder")?.map(|s| s.to_ascii_lowercase()) {
            None => SortOrder::Ascending,
            Some(s) if s == "ascending" => SortOrder::Ascending,
            Some(s) if s == "descending" => SortOrder::Descending,
            Some(s) => {
                return Err(ScimError::invalid_value(format!(
                    "sortOrder must be 'ascending' or 'descending', got '{s}'"
                )));
            }
        };
        Ok(Self {
            attributes: text("attributes")?,
            excluded_attributes: text("excludedAttributes")?,
            filter: text("filter")?,
            sort_by: text("sortBy")?,
            sort_order,
            start_index: number("startIndex")?.unwrap_or(1).max(1) as u64,
            count: number("count")?.map(|c| c.max(0) as u64),
        })
    }
}
