//! Runs every case of `tests/corpus/` (real Entra ID / Okta / RFC request bodies; format in
//! `tests/corpus/README.md`) through the resource validator and the PATCH engine.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benches panic on setup failure"
)]

use scim_core::messages::PatchOp;
use scim_core::patch::apply_patch;
use scim_core::path::parse_attr_path;
use scim_core::resource::{Meta, apply_put, normalize, parse_create, render};
use scim_core::schema::{AttributeDef, ResourceType, extension_schema};
use scim_core::value::get_ci;
use scim_core::{ScimError, ScimType};
use serde_json::{Map, Value};
use std::path::Path;

fn user_type() -> ResourceType {
    let mut rt = ResourceType::user();
    rt.register_extension(
        extension_schema(
            "urn:ietf:params:scim:schemas:extension:activtrak:2.0:User",
            "ActivTrak",
            vec![
                AttributeDef::string("userPrincipalNames").multi(),
                AttributeDef::boolean("tracking"),
            ],
        ),
        false,
    );
    rt
}

fn meta() -> Meta {
    Meta {
        created: "2024-01-01T00:00:00Z".parse().unwrap(),
        last_modified: "2024-01-01T00:00:00Z".parse().unwrap(),
        location: "https://scim.example/Users/x".into(),
        version: 1,
    }
}

/// `expected` ⊆ `actual` per the corpus README.
fn subset(expected: &Value, actual: &Value, at: &str, errors: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                match a.get(k) {
                    Some(av) => subset(ev, av, &format!("{at}.{k}"), errors),
                    None => errors.push(format!(
                        "{at}.{k} missing (have keys {:?})",
                        a.keys().collect::<Vec<_>>()
                    )),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                errors.push(format!(
                    "{at}: expected {} elements, got {}: {actual}",
                    e.len(),
                    a.len()
                ));
                return;
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                subset(ev, av, &format!("{at}[{i}]"), errors);
            }
        }
        (e, a) if e == a => {}
        (e, a) => errors.push(format!("{at}: expected {e}, got {a}")),
    }
}

fn unassigned(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Array(a)) => a.is_empty(),
        _ => false,
    }
}

fn check_absent(path: &str, res: &Map<String, Value>, errors: &mut Vec<String>) {
    let p = parse_attr_path(path).unwrap_or_else(|e| panic!("bad absent path {path}: {e}"));
    let container = match &p.urn {
        Some(u) if !u.contains(":core:") => match get_ci(res, u) {
            Some(Value::Object(o)) => o,
            _ => return,
        },
        _ => res,
    };
    let v = get_ci(container, &p.name);
    let leaf = match (&p.sub_attr, v) {
        (Some(s), Some(Value::Object(o))) => get_ci(o, s),
        (Some(_), _) => None,
        (None, v) => v,
    };
    if !unassigned(leaf) {
        errors.push(format!(
            "{path} should be absent, is {}",
            leaf.cloned().unwrap_or(Value::Null)
        ));
    }
}

fn run_case(case: &Value) -> Result<Vec<String>, ScimError> {
    let rt = match case["resource_type"].as_str() {
        Some("Group") => ResourceType::group(),
        _ => user_type(),
    };
    let body = &case["body"];
    let before = case.get("before");
    let before_id = before
        .and_then(|b| b["id"].as_str())
        .unwrap_or("existing-id")
        .to_string();
    let (id, attrs) = match case["kind"].as_str() {
        Some("create") => ("server-assigned-id".to_string(), parse_create(&rt, body)?),
        Some("patch") => {
            let current =
                normalize(&rt, before.unwrap_or(&Value::Null)).expect("before must be valid");
            let req = PatchOp::from_value(body)?;
            let (after, _) = apply_patch(&rt, &before_id, &current, &req)?;
            (before_id, after)
        }
        Some("replace") => {
            let current =
                normalize(&rt, before.unwrap_or(&Value::Null)).expect("before must be valid");
            (before_id, apply_put(&rt, &current, body)?)
        }
        other => panic!("unknown kind {other:?}"),
    };
    let out = render(&rt, &id, attrs.clone(), &meta());
    let mut errors = Vec::new();
    let expect = &case["expect"];
    if let Some(after) = expect.get("after") {
        subset(after, &Value::Object(out.clone()), "$", &mut errors);
    }
    for path in expect
        .get("absent")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        check_absent(path.as_str().unwrap_or_default(), &out, &mut errors);
    }
    if expect["client_id_ignored"] == Value::Bool(true) && out.get("id") == body.get("id") {
        errors.push("the client's id was taken".into());
    }
    Ok(errors)
}

#[test]
fn corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 100, "corpus has {} cases", files.len());
    let mut failures = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let case: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let expect_ok = case["expect"]["ok"] == Value::Bool(true);
        match (run_case(&case), expect_ok) {
            (Ok(errs), true) if errs.is_empty() => {}
            (Ok(errs), true) => failures.push(format!("{name}: {}", errs.join("; "))),
            (Ok(_), false) => {
                failures.push(format!("{name}: expected an error, the request succeeded"))
            }
            (Err(e), true) => failures.push(format!("{name}: unexpected error {e}")),
            (Err(e), false) => {
                let want_status = case["expect"]["status"].as_u64().unwrap_or(400) as u16;
                let want_type = case["expect"]["scimType"].as_str();
                let got_type = e.scim_type.map(ScimType::as_str);
                if e.status != want_status || got_type != want_type {
                    failures.push(format!(
                        "{name}: expected {want_status} {want_type:?}, got {e}"
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus cases failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
