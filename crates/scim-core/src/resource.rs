//! Resources: validating and normalising what clients send, and rendering what we return.
//!
//! A stored resource is its *attribute map*: canonical attribute names, extension attributes
//! nested under their schema URN, values coerced to their schema types, and without the
//! server-owned `id`, `meta` and `schemas`. [`render`] adds those back for responses.

use crate::error::{Result, ScimError};
use crate::path::{is_urn, parse_attr_path};
use crate::schema::{AttrType, AttributeDef, Mutability, ResourceType, Schema, Uniqueness};
use crate::value::{format_datetime, get_ci, parse_datetime};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// Server-owned metadata of a stored resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    pub created: DateTime<Utc>,
    pub last_modified: DateTime<Utc>,
    /// Absolute URL of the resource.
    pub location: String,
    /// Monotonic version; rendered as the weak ETag `W/"<n>"`.
    pub version: i64,
}

impl Meta {
    /// The ETag for this version.
    pub fn etag(&self) -> String {
        format!("W/\"{}\"", self.version)
    }
}

/// Validates and normalises a request body (POST or PUT) into an attribute map.
///
/// Names are matched case-insensitively and returned in canonical case; `"True"`/`"false"`
/// strings become booleans where the schema says boolean; a plain-string `manager` becomes
/// `{"value": …}`; JSON-encoded role strings are decoded; readOnly attributes and the
/// server-owned `id`/`meta`/`schemas` are ignored; `null` and `""` mean absent; extension
/// attributes are kept even when their URN is missing from `schemas[]` or unknown to us.
pub fn normalize(rt: &ResourceType, body: &Value) -> Result<Map<String, Value>> {
    let obj = body
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("the request body must be a JSON object"))?;
    let mut out = Map::new();
    for (key, value) in obj {
        if ["schemas", "id", "meta"]
            .iter()
            .any(|k| key.eq_ignore_ascii_case(k))
        {
            continue;
        }
        if is_urn(key) {
            put_urn_key(rt, &mut out, key, value)?;
        } else {
            put_attribute(&rt.schema, &mut out, key, value, "")?;
        }
    }
    Ok(out)
}

/// Checks required attributes (e.g. `userName`, a group's `displayName`).
pub fn check_required(rt: &ResourceType, attrs: &Map<String, Value>) -> Result<()> {
    for def in rt.schema.attributes.iter().filter(|a| a.required) {
        if attrs.get(&def.name).is_none_or(Value::is_null) {
            return Err(ScimError::invalid_value(format!(
                "'{}' is required",
                def.name
            )));
        }
    }
    for ext in rt.extensions.iter().filter(|e| e.required) {
        if !attrs.contains_key(&ext.schema.id) {
            return Err(ScimError::invalid_value(format!(
                "the extension '{}' is required",
                ext.schema.id
            )));
        }
    }
    Ok(())
}

/// Validates a POST body: normalises it and checks required attributes.
pub fn parse_create(rt: &ResourceType, body: &Value) -> Result<Map<String, Value>> {
    let attrs = normalize(rt, body)?;
    check_required(rt, &attrs)?;
    Ok(attrs)
}

/// Applies a PUT: the body replaces every writable attribute. `active` is kept when the body
/// leaves it out, because clients that PUT (Okta) expect an omitted `active` not to disable
/// the user; `password` is kept because it is never returned, so a client cannot echo it back.
pub fn apply_put(
    rt: &ResourceType,
    current: &Map<String, Value>,
    body: &Value,
) -> Result<Map<String, Value>> {
    let mut attrs = normalize(rt, body)?;
    for keep in ["active", "password"] {
        if !attrs.contains_key(keep)
            && let Some(v) = current.get(keep)
        {
            attrs.insert(keep.to_string(), v.clone());
        }
    }
    check_required(rt, &attrs)?;
    Ok(attrs)
}

/// Renders the full representation: `schemas`, `id`, the attributes, and `meta`.
pub fn render(
    rt: &ResourceType,
    id: &str,
    attrs: Map<String, Value>,
    meta: &Meta,
) -> Map<String, Value> {
    let mut out = Map::with_capacity(attrs.len() + 3);
    let mut schemas = vec![Value::String(rt.schema.id.clone())];
    for key in attrs.keys().filter(|k| is_urn(k)) {
        schemas.push(Value::String(key.clone()));
    }
    out.insert("schemas".into(), Value::Array(schemas));
    out.insert("id".into(), Value::String(id.to_string()));
    out.extend(attrs);
    let mut m = Map::new();
    m.insert("resourceType".into(), Value::String(rt.name.clone()));
    m.insert(
        "created".into(),
        Value::String(format_datetime(meta.created)),
    );
    m.insert(
        "lastModified".into(),
        Value::String(format_datetime(meta.last_modified)),
    );
    m.insert("location".into(), Value::String(meta.location.clone()));
    m.insert("version".into(), Value::String(meta.etag()));
    out.insert("meta".into(), Value::Object(m));
    out
}

/// A URN-named key: the core schema as an object, an extension object, or a flat
/// `urn:…:attr` key (Entra sends custom attributes that way).
fn put_urn_key(
    rt: &ResourceType,
    out: &mut Map<String, Value>,
    key: &str,
    value: &Value,
) -> Result<()> {
    if rt.is_core_urn(key) {
        let Value::Object(inner) = value else {
            return Err(ScimError::invalid_value(format!(
                "'{key}' must be an object"
            )));
        };
        for (k, v) in inner {
            put_attribute(&rt.schema, out, k, v, "")?;
        }
        return Ok(());
    }
    if let Some(ext) = rt.extension(key) {
        return put_extension_object(ext, out, value);
    }
    let path = parse_attr_path(key).ok();
    match path {
        // `urn:…:Ext:2.0:User` (the last segment names a resource type): an unknown extension
        // object, kept as sent.
        Some(p) if p.sub_attr.is_none() && p.name.starts_with(|c: char| c.is_ascii_uppercase()) => {
            if !value.is_null() {
                merge_unknown(out, key, value);
            }
            Ok(())
        }
        Some(p) => {
            let urn = p.urn.unwrap_or_default();
            let dotted = match &p.sub_attr {
                Some(s) => format!("{}.{s}", p.name),
                None => p.name.clone(),
            };
            if rt.is_core_urn(&urn) {
                return put_attribute(&rt.schema, out, &dotted, value, "");
            }
            if let Some(ext) = rt.extension(&urn) {
                let canonical = ext.id.clone();
                let mut inner = take_object(out, &canonical);
                put_attribute(ext, &mut inner, &dotted, value, &canonical)?;
                if !inner.is_empty() {
                    out.insert(canonical, Value::Object(inner));
                }
                return Ok(());
            }
            if !value.is_null() {
                let mut inner = Map::new();
                inner.insert(dotted, value.clone());
                merge_unknown(out, &urn, &Value::Object(inner));
            }
            Ok(())
        }
        None => Err(ScimError::invalid_value(format!(
            "'{key}' is not a valid attribute name"
        ))),
    }
}

fn put_extension_object(ext: &Schema, out: &mut Map<String, Value>, value: &Value) -> Result<()> {
    let inner_in = match value {
        Value::Null => return Ok(()),
        Value::Object(o) => o,
        _ => {
            return Err(ScimError::invalid_value(format!(
                "'{}' must be an object",
                ext.id
            )));
        }
    };
    let mut inner = take_object(out, &ext.id);
    for (k, v) in inner_in {
        put_attribute(ext, &mut inner, k, v, &ext.id)?;
    }
    if !inner.is_empty() {
        out.insert(ext.id.clone(), Value::Object(inner));
    }
    Ok(())
}

fn take_object(out: &mut Map<String, Value>, key: &str) -> Map<String, Value> {
    match out.shift_remove(key) {
        Some(Value::Object(o)) => o,
        _ => Map::new(),
    }
}

fn merge_unknown(out: &mut Map<String, Value>, urn: &str, value: &Value) {
    let key = crate::value::find_key(out, urn).unwrap_or_else(|| urn.to_string());
    match (out.get_mut(&key), value) {
        (Some(Value::Object(existing)), Value::Object(add)) => {
            for (k, v) in add {
                existing.insert(k.clone(), v.clone());
            }
        }
        _ => {
            out.insert(key, value.clone());
        }
    }
}

/// Puts one attribute (possibly `parent.sub`) of `schema` into `out`, normalised.
fn put_attribute(
    schema: &Schema,
    out: &mut Map<String, Value>,
    key: &str,
    value: &Value,
    urn: &str,
) -> Result<()> {
    let (name, sub) = match key.split_once('.') {
        Some((n, s)) => (n, Some(s)),
        None => (key, None),
    };
    let def = crate::schema::common_attribute(name)
        .filter(|_| urn.is_empty())
        .or_else(|| schema.attribute(name));
    let Some(def) = def else {
        // Unknown attributes are kept as sent rather than silently lost.
        if !value.is_null() {
            out.insert(key.to_string(), value.clone());
        }
        return Ok(());
    };
    if def.mutability == Mutability::ReadOnly {
        return Ok(());
    }
    let label = if urn.is_empty() {
        def.name.clone()
    } else {
        format!("{urn}:{}", def.name)
    };
    match sub {
        None => match normalize_value(def, value, &label)? {
            Some(v) => {
                out.insert(def.name.clone(), v);
            }
            None => {
                out.shift_remove(&def.name);
            }
        },
        Some(sub) => {
            let sub_def = def
                .sub(sub)
                .filter(|_| def.kind == AttrType::Complex && !def.multi_valued)
                .ok_or_else(|| {
                    ScimError::invalid_value(format!("'{key}' is not a valid attribute"))
                })?;
            let mut parent = take_object(out, &def.name);
            match normalize_value(sub_def, value, &format!("{label}.{}", sub_def.name))? {
                Some(v) => {
                    parent.insert(sub_def.name.clone(), v);
                }
                None => {
                    parent.shift_remove(&sub_def.name);
                }
            }
            if !parent.is_empty() {
                out.insert(def.name.clone(), Value::Object(parent));
            }
        }
    }
    Ok(())
}

/// Normalises a value for `def`; `Ok(None)` means "absent" (null, empty string, empty list).
pub fn normalize_value(def: &AttributeDef, value: &Value, label: &str) -> Result<Option<Value>> {
    if !def.multi_valued {
        return normalize_single(def, value, label);
    }
    let listed: Vec<&Value> = match value {
        Value::Null => return Ok(None),
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    let mut out: Vec<Value> = Vec::with_capacity(listed.len());
    let mut add = |item: &Value| -> Result<()> {
        if let Some(v) = normalize_single(def, item, label)?
            && !out.contains(&v)
        {
            out.push(v);
        }
        Ok(())
    };
    for item in listed {
        match encoded_list(def, item) {
            Some(elements) => elements.iter().try_for_each(&mut add)?,
            None => add(item)?,
        }
    }
    Ok(if out.is_empty() {
        None
    } else {
        Some(Value::Array(out))
    })
}

/// Entra's JSON-encoded roles may encode a whole list, `"[{\"value\":\"25\",…}]"`, as the
/// value or as one item of it (a PATCH `add` appends the value as sent): such an item stands
/// for its elements. A string that is not a JSON array stays a plain value (a role may be "[x]").
fn encoded_list(def: &AttributeDef, item: &Value) -> Option<Vec<Value>> {
    match item {
        Value::String(s) if def.kind == AttrType::Complex && s.trim_start().starts_with('[') => {
            match serde_json::from_str::<Value>(s) {
                Ok(Value::Array(elements)) => Some(elements),
                _ => None,
            }
        }
        _ => None,
    }
}

fn normalize_single(def: &AttributeDef, value: &Value, label: &str) -> Result<Option<Value>> {
    let bad = |what: &str| {
        ScimError::invalid_value(format!("'{label}' must be {what}, got {}", describe(value)))
    };
    Ok(match (def.kind, value) {
        (_, Value::Null) => None,
        (AttrType::Complex, Value::Object(obj)) => normalize_complex(def, obj, label)?,
        (AttrType::Complex, Value::String(s)) if s.trim_start().starts_with('{') => {
            // Entra sends some role values as JSON-encoded objects.
            match serde_json::from_str::<Value>(s) {
                Ok(Value::Object(obj)) => normalize_complex(def, &obj, label)?,
                _ => return Err(bad("an object")),
            }
        }
        (AttrType::Complex, Value::String(s)) if def.sub("value").is_some() => {
            if s.is_empty() {
                None
            } else {
                let mut m = Map::new();
                m.insert("value".into(), Value::String(s.clone()));
                Some(Value::Object(m))
            }
        }
        (AttrType::Complex, _) => return Err(bad("an object")),
        (AttrType::Boolean, Value::Bool(b)) => Some(Value::Bool(*b)),
        (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("true") => {
            Some(Value::Bool(true))
        }
        (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("false") => {
            Some(Value::Bool(false))
        }
        (AttrType::Boolean, Value::String(s)) if s.is_empty() => None,
        (AttrType::Boolean, _) => return Err(bad("a boolean")),
        (AttrType::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => Some(value.clone()),
        (AttrType::Integer, Value::String(s)) => match s.trim().parse::<i64>() {
            Ok(i) => Some(Value::from(i)),
            Err(_) if s.is_empty() => None,
            Err(_) => return Err(bad("an integer")),
        },
        (AttrType::Integer, _) => return Err(bad("an integer")),
        (AttrType::Decimal, Value::Number(_)) => Some(value.clone()),
        (AttrType::Decimal, Value::String(s)) => match s
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
        {
            Some(n) => Some(Value::Number(n)),
            None if s.is_empty() => None,
            None => return Err(bad("a decimal number")),
        },
        (AttrType::Decimal, _) => return Err(bad("a decimal number")),
        (AttrType::DateTime, Value::String(s)) if s.is_empty() => None,
        (AttrType::DateTime, Value::String(s)) => {
            if parse_datetime(s).is_none() {
                return Err(bad("an RFC 3339 date-time"));
            }
            Some(value.clone())
        }
        (AttrType::DateTime, _) => return Err(bad("an RFC 3339 date-time")),
        (_, Value::String(s)) if s.is_empty() => None,
        (_, Value::String(_)) => Some(value.clone()),
        // Numbers and booleans sent for string attributes (e.g. employeeNumber) are kept as
        // text, but not for identifiers (userName), where a number is a client bug.
        (_, Value::Number(n)) if def.uniqueness == Uniqueness::None => {
            Some(Value::String(n.to_string()))
        }
        (_, Value::Bool(b)) if def.uniqueness == Uniqueness::None => {
            Some(Value::String(b.to_string()))
        }
        (_, _) => return Err(bad("a string")),
    })
}

fn normalize_complex(
    def: &AttributeDef,
    obj: &Map<String, Value>,
    label: &str,
) -> Result<Option<Value>> {
    // Entra without SingleAppRoleAssignment: `{"value": "{\"id\":…,\"value\":\"25\",…}"}`,
    // a role object JSON-encoded inside `value`.
    if def.multi_valued
        && let Some(Value::String(s)) = get_ci(obj, "value")
        && s.trim_start().starts_with('{')
        && let Ok(Value::Object(decoded)) = serde_json::from_str::<Value>(s)
    {
        let mut merged = obj.clone();
        merged.retain(|k, _| !k.eq_ignore_ascii_case("value"));
        merged.extend(decoded);
        return normalize_complex(def, &merged, label);
    }
    let mut out = Map::new();
    for (k, v) in obj {
        match def.sub(k) {
            Some(sub) => {
                if sub.mutability == Mutability::ReadOnly {
                    continue;
                }
                if let Some(v) = normalize_single(sub, v, &format!("{label}.{}", sub.name))? {
                    out.insert(sub.name.clone(), v);
                }
            }
            // Entra's JSON-encoded roles say `displayName` where the schema says `display`.
            None if k.eq_ignore_ascii_case("displayName") && def.sub("display").is_some() => {
                if let Some(s) = v.as_str().filter(|s| !s.is_empty()) {
                    out.entry("display")
                        .or_insert_with(|| Value::String(s.to_string()));
                }
            }
            None => {
                if !v.is_null() {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
    }
    Ok(if out.is_empty() {
        None
    } else {
        Some(Value::Object(out))
    })
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The `userName` of a normalised user, if any.
pub fn user_name(attrs: &Map<String, Value>) -> Option<&str> {
    attrs.get("userName").and_then(Value::as_str)
}

/// Looks up a top-level attribute in a rendered or stored resource, case-insensitively.
pub fn attribute<'a>(attrs: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    get_ci(attrs, name)
}
