//! In-memory data of the fake: accounts, users, permission groups, userGroup links.

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use chrono::{DateTime, FixedOffset, Offset};
use serde::Serialize;

use super::config::{AccountConfig, Quirks};

pub(crate) type Timestamp = DateTime<FixedOffset>;

/// Format a timestamp like ActiveCampaign: `2020-05-24T05:16:49-05:00`.
pub(crate) fn fmt_ts(ts: &Timestamp) -> String {
    ts.format("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

pub(crate) fn now_ts(quirks: &Quirks) -> Timestamp {
    let offset = FixedOffset::east_opt(quirks.utc_offset_secs).unwrap_or_else(|| chrono::Utc.fix());
    chrono::Utc::now().with_timezone(&offset)
}

#[derive(Debug, Clone)]
pub(crate) struct User {
    pub id: u64,
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub phone: String,
    /// `null` for API-created users, `""` for the owner [rec].
    pub signature: Option<String>,
    pub local_zoneid: String,
    pub password: String,
    /// `null` for API-created users, `"0000-00-00 00:00:00"` for the owner [rec].
    pub password_updated: Option<String>,
    /// `null` for the account owner [rec].
    pub cdate: Option<Timestamp>,
    pub udate: Option<Timestamp>,
    pub is_owner: bool,
    pub conv_perm: ConvPermission,
}

#[derive(Debug, Clone)]
pub(crate) struct ConvPermission {
    pub id: u64,
    pub created: Timestamp,
    pub updated: Timestamp,
}

#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub id: u64,
    pub title: String,
    pub descript: String,
    /// Everything between `descript` and `links` in the recorded order
    /// (permission flags, `sdate`, approval settings). Values are JSON values
    /// ("0"/"1" strings, `sdate` string or null).
    pub attrs: Vec<(String, serde_json::Value)>,
}

#[derive(Debug, Clone)]
pub(crate) struct Link {
    pub id: u64,
    pub user_id: u64,
    pub group_id: u64,
    pub cdate: Timestamp,
    pub udate: Timestamp,
}

/// One account: its data, its id counters and its rate-limit window.
#[derive(Debug)]
pub(crate) struct Account {
    pub name: String,
    pub tokens: Vec<String>,
    pub recycled_tokens: Vec<String>,
    pub rate_limit: u32,
    pub local_zoneid: String,
    pub owner_id: u64,
    pub users: BTreeMap<u64, User>,
    pub groups: BTreeMap<u64, Group>,
    pub links: BTreeMap<u64, Link>,
    pub next_user: u64,
    pub next_group: u64,
    pub next_link: u64,
    pub next_conv_perm: u64,
    /// Admission times of the requests in the current sliding window.
    pub window: VecDeque<Instant>,
}

/// Built-in "Admin" group id in a fresh account (id "3" in the recorded account).
pub(crate) const ADMIN_GROUP_ID: u64 = 3;
const ADMIN_DESCRIPT: &str = "This is a group for admin users (people that can manage content)";

/// (name, value for the built-in Admin group, default for a newly created group),
/// in the order of the recorded `GET /groups` response. `sdate` is handled apart.
const GROUP_ATTRS: &[(&str, &str, &str)] = &[
    ("unsubscribelink", "0", "0"),
    ("optinconfirm", "0", "0"),
    ("p_admin", "1", "1"),
    ("pgListAdd", "1", "0"),
    ("pgListEdit", "1", "0"),
    ("pgListDelete", "1", "0"),
    ("pgListHeaders", "1", "0"),
    ("pgListEmailaccount", "1", "0"),
    ("pgListBounce", "1", "0"),
    ("pgMessageAdd", "1", "0"),
    ("pgMessageEdit", "1", "0"),
    ("pgMessageDelete", "1", "0"),
    ("pgMessageSend", "1", "0"),
    ("pgContactAdd", "1", "0"),
    ("pgContactEdit", "1", "0"),
    ("pgContactDelete", "1", "0"),
    ("pgContactMerge", "1", "0"),
    ("pgContactImport", "1", "0"),
    ("pgContactApprove", "1", "0"),
    ("pgContactExport", "1", "0"),
    ("pgContactSync", "1", "0"),
    ("pgContactFilters", "1", "0"),
    ("pgContactActions", "0", "0"),
    ("pgContactFields", "1", "0"),
    ("pg_user_add", "1", "0"),
    ("pg_user_edit", "1", "0"),
    ("pg_user_delete", "1", "0"),
    ("pgGroupAdd", "1", "0"),
    ("pgGroupEdit", "1", "0"),
    ("pgGroupDelete", "1", "0"),
    ("pgTemplateAdd", "1", "0"),
    ("pgTemplateEdit", "1", "0"),
    ("pgTemplateDelete", "1", "0"),
    ("pgPersonalizationAdd", "1", "0"),
    ("pgPersonalizationEdit", "1", "0"),
    ("pgPersonalizationDelete", "1", "0"),
    ("pgAutomationManage", "1", "0"),
    ("pgFormEdit", "1", "0"),
    ("pgReportsCampaign", "1", "0"),
    ("pgReportsList", "1", "0"),
    ("pgReportsUser", "1", "0"),
    ("pgReportsTrend", "1", "1"),
    ("pgReportsDeal", "1", "1"),
    ("pgStartupReports", "1", "0"),
    ("pgStartupGettingstarted", "1", "1"),
    ("pgAccountAdd", "1", "1"),
    ("pgAccountEdit", "1", "1"),
    ("pgAccountDelete", "1", "1"),
    ("pgAccountManageCustomField", "1", "1"),
    ("pgDeal", "1", "1"),
    ("pgDealDelete", "1", "1"),
    ("pgDealReassign", "1", "1"),
    ("pgDealFields", "1", "1"),
    ("pgDealGroupAdd", "1", "1"),
    ("pgDealGroupEdit", "1", "1"),
    ("pgDealGroupDelete", "1", "1"),
    ("pgSavedResponsesManage", "1", "0"),
    ("sdate", "", ""),
    ("reqApproval", "0", "0"),
    ("reqApproval1st", "2", "2"),
    ("reqApprovalNotify", "", ""),
    ("socialdata", "0", "0"),
    ("pgMfaAdmin", "1", "0"),
    ("pgDealExport", "1", "0"),
    ("pgDealManageRoles", "1", "0"),
    ("pgAccountNoteAdd", "0", "0"),
    ("pgAccountNoteEdit", "0", "0"),
    ("pgAccountNoteDelete", "0", "0"),
    ("pgDealNoteAdd", "0", "0"),
    ("pgDealNoteEdit", "0", "0"),
    ("pgDealNoteDelete", "0", "0"),
    ("pgDealListAll", "1", "0"),
    ("pgTagManage", "1", "0"),
    ("pgContactResubscribe", "1", "1"),
    ("pgDealImport", "1", "0"),
    ("pgAccountImport", "1", "0"),
    ("pgAccountExport", "1", "0"),
];

/// Is `name` a known group attribute that a client may set?
pub(crate) fn is_group_attr(name: &str) -> bool {
    name != "sdate" && GROUP_ATTRS.iter().any(|(n, _, _)| *n == name)
}

fn group_attrs(admin: bool, sdate: Option<&Timestamp>) -> Vec<(String, serde_json::Value)> {
    GROUP_ATTRS
        .iter()
        .map(|(name, admin_v, new_v)| {
            let value = if *name == "sdate" {
                sdate.map_or(serde_json::Value::Null, |t| fmt_ts(t).into())
            } else if admin {
                (*admin_v).into()
            } else {
                (*new_v).into()
            };
            ((*name).to_owned(), value)
        })
        .collect()
}

/// Normalise an identifier for comparison.
pub(crate) fn ident_key(s: &str, case_insensitive: bool) -> String {
    if case_insensitive {
        s.to_ascii_lowercase()
    } else {
        s.to_owned()
    }
}

/// Data for a user inserted directly (seeding or `POST /users`).
#[derive(Debug, Clone)]
pub(crate) struct NewUserData {
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub password: String,
    pub group_id: Option<u64>,
}

impl Account {
    pub(crate) fn new(cfg: &AccountConfig, quirks: &Quirks) -> Self {
        let now = now_ts(quirks);
        let mut acct = Self {
            name: cfg.name.clone(),
            tokens: cfg.tokens.clone(),
            recycled_tokens: cfg.recycled_tokens.clone(),
            rate_limit: cfg.rate_limit,
            local_zoneid: cfg.local_zoneid.clone(),
            owner_id: 1,
            users: BTreeMap::new(),
            groups: BTreeMap::new(),
            links: BTreeMap::new(),
            next_user: 1,
            next_group: ADMIN_GROUP_ID,
            next_link: 1,
            next_conv_perm: 1,
            window: VecDeque::new(),
        };
        // Built-in Admin group, id 3, with an sdate (set-up date) [rec].
        acct.groups.insert(
            ADMIN_GROUP_ID,
            Group {
                id: ADMIN_GROUP_ID,
                title: "Admin".to_owned(),
                descript: ADMIN_DESCRIPT.to_owned(),
                attrs: group_attrs(true, Some(&now)),
            },
        );
        acct.next_group = ADMIN_GROUP_ID + 1;
        // The key owner: id 1, Admin group, null dates, "" signature [rec].
        let owner_id = acct.insert_user(
            NewUserData {
                username: cfg.owner.username.clone(),
                email: cfg.owner.email.clone(),
                first_name: cfg.owner.first_name.clone(),
                last_name: cfg.owner.last_name.clone(),
                password: String::new(),
                group_id: Some(ADMIN_GROUP_ID),
            },
            &now,
        );
        if let Some(owner) = acct.users.get_mut(&owner_id) {
            owner.is_owner = true;
            owner.signature = Some(String::new());
            owner.password_updated = Some("0000-00-00 00:00:00".to_owned());
            owner.cdate = None;
            owner.udate = None;
        }
        acct.owner_id = owner_id;
        for title in &cfg.groups {
            if title == "Admin" {
                continue;
            }
            acct.insert_group(title, "", &[], None);
        }
        acct
    }

    /// Insert a permission group; returns its id.
    pub(crate) fn insert_group(
        &mut self,
        title: &str,
        descript: &str,
        flags: &[(String, String)],
        sdate: Option<&Timestamp>,
    ) -> u64 {
        let id = self.next_group;
        self.next_group += 1;
        let mut attrs = group_attrs(false, sdate);
        for (name, value) in flags {
            if let Some(slot) = attrs.iter_mut().find(|(n, _)| n == name) {
                slot.1 = value.clone().into();
            }
        }
        self.groups.insert(
            id,
            Group {
                id,
                title: title.to_owned(),
                descript: descript.to_owned(),
                attrs,
            },
        );
        id
    }

    /// Insert a user plus its userGroup link and conversations-permission record.
    pub(crate) fn insert_user(&mut self, data: NewUserData, now: &Timestamp) -> u64 {
        let id = self.next_user;
        self.next_user += 1;
        let conv_id = self.next_conv_perm;
        self.next_conv_perm += 1;
        self.users.insert(
            id,
            User {
                id,
                username: data.username,
                email: data.email,
                first_name: data.first_name,
                last_name: data.last_name,
                phone: String::new(),
                signature: None,
                local_zoneid: self.local_zoneid.clone(),
                password: data.password,
                password_updated: None,
                cdate: Some(*now),
                udate: Some(*now),
                is_owner: false,
                conv_perm: ConvPermission {
                    id: conv_id,
                    created: *now,
                    updated: *now,
                },
            },
        );
        if let Some(group_id) = data.group_id {
            self.set_user_group(id, group_id, now);
        }
        id
    }

    /// Point the user's (single) userGroup link at `group_id`, creating it if needed.
    pub(crate) fn set_user_group(&mut self, user_id: u64, group_id: u64, now: &Timestamp) -> u64 {
        if let Some(link) = self.links.values_mut().find(|l| l.user_id == user_id) {
            link.group_id = group_id;
            link.udate = *now;
            return link.id;
        }
        let id = self.next_link;
        self.next_link += 1;
        self.links.insert(
            id,
            Link {
                id,
                user_id,
                group_id,
                cdate: *now,
                udate: *now,
            },
        );
        id
    }

    pub(crate) fn link_of_user(&self, user_id: u64) -> Option<&Link> {
        self.links.values().find(|l| l.user_id == user_id)
    }

    pub(crate) fn find_user_by_email(&self, email: &str, ci: bool) -> Option<&User> {
        let key = ident_key(email, ci);
        self.users.values().find(|u| ident_key(&u.email, ci) == key)
    }

    pub(crate) fn find_user_by_username(&self, username: &str, ci: bool) -> Option<&User> {
        let key = ident_key(username, ci);
        self.users
            .values()
            .find(|u| ident_key(&u.username, ci) == key)
    }

    pub(crate) fn delete_user(&mut self, id: u64) -> bool {
        if self.users.remove(&id).is_none() {
            return false;
        }
        self.links.retain(|_, l| l.user_id != id);
        true
    }

    pub(crate) fn delete_group(&mut self, id: u64) -> bool {
        if self.groups.remove(&id).is_none() {
            return false;
        }
        self.links.retain(|_, l| l.group_id != id);
        true
    }

    pub(crate) fn owner_exists(&self) -> bool {
        self.users.contains_key(&self.owner_id)
    }

    pub(crate) fn snapshot(&self) -> AccountSnapshot {
        AccountSnapshot {
            name: self.name.clone(),
            owner_user_id: self.owner_id.to_string(),
            users: self
                .users
                .values()
                .map(|u| UserSnapshot {
                    id: u.id.to_string(),
                    username: u.username.clone(),
                    email: u.email.clone(),
                    first_name: u.first_name.clone(),
                    last_name: u.last_name.clone(),
                    password: u.password.clone(),
                    group_id: self.link_of_user(u.id).map(|l| l.group_id.to_string()),
                    is_owner: u.is_owner,
                })
                .collect(),
            groups: self
                .groups
                .values()
                .map(|g| GroupSnapshot {
                    id: g.id.to_string(),
                    title: g.title.clone(),
                    descript: g.descript.clone(),
                })
                .collect(),
            user_groups: self
                .links
                .values()
                .map(|l| UserGroupSnapshot {
                    id: l.id.to_string(),
                    user_id: l.user_id.to_string(),
                    group_id: l.group_id.to_string(),
                })
                .collect(),
        }
    }
}

/// Snapshot of everything the fake holds, for test assertions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FakeState {
    pub accounts: Vec<AccountSnapshot>,
}

impl FakeState {
    /// The snapshot of the named account.
    #[must_use]
    pub fn account(&self, name: &str) -> Option<&AccountSnapshot> {
        self.accounts.iter().find(|a| a.name == name)
    }
}

/// Snapshot of one account. Ids are strings, as on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountSnapshot {
    pub name: String,
    /// Id of the key owner (what `/users/me` returns), even if since deleted.
    pub owner_user_id: String,
    pub users: Vec<UserSnapshot>,
    pub groups: Vec<GroupSnapshot>,
    pub user_groups: Vec<UserGroupSnapshot>,
}

impl AccountSnapshot {
    #[must_use]
    pub fn user(&self, id: &str) -> Option<&UserSnapshot> {
        self.users.iter().find(|u| u.id == id)
    }

    /// Exact (case-sensitive) email match.
    #[must_use]
    pub fn user_by_email(&self, email: &str) -> Option<&UserSnapshot> {
        self.users.iter().find(|u| u.email == email)
    }

    #[must_use]
    pub fn group_by_title(&self, title: &str) -> Option<&GroupSnapshot> {
        self.groups.iter().find(|g| g.title == title)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserSnapshot {
    pub id: String,
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// The plain-text password last set (empty for the owner).
    pub password: String,
    /// The permission group of the user's userGroup link, if any.
    pub group_id: Option<String>,
    pub is_owner: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupSnapshot {
    pub id: String,
    pub title: String,
    pub descript: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserGroupSnapshot {
    pub id: String,
    pub user_id: String,
    pub group_id: String,
}
