//! The PATCH engine (RFC 7644 §3.5.2) with the forms Entra ID and Okta really send: `op` in
//! any case, `add` on a single-valued attribute as replace, path-less operations whose keys are
//! dotted paths or URNs, filtered paths that create the element they address, string booleans,
//! plain-string `manager`, JSON-encoded roles, both member-removal forms, `""`/`null` as clear.
//!
//! [`apply_patch`] applies every operation to a copy and re-validates the result, so a request
//! applies completely or not at all.

use crate::error::{Result, ScimError};
use crate::filter::{
    AttrPath, CompValue, CompareOp, Filter, PatchPath, element_matches, parse_patch_path,
};
use crate::messages::{PatchOp, PatchOperation};
use crate::path::{is_urn, parse_attr_path};
use crate::resource::{check_required, normalize};
use crate::schema::{AttrType, AttributeDef, Mutability, ResourceType};
use crate::value::{find_key, get_ci};
use serde_json::{Map, Value};

/// What the engine noticed while applying a request, for logs ("which quirk forms were
/// normalised").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatchNotes {
    /// Short descriptions such as `op "Replace" in capitals` or `string boolean "False"`.
    pub quirks: Vec<String>,
}

/// Applies `request` to the attribute map `current` of the resource with id `id`.
pub fn apply_patch(
    rt: &ResourceType,
    id: &str,
    current: &Map<String, Value>,
    request: &PatchOp,
) -> Result<(Map<String, Value>, PatchNotes)> {
    let mut doc = current.clone();
    let mut notes = PatchNotes::default();
    for (i, op) in request.operations.iter().enumerate() {
        apply_operation(rt, id, &mut doc, op, &mut notes).map_err(|mut e| {
            e.detail = format!("operation {} ({}): {}", i + 1, op.op, e.detail);
            e
        })?;
    }
    let doc = normalize(rt, &Value::Object(doc))?;
    check_required(rt, &doc)?;
    Ok((doc, notes))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Replace,
    Remove,
}

fn apply_operation(
    rt: &ResourceType,
    id: &str,
    doc: &mut Map<String, Value>,
    operation: &PatchOperation,
    notes: &mut PatchNotes,
) -> Result<()> {
    let op = match operation.op.to_ascii_lowercase().as_str() {
        "add" => Op::Add,
        "replace" => Op::Replace,
        "remove" => Op::Remove,
        other => {
            return Err(ScimError::invalid_syntax(format!(
                "unknown op '{other}'; expected add, replace or remove"
            )));
        }
    };
    if operation.op.chars().any(|c| c.is_ascii_uppercase()) {
        notes
            .quirks
            .push(format!("op \"{}\" not in lowercase", operation.op));
    }
    if let Some(Value::String(s)) = &operation.value
        && (s == "True" || s == "False")
    {
        notes.quirks.push(format!("string boolean \"{s}\""));
    }
    let value = operation.value.as_ref();
    match operation
        .path
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        None => {
            if op == Op::Remove {
                return Err(ScimError::no_target("remove needs a path"));
            }
            let Some(Value::Object(obj)) = value else {
                return Err(ScimError::invalid_value(
                    "an operation without a path needs an object value",
                ));
            };
            notes
                .quirks
                .push("path-less operation with an object value".into());
            apply_pathless(rt, id, doc, op, obj)
        }
        Some(path) => {
            if let Some(schema) = schema_urn_path(rt, path) {
                return apply_schema_path(doc, rt, op, schema, value);
            }
            let pp = parse_patch_path(path)?;
            apply_path(rt, doc, op, &pp, value)
        }
    }
}

/// A `path` that names a whole schema rather than an attribute: the core URN, or an
/// extension URN (a registered extension, or an unknown `urn:…:Name` whose last segment is
/// capitalised like a resource type's name; the same rule as path-less URN keys).
enum SchemaPath {
    Core,
    /// The canonical URN of a registered extension, or the URN as sent for an unknown one.
    Extension(String),
}

fn schema_urn_path(rt: &ResourceType, path: &str) -> Option<SchemaPath> {
    if !is_urn(path) || path.contains('[') {
        return None;
    }
    if rt.is_core_urn(path) {
        return Some(SchemaPath::Core);
    }
    if let Some(ext) = rt.extension(path) {
        return Some(SchemaPath::Extension(ext.id.clone()));
    }
    parse_attr_path(path)
        .is_ok_and(|p| {
            p.sub_attr.is_none()
                && p.name.starts_with(|c: char| c.is_ascii_uppercase())
                // `urn:…:core:2.0:User:Custom` is a custom attribute Entra qualified with the
                // core URN, not a schema.
                && p.urn.as_deref().is_some_and(|u| !rt.is_core_urn(u) && rt.extension(u).is_none())
        })
        .then(|| SchemaPath::Extension(path.to_string()))
}

/// An operation whose path is a schema URN (RFC 7644 §3.5.2: the path names a complex
/// attribute, the extension object): add and replace apply to each attribute the value
/// object lists, exactly as the same op on `urn:…:attribute` would, and leave the others
/// alone (§3.5.2.3: unspecified sub-attributes are left unchanged); remove, or a `null`/`""`
/// value, drops the whole extension object.
fn apply_schema_path(
    doc: &mut Map<String, Value>,
    rt: &ResourceType,
    op: Op,
    schema: SchemaPath,
    value: Option<&Value>,
) -> Result<()> {
    let urn = match schema {
        SchemaPath::Extension(urn) => Some(urn),
        SchemaPath::Core if op == Op::Remove || is_clear(value) => {
            return Err(ScimError::invalid_path(format!(
                "the core schema of {} cannot be removed",
                rt.name
            )));
        }
        SchemaPath::Core => None,
    };
    match (urn, value) {
        (Some(urn), _) if op == Op::Remove || is_clear(value) => {
            if let Some(key) = find_key(doc, &urn) {
                doc.shift_remove(&key);
            }
            Ok(())
        }
        (urn, Some(Value::Object(attrs))) => apply_object_attrs(rt, doc, op, urn, attrs),
        _ => Err(ScimError::invalid_value(
            "an operation whose path is a schema URN needs an object of that schema's attributes as its value",
        )),
    }
}

/// Applies `op` to each `attribute: value` of `attrs`, the attributes of the schema `urn`
/// (None: the core schema).
fn apply_object_attrs(
    rt: &ResourceType,
    doc: &mut Map<String, Value>,
    op: Op,
    urn: Option<String>,
    attrs: &Map<String, Value>,
) -> Result<()> {
    for (k, v) in attrs {
        let attr = AttrPath {
            urn: urn.clone(),
            ..parse_attr_path(k)?
        };
        let pp = PatchPath {
            attr,
            filter: None,
            sub_attr_after_filter: None,
        };
        apply_path(rt, doc, op, &pp, Some(v))?;
    }
    Ok(())
}

/// A path-less add/replace: every key is an attribute, a dotted path, a URN-qualified path or
/// an extension object.
fn apply_pathless(
    rt: &ResourceType,
    id: &str,
    doc: &mut Map<String, Value>,
    op: Op,
    obj: &Map<String, Value>,
) -> Result<()> {
    for (key, v) in obj {
        if key.eq_ignore_ascii_case("schemas") || key.eq_ignore_ascii_case("meta") {
            continue;
        }
        if key.eq_ignore_ascii_case("id") {
            if v.is_null() || v.as_str() == Some(id) {
                continue;
            }
            return Err(ScimError::mutability(
                "'id' is assigned by the server and cannot change",
            ));
        }
        let urn_object = is_urn(key)
            && v.is_object()
            && (rt.is_core_urn(key)
                || rt.extension(key).is_some()
                || parse_attr_path(key).is_ok_and(|p| {
                    p.sub_attr.is_none() && p.name.starts_with(|c: char| c.is_ascii_uppercase())
                }));
        if urn_object {
            let urn = if rt.is_core_urn(key) {
                None
            } else {
                Some(key.clone())
            };
            if let Value::Object(inner) = v {
                apply_object_attrs(rt, doc, op, urn, inner)?;
            }
            continue;
        }
        let pp = parse_patch_path(key)?;
        if pp.attr.sub_attr.is_none() && pp.filter.is_none() && op == Op::Add {
            // RFC 7644: a path-less add merges complex attributes and appends to multi-valued ones.
            apply_path(rt, doc, Op::Add, &pp, Some(v))?;
        } else {
            apply_path(rt, doc, op, &pp, Some(v))?;
        }
    }
    Ok(())
}

/// Where an attribute lives: the core map or an extension object, and its definition.
struct Target<'a> {
    /// Canonical extension URN, or None for the core schema.
    ext: Option<String>,
    /// The definition, or None for attributes of an extension we do not know (kept raw).
    def: Option<&'a AttributeDef>,
    /// The key to store under.
    key: String,
}

fn resolve<'a>(rt: &'a ResourceType, attr: &AttrPath) -> Result<Target<'a>> {
    let unknown =
        || ScimError::invalid_path(format!("'{attr}' is not an attribute of {}", rt.name));
    match attr.urn.as_deref() {
        Some(u) if !rt.is_core_urn(u) => match rt.extension(u) {
            Some(ext) => {
                let def = ext.attribute(&attr.name).ok_or_else(unknown)?;
                Ok(Target {
                    ext: Some(ext.id.clone()),
                    def: Some(def),
                    key: def.name.clone(),
                })
            }
            None => Ok(Target {
                ext: Some(u.to_string()),
                def: None,
                key: attr.name.clone(),
            }),
        },
        // Entra qualifies custom attributes with the core URN (zulip/zulip#39773): keep them.
        Some(_) if rt.attribute(None, &attr.name).is_none() => Ok(Target {
            ext: None,
            def: None,
            key: attr.name.clone(),
        }),
        _ => {
            let def = rt.attribute(None, &attr.name).ok_or_else(unknown)?;
            Ok(Target {
                ext: None,
                def: Some(def),
                key: def.name.clone(),
            })
        }
    }
}

fn is_clear(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        _ => false,
    }
}

fn apply_path(
    rt: &ResourceType,
    doc: &mut Map<String, Value>,
    op: Op,
    pp: &PatchPath,
    value: Option<&Value>,
) -> Result<()> {
    let target = resolve(rt, &pp.attr)?;
    if let Some(def) = target.def
        && def.mutability == Mutability::ReadOnly
    {
        return Err(ScimError::mutability(format!(
            "'{}' is read-only",
            def.name
        )));
    }
    // An unassigned `active` reads as true, so removing it would silently re-enable a
    // disabled user: refuse, and say what to send instead.
    if let Some(def) = target.def
        && target.ext.is_none()
        && def.name == "active"
        && def.kind == AttrType::Boolean
        && pp.filter.is_none()
        && pp.attr.sub_attr.is_none()
        && (op == Op::Remove || is_clear(value))
    {
        return Err(ScimError::invalid_value(
            "'active' cannot be removed or cleared (an unassigned active means true); \
             send {\"op\":\"replace\",\"path\":\"active\",\"value\":false} to disable the user",
        ));
    }
    if op != Op::Remove && value.is_none() {
        return Err(ScimError::invalid_value(format!(
            "{op:?} of '{}' needs a value",
            pp.attr
        )));
    }

    // The map that holds the attribute: the document or an extension object inside it.
    let container: &mut Map<String, Value> = match &target.ext {
        None => doc,
        Some(urn) => {
            let key = find_key(doc, urn).unwrap_or_else(|| urn.clone());
            let entry = doc.entry(key).or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            match entry {
                Value::Object(o) => o,
                _ => return Err(ScimError::invalid_path("extension is not an object")),
            }
        }
    };
    let key = find_key(container, &target.key).unwrap_or_else(|| target.key.clone());
    let result = match (&pp.filter, &pp.attr.sub_attr) {
        (Some(filter), _) => apply_filtered(
            container,
            &key,
            target.def,
            op,
            filter,
            pp.sub_attr_after_filter.as_deref(),
            value,
        ),
        (None, Some(sub)) => apply_sub(container, &key, target.def, op, sub, value),
        (None, None) => apply_whole(container, &key, target.def, op, value),
    };
    // Drop an extension object that became empty.
    if let Some(urn) = &target.ext
        && let Some(k) = find_key(doc, urn)
        && doc
            .get(&k)
            .is_some_and(|v| v.as_object().is_some_and(Map::is_empty))
    {
        doc.shift_remove(&k);
    }
    result
}

/// add/replace/remove of a whole attribute (no sub-attribute, no filter).
fn apply_whole(
    container: &mut Map<String, Value>,
    key: &str,
    def: Option<&AttributeDef>,
    op: Op,
    value: Option<&Value>,
) -> Result<()> {
    let multi = def.is_some_and(|d| d.multi_valued);
    let complex = def.is_some_and(|d| d.kind == AttrType::Complex);
    match op {
        Op::Remove => {
            match (multi, value) {
                // Entra: {"op":"Remove","path":"members","value":[{"value":"id"}]}
                (true, Some(v)) if !is_clear(Some(v)) => {
                    let doomed: Vec<Value> = as_items(v);
                    if let Some(Value::Array(items)) = container.get_mut(key) {
                        items.retain(|item| !doomed.iter().any(|d| same_element(item, d)));
                        if items.is_empty() {
                            container.shift_remove(key);
                        }
                    }
                }
                _ => {
                    container.shift_remove(key);
                }
            }
            Ok(())
        }
        _ if is_clear(value) => {
            container.shift_remove(key);
            Ok(())
        }
        Op::Add if multi => {
            let incoming = as_items(value.unwrap_or(&Value::Null));
            let list = container
                .entry(key.to_string())
                .or_insert_with(|| Value::Array(Vec::new()));
            if !list.is_array() {
                *list = Value::Array(vec![list.clone()]);
            }
            if let Value::Array(items) = list {
                for item in incoming {
                    match items.iter_mut().find(|e| same_element(e, &item)) {
                        Some(existing) => merge_into(existing, &item),
                        None => items.push(item),
                    }
                }
            }
            Ok(())
        }
        Op::Replace if multi => {
            container.insert(
                key.to_string(),
                Value::Array(as_items(value.unwrap_or(&Value::Null))),
            );
            Ok(())
        }
        // Single-valued complex: both add and replace merge the given sub-attributes.
        _ if complex && value.is_some_and(Value::is_object) => {
            let entry = container
                .entry(key.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            if let (Value::Object(existing), Some(Value::Object(incoming))) = (entry, value) {
                for (k, v) in incoming {
                    let k = find_key(existing, k).unwrap_or_else(|| k.clone());
                    if is_clear(Some(v)) {
                        existing.shift_remove(&k);
                    } else {
                        existing.insert(k, v.clone());
                    }
                }
                if existing.is_empty() {
                    container.shift_remove(key);
                }
            }
            Ok(())
        }
        // add on a single-valued attribute is a replace (Entra without the flag sends Add).
        _ => {
            container.insert(key.to_string(), value.cloned().unwrap_or(Value::Null));
            Ok(())
        }
    }
}

/// `name.givenName`, `manager.value`, or `emails.value` (every element).
fn apply_sub(
    container: &mut Map<String, Value>,
    key: &str,
    def: Option<&AttributeDef>,
    op: Op,
    sub: &str,
    value: Option<&Value>,
) -> Result<()> {
    let sub_key = match def {
        Some(d) if d.kind != AttrType::Complex => {
            return Err(ScimError::invalid_path(format!(
                "'{}' has no sub-attributes",
                d.name
            )));
        }
        Some(d) => d.sub(sub).map(|s| s.name.clone()).ok_or_else(|| {
            ScimError::invalid_path(format!("'{}.{sub}' is not an attribute", d.name))
        })?,
        None => sub.to_string(),
    };
    if let Some(sd) = def.and_then(|d| d.sub(&sub_key))
        && sd.mutability == Mutability::ReadOnly
    {
        return Err(ScimError::mutability(format!(
            "'{key}.{sub_key}' is read-only"
        )));
    }
    let clear = op == Op::Remove || is_clear(value);
    let multi = def.is_some_and(|d| d.multi_valued);
    if multi {
        let list = container
            .entry(key.to_string())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(items) = list {
            if items.is_empty() && !clear {
                items.push(Value::Object(Map::new()));
            }
            for item in items.iter_mut() {
                set_sub(item, &sub_key, if clear { None } else { value });
            }
            items.retain(|i| !i.as_object().is_some_and(Map::is_empty));
        }
    } else {
        let entry = container
            .entry(key.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            // e.g. manager stored as a plain string: lift it into {value}.
            let old = entry.take();
            let mut m = Map::new();
            if !old.is_null() {
                m.insert("value".into(), old);
            }
            *entry = Value::Object(m);
        }
        set_sub(entry, &sub_key, if clear { None } else { value });
    }
    if container.get(key).is_some_and(|v| match v {
        Value::Object(o) => o.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }) {
        container.shift_remove(key);
    }
    Ok(())
}

fn set_sub(item: &mut Value, sub: &str, value: Option<&Value>) {
    if let Value::Object(obj) = item {
        let k = find_key(obj, sub).unwrap_or_else(|| sub.to_string());
        match value {
            Some(v) if !is_clear(Some(v)) => {
                obj.insert(k, v.clone());
            }
            _ => {
                obj.shift_remove(&k);
            }
        }
    }
}

/// `emails[type eq "work"]`, `emails[type eq "work"].value`, `members[value eq "id"]`.
fn apply_filtered(
    container: &mut Map<String, Value>,
    key: &str,
    def: Option<&AttributeDef>,
    op: Op,
    filter: &Filter,
    sub: Option<&str>,
    value: Option<&Value>,
) -> Result<()> {
    if let Some(d) = def
        && !d.multi_valued
    {
        return Err(ScimError::invalid_path(format!(
            "'{}' is not multi-valued, so it cannot take a value filter",
            d.name
        )));
    }
    let sub_key = match (def, sub) {
        (Some(d), Some(s)) if d.kind == AttrType::Complex => {
            Some(d.sub(s).map(|x| x.name.clone()).ok_or_else(|| {
                ScimError::invalid_path(format!("'{}.{s}' is not an attribute", d.name))
            })?)
        }
        (Some(d), Some(s)) if !s.eq_ignore_ascii_case("value") => {
            return Err(ScimError::invalid_path(format!(
                "'{}' has no sub-attribute '{s}'",
                d.name
            )));
        }
        (_, s) => s.map(str::to_string),
    };
    let simple = def.is_some_and(|d| d.kind != AttrType::Complex);
    let existing = container.get_mut(key);
    let items: &mut Vec<Value> = match existing {
        Some(Value::Array(a)) => a,
        Some(other) => {
            let v = other.take();
            *other = Value::Array(if v.is_null() { Vec::new() } else { vec![v] });
            match other {
                Value::Array(a) => a,
                _ => return Err(ScimError::invalid_path("internal: expected an array")),
            }
        }
        None => {
            if op == Op::Remove || is_clear(value) {
                return Ok(()); // nothing to remove or clear
            }
            container.insert(key.to_string(), Value::Array(Vec::new()));
            match container.get_mut(key) {
                Some(Value::Array(a)) => a,
                _ => return Err(ScimError::invalid_path("internal: expected an array")),
            }
        }
    };
    // ActivTrak's Entra app: `replace` on `…:userPrincipalNames[value eq null].value` means
    // "these are the values", not "add one where none is null" (which would append forever).
    if op == Op::Replace
        && is_value_eq_null(filter)
        && (simple || (def.is_none() && items.iter().all(|i| !i.is_object())))
    {
        *items = as_items(value.unwrap_or(&Value::Null));
        if items.is_empty() {
            container.shift_remove(key);
        }
        return Ok(());
    }
    let matched: Vec<usize> = (0..items.len())
        .filter(|&i| element_matches(filter, &items[i], def))
        .collect();

    let clear = op == Op::Remove || is_clear(value);
    if matched.is_empty() {
        if !clear {
            // Entra sends these for attributes that do not exist yet: create the element.
            let element = if simple || (def.is_none() && only_value_terms(filter)) {
                value.cloned().unwrap_or(Value::Null)
            } else {
                let mut obj = seed_from_filter(filter);
                match (&sub_key, value) {
                    (Some(s), Some(v)) => {
                        obj.insert(s.clone(), v.clone());
                    }
                    (None, Some(Value::Object(v))) => {
                        for (k, x) in v {
                            obj.insert(k.clone(), x.clone());
                        }
                    }
                    (None, Some(v)) => {
                        obj.insert("value".into(), v.clone());
                    }
                    _ => {}
                }
                Value::Object(obj)
            };
            items.push(element);
        }
    } else if simple || (def.is_none() && matched.iter().all(|&i| !items[i].is_object())) {
        // Multi-valued simple attribute: the element is the value itself.
        if clear {
            let mut i = 0;
            items.retain(|_| {
                let keep = !matched.contains(&i);
                i += 1;
                keep
            });
        } else if let Some(v) = value {
            for &i in &matched {
                items[i] = v.clone();
            }
        }
    } else if let Some(s) = &sub_key {
        for &i in &matched {
            set_sub(&mut items[i], s, if clear { None } else { value });
        }
        items.retain(|i| !i.as_object().is_some_and(Map::is_empty));
    } else if clear {
        let mut i = 0;
        items.retain(|_| {
            let keep = !matched.contains(&i);
            i += 1;
            keep
        });
    } else {
        for &i in &matched {
            match value {
                Some(Value::Object(v)) if op == Op::Add => {
                    merge_into(&mut items[i], &Value::Object(v.clone()))
                }
                Some(Value::Object(v)) => {
                    // replace: the element becomes the value, keeping what the filter selected on.
                    let mut obj = seed_from_filter(filter);
                    for (k, x) in v {
                        obj.insert(k.clone(), x.clone());
                    }
                    items[i] = Value::Object(obj);
                }
                Some(v) => set_sub(&mut items[i], "value", Some(v)),
                None => {}
            }
        }
    }
    if items.is_empty() {
        container.shift_remove(key);
    }
    Ok(())
}

/// The `attr eq literal` terms of an `and`-only filter, as the element they describe:
/// `type eq "work"` → `{"type": "work"}`.
fn seed_from_filter(filter: &Filter) -> Map<String, Value> {
    let mut obj = Map::new();
    collect_eq(filter, &mut obj);
    obj
}

fn collect_eq(filter: &Filter, obj: &mut Map<String, Value>) {
    match filter {
        Filter::And(a, b) => {
            collect_eq(a, obj);
            collect_eq(b, obj);
        }
        Filter::Compare(p, CompareOp::Eq, lit) if p.sub_attr.is_none() => {
            let v = match lit {
                CompValue::Null => return,
                CompValue::Bool(b) => Value::Bool(*b),
                CompValue::Number(n) => Value::Number(n.clone()),
                CompValue::String(s) => Value::String(s.clone()),
            };
            obj.insert(p.name.clone(), v);
        }
        _ => {}
    }
}

/// `value eq null`, exactly.
fn is_value_eq_null(filter: &Filter) -> bool {
    matches!(filter, Filter::Compare(p, CompareOp::Eq, CompValue::Null) if p.urn.is_none() && p.is("value"))
}

fn only_value_terms(filter: &Filter) -> bool {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => only_value_terms(a) && only_value_terms(b),
        Filter::Not(a) => only_value_terms(a),
        Filter::Compare(p, ..) | Filter::Present(p) => p.is("value"),
        Filter::ValuePath(..) => false,
    }
}

fn as_items(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.iter().filter(|x| !x.is_null()).cloned().collect(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

/// Two elements of a multi-valued attribute are the same when they are equal, or when both
/// are objects with the same `value` (and the same `type`, where either has one). This keeps
/// re-added members and emails from duplicating.
fn same_element(a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let (Some(xv), Some(yv)) = (get_ci(x, "value"), get_ci(y, "value")) else {
                return false;
            };
            let same_type = match (get_ci(x, "type"), get_ci(y, "type")) {
                (Some(t1), Some(t2)) => t1 == t2,
                _ => true,
            };
            xv == yv && same_type
        }
        (Value::Object(x), scalar) | (scalar, Value::Object(x)) => {
            get_ci(x, "value") == Some(scalar)
        }
        _ => false,
    }
}

fn merge_into(target: &mut Value, incoming: &Value) {
    match (target, incoming) {
        (Value::Object(t), Value::Object(i)) => {
            for (k, v) in i {
                let key = find_key(t, k).unwrap_or_else(|| k.clone());
                if v.is_null() {
                    continue;
                }
                t.insert(key, v.clone());
            }
        }
        (t, i) => *t = i.clone(),
    }
}
