//! The audit log in sentences: each recorded action as "who did what to which", with the
//! changes it made listed before → after. Pure (names come in as a lookup), so every action's
//! wording is unit-tested; the raw detail stays one click away on the page.

use serde_json::{Map, Value};
use std::collections::HashMap;
use store::AuditEntry;

/// Every action the console records, with the words its filter shows. New actions must be
/// added here; an unknown one still renders, as its code.
pub const ACTIONS: &[(&str, &str)] = &[
    ("integration.create", "Created an integration"),
    ("integration.connection", "Changed a connection"),
    ("integration.roles", "Changed a role mapping"),
    ("integration.policy", "Changed a policy"),
    ("integration.extensions", "Changed extension attributes"),
    ("integration.activate", "Activated an integration"),
    ("integration.pause", "Paused an integration"),
    ("integration.resume", "Resumed an integration"),
    ("integration.delete", "Deleted an integration"),
    ("integration.guard.approve", "Approved held removals"),
    ("integration.guard.discard", "Discarded held removals"),
    ("reconcile.import", "Started a reconciliation import"),
    ("reconcile.fix_drift", "Fixed drift in the target"),
    (
        "reconcile.deprovision_orphans",
        "Deprovisioned orphaned accounts",
    ),
    ("reconcile.settings", "Changed the reconciliation schedule"),
    ("reconcile.apply_all", "Applied the rules to all users"),
    ("token.issue", "Issued a SCIM token"),
    ("token.revoke", "Revoked a SCIM token"),
    ("jobs.retry", "Retried failed jobs"),
    ("jobs.discard", "Discarded a failed job"),
    ("tenant.create", "Created a tenant"),
    ("notify.channel_add", "Added a notification channel"),
    ("notify.channel_enable", "Enabled a notification channel"),
    ("notify.channel_disable", "Disabled a notification channel"),
    ("notify.channel_remove", "Removed a notification channel"),
    ("notify.test", "Sent a test notification"),
    ("staff.create", "Added a staff account"),
    ("staff.invite", "Invited a staff member"),
    ("staff.invite_again", "Made a new invitation link"),
    ("staff.invite_accept", "Accepted an invitation"),
    ("staff.reset_link", "Made a password-reset link"),
    ("staff.password_reset", "Reset a password with a link"),
    ("staff.role_change", "Changed a staff role"),
    ("staff.remove", "Removed a staff account"),
    ("staff.sign_in", "Signed in"),
    ("staff.disable", "Disabled a staff account"),
    ("staff.enable", "Enabled a staff account"),
    ("staff.password_change", "Changed a password"),
    ("staff.totp_enable", "Turned on two-step sign-in"),
    ("staff.totp_disable", "Turned off two-step sign-in"),
    ("staff.totp_reset", "Reset two-step sign-in"),
    (
        "staff.totp_recovery_code_used",
        "Signed in with a recovery code",
    ),
    (
        "staff.totp_recovery_codes_regenerate",
        "Made new recovery codes",
    ),
    ("totp.require", "Required two-step sign-in"),
    ("totp.unrequire", "Stopped requiring two-step sign-in"),
    ("setup.first_admin", "Set up the first administrator"),
];

/// Names the sentences use for ids: integrations ("ActiveCampaign (Sales team)"), staff
/// accounts (their e-mail) and tenants.
#[derive(Debug, Default)]
pub struct Names {
    pub integrations: HashMap<String, String>,
    pub staff: HashMap<String, String>,
    pub tenants: HashMap<String, String>,
}

/// One audit entry in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditText {
    /// "it.admin@contoso changed the role mapping of ActiveCampaign (Sales team)".
    pub sentence: String,
    /// What changed, one line each: "added group 'Sales Managers' → Manager",
    /// "default role: User → Viewer".
    pub changes: Vec<String>,
}

/// The words for `action` in the filter, or the action itself.
pub fn action_label(action: &str) -> &str {
    ACTIONS
        .iter()
        .find(|(a, _)| *a == action)
        .map(|(_, l)| *l)
        .unwrap_or(action)
}

/// `e` in words.
pub fn describe(e: &AuditEntry, names: &Names) -> AuditText {
    let detail: Map<String, Value> = e
        .detail
        .as_deref()
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or_default();
    let who = e.actor_email.as_str();
    let text = |s: &str| detail.get(s).and_then(Value::as_str).unwrap_or_default();
    // The integration by its current name; a deleted one by the name its entry recorded.
    let integration = || {
        e.target_id
            .as_deref()
            .and_then(|id| names.integrations.get(id).cloned())
            .or_else(|| {
                Some(text("name"))
                    .filter(|n| !n.is_empty())
                    .map(|n| format!("'{n}'"))
            })
            .unwrap_or_else(|| "an integration that no longer exists".into())
    };
    let staff = || {
        Some(text("email"))
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
            .or_else(|| {
                e.target_id
                    .as_deref()
                    .and_then(|id| names.staff.get(id).cloned())
            })
            .unwrap_or_else(|| "a staff account".into())
    };
    let tenant = || {
        e.target_id
            .as_deref()
            .and_then(|id| names.tenants.get(id).cloned())
            .unwrap_or_else(|| text("name").to_owned())
    };
    let mut changes = Vec::new();
    let sentence = match e.action.as_str() {
        "integration.create" => {
            let connector = text("connector");
            format!(
                "{who} created the integration '{}'{}",
                text("name"),
                if connector.is_empty() {
                    String::new()
                } else {
                    format!(" ({connector})")
                }
            )
        }
        "integration.connection" => {
            changes = connection_changes(&detail);
            format!("{who} changed the connection of {}", integration())
        }
        "integration.roles" => {
            changes = role_mapping_changes(&detail);
            format!("{who} changed the role mapping of {}", integration())
        }
        "integration.policy" => {
            changes = object_changes(
                detail.get("before").unwrap_or(&Value::Null),
                detail.get("after").unwrap_or(&Value::Null),
            );
            format!("{who} changed the policies of {}", integration())
        }
        "integration.extensions" => {
            let (verb, urn) = if let Some(urn) = detail.get("removed").and_then(Value::as_str) {
                ("removed the extension", urn)
            } else if detail.get("replaced").and_then(Value::as_bool) == Some(true) {
                ("updated the extension", text("added"))
            } else {
                ("added the extension", text("added"))
            };
            if let Some(attrs) = detail.get("attributes").and_then(Value::as_array) {
                changes.push(format!("attributes: {}", join_texts(attrs)));
            }
            format!("{who} {verb} {urn} on {}", integration())
        }
        "integration.activate" => format!(
            "{who} activated {} and issued its first SCIM token ({}…)",
            integration(),
            text("token_prefix")
        ),
        "reconcile.import" => format!(
            "{who} started an import of the target's accounts for {}",
            integration()
        ),
        "reconcile.fix_drift" => format!(
            "{who} fixed drift on {}: {} account(s) adopted, {} user(s) queued",
            integration(),
            detail.get("adopted").and_then(Value::as_u64).unwrap_or(0),
            detail.get("queued").and_then(Value::as_u64).unwrap_or(0)
        ),
        "reconcile.deprovision_orphans" => {
            let done = detail
                .get("done")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let held = detail
                .get("held")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if !done.is_empty() {
                changes.push(format!("deprovisioned: {}", join_texts(&done)));
            }
            if !held.is_empty() {
                changes.push(format!("held by the deletion guard: {}", join_texts(&held)));
            }
            format!(
                "{who} deprovisioned {} orphaned account(s) of {}",
                done.len(),
                integration()
            )
        }
        "reconcile.settings" => {
            let hours = detail
                .get("interval_secs")
                .and_then(Value::as_i64)
                .map_or(24, |s| s / 3600);
            let correct = detail.get("correct_drift").and_then(Value::as_bool) == Some(true);
            format!(
                "{who} set {} to import every {hours} h{}",
                integration(),
                if correct {
                    ", correcting drift automatically"
                } else {
                    ""
                }
            )
        }
        "reconcile.apply_all" => format!(
            "{who} applied the rules to the {} user(s) of {} they change",
            detail.get("users").and_then(Value::as_u64).unwrap_or(0),
            integration()
        ),
        "integration.pause" => format!("{who} paused {}", integration()),
        "integration.resume" => format!("{who} resumed {}", integration()),
        "integration.delete" => format!("{who} deleted the integration '{}'", text("name")),
        "integration.guard.approve" | "integration.guard.discard" => {
            let users = detail
                .get("users")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if !users.is_empty() {
                changes.push(format!("users: {}", join_texts(&users)));
            }
            let n = users.len();
            let what = format!("{n} held removal{}", if n == 1 { "" } else { "s" });
            if e.action.ends_with("approve") {
                format!(
                    "{who} approved {what} from {}: their access is removed",
                    integration()
                )
            } else {
                format!(
                    "{who} discarded {what} from {}: their accounts are kept",
                    integration()
                )
            }
        }
        "token.issue" => {
            let expires = detail
                .get("expires_at")
                .and_then(Value::as_i64)
                .map(|ms| format!(", expiring {}", utc_date(ms)))
                .unwrap_or_else(|| ", with no expiry".into());
            format!(
                "{who} issued a SCIM token ({}…) for {}{expires}",
                text("prefix"),
                integration()
            )
        }
        "token.revoke" => format!(
            "{who} revoked the SCIM token {}… of {}",
            text("prefix"),
            integration()
        ),
        "jobs.retry" => {
            let n = detail.get("retried").and_then(Value::as_u64).unwrap_or(0);
            format!(
                "{who} retried {n} failed job{} of {}",
                if n == 1 { "" } else { "s" },
                integration()
            )
        }
        "jobs.discard" => format!("{who} discarded a failed job of {}", integration()),
        "tenant.create" => format!("{who} created the tenant '{}'", tenant()),
        "notify.channel_add" => format!("{who} added {} to the notifications", text("address")),
        "notify.channel_enable" => format!("{who} enabled notifications to {}", text("address")),
        "notify.channel_disable" => {
            format!("{who} disabled notifications to {}", text("address"))
        }
        "notify.channel_remove" => {
            format!("{who} removed {} from the notifications", text("address"))
        }
        "notify.test" => format!(
            "{who} sent a test notification to {} channel(s)",
            detail.get("channels").and_then(Value::as_u64).unwrap_or(0)
        ),
        "staff.create" => format!("{who} added {} as {}", staff(), role_words(text("role"))),
        "staff.invite" => format!(
            "{who} invited {} as {} (a one-time link)",
            staff(),
            role_words(text("role"))
        ),
        "staff.invite_again" => format!("{who} made a new invitation link for {}", staff()),
        "staff.invite_accept" => format!("{who} accepted their invitation and set a password"),
        "staff.reset_link" => format!("{who} made a password-reset link for {}", staff()),
        "staff.password_reset" => format!("{who} set a new password with a reset link"),
        "staff.role_change" => {
            let side = |k: &str| {
                let v = detail.get(k);
                let role = v
                    .and_then(|v| v.get("role"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let tenant = v
                    .and_then(|v| v.get("tenant"))
                    .and_then(Value::as_str)
                    .map(|t| {
                        format!(
                            " of {}",
                            names
                                .tenants
                                .get(t)
                                .cloned()
                                .unwrap_or_else(|| t.to_owned())
                        )
                    })
                    .unwrap_or_default();
                format!("{}{tenant}", role_words(role))
            };
            let (before, after) = (side("before"), side("after"));
            changes.push(format!("role: {before} → {after}"));
            format!("{who} made {} a {after}", staff())
        }
        "staff.remove" => {
            // "support" alone: its long form explains the role, not the account.
            let role = match text("role") {
                "support" => "support".to_owned(),
                r => role_words(r),
            };
            format!("{who} removed the {role} account of {}", staff())
        }
        "staff.sign_in" => {
            let with = text("with");
            if with.is_empty() {
                format!("{who} signed in")
            } else {
                format!("{who} signed in ({with})")
            }
        }
        "staff.disable" => format!("{who} disabled the sign-in of {}", staff()),
        "staff.enable" => format!("{who} enabled the sign-in of {}", staff()),
        "staff.password_change" => format!("{who} changed their password"),
        "staff.totp_enable" => format!("{who} turned on two-step sign-in for their account"),
        "staff.totp_disable" => format!("{who} turned off two-step sign-in for their account"),
        "staff.totp_reset" => format!("{who} reset the two-step sign-in of {}", staff()),
        "staff.totp_recovery_code_used" => format!("{who} signed in with a recovery code"),
        "staff.totp_recovery_codes_regenerate" => {
            format!("{who} made new recovery codes for their account")
        }
        "totp.require" | "totp.unrequire" => {
            let scope = if e.target_kind == "tenant" {
                format!("the staff of {}", tenant())
            } else {
                "every staff account".into()
            };
            if e.action == "totp.require" {
                format!("{who} required two-step sign-in for {scope}")
            } else {
                format!("{who} stopped requiring two-step sign-in for {scope}")
            }
        }
        "setup.first_admin" => format!("{who} set up this installation as its first administrator"),
        other => {
            // Not in the table: say what is known, plainly.
            changes = object_changes(&Value::Null, &Value::Object(detail.clone()));
            match &e.target_id {
                Some(id) => format!("{who}: {other} on {} {id}", e.target_kind),
                None => format!("{who}: {other}"),
            }
        }
    };
    AuditText { sentence, changes }
}

/// A staff role in words.
fn role_words(role: &str) -> String {
    match role {
        "platform_admin" => "platform administrator".into(),
        "support" => "support (reads logs, retries jobs)".into(),
        "tenant_admin" => "tenant administrator".into(),
        "" => "staff".into(),
        other => other.replace('_', " "),
    }
}

/// The date of epoch ms `ms`, in UTC.
fn utc_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| ms.to_string())
}

fn join_texts(values: &[Value]) -> String {
    values
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A JSON value as the changes show it: strings without quotes, nothing as "(none)".
fn shown(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "(none)".into(),
        Some(Value::String(s)) if s.is_empty() => "(none)".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// "key: before → after" for each key whose value differs; with no `before` object, "key:
/// value" for each key.
fn object_changes(before: &Value, after: &Value) -> Vec<String> {
    let empty = Map::new();
    let b = before.as_object();
    let a = after.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = a.keys().collect();
    if let Some(b) = b {
        keys.extend(b.keys().filter(|k| !a.contains_key(*k)));
    }
    keys.into_iter()
        .filter_map(|k| {
            let words = k.replace('_', " ");
            match b {
                Some(b) if b.get(k) == a.get(k) => None,
                Some(b) => Some(format!(
                    "{words}: {} → {}",
                    shown(b.get(k)),
                    shown(a.get(k))
                )),
                None => Some(format!("{words}: {}", shown(a.get(k)))),
            }
        })
        .collect()
}

/// The connection's changes: name and settings before → after (entries from before the
/// before/after form list the new values), and which secrets were replaced (never values).
fn connection_changes(detail: &Map<String, Value>) -> Vec<String> {
    let flat = |v: Option<&Value>| -> Value {
        let mut m = Map::new();
        if let Some(o) = v.and_then(Value::as_object) {
            if let Some(n) = o.get("name") {
                m.insert("name".into(), n.clone());
            }
            if let Some(s) = o.get("settings").and_then(Value::as_object) {
                for (k, v) in s {
                    m.insert(k.clone(), v.clone());
                }
            }
        }
        Value::Object(m)
    };
    let mut out = match (detail.get("before"), detail.get("after")) {
        (Some(b), Some(a)) => object_changes(&flat(Some(b)), &flat(Some(a))),
        _ => object_changes(&Value::Null, &flat(Some(&Value::Object(detail.clone())))),
    };
    if let Some(replaced) = detail.get("secrets_replaced").and_then(Value::as_array)
        && !replaced.is_empty()
    {
        out.push(format!("replaced secret: {}", join_texts(replaced)));
    }
    out
}

/// One rule as the sentences name its source: "group 'Sales Managers'", "app role 'Admin'",
/// "filter title eq \"CTO\"".
fn rule_source(r: &Value) -> (String, String) {
    let kind = r.get("kind").and_then(Value::as_str).unwrap_or_default();
    let value = r.get("value").and_then(Value::as_str).unwrap_or_default();
    let role = r.get("role").and_then(Value::as_str).unwrap_or_default();
    let source = match kind {
        "group" => format!("group '{value}'"),
        "app_role" => format!("app role '{value}'"),
        _ => format!("filter {value}"),
    };
    (source, role.to_owned())
}

/// The role mapping's changes: rules added, removed or given another role, the default role,
/// and a changed order.
fn role_mapping_changes(detail: &Map<String, Value>) -> Vec<String> {
    let rules = |v: Option<&Value>| -> Vec<(String, String)> {
        v.and_then(Value::as_array)
            .map(|a| a.iter().map(rule_source).collect())
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    match detail.get("rules") {
        // Before/after, as recorded since the audit log speaks in sentences.
        Some(Value::Object(r)) => {
            let (before, after) = (rules(r.get("before")), rules(r.get("after")));
            let role_of = |list: &[(String, String)], s: &str| {
                list.iter()
                    .find(|(src, _)| src == s)
                    .map(|(_, r)| r.clone())
            };
            for (src, role) in &after {
                match role_of(&before, src) {
                    None => out.push(format!("added {src} → {role}")),
                    Some(old) if old != *role => out.push(format!("changed {src}: {old} → {role}")),
                    Some(_) => {}
                }
            }
            for (src, role) in &before {
                if role_of(&after, src).is_none() {
                    out.push(format!("removed {src} → {role}"));
                }
            }
            let order =
                |l: &[(String, String)]| l.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>();
            let mut common_before = order(&before);
            common_before.retain(|s| role_of(&after, s).is_some());
            let mut common_after = order(&after);
            common_after.retain(|s| role_of(&before, s).is_some());
            if common_before != common_after {
                out.push("changed the order of the rules (the first match wins)".into());
            }
        }
        // Older entries hold only the new rules.
        Some(Value::Array(_)) => {
            for (src, role) in rules(detail.get("rules")) {
                out.push(format!("rule: {src} → {role}"));
            }
        }
        _ => {}
    }
    match detail.get("default_role") {
        Some(Value::Object(d)) if d.get("before") != d.get("after") => out.push(format!(
            "default role: {} → {}",
            shown(d.get("before")),
            shown(d.get("after"))
        )),
        Some(v @ Value::String(_)) => out.push(format!("default role: {}", shown(Some(v)))),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(action: &str, target: Option<&str>, detail: Value) -> AuditEntry {
        AuditEntry {
            id: 1,
            at: 0,
            tenant_id: Some("t1".into()),
            actor_id: Some("s1".into()),
            actor_email: "it.admin@contoso".into(),
            action: action.into(),
            target_kind: "integration".into(),
            target_id: target.map(str::to_owned),
            detail: (!detail.is_null()).then(|| detail.to_string()),
        }
    }

    fn names() -> Names {
        let mut n = Names::default();
        n.integrations
            .insert("i1".into(), "ActiveCampaign (Sales team)".into());
        n.staff.insert("s2".into(), "new.hire@contoso".into());
        n.tenants.insert("t1".into(), "Contoso".into());
        n
    }

    #[test]
    fn a_role_mapping_change_lists_what_was_added_removed_and_changed() {
        let e = entry(
            "integration.roles",
            Some("i1"),
            json!({
                "default_role": {"before": "User", "after": "Viewer"},
                "rules": {
                    "before": [
                        {"kind": "group", "value": "Sales", "role": "User"},
                        {"kind": "app_role", "value": "Admin", "role": "Admin"},
                    ],
                    "after": [
                        {"kind": "group", "value": "Sales Managers", "role": "Manager"},
                        {"kind": "group", "value": "Sales", "role": "Sales"},
                    ],
                },
            }),
        );
        assert_eq!(
            describe(&e, &names()),
            AuditText {
                sentence:
                    "it.admin@contoso changed the role mapping of ActiveCampaign (Sales team)"
                        .into(),
                changes: vec![
                    "added group 'Sales Managers' → Manager".into(),
                    "changed group 'Sales': User → Sales".into(),
                    "removed app role 'Admin' → Admin".into(),
                    "default role: User → Viewer".into(),
                ],
            }
        );
    }

    #[test]
    fn reordering_rules_is_a_change_and_an_unchanged_save_has_none() {
        let a = json!({"kind": "group", "value": "A", "role": "X"});
        let b = json!({"kind": "group", "value": "B", "role": "Y"});
        let reordered = entry(
            "integration.roles",
            Some("i1"),
            json!({"rules": {"before": [a, b], "after": [b, a]}}),
        );
        assert_eq!(
            describe(&reordered, &names()).changes,
            vec!["changed the order of the rules (the first match wins)".to_string()]
        );
        let same = entry(
            "integration.roles",
            Some("i1"),
            json!({"default_role": {"before": "U", "after": "U"}, "rules": {"before": [a], "after": [a]}}),
        );
        assert!(describe(&same, &names()).changes.is_empty());
    }

    #[test]
    fn older_role_entries_list_the_rules_they_hold() {
        let e = entry(
            "integration.roles",
            Some("i1"),
            json!({"default_role": "User", "rules": [{"kind": "filter", "value": "title eq \"CTO\"", "role": "Admin"}]}),
        );
        assert_eq!(
            describe(&e, &names()).changes,
            vec![
                "rule: filter title eq \"CTO\" → Admin".to_string(),
                "default role: User".into()
            ]
        );
    }

    #[test]
    fn settings_show_before_and_after_and_secrets_only_by_name() {
        let e = entry(
            "integration.connection",
            Some("i1"),
            json!({
                "before": {"name": "Sales team", "settings": {"base_url": "https://a.api-us1.com/api/3"}},
                "after": {"name": "Sales", "settings": {"base_url": "https://b.api-us1.com/api/3"}},
                "secrets_replaced": ["api_key"],
            }),
        );
        let t = describe(&e, &names());
        assert_eq!(
            t.sentence,
            "it.admin@contoso changed the connection of ActiveCampaign (Sales team)"
        );
        assert_eq!(
            t.changes,
            vec![
                "name: Sales team → Sales".to_string(),
                "base url: https://a.api-us1.com/api/3 → https://b.api-us1.com/api/3".into(),
                "replaced secret: api_key".into(),
            ]
        );
    }

    #[test]
    fn policies_list_only_what_changed() {
        let e = entry(
            "integration.policy",
            Some("i1"),
            json!({
                "before": {"deprovision": "delete", "mode": "dry_run", "lifecycle": "assignment"},
                "after": {"deprovision": "role:No access", "mode": "live", "lifecycle": "assignment"},
            }),
        );
        assert_eq!(
            describe(&e, &names()).changes,
            vec![
                "deprovision: delete → role:No access".to_string(),
                "mode: dry_run → live".into()
            ]
        );
    }

    #[test]
    fn every_known_action_reads_as_a_sentence_without_raw_codes() {
        for (action, label) in ACTIONS {
            assert_eq!(action_label(action), *label);
            let e = entry(
                action,
                Some("i1"),
                json!({"name": "Sales team", "email": "x@y"}),
            );
            let t = describe(&e, &names());
            assert!(
                t.sentence.starts_with("it.admin@contoso "),
                "{action}: {}",
                t.sentence
            );
            assert!(!t.sentence.contains(action), "{action}: {}", t.sentence);
            assert!(!t.sentence.contains('{'), "{action}: {}", t.sentence);
        }
    }

    #[test]
    fn names_come_from_the_lookup_or_the_entry() {
        let deleted = entry("integration.pause", Some("gone"), json!({"name": "Old"}));
        assert_eq!(
            describe(&deleted, &names()).sentence,
            "it.admin@contoso paused 'Old'"
        );
        let gone = entry("integration.pause", Some("gone"), Value::Null);
        assert_eq!(
            describe(&gone, &names()).sentence,
            "it.admin@contoso paused an integration that no longer exists"
        );
        let mut staff = entry("staff.totp_reset", Some("s2"), Value::Null);
        staff.target_kind = "staff_user".into();
        assert_eq!(
            describe(&staff, &names()).sentence,
            "it.admin@contoso reset the two-step sign-in of new.hire@contoso"
        );
        let created = entry(
            "staff.create",
            Some("s2"),
            json!({"email": "new.hire@contoso", "role": "support"}),
        );
        assert_eq!(
            describe(&created, &names()).sentence,
            "it.admin@contoso added new.hire@contoso as support (reads logs, retries jobs)"
        );
    }

    #[test]
    fn staff_management_reads_as_sentences() {
        let staff = |action: &str, detail: Value| {
            let mut e = entry(action, Some("s2"), detail);
            e.target_kind = "staff_user".into();
            describe(&e, &names())
        };
        assert_eq!(
            staff(
                "staff.invite",
                json!({"email": "new.hire@contoso", "role": "tenant_admin"})
            )
            .sentence,
            "it.admin@contoso invited new.hire@contoso as tenant administrator (a one-time link)"
        );
        let changed = staff(
            "staff.role_change",
            json!({"email": "new.hire@contoso",
                   "before": {"role": "tenant_admin", "tenant": "t1"},
                   "after": {"role": "support", "tenant": null}}),
        );
        assert_eq!(
            changed.sentence,
            "it.admin@contoso made new.hire@contoso a support (reads logs, retries jobs)"
        );
        assert_eq!(
            changed.changes,
            vec![
                "role: tenant administrator of Contoso → support (reads logs, retries jobs)"
                    .to_string()
            ]
        );
        assert_eq!(
            staff("staff.reset_link", Value::Null).sentence,
            "it.admin@contoso made a password-reset link for new.hire@contoso"
        );
        assert_eq!(
            staff(
                "staff.remove",
                json!({"email": "x@contoso", "role": "support"})
            )
            .sentence,
            "it.admin@contoso removed the support account of x@contoso"
        );
        assert_eq!(
            staff("staff.sign_in", json!({"with": "first-run setup"})).sentence,
            "it.admin@contoso signed in (first-run setup)"
        );
        assert_eq!(
            staff("staff.invite_accept", Value::Null).sentence,
            "it.admin@contoso accepted their invitation and set a password"
        );
    }

    #[test]
    fn guard_decisions_name_the_users() {
        let e = entry(
            "integration.guard.approve",
            Some("i1"),
            json!({"users": ["a@contoso", "b@contoso"]}),
        );
        let t = describe(&e, &names());
        assert_eq!(
            t.sentence,
            "it.admin@contoso approved 2 held removals from ActiveCampaign (Sales team): their access is removed"
        );
        assert_eq!(t.changes, vec!["users: a@contoso, b@contoso".to_string()]);
    }

    #[test]
    fn an_unknown_action_still_says_who_and_what() {
        let e = entry("integration.frobnicate", Some("i1"), json!({"level": 3}));
        let t = describe(&e, &names());
        assert_eq!(
            t.sentence,
            "it.admin@contoso: integration.frobnicate on integration i1"
        );
        assert_eq!(t.changes, vec!["level: 3".to_string()]);
    }
}
