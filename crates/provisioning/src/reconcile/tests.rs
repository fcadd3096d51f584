//! The pure part of reconciliation: matching, the report's four sections and seats, the
//! per-user plan against the imported state.

#![allow(clippy::unwrap_used, reason = "tests")]

use super::analysis::{Context, MatchedBy, ScimSide, analyze, match_accounts};
use crate::inputs::UserInput;
use crate::planner::{
    AccountState, Deprovision, IntegrationRules, Known, Policy, Profile, RoleRule,
};
use connector_api::{Capabilities, RoleCardinality, UserKey};
use scim_core::schema::ResourceType;
use serde_json::json;
use store::ReconAccount;

fn caps_ac() -> Capabilities {
    Capabilities {
        can_create: true,
        can_update: true,
        can_delete: true,
        can_deactivate: false,
        roles: RoleCardinality::One,
        names_supported: true,
        key: UserKey::Id,
        groups: false,
        rotate_password: true,
        attributes: false,
    }
}

fn rules() -> IntegrationRules {
    let users = ResourceType::user();
    IntegrationRules {
        rules: vec![RoleRule::parse_line("app_role:Admin=Admin", &users).unwrap()],
        policy: Policy {
            default_role: Some("User".into()),
            deprovision: Deprovision::parse("role:No access").unwrap(),
            ..Policy::default()
        },
        users,
    }
}

fn side(id: &str, name: &str, app_role: Option<&str>, linked: Option<(&str, &[&str])>) -> ScimSide {
    let roles: Vec<_> = app_role.iter().map(|r| json!({"value": r})).collect();
    let attrs = scim_core::resource::normalize(
        &ResourceType::user(),
        &json!({"userName": name, "emails": [{"value": name, "primary": true}],
                "name": {"givenName": "G", "familyName": "F"}, "roles": roles}),
    )
    .unwrap();
    let known = match linked {
        Some((tid, roles)) => Known {
            target_id: Some(tid.into()),
            state: AccountState::Active,
            profile: Some(Profile {
                email: name.into(),
                username: name.into(),
                first_name: Some("G".into()),
                last_name: Some("F".into()),
                attributes: Default::default(),
            }),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            ..Known::default()
        },
        None => Known::default(),
    };
    ScimSide {
        user: UserInput {
            id: id.into(),
            user_name: name.into(),
            active: true,
            attrs,
            groups: Vec::new(),
        },
        linked_to: linked.map(|(t, _)| t.to_string()),
        known,
    }
}

fn account(id: &str, email: &str, roles: &[&str]) -> ReconAccount {
    ReconAccount {
        target_id: id.into(),
        email: email.into(),
        username: None,
        first_name: Some("G".into()),
        last_name: Some("F".into()),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        roles_known: true,
        active: None,
        last_login: None,
    }
}

#[test]
fn matching_prefers_the_link_then_email_then_user_name_and_never_twice() {
    let users = vec![
        side("u1", "linked@x.com", None, Some(("7", &["User"]))),
        side("u2", "Mixed@X.com", None, None),
        side("u3", "dup@x.com", None, None),
    ];
    let mut by_name = account("9", "other@x.com", &["User"]);
    by_name.username = Some("DUP@x.com".into());
    let accounts = vec![
        // Same e-mail as u1, but u1 is linked to 7: this one is not u1's.
        account("5", "linked@x.com", &["User"]),
        account("7", "renamed-by-hand@x.com", &["User"]),
        account("8", "mixed@x.com", &["User"]),
        by_name,
        // A second account with u2's e-mail: u2 is taken, no duplicate pairing.
        account("10", "MIXED@x.com", &["User"]),
    ];
    let m = match_accounts(&accounts, &users);
    assert_eq!(m[0], None);
    assert_eq!(m[1], Some((0, MatchedBy::Link)));
    assert_eq!(m[2], Some((1, MatchedBy::Email)));
    assert_eq!(m[3], Some((2, MatchedBy::UserName)));
    assert_eq!(m[4], None);
}

#[test]
fn the_report_finds_orphans_drift_missing_and_seats() {
    let rules = rules();
    let caps = caps_ac();
    let users = vec![
        // Linked, but someone made them Admin by hand: role drift.
        side("u1", "ann@x.com", None, Some(("1", &["User"]))),
        // Linked and in line.
        side("u2", "bob@x.com", Some("Admin"), Some(("2", &["Admin"]))),
        // Not linked, account exists: adopted, and its last name differs.
        side("u3", "cy@x.com", None, None),
        // No account: missing.
        side("u4", "dee@x.com", None, None),
    ];
    let mut cy = account("3", "CY@x.com", &["User"]);
    cy.last_name = Some("Hand".into());
    let mut gone = account("5", "left@x.com", &["User"]);
    gone.last_login = Some("2026-01-02 03:04:05".into());
    let accounts = vec![
        account("1", "ann@x.com", &["Admin"]),
        account("2", "bob@x.com", &["Admin"]),
        cy,
        account("4", "owner@x.com", &["Admin"]),
        gone,
        account("6", "old@x.com", &["No access"]),
    ];
    let ctx = Context {
        rules: &rules,
        caps: &caps,
        owner_target_id: Some("4"),
    };
    let a = analyze(&accounts, &users, &ctx);
    let r = serde_json::to_value(a.report()).unwrap();
    assert_eq!(
        r["orphaned"],
        json!([{"target_id": "5", "email": "left@x.com", "last_login": "2026-01-02 03:04:05"}])
    );
    assert_eq!(
        r["drift"],
        json!([
            {"user_name": "ann@x.com", "field": "role", "ours": "User", "theirs": "Admin"},
            {"user_name": "cy@x.com", "field": "last_name", "ours": "F", "theirs": "Hand"}
        ])
    );
    assert_eq!(r["missing"], json!([{"user_name": "dee@x.com"}]));
    // Active: ann, bob, cy, the owner and the orphan; "old" sits in the deprovision role.
    assert_eq!(
        r["seats"],
        json!({"active": 5, "deprovisioned": 1, "orphaned": 1, "reclaimable": 1})
    );
    assert_eq!(
        r["key_owner"],
        json!({"target_id": "4", "email": "owner@x.com"})
    );
    assert_eq!(a.adoptions.len(), 1);
    assert_eq!(a.adoptions[0].target_id, "3");
    assert_eq!(a.adoptions[0].matched_by, MatchedBy::Email);
    assert_eq!(
        (
            a.summary.create,
            a.summary.adopt,
            a.summary.change_role,
            a.summary.deprovision,
            a.summary.orphans
        ),
        (1, 1, 1, 0, 1)
    );
    // The per-user plan is the planner's against the imported state.
    let ann = a.plans.iter().find(|p| p.user_name == "ann@x.com").unwrap();
    assert_eq!(ann.operations, vec!["set_roles"]);
    let dee = a.plans.iter().find(|p| p.user_name == "dee@x.com").unwrap();
    assert_eq!(dee.operations, vec!["create_user"]);
    assert!(a.plans.iter().all(|p| p.user_name != "bob@x.com"));
}

#[test]
fn a_deactivated_user_still_active_in_the_target_is_drift_and_a_reclaimable_seat() {
    let rules = rules();
    let caps = caps_ac();
    let mut s = side("u1", "ann@x.com", None, Some(("1", &["User"])));
    s.user.active = false;
    let accounts = vec![account("1", "ann@x.com", &["User"])];
    let ctx = Context {
        rules: &rules,
        caps: &caps,
        owner_target_id: None,
    };
    let a = analyze(&accounts, &[s], &ctx);
    let fields: Vec<(&str, &str, &str)> = a
        .drift
        .iter()
        .map(|d| (d.field.as_str(), d.ours.as_str(), d.theirs.as_str()))
        .collect();
    assert_eq!(
        fields,
        vec![("role", "No access", "User"), ("active", "false", "true")]
    );
    assert_eq!(a.seats.reclaimable, 1);
    assert_eq!(a.summary.deprovision, 1);
}

#[test]
fn unread_roles_are_not_drift_and_the_key_owner_is_never_an_orphan() {
    let rules = rules();
    let caps = caps_ac();
    let users = vec![side("u1", "ann@x.com", None, Some(("1", &["User"])))];
    let mut unread = account("1", "ann@x.com", &[]);
    unread.roles_known = false;
    let accounts = vec![unread, account("2", "owner@x.com", &["Admin"])];
    let ctx = Context {
        rules: &rules,
        caps: &caps,
        owner_target_id: Some("2"),
    };
    let a = analyze(&accounts, &users, &ctx);
    assert!(a.drift.is_empty(), "{:?}", a.drift);
    assert!(a.orphaned.is_empty());
    assert_eq!(a.seats.active, 2);
    assert_eq!(a.key_owner.unwrap().target_id, "2");
}
