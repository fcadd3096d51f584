//! The pure part of reconciliation: match the target's accounts to SCIM users, and read the
//! report off the planner. Nothing here decides what a user should look like: drift is the
//! planner's `plan` against the imported account, carried out on a copy with `Known::apply`,
//! compared field by field with what the target holds.

use crate::inputs::UserInput;
use crate::planner::{AccountState, IntegrationRules, Known, Step, plan};
use connector_api::Capabilities;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use store::ReconAccount;

/// How an account was matched to a SCIM user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    /// Our link says so.
    Link,
    /// The e-mail (case-insensitive).
    Email,
    /// The userName equals the account's e-mail or username (case-insensitive).
    UserName,
}

/// One SCIM user as reconciliation sees it: the planner's input and what the link says.
#[derive(Debug, Clone)]
pub struct ScimSide {
    pub user: UserInput,
    /// The linked target id, if the link has one.
    pub linked_to: Option<String>,
    /// What the link knows (groups pushed, ever a member), kept when the account is re-read.
    pub known: Known,
}

/// Pairs accounts (by index) with users (by index): by link first, then by e-mail, then by
/// userName; each account and each user at most once, so an adoption never duplicates.
pub fn match_accounts(
    accounts: &[ReconAccount],
    users: &[ScimSide],
) -> Vec<Option<(usize, MatchedBy)>> {
    let mut out: Vec<Option<(usize, MatchedBy)>> = vec![None; accounts.len()];
    let by_id: HashMap<&str, usize> = accounts
        .iter()
        .enumerate()
        .map(|(i, a)| (a.target_id.as_str(), i))
        .collect();
    let mut taken: HashSet<usize> = HashSet::new();
    for (u, side) in users.iter().enumerate() {
        if let Some(&a) = side.linked_to.as_deref().and_then(|t| by_id.get(t))
            && out[a].is_none()
        {
            out[a] = Some((u, MatchedBy::Link));
            taken.insert(u);
        }
    }
    // The rest by e-mail, then userName; a user whose linked account is gone may be matched
    // to another account with its e-mail (it was re-created by hand).
    let mut by_email: HashMap<String, usize> = HashMap::new();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for (u, side) in users.iter().enumerate() {
        if taken.contains(&u) {
            continue;
        }
        let profile = crate::planner::Profile::of(&side.user.attrs);
        by_email.entry(profile.email.to_lowercase()).or_insert(u);
        by_name
            .entry(side.user.user_name.to_lowercase())
            .or_insert(u);
    }
    for (a, account) in accounts.iter().enumerate() {
        if out[a].is_some() {
            continue;
        }
        let email = account.email.to_lowercase();
        let found = by_email
            .get(&email)
            .map(|&u| (u, MatchedBy::Email))
            .or_else(|| by_name.get(&email).map(|&u| (u, MatchedBy::UserName)))
            .or_else(|| {
                account
                    .username
                    .as_deref()
                    .and_then(|n| by_name.get(&n.to_lowercase()))
                    .map(|&u| (u, MatchedBy::UserName))
            });
        if let Some((u, how)) = found
            && taken.insert(u)
        {
            out[a] = Some((u, how));
        }
    }
    out
}

/// What reconciliation needs to know about the integration besides the rows.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub rules: &'a IntegrationRules,
    pub caps: &'a Capabilities,
    /// The account that owns the API key.
    pub owner_target_id: Option<&'a str>,
}

impl Context<'_> {
    /// The role accounts are moved to when deprovisioned, if the policy moves them.
    fn deprovision_role(&self) -> Option<&str> {
        match &self.rules.policy.deprovision {
            crate::planner::Deprovision::Role(r) => Some(r.as_str()),
            _ => None,
        }
    }

    fn is_owner(&self, account: &ReconAccount) -> bool {
        self.owner_target_id == Some(account.target_id.as_str())
    }
}

/// What we know of an account from the import (merged with what the link knew that the
/// target cannot say: groups pushed, ever a member; and the roles, if the import could not
/// read them). The username and attributes are taken from `desired`'s profile: the import
/// does not read them, so they never count as drift.
pub fn known_of(
    account: &ReconAccount,
    linked: Option<&Known>,
    desired_profile: Option<&crate::planner::Profile>,
    ctx: &Context<'_>,
) -> Known {
    let roles = if account.roles_known {
        account.roles.clone()
    } else {
        linked.map(|k| k.roles.clone()).unwrap_or_default()
    };
    let deprovisioned = ctx.deprovision_role().is_some_and(|r| {
        account.roles_known && roles.len() == 1 && roles[0].eq_ignore_ascii_case(r)
    });
    let state = if account.active == Some(false) {
        AccountState::Deactivated
    } else if deprovisioned {
        AccountState::Deprovisioned
    } else {
        AccountState::Active
    };
    let profile = crate::planner::Profile {
        email: account.email.clone(),
        username: desired_profile
            .map(|p| p.username.clone())
            .or_else(|| account.username.clone())
            .unwrap_or_default(),
        first_name: account.first_name.clone().filter(|s| !s.trim().is_empty()),
        last_name: account.last_name.clone().filter(|s| !s.trim().is_empty()),
        // The planner compares attributes only for targets that take them.
        attributes: desired_profile
            .filter(|_| ctx.caps.attributes)
            .map(|p| p.attributes.clone())
            .unwrap_or_default(),
    };
    Known {
        target_id: Some(account.target_id.clone()),
        state,
        profile: Some(profile),
        roles,
        groups: linked.map(|k| k.groups.clone()).unwrap_or_default(),
        ever_member: linked.is_some_and(|k| k.ever_member),
        key_owner: ctx.is_owner(account),
    }
}

/// An account in the target that no SCIM user accounts for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Orphan {
    pub target_id: String,
    pub email: String,
    pub last_login: Option<String>,
}

/// One field of a linked account that differs from what the planner wants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    pub user_name: String,
    /// `role`, `email`, `first_name`, `last_name` or `active`.
    pub field: String,
    pub ours: String,
    pub theirs: String,
    #[serde(skip)]
    pub scim_user_id: String,
    #[serde(skip)]
    pub target_id: String,
}

/// A SCIM user the planner wants an account for, with none in the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Missing {
    pub user_name: String,
    #[serde(skip)]
    pub scim_user_id: String,
}

/// Seats in the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Seats {
    /// Accounts with access (the key owner included).
    pub active: u64,
    /// Accounts in the deprovision role or deactivated.
    pub deprovisioned: u64,
    /// Active accounts no SCIM user accounts for.
    pub orphaned: u64,
    /// Seats that could be given back: the orphans, and the active accounts the planner
    /// would take access from.
    pub reclaimable: u64,
}

/// The account that owns the API key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyOwner {
    pub target_id: String,
    pub email: String,
}

/// An unlinked account matched to a SCIM user: linked (adopted) instead of creating another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Adoption {
    pub user_name: String,
    pub scim_user_id: String,
    pub target_id: String,
    pub matched_by: MatchedBy,
}

/// One user's planned calls against the imported state (the dry-run diff).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserPlan {
    pub user_name: String,
    pub scim_user_id: String,
    pub target_id: Option<String>,
    /// The planner's steps in words, in order.
    pub steps: Vec<String>,
    /// The steps' operation names (`create_user`, `set_roles`, …), in order.
    pub operations: Vec<String>,
}

/// The dry-run diff in numbers: "create 41, adopt 12, change role of 3, deprovision 0,
/// leave 5 orphans".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct PlanSummary {
    pub create: u64,
    pub adopt: u64,
    pub change_role: u64,
    pub update_profile: u64,
    pub deprovision: u64,
    pub orphans: u64,
}

/// Everything a reconciliation finds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Analysis {
    pub orphaned: Vec<Orphan>,
    pub drift: Vec<Drift>,
    pub missing: Vec<Missing>,
    pub seats: Seats,
    pub key_owner: Option<KeyOwner>,
    pub adoptions: Vec<Adoption>,
    /// Per user with something to do, the plan against the imported state.
    pub plans: Vec<UserPlan>,
    pub summary: PlanSummary,
    /// The imported state of every matched account, by SCIM user id (what a drift fix or an
    /// adoption writes to the link).
    pub imported: HashMap<String, Known>,
}

/// The report the CLI prints with `--json` (exactly these names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report<'a> {
    pub orphaned: &'a [Orphan],
    pub drift: &'a [Drift],
    pub missing: &'a [Missing],
    pub seats: Seats,
    pub key_owner: Option<&'a KeyOwner>,
}

impl Analysis {
    /// The report's view.
    pub fn report(&self) -> Report<'_> {
        Report {
            orphaned: &self.orphaned,
            drift: &self.drift,
            missing: &self.missing,
            seats: self.seats,
            key_owner: self.key_owner.as_ref(),
        }
    }
}

fn has_access(state: AccountState) -> bool {
    state == AccountState::Active
}

fn text(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

/// The fields of `theirs` that `ours` changes.
fn differences(
    ours: &Known,
    theirs: &Known,
    roles_known: bool,
) -> Vec<(&'static str, String, String)> {
    let mut out = Vec::new();
    let ours_access = has_access(ours.state);
    let theirs_access = has_access(theirs.state);
    if roles_known
        && !(ours.roles.len() == theirs.roles.len()
            && ours
                .roles
                .iter()
                .all(|r| theirs.roles.iter().any(|t| t.eq_ignore_ascii_case(r))))
    {
        out.push(("role", ours.roles.join(", "), theirs.roles.join(", ")));
    }
    if let (Some(o), Some(t)) = (&ours.profile, &theirs.profile)
        && ours.state != AccountState::Deleted
    {
        if !o.email.eq_ignore_ascii_case(&t.email) {
            out.push(("email", o.email.clone(), t.email.clone()));
        }
        if o.first_name != t.first_name {
            out.push(("first_name", text(&o.first_name), text(&t.first_name)));
        }
        if o.last_name != t.last_name {
            out.push(("last_name", text(&o.last_name), text(&t.last_name)));
        }
    }
    if ours_access != theirs_access {
        out.push(("active", ours_access.to_string(), theirs_access.to_string()));
    }
    out
}

/// Reconciles the snapshot with the SCIM users: the report, adoptions and the per-user plan.
pub fn analyze(accounts: &[ReconAccount], users: &[ScimSide], ctx: &Context<'_>) -> Analysis {
    let matches = match_accounts(accounts, users);
    let mut a = Analysis::default();
    let mut matched_users: HashSet<usize> = HashSet::new();
    for (i, account) in accounts.iter().enumerate() {
        let owner = ctx.is_owner(account);
        if owner {
            a.key_owner = Some(KeyOwner {
                target_id: account.target_id.clone(),
                email: account.email.clone(),
            });
        }
        let Some((u, how)) = matches[i] else {
            let known = known_of(account, None, None, ctx);
            if has_access(known.state) {
                a.seats.active += 1;
                if !owner {
                    a.seats.orphaned += 1;
                    a.orphaned.push(Orphan {
                        target_id: account.target_id.clone(),
                        email: account.email.clone(),
                        last_login: account.last_login.clone(),
                    });
                }
            } else {
                a.seats.deprovisioned += 1;
            }
            continue;
        };
        matched_users.insert(u);
        let side = &users[u];
        let subject = side.user.subject();
        let desired = ctx.rules.desired(Some(&subject));
        let linked = (how == MatchedBy::Link).then_some(&side.known);
        // An adopted account keeps what the old link knew of groups and membership.
        let known = known_of(
            account,
            linked.or(Some(&side.known)),
            desired.profile.as_ref(),
            ctx,
        );
        if has_access(known.state) {
            a.seats.active += 1;
        } else {
            a.seats.deprovisioned += 1;
        }
        if how != MatchedBy::Link {
            a.adoptions.push(Adoption {
                user_name: side.user.user_name.clone(),
                scim_user_id: side.user.id.clone(),
                target_id: account.target_id.clone(),
                matched_by: how,
            });
            a.summary.adopt += 1;
        }
        let steps = plan(&desired, &known, ctx.caps);
        let mut ours = known.clone();
        for s in &steps {
            ours.apply(s, None);
        }
        if has_access(known.state) && !has_access(ours.state) {
            a.seats.reclaimable += 1;
        }
        let diffs = differences(&ours, &known, account.roles_known);
        for (field, o, t) in &diffs {
            a.drift.push(Drift {
                user_name: side.user.user_name.clone(),
                field: (*field).to_string(),
                ours: o.clone(),
                theirs: t.clone(),
                scim_user_id: side.user.id.clone(),
                target_id: account.target_id.clone(),
            });
        }
        if steps.iter().any(Step::removes_access) {
            a.summary.deprovision += 1;
        } else {
            if diffs.iter().any(|d| d.0 == "role") {
                a.summary.change_role += 1;
            }
            if diffs
                .iter()
                .any(|d| matches!(d.0, "email" | "first_name" | "last_name"))
            {
                a.summary.update_profile += 1;
            }
        }
        a.imported.insert(side.user.id.clone(), known.clone());
        if !steps.is_empty() {
            a.plans
                .push(user_plan(&side.user, Some(&account.target_id), &steps));
        }
    }
    a.seats.reclaimable += a.seats.orphaned;
    a.summary.orphans = a.seats.orphaned;
    for (u, side) in users.iter().enumerate() {
        if matched_users.contains(&u) {
            continue;
        }
        let subject = side.user.subject();
        let desired = ctx.rules.desired(Some(&subject));
        // No account in the target: plan from none (keeping what the link knew of
        // membership), as the worker would after finding the account gone.
        let known = Known {
            ever_member: side.known.ever_member,
            ..Known::default()
        };
        let steps = plan(&desired, &known, ctx.caps);
        if steps.iter().any(|s| matches!(s, Step::Create { .. })) {
            a.summary.create += 1;
            a.missing.push(Missing {
                user_name: side.user.user_name.clone(),
                scim_user_id: side.user.id.clone(),
            });
        }
        if !steps.is_empty() {
            a.plans.push(user_plan(&side.user, None, &steps));
        }
    }
    a
}

fn user_plan(user: &UserInput, target_id: Option<&String>, steps: &[Step]) -> UserPlan {
    UserPlan {
        user_name: user.user_name.clone(),
        scim_user_id: user.id.clone(),
        target_id: target_id.cloned(),
        steps: steps.iter().map(Step::describe).collect(),
        operations: steps.iter().map(|s| s.operation().to_string()).collect(),
    }
}
