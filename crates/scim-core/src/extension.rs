//! Extension schemas registered at run time (per integration): parsing one schema resource as
//! `/Schemas` serves it (RFC 7643 §7) into a [`Schema`], and building a User resource type
//! with those extensions.
//!
//! Parsing is strict where a mistake would change meaning (a reserved or malformed URN, an
//! unknown type, duplicate names, a complex attribute without sub-attributes) and fills the
//! RFC 7643 §2.2 defaults for what is left out, so `parse(schema_doc(parse(x))) == parse(x)`.

use crate::error::{Result, ScimError};
use crate::schema::{
    AttrType, AttributeDef, ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, Mutability, ResourceType,
    Returned, Schema, USER_SCHEMA, Uniqueness,
};
use serde_json::{Map, Value};

/// At most this many attributes (sub-attributes included) per schema: a guard against huge
/// documents, far above what any real app declares.
pub const MAX_ATTRIBUTES: usize = 200;

/// URN prefixes that belong to the protocol itself and may not be registered.
const RESERVED_PREFIXES: &[&str] = &[
    "urn:ietf:params:scim:schemas:core:",
    "urn:ietf:params:scim:api:",
];

/// Parses one schema resource (`{"id": "urn:…", "name", "description", "attributes": […]}`;
/// `schemas` and `meta`, as `/Schemas` adds them, are ignored). Errors are `invalidValue`
/// and name the schema and attribute at fault.
pub fn parse_schema(doc: &Value) -> Result<Schema> {
    let obj = doc
        .as_object()
        .ok_or_else(|| ScimError::invalid_value("a schema must be a JSON object"))?;
    let id = match obj.get("id") {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(_) => return Err(ScimError::invalid_value("the schema 'id' must be a string")),
        None => {
            return Err(ScimError::invalid_value(
                "the schema has no 'id' (its URN, e.g. urn:ietf:params:scim:schemas:extension:acme:2.0:User)",
            ));
        }
    };
    check_urn(&id)?;
    let at = |what: String| ScimError::invalid_value(format!("schema '{id}': {what}"));
    let name = opt_string(obj, "name").map_err(at)?;
    let description = opt_string(obj, "description").map_err(at)?;
    let attributes = match obj.get("attributes") {
        Some(Value::Array(list)) if !list.is_empty() => list,
        Some(Value::Array(_)) | None => {
            return Err(at("'attributes' must list at least one attribute".into()));
        }
        Some(_) => return Err(at("'attributes' must be an array".into())),
    };
    let mut count = 0;
    let attributes = parse_attributes(attributes, None, &mut count).map_err(at)?;
    Ok(Schema {
        id,
        name,
        description,
        attributes,
    })
}

/// Parses a JSON array of schema resources (as stored per integration). Two schemas with the
/// same URN are an error.
pub fn parse_schemas(doc: &Value) -> Result<Vec<Schema>> {
    let list = doc
        .as_array()
        .ok_or_else(|| ScimError::invalid_value("extension schemas must be a JSON array"))?;
    let mut out: Vec<Schema> = Vec::with_capacity(list.len());
    for item in list {
        let schema = parse_schema(item)?;
        if out.iter().any(|s| s.id.eq_ignore_ascii_case(&schema.id)) {
            return Err(ScimError::invalid_value(format!(
                "the schema '{}' is listed twice",
                schema.id
            )));
        }
        out.push(schema);
    }
    Ok(out)
}

/// The JSON array form of `schemas` that [`parse_schemas`] reads back (each as `/Schemas`
/// shows it, without `schemas` and `meta`).
pub fn schemas_to_value(schemas: &[Schema]) -> Value {
    serde_json::to_value(schemas).unwrap_or_else(|_| Value::Array(Vec::new()))
}

/// The User resource type (core + Enterprise) with `extensions` registered, none required.
pub fn user_type_with(extensions: &[Schema]) -> ResourceType {
    let mut rt = ResourceType::user();
    for schema in extensions {
        rt.register_extension(schema.clone(), false);
    }
    rt
}

/// `urn:<NID>:<NSS>` with characters that survive attribute paths and filters: no
/// whitespace, quotes, brackets or parentheses, and not ending in `:` or `.`.
fn check_urn(id: &str) -> Result<()> {
    let bad = |why: &str| ScimError::invalid_value(format!("'{id}' is not a schema URN: {why}"));
    if !crate::path::is_urn(id) {
        return Err(bad("it must start with 'urn:'"));
    }
    let parts: Vec<&str> = id.split(':').collect();
    if parts.len() < 3 || parts.iter().skip(1).any(|p| p.is_empty()) {
        return Err(bad("expected urn:<namespace>:<name> without empty parts"));
    }
    if let Some(c) = id.chars().find(|c| {
        c.is_whitespace() || c.is_control() || matches!(c, '"' | '[' | ']' | '(' | ')' | '\\')
    }) {
        return Err(bad(&format!("it contains the character {c:?}")));
    }
    if id.ends_with('.') {
        return Err(bad("it ends with '.'"));
    }
    let reserved = [USER_SCHEMA, GROUP_SCHEMA, ENTERPRISE_USER_SCHEMA]
        .iter()
        .any(|r| r.eq_ignore_ascii_case(id))
        || RESERVED_PREFIXES.iter().any(|p| {
            id.get(..p.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(p))
        });
    if reserved {
        return Err(ScimError::invalid_value(format!(
            "'{id}' is a reserved SCIM schema URN; an extension needs a URN of its own"
        )));
    }
    Ok(())
}

fn opt_string(obj: &Map<String, Value>, key: &str) -> Result<String, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(format!("'{key}' must be a string")),
    }
}

fn opt_bool(obj: &Map<String, Value>, key: &str, label: &str) -> Result<bool, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(format!(
            "attribute '{label}': '{key}' must be true or false"
        )),
    }
}

fn opt_strings(obj: &Map<String, Value>, key: &str, label: &str) -> Result<Vec<String>, String> {
    let not_strings = || format!("attribute '{label}': '{key}' must be an array of strings");
    match obj.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or_else(not_strings))
            .collect(),
        Some(_) => Err(not_strings()),
    }
}

/// Reads a keyword (`type`, `mutability`…): ASCII case-insensitive, one of `allowed`.
fn keyword<T: Copy>(
    obj: &Map<String, Value>,
    key: &str,
    label: &str,
    default: T,
    allowed: &[(&str, T)],
) -> Result<T, String> {
    let expected = || {
        allowed
            .iter()
            .map(|(k, _)| *k)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match obj.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::String(s)) => allowed
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(s.trim()))
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                format!(
                    "attribute '{label}': unknown {key} '{s}' (expected one of {})",
                    expected()
                )
            }),
        Some(_) => Err(format!("attribute '{label}': '{key}' must be a string")),
    }
}

const TYPES: &[(&str, AttrType)] = &[
    ("string", AttrType::String),
    ("boolean", AttrType::Boolean),
    ("decimal", AttrType::Decimal),
    ("integer", AttrType::Integer),
    ("dateTime", AttrType::DateTime),
    ("reference", AttrType::Reference),
    ("complex", AttrType::Complex),
    ("binary", AttrType::Binary),
];

const MUTABILITY: &[(&str, Mutability)] = &[
    ("readOnly", Mutability::ReadOnly),
    ("readWrite", Mutability::ReadWrite),
    ("immutable", Mutability::Immutable),
    ("writeOnly", Mutability::WriteOnly),
];

const RETURNED: &[(&str, Returned)] = &[
    ("always", Returned::Always),
    ("never", Returned::Never),
    ("default", Returned::Default),
    ("request", Returned::Request),
];

const UNIQUENESS: &[(&str, Uniqueness)] = &[
    ("none", Uniqueness::None),
    ("server", Uniqueness::Server),
    ("global", Uniqueness::Global),
];

/// Parses `attributes` (or a complex attribute's `subAttributes` when `parent` is set).
fn parse_attributes(
    list: &[Value],
    parent: Option<&str>,
    count: &mut usize,
) -> Result<Vec<AttributeDef>, String> {
    let mut out: Vec<AttributeDef> = Vec::with_capacity(list.len());
    for item in list {
        *count += 1;
        if *count > MAX_ATTRIBUTES {
            return Err(format!("more than {MAX_ATTRIBUTES} attributes"));
        }
        let def = parse_attribute(item, parent, count)?;
        if out.iter().any(|a| a.name.eq_ignore_ascii_case(&def.name)) {
            let label = parent.map_or(def.name.clone(), |p| format!("{p}.{}", def.name));
            return Err(format!("the attribute '{label}' is declared twice"));
        }
        out.push(def);
    }
    Ok(out)
}

fn parse_attribute(
    item: &Value,
    parent: Option<&str>,
    count: &mut usize,
) -> Result<AttributeDef, String> {
    let obj = item
        .as_object()
        .ok_or_else(|| "every attribute must be a JSON object".to_string())?;
    let name = match obj.get("name") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err("every attribute needs a 'name' string".into()),
    };
    let label = parent.map_or(name.clone(), |p| format!("{p}.{name}"));
    if !valid_name(&name) {
        return Err(format!(
            "'{label}' is not a valid attribute name (a letter, then letters, digits, '-' or '_')"
        ));
    }
    let kind = keyword(obj, "type", &label, AttrType::String, TYPES)?;
    let sub_list = match obj.get("subAttributes") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(a),
        Some(_) => {
            return Err(format!(
                "attribute '{label}': 'subAttributes' must be an array"
            ));
        }
    };
    let sub_attributes = match (kind, sub_list) {
        (AttrType::Complex, _) if parent.is_some() => {
            return Err(format!(
                "attribute '{label}': a sub-attribute cannot be complex (RFC 7643 §2.3.8)"
            ));
        }
        (AttrType::Complex, Some(subs)) if !subs.is_empty() => {
            parse_attributes(subs, Some(&label), count)?
        }
        (AttrType::Complex, _) => {
            return Err(format!(
                "attribute '{label}': a complex attribute needs 'subAttributes'"
            ));
        }
        (_, Some(subs)) if !subs.is_empty() => {
            return Err(format!(
                "attribute '{label}': only complex attributes have 'subAttributes'"
            ));
        }
        _ => Vec::new(),
    };
    Ok(AttributeDef {
        name,
        kind,
        multi_valued: opt_bool(obj, "multiValued", &label)?,
        description: opt_string(obj, "description")
            .map_err(|e| format!("attribute '{label}': {e}"))?,
        required: opt_bool(obj, "required", &label)?,
        case_exact: opt_bool(obj, "caseExact", &label)?,
        mutability: keyword(obj, "mutability", &label, Mutability::ReadWrite, MUTABILITY)?,
        returned: keyword(obj, "returned", &label, Returned::Default, RETURNED)?,
        uniqueness: keyword(obj, "uniqueness", &label, Uniqueness::None, UNIQUENESS)?,
        canonical_values: opt_strings(obj, "canonicalValues", &label)?,
        reference_types: opt_strings(obj, "referenceTypes", &label)?,
        sub_attributes,
    })
}

/// ATTRNAME (RFC 7644 §3.10): ALPHA *(ALPHA / DIGIT / "-" / "_").
fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::discovery::schema_doc;
    use serde_json::json;

    const ACTIVTRAK: &str = "urn:ietf:params:scim:schemas:extension:activtrak:2.0:User";
    const ACTIVEPIECES: &str = "urn:ietf:params:scim:schemas:activepieces:1.0:CustomUserAttributes";

    fn activtrak() -> Value {
        json!({
            "id": ACTIVTRAK,
            "name": "ActivTrakUser",
            "description": "ActivTrak user extension",
            "attributes": [
                {"name": "userPrincipalNames", "type": "string", "multiValued": true,
                 "description": "UPNs", "required": false, "caseExact": false,
                 "mutability": "readWrite", "returned": "default", "uniqueness": "none"},
                {"name": "tracking", "type": "boolean", "multiValued": false,
                 "description": "Tracked", "required": false, "caseExact": false,
                 "mutability": "readWrite", "returned": "default", "uniqueness": "none"}
            ]
        })
    }

    fn err(doc: Value) -> ScimError {
        let e = parse_schema(&doc).unwrap_err();
        assert_eq!(e.scim_type, Some(crate::ScimType::InvalidValue), "{e}");
        assert_eq!(e.status, 400);
        e
    }

    #[test]
    fn parses_activtrak_and_fills_defaults() {
        let s = parse_schema(&activtrak()).unwrap();
        assert_eq!(s.id, ACTIVTRAK);
        assert_eq!(s.name, "ActivTrakUser");
        let upn = s.attribute("userprincipalnames").unwrap();
        assert_eq!(upn.kind, AttrType::String);
        assert!(upn.multi_valued);
        let minimal = parse_schema(&json!({
            "id": ACTIVEPIECES,
            "attributes": [{"name": "platformRole", "canonicalValues": ["ADMIN", "MEMBER", "OPERATOR"]}]
        }))
        .unwrap();
        let role = minimal.attribute("platformRole").unwrap();
        assert_eq!(role.kind, AttrType::String);
        assert_eq!(role.mutability, Mutability::ReadWrite);
        assert_eq!(role.returned, Returned::Default);
        assert_eq!(role.uniqueness, Uniqueness::None);
        assert!(!role.multi_valued && !role.required && !role.case_exact);
        assert_eq!(role.canonical_values, ["ADMIN", "MEMBER", "OPERATOR"]);
    }

    #[test]
    fn round_trips_through_the_schemas_document() {
        let input = json!({
            "id": ACTIVEPIECES,
            "name": "CustomUserAttributes",
            "description": "Activepieces",
            "attributes": [
                {"name": "platformRole", "type": "string", "multiValued": false,
                 "description": "Role", "required": false, "caseExact": true,
                 "mutability": "readWrite", "returned": "default", "uniqueness": "none",
                 "canonicalValues": ["ADMIN", "MEMBER", "OPERATOR"]},
                {"name": "badge", "type": "complex", "multiValued": true, "description": "",
                 "required": false, "caseExact": false, "mutability": "immutable",
                 "returned": "request", "uniqueness": "server",
                 "subAttributes": [
                    {"name": "value", "type": "reference", "multiValued": false,
                     "description": "", "required": true, "caseExact": false,
                     "mutability": "readOnly", "returned": "always", "uniqueness": "global",
                     "referenceTypes": ["external"]}
                 ]}
            ]
        });
        let parsed = parse_schema(&input).unwrap();
        let doc = schema_doc(&parsed, "https://x/scim/v2/i");
        // Every field of the input is rendered back unchanged.
        for key in ["id", "name", "description", "attributes"] {
            assert_eq!(doc[key], input[key], "{key}");
        }
        // And the rendered document (with `schemas` and `meta`) parses to the same schema.
        assert_eq!(parse_schema(&doc).unwrap(), parsed);
        // The stored array form round-trips too.
        let stored = schemas_to_value(std::slice::from_ref(&parsed));
        assert_eq!(parse_schemas(&stored).unwrap(), vec![parsed]);
    }

    #[test]
    fn rejects_bad_urns() {
        for (id, needle) in [
            ("activtrak:2.0:User", "must start with 'urn:'"),
            ("urn:", "must start with 'urn:'"),
            ("urn:acme", "without empty parts"),
            ("urn:acme::User", "without empty parts"),
            ("urn:acme:has space", "contains the character"),
            ("urn:acme:x[1]", "contains the character"),
        ] {
            let e = err(json!({"id": id, "attributes": [{"name": "a"}]}));
            assert!(e.detail.contains(needle), "{id}: {}", e.detail);
        }
        let e = err(json!({"attributes": [{"name": "a"}]}));
        assert!(e.detail.contains("no 'id'"), "{}", e.detail);
    }

    #[test]
    fn rejects_reserved_urns() {
        for id in [
            USER_SCHEMA,
            "URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:GROUP",
            ENTERPRISE_USER_SCHEMA,
            "urn:ietf:params:scim:schemas:core:2.0:Schema",
            "urn:ietf:params:scim:api:messages:2.0:PatchOp",
        ] {
            let e = err(json!({"id": id, "attributes": [{"name": "a"}]}));
            assert!(e.detail.contains("reserved"), "{id}: {}", e.detail);
        }
    }

    #[test]
    fn rejects_bad_attributes() {
        let with = |attrs: Value| json!({"id": ACTIVTRAK, "attributes": attrs});
        for (attrs, needle) in [
            (
                json!([{"name": "tracking", "type": "bool"}]),
                "unknown type 'bool'",
            ),
            (
                json!([{"name": "tracking"}, {"name": "Tracking", "type": "boolean"}]),
                "'Tracking' is declared twice",
            ),
            (
                json!([{"name": "badge", "type": "complex"}]),
                "complex attribute needs 'subAttributes'",
            ),
            (
                json!([{"name": "badge", "type": "complex", "subAttributes": [
                    {"name": "a"}, {"name": "A"}]}]),
                "'badge.A' is declared twice",
            ),
            (
                json!([{"name": "badge", "type": "complex", "subAttributes": [
                    {"name": "inner", "type": "complex", "subAttributes": [{"name": "x"}]}]}]),
                "cannot be complex",
            ),
            (
                json!([{"name": "tracking", "type": "boolean", "subAttributes": [{"name": "x"}]}]),
                "only complex attributes",
            ),
            (json!([{"name": "2fa"}]), "not a valid attribute name"),
            (json!([{"type": "string"}]), "needs a 'name'"),
            (
                json!([{"name": "a", "multiValued": "true"}]),
                "'multiValued' must be true or false",
            ),
            (
                json!([{"name": "a", "mutability": "sometimes"}]),
                "unknown mutability",
            ),
            (
                json!([{"name": "a", "canonicalValues": [1]}]),
                "array of strings",
            ),
            (json!([]), "at least one attribute"),
            (json!({"name": "a"}), "must be an array"),
        ] {
            let e = err(with(attrs.clone()));
            assert!(e.detail.contains(needle), "{attrs}: {}", e.detail);
            assert!(
                e.detail.contains(ACTIVTRAK),
                "names the schema: {}",
                e.detail
            );
        }
        let many: Vec<Value> = (0..=MAX_ATTRIBUTES)
            .map(|i| json!({"name": format!("a{i}")}))
            .collect();
        assert!(err(with(Value::Array(many))).detail.contains("more than"));
        assert!(err(json!("urn:x:y")).detail.contains("JSON object"));
    }

    #[test]
    fn rejects_a_schema_listed_twice() {
        let e = parse_schemas(&json!([activtrak(), activtrak()])).unwrap_err();
        assert!(e.detail.contains("listed twice"), "{}", e.detail);
        assert!(parse_schemas(&json!({})).is_err());
        assert!(parse_schemas(&json!([])).unwrap().is_empty());
    }

    #[test]
    fn user_type_with_registers_optional_extensions() {
        let s = parse_schema(&activtrak()).unwrap();
        let rt = user_type_with(&[s]);
        assert!(rt.extension(ENTERPRISE_USER_SCHEMA).is_some());
        assert!(rt.attribute(Some(ACTIVTRAK), "tracking").is_some());
        assert!(rt.extensions.iter().all(|e| !e.required));
        assert_eq!(user_type_with(&[]), ResourceType::user());
    }
}
