//! Evaluates a [`Filter`] against a resource's JSON, using the schema for each attribute's
//! type and `caseExact`. Multi-valued attributes match when any value matches.

use super::ast::{AttrPath, CompValue, CompareOp, Filter};
use crate::error::{Result, ScimError};
use crate::schema::{AttrType, AttributeDef, ResourceType};
use crate::value::{get_ci, parse_datetime};
use serde_json::{Map, Value};
use std::cmp::Ordering;

/// True if `resource` matches `filter`.
pub fn matches(filter: &Filter, resource: &Map<String, Value>, rt: &ResourceType) -> bool {
    eval(filter, &Scope::Resource(resource, rt))
}

/// True if one element of a multi-valued attribute matches a value filter whose paths are
/// relative to the element (used by PATCH paths like `emails[type eq "work"]`).
pub fn element_matches(filter: &Filter, element: &Value, def: Option<&AttributeDef>) -> bool {
    eval(filter, &Scope::Element(element, def))
}

/// Checks that every attribute in `filter` exists in the resource type's schemas and that
/// ordering operators are used on orderable types. Errors are `invalidFilter`.
pub fn validate_filter(filter: &Filter, rt: &ResourceType) -> Result<()> {
    validate(filter, rt, None)
}

fn validate(filter: &Filter, rt: &ResourceType, parent: Option<&AttributeDef>) -> Result<()> {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => {
            validate(a, rt, parent)?;
            validate(b, rt, parent)
        }
        Filter::Not(a) => validate(a, rt, parent),
        Filter::Present(p) => resolve_def(p, rt, parent).map(|_| ()),
        Filter::Compare(p, op, v) => {
            let def = resolve_def(p, rt, parent)?;
            let ordering = matches!(
                op,
                CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
            );
            if ordering && (def.kind == AttrType::Boolean || def.kind == AttrType::Binary) {
                return Err(ScimError::invalid_filter(format!(
                    "'{}' cannot be used on the {:?} attribute '{p}'",
                    op.keyword(),
                    def.kind
                )));
            }
            if ordering && matches!(v, CompValue::Null | CompValue::Bool(_)) {
                return Err(ScimError::invalid_filter(format!(
                    "'{}' needs a string, number or date, not {v}",
                    op.keyword()
                )));
            }
            Ok(())
        }
        Filter::ValuePath(p, inner) => {
            let def = resolve_def(p, rt, parent)?;
            if !def.multi_valued && def.kind != AttrType::Complex {
                return Err(ScimError::invalid_filter(format!(
                    "'{p}' is not multi-valued or complex, so it cannot take a value filter"
                )));
            }
            validate(inner, rt, Some(def))
        }
    }
}

fn resolve_def<'a>(
    p: &AttrPath,
    rt: &'a ResourceType,
    parent: Option<&'a AttributeDef>,
) -> Result<&'a AttributeDef> {
    let unknown = || ScimError::invalid_filter(format!("unknown attribute '{p}'"));
    let def = match parent {
        Some(parent) if parent.kind == AttrType::Complex => {
            parent.sub(&p.name).ok_or_else(unknown)?
        }
        // Elements of a multi-valued simple attribute are addressed as `value`.
        Some(parent) if p.name.eq_ignore_ascii_case("value") => parent,
        Some(_) => return Err(unknown()),
        None => rt
            .attribute(p.urn.as_deref(), &p.name)
            .ok_or_else(unknown)?,
    };
    match &p.sub_attr {
        Some(sub) if parent.is_none() => def.sub(sub).ok_or_else(unknown),
        Some(_) => Err(unknown()),
        None => Ok(def),
    }
}

enum Scope<'a> {
    Resource(&'a Map<String, Value>, &'a ResourceType),
    Element(&'a Value, Option<&'a AttributeDef>),
}

impl Scope<'_> {
    /// The values a path addresses, with the definition of the leaf attribute.
    fn values(&self, p: &AttrPath) -> (Vec<&Value>, Option<&AttributeDef>) {
        match self {
            Scope::Resource(res, rt) => {
                let container = match &p.urn {
                    Some(u) if !rt.is_core_urn(u) => match get_ci(res, u) {
                        Some(Value::Object(ext)) => ext,
                        _ => return (Vec::new(), None),
                    },
                    _ => *res,
                };
                let def = rt.attribute(p.urn.as_deref(), &p.name);
                let Some(v) = get_ci(container, &p.name) else {
                    return (Vec::new(), def);
                };
                descend(v, def, p.sub_attr.as_deref())
            }
            Scope::Element(elem, parent) => match elem {
                Value::Object(obj) => {
                    let def = parent.and_then(|d| d.sub(&p.name));
                    let Some(v) = get_ci(obj, &p.name) else {
                        return (Vec::new(), def);
                    };
                    descend(v, def, p.sub_attr.as_deref())
                }
                scalar if p.name.eq_ignore_ascii_case("value") && p.sub_attr.is_none() => {
                    (vec![*scalar], *parent)
                }
                _ => (Vec::new(), None),
            },
        }
    }
}

/// Flattens arrays and steps into a sub-attribute. For a complex multi-valued attribute
/// compared without a sub-attribute, RFC 7644 says the `value` sub-attribute is used.
fn descend<'a>(
    v: &'a Value,
    def: Option<&'a AttributeDef>,
    sub: Option<&str>,
) -> (Vec<&'a Value>, Option<&'a AttributeDef>) {
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    let sub = sub.or(match def {
        Some(d) if d.kind == AttrType::Complex && d.multi_valued => Some("value"),
        _ => None,
    });
    match sub {
        Some(s) => {
            let sub_def = def.and_then(|d| d.sub(s));
            let vals = items
                .into_iter()
                .filter_map(|i| i.as_object().and_then(|o| get_ci(o, s)))
                .flat_map(|v| match v {
                    Value::Array(a) => a.iter().collect::<Vec<_>>(),
                    other => vec![other],
                })
                .collect();
            (vals, sub_def)
        }
        None => (items, def),
    }
}

fn eval(filter: &Filter, scope: &Scope<'_>) -> bool {
    match filter {
        Filter::And(a, b) => eval(a, scope) && eval(b, scope),
        Filter::Or(a, b) => eval(a, scope) || eval(b, scope),
        Filter::Not(a) => !eval(a, scope),
        Filter::Present(p) => scope.values(p).0.iter().any(|v| is_present(v)),
        Filter::Compare(p, op, lit) => {
            let (values, def) = scope.values(p);
            let present: Vec<&Value> = values.into_iter().filter(|v| is_present(v)).collect();
            match (op, lit) {
                (CompareOp::Eq, CompValue::Null) => present.is_empty(),
                (CompareOp::Ne, CompValue::Null) => !present.is_empty(),
                (CompareOp::Ne, _) => !present.iter().any(|v| compare(v, CompareOp::Eq, lit, def)),
                _ => present.iter().any(|v| compare(v, *op, lit, def)),
            }
        }
        Filter::ValuePath(p, inner) => {
            let Scope::Resource(_, rt) = scope else {
                return false;
            };
            let def = rt.attribute(p.urn.as_deref(), &p.name);
            let elements = raw_elements(scope, p).unwrap_or_default();
            elements
                .iter()
                .any(|e| eval(inner, &Scope::Element(e, def)))
        }
    }
}

fn raw_elements<'a>(scope: &Scope<'a>, p: &AttrPath) -> Option<Vec<&'a Value>> {
    let Scope::Resource(res, rt) = scope else {
        return None;
    };
    let container = match &p.urn {
        Some(u) if !rt.is_core_urn(u) => get_ci(res, u)?.as_object()?,
        _ => *res,
    };
    Some(match get_ci(container, &p.name)? {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    })
}

fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

fn compare(v: &Value, op: CompareOp, lit: &CompValue, def: Option<&AttributeDef>) -> bool {
    let kind = def.map(|d| d.kind);
    let case_exact = def.is_some_and(|d| d.case_exact);
    match (kind, v, lit) {
        (Some(AttrType::DateTime), Value::String(s), CompValue::String(l)) => {
            match (parse_datetime(s), parse_datetime(l)) {
                (Some(a), Some(b)) => ordering_matches(a.cmp(&b), op),
                _ => compare_strings(s, l, op, case_exact),
            }
        }
        (_, Value::Bool(b), _) => match bool_literal(lit) {
            Some(l) => match op {
                CompareOp::Eq => *b == l,
                CompareOp::Ne => *b != l,
                _ => false,
            },
            None => false,
        },
        (Some(AttrType::Boolean), Value::String(s), _) => {
            match (
                bool_literal(&CompValue::String(s.clone())),
                bool_literal(lit),
            ) {
                (Some(a), Some(b)) => matches!(op, CompareOp::Eq) == (a == b),
                _ => false,
            }
        }
        (_, Value::Number(n), CompValue::Number(l)) => match (n.as_f64(), l.as_f64()) {
            (Some(a), Some(b)) => a.partial_cmp(&b).is_some_and(|o| ordering_matches(o, op)),
            _ => false,
        },
        (_, Value::Number(n), CompValue::String(l)) => compare_strings(&n.to_string(), l, op, true),
        (_, Value::String(s), CompValue::String(l)) => compare_strings(s, l, op, case_exact),
        (_, Value::String(s), CompValue::Number(l)) => compare_strings(s, &l.to_string(), op, true),
        (_, Value::String(s), CompValue::Bool(l)) => bool_literal(&CompValue::String(s.clone()))
            .is_some_and(|b| match op {
                CompareOp::Eq => b == *l,
                _ => false,
            }),
        _ => false,
    }
}

fn bool_literal(lit: &CompValue) -> Option<bool> {
    match lit {
        CompValue::Bool(b) => Some(*b),
        CompValue::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        CompValue::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn compare_strings(a: &str, b: &str, op: CompareOp, case_exact: bool) -> bool {
    let (a, b) = if case_exact {
        (std::borrow::Cow::Borrowed(a), std::borrow::Cow::Borrowed(b))
    } else {
        (
            std::borrow::Cow::Owned(a.to_lowercase()),
            std::borrow::Cow::Owned(b.to_lowercase()),
        )
    };
    match op {
        CompareOp::Eq => a == b,
        CompareOp::Ne => a != b,
        CompareOp::Co => a.contains(b.as_ref()),
        CompareOp::Sw => a.starts_with(b.as_ref()),
        CompareOp::Ew => a.ends_with(b.as_ref()),
        _ => ordering_matches(a.cmp(&b), op),
    }
}

fn ordering_matches(o: Ordering, op: CompareOp) -> bool {
    match op {
        CompareOp::Eq => o == Ordering::Equal,
        CompareOp::Ne => o != Ordering::Equal,
        CompareOp::Gt => o == Ordering::Greater,
        CompareOp::Ge => o != Ordering::Less,
        CompareOp::Lt => o == Ordering::Less,
        CompareOp::Le => o != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}
