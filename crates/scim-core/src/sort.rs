//! In-memory `sortBy` (RFC 7644 §3.4.2.3) for results that could not be sorted by the store.

use crate::filter::AttrPath;
use crate::messages::SortOrder;
use crate::schema::{AttrType, ResourceType};
use crate::value::{get_ci, parse_datetime};
use serde_json::{Map, Value};
use std::cmp::Ordering;

/// Sorts rendered resources by `path`. Resources without a value sort last in ascending
/// order (and first in descending), as the RFC asks. For multi-valued attributes the primary
/// value, else the first, is the key.
pub fn sort_resources(
    items: &mut [Map<String, Value>],
    rt: &ResourceType,
    path: &AttrPath,
    order: SortOrder,
) {
    let def = rt.attribute(path.urn.as_deref(), &path.name);
    let def = match (&path.sub_attr, def) {
        (Some(s), Some(d)) => d.sub(s),
        (None, d) => d,
        _ => None,
    };
    let kind = def.map(|d| d.kind).unwrap_or(AttrType::String);
    let case_exact = def.is_some_and(|d| d.case_exact);
    items.sort_by_cached_key(|r| SortKey::of(sort_value(r, rt, path).as_ref(), kind, case_exact));
    if order == SortOrder::Descending {
        items.reverse();
    }
}

/// Numbers before text, missing values last; NaN cannot occur (JSON has none).
#[derive(Debug, PartialEq)]
enum SortKey {
    Number(f64),
    Text(String),
    Missing,
}

impl Eq for SortKey {}
impl PartialOrd for SortKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for SortKey {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (SortKey::Number(a), SortKey::Number(b)) => a.total_cmp(b),
            (SortKey::Text(a), SortKey::Text(b)) => a.cmp(b),
            (SortKey::Number(_), _) | (SortKey::Text(_), SortKey::Missing) => Ordering::Less,
            (SortKey::Missing, SortKey::Missing) => Ordering::Equal,
            _ => Ordering::Greater,
        }
    }
}

impl SortKey {
    fn of(v: Option<&Value>, kind: AttrType, case_exact: bool) -> Self {
        match v {
            Some(Value::Number(n)) => n.as_f64().map(SortKey::Number).unwrap_or(SortKey::Missing),
            Some(Value::Bool(b)) => SortKey::Number(if *b { 1.0 } else { 0.0 }),
            Some(Value::String(s)) if kind == AttrType::DateTime => parse_datetime(s)
                .map(|d| SortKey::Number(d.timestamp_millis() as f64))
                .unwrap_or(SortKey::Missing),
            Some(Value::String(s)) if case_exact => SortKey::Text(s.clone()),
            Some(Value::String(s)) => SortKey::Text(s.to_lowercase()),
            _ => SortKey::Missing,
        }
    }
}

fn sort_value(r: &Map<String, Value>, rt: &ResourceType, path: &AttrPath) -> Option<Value> {
    let container = match &path.urn {
        Some(u) if !rt.is_core_urn(u) => get_ci(r, u)?.as_object()?,
        _ => r,
    };
    let v = get_ci(container, &path.name)?;
    let v = match v {
        Value::Array(items) => items
            .iter()
            .find(|i| i.get("primary") == Some(&Value::Bool(true)))
            .or_else(|| items.first())?,
        other => other,
    };
    match (&path.sub_attr, v) {
        (Some(s), Value::Object(o)) => get_ci(o, s).cloned(),
        (None, Value::Object(o)) => get_ci(o, "value").cloned(),
        (None, other) => Some(other.clone()),
        _ => None,
    }
}
