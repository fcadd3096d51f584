//! Property tests: filters round-trip through the printer, and no input panics the filter
//! parser, the path parser or the PATCH engine.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benches panic on setup failure"
)]

use proptest::prelude::*;
use scim_core::filter::{
    AttrPath, CompValue, CompareOp, Filter, matches, parse_filter, parse_patch_path,
};
use scim_core::messages::PatchOp;
use scim_core::patch::apply_patch;
use scim_core::resource::{normalize, parse_create};
use scim_core::schema::ResourceType;
use serde_json::{Value, json};

fn name() -> impl Strategy<Value = String> {
    // Attribute names start in lowercase (see `path::parse_attr_path` on `…:User.attr`).
    "[a-z][a-zA-Z0-9_-]{0,8}".prop_filter("not a keyword", |s| {
        ![
            "and", "or", "not", "pr", "eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "true",
            "false", "null",
        ]
        .contains(&s.to_ascii_lowercase().as_str())
    })
}

fn attr_path() -> impl Strategy<Value = AttrPath> {
    (
        prop::option::of(prop_oneof![
            Just("urn:ietf:params:scim:schemas:core:2.0:User".to_string()),
            Just("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".to_string()),
        ]),
        name(),
        prop::option::of(name()),
    )
        .prop_map(|(urn, name, sub_attr)| AttrPath {
            urn,
            name,
            sub_attr,
        })
}

fn comp_value() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        Just(CompValue::Null),
        any::<bool>().prop_map(CompValue::Bool),
        any::<i64>().prop_map(|n| CompValue::Number(n.into())),
        any::<String>().prop_map(CompValue::String),
    ]
}

fn op() -> impl Strategy<Value = CompareOp> {
    prop::sample::select(vec![
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Co,
        CompareOp::Sw,
        CompareOp::Ew,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ])
}

fn leaf() -> impl Strategy<Value = Filter> {
    prop_oneof![
        attr_path().prop_map(Filter::Present),
        (attr_path(), op(), comp_value()).prop_map(|(p, o, v)| Filter::Compare(p, o, v)),
    ]
}

fn filter() -> impl Strategy<Value = Filter> {
    let inner = leaf().prop_map(|f| match f {
        // Paths inside a value filter are relative: no URN, no sub-attribute.
        Filter::Present(p) => Filter::Present(AttrPath::new(p.name)),
        Filter::Compare(p, o, v) => Filter::Compare(AttrPath::new(p.name), o, v),
        other => other,
    });
    let base = prop_oneof![
        3 => leaf(),
        1 => (name(), inner).prop_map(|(n, f)| Filter::ValuePath(AttrPath::new(n), Box::new(f))),
    ];
    base.prop_recursive(5, 32, 2, |f| {
        prop_oneof![
            (f.clone(), f.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
            (f.clone(), f.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
            f.prop_map(|a| Filter::Not(Box::new(a))),
        ]
    })
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        prop_oneof![
            Just("emails[type eq \"work\"].value".to_string()),
            Just("members[value eq \"u1\"]".to_string()),
            Just("name.givenName".to_string()),
            Just("True".to_string()),
            Just("{\"value\":\"x\"}".to_string()),
            ".*",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("op".to_string()),
                    Just("path".to_string()),
                    Just("value".to_string()),
                    Just("Operations".to_string()),
                    Just("userName".to_string()),
                    Just("emails".to_string()),
                    Just("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".to_string()),
                    Just("manager".to_string()),
                    Just("members".to_string()),
                    "[a-zA-Z.:]{1,12}",
                ],
                inner,
                0..5,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn filter_print_parse_round_trip(f in filter()) {
        let printed = f.to_string();
        let parsed = parse_filter(&printed).map_err(|e| TestCaseError::fail(format!("{printed}: {e}")))?;
        prop_assert_eq!(parsed, f);
    }

    #[test]
    fn filter_parser_never_panics(s in ".{0,200}") {
        let _ = parse_filter(&s);
        let _ = parse_patch_path(&s);
    }

    #[test]
    fn filter_parser_never_panics_on_filter_like_text(s in r#"[a-z\[\]().\" ]{0,120}|(not |\(|and |or |eq |pr |\[|\]|"x" |a\.b )*"#) {
        let _ = parse_filter(&s);
    }

    #[test]
    fn evaluation_never_panics(f in filter()) {
        let rt = ResourceType::user();
        let user = normalize(&rt, &json!({"userName": "u", "emails": [{"value": "e", "type": "work"}], "name": {"givenName": "g"}})).unwrap();
        let _ = matches(&f, &user, &rt);
    }

    #[test]
    fn patch_engine_never_panics(body in arb_json(), ops in prop::collection::vec(arb_json(), 0..4)) {
        let rt = ResourceType::user();
        let user = normalize(&rt, &json!({"userName": "u", "emails": [{"value": "e", "type": "work"}], "roles": [{"value": "r"}]})).unwrap();
        for candidate in [body.clone(), json!({"Operations": ops})] {
            if let Ok(req) = PatchOp::from_value(&candidate)
                && let Ok((after, _)) = apply_patch(&rt, "id", &user, &req)
            {
                // Whatever succeeds is a valid resource again.
                prop_assert!(parse_create(&rt, &Value::Object(after)).is_ok());
            }
        }
        let g = ResourceType::group();
        let group = normalize(&g, &json!({"displayName": "G", "members": [{"value": "u1"}]})).unwrap();
        if let Ok(req) = PatchOp::from_value(&json!({"Operations": ops})) {
            let _ = apply_patch(&g, "id", &group, &req);
        }
        let _ = parse_create(&rt, &body);
    }
}
