//! Filter parsing, printing and evaluation, from RFC 7644 §3.4.2.2 and Entra's real filters.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests and benches panic on setup failure"
)]

use scim_core::filter::{CompValue, CompareOp, Filter, matches, parse_filter, validate_filter};
use scim_core::schema::ResourceType;
use scim_core::{ScimType, resource};
use serde_json::{Map, Value, json};

fn user(v: Value) -> Map<String, Value> {
    let rt = ResourceType::user();
    let attrs = resource::normalize(&rt, &v).unwrap();
    let meta = resource::Meta {
        created: "2024-01-01T00:00:00Z".parse().unwrap(),
        last_modified: "2024-06-01T12:00:00Z".parse().unwrap(),
        location: "https://x/Users/1".into(),
        version: 1,
    };
    resource::render(&rt, "2819c223-7f76-453a-919d-413861904646", attrs, &meta)
}

fn babs() -> Map<String, Value> {
    user(json!({
        "userName": "bjensen@example.com",
        "externalId": "BJensen",
        "name": {"familyName": "Jensen", "givenName": "Barbara"},
        "title": "Tour Guide",
        "userType": "Employee",
        "active": true,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "phoneNumbers": [{"value": "555-555-8377", "type": "work"}],
        "roles": [{"value": "Admin", "primary": "True", "type": "WindowsAzureActiveDirectoryRole"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Tour Operations", "employeeNumber": "701984"}
    }))
}

fn eval(f: &str) -> bool {
    let filter = parse_filter(f).unwrap_or_else(|e| panic!("{f}: {e}"));
    matches(&filter, &babs(), &ResourceType::user())
}

#[test]
fn rfc_examples_parse_and_print_round_trip() {
    // Every example filter of RFC 7644 §3.4.2.2.
    let examples = [
        r#"userName Eq "john""#,
        r#"Username eq "john""#,
        r#"userName eq "bjensen""#,
        r#"name.familyName co "O'Malley""#,
        r#"userName sw "J""#,
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
        "title pr",
        r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
        r#"title pr and userType eq "Employee""#,
        r#"title pr or userType eq "Intern""#,
        r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
        r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
        r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
        r#"userType eq "Employee" and (emails.type eq "work")"#,
        r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
        r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
    ];
    for src in examples {
        let f = parse_filter(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        let printed = f.to_string();
        let again = parse_filter(&printed).unwrap_or_else(|e| panic!("{printed}: {e}"));
        assert_eq!(f, again, "{src} printed as {printed}");
    }
}

#[test]
fn precedence_and_binds_tighter_than_or() {
    let f = parse_filter(r#"a eq 1 or b eq 2 and c eq 3"#).unwrap();
    match f {
        Filter::Or(_, right) => assert!(matches!(*right, Filter::And(..))),
        other => panic!("expected or at the top, got {other:?}"),
    }
    let g = parse_filter(r#"(a eq 1 or b eq 2) and c eq 3"#).unwrap();
    assert!(matches!(g, Filter::And(..)));
    assert_eq!(g.to_string(), r#"(a eq 1 or b eq 2) and c eq 3"#);
}

#[test]
fn keywords_and_literals_any_case() {
    let f = parse_filter(r#"active EQ TRUE AND title PR OR nickName Eq NULL"#).unwrap();
    assert_eq!(
        f.to_string(),
        "active eq true and title pr or nickName eq null"
    );
    assert!(matches!(
        parse_filter("x gt 10.5e2").unwrap(),
        Filter::Compare(_, CompareOp::Gt, CompValue::Number(_))
    ));
}

#[test]
fn string_escapes() {
    let f = parse_filter(r#"userName eq "a\"b\\c\u00e9""#).unwrap();
    match &f {
        Filter::Compare(_, _, CompValue::String(s)) => assert_eq!(s, "a\"b\\cé"),
        other => panic!("{other:?}"),
    }
    assert_eq!(parse_filter(&f.to_string()).unwrap(), f);
}

#[test]
fn evaluation_of_operators() {
    assert!(
        eval(r#"userName eq "BJENSEN@example.com""#),
        "userName is caseExact=false"
    );
    assert!(
        !eval(r#"externalId eq "bjensen""#),
        "externalId is caseExact"
    );
    assert!(eval(r#"externalId eq "BJensen""#));
    assert!(eval(r#"name.familyName co "ens""#));
    assert!(eval(r#"userName sw "bjen""#));
    assert!(eval(r#"userName ew "EXAMPLE.COM""#));
    assert!(eval(r#"userName ne "someone""#));
    assert!(eval("title pr"));
    assert!(!eval("nickName pr"));
    assert!(eval("nickName eq null"));
    assert!(eval("active eq true"));
    assert!(!eval("active eq false"));
    assert!(eval(r#"meta.lastModified gt "2024-05-01T00:00:00Z""#));
    assert!(eval(
        r#"meta.lastModified lt "2024-06-01T13:00:00+01:00" or meta.created le "2024-01-01T00:00:00Z""#
    ));
    assert!(!eval(r#"meta.lastModified gt "2024-06-01T12:00:01Z""#));
    assert!(
        eval(r#"emails co "jensen.org""#),
        "complex multi-valued compares value"
    );
    assert!(eval(r#"emails.type eq "home""#));
    assert!(eval(
        r#"emails[type eq "work" and value co "@example.com"]"#
    ));
    assert!(!eval(
        r#"emails[type eq "home" and value co "@example.com"]"#
    ));
    assert!(eval(r#"not (userType eq "Intern")"#));
    assert!(eval(
        r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#
    ));
    assert!(eval(
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "tour operations""#
    ));
    assert!(eval(
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "b""#
    ));
    assert!(eval(r#"id eq "2819c223-7f76-453a-919d-413861904646""#));
}

#[test]
fn entra_forms() {
    // Entra's string booleans inside filters.
    assert!(eval(r#"roles[primary eq "True"].value eq "Admin""#));
    assert!(eval(r#"roles[primary eq "True"]"#));
    // Matching attribute `emails[type eq "work"].value`.
    assert!(eval(
        r#"emails[type eq "work"].value eq "bjensen@example.com""#
    ));
    assert!(!eval(
        r#"emails[type eq "home"].value eq "bjensen@example.com""#
    ));
    // Test Connection: a random GUID matches nothing.
    assert!(!eval(
        r#"userName eq "0e3a4b6d-2c1f-4b8a-9d7e-5f6a7b8c9d0e""#
    ));
    // Special characters (identity-providers.md §2.10).
    let u = user(json!({"userName": "o'brien+test#EXT#@contoso.onmicrosoft.com"}));
    let f = parse_filter(r#"userName eq "O'Brien+test#EXT#@contoso.onmicrosoft.com""#).unwrap();
    assert!(matches(&f, &u, &ResourceType::user()));
}

#[test]
fn errors_say_where() {
    let cases = [
        (r#"userName eq"#, "position 11"),
        (r#"userName xx "a""#, "unknown operator 'xx'"),
        (r#"(userName eq "a""#, "never closed"),
        (r#"userName eq "a" garbage"#, "position 16"),
        (r#"userName eq "unterminated"#, "unterminated string"),
        (r#"emails[type eq "work""#, "never closed"),
        (r#"userName eq "a" and"#, "found the end"),
        ("", "empty"),
        ("userName § 1", "unexpected character"),
    ];
    for (src, needle) in cases {
        let e = parse_filter(src).unwrap_err();
        assert_eq!(e.status, 400, "{src}");
        assert_eq!(e.scim_type, Some(ScimType::InvalidFilter), "{src}");
        assert!(
            e.detail.contains(needle),
            "{src}: '{}' should mention '{needle}'",
            e.detail
        );
    }
}

#[test]
fn limits_stop_hostile_input() {
    let deep = format!(
        "{}userName eq \"a\"{}",
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    assert!(parse_filter(&deep).is_err());
    let nots = format!("{}userName pr", "not ".repeat(5_000));
    assert!(parse_filter(&nots).is_err());
    let long = format!("userName eq \"{}\"", "a".repeat(20_000));
    assert!(parse_filter(&long).unwrap_err().detail.contains("limit"));
    let many = vec!["a pr"; 300].join(" or ");
    assert!(parse_filter(&many).unwrap_err().detail.contains("terms"));
    let nested = r#"emails[type eq "work" and addresses[type eq "x"]]"#;
    assert!(parse_filter(nested).unwrap_err().detail.contains("nested"));
}

#[test]
fn validation_against_schema() {
    let rt = ResourceType::user();
    for ok in [
        r#"userName eq "x""#,
        r#"emails[type eq "work"].value eq "x""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "x""#,
        r#"meta.lastModified gt "2020-01-01T00:00:00Z""#,
        r#"externalId pr"#,
    ] {
        validate_filter(&parse_filter(ok).unwrap(), &rt).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for bad in [
        r#"shoeSize eq "x""#,
        r#"emails[kind eq "x"]"#,
        "name.nope pr",
        "active gt true",
        r#"userName gt null"#,
    ] {
        let e = validate_filter(&parse_filter(bad).unwrap(), &rt).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidFilter), "{bad}");
    }
}

#[test]
fn nul_is_refused_raw_or_escaped() {
    // PostgreSQL cannot compare text with NUL and SQLite would match it differently, so the
    // parser refuses it: the same 400 on both databases.
    for bad in [
        r#"userName co "x\u0000y""#,
        "userName co \"x\u{0}y\"",
        "userName\u{0} pr",
        r#"emails[value eq "a\u0000"]"#,
        r#"displayName eq "ok" or userName sw "\u0000""#,
    ] {
        let e = parse_filter(bad).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidFilter), "{bad:?}");
        assert!(e.detail.contains("NUL"), "{bad:?}: {}", e.detail);
    }
    // Other escapes still decode.
    assert!(parse_filter(r#"userName co "x\u0001y""#).is_ok());
    let e = scim_core::filter::parse_patch_path(r#"emails[value eq "\u0000"].value"#).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
    assert!(e.detail.contains("NUL"), "{}", e.detail);
}
