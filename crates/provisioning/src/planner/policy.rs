//! An integration's provisioning policies, parsed and printed in one place (CLI, UI, worker and
//! the store's text columns all go through here).
//!
//! The policies are independent of each other:
//! - [`Deprovision`]: what `active=false` does;
//! - [`Unmatched`]: what happens when no rule gives a role;
//! - [`Lifecycle`]: whether an account exists while the user is assigned, or only while they are
//!   a member of a mapped group;
//! - [`GroupPush`]: which IdP groups are created in the target;
//! - [`DeleteGuard`]: how many removals in an hour hold the integration for approval.

use std::fmt;

/// What `active=false` does to the target account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deprovision {
    /// Move the account to this role (a "no access" role); keeps the account and its history.
    Role(String),
    /// The target's native deactivate (Pipedrive's `active_flag`, a SCIM app's `active`).
    Deactivate,
    /// Delete the account (targets without delete deactivate instead).
    Delete,
    /// Change nothing; someone removes access by hand (or, in the `groups` lifecycle, group
    /// membership decides).
    Ignore,
}

impl Deprovision {
    /// Parses the stored or typed form: `role:<name>`, `deactivate`, `delete`, `ignore`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim() {
            "delete" => Ok(Self::Delete),
            "deactivate" => Ok(Self::Deactivate),
            "ignore" => Ok(Self::Ignore),
            other => match other.strip_prefix("role:").map(str::trim) {
                Some(role) if !role.is_empty() => Ok(Self::Role(role.to_string())),
                _ => Err(format!(
                    "'{s}' is not a deprovisioning policy: use 'role:<target role>', 'deactivate', 'delete' or 'ignore'"
                )),
            },
        }
    }

    /// The action taken when an account must lose access for a reason other than
    /// `active=false` (no rule matched, last mapped group lost): the policy's own action, and
    /// for `ignore` (which only means "active=false changes nothing") a delete.
    pub fn removal(&self) -> Removal {
        match self {
            Self::Role(r) => Removal::MoveToRole(r.clone()),
            Self::Deactivate => Removal::Deactivate,
            Self::Delete | Self::Ignore => Removal::Delete,
        }
    }

    /// Plain words for the UI and the log.
    pub fn describe(&self) -> String {
        match self {
            Self::Role(r) => format!("move the account to the role \"{r}\""),
            Self::Deactivate => "deactivate the account in the target app".into(),
            Self::Delete => "delete the account in the target app".into(),
            Self::Ignore => "leave the account unchanged".into(),
        }
    }
}

impl fmt::Display for Deprovision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Role(r) => write!(f, "role:{r}"),
            Self::Deactivate => f.write_str("deactivate"),
            Self::Delete => f.write_str("delete"),
            Self::Ignore => f.write_str("ignore"),
        }
    }
}

/// How an account loses access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    MoveToRole(String),
    Deactivate,
    Delete,
}

impl Removal {
    /// Plain words.
    pub fn describe(&self) -> String {
        match self {
            Self::MoveToRole(r) => format!("move to the role \"{r}\""),
            Self::Deactivate => "deactivate".into(),
            Self::Delete => "delete".into(),
        }
    }
}

/// What happens to an active user whom no rule gives a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmatched {
    /// The integration's default role.
    Default,
    /// Remove access as [`Deprovision::removal`] says.
    Deprovision,
    /// Keep whatever role the account holds now (a new account is not created).
    Keep,
}

impl Unmatched {
    /// Parses `default`, `deprovision` or `keep`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim() {
            "default" => Ok(Self::Default),
            "deprovision" => Ok(Self::Deprovision),
            "keep" => Ok(Self::Keep),
            other => Err(format!(
                "'{other}' is not a choice for users no rule matches: use 'default', 'deprovision' or 'keep'"
            )),
        }
    }

    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Deprovision => "deprovision",
            Self::Keep => "keep",
        }
    }
}

/// When a target account exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lifecycle {
    /// While the user is assigned to the app (and active): today's behaviour, the default.
    #[default]
    Assignment,
    /// Only while the user is a member of at least one group that a rule maps (Acqueon
    /// Campaign Manager's flows, target-apis.md §4).
    Groups,
}

impl Lifecycle {
    /// Parses `assignment` or `groups`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim() {
            "assignment" | "" => Ok(Self::Assignment),
            "groups" => Ok(Self::Groups),
            other => Err(format!(
                "'{other}' is not a lifecycle: use 'assignment' or 'groups'"
            )),
        }
    }

    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Assignment => "assignment",
            Self::Groups => "groups",
        }
    }
}

/// Which IdP groups are created (and their memberships pushed) in the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupPush {
    /// None: groups only drive roles.
    #[default]
    None,
    /// The groups that a role rule names.
    Ruled,
    /// Every group the IdP sends.
    All,
}

impl GroupPush {
    /// Parses `none`, `ruled` or `all`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim() {
            "none" | "" => Ok(Self::None),
            "ruled" => Ok(Self::Ruled),
            "all" => Ok(Self::All),
            other => Err(format!(
                "'{other}' is not a group choice: use 'none', 'ruled' or 'all'"
            )),
        }
    }

    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Ruled => "ruled",
            Self::All => "all",
        }
    }
}

/// The deletion guard: removals in a sliding hour above both thresholds hold the integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteGuard {
    Off,
    /// More than `users` users **and** more than `percent` % of the linked users.
    On {
        users: u32,
        percent: u32,
    },
}

impl Default for DeleteGuard {
    fn default() -> Self {
        Self::On {
            users: 10,
            percent: 20,
        }
    }
}

impl DeleteGuard {
    /// Parses `off` or `USERS,PERCENT%` (e.g. `10,20%`).
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s == "off" {
            return Ok(Self::Off);
        }
        let bad = || {
            format!("'{s}' is not a deletion guard: use 'off' or 'USERS,PERCENT%', e.g. '10,20%'")
        };
        let (users, percent) = s.split_once(',').ok_or_else(bad)?;
        let users = users.trim().parse::<u32>().map_err(|_| bad())?;
        let percent = percent
            .trim()
            .trim_end_matches('%')
            .trim()
            .parse::<u32>()
            .map_err(|_| bad())?;
        if percent > 100 {
            return Err(bad());
        }
        Ok(Self::On { users, percent })
    }

    /// Whether `removals` in the window (this one included) among `linked` accounts trip it.
    pub fn trips(self, removals: u64, linked: u64) -> bool {
        match self {
            Self::Off => false,
            Self::On { users, percent } => {
                removals > u64::from(users) && removals * 100 > u64::from(percent) * linked
            }
        }
    }

    /// Plain words.
    pub fn describe(self) -> String {
        match self {
            Self::Off => "off".into(),
            Self::On { users, percent } => format!(
                "hold when more than {users} users and more than {percent} % of the linked users would be removed within an hour"
            ),
        }
    }
}

impl fmt::Display for DeleteGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Off => f.write_str("off"),
            Self::On { users, percent } => write!(f, "{users},{percent}%"),
        }
    }
}

/// Every policy of one integration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub default_role: Option<String>,
    pub deprovision: Deprovision,
    /// `None`: the automatic choice ([`Policy::unmatched`]).
    pub unmatched: Option<Unmatched>,
    pub lifecycle: Lifecycle,
    pub group_push: GroupPush,
    pub guard: DeleteGuard,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            default_role: None,
            deprovision: Deprovision::Ignore,
            unmatched: None,
            lifecycle: Lifecycle::Assignment,
            group_push: GroupPush::None,
            guard: DeleteGuard::default(),
        }
    }
}

impl Policy {
    /// Reads the stored text columns of an integration; a stored value that no longer parses
    /// is an error (it was validated when saved).
    pub fn from_stored(
        default_role: Option<&str>,
        deprovision: &str,
        unmatched: Option<&str>,
        lifecycle: &str,
        group_push: &str,
        guard: &str,
    ) -> Result<Self, String> {
        Ok(Self {
            default_role: default_role
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_string),
            deprovision: Deprovision::parse(deprovision)?,
            unmatched: unmatched
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(Unmatched::parse)
                .transpose()?,
            lifecycle: Lifecycle::parse(lifecycle)?,
            group_push: GroupPush::parse(group_push)?,
            guard: DeleteGuard::parse(guard)?,
        })
    }

    /// The effective choice for unmatched users: as set, else `default` when a default role
    /// is set and `deprovision` when not.
    pub fn unmatched(&self) -> Unmatched {
        self.unmatched.unwrap_or(if self.default_role.is_some() {
            Unmatched::Default
        } else {
            Unmatched::Deprovision
        })
    }

    /// Refuses combinations that cannot work, with words an admin can act on.
    pub fn validate(&self, caps: &connector_api::Capabilities) -> Result<(), String> {
        if self.unmatched() == Unmatched::Default && self.default_role.is_none() {
            return Err(
                "users no rule matches get the default role, but there is no default role: set one or choose another option".into(),
            );
        }
        if self.deprovision == Deprovision::Deactivate && !caps.can_deactivate {
            return Err("this app has no deactivate: move deactivated users to a role, delete them or leave them unchanged".into());
        }
        if self.group_push != GroupPush::None && !caps.groups {
            return Err("this app has no groups: scimbridge can only map groups to roles".into());
        }
        Ok(())
    }
}

/// Names a target's "no access" role tends to have, normalised (lowercase, letters and
/// digits only), most telling first.
const NO_ACCESS_NAMES: &[&str] = &[
    "noaccess",
    "deactivated",
    "inactive",
    "disabled",
    "suspended",
];

/// Whether a role's name says it gives no access ("No access", "no-access", "Deactivated",
/// "Inactive", "Disabled", "Suspended", any case or punctuation).
pub fn looks_like_no_access(role: &str) -> bool {
    no_access_rank(role).is_some()
}

fn no_access_rank(role: &str) -> Option<usize> {
    let norm: String = role
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    NO_ACCESS_NAMES.iter().position(|n| *n == norm)
}

/// The role the Policy step suggests for deactivated users: the target's role that most
/// clearly gives no access, or `None` (then the admin chooses; nothing is chosen silently).
pub fn suggest_no_access_role(roles: &[String]) -> Option<&str> {
    roles
        .iter()
        .filter_map(|r| no_access_rank(r).map(|rank| (rank, r)))
        .min_by_key(|(rank, _)| *rank)
        .map(|(_, r)| r.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_forms_round_trip() {
        for s in ["role:No access", "deactivate", "delete", "ignore"] {
            assert_eq!(Deprovision::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(
            Deprovision::parse(" role: No access ").unwrap(),
            Deprovision::Role("No access".into())
        );
        assert!(Deprovision::parse("role:").is_err());
        assert!(Deprovision::parse("suspend").is_err());
        for s in ["default", "deprovision", "keep"] {
            assert_eq!(Unmatched::parse(s).unwrap().as_str(), s);
        }
        for s in ["assignment", "groups"] {
            assert_eq!(Lifecycle::parse(s).unwrap().as_str(), s);
        }
        for s in ["none", "ruled", "all"] {
            assert_eq!(GroupPush::parse(s).unwrap().as_str(), s);
        }
        assert_eq!(DeleteGuard::parse("10,20%").unwrap().to_string(), "10,20%");
        assert_eq!(DeleteGuard::parse(" 5 , 50 ").unwrap().to_string(), "5,50%");
        assert_eq!(DeleteGuard::parse("off").unwrap(), DeleteGuard::Off);
        for bad in ["10", "x,20%", "10,120%", ""] {
            assert!(DeleteGuard::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn guard_needs_both_thresholds() {
        let g = DeleteGuard::default();
        assert!(!g.trips(10, 20), "10 is not more than 10");
        assert!(g.trips(11, 20), "11 of 20 is 55 %");
        assert!(!g.trips(11, 100), "11 % of 100 is under 20 %");
        assert!(g.trips(21, 100));
        assert!(g.trips(60, 100));
        assert!(!DeleteGuard::Off.trips(1000, 1000));
    }

    #[test]
    fn unmatched_defaults_follow_the_default_role() {
        let mut p = Policy::default();
        assert_eq!(p.unmatched(), Unmatched::Deprovision);
        p.default_role = Some("User".into());
        assert_eq!(p.unmatched(), Unmatched::Default);
        p.unmatched = Some(Unmatched::Keep);
        assert_eq!(p.unmatched(), Unmatched::Keep);
        assert_eq!(Deprovision::Ignore.removal(), Removal::Delete);
        assert_eq!(
            Deprovision::Role("X".into()).removal(),
            Removal::MoveToRole("X".into())
        );
    }

    #[test]
    fn a_no_access_role_is_suggested_only_when_one_looks_like_it() {
        let roles = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        for name in [
            "No access",
            "No Access",
            "no-access",
            "NO_ACCESS",
            "Deactivated",
            "Inactive",
        ] {
            assert!(looks_like_no_access(name), "{name}");
            assert_eq!(
                suggest_no_access_role(&roles(&["Admin", name, "User"])),
                Some(name)
            );
        }
        for name in [
            "Admin",
            "Access manager",
            "No accessories",
            "Active",
            "Viewer",
        ] {
            assert!(!looks_like_no_access(name), "{name}");
        }
        assert_eq!(suggest_no_access_role(&roles(&["Admin", "User"])), None);
        assert_eq!(suggest_no_access_role(&[]), None);
        // The clearest name wins over the order the target lists them in.
        assert_eq!(
            suggest_no_access_role(&roles(&["Inactive", "No access"])),
            Some("No access")
        );
    }
}
