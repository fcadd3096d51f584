//! `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9), honouring each attribute's
//! `returned` characteristic: `always` is always there, `never` never, `request` only when
//! asked for.

use crate::error::{Result, ScimError};
use crate::filter::AttrPath;
use crate::path::{is_urn, parse_attr_path};
use crate::schema::{AttributeDef, ResourceType, Returned};
use crate::value::find_key;
use serde_json::{Map, Value};

/// A parsed projection request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Projection {
    attributes: Vec<Selector>,
    excluded: Vec<Selector>,
}

/// One entry of an attribute list: an attribute path or a whole extension URN.
#[derive(Debug, Clone, PartialEq)]
enum Selector {
    Path(AttrPath),
    Schema(String),
}

impl Projection {
    /// Parses the comma-separated lists. Unknown names are accepted (and match nothing), as
    /// clients ask for attributes of other schemas; malformed names are `invalidValue`.
    pub fn parse(
        attributes: Option<&str>,
        excluded: Option<&str>,
        rt: &ResourceType,
    ) -> Result<Self> {
        Ok(Self {
            attributes: parse_list(attributes, rt)?,
            excluded: parse_list(excluded, rt)?,
        })
    }

    /// True when nothing is selected or excluded.
    pub fn is_default(&self) -> bool {
        self.attributes.is_empty() && self.excluded.is_empty()
    }

    /// True if the top-level attribute `name` (core) will be in the output. Lets a caller
    /// skip loading expensive attributes such as group `members`.
    pub fn includes(&self, rt: &ResourceType, name: &str) -> bool {
        let Some(def) = rt.attribute(None, name) else {
            return true;
        };
        let mut probe = Map::new();
        probe.insert(def.name.clone(), Value::Bool(true));
        self.apply(rt, probe).contains_key(&def.name)
    }

    /// Applies the projection to a rendered resource, moving the kept values out of it.
    pub fn apply(&self, rt: &ResourceType, resource: Map<String, Value>) -> Map<String, Value> {
        let mut out = Map::new();
        for (key, value) in resource {
            if key == "schemas" {
                out.insert(key, value);
                continue;
            }
            if is_urn(&key) {
                match (rt.extension(&key), value) {
                    (Some(ext), Value::Object(inner)) => {
                        let projected =
                            self.project_object(inner, Some(&ext.id), |n| ext.attribute(n));
                        if !projected.is_empty() {
                            out.insert(key, Value::Object(projected));
                        }
                    }
                    (_, value) => {
                        if self.wants_unknown_schema(&key) {
                            out.insert(key, value);
                        }
                    }
                }
                continue;
            }
            let def = rt.attribute(None, &key);
            if let Some(v) = self.project_attr(None, &key, def, value) {
                out.insert(key, v);
            }
        }
        out
    }

    fn project_object<'a>(
        &self,
        obj: Map<String, Value>,
        urn: Option<&str>,
        lookup: impl Fn(&str) -> Option<&'a AttributeDef>,
    ) -> Map<String, Value> {
        let mut out = Map::new();
        for (k, v) in obj {
            if let Some(p) = self.project_attr(urn, &k, lookup(&k), v) {
                out.insert(k, p);
            }
        }
        out
    }

    fn wants_unknown_schema(&self, urn: &str) -> bool {
        let named = |s: &Selector| match s {
            Selector::Schema(u) => u.eq_ignore_ascii_case(urn),
            Selector::Path(p) => p
                .urn
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case(urn)),
        };
        if self.excluded.iter().any(named) {
            return false;
        }
        self.attributes.is_empty() || self.attributes.iter().any(named)
    }

    /// Projects one attribute with value `value`; `None` drops it.
    fn project_attr(
        &self,
        urn: Option<&str>,
        name: &str,
        def: Option<&AttributeDef>,
        value: Value,
    ) -> Option<Value> {
        let returned = def.map(|d| d.returned).unwrap_or(Returned::Default);
        match returned {
            Returned::Never => return None,
            Returned::Always => return Some(value),
            _ => {}
        }
        let selects = |s: &Selector| match s {
            Selector::Schema(u) => urn.is_some_and(|x| x.eq_ignore_ascii_case(u)),
            Selector::Path(p) => same_schema(p, urn) && p.name.eq_ignore_ascii_case(name),
        };
        // Excluded: whole attribute, or some sub-attributes.
        let excluded: Vec<&Selector> = self.excluded.iter().filter(|s| selects(s)).collect();
        if excluded.iter().any(|s| {
            matches!(s, Selector::Schema(_))
                || matches!(s, Selector::Path(p) if p.sub_attr.is_none())
        }) {
            return None;
        }
        let mut value = value;
        for s in &excluded {
            if let Selector::Path(AttrPath {
                sub_attr: Some(sub),
                ..
            }) = s
            {
                strip_sub(&mut value, sub);
            }
        }
        if self.attributes.is_empty() {
            return (returned != Returned::Request).then_some(value);
        }
        let selected: Vec<&Selector> = self.attributes.iter().filter(|s| selects(s)).collect();
        if selected.is_empty() {
            return None;
        }
        let whole = selected.iter().any(|s| {
            matches!(s, Selector::Schema(_))
                || matches!(s, Selector::Path(p) if p.sub_attr.is_none())
        });
        if whole {
            return Some(value);
        }
        let subs: Vec<&str> = selected
            .iter()
            .filter_map(|s| match s {
                Selector::Path(p) => p.sub_attr.as_deref(),
                Selector::Schema(_) => None,
            })
            .collect();
        keep_subs(&mut value, &subs, def);
        Some(value)
    }
}

fn same_schema(p: &AttrPath, urn: Option<&str>) -> bool {
    match (&p.urn, urn) {
        (None, None) => true,
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        // A core-URN-qualified path addresses core attributes.
        (Some(a), None) => a
            .to_ascii_lowercase()
            .starts_with("urn:ietf:params:scim:schemas:core:"),
        (None, Some(_)) => false,
    }
}

fn parse_list(list: Option<&str>, rt: &ResourceType) -> Result<Vec<Selector>> {
    let Some(list) = list else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if is_urn(item) && rt.schema_urns().any(|u| u.eq_ignore_ascii_case(item)) {
            if rt.is_core_urn(item) {
                continue; // the whole core schema: same as no selection for core attributes
            }
            out.push(Selector::Schema(item.to_string()));
            continue;
        }
        let p = parse_attr_path(item).map_err(|_| {
            ScimError::invalid_value(format!(
                "'{item}' is not a valid attribute name in the attribute list"
            ))
        })?;
        out.push(Selector::Path(p));
    }
    Ok(out)
}

fn keep_subs(value: &mut Value, subs: &[&str], def: Option<&AttributeDef>) {
    let keep = |obj: &mut Map<String, Value>| {
        let always: Vec<String> = def
            .map(|d| {
                d.sub_attributes
                    .iter()
                    .filter(|s| s.returned == Returned::Always)
                    .map(|s| s.name.clone())
                    .collect()
            })
            .unwrap_or_default();
        obj.retain(|k, _| subs.iter().any(|s| s.eq_ignore_ascii_case(k)) || always.contains(k));
    };
    match value {
        Value::Object(o) => keep(o),
        Value::Array(items) => {
            for i in items.iter_mut() {
                if let Value::Object(o) = i {
                    keep(o);
                }
            }
        }
        _ => {}
    }
}

fn strip_sub(value: &mut Value, sub: &str) {
    match value {
        Value::Object(o) => {
            if let Some(k) = find_key(o, sub) {
                o.shift_remove(&k);
            }
        }
        Value::Array(items) => {
            for i in items.iter_mut() {
                strip_sub(i, sub);
            }
        }
        _ => {}
    }
}
