//! Every row of the planner's tables, and the two properties: a state that already matches
//! plans nothing; applying a plan and planning again plans nothing.

#![allow(clippy::unwrap_used, reason = "tests")]

use super::*;
use connector_api::{RoleCardinality, UserKey};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn caps_ac() -> Capabilities {
    // ActiveCampaign: one role slot, delete, no deactivate, password rotation.
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

fn caps_many() -> Capabilities {
    // Pipedrive-like: many roles, deactivate, never delete.
    Capabilities {
        can_delete: false,
        can_deactivate: true,
        roles: RoleCardinality::Many,
        rotate_password: false,
        ..caps_ac()
    }
}

fn caps_email() -> Capabilities {
    // Brevo-like: e-mail is the key.
    Capabilities {
        key: UserKey::Email,
        names_supported: false,
        ..caps_ac()
    }
}

fn caps_groups() -> Capabilities {
    Capabilities {
        groups: true,
        ..caps_many()
    }
}

fn user(name: &str, app_roles: &[&str]) -> Map<String, Value> {
    let roles: Vec<Value> = app_roles
        .iter()
        .map(|r| json!({"value": r, "display": format!("{r} display")}))
        .collect();
    scim_core::resource::normalize(
        &ResourceType::user(),
        &json!({"userName": name, "emails": [{"value": name, "primary": true}],
                "name": {"givenName": "G", "familyName": "F"}, "roles": roles}),
    )
    .unwrap()
}

fn rules(lines: &[&str], policy: Policy) -> IntegrationRules {
    let users = ResourceType::user();
    IntegrationRules {
        rules: lines
            .iter()
            .map(|l| RoleRule::parse_line(l, &users).unwrap())
            .collect(),
        policy,
        users,
    }
}

fn policy(default: Option<&str>, deprovision: &str) -> Policy {
    Policy {
        default_role: default.map(str::to_string),
        deprovision: Deprovision::parse(deprovision).unwrap(),
        ..Policy::default()
    }
}

fn groups_policy(default: Option<&str>, deprovision: &str) -> Policy {
    Policy {
        lifecycle: Lifecycle::Groups,
        ..policy(default, deprovision)
    }
}

const STD: &[&str] = &[
    "app_role:Admin=Admin",
    "group:Sales Managers=Manager",
    "group:Support=Support",
];

fn subject<'a>(u: &'a Map<String, Value>, active: bool, groups: &'a [String]) -> Subject<'a> {
    Subject {
        user: u,
        active,
        groups,
    }
}

fn active_known(roles: &[&str]) -> Known {
    Known {
        target_id: Some("7".into()),
        state: AccountState::Active,
        profile: Some(Profile {
            email: "a@x".into(),
            username: "a@x".into(),
            first_name: Some("G".into()),
            last_name: Some("F".into()),
            attributes: Default::default(),
        }),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        ..Known::default()
    }
}

fn steps(r: &IntegrationRules, s: Option<&Subject<'_>>, k: &Known, c: &Capabilities) -> Vec<Step> {
    plan(&r.desired(s), k, c)
}

/// The profile a target without `Capabilities::attributes` is sent.
fn plain_profile(u: &Map<String, Value>) -> Profile {
    Profile {
        attributes: Map::new(),
        ..Profile::of(u)
    }
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

// ------------------------------------------------------------------ role sets

#[test]
fn single_slot_targets_take_the_highest_priority_role() {
    let r = rules(STD, policy(Some("User"), "role:No access"));
    let u = user("a@x", &["Admin"]);
    let g = names(&["Support", "Sales Managers"]);
    let s = subject(&u, true, &g);
    let d = r.desired(Some(&s));
    assert_eq!(d.roles.len(), 3, "every matching rule is a grant: {d:?}");
    assert_eq!(d.roles[0].rule, Some(0));
    assert_eq!(
        steps(&r, Some(&s), &Known::default(), &caps_ac()),
        vec![Step::Create {
            profile: plain_profile(&u),
            roles: names(&["Admin"])
        }]
    );
    // Already Manager → only a role change.
    let mut k = active_known(&["Manager"]);
    k.profile = Some(plain_profile(&u));
    assert_eq!(
        steps(&r, Some(&s), &k, &caps_ac()),
        vec![Step::SetRoles {
            roles: names(&["Admin"])
        }]
    );
}

#[test]
fn multi_role_targets_get_every_matching_role() {
    let r = rules(STD, policy(Some("User"), "deactivate"));
    let u = user("a@x", &["Admin"]);
    let g = names(&["Support"]);
    let s = subject(&u, true, &g);
    assert_eq!(
        steps(&r, Some(&s), &Known::default(), &caps_many()),
        vec![Step::Create {
            profile: plain_profile(&u),
            roles: names(&["Admin", "Support"])
        }]
    );
    let mut k = active_known(&["Support", "Manager"]);
    k.profile = Some(plain_profile(&u));
    assert_eq!(
        steps(&r, Some(&s), &k, &caps_many()),
        vec![
            Step::AddRole {
                role: "Admin".into()
            },
            Step::RemoveRole {
                role: "Manager".into()
            }
        ]
    );
}

#[test]
fn app_roles_match_by_display_name_too() {
    let r = rules(&["app_role:Admin display=Admin"], policy(None, "delete"));
    let u = user("a@x", &["Admin"]);
    let d = r.desired(Some(&subject(&u, true, &[])));
    assert_eq!(d.presence, Presence::Active);
    assert_eq!(d.roles[0].role, "Admin");
}

// ------------------------------------------------------------------ unmatched

#[test]
fn unmatched_default_gives_the_default_role() {
    let r = rules(STD, policy(Some("User"), "role:No access"));
    let u = user("a@x", &[]);
    let d = r.desired(Some(&subject(&u, true, &[])));
    assert_eq!(
        (d.presence.clone(), d.roles[0].role.as_str()),
        (Presence::Active, "User")
    );
    assert!(d.reason.contains("default role User"), "{}", d.reason);
}

#[test]
fn unmatched_deprovision_removes_access_even_when_active_false_is_ignored() {
    // The bug this replaces: a user who lost every mapped group, with no default role and
    // `--deprovision ignore`, kept the old role forever.
    let r = rules(STD, policy(None, "ignore"));
    let u = user("a@x", &[]);
    let s = subject(&u, true, &[]);
    assert_eq!(r.policy.unmatched(), Unmatched::Deprovision);
    assert_eq!(
        steps(&r, Some(&s), &active_known(&["Manager"]), &caps_ac()),
        vec![Step::Delete]
    );
    let r = rules(STD, policy(None, "role:No access"));
    assert_eq!(
        steps(&r, Some(&s), &active_known(&["Manager"]), &caps_ac()),
        vec![
            Step::MoveToRole {
                role: "No access".into()
            },
            Step::RotatePassword
        ]
    );
    // Nothing to remove when there is no account.
    assert!(steps(&r, Some(&s), &Known::default(), &caps_ac()).is_empty());
}

#[test]
fn unmatched_keep_leaves_the_role_and_creates_nothing() {
    let mut p = policy(Some("User"), "role:No access");
    p.unmatched = Some(Unmatched::Keep);
    let r = rules(STD, p);
    let u = user("a@x", &[]);
    let s = subject(&u, true, &[]);
    let mut k = active_known(&["Manager"]);
    k.profile = Some(plain_profile(&u));
    assert!(steps(&r, Some(&s), &k, &caps_ac()).is_empty());
    // A profile change is still pushed, with the role the account holds.
    k.profile.as_mut().unwrap().last_name = Some("Old".into());
    assert_eq!(
        steps(&r, Some(&s), &k, &caps_ac()),
        vec![Step::Update {
            profile: plain_profile(&u),
            roles: names(&["Manager"])
        }]
    );
    assert!(steps(&r, Some(&s), &Known::default(), &caps_ac()).is_empty());
    let e = r.explain(Some(&s), &k, &caps_ac());
    assert_eq!(e.roles, "Manager");
}

#[test]
fn unmatched_default_without_a_default_role_is_refused() {
    let mut p = policy(None, "delete");
    p.unmatched = Some(Unmatched::Default);
    assert!(p.validate(&caps_ac()).is_err());
    assert!(policy(None, "delete").validate(&caps_ac()).is_ok());
    assert!(policy(None, "deactivate").validate(&caps_ac()).is_err());
    assert!(policy(None, "deactivate").validate(&caps_many()).is_ok());
}

// ------------------------------------------------------------------ deprovisioning

#[test]
fn active_false_follows_the_deprovision_policy() {
    let u = user("a@x", &["Admin"]);
    let s = subject(&u, false, &[]);
    let k = active_known(&["Admin"]);
    let r = rules(STD, policy(Some("User"), "role:No access"));
    assert_eq!(
        steps(&r, Some(&s), &k, &caps_ac()),
        vec![
            Step::MoveToRole {
                role: "No access".into()
            },
            Step::RotatePassword
        ]
    );
    let r = rules(STD, policy(Some("User"), "delete"));
    assert_eq!(steps(&r, Some(&s), &k, &caps_ac()), vec![Step::Delete]);
    // No delete in the target: deactivate instead.
    assert_eq!(
        steps(&r, Some(&s), &k, &caps_many()),
        vec![Step::Deactivate]
    );
    let r = rules(STD, policy(Some("User"), "deactivate"));
    assert_eq!(
        steps(&r, Some(&s), &k, &caps_many()),
        vec![Step::Deactivate]
    );
    let r = rules(STD, policy(Some("User"), "ignore"));
    assert!(steps(&r, Some(&s), &k, &caps_ac()).is_empty());
    // A native deactivate needs no password rotation.
    let r = rules(STD, policy(Some("User"), "role:No access"));
    assert_eq!(
        steps(&r, Some(&s), &k, &caps_many()),
        vec![Step::MoveToRole {
            role: "No access".into()
        }]
    );
}

#[test]
fn reactivation_restores_the_role() {
    let u = user("a@x", &["Admin"]);
    let s = subject(&u, true, &[]);
    let r = rules(STD, policy(Some("User"), "role:No access"));
    let mut k = active_known(&["No access"]);
    k.state = AccountState::Deprovisioned;
    k.profile = Some(plain_profile(&u));
    assert_eq!(
        steps(&r, Some(&s), &k, &caps_ac()),
        vec![Step::SetRoles {
            roles: names(&["Admin"])
        }]
    );
    let mut k = active_known(&["Admin"]);
    k.state = AccountState::Deactivated;
    k.profile = Some(plain_profile(&u));
    assert_eq!(
        steps(&r, Some(&s), &k, &caps_many()),
        vec![Step::Reactivate]
    );
    // Deleted: created again.
    let k = Known {
        state: AccountState::Deleted,
        ..Known::default()
    };
    assert!(matches!(
        steps(&r, Some(&s), &k, &caps_ac())[..],
        [Step::Create { .. }]
    ));
}

#[test]
fn deleted_in_the_idp() {
    let k = active_known(&["User"]);
    let r = rules(STD, policy(Some("User"), "role:No access"));
    assert_eq!(steps(&r, None, &k, &caps_ac()), vec![Step::Delete]);
    assert_eq!(steps(&r, None, &k, &caps_many()), vec![Step::Deactivate]);
    let r = rules(STD, policy(Some("User"), "ignore"));
    assert!(steps(&r, None, &k, &caps_ac()).is_empty());
    assert!(steps(&r, None, &Known::default(), &caps_ac()).is_empty());
}

#[test]
fn the_key_owner_is_never_touched() {
    let r = rules(STD, policy(Some("User"), "delete"));
    let mut k = active_known(&["Admin"]);
    k.key_owner = true;
    assert!(steps(&r, None, &k, &caps_ac()).is_empty());
    let e = r.explain(None, &k, &caps_ac());
    assert!(e.because.contains("API key"), "{}", e.because);
}

#[test]
fn email_keyed_targets_change_email_by_remove_and_add() {
    let r = rules(STD, policy(Some("User"), "delete"));
    let u = user("new@x", &[]);
    let s = subject(&u, true, &[]);
    let mut k = active_known(&["User"]);
    k.profile = Some(Profile {
        email: "old@x".into(),
        ..plain_profile(&u)
    });
    assert_eq!(
        steps(&r, Some(&s), &k, &caps_email()),
        vec![
            Step::Delete,
            Step::Create {
                profile: plain_profile(&u),
                roles: names(&["User"])
            }
        ]
    );
    // An id-keyed target updates in place.
    assert!(matches!(
        steps(&r, Some(&s), &k, &caps_ac())[..],
        [Step::Update { .. }]
    ));
}

#[test]
fn groups_are_pushed_when_the_target_has_them() {
    let mut p = policy(Some("User"), "deactivate");
    p.group_push = GroupPush::Ruled;
    let r = rules(STD, p);
    let u = user("a@x", &[]);
    let g = names(&["Support", "Unmapped"]);
    let s = subject(&u, true, &g);
    let created = steps(&r, Some(&s), &Known::default(), &caps_groups());
    assert_eq!(
        created[1..],
        [Step::JoinGroup {
            group: "Support".into()
        }]
    );
    let mut k = active_known(&["Support"]);
    k.profile = Some(plain_profile(&u));
    k.groups = names(&["Support", "Sales Managers"]);
    assert_eq!(
        steps(&r, Some(&s), &k, &caps_groups()),
        vec![Step::LeaveGroup {
            group: "Sales Managers".into()
        }]
    );
    // All groups.
    let mut p = policy(Some("User"), "deactivate");
    p.group_push = GroupPush::All;
    let r = rules(STD, p);
    assert_eq!(r.desired(Some(&s)).groups, g);
    // A target without groups gets no group steps.
    assert_eq!(
        steps(&r, Some(&s), &Known::default(), &caps_many()).len(),
        1
    );
}

// ------------------------------------------------------------------ groups lifecycle (§4)

/// Runs the planner like the worker: plan, apply every step, remember memberships.
fn converge(
    r: &IntegrationRules,
    s: Option<&Subject<'_>>,
    k: &mut Known,
    c: &Capabilities,
) -> Vec<Step> {
    let d = r.desired(s);
    let steps = plan(&d, k, c);
    for st in &steps {
        k.apply(st, Some("t1"));
    }
    k.note_membership(&d, &r.rules);
    steps
}

#[test]
fn e1_to_e5_with_a_default_role() {
    let groups = ["group:Group1=Role1", "group:Group2=Role2"];
    let r = rules(&groups, groups_policy(Some("Placeholder"), "ignore"));
    let u = user("a@x", &[]);
    let mut k = Known::default();
    // E1: created as a placeholder with the default role.
    let s = converge(&r, Some(&subject(&u, true, &[])), &mut k, &caps_many());
    assert!(matches!(&s[..], [Step::Create { roles, .. }] if roles == &names(&["Placeholder"])));
    assert!(!k.ever_member);
    // Still no membership: nothing more.
    assert!(converge(&r, Some(&subject(&u, true, &[])), &mut k, &caps_many()).is_empty());
    // E2: the first membership replaces the placeholder.
    let g1 = names(&["Group1"]);
    let s = converge(&r, Some(&subject(&u, true, &g1)), &mut k, &caps_many());
    assert_eq!(
        s,
        vec![
            Step::AddRole {
                role: "Role1".into()
            },
            Step::RemoveRole {
                role: "Placeholder".into()
            }
        ]
    );
    assert!(k.ever_member);
    // E2 again with Group2: appended.
    let g12 = names(&["Group1", "Group2"]);
    let s = converge(&r, Some(&subject(&u, true, &g12)), &mut k, &caps_many());
    assert_eq!(
        s,
        vec![Step::AddRole {
            role: "Role2".into()
        }]
    );
    // E5: active=false is ignored with `ignore`.
    assert!(converge(&r, Some(&subject(&u, false, &g12)), &mut k, &caps_many()).is_empty());
    // E3: removed from Group1: that role goes.
    let g2 = names(&["Group2"]);
    let s = converge(&r, Some(&subject(&u, false, &g2)), &mut k, &caps_many());
    assert_eq!(
        s,
        vec![Step::RemoveRole {
            role: "Role1".into()
        }]
    );
    // E3/E4: the last mapped group goes (removed, or the group deleted): the user is removed
    // (deactivated: this target cannot delete).
    let s = converge(&r, Some(&subject(&u, true, &[])), &mut k, &caps_many());
    assert_eq!(s, vec![Step::Deactivate]);
    // And is not brought back as a placeholder.
    assert!(converge(&r, Some(&subject(&u, true, &[])), &mut k, &caps_many()).is_empty());
}

#[test]
fn e1_to_e4_without_a_default_role_on_a_single_slot_target() {
    let groups = ["group:Group1=Role1", "group:Group2=Role2"];
    let r = rules(&groups, groups_policy(None, "ignore"));
    let u = user("a@x", &[]);
    let mut k = Known::default();
    // E1: no account until the first membership.
    assert!(converge(&r, Some(&subject(&u, true, &[])), &mut k, &caps_ac()).is_empty());
    // E2: created with the group's role.
    let g1 = names(&["Group1"]);
    let s = converge(&r, Some(&subject(&u, true, &g1)), &mut k, &caps_ac());
    assert!(matches!(&s[..], [Step::Create { roles, .. }] if roles == &names(&["Role1"])));
    // Group2 as well: the single slot keeps the highest priority.
    let g21 = names(&["Group2", "Group1"]);
    assert!(converge(&r, Some(&subject(&u, true, &g21)), &mut k, &caps_ac()).is_empty());
    // E3: Group1 removed → Role2.
    let g2 = names(&["Group2"]);
    let s = converge(&r, Some(&subject(&u, true, &g2)), &mut k, &caps_ac());
    assert_eq!(
        s,
        vec![Step::SetRoles {
            roles: names(&["Role2"])
        }]
    );
    // E4: Group2 deleted → no mapped group left → deleted (ignore → delete).
    let s = converge(&r, Some(&subject(&u, true, &[])), &mut k, &caps_ac());
    assert_eq!(s, vec![Step::Delete]);
    // E2 later: created again.
    let s = converge(&r, Some(&subject(&u, true, &g1)), &mut k, &caps_ac());
    assert!(matches!(&s[..], [Step::Create { .. }]));
}

#[test]
fn groups_lifecycle_with_a_deprovision_role_moves_instead_of_deleting() {
    let r = rules(
        &["group:Group1=Role1"],
        groups_policy(None, "role:No access"),
    );
    let u = user("a@x", &[]);
    let mut k = Known::default();
    let g1 = names(&["Group1"]);
    converge(&r, Some(&subject(&u, true, &g1)), &mut k, &caps_ac());
    let s = converge(&r, Some(&subject(&u, true, &[])), &mut k, &caps_ac());
    assert_eq!(
        s,
        vec![
            Step::MoveToRole {
                role: "No access".into()
            },
            Step::RotatePassword
        ]
    );
    // E5 with a real policy: active=false deprovisions.
    let mut k2 = Known::default();
    converge(&r, Some(&subject(&u, true, &g1)), &mut k2, &caps_ac());
    let s = converge(&r, Some(&subject(&u, false, &g1)), &mut k2, &caps_ac());
    assert_eq!(
        s[0],
        Step::MoveToRole {
            role: "No access".into()
        }
    );
}

#[test]
fn e7_a_group_alone_creates_nothing() {
    // POST /Groups with no members: no user's desired state changes; with group push off no
    // group step exists at all.
    let r = rules(&["group:Group1=Role1"], groups_policy(None, "ignore"));
    let u = user("a@x", &[]);
    let d = r.desired(Some(&subject(&u, true, &[])));
    assert!(d.groups.is_empty());
    assert!(plan(&d, &Known::default(), &caps_ac()).is_empty());
}

// ------------------------------------------------------------------ properties

fn arb_caps() -> impl Strategy<Value = Capabilities> {
    prop_oneof![
        Just(caps_ac()),
        Just(caps_many()),
        Just(caps_email()),
        Just(caps_groups()),
        // A SCIM target: attributes passed through.
        Just(Capabilities {
            attributes: true,
            ..caps_groups()
        })
    ]
}

fn arb_policy() -> impl Strategy<Value = Policy> {
    (
        prop::option::of(prop_oneof![Just("User"), Just("Placeholder")]),
        prop_oneof![
            Just("role:No access"),
            Just("delete"),
            Just("ignore"),
            Just("deactivate")
        ],
        prop::option::of(prop_oneof![
            Just(Unmatched::Default),
            Just(Unmatched::Deprovision),
            Just(Unmatched::Keep)
        ]),
        prop_oneof![Just(Lifecycle::Assignment), Just(Lifecycle::Groups)],
        prop_oneof![
            Just(GroupPush::None),
            Just(GroupPush::Ruled),
            Just(GroupPush::All)
        ],
    )
        .prop_map(|(d, dep, un, lc, gp)| Policy {
            default_role: d.map(str::to_string),
            deprovision: Deprovision::parse(dep).unwrap(),
            unmatched: un,
            lifecycle: lc,
            group_push: gp,
            guard: DeleteGuard::default(),
        })
}

fn arb_known() -> impl Strategy<Value = Known> {
    (
        prop_oneof![
            Just(AccountState::Absent),
            Just(AccountState::Active),
            Just(AccountState::Deprovisioned),
            Just(AccountState::Deactivated),
            Just(AccountState::Deleted)
        ],
        prop::collection::vec(
            prop_oneof![
                Just("Admin"),
                Just("Manager"),
                Just("User"),
                Just("No access")
            ],
            0..3,
        ),
        prop::collection::vec(prop_oneof![Just("Support"), Just("Old")], 0..2),
        any::<bool>(),
        prop_oneof![Just("a@x"), Just("b@x")],
    )
        .prop_map(|(state, roles, groups, ever, email)| {
            let mut roles: Vec<String> = roles.into_iter().map(str::to_string).collect();
            roles.dedup();
            let mut groups: Vec<String> = groups.into_iter().map(str::to_string).collect();
            groups.dedup();
            Known {
                target_id: matches!(state, AccountState::Absent | AccountState::Deleted)
                    .then_some(None)
                    .unwrap_or(Some("9".into())),
                state,
                profile: Some(Profile {
                    email: email.into(),
                    username: email.into(),
                    first_name: Some("G".into()),
                    last_name: Some("F".into()),
                    attributes: Default::default(),
                }),
                roles,
                groups,
                ever_member: ever,
                key_owner: false,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn a_plan_applied_leaves_nothing_to_do(
        caps in arb_caps(),
        policy in arb_policy(),
        mut known in arb_known(),
        exists in any::<bool>(),
        active in any::<bool>(),
        admin in any::<bool>(),
        idp_groups in prop::collection::vec(prop_oneof![Just("Sales Managers"), Just("Support"), Just("Other")], 0..3),
    ) {
        // Make the combination one that saving would accept.
        let mut policy = policy;
        if policy.validate(&caps).is_err() {
            if !caps.can_deactivate && policy.deprovision == Deprovision::Deactivate {
                policy.deprovision = Deprovision::Delete;
            }
            if !caps.groups {
                policy.group_push = GroupPush::None;
            }
            if policy.default_role.is_none() && policy.unmatched == Some(Unmatched::Default) {
                policy.unmatched = None;
            }
        }
        prop_assert!(policy.validate(&caps).is_ok());
        let r = rules(STD, policy);
        let u = user("a@x", if admin { &["Admin"] } else { &[] });
        let mut g: Vec<String> = idp_groups.into_iter().map(str::to_string).collect();
        g.dedup();
        let s = subject(&u, active, &g);
        let s = exists.then_some(&s);
        converge(&r, s, &mut known, &caps);
        // The state now matches: planning again changes nothing.
        let again = plan(&r.desired(s), &known, &caps);
        prop_assert!(again.is_empty(), "second plan: {:?}\nknown: {:?}", again, known);
    }
}

// ------------------------------------------------------------------ attribute passthrough

#[test]
fn profile_carries_the_other_attributes_by_name() {
    let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let u = scim_core::resource::normalize(
        &ResourceType::user(),
        &json!({"userName": "a@x", "emails": [{"value": "a@x", "primary": true}],
                "displayName": "Ada", "active": true, "externalId": "e-1",
                "roles": [{"value": "Admin"}], "name": {"givenName": "G"},
                enterprise: {"employeeNumber": "42"}}),
    )
    .unwrap();
    let p = Profile::of(&u);
    assert_eq!(p.attributes["displayName"], "Ada");
    assert_eq!(p.attributes["externalId"], "e-1");
    assert_eq!(p.attributes[enterprise]["employeeNumber"], "42");
    for gone in ["userName", "active", "roles", "id", "meta", "schemas"] {
        assert!(
            !p.attributes.contains_key(gone),
            "{gone} is not passed through"
        );
    }
}

#[test]
fn attribute_changes_update_only_targets_that_take_them() {
    let r = rules(STD, policy(Some("User"), "role:No access"));
    let before = user("a@x", &[]);
    let mut after = before.clone();
    after.insert("displayName".into(), json!("New name"));
    let takes = Capabilities {
        attributes: true,
        ..caps_ac()
    };
    let mut k = active_known(&["User"]);
    for c in [&caps_ac(), &takes] {
        k.profile = plan(
            &r.desired(Some(&subject(&before, true, &[]))),
            &Known::default(),
            c,
        )
        .into_iter()
        .find_map(|s| match s {
            Step::Create { profile, .. } => Some(profile),
            _ => None,
        });
        let s = subject(&after, true, &[]);
        let planned = steps(&r, Some(&s), &k, c);
        if c.attributes {
            assert!(
                matches!(&planned[..], [Step::Update { profile, .. }] if profile.attributes["displayName"] == "New name"),
                "{planned:?}"
            );
        } else {
            assert_eq!(
                planned,
                vec![],
                "ActiveCampaign-like targets ignore attributes"
            );
        }
    }
}
